"""What the training recipes share: photo splits, sample photos, and ``Training``, the resumable loop around a
Lightning module (resume point, history, held-out samples, checkpoints and exported networks, final metrics).

A run folder is resumable at any moment: ``checkpoints/last.ckpt`` (networks + optimiser state, saved by
Lightning's atomic checkpoint writer) is the resume point, and ``history.csv`` and ``val_history.json`` (the
held-out scores) are rewritten beside it, so after a crash both are cut back to the checkpoint's step and continue
from there.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from nst_bench.config import TrainConfig
from nst_bench.data.datasets import readable, split_holdout
from nst_bench.data.images import list_images, load_image, resize, save_image
from nst_bench.errors import UserError
from nst_bench.nets.weights import sha256
from nst_bench.run.context import Run
from nst_bench.run.cpu import check_precision
from nst_bench.run.metrics import RunMetrics, write_json
from nst_bench.run.plots import loss_curves
from nst_bench.run.tracking import read_history, write_history
from nst_bench.run.trainer import make_trainer

log = logging.getLogger(__name__)
Sampler = Callable[[Any, torch.Tensor], tuple[torch.Tensor, dict[str, float]]]  # (module, photos) -> (grid, val)


def photo_split(folder: str | None, holdout: int, seed: int, flag: str, skip_first: int = 0,
                extra: Sequence[str] = ()) -> tuple[list[Path], list[Path]]:
    """(train, held-out) readable photos of ``folder`` after its first ``skip_first`` (sorted; the photos an
    evaluation uses), then those of the ``extra`` folders, so a network is never scored on photos it trained on.
    ``flag`` names the option in errors."""
    if not folder:
        raise UserError(f"no training photos: give {flag} DIR (any folder of photos, e.g. COCO train2017)")
    for f in (folder, *extra):
        if not Path(f).is_dir():
            raise UserError(f"folder not found: {f} (given as {flag} or train.extra_content_dirs)")
    paths = [p for p in list_images(folder) if readable(p)][skip_first:]
    paths += [p for f in extra for p in list_images(f) if readable(p)]
    if len(paths) < 2:
        raise UserError(f"{folder} holds {len(paths)} readable images after skipping {skip_first} "
                        "(train.skip_first); training needs a folder of them")
    return split_holdout(paths, holdout, seed)


def sample_photos(paths: list[Path], size: int) -> torch.Tensor:
    """Held-out photos as centre squares of ``size`` px, stacked so they form the rows of a sample grid."""
    out = []
    for p in paths:
        image = load_image(p)
        h, w = image.shape[-2:]
        side = min(h, w)
        y, x = (h - side) // 2, (w - side) // 2
        out.append(resize(image[..., y: y + side, x: x + side], (size, size)))
    return torch.cat(out)


class Snapshots(pl.Callback):
    """Every ``sample_every`` steps and at the last: a held-out sample grid. Every ``checkpoint_every`` steps and at
    the last: Lightning's checkpoint, the exported network(s) and history.csv. (Lightning's ModelCheckpoint saves
    every N steps but not at a last step that N does not divide, which the resume logic needs.)"""

    def __init__(self, training: Training, t: TrainConfig, sample: Callable[[Any, int], None],
                 export: Callable[[Any, int], None]) -> None:
        self.training, self.t, self.sample, self.export = training, t, sample, export
        self.t0 = time.perf_counter()
        self.elapsed0 = training.history[-1].get("elapsed", 0.0) if training.history else 0.0

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        step = trainer.global_step // self.training.per_step
        module.history[-1]["elapsed"] = self.elapsed0 + time.perf_counter() - self.t0
        last = step == self.t.steps
        if step % self.t.sample_every == 0 or last:
            self.sample(module, step)
        if step % self.t.checkpoint_every == 0 or last:
            self.training.ckpt.parent.mkdir(exist_ok=True)
            trainer.save_checkpoint(self.training.ckpt)
            self.export(module, step)
            write_history(self.training.run.out / "history.csv", module.history)
            self.training.save_val_history()


def load_last_checkpoint(out: Path) -> dict[str, Any]:
    """``out/checkpoints/last.ckpt`` as plain tensors and data (weights_only), for scripts that probe a run's
    discriminators; a one-line error when the run kept none (checkpoints stay out of git)."""
    path = out / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise UserError(f"{path} not found: train the run first (its checkpoints are not in git), e.g. "
                        f"nst-bench train cyclegan --config {out / 'config.yaml'}")
    return torch.load(path, map_location="cpu", weights_only=True)


class Training:
    """One resumable training run: where it starts, the history so far, and the loop that samples and saves."""

    def __init__(self, run: Run, t: TrainConfig, resume: bool = True, optimizer_steps_per_step: int = 1) -> None:
        self.run, self.t, self.per_step = run, t, optimizer_steps_per_step
        self.ckpt = run.out / "checkpoints" / "last.ckpt"
        self.start = 0
        self.saved_shapes: dict[str, tuple[int, ...]] = {}  # the checkpoint's networks, to check a resume against
        self.output: Path | None = None  # the exported network, set by fit
        if resume and self.ckpt.is_file():
            state = load_last_checkpoint(run.out)
            self.start = int(state["global_step"]) // self.per_step  # Lightning counts optimiser steps
            self.saved_shapes = {k: tuple(v.shape) for k, v in state["state_dict"].items()}
        if self.start < t.steps:
            check_precision(run.cfg.device, t.precision)
        self.history = read_history(run.out / "history.csv", self.start) if self.start else []
        self.val_path = run.out / "val_history.json"  # the held-out scores of every sample step, for the curves
        self.val_history: list[dict[str, float]] = [v for v in json.loads(self.val_path.read_text())
                                                    if v["step"] <= self.start] if (
            self.start and self.val_path.is_file()) else []
        metrics = run.out / "metrics.json"
        self.finished = RunMetrics.from_dict(json.loads(metrics.read_text())) if (
            self.start >= t.steps and metrics.is_file()) else None
        if self.finished is not None:
            log.info("%s already holds %d steps (train.steps = %d): nothing to train", run.out, self.start, t.steps)
        elif self.start:
            log.info("resuming from %s at step %d of %d", self.ckpt, self.start, t.steps)

    def save_val_history(self) -> None:
        """Beside the checkpoint, through a temp file, so a resumed run's curves start at step 0."""
        write_json(self.val_path, self.val_history)

    def sampler(self, photos: torch.Tensor, evaluate: Sampler, caption: str) -> Callable[[Any, int], None]:
        """A callback that writes ``samples/step_N.jpg`` and logs the held-out values of ``evaluate``."""

        def sample(module: Any, step: int) -> None:
            grid, val = evaluate(module, photos.to(module.device))
            path = save_image(grid, self.run.out / "samples" / f"step_{step:06d}.jpg", quality=88)
            self.val_history.append({"step": step, **val})
            self.run.tracker.log({f"val/{k}": v for k, v in val.items()} | {"trainer/global_step": step})
            self.run.tracker.log_image("samples", path, caption=f"step {step}: {caption}")
        return sample

    def fit(self, module: pl.LightningModule, data: Callable[[int], Dataset], sample: Callable[[Any, int], None],
            export: Callable[[Any, int], None], output: Path, label: str, progress: bool) -> None:
        """Train from ``self.start`` to ``train.steps`` on ``data(first_sample)``; nothing to do when done."""
        module.history = self.history
        self.output = output
        cfg, t = self.run.cfg, self.t
        if self.start < t.steps:
            self.check_resumable(module)
            loader = DataLoader(data(self.start * t.batch), batch_size=t.batch, shuffle=False, num_workers=0)
            trainer = make_trainer(cfg.device, label=label, progress=progress, max_steps=self.per_step * t.steps,
                                   max_epochs=-1, precision=t.precision, logger=self.run.lightning_logger(),
                                   log_every=cfg.tracking.log_every, callbacks=[Snapshots(self, t, sample, export)])
            trainer.fit(module, loader, ckpt_path=self.ckpt if self.start else None, weights_only=True)
        elif not output.is_file():
            raise UserError(f"{self.ckpt} is complete but {output.name} is missing: delete it to retrain")

    def check_resumable(self, module: pl.LightningModule) -> None:
        """A run resumed with another network config (a width, a block count, the generators' average switched on
        or off) would fail inside Lightning with a page of missing keys; say which setting differs instead."""
        if not self.start:
            return
        mine = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        differ = sorted(set(mine) ^ set(self.saved_shapes)) or sorted(
            k for k in mine if mine[k] != self.saved_shapes[k])
        if differ:
            raise UserError(f"{self.ckpt} holds other networks than this config builds (first difference: "
                            f"{differ[0]}): resume with the network options it started with, or give a new --out")

    def network_record(self) -> dict[str, str] | None:
        """The trained network's file and sha256: networks stay out of git, so a page names the one it shows."""
        out = self.output
        return {"file": out.name, "sha256": sha256(out)} if out is not None and out.is_file() else None

    def finish(self, module: Any, grid: torch.Tensor, val: dict[str, float], plotted: tuple[str, ...], smooth: int,
               caption: str, **extra: Any) -> RunMetrics:
        """``samples.jpg``, ``loss.png`` and metrics.json: held-out values as ``final``, training steps as
        iterations."""
        run, t = self.run, self.t
        network = extra.pop("network", {}) | (self.network_record() or {})  # the recipe's shape, then the file
        final_grid = save_image(grid, run.out / "samples.jpg", quality=90)
        history = module.history
        plot = loss_curves(history, run.out / "loss.png", terms=plotted, title=run.out.name, smooth=smooth) if (
            history) else None
        metrics = run.metrics(
            "ok", val, history[-1].get("elapsed") if history else None, t.steps, steps=t.steps,
            held_out=val, resumed_from_step=self.start, images_seen=t.steps * t.batch,
            dtype="float32" if t.precision == "32" else t.precision,
            final_train={k: history[-1][k] for k in plotted if k in history[-1]} if history else None,
            val_history=self.val_history, network=network or None, **extra)
        return run.finish(metrics, {"final_samples": (final_grid, caption), "loss_curves": (plot, "")},
                          summary={f"held_out/{k}": v for k, v in val.items()} | {"steps": t.steps})
