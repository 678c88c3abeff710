"""What every training recipe shares: photo splits, the Lightning trainer, resumable checkpoints, the history file.

A run folder is resumable at any moment: ``checkpoints/last.ckpt`` (networks + optimiser state, written to a temp
file and renamed) is the resume point, and ``history.csv`` is rewritten beside it, so after a crash the history
is cut back to the checkpoint's step and continues from there.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import yaml

from nst_bench.config import RunConfig, to_dict
from nst_bench.data.datasets import readable, split_holdout
from nst_bench.data.images import list_images, load_image, resize
from nst_bench.errors import UserError
from nst_bench.methods.gatys import StepBar
from nst_bench.run.tracking import Trackers, WandbTracker, write_json

log = logging.getLogger(__name__)

UNPREFIXED = ("step", "elapsed")


def photo_split(folder: str | None, holdout: int, seed: int, flag: str,
                skip_first: int = 0) -> tuple[list[Path], list[Path]]:
    """(train, held-out) readable photos of ``folder`` after its first ``skip_first`` (sorted; the photos an
    evaluation uses), so a network is never scored on photos it trained on. ``flag`` names the option in errors."""
    if not folder:
        raise UserError(f"no training photos: give {flag} DIR (any folder of photos, e.g. COCO train2017)")
    if not Path(folder).is_dir():
        raise UserError(f"folder not found: {folder} (given as {flag})")
    paths = [p for p in list_images(folder) if readable(p)][skip_first:]
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


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    """history.csv with the same columns as a Gatys run's (loss/<term>), plus cumulative wall seconds."""
    history = [{(k if k in UNPREFIXED else f"loss/{k}"): v for k, v in row.items()} for row in history]
    keys = list(dict.fromkeys(k for row in history for k in row))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def read_history(path: Path, until: int) -> list[dict[str, float]]:
    """Rows written before a crash, up to the step the checkpoint holds."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = [{k.removeprefix("loss/"): int(float(v)) if k == "step" else float(v) for k, v in row.items()
                 if v not in (None, "")} for row in csv.DictReader(f)]
    return [r for r in rows if r["step"] <= until]


def resume_step(ckpt: Path, optimizer_steps_per_step: int = 1) -> int:
    """Training steps stored in a Lightning checkpoint (loaded with weights_only=True: tensors and plain data).
    Lightning counts optimiser steps; a GAN makes two per training step."""
    return int(torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]) // optimizer_steps_per_step


def resume_state(out: Path, steps: int, resume: bool, optimizer_steps_per_step: int = 1
                 ) -> tuple[int, list[dict[str, float]], dict[str, Any] | None]:
    """(step to start from, history so far, metrics of a run that is already complete or None)."""
    ckpt = out / "checkpoints" / "last.ckpt"
    start = resume_step(ckpt, optimizer_steps_per_step) if resume and ckpt.is_file() else 0
    if start >= steps and (out / "metrics.json").is_file():
        log.info("%s already holds %d steps (train.steps = %d): nothing to train", out, start, steps)
        return start, [], json.loads((out / "metrics.json").read_text())
    if start:
        log.info("resuming from %s at step %d of %d", ckpt, start, steps)
    return start, read_history(out / "history.csv", start) if start else [], None


def open_run(cfg: RunConfig, out: Path, name: str, job_type: str, start: int) -> tuple[dict[str, Any],
                                                                                      WandbTracker | None]:
    """Write config.yaml and start the W&B run (a new one on every resume; local files are the record)."""
    config = to_dict(cfg)
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if cfg.tracking.wandb == "disabled":
        return config, None
    return config, WandbTracker(out, mode=cfg.tracking.wandb, project=cfg.tracking.project, name=name,
                                config=config | {"resumed_from_step": start}, group=cfg.tracking.group,
                                job_type=job_type)


class Snapshots(pl.Callback):
    """Every ``checkpoint_every`` steps: the Lightning checkpoint, the exported network(s) and history.csv; every
    ``sample_every`` steps: ``sample(module, step)`` (sample grids, held-out losses). Both at the last step."""

    def __init__(self, out: Path, steps: int, sample_every: int, checkpoint_every: int,
                 sample: Callable[[Any, int], None], export: Callable[[Any, int], None], elapsed: float = 0.0,
                 optimizer_steps_per_step: int = 1) -> None:
        self.out, self.steps, self.sample_every, self.checkpoint_every = out, steps, sample_every, checkpoint_every
        self.sample, self.export = sample, export
        self.per_step = optimizer_steps_per_step
        self.elapsed0, self.t0 = elapsed, time.perf_counter()

    def elapsed(self) -> float:
        return self.elapsed0 + time.perf_counter() - self.t0

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        step = trainer.global_step // self.per_step
        module.history[-1]["elapsed"] = self.elapsed()
        if step % self.sample_every == 0 or step == self.steps:
            self.sample(module, step)
        if step % self.checkpoint_every == 0 or step == self.steps:
            ckpt = self.out / "checkpoints" / "last.ckpt"
            ckpt.parent.mkdir(exist_ok=True)
            trainer.save_checkpoint(ckpt.with_suffix(".tmp"))
            os.replace(ckpt.with_suffix(".tmp"), ckpt)  # a kill mid-write never leaves a broken resume point
            self.export(module, step)
            write_history(self.out / "history.csv", module.history)


def finish_run(out: Path, metrics: dict[str, Any], tracker: Trackers, samples: Path, caption: str) -> dict:
    """metrics.json, then the final sample grid, the loss plot and the held-out summary to W&B."""
    write_json(out / "metrics.json", metrics)
    tracker.log_image("final_samples", samples, caption=caption)
    if (out / "loss.png").is_file():
        tracker.log_image("loss_curves", out / "loss.png")
    tracker.finish({f"held_out/{k}": v for k, v in metrics["held_out"].items()} | {"steps": metrics["steps"]})
    return metrics


def make_trainer(device: str, precision: str, max_steps: int, callbacks: list[pl.Callback], progress: bool,
                 label: str) -> pl.Trainer:
    return pl.Trainer(accelerator="gpu" if device.startswith("cuda") else "cpu", devices=1, precision=precision,
                      max_steps=max_steps, max_epochs=-1, logger=False, enable_checkpointing=False,
                      enable_model_summary=False, num_sanity_val_steps=0, enable_progress_bar=progress,
                      callbacks=[*callbacks, *([StepBar(label)] if progress else [])], log_every_n_steps=1)
