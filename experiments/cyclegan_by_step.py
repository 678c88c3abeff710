"""One held-out photo through training, run against run: a grid whose rows are runs and whose columns are sample
steps, each cell one tile of that run's sample grid (photo | A->B | A->B->A) at that step. The sample grids of
every step stay out of git (``samples/``); this figure keeps what they showed.

    .venv/bin/python experiments/cyclegan_by_step.py OUT.jpg LABEL=RUN_DIR [LABEL=RUN_DIR ...] \
        --steps 1000 3000 5000 [--row 0] [--column 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cyclegan_crops import output_tile

CAPTION = 16
GAP = 4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    ap.add_argument("--steps", type=int, nargs="+", required=True)
    ap.add_argument("--row", type=int, default=0, help="which held-out photo (row of the sample grid)")
    ap.add_argument("--column", type=int, default=2, choices=(0, 1, 2), help="0 photo, 1 A->B, 2 A->B->A")
    args = ap.parse_args()
    cells: list[list[Image.Image]] = []
    for item in args.runs:
        label, run = item.split("=", 1)
        row = []
        for step in args.steps:
            path = Path(run) / "samples" / f"step_{step:06d}.jpg"
            if not path.is_file():
                raise SystemExit(f"{path} is missing: the run has no sample grid at step {step}")
            tile = output_tile(Image.open(path).convert("RGB"), args.row, column=args.column)
            cell = Image.new("RGB", (tile.width, tile.height + CAPTION), "white")
            cell.paste(tile, (0, CAPTION))
            ImageDraw.Draw(cell).text((2, 2), f"{label}, step {step}", fill="black")
            row.append(cell)
        cells.append(row)
    w, h = cells[0][0].size
    grid = Image.new("RGB", (len(args.steps) * (w + GAP) - GAP, len(cells) * (h + GAP) - GAP), "white")
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            grid.paste(cell, (j * (w + GAP), i * (h + GAP)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out, quality=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
