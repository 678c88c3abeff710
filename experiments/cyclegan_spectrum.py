"""Where in the spectrum a CycleGAN run's translations differ from the artist's paintings: the radially averaged
power spectrum (``losses.artefacts.radial_power``) of the 50 held-out photos' translations by each kept generator
(``RUN/generators/step_N.safetensors``), over that of the artist's held-out paintings, with the photos' own as the
reference. The grid peak looks only at the 4-pixel lattice; once a run pays for that lattice (``lambda_grid``), a
generator can move its texture to other fine scales, and this is where it would show. ``fine_ratio`` is the mean
ratio over the periods of 2 to 5 px (1 = as much fine texture as the paintings have there, below 1 = smoother).
A texture can also be regular without any spike in the radial average: ``regular_texture`` is the mean over 64 px
tiles of ``losses.artefacts.texture_rebound`` (how far the local autocorrelation rises again after falling, any
orientation, at offsets of 2 to 7 px), for the photos, the paintings and each step's translations.

    .venv/bin/python experiments/cyclegan_spectrum.py results/cyclegan/van_gogh_grid_tolerance [--steps 1000 5000]
        # writes RUN/spectrum.csv (power per radius: photos, paintings, one column per step), RUN/spectrum.png
        # and RUN/spectrum_summary.json (fine_ratio and regular_texture of the photos, the paintings and each
        # step), and prints the summary
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from nst_bench.data.images import load_image
from nst_bench.errors import run_script
from nst_bench.losses.artefacts import radial_power, texture_rebound
from nst_bench.recipes.train_cyclegan import held_out_translations, kept_steps
from nst_bench.run.metrics import write_json
from nst_bench.run.plots import plt, save_figure

SIZE = 256  # the held-out photos and paintings are scored at their native 256 px


def fine_ratio(power: pd.Series, paintings: pd.Series, longest_period: float = 5.0) -> float:
    """Mean of ``power / paintings`` over the radii of periods up to ``longest_period`` px."""
    ratio = power / paintings
    return float(ratio[ratio.index >= SIZE / longest_period].mean())


def summary(table: pd.DataFrame, regular: dict[str, float]) -> dict[str, dict[str, float]]:
    """``fine_ratio`` of the photos and of every step's translations, beside their ``regular_texture``."""
    return {"fine_ratio": {c: fine_ratio(table[c], table.paintings) for c in table.columns if c != "paintings"},
            "regular_texture": regular}


def spectra(run: Path, steps: list[int] | None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Power per radius for the held-out photos, the held-out paintings and each kept generator's translations,
    and the mean ``texture_rebound`` of each."""
    chosen = steps or kept_steps(run)
    photos, _, meta = held_out_translations(run, chosen[0])
    paintings = torch.cat([load_image(p, SIZE) for p in meta["held_out_paintings"]])
    table = pd.DataFrame({"photos": radial_power(photos).numpy(), "paintings": radial_power(paintings).numpy()})
    regular = {"photos": float(texture_rebound(photos).mean()), "paintings": float(texture_rebound(paintings).mean())}
    for step in tqdm(chosen, desc=run.name, unit="generator", disable=None):
        out = held_out_translations(run, step)[1]
        table[f"step_{step}"] = radial_power(out).numpy()
        regular[f"step_{step}"] = float(texture_rebound(out).mean())
    table.index.name = "radius"
    return table, regular


def plot(table: pd.DataFrame, title: str, path: Path) -> Path:
    """Each step's spectrum and the photos' over the paintings', log scale: 1 is the paintings' own texture."""
    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=110)
    freq = table.index.to_numpy()[1:] / SIZE
    columns = [c for c in table.columns if c.startswith("step_")]
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(columns)))
    ax.plot(freq, (table.photos / table.paintings).iloc[1:], color="C1", ls=":", lw=1.5, label="photos")
    for c, colour in zip(columns, colours):
        ax.plot(freq, (table[c] / table.paintings).iloc[1:], color=colour, lw=1.1, label=c.replace("_", " "))
    ax.axhline(1, color="k", lw=0.6)
    ax.set_yscale("log")
    ax.set_xlabel("frequency, cycles per pixel (0.25 = a 4-pixel period)")
    ax.set_ylabel("power / held-out paintings'")
    ax.set_title(title, fontsize=9)
    ax.legend(frameon=False, fontsize=6, ncol=2)
    return save_figure(fig, ax, path, legend=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--steps", type=int, nargs="+", help="kept generators to read (default: all)")
    args = ap.parse_args()
    table, regular = spectra(args.run, args.steps)
    table.to_csv(args.run / "spectrum.csv", float_format="%.6g")
    plot(table, f"{args.run.name}: translations' spectrum over the paintings'", args.run / "spectrum.png")
    result = summary(table, regular)
    write_json(args.run / "spectrum_summary.json", result)
    for c, v in regular.items():
        print(f"{c:12s} fine_ratio {result['fine_ratio'].get(c, 1.0):.3f} regular_texture {v:.3f}")


if __name__ == "__main__":
    run_script(main)
