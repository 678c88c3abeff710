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

from tqdm import tqdm

from nst_bench.data.images import load_image, save_image
from nst_bench.errors import UserError
from nst_bench.nets.classifier import evaluation_view


@dataclass(frozen=True)
class Pair:
    photo: Path
    artist: str
    painting: Path


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


def write_views(photos: list[Path], side: int, crop_pct: float, folder: Path) -> list[Path]:
    """Each photo's evaluation view as a lossless PNG in ``folder``: what every method stylizes and the classifier
    scores as the clean image. Written once; a view on disk is reused."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []  # named as retention.planned names them: <photo stem>.png
    for photo in tqdm(photos, desc=f"{side} px views", unit="photo", disable=None):
        path = folder / f"{photo.stem}.png"
        if not path.is_file():
            save_image(evaluation_view(load_image(photo), side, crop_pct), path.with_suffix(".tmp.png"))
            path.with_suffix(".tmp.png").replace(path)  # a view is whole or absent
        out.append(path)
    return out
