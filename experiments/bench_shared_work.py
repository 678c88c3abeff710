"""Cost of shared work: one sweep of N trials on one image pair against N separate `nst-bench stylize` processes.

    .venv/bin/python experiments/bench_shared_work.py [--n 4] [--size 128] [--steps 30]

The sweep builds the backbone once and computes the content features and style Grams once; separate runs pay
interpreter start-up, imports, weight loading and target computation every time. W&B is disabled on both sides.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from nst_bench.evaluate.runtime import machine

ROOT = Path(__file__).resolve().parent.parent
NST = [sys.executable, "-m", "nst_bench.cli"]
CONTENT = "assets/demo/content/rocket.jpg"
STYLE = "assets/demo/style/starry_night.jpg"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", type=Path, default=ROOT / "results/runtime/shared_work.csv")
    args = ap.parse_args()
    weights = [1.0 + i for i in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "shared.yaml"
        sweep.write_text(yaml.safe_dump({"name": "shared", "method": "grid", "parameters": {
            "content": {"value": CONTENT}, "styles": {"value": STYLE}, "image.size": {"value": args.size},
            "optimizer.steps": {"value": args.steps}, "loss.style_weight": {"values": weights}}}))
        t = time.perf_counter()
        subprocess.run([*NST, "sweep", str(sweep), "--results", tmp, "--wandb", "disabled"], cwd=ROOT, check=True,
                       stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        sweep_s = time.perf_counter() - t
        t = time.perf_counter()
        for i, w in enumerate(weights):
            subprocess.run([*NST, "stylize", "--content", CONTENT, "--style", STYLE, "--size", str(args.size),
                            "--steps", str(args.steps), "--style-weight", str(w), "--wandb", "disabled",
                            "--out", f"{tmp}/single{i}", "--no-progress"], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        separate_s = time.perf_counter() - t
    table = pd.DataFrame([{"how": "one sweep", "wall_seconds": sweep_s},
                          {"how": "separate", "wall_seconds": separate_s}])
    table = table.assign(per_trial=table.wall_seconds / args.n, trials=args.n, size=args.size, steps=args.steps,
                         **machine())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_markdown(index=False, floatfmt=".1f"))


if __name__ == "__main__":
    main()
