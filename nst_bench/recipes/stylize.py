"""Recipe: stylize one content image with one or more style images and record everything about the run.

Writes to ``cfg.out``: ``stylized.jpg``, ``metrics.json`` (final loss terms, time, s/iteration, config,
provenance, weights source and sha256), ``history.csv`` (every loss term at every step), ``config.yaml``, and an
offline W&B run under ``wandb/``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from nst_bench.config import BackboneConfig, DepthConfig, RunConfig, config_hash, to_dict
from nst_bench.data.images import load_image, save_image
from nst_bench.errors import UserError
from nst_bench.losses.objective import PerceptualObjective, TargetCache, blend_grams
from nst_bench.methods import adain, cyclegan, fast, gatys
from nst_bench.nets import weights as W
from nst_bench.nets.backbones import Encoder, build_backbone
from nst_bench.nets.depth import DepthEstimator, DepthLoss, build_depth, depth_strip
from nst_bench.run.plots import loss_curves
from nst_bench.run.tracking import LocalTracker, Trackers, WandbTracker, provenance, write_json


@dataclass
class SharedWork:
    """Encoders and targets reused across runs in one process (a sweep builds each backbone once)."""

    encoders: dict[tuple, Encoder] = field(default_factory=dict)
    targets: TargetCache = field(default_factory=TargetCache)

    adain_model: adain.AdaIN | None = None
    depth_estimators: dict[tuple[str, str | None, int | None], DepthEstimator] = field(default_factory=dict)
    networks: dict[tuple[str, str], tuple[torch.nn.Module, dict[str, Any]]] = field(default_factory=dict)

    def adain(self) -> adain.AdaIN:
        if self.adain_model is None:
            self.adain_model = adain.AdaIN()
        return self.adain_model

    def network(self, cfg: RunConfig) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The trained network of a fast or cyclegan run, and its metadata; loaded once per process."""
        checkpoint = cfg.fast.checkpoint if cfg.method == "fast" else cfg.cyclegan.checkpoint
        if not checkpoint:
            made_by = {"fast": "net.safetensors from `nst-bench train fast`",
                       "cyclegan": "generator.safetensors from `nst-bench train cyclegan`"}[cfg.method]
            raise UserError(f"method {cfg.method} needs a trained network: give --checkpoint PATH ({made_by})")
        key = (cfg.method, checkpoint)
        if key not in self.networks:
            load = fast.load_network if cfg.method == "fast" else cyclegan.load_generator
            self.networks[key] = load(checkpoint)
        return self.networks[key]

    def depth(self, d: DepthConfig) -> DepthEstimator:
        key = (d.estimator, d.weights, d.size)
        if key not in self.depth_estimators:
            self.depth_estimators[key] = build_depth(d.estimator, d.weights, d.size)
        return self.depth_estimators[key]

    def encoder(self, b: BackboneConfig) -> Encoder:
        key = (b.name, b.weights, b.pooling, b.padding)
        if key not in self.encoders:
            self.encoders[key] = build_backbone(b.name, b.weights, b.pooling, b.padding)
        return self.encoders[key]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_layers(cfg: RunConfig, encoder: Encoder) -> None:
    """Fill unset layer lists with the backbone's defaults, so the saved config names the layers used."""
    b = cfg.backbone
    b.content_layers = encoder.check_layers(b.content_layers or encoder.default_content_layers)
    b.style_layers = encoder.check_layers(b.style_layers or encoder.default_style_layers)


def build_objective(cfg: RunConfig, encoder: Encoder, cache: TargetCache | None = None,
                    shared: SharedWork | None = None) -> PerceptualObjective:
    """The configured objective; a depth term when ``depth.weight`` > 0 (its estimator on the encoder's device)."""
    b, loss = cfg.backbone, cfg.loss
    depth = None
    if cfg.depth.weight:
        estimator = (shared or SharedWork()).depth(cfg.depth)
        depth = DepthLoss(estimator.to(next(encoder.parameters()).device), cfg.depth.weight)
    return PerceptualObjective(encoder, b.content_layers, b.style_layers,
                               content_weight=loss.content_weight, style_weight=loss.style_weight,
                               tv_weight=loss.tv_weight, tv_beta=loss.tv_beta, gram_norm=loss.gram_norm,
                               style_layer_weights=b.style_layer_weights, cache=cache, depth=depth)


