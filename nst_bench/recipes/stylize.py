"""Recipe: stylize one content image with any registered method and record everything about the run.

Writes to ``cfg.out``: ``stylized.jpg``, ``metrics.json`` (final loss terms, time, s/iteration, config,
provenance, weights' source and sha256), ``history.csv`` and ``loss.png`` (every loss term at every step, for the
methods that optimise), ``config.yaml``, and an offline W&B run under ``wandb/``. DeepDream runs here too: its
"style" is a layer, its history the activation.
"""

from __future__ import annotations

from pathlib import Path

from nst_bench.config import RunConfig, config_hash
from nst_bench.data.images import load_image, save_image
from nst_bench.errors import UserError
from nst_bench.losses.terms import SHOWN_TERMS
from nst_bench.methods.registry import get_method
from nst_bench.nets.content_check import similarity_to_photo
from nst_bench.nets.depth import depth_strip
from nst_bench.run.cache import ProcessCache
from nst_bench.run.context import start_run
from nst_bench.run.metrics import RunMetrics, steps_to_within
from nst_bench.run.plots import loss_curves
from nst_bench.run.tracking import write_history


def run_name(cfg: RunConfig) -> str:
    content = Path(cfg.content).stem if cfg.content else "none"
    styles = "+".join(Path(s).stem for s in cfg.styles) or "+".join(cfg.dream.layers or [])
    return f"{cfg.method}-{content}__{styles}__{cfg.backbone.name}-{config_hash(cfg, 6)}"


def run(cfg: RunConfig, *, progress: bool = True, cache: ProcessCache | None = None,
        bar_position: int = 0) -> RunMetrics:
    """Stylize ``cfg.content`` with ``cfg.styles`` by ``cfg.method``; returns what is written to metrics.json."""
    method = get_method(cfg.method)
    if not cfg.content:
        raise UserError("no content image: give --content PATH (--image for dream)")
    run = start_run(cfg, cache)
    method.prepare(cfg, run.cache)  # a trained network brings its own styles
    stylizer = method.build(cfg, run.cache)  # fills the backbone's default layers into cfg

    size = cfg.image
    content = load_image(cfg.content, size.size, max_pixels=size.max_pixels, min_side=stylizer.min_side)
    styles = [load_image(s, size.style_size or size.size, max_pixels=size.max_pixels, min_side=stylizer.min_side)
              for s in cfg.styles]
    content, styles = content.to(cfg.device), [s.to(cfg.device) for s in styles]
    blend = cfg.style_weights()
    name = run_name(cfg)
    run.open(name, job_type=method.name)

    result = stylizer(content, styles, blend, logger=run.lightning_logger(), progress=progress,
                      bar_position=bar_position, score=cfg.tracking.score_outputs)

    image = save_image(result.image, run.out / "stylized.jpg")
    write_history(run.out / "history.csv", result.history)
    plotted = [k for k in SHOWN_TERMS if result.history and k in result.history[0]]  # DeepDream: its activation
    ylabel = "mean squared activation (ascended)" if "activation" in plotted else "weighted loss"
    plot = loss_curves(result.history, run.out / "loss.png", plotted, title=name, ylabel=ylabel) if (
        result.history) else None
    # the loss at the start image (Gatys records it; L-BFGS's first history row is after its first line search)
    first = result.extra.pop("initial", None) or (result.history[0] if result.history else {})
    strip = None
    if stylizer.depth_estimator is not None:
        strip = save_image(depth_strip(stylizer.depth_estimator, content, result.image), run.out / "depth.jpg")
    extra = {"initial": {k: first.get(k) for k in SHOWN_TERMS if k in result.final},
             "style_reduction": first["style"] / result.final["style"] if first.get("style") and result.final.get(
                 "style", 0) > 0 else None,
             "steps_to_5pct": steps_to_within(result.history), "evaluations": result.evaluations,
             "sizes": result.sizes, "diverged_at": result.diverged_at, "image": image.name}
    # how much of the photo the output keeps, beside the losses: the objective alone cannot rank methods
    final = result.final | (similarity_to_photo(content, result.image) if cfg.tracking.score_outputs else {})
    metrics = run.metrics("diverged" if result.diverged_at is not None else "ok", final, result.seconds,
                          result.iterations, **stylizer.describe(), **(extra | result.extra))
    run.finish(metrics, {"stylized": (image, name), "loss_curves": (plot, ""),
                         "depth": (strip, "content | output | depth of content | depth of output")})
    if result.diverged_at is not None:
        raise UserError(f"loss became NaN or infinite at step {result.diverged_at}; the last finite image was saved "
                        f"to {image}: lower optimizer.lr or the loss weights")
    return metrics

