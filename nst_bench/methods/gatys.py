"""Gatys et al. (2016): the output image's pixels are the parameters, optimised against a perceptual objective.

One Lightning module per scale: each training step is one optimiser iteration (L-BFGS with ``max_iter=1`` keeps
its curvature history across steps, so the progress bar counts iterations). L-BFGS uses a strong-Wolfe line
search by default: without one, the fixed step of the first quasi-Newton iterations can throw the pixels into
noise on some images, and the clamp to [0, 1] never recovers them.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar
from torch import nn
from torch.utils.data import DataLoader

from nst_bench.config import DEFAULT_LR, GatysConfig, OptimizerConfig
from nst_bench.data.images import fit_size, luminance, match_luminance, recombine_colour, resize
from nst_bench.losses.objective import PerceptualObjective, blend_grams
from nst_bench.run.tracking import Tracker

TERMS = ("total", "content", "style", "tv", "depth", "temporal", "activation")  # those present are shown


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


class GatysModule(pl.LightningModule):
    """The image is the only parameter; the encoder inside the objective stays frozen."""

    def __init__(self, objective: PerceptualObjective, init: torch.Tensor, optim: OptimizerConfig,
                 tracker: Tracker | None = None, step_offset: int = 0, log_every: int = 1) -> None:
        super().__init__()
        self.objective = objective
        self.image = nn.Parameter(init.clone())
        self.optim = optim
        self.tracker, self.step_offset, self.log_every = tracker, step_offset, max(1, log_every)
        self.automatic_optimization = False
        self.history: list[dict[str, float]] = []
        self.last_good = init.clone()
        self.diverged_at: int | None = None
        self.seconds = 0.0
        self.evaluations = 0  # forward+backward passes (a line search may take several per iteration)
        self._t0 = 0.0
        self._last_eval: tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor] | None = None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        lr = self.optim.lr if self.optim.lr is not None else DEFAULT_LR[self.optim.name]
        if self.optim.name == "lbfgs":
            # max_eval must be set: its default (max_iter * 5 // 4 = 1) leaves the line search no evaluations
            return torch.optim.LBFGS([self.image], lr=lr, max_iter=1, max_eval=25,
                                     history_size=self.optim.history_size, line_search_fn=self.optim.line_search)
        if self.optim.name == "sgd":
            return torch.optim.SGD([self.image], lr=lr)
        return torch.optim.Adam([self.image], lr=lr)

    def on_train_start(self) -> None:
        self._t0 = time.perf_counter()

    def on_train_end(self) -> None:
        self.seconds = time.perf_counter() - self._t0

    def training_step(self, batch: int, batch_idx: int) -> None:
        opt = self.optimizers()
        terms: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            # L-BFGS evaluates at the start of every step the point where the previous step's line search
            # ended; when clamping left it unchanged, reuse that evaluation instead of paying for it twice.
            x = self.image.detach()
            if self._last_eval is not None and torch.equal(self._last_eval[0], x):
                self.image.grad = self._last_eval[2].clone()
                terms.update(self._last_eval[1])
                return terms["total"]
            opt.zero_grad()
            t = self.objective(self.image)
            self.manual_backward(t["total"])
            self.evaluations += 1
            terms.update(t)
            self._last_eval = (x.clone(), {k: v.detach() for k, v in t.items()}, self.image.grad.clone())
            return t["total"]

        opt.step(closure=closure)
        with torch.no_grad():
            self.image.clamp_(0, 1)
        values = {k: float(v.detach()) for k, v in terms.items()}
        step = self.step_offset + batch_idx
        if not all(math.isfinite(v) for v in values.values()):
            with torch.no_grad():
                self.image.copy_(self.last_good)
            self.diverged_at = step
            self.trainer.should_stop = True
            return
        self.last_good.copy_(self.image.detach())
        self.history.append({"step": step, **values})
        self.log_dict({k: values[k] for k in TERMS if k in values}, prog_bar=True, on_step=True, on_epoch=False)
        if self.tracker is not None and batch_idx % self.log_every == 0:
            self.tracker.log({f"loss/{k}": v for k, v in values.items()}, step=step)


@dataclass
class StylizeResult:
    image: torch.Tensor
    history: list[dict[str, float]]
    final: dict[str, float]
    iterations: int
    evaluations: int
    seconds: float
    sizes: list[tuple[int, int]]
    diverged_at: int | None = None
    per_scale_seconds: list[float] = field(default_factory=list)


class StepBar(TQDMProgressBar):
    """Lightning's bar, labelled with the image size instead of 'Epoch 0'."""

    def __init__(self, label: str, position: int = 0) -> None:
        super().__init__(process_position=position)
        self.label = label

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: object) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(self.label)


def _trainer(device: str, progress: bool, label: str, bar_position: int = 0) -> pl.Trainer:
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    bars = [StepBar(label, bar_position)] if progress else []
    return pl.Trainer(accelerator=accelerator, devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                      enable_model_summary=False, num_sanity_val_steps=0, enable_progress_bar=progress,
                      callbacks=bars, log_every_n_steps=1)


def quiet_lightning() -> None:
    """Lightning's banner lines and the num_workers hint are noise for a pixel optimisation."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*`training_step` returned `None`.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def stylize(content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float],
            objective: PerceptualObjective, gatys: GatysConfig, optim: OptimizerConfig, *, seed: int = 0,
            device: str = "cpu", tracker: Tracker | None = None, progress: bool = True,
            log_every: int = 1, bar_position: int = 0, init: torch.Tensor | None = None) -> StylizeResult:
    """Optimise pixels coarse-to-fine over ``gatys.scales``; each scale starts from the previous result, the first
    from ``init`` when given (a video's warped previous frame), else from ``gatys.init``."""
    quiet_lightning()
    long_side = max(content.shape[-2:])
    history: list[dict[str, float]] = []
    per_scale: list[float] = []
    evaluations = 0
    sizes: list[tuple[int, int]] = []
    image: torch.Tensor | None = None
    diverged_at = None
    for scale in gatys.scales:
        size = fit_size(*content.shape[-2:], max(16, round(long_side * scale)))
        sizes.append(size)
        c = resize(content, size)
        s = [resize(x, fit_size(*x.shape[-2:], max(16, round(max(x.shape[-2:]) * scale)))) for x in styles]
        if gatys.preserve_color:
            s = [match_luminance(x, c) for x in s]
            c = luminance(c)
        objective.set_targets(objective.content_features(c),
                              blend_grams([objective.style_grams(x) for x in s], blend))
        if image is not None:
            start = resize(image, size)
        else:
            start = resize(init, size) if init is not None else initial_image(gatys.init, c, s[0], seed)
        module = GatysModule(objective, start, optim, tracker, step_offset=len(history), log_every=log_every)
        label = f"gatys {size[1]}x{size[0]}"
        _trainer(device, progress, label, bar_position).fit(module, DataLoader(range(optim.steps), batch_size=None))
        history += module.history
        evaluations += module.evaluations
        per_scale.append(module.seconds)
        image = module.image.detach()
        if module.diverged_at is not None:
            diverged_at = module.diverged_at
            break
    with torch.no_grad():
        final = {k: float(v) for k, v in objective(image).items()}
    if gatys.preserve_color:
        image = recombine_colour(image, content)
    return StylizeResult(image=image, history=history, final=final, iterations=len(history), evaluations=evaluations,
                       seconds=sum(per_scale), sizes=sizes, diverged_at=diverged_at, per_scale_seconds=per_scale)
