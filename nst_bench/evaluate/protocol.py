"""The retention protocol's choices, in code so that the study cannot drift from what its README says.

- Photos are seen at the classifier's own view: short side ``side / crop_pct``, centre crop ``side`` (224 px for
  ResNet-50, 260 for EfficientNet-Lite2). Every method stylizes that view and the classifier scores its output
  as it is: the same pixels for the clean and the stylized image, nothing upscaled.
- Each photo gets ``k`` paintings per artist, drawn with a seed from the photo's name and the artist, so that
  adding photos, artists or settings leaves every other draw as it was.
- A subset for the slow methods takes every n-th photo of the sorted list (the 200 sample photos are one per
  class, so the subset still spreads over the classes).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from nst_bench.data.images import resize
from nst_bench.errors import UserError


@dataclass(frozen=True)
class Pair:
    photo: Path
    artist: str
    painting: Path


def classifier_view(image: torch.Tensor, side: int, crop_pct: float) -> torch.Tensor:
    """The ImageNet evaluation view: short side resized to ``side / crop_pct``, then the centre ``side`` square."""
    h, w = image.shape[-2:]
    short = round(side / crop_pct)
    image = resize(image, (max(side, round(h * short / min(h, w))), max(side, round(w * short / min(h, w)))))
    h, w = image.shape[-2:]
    top, left = (h - side) // 2, (w - side) // 2
    return image[..., top:top + side, left:left + side]


def draw_seed(seed: int, *parts: str) -> int:
    """A seed for one draw, from the study's seed and what the draw is for (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(":".join([str(seed), *parts]).encode()).digest()[:8], "little")


def assign_paintings(photos: list[Path], paintings: dict[str, list[Path]], k: int, seed: int) -> list[Pair]:
    """``k`` distinct paintings of every artist for every photo, each draw seeded by (seed, photo name, artist)."""
    short = [a for a, ps in paintings.items() if len(ps) < k]
    if short:
        raise UserError(f"artist(s) {', '.join(short)} have fewer than k={k} paintings: lower k or add paintings")
    pairs = []
    for photo in photos:
        for artist, ps in paintings.items():
            rng = random.Random(draw_seed(seed, photo.name, artist))
            pairs += [Pair(photo, artist, p) for p in rng.sample(sorted(ps), k)]
    return pairs


def every_nth(photos: list[Path], n: int) -> list[Path]:
    """The stratified subset for slow methods: every ``n``-th photo of the sorted list, starting with the first."""
    if n < 1:
        raise UserError(f"subset step must be at least 1, got {n}")
    return sorted(photos)[::n]
