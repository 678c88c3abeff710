"""The content check's two shares, whole image and 4 x 4 tiles, scored on saved training sample grids
(photo | output rows): the evidence for asking about tiles (nst_bench/nets/content_check.py).

    NST_BENCH_WEIGHTS=../shared/weights .venv/bin/python experiments/content_check_on_samples.py \
        results/fast/starry_night/samples/step_000{100,200,300,400,500,600}.jpg \
        --adain ../shared/data/styles/starry_night.jpg --out results/fast/diagnosis/tiles

Photos and outputs are both read from the grid (JPEG), so the numbers differ slightly from the ones training
logged from the exact outputs. With ``--adain``, pretrained AdaIN's shares on the same photos and painting, whose
0.75 x sets the floors. Writes ``tiles.csv`` (one row per grid, then AdaIN's) and a half-size copy of the first grid.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
from PIL import Image

from nst_bench.data.images import load_image
from nst_bench.errors import UserError, run_script
from nst_bench.methods.adain import AdaIN
from nst_bench.nets.content_check import FLOOR, identified, lpips_maps, lpips_vgg


def split_grid(grid: torch.Tensor, side: int, pad: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The photo column and the first output column of a ``make_grid`` sample grid of ``side`` px cells."""
    rows = (grid.shape[-2] - pad) // (side + pad)
    if rows < 1 or grid.shape[-1] < 2 * side + 3 * pad:
        raise UserError(f"a {tuple(grid.shape[-2:])} grid has no two {side} px columns: give the cell size with --side")
    cells = [[grid[..., pad + r * (side + pad): pad + r * (side + pad) + side,
                   pad + c * (side + pad): pad + c * (side + pad) + side] for c in (0, 1)] for r in range(rows)]
    return torch.cat([row[0] for row in cells]), torch.cat([row[1] for row in cells])


def shares(lpips: torch.nn.Module, photos: torch.Tensor, outputs: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        whole, tiles = lpips_maps(lpips, photos, outputs)
    return {"identified": float(identified(whole).float().mean()),
            "identified_local": float(identified(tiles).float().mean()), "lpips": float(whole.diag().mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("grids", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--side", type=int, default=256, help="cell size of the grids (the held-out photos' side)")
    ap.add_argument("--adain", type=Path, help="a painting: also score pretrained AdaIN on the grid's photos (floor)")
    args = ap.parse_args()
    lpips = lpips_vgg()
    if lpips is None:
        raise UserError("LPIPS needs the VGG-16 weights (vgg16_tv): set NST_BENCH_WEIGHTS=../shared/weights")
    torch.set_num_threads(2)
    rows = []
    for path in args.grids:
        photos, outputs = split_grid(load_image(path), args.side)
        rows.append({"grid": path.name, "photos": len(photos), **shares(lpips, photos, outputs)})
        print(rows[-1])
    if args.adain is not None:
        with torch.no_grad():
            outputs = AdaIN()(photos, [load_image(args.adain, args.side)])
        rows.append({"grid": f"AdaIN, {args.adain.name}", "photos": len(photos), **shares(lpips, photos, outputs)})
        print(rows[-1], f"floors: x{FLOOR}")
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out / "tiles.csv", index=False)
    first = Image.open(args.grids[0])  # a half-size copy of the first grid, to look at beside the numbers
    first.resize((first.width // 2, first.height // 2), Image.LANCZOS).save(args.out / args.grids[0].name, quality=85)


if __name__ == "__main__":
    run_script(main)
