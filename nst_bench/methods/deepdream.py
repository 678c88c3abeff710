"""DeepDream (Mordvintsev et al. 2015): gradient *ascent* on the activations of chosen layers, the mirror image of
Gatys' descent, showing what a layer 'sees'.

It runs in the pixel module Gatys uses (the pixels are the parameters, one Lightning step per iteration) with a
different objective: minus the mean squared activation of the layers, measured on a randomly rolled copy of the
image (jitter, so no pixel grid gets reinforced), with the gradient normalised to unit mean magnitude before the
plain SGD step. Octaves run from small to full size (``data.images.pyramid``); each carries up the detail dreamed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from pytorch_lightning.loggers import Logger

from nst_bench.config import DreamConfig, OptimizerConfig, RunConfig
from nst_bench.data.images import pyramid, resize
from nst_bench.losses.objective import Objective
from nst_bench.losses.terms import ActivationLoss
from nst_bench.methods.common import encoder_for
from nst_bench.methods.gatys import optimise_pixels
from nst_bench.methods.registry import Method, Result, register_method
from nst_bench.run.cache import ProcessCache


class NormaliseGradient(torch.autograd.Function):
    """Identity forward; backward divides the gradient by its mean magnitude, so the step size is lr in pixels
    whatever the layer's scale."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad / (grad.abs().mean() + 1e-8)


class DreamObjective(Objective):
    """'total' = -(mean squared activation of ``layers``), 'activation' = that activation, on a jittered copy."""

    def __init__(self, encoder: torch.nn.Module, layers: Sequence[str], jitter: int, seed: int = 0) -> None:
        super().__init__(encoder, [ActivationLoss(layers)])
        self.jitter = jitter
        self.generator = torch.Generator().manual_seed(seed)

    def encoder_input(self, image: torch.Tensor) -> torch.Tensor:
        x = NormaliseGradient.apply(image)
        if self.jitter:
            dy, dx = (int(v) for v in torch.randint(-self.jitter, self.jitter + 1, (2,), generator=self.generator))
            x = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
        return x

    def activation(self, image: torch.Tensor) -> torch.Tensor:
        """The layers' activation on ``image`` itself (no jitter)."""
        term = self.terms["activation"]
        return term(image, self.encoder(image, term.layers))[1]["activation"]


def octave_fractions(octaves: int, scale: float) -> list[float]:
    return [1 / scale ** k for k in reversed(range(octaves))]


def dream(image: torch.Tensor, objective: DreamObjective, cfg: DreamConfig, optim: OptimizerConfig, *,
          min_side: int = 32, device: str = "cpu", logger: Logger | None = None, progress: bool = True,
          log_every: int = 1, bar_position: int = 0) -> Result:
    """Dream on ``image`` octave by octave; the output has the input's size."""
    sizes = pyramid(*image.shape[-2:], octave_fractions(cfg.octaves, cfg.octave_scale), min_side)
    detail = torch.zeros_like(resize(image, sizes[0]))
    history: list[dict[str, float]] = []
    seconds = 0.0
    dreamt = image
    for size in sizes:
        base = resize(image, size)
        start = (base + resize(detail, size)).clamp(0, 1)
        module = optimise_pixels(objective, start, optim, step_offset=len(history), device=device,
                                 label=f"dream {size[1]}x{size[0]}", logger=logger, progress=progress,
                                 log_every=log_every, bar_position=bar_position)
        history += module.history
        seconds += module.seconds
        dreamt = module.picture
        detail = dreamt - base
    with torch.no_grad():
        activation = float(objective.activation(dreamt))
    return Result(image=dreamt, final={"activation": activation, "total": -activation}, seconds=seconds,
                  history=history, iterations=len(history), evaluations=len(history), sizes=sizes)


class DreamStylizer:
    def __init__(self, cfg: RunConfig, cache: ProcessCache) -> None:
        self.cfg = cfg
        self.encoder = encoder_for(cfg, cache)
        cfg.dream.layers = self.encoder.check_layers(cfg.dream.layers or self.encoder.default_content_layers)
        self.min_side = self.encoder.min_side(cfg.dream.layers)

    depth_estimator = None

    def __call__(self, content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float], *,
                 logger: Logger | None = None, progress: bool = False, bar_position: int = 0, **_: Any) -> Result:
        """Dream on ``content``; it has no style, and nothing to score or to keep steady in a video."""
        cfg = self.cfg
        objective = DreamObjective(self.encoder, cfg.dream.layers, cfg.dream.jitter, cfg.seed)
        t0 = time.perf_counter()
        initial = float(objective.activation(content).detach())
        r = dream(content, objective, cfg.dream, cfg.optimizer, min_side=self.min_side, device=cfg.device,
                  logger=logger, progress=progress, log_every=cfg.tracking.log_every, bar_position=bar_position)
        r.extra = {"initial": {"activation": initial}, "activation_rise": r.final["activation"] / initial,
                   "octave_sizes": r.sizes, "layers": cfg.dream.layers, "wall_seconds": time.perf_counter() - t0}
        return r

    def describe(self) -> dict[str, Any]:
        return {"backbone": self.encoder.describe(), "method_weights": None}


@register_method
class DeepDream(Method):
    name = "deepdream"
    sections = ("dream", "optimizer")
    video = False
    needs_styles = False

    def build(self, cfg: RunConfig, cache: ProcessCache) -> DreamStylizer:
        return DreamStylizer(cfg, cache)
