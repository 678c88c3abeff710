"""One objective for every method that optimises against a feature encoder: it runs the encoder once, up to the
deepest layer any term reads, and adds up its terms (``nst_bench.losses.terms``).

Targets (the content image's features and depth, the style images' Gram matrices) are computed once per
(encoder, layers, pixels) and kept in the process cache, so every trial of a sweep that shares an image reuses them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import nn

from nst_bench.losses.terms import ContentLoss, DepthLoss, GramStyleLoss, LossTerm, TVLoss, gram
from nst_bench.run.cache import ProcessCache

T = TypeVar("T")

def pixels_digest(image: torch.Tensor) -> str:
    """Hash of an image's pixels: about 1 ms at 512 px, far cheaper than the forward pass it saves."""
    return hashlib.sha1(image.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


class Objective(nn.Module):
    """Sum of loss terms on ``image`` and its encoder features; returns every reported value and ``total``."""

    def __init__(self, encoder: nn.Module, terms: Sequence[LossTerm], cache: ProcessCache | None = None) -> None:
        super().__init__()
        self.encoder, self.cache = encoder, cache
        self.terms = nn.ModuleDict({t.name: t for t in terms})

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys(layer for t in self.terms.values() for layer in t.layers))

    def term(self, name: str) -> LossTerm | None:
        return self.terms[name] if name in self.terms else None  # noqa: SIM401 (ModuleDict has no get)

    def add(self, term: LossTerm) -> None:
        self.terms[term.name] = term

    def remove(self, name: str) -> None:
        if name in self.terms:
            del self.terms[name]

    def encoder_input(self, image: torch.Tensor) -> torch.Tensor:
        """What the encoder sees (DeepDream rolls and re-normalises it; everyone else passes it through)."""
        return image

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        layers = self.layers
        feats = self.encoder(self.encoder_input(image), layers) if layers else {}
        out: dict[str, torch.Tensor] = {}
        total = None
        for t in self.terms.values():
            share, reported = t(image, feats)
            out |= reported
            total = share if total is None else total + share
        out["total"] = total if total is not None else image.new_zeros(())
        return out

    def cached(self, kind: str, key: tuple, image: torch.Tensor, compute: Callable[[torch.Tensor], T]) -> T:
        """``compute(image)``, once per process for the same kind, key and pixels."""
        if self.cache is None:
            return compute(image)
        full = (key, tuple(image.shape), pixels_digest(image))
        return self.cache.get(kind, full, lambda: compute(image))


class PerceptualObjective(Objective):
    """Content + Gram style + TV (+ depth) in Gatys' form, the objective of Gatys, of fast-network training and
    of the scores every feed-forward output gets, so the losses of all methods compare."""

    def __init__(self, encoder: nn.Module, content_layers: Sequence[str], style_layers: Sequence[str],
                 *, content_weight: float, style_weight: float, tv_weight: float, tv_beta: float = 2.0,
                 gram_norm: str = "paper", style_layer_weights: Sequence[float] | None = None,
                 cache: ProcessCache | None = None, depth: DepthLoss | None = None) -> None:
        terms: list[LossTerm] = [ContentLoss(content_layers, content_weight),
                                 GramStyleLoss(style_layers, style_weight, gram_norm, style_layer_weights),
                                 TVLoss(tv_weight, tv_beta)]
        super().__init__(encoder, terms + ([depth] if depth is not None else []), cache)
        self.content_layers, self.style_layers = list(content_layers), list(style_layers)

    @property
    def depth(self) -> DepthLoss | None:
        return self.term("depth")

    @torch.no_grad()
    def compute_content_features(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.encoder(content, self.content_layers).items()}

    @torch.no_grad()
    def compute_style_grams(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: gram(v).detach() for k, v in self.encoder(style, self.style_layers).items()}

    def style_grams(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.cached("gram", (self.encoder.cache_key, tuple(self.style_layers)), style, self.compute_style_grams)

    def set_content(self, content: torch.Tensor, cache: bool = True) -> None:
        """Targets of the content terms (features; the depth map when that term is on) from ``content``: cached
        for a photo many trials share, computed afresh for a training batch (``cache=False``)."""
        if cache:
            key = (self.encoder.cache_key, tuple(self.content_layers))
            self.terms["content"].target = self.cached("content", key, content, self.compute_content_features)
        else:
            self.terms["content"].target = self.compute_content_features(content)
        depth = self.depth
        if depth is not None and cache:
            depth.target = self.cached("depth_target", depth.cache_key, content, depth.target_for)
        elif depth is not None:
            depth.target = depth.target_for(content)

    def set_style(self, grams: dict[str, torch.Tensor]) -> None:
        """Gram targets: one blend for a stylization, one per sample (B, C, C) for a training batch."""
        self.terms["style"].target = grams
