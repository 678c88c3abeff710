"""Regenerate tests/data/trial_ids.json: the trial ids of every bundled sweep, as the code computes them now.

Run from the repository root (ids hash the image paths as the sweep files give them, relative to it):
    .venv/bin/python tests/data/make_trial_ids.py
Only regenerate when a commit changes trial ids on purpose and says why; test_trial_ids compares against it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NST_BENCH_OFFLINE", "1")

from tests.trial_ids import bundled_trial_ids  # noqa: E402

if __name__ == "__main__":
    os.chdir(ROOT)
    (ROOT / "tests/data/trial_ids.json").write_text(json.dumps(bundled_trial_ids(), indent=1) + "\n")
