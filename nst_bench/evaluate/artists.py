"""Artist classifier for the deception rate: which artist does a stylized image look like it was painted by?

A linear probe (softmax regression) on the frozen ImageNet classifier's pooled features, trained on random crops of
each artist's paintings. With 1-9 paintings per artist, fine-tuning the whole network would memorise; a probe on
crops is what the data supports. The split holds out whole paintings (only artists with two or more paintings
have held-out ones), so the held-out accuracy measures generalisation to unseen paintings, not unseen crops.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from nst_bench.data.images import load_image
from nst_bench.nets.classifier import Classifier


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
    heldout_accuracy: float
    heldout_paintings: int
    heldout_crop_accuracy: float

    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        return F.softmax(((features - self.mean) / self.std) @ self.weight.T + self.bias, dim=-1)

    def predict(self, classifier: Classifier, images: list[torch.Tensor], crops: int = 5, seed: int = 0) -> list[str]:
        """Artist per image, from the probabilities averaged over the image and a few crops."""
        rng = random.Random(seed)
        out = []
        for image in images:
            probs = self.probabilities(classifier.features(random_crops(image, crops, rng))).mean(0)
            out.append(self.artists[int(probs.argmax())])
        return out


def split_paintings(paintings: dict[str, list[Path]], holdout: float, seed: int
                    ) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    rng = random.Random(seed)
    train, test = {}, {}
    for artist, paths in paintings.items():
        paths = list(paths)
        rng.shuffle(paths)
        k = max(1, round(holdout * len(paths))) if len(paths) >= 2 else 0
        test[artist], train[artist] = paths[:k], paths[k:]
    return train, test


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
    return ArtistProbe(artists, linear.weight.detach(), linear.bias.detach(), mean, std, float("nan"), 0,
                       float("nan"))


def train_artist_probe(classifier: Classifier, paintings: dict[str, list[Path]], *, crops: int = 24,
                       holdout: float = 0.25, size: int = 320, epochs: int = 400, seed: int = 0) -> ArtistProbe:
    """Fit the probe on crops of the training paintings; score it on the held-out paintings."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    train, test = split_paintings(paintings, holdout, seed)
    artists = list(paintings)
    feats, labels = [], []
    for a, paths in train.items():
        for p in paths:
            f = classifier.features(random_crops(load_image(p, size), crops, rng))
            feats.append(f)
            labels += [artists.index(a)] * len(f)
    probe = fit_probe(artists, torch.cat(feats), torch.tensor(labels), epochs)
    held = [(a, p) for a, paths in test.items() for p in paths]
    if held:
        images = [load_image(p, size) for _, p in held]
        predicted = probe.predict(classifier, images, crops=crops, seed=seed + 1)
        probe.heldout_accuracy = sum(pa == a for pa, (a, _) in zip(predicted, held)) / len(held)
        probe.heldout_paintings = len(held)
        crop_hits, crop_total = 0, 0
        for (a, _), image in zip(held, images):
            probs = probe.probabilities(classifier.features(random_crops(image, crops, rng)))
            crop_hits += int((probs.argmax(1) == artists.index(a)).sum())
            crop_total += len(probs)
        probe.heldout_crop_accuracy = crop_hits / crop_total
    return probe
