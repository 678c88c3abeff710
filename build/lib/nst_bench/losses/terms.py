"""Loss terms, each an ``nn.Module`` that owns its weight and its target: content, Gram style, total variation,
depth, temporal and DeepDream's activation. ``nst_bench.losses.objective`` adds them up.

Gram matrices are stored per spatial position, g = F F^T / (H W), so targets from a style image of a different
size stay comparable. The normalisations then differ only by a factor in front of sum((g - a)^2):

* ``paper``:   1 / (4 N^2)  — Gatys et al. 2016, E_l = 1/(4 N^2 M^2) sum (G - A)^2 with G = M g, A = M a.
* ``mse_chw``: 1 / N^4 mean — mean squared error of G / (C H W) (the PyTorch tutorial's normalisation).
* ``mse_hw``:  1 / N^2 mean — mean squared error of G / (H W).

A term's ``forward(image, feats)`` returns (its share of the total, the values it reports); the targets are plain
attributes, not buffers, so a module that holds an objective never saves them in its checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nst_bench.nets.depth import DepthEstimator, standardise

GRAM_NORMS = ("paper", "mse_chw", "mse_hw")
SHOWN_TERMS = ("total", "content", "style", "tv", "depth", "temporal", "activation")  # bar and table order
Features = Mapping[str, torch.Tensor]
Reported = dict[str, torch.Tensor]


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrix per spatial position, always in float32: under bf16 autocast the
    style loss is a small difference of large Gram entries, which bf16's 8-bit mantissa would drown."""
    b, c, h, w = features.shape
    with torch.autocast(features.device.type, enabled=False):
        f = features.float().reshape(b, c, h * w)
        return torch.bmm(f, f.transpose(1, 2)) / (h * w)


def style_layer_loss(g: torch.Tensor, target: torch.Tensor, norm: str = "paper") -> torch.Tensor:
    """Distance between two per-position Gram matrices under the named normalisation."""
    n = g.shape[-1]
    if norm == "paper":
        return (g - target).pow(2).sum() / (4 * n * n * g.shape[0])
    if norm == "mse_chw":
        return F.mse_loss(g / n, target / n)
    if norm == "mse_hw":
        return F.mse_loss(g, target)
    raise ValueError(f"unknown Gram normalisation {norm!r}; choose one of {', '.join(GRAM_NORMS)}")


