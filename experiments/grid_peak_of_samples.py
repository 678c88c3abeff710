"""The 4-pixel grid peak of a CycleGAN run's saved sample grids (photo | A->B | A->B->A rows), per step: for runs
that trained before the peak was scored during training (the smoke test). JPEG's 8 x 8 blocks put some power on
the same frequencies, so the photo column of the same JPEGs is the baseline to compare against.

    .venv/bin/python experiments/grid_peak_of_samples.py results/cyclegan/smoke_test
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from nst_bench.data.images import read_image
from nst_bench.losses.artefacts import periodic_peak


def columns(grid: torch.Tensor, pad: int = 2) -> list[torch.Tensor]:
    """The three columns of a make_grid sample grid, each as a batch of its tiles."""
    side = (grid.shape[-1] - 4 * pad) // 3
    rows = (grid.shape[-2] - pad) // (side + pad)
    return [torch.stack([grid[0, :, pad + r * (side + pad): pad + r * (side + pad) + side,
                              pad + c * (side + pad): pad + c * (side + pad) + side] for r in range(rows)])
            for c in range(3)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    args = ap.parse_args()
    rows = []
    for path in sorted((args.run / "samples").glob("step_*.jpg")):
        photo, fake, back = columns(read_image(path))
        rows.append({"step": int(path.stem.split("_")[1]), "photos": periodic_peak(photo),
                     "a_to_b": periodic_peak(fake), "a_to_b_to_a": periodic_peak(back)})
    out = args.run / "grid_peak.csv"
    pd.DataFrame(rows).to_csv(out, index=False, float_format="%.3f")
    print(f"wrote {out} ({len(rows)} sample grids)")


if __name__ == "__main__":
    main()
