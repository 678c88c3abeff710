"""What a CycleGAN run's painting discriminator (D_b) has learnt, from its last checkpoint: its mean score on the
held-out photos, on their translations by the trained generator (and by its moving average, with g_ema), and on
training and held-out paintings, each on the centre crop of the training crops' side. LSGAN targets are 1 for a
painting and 0 for a translation; a D that scores them all about alike gives its generator no direction, whatever
the losses say.

    .venv/bin/python experiments/cyclegan_d_probe.py results/cyclegan/van_gogh_skip_low_cycle
        # writes RUN/d_probe.json (step, one mean score per image set, how many images each)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torchvision.transforms.functional import center_crop
from tqdm import tqdm

from nst_bench.config import load_config
from nst_bench.data.images import load_image
from nst_bench.errors import run_script
from nst_bench.methods.cyclegan import CycleGANModule, load_generator
from nst_bench.recipes.train_cyclegan import build_networks
from nst_bench.recipes.training import load_last_checkpoint
from nst_bench.run.metrics import write_json


def mean_score(d: torch.nn.Module, images: list[torch.Tensor], crop: int) -> float:
    """Mean score over the centre ``crop`` of each image: D was trained on crops of that side."""
    with torch.no_grad():
        return float(torch.stack([d(center_crop(x, [crop, crop])).mean() for x in images]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--paintings", type=int, default=32, help="training paintings to score (the first N)")
    args = ap.parse_args()
    cfg = load_config([args.run / "config.yaml"])
    ckpt = load_last_checkpoint(args.run)
    state = ckpt["state_dict"]
    g_ab, averaged, _, d_b = build_networks(cfg.cyclegan)
    prefixes = {"g_ab.": g_ab, "d_b.": d_b} | ({"g_ab_ema.": averaged} if cfg.cyclegan.g_ema > 0 else {})
    for prefix, net in prefixes.items():
        net.load_state_dict({k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)})
        net.eval()
    _, meta = load_generator(args.run / "generator.safetensors")  # which photos and paintings were held out
    size = cfg.image.size
    photos = [load_image(p, size) for p in meta["held_out"]]
    sets = {"held-out photos": photos,
            "training paintings": [load_image(p, size) for p in meta["paintings"][:args.paintings]],
            "held-out paintings": [load_image(p, size) for p in meta["held_out_paintings"]]}
    generators = {"trained generator": g_ab} | ({"averaged generator": averaged} if cfg.cyclegan.g_ema > 0 else {})
    with torch.no_grad():
        for name, g in generators.items():
            sets[f"translations, {name}"] = [g(x) for x in tqdm(photos, desc=name, unit="photo", disable=None)]
    crop = cfg.train.crop
    result = {"step": ckpt["global_step"] // CycleGANModule.OPTIMIZER_STEPS_PER_STEP, "crop": crop,
              "scores": {k: mean_score(d_b, v, crop) for k, v in sets.items()},
              "images": {k: len(v) for k, v in sets.items()}}
    write_json(args.run / "d_probe.json", result)
    for k, v in result["scores"].items():
        print(f"{k:34s} D_b {v:.3f}")


if __name__ == "__main__":
    run_script(main)
