"""Recipe: train a feed-forward TransformerNet (one style, or N styles with conditional instance norm).

The perceptual objective is the one Gatys optimises (same backbone, layers, weights and Gram normalisation), so
the losses of the trained network and of a Gatys run on the same photos compare directly.

Writes to ``cfg.out``: ``net.safetensors`` (the network, loadable by ``method: fast``), ``checkpoints/last.ckpt``
(network + Adam state; the run resumes from it), ``history.csv`` and ``loss.png``, ``samples/step_*.jpg`` (held-out
photos through every style), ``metrics.json`` and an offline W&B run.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import yaml
from torch.utils.data import DataLoader
from torchvision.utils import make_grid

from nst_bench.backbones import build_backbone
from nst_bench.config import RunConfig, to_dict
from nst_bench.datasets import RandomCrops, readable, split_holdout
from nst_bench.errors import UserError
from nst_bench.images import list_images, load_image, resize, save_image
from nst_bench.losses import PerceptualObjective
from nst_bench.methods.fast import FastStyleModule, TransformerNet, save_network
from nst_bench.methods.gatys import StepBar, quiet_lightning
from nst_bench.plots import loss_curves
from nst_bench.stylize import build_objective, resolve_layers, seed_everything
from nst_bench.tracking import Trackers, WandbTracker, provenance, write_json

log = logging.getLogger(__name__)
VAL_TERMS = ("total", "content", "style")


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


def style_columns(n_styles: int) -> list[list[float]]:
    """Weight vectors for the sample columns: each style alone, then an equal blend when there are several."""
    columns = [[float(i == j) for j in range(n_styles)] for i in range(n_styles)]
    return columns + ([[1.0 / n_styles] * n_styles] if n_styles > 1 else [])


@torch.no_grad()
def evaluate_samples(net: TransformerNet, objective: PerceptualObjective, photos: torch.Tensor,
                     grams: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, dict[str, float]]:
    """A grid (photo | style 1 | ... | blend) and the held-out loss terms averaged over photos and single styles."""
    was_training = net.training
    net.eval()
    content = objective.compute_content_features(photos)
    columns, sums = [photos], dict.fromkeys(VAL_TERMS, 0.0)
    for i, weights in enumerate(style_columns(net.n_styles)):
        out = net.stylize(photos, weights)
        columns.append(out)
        if i < net.n_styles:
            targets = {k: v.expand(len(photos), -1, -1) for k, v in grams[i].items()}
            terms = objective(out, content, targets)
            for k in VAL_TERMS:
                sums[k] += float(terms[k]) / net.n_styles
    net.train(was_training)
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # row-major: one row per photo
    return make_grid(tiles, nrow=len(columns), padding=2, pad_value=1.0), sums


class Snapshots(pl.Callback):
    """Every ``checkpoint_every`` steps: Lightning checkpoint (resume point), net.safetensors and history.csv;
    every ``sample_every`` steps: a sample grid of held-out photos, logged with the held-out losses."""

    def __init__(self, cfg: RunConfig, out: Path, photos: torch.Tensor, grams: list[dict], tracker: Trackers,
                 meta: dict[str, Any], elapsed: float) -> None:
        self.cfg, self.out, self.photos, self.grams, self.tracker, self.meta = cfg, out, photos, grams, tracker, meta
        self.elapsed0, self.t0 = elapsed, time.perf_counter()
        self.val: list[dict[str, float]] = []

    def elapsed(self) -> float:
        return self.elapsed0 + time.perf_counter() - self.t0

    def on_train_batch_end(self, trainer: pl.Trainer, module: FastStyleModule, *args: Any) -> None:
        step = trainer.global_step
        module.history[-1]["elapsed"] = self.elapsed()
        if step % self.cfg.train.sample_every == 0 or step == self.cfg.train.steps:
            self.sample(module, step)
        if step % self.cfg.train.checkpoint_every == 0 or step == self.cfg.train.steps:
            self.save(trainer, module, step)

    def sample(self, module: FastStyleModule, step: int) -> None:
        grid, val = evaluate_samples(module.net, module.objective, self.photos.to(module.device), self.grams)
        path = save_image(grid, self.out / "samples" / f"step_{step:06d}.jpg", quality=88)
        self.val.append({"step": step, **val})
        self.tracker.log({f"val/{k}": v for k, v in val.items()}, step=step)
        self.tracker.log_image("samples", path, caption=f"step {step}: photo | " + " | ".join(
            self.meta["style_names"]) + (" | blend" if module.net.n_styles > 1 else ""))

    def save(self, trainer: pl.Trainer, module: FastStyleModule, step: int) -> None:
        ckpt = self.out / "checkpoints" / "last.ckpt"
        ckpt.parent.mkdir(exist_ok=True)
        trainer.save_checkpoint(ckpt.with_suffix(".tmp"))
        os.replace(ckpt.with_suffix(".tmp"), ckpt)  # a kill mid-write never leaves a broken resume point
        save_network(module.net, self.out / "net.safetensors", step=step, **self.meta)
        write_history(self.out / "history.csv", module.history)


UNPREFIXED = ("step", "elapsed")


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


def resume_step(ckpt: Path) -> int:
    """Global step stored in a Lightning checkpoint (loaded with weights_only=True: tensors and plain data)."""
    return int(torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"])


def training_photos(cfg: RunConfig) -> tuple[list[Path], list[Path]]:
    folder = cfg.train.content_dir
    if not folder:
        raise UserError("no training photos: give --content-dir DIR (any folder of photos, e.g. COCO train2017)")
    if not Path(folder).is_dir():
        raise UserError(f"content folder not found: {folder}")
    paths = [p for p in list_images(folder) if readable(p)]
    if len(paths) < 2:
        raise UserError(f"{folder} holds {len(paths)} readable photos; training needs a folder of them")
    return split_holdout(paths, cfg.train.holdout, cfg.seed)


def train(cfg: RunConfig, *, progress: bool = True, resume: bool = True) -> dict[str, Any]:
    """Train (or resume training) the network; returns the metrics written to ``metrics.json``."""
    if not cfg.styles:
        raise UserError("no style image: give --style PATH (several for an N-style network)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    quiet_lightning()
    seed_everything(cfg.seed)
    t = cfg.train
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    train_paths, held_out = training_photos(cfg)

    encoder = build_backbone(cfg.backbone.name, cfg.backbone.weights, cfg.backbone.pooling,
                             cfg.backbone.padding).to(cfg.device)
    resolve_layers(cfg, encoder)
    objective = build_objective(cfg, encoder)
    min_side = encoder.min_side(objective.layers)
    if t.crop < min_side:
        raise UserError(f"train.crop {t.crop} px is below the {min_side} px the layers need: use a larger --crop")
    style_size = cfg.image.style_size or cfg.image.size
    grams = [objective.compute_style_grams(load_image(s, style_size, min_side=min_side).to(cfg.device))
             for s in cfg.styles]
    photos = sample_photos(held_out, cfg.image.size)

    ckpt = out / "checkpoints" / "last.ckpt"
    start = resume_step(ckpt) if resume and ckpt.is_file() else 0
    if start >= t.steps and (out / "metrics.json").is_file():
        log.info("%s already holds %d steps (train.steps = %d): nothing to train", out, start, t.steps)
        return json.loads((out / "metrics.json").read_text())
    history = read_history(out / "history.csv", start) if start else []
    if start:
        log.info("resuming from %s at step %d of %d", ckpt, start, t.steps)

    config = to_dict(cfg)
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    style_names = [Path(s).stem for s in cfg.styles]
    meta = {"styles": cfg.styles, "style_names": style_names, "config": config,
            "backbone": encoder.describe(), "held_out": [str(p) for p in held_out]}
    name = f"fast-{'+'.join(style_names)}-{cfg.fast.output}"
    wandb_tracker = None
    if cfg.tracking.wandb != "disabled":
        wandb_tracker = WandbTracker(out, mode=cfg.tracking.wandb, project=cfg.tracking.project, name=name,
                                     config=config | {"resumed_from_step": start}, group=cfg.tracking.group,
                                     job_type="train-fast")
    tracker = Trackers(wandb_tracker)  # local files are written directly: history.csv, samples/, metrics.json

    torch.manual_seed(cfg.seed)
    net = TransformerNet(cfg.fast.width, cfg.fast.blocks, len(cfg.styles), cfg.fast.output)
    module = FastStyleModule(net, objective, grams, lr=t.lr, tracker=wandb_tracker, log_every=cfg.tracking.log_every)
    module.history = history
    snapshots = Snapshots(cfg, out, photos, grams, tracker, meta, elapsed=history[-1].get("elapsed", 0.0)
                          if history else 0.0)
    if start < t.steps:
        data = RandomCrops(train_paths, t.crop, (t.steps - start) * t.batch, cfg.seed, first=start * t.batch)
        loader = DataLoader(data, batch_size=t.batch, shuffle=False, num_workers=0)
        trainer = pl.Trainer(accelerator="gpu" if cfg.device.startswith("cuda") else "cpu", devices=1,
                             precision=t.precision, max_steps=t.steps, max_epochs=-1, logger=False,
                             enable_checkpointing=False, enable_model_summary=False, num_sanity_val_steps=0,
                             enable_progress_bar=progress,
                             callbacks=[snapshots, *([StepBar(name)] if progress else [])], log_every_n_steps=1)
        trainer.fit(module, loader, ckpt_path=ckpt if start else None, weights_only=True)
    elif not (out / "net.safetensors").is_file():
        raise UserError(f"{ckpt} is complete but {out}/net.safetensors is missing: delete {ckpt} to retrain")

    grid, val = evaluate_samples(net, objective, photos.to(cfg.device), grams)
    final_grid = save_image(grid, out / "samples.jpg", quality=90)
    with torch.no_grad():  # one picture per run, for the sweep report's image grid
        save_image(net.stylize(photos[:1].to(cfg.device)), out / "stylized.jpg")
    if module.history:
        loss_curves(module.history, out / "loss.png", title=name)
    metrics: dict[str, Any] = {
        "status": "ok", "steps": t.steps, "resumed_from_step": start, "images_seen": t.steps * t.batch,
        "seconds": module.history[-1].get("elapsed") if module.history else None,
        "final_train": {k: module.history[-1][k] for k in VAL_TERMS} if module.history else None,
        "held_out": val, "held_out_photos": [str(p) for p in held_out], "val_history": snapshots.val,
        "network": {"width": net.width, "blocks": net.blocks, "n_styles": net.n_styles, "output": net.output,
                    "parameters": sum(p.numel() for p in net.parameters())},
        "styles": cfg.styles, "config": config, "backbone": encoder.describe(),
        "provenance": provenance(cfg.device, cfg.seed),
    }
    write_json(out / "metrics.json", metrics)
    tracker.log_image("final_samples", final_grid, caption="held-out photos")
    if module.history:
        tracker.log_image("loss_curves", out / "loss.png")
    tracker.finish({f"held_out/{k}": v for k, v in val.items()} | {"steps": t.steps})
    return metrics
