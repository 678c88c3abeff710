"""What the methods share: encoders and depth networks through the process cache, the perceptual objective a
method optimises or is scored with, and the stylizer of every one-pass (feed-forward) method."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from pytorch_lightning.loggers import Logger

from nst_bench.config import RunConfig
from nst_bench.errors import UserError
from nst_bench.losses.objective import PerceptualObjective
from nst_bench.losses.terms import DepthLoss, TemporalLoss, blend_grams
from nst_bench.methods.registry import Method, Result
from nst_bench.nets.backbones import Encoder, build_backbone
from nst_bench.nets.depth import build_depth
from nst_bench.nets.weights import sha256
from nst_bench.run.cache import ProcessCache


def encoder_for(cfg: RunConfig, cache: ProcessCache) -> Encoder:
    """The configured backbone on the configured device, built once per process."""
    b = cfg.backbone
    encoder = cache.get("encoder", (b.name, b.weights, b.pooling, b.padding),
                        lambda: build_backbone(b.name, b.weights, b.pooling, b.padding))
    return encoder.to(cfg.device)


def resolve_layers(cfg: RunConfig, encoder: Encoder) -> None:
    """Fill unset layer lists with the backbone's defaults, so the saved config names the layers used."""
    b = cfg.backbone
    b.content_layers = encoder.check_layers(b.content_layers or encoder.default_content_layers)
    b.style_layers = encoder.check_layers(b.style_layers or encoder.default_style_layers)


def perceptual_objective(cfg: RunConfig, cache: ProcessCache) -> PerceptualObjective:
    """The configured content + style + TV objective (a depth term when ``depth.weight`` > 0) on the configured
    backbone; fills the layer defaults into ``cfg``."""
    encoder = encoder_for(cfg, cache)
    resolve_layers(cfg, encoder)
    b, loss, d = cfg.backbone, cfg.loss, cfg.depth
    depth = None
    if d.weight:
        estimator = cache.get("depth", (d.estimator, d.weights, d.size), lambda: build_depth(d.estimator, d.weights,
                                                                                           d.size))
        depth = DepthLoss(estimator.to(cfg.device), d.weight)
    return PerceptualObjective(encoder, b.content_layers, b.style_layers, content_weight=loss.content_weight,
                               style_weight=loss.style_weight, tv_weight=loss.tv_weight, tv_beta=loss.tv_beta,
                               gram_norm=loss.gram_norm, style_layer_weights=b.style_layer_weights, cache=cache,
                               depth=depth)


def describe_objective(objective: PerceptualObjective, depth_weight: float) -> dict[str, Any]:
    depth = objective.depth
    return {"backbone": objective.encoder.describe(),
            "depth": depth.estimator.describe() | {"weight": depth_weight} if depth is not None else None}


def set_style_targets(objective: PerceptualObjective, content: torch.Tensor, styles: Sequence[torch.Tensor],
                      blend: Sequence[float]) -> None:
    objective.set_content(content)
    objective.set_style(blend_grams([objective.style_grams(s) for s in styles], blend))


def network_file(cache: ProcessCache, kind: str, path: str | None, load: Callable[[str], tuple], made_by: str
                 ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A trained network and its metadata, loaded once per process."""
    if not path:
        raise UserError(f"method {kind} needs a trained network: give --checkpoint PATH ({made_by})")
    stat = Path(path).stat() if Path(path).is_file() else None  # a network retrained at the same path is new
    key = (kind, path, stat.st_mtime_ns if stat else None, stat.st_size if stat else None)
    return cache.get("network", key, lambda: load(path))


def network_weights(path: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Where a trained network came from, for the record (its file's sha256 and what trained it)."""
    keep = ("step", "styles", "output", "artist", "domain_a", "direction", "format")
    digest = meta["sha256"] if Path(path).is_dir() else sha256(Path(path))  # a folder's loader hashes its files
    return {"path": str(Path(path).resolve()), "sha256": digest} | {k: meta[k] for k in keep if k in meta}


class TrainedNetwork(Method):
    """A method that is one trained network on disk (``checkpoint_key``): loaded once per process, one pass per
    image; its styles are what it was trained on, so style images matter only to its scores."""

    reads_style_pixels = False
    made_by: ClassVar[str]  # what writes its network file, for the error when none is given

    def load(self, path: str) -> tuple[torch.nn.Module, dict[str, Any]]:
        raise NotImplementedError

    def forward(self, net: torch.nn.Module, cfg: RunConfig
                ) -> Callable[[torch.Tensor, Sequence[torch.Tensor], Sequence[float]], torch.Tensor]:
        """The pass ``(content, styles, blend) -> image`` through the loaded network."""
        raise NotImplementedError

    def network(self, cfg: RunConfig, cache: ProcessCache) -> tuple[torch.nn.Module, dict[str, Any]]:
        return network_file(cache, self.name, self.network_path(cfg), self.load, self.made_by)

    def build(self, cfg: RunConfig, cache: ProcessCache) -> FeedForward:
        net, meta = self.network(cfg, cache)
        weights = network_weights(self.network_path(cfg), meta)
        return FeedForward(cfg, cache, self.forward(net.to(cfg.device), cfg), weights)


class FeedForward:
    """Stylizer of a one-pass method: ``forward(content, styles, blend)`` under no_grad, the output scored with
    the Gatys objective (built on first use, so a video of a trained network never loads a backbone), and in a
    video the flow-warped previous output mixed in by ``video.blend`` where the flow is trusted."""

    def __init__(self, cfg: RunConfig, cache: ProcessCache,
                 forward: Callable[[torch.Tensor, Sequence[torch.Tensor], Sequence[float]], torch.Tensor],
                 weights: dict[str, Any] | None) -> None:
        self.cfg, self.cache, self.forward, self.weights = cfg, cache, forward, weights
        self._objective: PerceptualObjective | None = None

    @property
    def objective(self) -> PerceptualObjective:
        if self._objective is None:
            self._objective = perceptual_objective(self.cfg, self.cache)
        return self._objective

    @property
    def min_side(self) -> int:
        return self.objective.encoder.min_side(self.objective.layers)

    def __call__(self, content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float], *,
                 temporal: TemporalLoss | None = None, logger: Logger | None = None, progress: bool = False,
                 bar_position: int = 0, score: bool = True) -> Result:
        t0 = time.perf_counter()
        with torch.no_grad():
            image = self.forward(content, styles, blend)
        seconds = time.perf_counter() - t0
        share = self.cfg.video.blend
        if temporal is not None and share:
            mixed = share * temporal.warped + (1 - share) * image
            image = temporal.mask * mixed + (1 - temporal.mask) * image
        final: dict[str, float] = {}
        if score:
            set_style_targets(self.objective, content, styles, blend)
            with torch.no_grad():
                final = {k: float(v) for k, v in self.objective(image).items()}
        return Result(image=image, final=final, seconds=seconds, sizes=[tuple(content.shape[-2:])])

    def describe(self) -> dict[str, Any]:
        scored = describe_objective(self._objective, self.cfg.depth.weight) if self._objective else {}
        return {"backbone": scored.get("backbone"), "depth": None, "method_weights": self.weights}

    depth_estimator = None  # outputs are scored, never optimised, against depth
