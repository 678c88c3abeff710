"""What ``regular_texture`` sees: the 64 px tiles of a kept generator's held-out translations that
``losses.artefacts.texture_rebound`` ranks most regular, in the middle, and least regular, one row each, enlarged
with nearest-neighbour pixels and labelled with their rebound. A number for "a texture that repeats" is only worth
tracking if its top row is what a viewer would point at.

    .venv/bin/python experiments/cyclegan_regular_tiles.py results/cyclegan/monet_grid_tolerance@4500 OUT.jpg
        [--per-row 8] [--zoom 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from nst_bench.errors import UserError, run_script
from nst_bench.losses.artefacts import texture_rebound
from nst_bench.recipes.train_cyclegan import held_out_translations

TILE = 64  # texture_rebound's tile


def translations(spec: str) -> torch.Tensor:
    """The held-out photos of ``RUN@STEP`` through that step's kept generator, at 256 px."""
    run, _, step = spec.partition("@")
    if not step.isdigit():
        raise UserError(f"{spec}: give the run and a kept step as RUN@STEP, e.g. results/cyclegan/monet_noise@4000")
    return held_out_translations(Path(run), int(step))[1].clamp(0, 1)


def sheet(images: torch.Tensor, per_row: int, zoom: int) -> Image.Image:
    """Rows of the most, the median and the least regular tiles, each labelled with its rebound."""
    rebound = texture_rebound(images)
    tiles = images.unfold(2, TILE, TILE).unfold(3, TILE, TILE).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, TILE, TILE)
    order = rebound.argsort(descending=True).tolist()
    mid = len(order) // 2 - per_row // 2
    rows = [order[:per_row], order[mid:mid + per_row], order[-per_row:]]
    side, label = TILE * zoom, 14
    out = Image.new("RGB", (per_row * (side + 2), len(rows) * (side + label + 2)), "white")
    draw = ImageDraw.Draw(out)
    for r, picks in enumerate(rows):
        for c, i in enumerate(picks):
            pixels = (tiles[i].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
            x, y = c * (side + 2), r * (side + label + 2)
            out.paste(Image.fromarray(pixels).resize((side, side), Image.NEAREST), (x, y + label))
            draw.text((x + 2, y + 1), f"{float(rebound[i]):.2f}", fill="black")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="RUN@STEP: a run folder and one of its kept generators' steps")
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-row", type=int, default=8)
    ap.add_argument("--zoom", type=int, default=3)
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet(translations(args.run), args.per_row, args.zoom).save(args.out, quality=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_script(main)
