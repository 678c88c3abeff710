"""Recipe: train a feed-forward TransformerNet (one style, or N styles with conditional instance norm).

The perceptual objective is the one Gatys optimises (same backbone, layers, weights and Gram normalisation), so
the losses of the trained network and of a Gatys run on the same photos compare directly.

Writes to ``cfg.out``: ``net.safetensors`` (the network, loadable by ``method: fast``), ``checkpoints/last.ckpt``
(network + Adam state; the run resumes from it), ``history.csv`` and ``loss.png``, ``samples/step_*.jpg`` (held-out
photos through every style), ``metrics.json`` and an offline W&B run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from torchvision.utils import make_grid

from nst_bench.config import RunConfig
from nst_bench.data.datasets import RandomCrops
from nst_bench.data.images import load_image, save_image
from nst_bench.errors import UserError
from nst_bench.losses.objective import PerceptualObjective
from nst_bench.methods.fast import FastStyleModule, TransformerNet, save_network
from nst_bench.nets.backbones import build_backbone
from nst_bench.nets.depth import depth_strip
from nst_bench.recipes.stylize import build_objective, resolve_layers, start_run
from nst_bench.recipes.training import (
    Snapshots,
    finish_run,
    make_trainer,
    open_run,
    photo_split,
    resume_state,
    sample_photos,
)
from nst_bench.run.plots import loss_curves
from nst_bench.run.tracking import Trackers, provenance

log = logging.getLogger(__name__)
VAL_TERMS = ("total", "content", "style")


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
    columns, sums = [photos], dict.fromkeys(VAL_TERMS + (("depth",) if objective.depth else ()), 0.0)
    for i, weights in enumerate(style_columns(net.n_styles)):
        out = net.stylize(photos, weights)
        columns.append(out)
        if i < net.n_styles:
            targets = {k: v.expand(len(photos), -1, -1) for k, v in grams[i].items()}
            terms = objective(out, content, targets)
            for k in sums:
                sums[k] += float(terms[k]) / net.n_styles
    net.train(was_training)
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # row-major: one row per photo
    return make_grid(tiles, nrow=len(columns), padding=2, pad_value=1.0), sums


def train(cfg: RunConfig, *, progress: bool = True, resume: bool = True) -> dict[str, Any]:
    """Train (or resume training) the network; returns the metrics written to ``metrics.json``."""
    if not cfg.styles:
        raise UserError("no style image: give --style PATH (several for an N-style network)")
    out = start_run(cfg)
    t = cfg.train
    train_paths, held_out = photo_split(t.content_dir, t.holdout, cfg.seed, "--content-dir", t.skip_first)

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

    start, history, finished = resume_state(out, t.steps, resume)
    if finished is not None:
        return finished
    style_names = [Path(s).stem for s in cfg.styles]
    name = f"fast-{'+'.join(style_names)}-{cfg.fast.output}"
    config, wandb_tracker = open_run(cfg, out, name, "train-fast", start)
    meta = {"styles": cfg.styles, "style_names": style_names, "config": config,
            "backbone": encoder.describe(), "held_out": [str(p) for p in held_out]}
    tracker = Trackers(wandb_tracker)  # local files are written directly: history.csv, samples/, metrics.json

    torch.manual_seed(cfg.seed)
    net = TransformerNet(cfg.fast.width, cfg.fast.blocks, len(cfg.styles), cfg.fast.output)
    module = FastStyleModule(net, objective, grams, lr=t.lr, tracker=wandb_tracker, log_every=cfg.tracking.log_every)
    module.history = history
    val_history: list[dict[str, float]] = []
    caption = "photo | " + " | ".join(style_names) + (" | blend" if net.n_styles > 1 else "")

    def sample(module: FastStyleModule, step: int) -> None:
        grid, val = evaluate_samples(module.net, objective, photos.to(module.device), grams)
        path = save_image(grid, out / "samples" / f"step_{step:06d}.jpg", quality=88)
        val_history.append({"step": step, **val})
        tracker.log({f"val/{k}": v for k, v in val.items()}, step=step)
        tracker.log_image("samples", path, caption=f"step {step}: {caption}")

    def export(module: FastStyleModule, step: int) -> None:
        save_network(module.net, out / "net.safetensors", step=step, **meta)

    if start < t.steps:
        data = RandomCrops(train_paths, t.crop, (t.steps - start) * t.batch, cfg.seed, first=start * t.batch)
        loader = DataLoader(data, batch_size=t.batch, shuffle=False, num_workers=0)
        snapshots = Snapshots(out, t.steps, t.sample_every, t.checkpoint_every, sample, export,
                              elapsed=history[-1].get("elapsed", 0.0) if history else 0.0)
        trainer = make_trainer(cfg.device, t.precision, t.steps, [snapshots], progress, name)
        trainer.fit(module, loader, ckpt_path=out / "checkpoints/last.ckpt" if start else None, weights_only=True)
    elif not (out / "net.safetensors").is_file():
        raise UserError(f"{out}/checkpoints/last.ckpt is complete but net.safetensors is missing: delete it to retrain")

    grid, val = evaluate_samples(net, objective, photos.to(cfg.device), grams)
    final_grid = save_image(grid, out / "samples.jpg", quality=90)
    with torch.no_grad():  # one picture per run, for the sweep report's image grid
        first = net.stylize(photos[:1].to(cfg.device))
    save_image(first, out / "stylized.jpg")
    if objective.depth is not None:
        strip = save_image(depth_strip(objective.depth.estimator, photos[:1].to(cfg.device), first), out / "depth.jpg")
        tracker.log_image("depth", strip, caption="photo | output | depth of photo | depth of output")
    if module.history:
        loss_curves(module.history, out / "loss.png", title=name, smooth=20)
    metrics: dict[str, Any] = {
        "status": "ok", "steps": t.steps, "resumed_from_step": start, "images_seen": t.steps * t.batch,
        "seconds": module.history[-1].get("elapsed") if module.history else None,
        "final_train": {k: module.history[-1][k] for k in val} if module.history else None,
        "held_out": val, "held_out_photos": [str(p) for p in held_out], "val_history": val_history,
        "network": {"width": net.width, "blocks": net.blocks, "n_styles": net.n_styles, "output": net.output,
                    "parameters": sum(p.numel() for p in net.parameters())},
        "styles": cfg.styles, "config": config, "backbone": encoder.describe(),
        "depth": objective.depth.estimator.describe() | {"weight": cfg.depth.weight} if objective.depth else None,
        "provenance": provenance(cfg.device, cfg.seed),
    }
    return finish_run(out, metrics, tracker, final_grid, caption="held-out photos")
