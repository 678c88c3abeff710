"""Recipe: DeepDream one image with any registered backbone, recorded like every other run.

Writes to ``cfg.out``: ``stylized.jpg`` (the dream; the name every report looks for), ``history.csv`` (the
layers' mean squared activation at every step), ``loss.png``, ``metrics.json``, ``config.yaml`` and an offline
W&B run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nst_bench.config import RunConfig, to_dict
from nst_bench.data.images import load_image, save_image
from nst_bench.errors import UserError
from nst_bench.methods.deepdream import DreamObjective, dream
from nst_bench.run.plots import loss_curves
from nst_bench.run.tracking import LocalTracker, Trackers, WandbTracker, provenance, write_json


def run_dream(cfg: RunConfig, *, progress: bool = True, shared: Any = None) -> dict[str, Any]:
    """Dream on ``cfg.content``; returns the metrics written to ``metrics.json``."""
    from nst_bench.recipes.stylize import SharedWork, run_name, start_run

    if not cfg.content:
        raise UserError("no image: give --image PATH")
    shared = shared or SharedWork()
    out = start_run(cfg)
    encoder = shared.encoder(cfg.backbone).to(cfg.device)
    layers = encoder.check_layers(cfg.dream.layers or encoder.default_content_layers)
    cfg.dream.layers = layers
    min_side = encoder.min_side(layers)
    image = load_image(cfg.content, cfg.image.size, max_pixels=cfg.image.max_pixels, min_side=min_side)
    image = image.to(cfg.device)
    config = to_dict(cfg)
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    name = f"dream-{Path(cfg.content).stem}-{'+'.join(layers)}"
    wandb_tracker = None
    if cfg.tracking.wandb != "disabled":
        wandb_tracker = WandbTracker(out, mode=cfg.tracking.wandb, project=cfg.tracking.project,
                                     name=f"{name}-{run_name(cfg)[-6:]}", config=config, group=cfg.tracking.group,
                                     job_type="deepdream")
    tracker = Trackers(LocalTracker(out), wandb_tracker)

    objective = DreamObjective(encoder, layers, cfg.dream.jitter, cfg.seed)
    initial = float(objective.activation(image).detach())
    result = dream(image, objective, cfg.dream, cfg.optimizer, min_side=min_side, device=cfg.device,
                   tracker=tracker, progress=progress)
    path = save_image(result.image, out / "stylized.jpg")
    loss_curves(result.history, out / "loss.png", terms=("activation",), title=name)
    metrics: dict[str, Any] = {
        "status": "ok", "final": result.final | {"total": -result.final["activation"]},
        "initial": {"activation": initial}, "activation_rise": result.final["activation"] / initial,
        "octave_sizes": result.sizes, "iterations": result.iterations, "seconds": result.seconds,
        "s_per_iteration": result.seconds / max(1, result.iterations), "image": path.name, "layers": layers,
        "config": config, "backbone": encoder.describe(), "provenance": provenance(cfg.device, cfg.seed),
    }
    write_json(out / "metrics.json", metrics)
    tracker.log_image("dream", path, caption=name)
    tracker.log_image("activation", out / "loss.png")
    tracker.finish({"final/activation": result.final["activation"], "activation_rise": metrics["activation_rise"]})
    return metrics
