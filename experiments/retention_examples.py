"""An example sheet of some settings of a retention study only (``plots/examples.jpg`` has every setting, and is
kept whole while any of its stylizations is not on this machine): the same photos, one row per setting.

    .venv/bin/python experiments/retention_examples.py results/retention plots/examples_cyclegan.jpg \
        "CycleGAN photo->Van Gogh" "CycleGAN photo->Monet"
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from nst_bench.evaluate.retention_report import example_sheet
from nst_bench.sweeps.store import RunsLog


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("out", help="the sheet's path inside the study folder")
    ap.add_argument("settings", nargs="+", help="labels, in the order of the rows")
    args = ap.parse_args()
    scores = pd.DataFrame(RunsLog(args.study / "scores.jsonl").read()).drop_duplicates(["setting", "trial_id"],
                                                                                       keep="last")
    here = scores.trial_id.map(lambda t: (args.study / t / "stylized.jpg").is_file())
    scores = scores[here & scores.setting.isin(args.settings)]
    if set(scores.setting) != set(args.settings):
        raise SystemExit(f"no stylizations here for {sorted(set(args.settings) - set(scores.setting))}: rerun the "
                         "study for them first")
    print(example_sheet(scores, args.study, args.study / args.out, args.settings))


if __name__ == "__main__":
    main()
