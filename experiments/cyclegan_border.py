"""Is a band along the edges of a CycleGAN translation the generator's zero padding? Each kept generator
(``RUN@STEP``) translates the 50 held-out photos as they are and with ``--border`` px of each photo mirrored
around it (``methods.cyclegan.mirrored``, cropped back after). A band born at the edge changes with the mirror
inside an outer frame and hardly anywhere else: the script measures the mean absolute change of the output in
the outer ``--frame`` px and in the rest, scores both sets of translations on the run's held-out set (as the
training does: KID, grid peak, regular texture, identified tiles), and draws the top-left corner of three
photos, enlarged, without and with the mirror.

    .venv/bin/python experiments/cyclegan_border.py results/cyclegan/monet_regular@4500 \\
        results/cyclegan/van_gogh_noise@4000 --out results/cyclegan/border
        # writes OUT/border.csv (one row per generator and border), OUT/crops.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
from torchvision.transforms.functional import to_pil_image
from torchvision.utils import make_grid
from tqdm import tqdm

from nst_bench.config import load_config
from nst_bench.errors import UserError, run_script
from nst_bench.recipes.train_cyclegan import held_out_set, held_out_translations, split_domains
from nst_bench.run.cache import ProcessCache

ROWS, CORNER, ZOOM = (0, 2, 5), 96, 3  # sample rows 1, 3 and 6; a 96 px corner shown 3x


def parse(spec: str) -> tuple[Path, int]:
    run, _, step = spec.partition("@")
    if not step.isdigit():
        raise UserError(f"{spec}: give the run and a kept step as RUN@STEP, e.g. results/cyclegan/monet_regular@4500")
    return Path(run), int(step)


def edge_change(plain: torch.Tensor, mirrored: torch.Tensor, frame: int) -> tuple[float, float]:
    """Mean absolute difference of the two translations in the outer ``frame`` px and inside it."""
    diff = (plain - mirrored).abs().mean(1)
    inner = torch.zeros_like(diff, dtype=torch.bool)
    inner[:, frame:-frame, frame:-frame] = True
    return float(diff[~inner].mean()), float(diff[inner].mean())


def corners(plain: torch.Tensor, mirrored: torch.Tensor) -> torch.Tensor:
    """Per sample row: the top-left corner without | with the mirror, enlarged with nearest pixels."""
    tiles = [t[i, :, :CORNER, :CORNER] for i in ROWS for t in (plain, mirrored)]
    big = torch.nn.functional.interpolate(torch.stack(tiles), scale_factor=ZOOM, mode="nearest")
    return make_grid(big, nrow=2, padding=4, pad_value=1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="RUN@STEP: a run folder and one of its kept generators' steps")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--border", type=int, default=32)
    ap.add_argument("--frame", type=int, default=8)
    args = ap.parse_args()
    specs = [parse(s) for s in args.runs]
    args.out.mkdir(parents=True, exist_ok=True)
    rows, sheets, cache = [], [], ProcessCache()
    for run, step in tqdm(specs, desc="generators", unit="generator"):
        cfg = load_config([run / "config.yaml"])
        photos, plain, _ = held_out_translations(run, step)
        mirror = held_out_translations(run, step, border=args.border)[1]
        _, _, held_paintings, train_paintings = split_domains(cfg)
        held = held_out_set(cfg, photos, held_paintings, train_paintings, cache, progress=False)
        frame, inside = edge_change(plain, mirror, args.frame)
        for border, outputs in ((0, plain), (args.border, mirror)):
            rows.append({"run": run.name, "step": step, "border": border, "frame_change": frame,
                         "inner_change": inside, **held.score(outputs.float().clamp(0, 1))})
        sheets.append(corners(plain.clamp(0, 1), mirror.clamp(0, 1)))
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "border.csv", index=False)
    sheet = make_grid(torch.stack(sheets), nrow=len(sheets), padding=12, pad_value=1.0)
    to_pil_image(sheet).save(args.out / "crops.jpg", quality=90)
    print(table[["run", "step", "border", "frame_change", "inner_change", "kid", "grid_peak", "regular_texture",
                 "identified_local"]].to_string(index=False, float_format="%.4f"))


if __name__ == "__main__":
    run_script(main)