def steps_to_within(history: list[dict[str, float]], fraction: float = 0.05) -> int | None:
    """Iterations until content + style first comes within ``fraction`` of its final value: how soon a run
    reaches the picture it ends with (the depth study's measure of speed)."""
    if not history:
        return None
    values = [row["content"] + row["style"] for row in history]
    final = values[-1]
    return next(row["step"] + 1 for row, v in zip(history, values) if abs(v - final) <= fraction * abs(final))


def run_adain(cfg: RunConfig, model: adain.AdaIN, objective: PerceptualObjective, content: torch.Tensor,
              styles: list[torch.Tensor], blend: list[float]) -> gatys.StylizeResult:
    """One AdaIN pass; its output is scored with the same objective as Gatys, so the losses compare."""
    r = adain.stylize(model.to(content.device), content, styles, blend, cfg.adain.alpha, cfg.adain.preserve_color)
    objective.set_targets(objective.content_features(content),
                          blend_grams([objective.style_grams(s) for s in styles], blend))
    with torch.no_grad():
        final = {k: float(v) for k, v in objective(r.image).items()}
    return gatys.StylizeResult(image=r.image, history=[], final=final, iterations=0, evaluations=1,
                               seconds=r.seconds, sizes=[tuple(content.shape[-2:])])


def run_network(forward: Callable[[torch.Tensor], torch.Tensor], objective: PerceptualObjective,
                content: torch.Tensor, styles: list[torch.Tensor], blend: list[float]) -> gatys.StylizeResult:
    """One pass of a trained network (fast, cyclegan); the output is scored with the Gatys objective."""
    t0 = time.perf_counter()
    with torch.no_grad():
        image = forward(content)
    seconds = time.perf_counter() - t0
    objective.set_targets(objective.content_features(content),
                          blend_grams([objective.style_grams(s) for s in styles], blend))
    with torch.no_grad():
        final = {k: float(v) for k, v in objective(image).items()}
    return gatys.StylizeResult(image=image, history=[], final=final, iterations=0, evaluations=1, seconds=seconds,
                               sizes=[tuple(content.shape[-2:])])


def fill_network_styles(cfg: RunConfig, meta: dict[str, Any]) -> None:
    """A trained network's styles are what it was trained on (a fast network's style images, a CycleGAN's
    paintings): recorded in the config, and the targets its output is scored against."""
    if cfg.method == "cyclegan":
        cfg.styles = cfg.styles or list(meta["paintings"])
        return
    if not cfg.styles:
        cfg.styles = list(meta["styles"])
    if len(cfg.styles) != meta["n_styles"]:
        raise UserError(f"{cfg.fast.checkpoint} was trained on {meta['n_styles']} style(s) but {len(cfg.styles)} "
                        "--style images were given: leave --style out to use its own")
    if cfg.style_blend is not None and len(cfg.style_blend) != meta["n_styles"]:
        raise UserError(f"{cfg.fast.checkpoint} has {meta['n_styles']} styles; give {meta['n_styles']} "
                        "--style-weights")


def require_styles(cfg: RunConfig, shared: SharedWork) -> None:
    """A trained network brings its own styles; every other method needs at least one --style."""
    if cfg.method in ("fast", "cyclegan"):
        fill_network_styles(cfg, shared.network(cfg)[1])
    if not cfg.styles:
        raise UserError("no style image: give at least one --style PATH")


