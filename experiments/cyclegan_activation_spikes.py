"""Where in a trained CycleGAN generator do activations gather in a few spots? A "droplet" (Karras et al. 2020) is a
strong local spike that a generator paints to steer an image-wide normalisation; in the feature maps it shows as a
few positions holding much of the energy. For each layer of both generators (photo -> painting, and back from
that translation), the share of the squared activations (summed over channels) held by the top 0.1% of positions,
averaged over a few photos; an even map gives 0.001.

    .venv/bin/python experiments/cyclegan_activation_spikes.py results/cyclegan/van_gogh_g_aa [--photos 4]
        # writes RUN/activation_spikes.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from nst_bench.data.images import list_images, load_image
from nst_bench.methods.cyclegan import ResidualBlock, load_generator

PHOTOS = Path("../shared/data/landscapes256")


def top_share(a: torch.Tensor, fraction: float = 0.001) -> float:
    energy = a.float().square().sum(1).flatten()
    return float(energy.topk(max(1, int(energy.numel() * fraction))).values.sum() / energy.sum().clamp_min(1e-12))


@torch.no_grad()
def layer_shares(g: torch.nn.Module, x: torch.Tensor) -> tuple[list[tuple[str, float]], torch.Tensor]:
    """(layer, top-0.1% share) after every ReLU and residual block, and the output."""
    seen: list[tuple[str, float]] = []

    def hook(name: str):
        return lambda module, inputs, out: seen.append((f"{name} {tuple(out.shape[-2:])}", top_share(out)))

    hooks = [m.register_forward_hook(hook(f"{k:02d} {type(m).__name__}"))
             for k, m in enumerate(g.net) if isinstance(m, (torch.nn.ReLU, ResidualBlock))]
    y = g(x)
    for h in hooks:
        h.remove()
    return seen, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--photos", type=int, default=4, help="the first N photos of landscapes256 by name")
    args = ap.parse_args()
    gab, _ = load_generator(args.run / "generator.safetensors")
    gba, _ = load_generator(args.run / "generator_ba.safetensors")
    rows = []
    for path in list_images(PHOTOS)[:args.photos]:
        x = load_image(path)[..., :256, :256]
        there, fake = layer_shares(gab, x)
        back, _ = layer_shares(gba, fake)
        rows += [{"photo": path.name, "generator": "photo->painting", "layer": n, "top_0.1pct_share": s}
                 for n, s in there]
        rows += [{"photo": path.name, "generator": "painting->photo", "layer": n, "top_0.1pct_share": s}
                 for n, s in back]
    table = (pd.DataFrame(rows).groupby(["generator", "layer"], sort=False)["top_0.1pct_share"].mean()
             .reset_index())
    out = args.run / "activation_spikes.csv"
    table.to_csv(out, index=False, float_format="%.4f")
    print(table.to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
