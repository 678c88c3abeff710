"""Perceptual losses: content, Gram style, total variation — and the objective that combines them.

Gram matrices are stored per spatial position, g = F F^T / (H W), so targets from a style image of a different
size stay comparable. The normalisations then differ only by a factor in front of sum((g - a)^2):

* ``paper``:   1 / (4 N^2)  — Gatys et al. 2016, E_l = 1/(4 N^2 M^2) sum (G - A)^2 with G = M g, A = M a.
* ``mse_chw``: 1 / N^4 mean — mean squared error of G / (C H W) (the PyTorch tutorial's normalisation).
* ``mse_hw``:  1 / N^2 mean — mean squared error of G / (H W).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from nst_bench.nets.depth import DepthLoss

GRAM_NORMS = ("paper", "mse_chw", "mse_hw")
DEPTH = "depth"  # key of the content's depth map among the content targets


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


def content_layer_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(features, target)


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


class TargetCache:
    """Content features and Gram targets keyed by (encoder, layers, image bytes): computed once per process.

    In a sweep many trials share a content or style image at the same size and backbone; hashing the pixels
    (about 1 ms for a 512 px image) is far cheaper than a forward pass and needs no bookkeeping of paths.
    """

    def __init__(self) -> None:
        self.store: dict[tuple, dict[str, torch.Tensor]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, kind: str, encoder_key: tuple, layers: Sequence[str], image: torch.Tensor, compute) -> dict:
        digest = hashlib.sha1(image.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
        key = (kind, encoder_key, tuple(layers), tuple(image.shape), digest)
        if key in self.store:
            self.hits += 1
        else:
            self.misses += 1
            self.store[key] = compute(image)
        return self.store[key]


class TemporalTarget:
    """Ruder et al.'s (2016) temporal loss for one video frame: weight x mean of mask x (image - warped)^2, where
    ``warped`` is the previous stylized frame moved onto this one by optical flow and ``mask`` (1, 1, H, W) is 0
    at occlusions, where the warp cannot be trusted."""

    def __init__(self, warped: torch.Tensor, mask: torch.Tensor, weight: float) -> None:
        self.warped, self.mask, self.weight = warped, mask, weight

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.weight * (self.mask * (image - self.warped).pow(2)).mean()


class PerceptualObjective:
    """Content + Gram style + TV objective with targets computed once; returns each term separately.

    Used by every method that optimises against a feature encoder (Gatys pixels, feed-forward training). With a
    ``depth`` loss, the content targets also hold the content's depth map (key ``"depth"``), so every caller that
    passes content targets around gets the depth term without knowing about it.
    """

    def __init__(self, encoder: torch.nn.Module, content_layers: Sequence[str], style_layers: Sequence[str],
                 *, content_weight: float, style_weight: float, tv_weight: float, tv_beta: float = 2.0,
                 gram_norm: str = "paper", style_layer_weights: Sequence[float] | None = None,
                 cache: TargetCache | None = None, depth: DepthLoss | None = None) -> None:
        if gram_norm not in GRAM_NORMS:
            raise ValueError(f"unknown Gram normalisation {gram_norm!r}; choose one of {', '.join(GRAM_NORMS)}")
        self.encoder = encoder
        self.content_layers, self.style_layers = list(content_layers), list(style_layers)
        self.layers = list(dict.fromkeys(self.content_layers + self.style_layers))
        if style_layer_weights is None:
            style_layer_weights = [1.0 / max(1, len(self.style_layers))] * len(self.style_layers)
        if len(style_layer_weights) != len(self.style_layers):
            raise ValueError(f"{len(style_layer_weights)} style layer weights for {len(self.style_layers)} layers")
        self.style_layer_weights = dict(zip(self.style_layers, style_layer_weights))
        self.content_weight, self.style_weight = content_weight, style_weight
        self.tv_weight, self.tv_beta, self.gram_norm = tv_weight, tv_beta, gram_norm
        self.cache, self.depth = cache, depth
        self.temporal: TemporalTarget | None = None  # set per frame by the video recipe
        self.content_targets: dict[str, torch.Tensor] = {}
        self.style_targets: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def compute_content_features(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        targets = {k: v.detach() for k, v in self.encoder(content, self.content_layers).items()}
        if self.depth is not None:
            targets[DEPTH] = self.depth.target(content)
        return targets

    @torch.no_grad()
    def compute_style_grams(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: gram(v).detach() for k, v in self.encoder(style, self.style_layers).items()}

    def content_features(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.cache is None:
            return self.compute_content_features(content)
        key = (self.encoder.cache_key, self.depth.cache_key if self.depth else None)
        return self.cache.get("content", key, self.content_layers, content, self.compute_content_features)

    def style_grams(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.cache is None:
            return self.compute_style_grams(style)
        return self.cache.get("gram", self.encoder.cache_key, self.style_layers, style, self.compute_style_grams)

    def set_targets(self, content: dict[str, torch.Tensor], style: dict[str, torch.Tensor]) -> None:
        self.content_targets, self.style_targets = content, style

    def __call__(self, image: torch.Tensor, content_targets: dict[str, torch.Tensor] | None = None,
                 style_targets: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Loss terms for ``image``: weighted 'content', 'style', 'tv' (and 'depth' when on), their sum 'total',
        and per-layer styles.

        Targets default to those set with ``set_targets``; a feed-forward trainer passes per-batch ones instead
        (content features of the batch, one Gram target per sample)."""
        content_targets = self.content_targets if content_targets is None else content_targets
        style_targets = self.style_targets if style_targets is None else style_targets
        feats = self.encoder(image, self.layers)
        terms: dict[str, torch.Tensor] = {}
        content = sum(content_layer_loss(feats[k], content_targets[k]) for k in self.content_layers)
        for k in self.style_layers:
            terms[f"style/{k}"] = self.style_layer_weights[k] * style_layer_loss(
                gram(feats[k]), style_targets[k], self.gram_norm)
        style = sum(terms[f"style/{k}"] for k in self.style_layers)
        zero = image.new_zeros(())
        terms["content"] = self.content_weight * content if self.content_layers else zero
        terms["style"] = self.style_weight * style if self.style_layers else zero
        terms["tv"] = self.tv_weight * total_variation(image, self.tv_beta) if self.tv_weight else zero
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        if self.depth is not None:
            terms["depth"] = self.depth(image, content_targets[DEPTH])
            terms["total"] = terms["total"] + terms["depth"]
        if self.temporal is not None:
            terms["temporal"] = self.temporal(image)
            terms["total"] = terms["total"] + terms["temporal"]
        return terms