def start_run(cfg: RunConfig) -> Path:
    """What every recipe does first: threads, quiet Lightning, seeds, and the output folder."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    gatys.quiet_lightning()
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_name(cfg: RunConfig) -> str:
    content = Path(cfg.content).stem if cfg.content else "none"
    styles = "+".join(Path(s).stem for s in cfg.styles)
    return f"{content}__{styles}__{cfg.backbone.name}-{config_hash(cfg, 6)}"


def method_weights(cfg: RunConfig, shared: SharedWork) -> dict[str, Any] | None:
    """Where a feed-forward method's own weights came from (the backbone's are recorded separately)."""
    if cfg.method == "adain":
        return shared.adain().decoder_weights.as_dict()
    if cfg.method in ("fast", "cyclegan"):
        meta = shared.network(cfg)[1]
        path = Path(cfg.fast.checkpoint if cfg.method == "fast" else cfg.cyclegan.checkpoint)
        keep = ("step", "styles", "output", "artist", "domain_a", "direction")
        return {"path": str(path.resolve()), "sha256": W.sha256(path)} | {k: meta[k] for k in keep if k in meta}
    return None


def run(cfg: RunConfig, *, progress: bool = True, shared: SharedWork | None = None,
        bar_position: int = 0) -> dict[str, Any]:
    """Stylize ``cfg.content`` with ``cfg.styles``; returns the metrics written to ``metrics.json``."""
    if cfg.method == "deepdream":  # no style: its own recipe, so sweeps and `stylize` can run it too
        from nst_bench.recipes.dream import run_dream

        return run_dream(cfg, progress=progress, shared=shared)
    if not cfg.content:
        raise UserError("no content image: give --content PATH")
    shared = shared or SharedWork()
    require_styles(cfg, shared)
    out = start_run(cfg)

    encoder = shared.encoder(cfg.backbone).to(cfg.device)
    resolve_layers(cfg, encoder)
    objective = build_objective(cfg, encoder, shared.targets, shared)
    min_side = round(encoder.min_side(objective.layers) / min(cfg.gatys.scales))
    content = load_image(cfg.content, cfg.image.size, max_pixels=cfg.image.max_pixels, min_side=min_side)
    styles = [load_image(s, cfg.image.style_size or cfg.image.size, max_pixels=cfg.image.max_pixels,
                         min_side=min_side) for s in cfg.styles]
    content, styles = content.to(cfg.device), [s.to(cfg.device) for s in styles]
    blend = cfg.style_blend or [1.0] * len(styles)

    config = to_dict(cfg)
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    local = LocalTracker(out)
    wandb_tracker = None
    if cfg.tracking.wandb != "disabled":
        wandb_tracker = WandbTracker(out, mode=cfg.tracking.wandb, project=cfg.tracking.project,
                                     name=run_name(cfg), config=config, group=cfg.tracking.group,
                                     job_type=cfg.method)
    tracker = Trackers(local, wandb_tracker)

    if cfg.method == "adain":
        result = run_adain(cfg, shared.adain(), objective, content, styles, blend)
    elif cfg.method == "fast":
        net = shared.network(cfg)[0].to(content.device)
        result = run_network(lambda x: net.stylize(x, blend), objective, content, styles, blend)
    elif cfg.method == "cyclegan":
        result = run_network(shared.network(cfg)[0].to(content.device), objective, content, styles, blend)
    else:
        result = gatys.stylize(content, styles, blend, objective, cfg.gatys, cfg.optimizer, seed=cfg.seed,
                               device=cfg.device, tracker=tracker, progress=progress,
                               log_every=cfg.tracking.log_every, bar_position=bar_position)
    image_path = save_image(result.image, out / "stylized.jpg")
    if result.history:
        loss_curves(result.history, out / "loss.png", title=run_name(cfg))
    first = result.history[0] if result.history else {}
    metrics: dict[str, Any] = {
        "status": "diverged" if result.diverged_at is not None else "ok",
        "final": result.final,
        "initial": {k: first.get(k) for k in gatys.TERMS if k in result.final},
        "style_reduction": (first["style"] / result.final["style"]) if first.get("style") and result.final[
            "style"] > 0 else None,
        "iterations": result.iterations,
        "steps_to_5pct": steps_to_within(result.history),
        "evaluations": result.evaluations,
        "seconds": result.seconds,
        "s_per_iteration": result.seconds / result.iterations if result.iterations else None,
        "sizes": result.sizes,
        "diverged_at": result.diverged_at,
        "image": image_path.name,
        "config": config,
        "backbone": encoder.describe(),
        "depth": objective.depth.estimator.describe() | {"weight": cfg.depth.weight} if objective.depth else None,
        "method_weights": method_weights(cfg, shared),
        "provenance": provenance(cfg.device, cfg.seed),
    }
    if wandb_tracker is not None:
        metrics["wandb_run_dir"] = str(wandb_tracker.run_dir)
    write_json(out / "metrics.json", metrics)
    tracker.log_image("stylized", image_path, caption=run_name(cfg))
    if result.history:
        tracker.log_image("loss_curves", out / "loss.png")
    if objective.depth is not None:
        strip = save_image(depth_strip(objective.depth.estimator, content, result.image), out / "depth.jpg")
        tracker.log_image("depth", strip, caption="content | output | depth of content | depth of output")
    tracker.finish({f"final/{k}": v for k, v in result.final.items()} | {
        "seconds": result.seconds, "iterations": result.iterations})
    if result.diverged_at is not None:
        raise UserError(f"loss became NaN or infinite at step {result.diverged_at}; the last finite image was saved "
                        f"to {image_path}: lower optimizer.lr or the loss weights")
    return metrics
