"""The 4-pixel grid peak of each column of a CycleGAN run's sample grids (photo | A->B | A->B->A), at every sample
step. The held-out scoring measures the translations (``grid_peak``) and, since commit 6a8c6a4, the
reconstructions (``cycle_grid_peak``) on all held-out photos; this reads the grids every run saved, so runs made
before can be compared on the way back too. Six JPEG tiles per step, not the held-out set, and JPEG's 8x8 blocks
have a harmonic on the 4-pixel lattice: on flat, smooth outputs the blocks alone lift the peak (results/cyclegan,
van_gogh_grid_penalty), so read it beside the photo column and the images.

    .venv/bin/python experiments/cyclegan_sample_peaks.py results/cyclegan/van_gogh_feature_d_avg [RUN ...]
        # writes RUN/sample_peaks.csv (step, photo, translation, reconstruction) and prints it
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from nst_bench.losses.artefacts import periodic_peak

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cyclegan_crops import output_tile  # the sample grid's tile geometry

COLUMNS = ("photo", "translation", "reconstruction")


def column_peaks(path: Path, pad: int = 2) -> dict[str, float]:
    """Grid peak of each column of a 3-column sample grid (torchvision make_grid, ``pad`` px apart)."""
    grid = Image.open(path).convert("RGB")
    rows = (grid.height - pad) // ((grid.width - 4 * pad) // 3 + pad)
    peaks = {}
    for c, name in enumerate(COLUMNS):
        tiles = np.stack([np.asarray(output_tile(grid, r, pad, column=c), dtype=np.float32) / 255
                          for r in range(rows)])
        peaks[name] = periodic_peak(torch.from_numpy(tiles).permute(0, 3, 1, 2))
    return peaks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    for run in ap.parse_args().runs:
        grids = sorted((run / "samples").glob("step_*.jpg"))
        if not grids:
            raise SystemExit(f"{run}/samples holds no step_*.jpg grids: is it a CycleGAN run folder?")
        table = pd.DataFrame([{"step": int(g.stem.removeprefix("step_"))} | column_peaks(g) for g in grids])
        table.to_csv(run / "sample_peaks.csv", index=False, float_format="%.2f")
        print(f"{run}\n{table.to_string(index=False, float_format='%.2f')}")


if __name__ == "__main__":
    main()
