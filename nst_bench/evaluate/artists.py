"""Artist classifier for the deception rate: which artist does a stylized image look like it was painted by?

A linear probe (softmax regression) on the frozen ImageNet classifier's pooled features, trained on random crops of
each artist's paintings. With 1-9 paintings per artist, fine-tuning the whole network would memorise; a probe on
crops is what the data supports. ``deception.FoldedProbe`` fits one probe per fold of whole paintings, so that
no painting is scored, nor a stylization of it judged, by a probe that trained on it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def random_crops(image: torch.Tensor, n: int, rng: random.Random, min_scale: float = 0.25) -> list[torch.Tensor]:
    """The whole image plus ``n - 1`` random crops covering ``min_scale``..1 of its area, some mirrored."""
    h, w = image.shape[-2:]
    crops = [image]
    for _ in range(n - 1):
        s = rng.uniform(min_scale, 1.0) ** 0.5
        ch, cw = max(8, int(h * s)), max(8, int(w * s))
        top, left = rng.randint(0, h - ch), rng.randint(0, w - cw)
        crop = image[..., top:top + ch, left:left + cw]
        crops.append(crop.flip(-1) if rng.random() < 0.5 else crop)
    return crops


@dataclass
class ArtistProbe:
    artists: list[str]
    weight: torch.Tensor
    bias: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        return F.softmax(((features - self.mean) / self.std) @ self.weight.T + self.bias, dim=-1)


def fit_probe(artists: list[str], x: torch.Tensor, y: torch.Tensor, epochs: int = 400) -> ArtistProbe:
    """Softmax regression on standardised features, classes weighted so that an artist with 9 paintings does not
    drown one with 1; full-batch Adam (a few thousand crops fit in one batch)."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    xn = (x - mean) / std
    linear = torch.nn.Linear(x.shape[1], len(artists))
    opt = torch.optim.Adam(linear.parameters(), lr=1e-2, weight_decay=1e-3)
    counts = torch.bincount(y, minlength=len(artists)).clamp(min=1).float()
    class_weight = counts.sum() / (len(artists) * counts)
    for _ in range(epochs):
        opt.zero_grad()
        F.cross_entropy(linear(xn), y, weight=class_weight).backward()
        opt.step()
    return ArtistProbe(artists, linear.weight.detach(), linear.bias.detach(), mean, std)
