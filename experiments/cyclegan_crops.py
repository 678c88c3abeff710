"""Zoomed crops of CycleGAN outputs, side by side, so a grid artefact can be seen and not only measured: from each
run's last sample grid (photo | A->B | A->B->A rows), the A->B tile of one held-out photo, a square of it
enlarged with nearest-neighbour pixels, labelled with the run's name and its grid peak.

    .venv/bin/python experiments/cyclegan_crops.py OUT.jpg LABEL=RUN_DIR[@STEP] [LABEL=RUN_DIR[@STEP] ...]
        [--row 0 [5 ...]] [--box 64] [--at 0.5 0.5] [--column 1] [--step N]

One strip per ``--row``, stacked; ``@STEP`` picks a run's own sample step (else ``--step``, else its last).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw


def last_grid(run: Path) -> Path:
    samples = sorted((run / "samples").glob("step_*.jpg"))
    return samples[-1] if samples else run / "samples.jpg"


def grid_peak(run: Path, step: int | None) -> float | None:
    """The held-out grid peak at ``step`` (``val_history.json``), or the run's final one (``metrics.json``)."""
    if step is None:
        metrics = run / "metrics.json"
        return json.loads(metrics.read_text()).get("final", {}).get("grid_peak") if metrics.is_file() else None
    history = run / "val_history.json"
    rows = json.loads(history.read_text()) if history.is_file() else []
    return next((r.get("grid_peak") for r in rows if r["step"] == step), None)


def output_tile(grid: Image.Image, row: int, pad: int = 2, column: int = 1) -> Image.Image:
    """A tile of ``row`` in a 3-column sample grid (torchvision's make_grid, ``pad`` px apart): column 0 is the
    photo, 1 its translation (A->B), 2 the way back (A->B->A)."""
    side = (grid.width - 4 * pad) // 3
    top = pad + row * (side + pad)
    left = pad + column * (side + pad)
    return grid.crop((left, top, left + side, top + side))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_DIR[@STEP]")
    ap.add_argument("--row", type=int, nargs="+", default=[0], help="which held-out photos (rows of the sample grid)")
    ap.add_argument("--box", type=int, default=64, help="side of the square cut from the tile's centre, px")
    ap.add_argument("--zoom", type=int, default=4)
    ap.add_argument("--at", type=float, nargs=2, default=(0.5, 0.5), metavar=("Y", "X"),
                    help="centre of the square, as fractions of the tile's height and width (default its centre)")
    ap.add_argument("--column", type=int, default=1, choices=(0, 1, 2), help="0 photo, 1 A->B, 2 A->B->A")
    ap.add_argument("--step", type=int, help="the sample grid of this step in every run (default: each run's last)")
    args = ap.parse_args()
    strips = [strip_of(args, row) for row in args.row]
    sheet = Image.new("RGB", (max(s.width for s in strips), sum(s.height + 4 for s in strips) - 4), "white")
    for i, s in enumerate(strips):
        sheet.paste(s, (0, i * (s.height + 4)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=92)
    print(f"wrote {args.out}")


def strip_of(args: argparse.Namespace, row: int) -> Image.Image:
    """The runs' crops of one held-out photo, side by side."""
    panels = []
    for item in args.runs:
        label, run = item.split("=", 1)
        run, _, own_step = run.partition("@")
        step = int(own_step) if own_step else args.step
        grid_path = Path(run) / "samples" / f"step_{step:06d}.jpg" if step else last_grid(Path(run))
        if not grid_path.is_file():
            raise SystemExit(f"no sample grid {grid_path}: pick a step the run saved (see {run}/samples)")
        tile = output_tile(Image.open(grid_path).convert("RGB"), row, column=args.column)
        top, left = (min(max(0, round(f * n) - args.box // 2), n - args.box)
                     for f, n in zip(args.at, (tile.height, tile.width)))
        crop = tile.crop((left, top, left + args.box, top + args.box)).resize(
            (args.box * args.zoom,) * 2, Image.Resampling.NEAREST)
        peak = grid_peak(Path(run), step)
        caption = f"{label}: {grid_path.stem}, row {row + 1}" + (f", grid peak {peak:.1f}" if peak is not None else "")
        panel = Image.new("RGB", (crop.width, crop.height + 16), "white")
        panel.paste(crop, (0, 16))
        ImageDraw.Draw(panel).text((2, 2), caption, fill="black")
        panels.append(panel)
    strip = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), panels[0].height), "white")
    x = 0
    for p in panels:
        strip.paste(p, (x, 0))
        x += p.width + 4
    return strip


if __name__ == "__main__":
    main()
