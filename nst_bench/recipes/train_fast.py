"""Recipe: train a feed-forward TransformerNet (one style, or N styles with conditional instance norm).

The perceptual objective is the one Gatys optimises (same backbone, layers, weights and Gram normalisation), so
the losses of the trained network and of a Gatys run on the same photos compare directly.

Writes to ``cfg.out``: ``net.safetensors`` (the network, loadable by ``method: fast``), ``checkpoints/last.ckpt``
(network + Adam state; the run resumes from it), ``history.csv`` and ``loss.png``, ``samples/step_*.jpg`` (held-out
photos through every style), ``samples.jpg``, ``stylized.jpg``, ``metrics.json`` and an offline W&B run.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torchvision.utils import make_grid

from nst_bench.config import RunConfig
from nst_bench.data.datasets import RandomCrops
from nst_bench.data.images import load_image, save_image
from nst_bench.errors import UserError
from nst_bench.losses.objective import PerceptualObjective
from nst_bench.methods.adain import AdaIN
from nst_bench.methods.common import describe_objective, perceptual_objective
from nst_bench.methods.fast import FastStyleModule, TransformerNet, save_network
from nst_bench.methods.registry import get_method
from nst_bench.nets.content_check import ContentCheck
from nst_bench.nets.depth import depth_strip
from nst_bench.recipes.training import Training, photo_split, sample_photos
from nst_bench.run.cache import ProcessCache
from nst_bench.run.context import start_run
from nst_bench.run.metrics import RunMetrics

VAL_TERMS = ("total", "content", "style")
log = logging.getLogger(__name__)


def style_columns(n_styles: int) -> list[list[float]]:
    """Weight vectors for the sample columns: each style alone, then an equal blend when there are several."""
    columns = [[float(i == j) for j in range(n_styles)] for i in range(n_styles)]
    return columns + ([[1.0 / n_styles] * n_styles] if n_styles > 1 else [])


@torch.no_grad()
def evaluate_samples(net: TransformerNet, objective: PerceptualObjective, photos: torch.Tensor,
                     grams: list[dict[str, torch.Tensor]], check: ContentCheck | None = None
                     ) -> tuple[torch.Tensor, dict[str, float]]:
    """A grid (photo | style 1 | ... | blend) and the held-out loss terms averaged over photos and single styles;
    with ``check``, its content scores too (``collapsed`` 1.0 when the outputs have lost the photos)."""
    was_training = net.training
    net.eval()
    objective.set_content(photos, cache=False)
    columns, sums = [photos], dict.fromkeys(VAL_TERMS + (("depth",) if objective.depth else ()), 0.0)
    for i, weights in enumerate(style_columns(net.n_styles)):
        out = net.stylize(photos, weights)
        columns.append(out)
        if i < net.n_styles:
            objective.set_style({k: v.expand(len(photos), -1, -1) for k, v in grams[i].items()})
            terms = objective(out)
            for k in VAL_TERMS + (("depth",) if objective.depth else ()):
                sums[k] += float(terms[k]) / net.n_styles
            if check is not None:
                for k, v in check(out).items():
                    sums[k] = sums.get(k, 0.0) + float(v) / net.n_styles
    if check is not None and check.floors:  # the network's flag: its shares, averaged over styles, vs the floors
        sums["collapsed"] = float(check.is_collapsed(sums))
    net.train(was_training)
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # row-major: one row per photo
    return make_grid(tiles, nrow=len(columns), padding=2, pad_value=1.0), sums


def content_check(cfg: RunConfig, photos: torch.Tensor, cache: ProcessCache) -> ContentCheck:
    """The content check of the held-out photos, its floors set by pretrained AdaIN with the same paintings."""
    adain = cache.get("network", ("adain",), AdaIN)
    styles = [load_image(s, cfg.image.style_size or cfg.image.size) for s in cfg.styles]
    with torch.no_grad():
        return ContentCheck.build(photos, references=[adain(photos, [s]) for s in styles])


def train(cfg: RunConfig, *, progress: bool = True, resume: bool = True,
          cache: ProcessCache | None = None) -> RunMetrics:
    """Train (or resume training) the network; returns what is written to ``metrics.json``."""
    if not cfg.styles:
        raise UserError("no style image: give --style PATH (several for an N-style network)")
    t = cfg.train
    run = start_run(cfg, cache)
    train_paths, held_out = photo_split(t.content_dir, t.holdout, cfg.seed, "--content-dir", t.skip_first,
                                       t.extra_content_dirs)
    get_method(cfg.method).check(cfg)
    objective = perceptual_objective(cfg, run.cache)  # a sweep's trials share the encoder
    min_side = objective.encoder.min_side(objective.layers)
    if t.crop < min_side:
        raise UserError(f"train.crop {t.crop} px is below the {min_side} px the layers need: use a larger --crop")
    style_size = cfg.image.style_size or cfg.image.size
    grams = [objective.compute_style_grams(load_image(s, style_size, min_side=min_side).to(cfg.device))
             for s in cfg.styles]
    photos = sample_photos(held_out, cfg.image.size)
    check = content_check(cfg, photos, run.cache)

    training = Training(run, t, resume)
    if training.finished is not None:
        return training.finished
    style_names = [Path(s).stem for s in cfg.styles]
    name = f"fast-{'+'.join(style_names)}-{cfg.fast.output}"
    run.open(name, job_type="train-fast", resumed_from_step=training.start)

    torch.manual_seed(cfg.seed)
    net = TransformerNet(cfg.fast.width, cfg.fast.blocks, len(cfg.styles), cfg.fast.output)
    module = FastStyleModule(net, objective, grams, lr=t.lr)
    caption = "photo | " + " | ".join(style_names) + (" | blend" if net.n_styles > 1 else "")
    meta = {"styles": cfg.styles, "style_names": style_names, "config": run.config,
            "backbone": objective.encoder.describe(), "held_out": [str(p) for p in held_out]}

    def evaluate(module: FastStyleModule, photos: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        grid, val = evaluate_samples(module.net, objective, photos, grams, check)
        if val.get("collapsed"):
            log.warning("step %d: the network has lost the photos (collapsed): %.2f of its outputs and %.2f of "
                        "their tiles are nearest their own photo; floors %s (%s)", module.global_step,
                        val["identified"], val["identified_local"],
                        ", ".join(f"{k} {v:.2f}" for k, v in check.floors.items()), check.describe()["floor_rule"])
        return grid, val

    def export(module: FastStyleModule, step: int) -> None:
        save_network(module.net, run.out / "net.safetensors", step=step, **meta)

    training.fit(module, lambda first: RandomCrops(train_paths, t.crop, (t.steps - training.start) * t.batch,
                                                   cfg.seed, first=first),
                 training.sampler(photos, evaluate, caption), export, run.out / "net.safetensors", name, progress)

    grid, val = evaluate_samples(net, objective, photos.to(cfg.device), grams, check)
    with torch.no_grad():  # one picture per run, for the sweep report's image grid
        first = net.stylize(photos[:1].to(cfg.device))
    save_image(first, run.out / "stylized.jpg")
    if objective.depth is not None:
        strip = save_image(depth_strip(objective.depth.estimator, photos[:1].to(cfg.device), first),
                           run.out / "depth.jpg")
        run.tracker.log_image("depth", strip, caption="photo | output | depth of photo | depth of output")
    return training.finish(
        module, grid, val, ("total", "content", "style", "tv", "depth"), 20, "held-out photos",
        held_out_photos=[str(p) for p in held_out], styles=cfg.styles,
        network={"width": net.width, "blocks": net.blocks, "n_styles": net.n_styles, "output": net.output,
                 "parameters": sum(p.numel() for p in net.parameters())},
        content_check=check.describe(), collapsed=bool(val.get("collapsed", False)),
        **describe_objective(objective, cfg.depth.weight))
