"""The method registry, in the style of timm's ``register_model``: each method is one class in ``methods/``,
registered under its name with the config sections it reads.

The bundled methods register when ``nst_bench.methods`` is imported (its ``__init__`` imports each of them, as
timm's ``models/__init__`` does), which any import of this module does first. Everything that runs a method
(``stylize``, sweeps, ``evaluate``, video, runtime, export) asks ``get_method(cfg.method)`` for it and calls
the same three things: ``prepare`` (check and complete the config: styles from a checkpoint,
required inputs), ``build`` (load networks through the process cache, return a ``Stylizer``), and the stylizer's
``describe`` (backbone and weights, for the record). The training recipes build their networks themselves (they
make a method's network rather than use one) but check their config through ``Method.check``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch
from pytorch_lightning.loggers import Logger

from nst_bench.config import RunConfig
from nst_bench.errors import UserError
from nst_bench.losses.terms import TemporalLoss
from nst_bench.run.cache import ProcessCache


@dataclass
class Result:
    """One stylized image and how it was made."""

    image: torch.Tensor
    final: dict[str, float]  # loss terms of the output (feed-forward outputs are scored with the Gatys objective)
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)  # per optimisation step
    iterations: int = 0
    evaluations: int = 1  # forward passes (+ backward, when optimising)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    diverged_at: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # what only this method reports


@dataclass
class Deployable:
    """A method's network with tensor-only inputs, ready for TorchScript or ONNX."""

    module: torch.nn.Module
    inputs: dict[str, torch.Tensor]  # example inputs, by name
    dynamic: dict[str, dict[int, str]]  # ONNX dynamic axes
    scriptable: bool = True  # False: trace it (Python control flow that scripting cannot follow)


class Stylizer(Protocol):
    """A built method: networks loaded, ready to stylize content images one after another."""

    min_side: int  # smallest input side its layers allow
    depth_estimator: torch.nn.Module | None  # the depth network of its depth term, if any (for depth.jpg)

    def __call__(self, content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float], *,
                 temporal: TemporalLoss | None = None, logger: Logger | None = None, progress: bool = False,
                 bar_position: int = 0, score: bool = True) -> Result: ...
    # temporal: a video's warped previous frame; score=False skips scoring a one-pass output (video frames)

    def describe(self) -> dict[str, Any]: ...  # {"backbone": ..., "method_weights": ..., "depth": ...}


class Method:
    """Base of every registered method. ``sections`` are the config sections its results depend on beyond the
    shared ones (content, styles, image, backbone, loss): they enter its trial ids, other methods' do not."""

    name: ClassVar[str]
    sections: ClassVar[tuple[str, ...]] = ()
    video: ClassVar[bool] = True  # can stylize a clip frame by frame
    optimises: ClassVar[bool] = False  # pixels optimised per image (a video is consistent by a temporal loss,
    #                                    not by blending the warped previous output)
    needs_styles: ClassVar[bool] = True
    depth_loss: ClassVar[bool] = False  # takes the depth-preservation term (depth.weight)
    checkpoint_key: ClassVar[str | None] = None  # config key of its trained network, the CLI's --checkpoint
    reads_style_pixels: ClassVar[bool] = True  # False: a trained network's styles matter only to its scores

    def check(self, cfg: RunConfig) -> None:
        """What can be checked from the config alone (a sweep checks every trial before running any)."""
        if cfg.depth.weight and not self.depth_loss:
            raise UserError(f"depth.weight applies to gatys and to fast-network training, not method {self.name}: "
                            "set depth.weight=0")

    def complete(self, cfg: RunConfig, cache: ProcessCache) -> None:
        """Fill what the method itself decides (a trained network's styles)."""

    def prepare(self, cfg: RunConfig, cache: ProcessCache) -> None:
        """Check and complete ``cfg`` before anything runs (UserError for what the user must add)."""
        self.check(cfg)
        self.complete(cfg, cache)
        if self.needs_styles and not cfg.styles:
            raise UserError("no style image: give at least one --style PATH")

    def build(self, cfg: RunConfig, cache: ProcessCache) -> Stylizer:
        raise NotImplementedError

    def deployable(self, checkpoint: str | None) -> Deployable:
        """The method's network for `nst-bench export`."""
        raise UserError(f"cannot export method {self.name!r}: only a method with a network can be exported "
                        "(fast, adain); Gatys and DeepDream optimise pixels")

    def network_path(self, cfg: RunConfig) -> str | None:
        """The trained network whose file is part of the method's identity (its sha256 enters the trial id)."""
        if self.checkpoint_key is None:
            return None
        section, key = self.checkpoint_key.split(".")
        return getattr(getattr(cfg, section), key)


METHODS: dict[str, Method] = {}


def register_method(cls: type[Method]) -> type[Method]:
    METHODS[cls.name] = cls()
    return cls


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise UserError(f"method is {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def method_names() -> list[str]:
    return list(METHODS)


