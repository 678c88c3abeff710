"""The plots of a CycleGAN run that stopped before its last step (a session ended, the machine was lent back):
``held_out.png`` from ``val_history.json`` and ``discriminators.png`` from ``history.csv``, as
``nst-bench train cyclegan`` draws them at the end, and the last sample grid copied beside them.

    .venv/bin/python experiments/cyclegan_partial_plots.py results/cyclegan/van_gogh_scale
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from nst_bench.recipes.train_cyclegan import final_plots
from nst_bench.run.tracking import read_history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run folder holding val_history.json and history.csv")
    run = ap.parse_args().run
    val = json.loads((run / "val_history.json").read_text())
    references = json.loads((run / "references.json").read_text())
    final_plots(run, read_history(run / "history.csv"), val, val[-1], references)
    last = sorted((run / "samples").glob("step_*.jpg"))[-1]
    shutil.copy(last, run / last.name)
    print(f"{run}: held_out.png and discriminators.png to step {val[-1]['step']}, {last.name} copied")


if __name__ == "__main__":
    main()
