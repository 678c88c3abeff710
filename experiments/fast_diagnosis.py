"""Why the Starry Night fast network collapsed (issue 18): short trainings that change one thing at a time, each
scored by the content check at every sample step.

    .venv/bin/python experiments/fast_diagnosis.py --steps 100 --runs old johnson --out results/fast/diagnosis
    .venv/bin/python experiments/fast_diagnosis.py --steps 200 --style ../shared/data/styles/la_muse.jpg \
        --precision bf16-mixed --runs johnson_sw3e4 johnson_sw1e4 --out results/fast/diagnosis/la_muse

Every run trains the same TransformerNet (width 32, 5 blocks, sigmoid) on the same photos (landscapes256 +
imagenet_sample, 8 held out) and the same painting; only the objective differs:

- ``old``: the collapsed recipe (``configs/fast/starry_night.yaml``): VGG19, content conv4_2, Gram conv1_1..conv5_1
  with the ``paper`` normalisation, style weight 1.
- ``old_relu2_2``: the same, with the content layer moved to relu2_2 (the PyTorch example's).
- ``johnson``: ``configs/fast/la_muse.yaml``'s recipe (VGG-16, relu2_2 content, relu1_2..relu4_3 style, Gram /
  (C H W), style:content 1e5:1).
- ``johnson_sw3e4``, ``johnson_sw1e4``: the same with style:content 3e4:1 and 1e4:1 (at 1e5:1 La Muse's network
  paints texture over every photo through 1,000 steps; the example trains for 40,000).
- ``johnson_style1024``: 1e5:1 with the painting's Gram targets at 1,024 px instead of 256 (the example and
  Engstrom take the painting at its own size, 1,200 x 1,000 for La Muse, so its strokes are ~4x finer).

Writes ``<out>/<run>/`` (samples, metrics.json), ``diagnosis.csv`` (content check per run and sample step) and
``diagnosis.jpg`` (the held-out photos, then each run's outputs at its last step, one column per run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
STYLE = "assets/demo/style/starry_night.jpg"
COMMON = ["--content-dir", str(DATA / "landscapes256"),
          "--set", f"train.extra_content_dirs=[{DATA / 'imagenet_sample'}]", "--holdout", "8", "--crop", "256",
          "--batch", "4", "--no-progress", "--wandb", "offline"]
RUNS = {
    "old": ["--config", "configs/fast/starry_night.yaml"],
    "old_relu2_2": ["--config", "configs/fast/starry_night.yaml", "--set", "backbone.content_layers=[relu2_2]"],
    "johnson": ["--config", "configs/fast/la_muse.yaml"],
    "johnson_sw3e4": ["--config", "configs/fast/la_muse.yaml", "--style-weight", "3e4"],
    "johnson_sw1e4": ["--config", "configs/fast/la_muse.yaml", "--style-weight", "1e4"],
    "johnson_style1024": ["--config", "configs/fast/la_muse.yaml", "--set", "image.style_size=1024"],
}


def train(name: str, out: Path, steps: int, sample_every: int, style: str, precision: str) -> dict:
    folder = out / name
    cmd = [str(ROOT / ".venv" / "bin" / "nst-bench"), "train", "fast", *RUNS[name], *COMMON, "--style", style,
           "--precision", precision, "--steps", str(steps),
           "--sample-every", str(sample_every), "--checkpoint-every", str(sample_every), "--out", str(folder)]
    if not (folder / "metrics.json").is_file():
        print(" ".join(cmd), flush=True)
        env = {"NST_BENCH_WEIGHTS": str(ROOT.parent / "shared" / "weights")} | dict(os.environ)
        subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    return json.loads((folder / "metrics.json").read_text())


def last_outputs(folder: Path, rows: int) -> list[Image.Image]:
    """The output column of the last sample grid (photo | output), one tile per held-out photo."""
    grid = Image.open(folder / "samples.jpg").convert("RGB")
    tile = (grid.height - 2) // rows - 2
    return [grid.crop((2 + c * (tile + 2), 2 + r * (tile + 2), 2 + c * (tile + 2) + tile, 2 + r * (tile + 2) + tile))
            for r in range(rows) for c in (0, 1)]


def sheet(out: Path, names: list[str], table: pd.DataFrame, rows: int) -> Path:
    """Photos in the first column, each run's last outputs beside them, a label with its content check."""
    tiles = {n: last_outputs(out / n, rows) for n in names}
    size = tiles[names[0]][0].width
    head = 44
    canvas = Image.new("RGB", ((len(names) + 1) * (size + 4), head + rows * (size + 4)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), "held-out photo", fill="black")
    for r in range(rows):
        canvas.paste(tiles[names[0]][2 * r], (0, head + r * (size + 4)))
    for c, n in enumerate(names, start=1):
        last = table[table.run == n].iloc[-1]
        draw.text((c * (size + 4) + 4, 4), f"{n} (step {int(last.step)})\nidentified {last.identified:.2f}"
                  f"\nSSIM {last.ssim:.2f}", fill="black")
        for r in range(rows):
            canvas.paste(tiles[n][2 * r + 1], (c * (size + 4), head + r * (size + 4)))
    path = out / "diagnosis.jpg"
    canvas.save(path, quality=85)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--sample-every", type=int, default=50)
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    ap.add_argument("--style", default=STYLE, help="the painting of every run (default Starry Night)")
    ap.add_argument("--precision", default="32", choices=["32", "bf16-mixed"])
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "fast" / "diagnosis")
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = []
    for name in args.runs:
        metrics = train(name, args.out, args.steps, args.sample_every, args.style, args.precision)
        check = metrics.get("content_check") or {}
        for v in metrics["val_history"]:
            rows.append({"run": name, "step": v["step"], "content": v["content"], "style": v["style"],
                         "top5_agreement": v["top5_agreement"], "ssim": v["ssim"], "lpips": v.get("lpips"),
                         "identified": v.get("identified"), "collapsed": bool(v.get("collapsed")),
                         "adain_identified": (check.get("adain") or {}).get("identified"),
                         "seconds": metrics.get("seconds")})
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "diagnosis.csv", index=False)
    sheet(args.out, args.runs, table, 8)
    print(table.to_string(index=False))


if __name__ == "__main__":
    sys.exit(main())
