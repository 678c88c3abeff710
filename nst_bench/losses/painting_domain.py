"""How close a set of outputs is to an artist's held-out paintings, as a set (not to one painting):

- **KID** (Binkowski et al. 2018), torchmetrics' unbiased polynomial-kernel MMD, on the pooled features of the
  ImageNet classifier of this machine (EfficientNet-Lite0 unless ResNet-50's weights are present), not on
  Inception-v3: its numbers are comparable between runs here, never to published KID or FID.
- **Gram distance** of each output to the mean Gram matrices of the paintings (relu1_1..relu5_1 of the reference
  encoder, as in the retention tables), averaged over outputs.

A CycleGAN's photo -> artist generator is scored with both at every sample step; the photos themselves (where it
starts) and the artist's training paintings (a real painting's score) are the two ends of the scale."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance

from nst_bench.losses.style_distance import gram_distance, reference_encoder, style_grams
from nst_bench.nets.backbones import Encoder
from nst_bench.nets.classifier import Classifier, imagenet_classifier


class ClassifierFeatures(nn.Module):
    """The classifier's pooled penultimate features, as the feature network torchmetrics' KID calls."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(list(images.float().cpu().split(1)))


class PaintingDomain:
    """The held-out paintings' KID features and mean Grams, computed once; ``__call__`` scores a set of outputs."""

    def __init__(self, paintings: Sequence[torch.Tensor], classifier: Classifier | None = None,
                 encoder: Encoder | None = None, subsets: int = 100, seed: int = 0) -> None:
        if len(paintings) < 2:
            raise ValueError("a painting domain needs at least 2 held-out paintings for KID")
        self.classifier = classifier or imagenet_classifier()
        self.encoder = encoder or reference_encoder()
        self.count, self.subsets, self.seed = len(paintings), subsets, seed
        self.kid = KernelInceptionDistance(feature=ClassifierFeatures(self.classifier), subsets=subsets,
                                           subset_size=len(paintings), reset_real_features=False)
        for p in paintings:
            self.kid.update(p, real=True)
        grams = [style_grams(self.encoder, p) for p in paintings]
        self.grams = {k: torch.stack([g[k] for g in grams]).mean(0) for k in grams[0]}

    @torch.no_grad()
    def __call__(self, outputs: torch.Tensor) -> dict[str, float]:
        """``kid`` (mean over ``subsets`` random subsets of min(outputs, paintings) images each), ``kid_std``, and
        ``gram_to_paintings``. Seeded and on a forked RNG: scoring never moves a training run's random stream."""
        kid = kid_std = float("nan")  # KID's unbiased estimate needs 2 outputs at least
        if len(outputs) >= 2:
            self.kid.reset()
            self.kid.subset_size = min(self.count, len(outputs))
            for i in range(0, len(outputs), 16):
                self.kid.update(outputs[i:i + 16], real=False)
            with torch.random.fork_rng():
                torch.manual_seed(self.seed)
                kid, kid_std = self.kid.compute()
        gram = sum(gram_distance(self.encoder, o[None], self.grams) for o in outputs) / len(outputs)
        return {"kid": float(kid), "kid_std": float(kid_std), "gram_to_paintings": gram}

    def describe(self) -> dict[str, object]:
        return {"paintings": self.count, "kid_features": self.classifier.describe(), "kid_subsets": self.subsets,
                "gram_encoder": self.encoder.describe(),
                "note": "KID on this classifier's features: comparable between runs here, not to Inception FID/KID"}
