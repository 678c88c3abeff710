"""Recipe: train a CycleGAN between a photo folder (A) and an artist's paintings (B).

Writes to ``cfg.out``: ``generator.safetensors`` (photo -> artist, loadable by ``method: cyclegan``) and
``generator_ba.safetensors``, ``checkpoints/last.ckpt`` (all four networks and both optimisers; the run resumes
from it), ``history.csv`` and ``loss.png``, ``samples/step_*.jpg`` (held-out photos: photo | A->B | A->B->A),
``metrics.json`` and an offline W&B run with the losses and the sample grids.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision.utils import make_grid

from nst_bench.config import RunConfig
from nst_bench.data.datasets import RandomCrops, UnpairedCrops, readable
from nst_bench.data.images import list_images, save_image
from nst_bench.errors import UserError
from nst_bench.methods.cyclegan import (
    CycleGANModule,
    PatchDiscriminator,
    ResnetGenerator,
    init_weights,
    save_generator,
)
from nst_bench.recipes.stylize import start_run
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
PLOTTED = ("g", "d", "cycle_a", "cycle_b", "gan_ab", "gan_ba")


@torch.no_grad()
def translate_samples(module: CycleGANModule, photos: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Grid rows photo | A->B | A->B->A, and the held-out cycle error (mean absolute, pixels in [0, 1])."""
    g_ab, g_ba = module.g_ab, module.g_ba
    modes = (g_ab.training, g_ba.training)
    g_ab.eval()
    g_ba.eval()
    fake_b = g_ab(photos)
    back = g_ba(fake_b)
    g_ab.train(modes[0])
    g_ba.train(modes[1])
    tiles = torch.stack([photos, fake_b, back], dim=1).flatten(0, 1)
    val = {"cycle_l1": float(F.l1_loss(back, photos)), "change_l1": float(F.l1_loss(fake_b, photos))}
    return make_grid(tiles, nrow=3, padding=2, pad_value=1.0), val


def train(cfg: RunConfig, *, progress: bool = True, resume: bool = True) -> dict[str, Any]:
    """Train (or resume training) photo <-> artist; returns the metrics written to ``metrics.json``."""
    c, t = cfg.cyclegan, cfg.train
    out = start_run(cfg)
    photos_train, held_out = photo_split(c.domain_a, t.holdout, cfg.seed, "--domain-a", t.skip_first)
    if not c.domain_b or not Path(c.domain_b).is_dir():
        raise UserError(f"artist folder not found: {c.domain_b} (give --domain-b DIR, e.g. "
                        "../shared/data/artists/van_gogh)")
    paintings = [p for p in list_images(c.domain_b) if readable(p)]
    if not paintings:
        raise UserError(f"no readable paintings in {c.domain_b}")
    photos = sample_photos(held_out, cfg.image.size)

    start, history, finished = resume_state(out, t.steps, resume, 2)
    if finished is not None:
        return finished
    artist = Path(c.domain_b).name
    name = f"cyclegan-{Path(c.domain_a).name}-{artist}"
    config, wandb_tracker = open_run(cfg, out, name, "train-cyclegan", start)
    meta = {"domain_a": c.domain_a, "domain_b": c.domain_b, "artist": artist, "config": config,
            "held_out": [str(p) for p in held_out], "paintings": [str(p) for p in paintings]}
    tracker = Trackers(wandb_tracker)

    torch.manual_seed(cfg.seed)
    nets = [ResnetGenerator(c.width, c.blocks, c.resize_up), ResnetGenerator(c.width, c.blocks, c.resize_up),
            PatchDiscriminator(c.d_width), PatchDiscriminator(c.d_width)]
    for n in nets:
        init_weights(n)
    module = CycleGANModule(*nets, lr=c.lr, beta1=c.beta1, lambda_cycle=c.lambda_cycle,
                            lambda_identity=c.lambda_identity, pool_size=c.pool_size, steps=t.steps,
                            decay_from=round(c.decay_from * t.steps), tracker=wandb_tracker,
                            log_every=cfg.tracking.log_every)
    module.history = history
    val_history: list[dict[str, float]] = []

    def sample(module: CycleGANModule, step: int) -> None:
        grid, val = translate_samples(module, photos.to(module.device))
        path = save_image(grid, out / "samples" / f"step_{step:06d}.jpg", quality=88)
        val_history.append({"step": step, **val})
        tracker.log({f"val/{k}": v for k, v in val.items()}, step=step)
        tracker.log_image("samples", path, caption=f"step {step}: photo | {artist} | back to photo")

    def export(module: CycleGANModule, step: int) -> None:
        save_generator(module.g_ab, out / "generator.safetensors", step=step, direction="a2b", **meta)
        save_generator(module.g_ba, out / "generator_ba.safetensors", step=step, direction="b2a", **meta)

    if start < t.steps:
        count = (t.steps - start) * t.batch
        data = UnpairedCrops(RandomCrops(photos_train, t.crop, count, cfg.seed, first=start * t.batch),
                             RandomCrops(paintings, t.crop, count, cfg.seed + 1, first=start * t.batch,
                                         scale=c.b_scale))
        loader = DataLoader(data, batch_size=t.batch, shuffle=False, num_workers=0)
        snapshots = Snapshots(out, t.steps, t.sample_every, t.checkpoint_every, sample, export,
                              elapsed=history[-1].get("elapsed", 0.0) if history else 0.0,
                              optimizer_steps_per_step=2)
        trainer = make_trainer(cfg.device, t.precision, 2 * t.steps, [snapshots], progress, name)
        trainer.fit(module, loader, ckpt_path=out / "checkpoints/last.ckpt" if start else None, weights_only=True)
    elif not (out / "generator.safetensors").is_file():
        raise UserError(f"{out}/checkpoints/last.ckpt is complete but generator.safetensors is missing: delete it "
                        "to retrain")

    grid, val = translate_samples(module, photos.to(cfg.device))
    final_grid = save_image(grid, out / "samples.jpg", quality=90)
    with torch.no_grad():
        save_image(module.g_ab.eval()(photos[:1].to(cfg.device)), out / "stylized.jpg")
    if module.history:
        loss_curves(module.history, out / "loss.png", terms=PLOTTED, title=name, smooth=50)
    metrics: dict[str, Any] = {
        "status": "ok", "steps": t.steps, "resumed_from_step": start, "images_seen": t.steps * t.batch,
        "seconds": module.history[-1].get("elapsed") if module.history else None,
        "final_train": {k: module.history[-1][k] for k in PLOTTED} if module.history else None,
        "held_out": val, "held_out_photos": [str(p) for p in held_out], "val_history": val_history,
        "paintings": len(paintings), "training_photos": len(photos_train),
        "networks": {"generator_parameters": sum(p.numel() for p in module.g_ab.parameters()),
                     "discriminator_parameters": sum(p.numel() for p in module.d_a.parameters())},
        "config": config, "provenance": provenance(cfg.device, cfg.seed),
    }
    return finish_run(out, metrics, tracker, final_grid, caption="held-out photos: photo | A->B | A->B->A")
