"""Recipe: train a CycleGAN between a photo folder (A) and an artist's paintings (B).

Writes to ``cfg.out``: ``generator.safetensors`` (photo -> artist, loadable by ``method: cyclegan``) and
``generator_ba.safetensors``, ``checkpoints/last.ckpt`` (all four networks and both optimisers; the run resumes
from it), ``history.csv`` and ``loss.png``, ``samples/step_*.jpg`` (held-out photos: photo | A->B | A->B->A),
``samples.jpg``, ``stylized.jpg``, ``metrics.json`` and an offline W&B run with the losses and the sample grids.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
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
from nst_bench.methods.registry import get_method
from nst_bench.recipes.training import Training, photo_split, sample_photos
from nst_bench.run.cache import ProcessCache
from nst_bench.run.context import start_run
from nst_bench.run.metrics import RunMetrics

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


def train(cfg: RunConfig, *, progress: bool = True, resume: bool = True,
          cache: ProcessCache | None = None) -> RunMetrics:
    """Train (or resume training) photo <-> artist; returns what is written to ``metrics.json``."""
    c, t = cfg.cyclegan, cfg.train
    run = start_run(cfg, cache)
    get_method(cfg.method).check(cfg)
    photos_train, held_out = photo_split(c.domain_a, t.holdout, cfg.seed, "--domain-a", t.skip_first)
    if not c.domain_b or not Path(c.domain_b).is_dir():
        raise UserError(f"artist folder not found: {c.domain_b} (give --domain-b DIR, e.g. "
                        "../shared/data/artists/van_gogh)")
    paintings = [p for p in list_images(c.domain_b) if readable(p)]
    if not paintings:
        raise UserError(f"no readable paintings in {c.domain_b}")
    photos = sample_photos(held_out, cfg.image.size)

    training = Training(run, t, resume, optimizer_steps_per_step=2)
    if training.finished is not None:
        return training.finished
    artist = Path(c.domain_b).name
    name = f"cyclegan-{Path(c.domain_a).name}-{artist}"
    run.open(name, job_type="train-cyclegan", resumed_from_step=training.start)
    meta = {"domain_a": c.domain_a, "domain_b": c.domain_b, "artist": artist, "config": run.config,
            "held_out": [str(p) for p in held_out], "paintings": [str(p) for p in paintings]}

    torch.manual_seed(cfg.seed)
    nets = [ResnetGenerator(c.width, c.blocks, c.resize_up), ResnetGenerator(c.width, c.blocks, c.resize_up),
            PatchDiscriminator(c.d_width), PatchDiscriminator(c.d_width)]
    for n in nets:
        init_weights(n)
    module = CycleGANModule(*nets, lr=c.lr, beta1=c.beta1, lambda_cycle=c.lambda_cycle,
                            lambda_identity=c.lambda_identity, pool_size=c.pool_size, steps=t.steps,
                            decay_from=round(c.decay_from * t.steps))

    def export(module: CycleGANModule, step: int) -> None:
        save_generator(module.g_ab, run.out / "generator.safetensors", step=step, direction="a2b", **meta)
        save_generator(module.g_ba, run.out / "generator_ba.safetensors", step=step, direction="b2a", **meta)

    def data(first: int) -> UnpairedCrops:
        count = (t.steps - training.start) * t.batch
        return UnpairedCrops(RandomCrops(photos_train, t.crop, count, cfg.seed, first=first),
                             RandomCrops(paintings, t.crop, count, cfg.seed + 1, first=first, scale=c.b_scale))

    training.fit(module, data, training.sampler(photos, translate_samples, f"photo | {artist} | back to photo"),
                 export, run.out / "generator.safetensors", name, progress)

    grid, val = translate_samples(module, photos.to(cfg.device))
    with torch.no_grad():
        save_image(module.g_ab.eval()(photos[:1].to(cfg.device)), run.out / "stylized.jpg")
    return training.finish(
        module, grid, val, PLOTTED, 50, "held-out photos: photo | A->B | A->B->A",
        held_out_photos=[str(p) for p in held_out], paintings=len(paintings), training_photos=len(photos_train),
        networks={"generator_parameters": sum(p.numel() for p in module.g_ab.parameters()),
                  "discriminator_parameters": sum(p.numel() for p in module.d_a.parameters())})