def total_variation(image: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Mean of (dx^2 + dy^2)^(beta/2) (Mahendran & Vedaldi's TV^beta); beta=2 is the squared-gradient form."""
    dx = image[..., :-1, 1:] - image[..., :-1, :-1]
    dy = image[..., 1:, :-1] - image[..., :-1, :-1]
    sq = dx.pow(2) + dy.pow(2)
    return sq.mean() if beta == 2.0 else (sq + 1e-8).pow(beta / 2).mean()


def blend_grams(per_style: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Weighted mean of several style images' Gram targets (weights are normalised to sum to 1).

    With sum(w) = 1, sum_i w_i ||G - A_i||^2 = ||G - sum_i w_i A_i||^2 + const, so one blended target gives the
    same gradients as one loss per style image at a fraction of the cost.
    """
    if len(per_style) != len(weights):
        raise ValueError(f"{len(per_style)} style images but {len(weights)} style weights")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("style weights must sum to a positive number")
    return {layer: sum((w / total) * s[layer] for s, w in zip(per_style, weights)) for layer in per_style[0]}


class LossTerm(nn.Module):
    """One weighted term; ``layers`` are the encoder layers it reads (none: it works on the pixels)."""

    name: str = ""
    layers: list[str]

    def __init__(self, weight: float, layers: Sequence[str] = ()) -> None:
        super().__init__()
        self.weight, self.layers = weight, list(layers)

    def forward(self, image: torch.Tensor, feats: Features) -> tuple[torch.Tensor, Reported]:
        raise NotImplementedError


class ContentLoss(LossTerm):
    """weight x sum over layers of the mean squared difference to the content image's features."""

    name = "content"

    def __init__(self, layers: Sequence[str], weight: float) -> None:
        super().__init__(weight, layers)
        self.target: dict[str, torch.Tensor] = {}

    def forward(self, image: torch.Tensor, feats: Features) -> tuple[torch.Tensor, Reported]:
        if not self.layers:
            value = image.new_zeros(())
        else:
            value = self.weight * sum(F.mse_loss(feats[k], self.target[k]) for k in self.layers)
        return value, {"content": value}


class GramStyleLoss(LossTerm):
    """weight x the layer-weighted Gram distances to the style target; reports each layer as ``style/<layer>``."""

    name = "style"

    def __init__(self, layers: Sequence[str], weight: float, norm: str = "paper",
                 layer_weights: Sequence[float] | None = None) -> None:
        super().__init__(weight, layers)
        if norm not in GRAM_NORMS:
            raise ValueError(f"unknown Gram normalisation {norm!r}; choose one of {', '.join(GRAM_NORMS)}")
        if layer_weights is None:
            layer_weights = [1.0 / max(1, len(self.layers))] * len(self.layers)
        if len(layer_weights) != len(self.layers):
            raise ValueError(f"{len(layer_weights)} style layer weights for {len(self.layers)} layers")
        self.norm, self.layer_weights = norm, dict(zip(self.layers, layer_weights))
        self.target: dict[str, torch.Tensor] = {}

    def forward(self, image: torch.Tensor, feats: Features) -> tuple[torch.Tensor, Reported]:
        reported = {f"style/{k}": self.layer_weights[k] * style_layer_loss(gram(feats[k]), self.target[k], self.norm)
                    for k in self.layers}
        value = self.weight * sum(reported.values()) if self.layers else image.new_zeros(())
        return value, reported | {"style": value}


class TVLoss(LossTerm):
    """weight x total variation^beta of the pixels (zero, and not computed, at weight 0)."""

    name = "tv"

    def __init__(self, weight: float, beta: float = 2.0) -> None:
        super().__init__(weight)
        self.beta = beta

    def forward(self, image: torch.Tensor, feats: Features) -> tuple[torch.Tensor, Reported]:
        value = self.weight * total_variation(image, self.beta) if self.weight else image.new_zeros(())
        return value, {"tv": value}


class DepthLoss(LossTerm):
    """weight x mean squared difference of the standardised depth maps of the output and of the content."""

    name = "depth"

    def __init__(self, estimator: DepthEstimator, weight: float) -> None:
        super().__init__(weight)
        self.estimator = estimator
        self.target: torch.Tensor | None = None

    @property
    def cache_key(self) -> tuple:
        """What makes two targets the same: the estimator, its weights and its input size (not the weight)."""
        weights = self.estimator.weights.sha256 if self.estimator.weights else None
        return (self.estimator.name, weights, self.estimator.size)

    @torch.no_grad()
    def target_for(self, content: torch.Tensor) -> torch.Tensor:
        return standardise(self.estimator(content))

    def forward(self, image: torch.Tensor, feats: Features) -> tuple[torch.Tensor, Reported]:
        with torch.autocast(image.device.type, enabled=False):
            depth = standardise(self.estimator(image.float()))
        value = self.weight * F.mse_loss(depth, self.target.expand_as(depth))
        return value, {"depth": value}


class TemporalLoss(LossTerm):
    """Ruder et al.'s (2016) temporal loss for one video frame: weight x mean of mask x (image - warped)^2, where
    ``warped`` is the previous stylized frame moved onto this one by optical flow and ``mask`` (1, 1, H, W) is 0
    at occlusions, where the warp cannot be trusted."""

    name = "temporal"

    def __init__(self, warped: torch.Tensor, mask: torch.Tensor, weight: float) -> None:
        super().__init__(weight)
        self.warped, self.mask = warped, mask

    def forward(self, image: torch.Tensor, feats: Features) -> tuple[torch.Tensor, Reported]:
        value = self.weight * (self.mask * (image - self.warped).pow(2)).mean()
        return value, {"temporal": value}


class ActivationLoss(LossTerm):
    """DeepDream's term: minus the mean squared activation of ``layers`` (averaged over them), so that descending
    the objective ascends the activations; reports the activation itself."""

    name = "activation"

    def __init__(self, layers: Sequence[str]) -> None:
        super().__init__(1.0, layers)

    def forward(self, image: torch.Tensor, feats: Features) -> tuple[torch.Tensor, Reported]:
        act = sum(feats[k].pow(2).mean() for k in self.layers) / len(self.layers)
        return -act, {"activation": act}
