"""Gatys et al. (2016): the output image's pixels are the parameters, optimised against a perceptual objective.

One Lightning module per scale: each training step is one optimiser iteration (L-BFGS with ``max_iter=1`` keeps
its curvature history across steps, so the progress bar counts iterations). L-BFGS uses a strong-Wolfe line
search by default: without one, the fixed step of the first quasi-Newton iterations can throw the pixels into
noise on some images, and the clamp to [0, 1] never recovers them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader

from nst_bench.config import DEFAULT_LR, GatysConfig, OptimizerConfig, RunConfig
from nst_bench.data.images import luminance, match_luminance, pyramid, recombine_colour, resize, scaled_size
from nst_bench.losses.objective import Objective, PerceptualObjective
from nst_bench.losses.terms import SHOWN_TERMS, TemporalLoss
from nst_bench.methods.common import describe_objective, perceptual_objective, set_style_targets
from nst_bench.methods.registry import Method, Result, register_method
from nst_bench.nets.depth import DepthEstimator
from nst_bench.run.cache import ProcessCache
from nst_bench.run.cpu import check_precision
from nst_bench.run.trainer import make_trainer, record_step


def initial_image(kind: str, content: torch.Tensor, style: torch.Tensor, seed: int) -> torch.Tensor:
    """Starting pixels: the content image, uniform noise, or the (first) style image resized to the content."""
    if kind == "content":
        return content.clone()
    if kind == "noise":
        g = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=g).to(content)
    if kind == "style":
        return resize(style, tuple(content.shape[-2:])).clone()
    raise ValueError(f"unknown init {kind!r}")


class PixelModule(pl.LightningModule):
    """The image is the only parameter; the objective's encoder stays frozen. Gatys and DeepDream both run in it.

    With ``levels`` > 1 the image is the sum of a Laplacian pyramid: the pixels plus ``levels - 1`` coarser
    images, each half the size of the one before and upsampled bilinearly. The loss is the same function of the
    same pixels; only the variables differ, and a gradient step then moves the image's coarse structure as far as
    its fine detail, which L-BFGS's curvature estimate alone does not do from a fresh start.
    """

    def __init__(self, objective: Objective, init: torch.Tensor, optim: OptimizerConfig,
                 step_offset: int = 0, origin: float | None = None, stop_below: float | None = None,
                 precision: str = "fp32", levels: int = 1) -> None:
        super().__init__()
        self.objective = objective
        # the finest level (the pixels themselves when levels == 1), contiguous whatever the init's strides:
        # L-BFGS flattens each gradient with view(-1), which fails on a channels-last or cropped image
        self.image = nn.Parameter(init.clone(memory_format=torch.contiguous_format))
        h, w = init.shape[-2:]
        self.coarse = nn.ParameterList(nn.Parameter(init.new_zeros(*init.shape[:2], -(-h // 2**k), -(-w // 2**k)))
                                       for k in range(1, levels))
        self.optim = optim
        self.step_offset = step_offset
        self.automatic_optimization = False
        self.history: list[dict[str, float]] = []
        self.initial: dict[str, float] | None = None  # loss terms of the first evaluation (at the start image)
        self.last_good = [p.detach().clone() for p in self.variables]
        self.diverged_at: int | None = None
        self.best: tuple[float, list[torch.Tensor]] | None = None  # optim.keep_best: lowest loss, its variables
        self.best_step: int | None = None
        self.seconds = 0.0
        self.evaluations = 0  # forward+backward passes (a line search may take several per iteration)
        self.search_until = 0  # line_search_steps: the iteration up to which L-BFGS searches after a rise
        self._t0 = 0.0
        self.origin = origin  # perf_counter() at which a history row's "seconds" is 0 (a coarse-to-fine run's start)
        self.stop_below = stop_below  # end once the total loss is below this (a time-to-quality benchmark)
        self.precision = precision  # bf16: the encoder under autocast (the terms cast its features to float32)
        self._last_eval: tuple[list[torch.Tensor], dict[str, torch.Tensor], list[torch.Tensor]] | None = None

    @property
    def variables(self) -> list[nn.Parameter]:
        return [self.image, *self.coarse]

    def pixels(self) -> torch.Tensor:
        x = self.image
        for level in self.coarse:
            x = x + F.interpolate(level, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x

    @property
    def picture(self) -> torch.Tensor:
        """The optimised image, in [0, 1]."""
        with torch.no_grad():
            return self.pixels().clamp(0, 1)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        lr = self.optim.lr if self.optim.lr is not None else DEFAULT_LR[self.optim.name]
        if self.optim.name == "lbfgs":
            # max_eval must be set: its default (max_iter * 5 // 4 = 1) leaves the line search no evaluations
            return torch.optim.LBFGS(self.variables, lr=lr, max_iter=1, max_eval=25,
                                     history_size=self.optim.history_size, line_search_fn=self.optim.line_search)
        if self.optim.name == "sgd":
            return torch.optim.SGD(self.variables, lr=lr)
        return torch.optim.Adam(self.variables, lr=lr)

    def choose_line_search(self, opt: torch.optim.Optimizer, iteration: int) -> None:
        """With ``line_search_steps`` N, L-BFGS searches along its direction only in the first N iterations and in
        the N after the loss rose; elsewhere it takes the fixed step, one evaluation instead of about two."""
        n = self.optim.line_search_steps
        if self.optim.name != "lbfgs" or self.optim.line_search is None or n is None:
            return
        rose = len(self.history) >= 2 and self.history[-1]["total"] > self.history[-2]["total"]
        if rose:
            self.search_until = iteration + n
        search = iteration < max(n, self.search_until)
        opt.param_groups[0]["line_search_fn"] = self.optim.line_search if search else None

    def on_train_start(self) -> None:
        self._t0 = time.perf_counter()
        if self.origin is None:
            self.origin = self._t0

    def on_train_end(self) -> None:
        self.seconds = time.perf_counter() - self._t0
        if self.best is not None:  # the last step's own result was never evaluated: the best is a known point
            with torch.no_grad():
                for v, best in zip(self.variables, self.best[1]):
                    v.copy_(best)

    def training_step(self, batch: int, batch_idx: int) -> None:
        opt = self.optimizers()
        terms: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            # L-BFGS evaluates at the start of every step the point where the previous step's line search
            # ended; when clamping left it unchanged, reuse that evaluation instead of paying for it twice.
            at = [p.detach() for p in self.variables]
            if self._last_eval is not None and all(map(torch.equal, self._last_eval[0], at)):
                for p, g in zip(self.variables, self._last_eval[2]):
                    p.grad = g.clone()
                terms.update(self._last_eval[1])
                return terms["total"]
            opt.zero_grad()
            with torch.autocast(self.image.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                t = self.objective(self.pixels())
            self.manual_backward(t["total"])
            self.evaluations += 1
            if self.initial is None:  # the loss where the step started: L-BFGS's history rows are the line
                self.initial = {k: float(v.detach()) for k, v in t.items()}  # search's last point, not its first
            terms.update(t)
            self._last_eval = ([p.clone() for p in at], {k: v.detach() for k, v in t.items()},
                               [p.grad.clone() for p in self.variables])
            return t["total"]

        self.choose_line_search(opt, batch_idx)
        opt.step(closure=closure)
        with torch.no_grad():
            if self.coarse:  # the pixels, not each level, must stay in [0, 1]: the finest level takes the clamp
                x = self.pixels()
                self.image.add_(x.clamp(0, 1) - x)
            else:
                self.image.clamp_(0, 1)
        values = {k: float(v.detach()) for k, v in terms.items()}
        step = self.step_offset + batch_idx
        if not all(math.isfinite(v) for v in values.values()):
            with torch.no_grad():
                for v, good in zip(self.variables, self.last_good):
                    v.copy_(good)
            self.diverged_at = step
            self.trainer.should_stop = True
            return
        for v, good in zip(self.variables, self.last_good):
            good.copy_(v.detach())
        if self.optim.keep_best and self._last_eval is not None and (
                self.best is None or values["total"] < self.best[0]):  # the point the closure last evaluated
            self.best, self.best_step = (values["total"], [p.clone() for p in self._last_eval[0]]), step
        record_step(self, values, step, SHOWN_TERMS)
        self.history[-1]["seconds"] = time.perf_counter() - self.origin  # loss against time, not only against steps
        if self.stop_below is not None and values["total"] < self.stop_below:
            self.trainer.should_stop = True


def optimise_pixels(objective: Objective, start: torch.Tensor, optim: OptimizerConfig, *, step_offset: int,
                    device: str, label: str, logger: Logger | None, progress: bool, log_every: int = 1,
                    bar_position: int = 0, steps: int | None = None, origin: float | None = None,
                    stop_below: float | None = None, precision: str = "fp32", levels: int = 1) -> PixelModule:
    """``steps`` (default ``optim.steps``) iterations of the pixels of ``start``; the module holds the image,
    history and timing."""
    module = PixelModule(objective, start, optim, step_offset, origin, stop_below, precision, levels)
    trainer = make_trainer(device, label=label, progress=progress, logger=logger, log_every=log_every,
                           bar_position=bar_position)
    trainer.fit(module, DataLoader(range(steps or optim.steps), batch_size=None))
    return module


def stylize(content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float],
            objective: PerceptualObjective, gatys: GatysConfig, optim: OptimizerConfig, *, seed: int = 0,
            device: str = "cpu", logger: Logger | None = None, progress: bool = True, log_every: int = 1,
            bar_position: int = 0, init: torch.Tensor | None = None, stop_below: float | None = None) -> Result:
    """Optimise pixels coarse-to-fine over ``gatys.scales``; each scale starts from the previous result, the first
    from ``init`` when given (a video's warped previous frame), else from ``gatys.init``. From the content, a
    finer scale starts at its own content plus the upsampled stylization of the scale before (what that scale
    changed), so the photo's fine detail is not blurred away by the upsampling. ``stop_below`` ends the last
    scale once its total loss falls below that value."""
    check_precision(device, gatys.precision, "gatys.precision", "--set gatys.precision=fp32")
    origin = time.perf_counter()
    history: list[dict[str, float]] = []
    per_scale: list[float] = []
    best_steps: list[int | None] = []  # optim.keep_best: the iteration each scale's image comes from
    evaluations, diverged_at, initial = 0, None, None
    sizes = pyramid(*content.shape[-2:], gatys.scales)
    image: torch.Tensor | None = None
    previous_content: torch.Tensor | None = None
    steps = gatys.scale_steps or [optim.steps] * len(sizes)
    for i, (scale, size) in enumerate(zip(gatys.scales, sizes, strict=True)):
        c = resize(content, size)
        s = [resize(x, scaled_size(*x.shape[-2:], scale)) for x in styles]
        if gatys.preserve_color:
            s = [match_luminance(x, c) for x in s]
            c = luminance(c)
        set_style_targets(objective, c, s, blend)
        if previous_content is not None and init is None and gatys.init == "content":
            start = (c + resize(image - previous_content, size)).clamp(0, 1)
        elif image is not None:
            start = resize(image, size)
        else:
            start = resize(init, size) if init is not None else initial_image(gatys.init, c, s[0], seed)
        module = optimise_pixels(objective, start, optim, step_offset=len(history), device=device,
                                 label=f"gatys {size[1]}x{size[0]}", logger=logger, progress=progress,
                                 log_every=log_every, bar_position=bar_position, steps=steps[i], origin=origin,
                                 stop_below=stop_below if i == len(sizes) - 1 else None, precision=gatys.precision,
                                 levels=gatys.pyramid)
        history += module.history
        initial = initial or module.initial
        evaluations += module.evaluations
        per_scale.append(module.seconds)
        best_steps.append(module.best_step)
        image, previous_content = module.picture, c
        if module.diverged_at is not None:
            diverged_at = module.diverged_at
            break
    with torch.no_grad():
        final = {k: float(v) for k, v in objective(image).items()}
    if gatys.preserve_color:
        image = recombine_colour(image, content)
    return Result(image=image, final=final, seconds=sum(per_scale), history=history, iterations=len(history),
                  evaluations=evaluations, sizes=sizes[:len(per_scale)], diverged_at=diverged_at,
                  extra={"per_scale_seconds": per_scale, "initial": initial}
                  | ({"best_steps": best_steps} if optim.keep_best else {}))


class GatysStylizer:
    def __init__(self, cfg: RunConfig, cache: ProcessCache) -> None:
        self.cfg = cfg
        self.objective = perceptual_objective(cfg, cache)
        self.min_side = round(self.objective.encoder.min_side(self.objective.layers) / min(cfg.gatys.scales))

    def __call__(self, content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float], *,
                 temporal: TemporalLoss | None = None, logger: Logger | None = None, progress: bool = False,
                 bar_position: int = 0, score: bool = True) -> Result:
        """In a video, ``temporal`` (the warped previous frame) is both the start and a loss term."""
        cfg = self.cfg
        if temporal is not None:
            self.objective.add(temporal)
        try:
            return stylize(content, styles, blend, self.objective, cfg.gatys, cfg.optimizer, seed=cfg.seed,
                           device=cfg.device, logger=logger, progress=progress, log_every=cfg.tracking.log_every,
                           bar_position=bar_position, init=temporal.warped if temporal is not None else None)
        finally:
            self.objective.remove("temporal")

    @property
    def depth_estimator(self) -> DepthEstimator | None:
        return self.objective.depth.estimator if self.objective.depth is not None else None

    def describe(self) -> dict[str, Any]:
        return describe_objective(self.objective, self.cfg.depth.weight) | {
            "method_weights": None, "dtype": "bf16-autocast" if self.cfg.gatys.precision == "bf16" else "float32"}


@register_method
class Gatys(Method):
    name = "gatys"
    sections = ("gatys", "optimizer")
    optimises = True
    depth_loss = True

    def build(self, cfg: RunConfig, cache: ProcessCache) -> GatysStylizer:
        return GatysStylizer(cfg, cache)
