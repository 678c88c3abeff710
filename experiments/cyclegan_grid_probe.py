"""What a CycleGAN run's 4-pixel grid does for each of its generator's losses.

For each held-out photo: translate it (A->B), remove the translation's spectral power at the harmonics of a
4-pixel grid (the lattice that ``grid_peak`` measures) or, as a control, at as many frequencies shifted off the
lattice, then
- translate back (B->A): if the reconstruction error jumps when the lattice goes while the translation hardly
  changes, and not when the control goes, the grid encodes the photo for the backward generator (Chu et al.
  2017, "CycleGAN, a master of steganography") and the cycle loss pays for it;
- score it with the painting discriminator D_b of the run's last checkpoint (centre crop of the training crops'
  side; LSGAN: 1 = painting): if the score falls when the lattice goes, the grid is what that discriminator takes
  for painting, and the adversarial loss pays for it;
- take the gradient of the generator's adversarial loss, (D_b(translation) - 1)^2, with respect to the
  translation, and measure its own grid peak: a discriminator whose strides make that gradient periodic pushes
  every generator step towards a 4-pixel lattice, whether or not the lattice then fools it.

    .venv/bin/python experiments/cyclegan_grid_probe.py results/cyclegan/monet_noise
        # writes RUN/grid_probe.json (means over the held-out photos; the step of the exported generators)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torchvision.transforms.functional import center_crop

from nst_bench.config import RunConfig, load_config
from nst_bench.data.images import load_image
from nst_bench.errors import run_script
from nst_bench.losses.artefacts import periodic_peak, periodic_ratio
from nst_bench.methods.cyclegan import load_generator
from nst_bench.recipes.train_cyclegan import build_networks
from nst_bench.recipes.training import load_last_checkpoint
from nst_bench.run.metrics import write_json

PERIOD = 4


def notch(image: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """``image`` without its power at the rows and columns of frequencies ``k * side / PERIOD + offset`` (k = 1 ..
    PERIOD - 1 on each axis; offset 0 is the grid's lattice, anything else a control of as many frequencies)."""
    h, w = image.shape[-2:]
    spectrum = torch.fft.fft2(image.float())
    rows = [(k * h // PERIOD + offset) % h for k in range(1, PERIOD)]
    cols = [(k * w // PERIOD + offset) % w for k in range(1, PERIOD)]
    spectrum[..., rows, :] = 0
    spectrum[..., :, cols] = 0
    return torch.fft.ifft2(spectrum).real.clamp(0, 1)


def painting_discriminator(run: Path, cfg: RunConfig) -> torch.nn.Module:
    """D_b of the run's last checkpoint (eval mode, frozen: only the input's gradient is wanted)."""
    state = load_last_checkpoint(run)["state_dict"]
    d_b = build_networks(cfg.cyclegan)[3]
    d_b.load_state_dict({k.removeprefix("d_b."): v for k, v in state.items() if k.startswith("d_b.")})
    return d_b.eval().requires_grad_(False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--control-offset", type=int, default=3, help="control: frequencies this far off the lattice")
    args = ap.parse_args()
    g_ab, meta = load_generator(args.run / "generator.safetensors")
    g_ba, _ = load_generator(args.run / "generator_ba.safetensors")
    photos = [load_image(p, 256) for p in meta["held_out"]]
    cfg = load_config([args.run / "config.yaml"])
    d_b, crop = painting_discriminator(args.run, cfg), cfg.train.crop
    sums: dict[str, dict[str, float]] = {name: {} for name in ("none", "lattice", "control")}
    translations, gradients = [], []
    with torch.no_grad():
        for x in photos:
            torch.manual_seed(0)  # the same noise inputs for every pass
            t = g_ab(x)
            translations.append(t)
            for name, edited in {"none": t, "lattice": notch(t), "control": notch(t, args.control_offset)}.items():
                torch.manual_seed(0)
                r = g_ba(edited)
                scores = {"translation_change": (edited - t).abs().mean(), "cycle_l1": (r - x).abs().mean(),
                          "d_b": d_b(center_crop(edited, [crop] * 2)).mean()}
                for k, v in scores.items():
                    sums[name][k] = sums[name].get(k, 0.0) + float(v)
    for t in translations:  # the generator's adversarial gradient on each translation
        t = center_crop(t, [crop] * 2).requires_grad_(True)
        (d_b(t) - 1).square().mean().backward()
        gradients.append(t.grad)
    n = len(photos)
    result = {"step": meta.get("step"), "photos": n, "grid_peak": periodic_peak(torch.cat(translations)),
              "adversarial_gradient_grid_peak": float(periodic_ratio(torch.cat(gradients))),
              "control_offset": args.control_offset} | {name: {k: v / n for k, v in kept.items()}
                                                      for name, kept in sums.items()}
    write_json(args.run / "grid_probe.json", result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    run_script(main)
