"""Recipe: train a CycleGAN between a photo folder (A) and an artist's paintings (B).

Writes to ``cfg.out``: ``generator.safetensors`` (photo -> artist, loadable by ``method: cyclegan``) and
``generator_ba.safetensors``, ``checkpoints/last.ckpt`` (all four networks and both optimisers; the run resumes
from it), ``history.csv``, ``loss.png`` and ``discriminators.png`` (D(real) / D(fake)), ``samples/step_*.jpg``
(held-out photos: photo | A->B | A->B->A), ``held_out.png`` (the held-out scores at every sample step),
``samples.jpg``, ``stylized.jpg``, ``metrics.json``, ``references.json`` (the held-out photos' and training
paintings' own scores, written at the start) and an offline W&B run.

Every sample step scores all ``train.holdout`` photos: the A->B->A cycle L1 (also from a blurred A->B: hidden
high-frequency codes), the content check of the fast
networks (identification among the held-out photos, SSIM, LPIPS; floors from AdaIN with held-out paintings),
KID and Gram distance to the ``cyclegan.holdout_b`` held-out paintings, and the 4-pixel grid artefact's peak.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.functional import gaussian_blur
from torchvision.utils import make_grid
from tqdm import tqdm

from nst_bench.config import CycleGANConfig, RunConfig
from nst_bench.data.datasets import RandomCrops, UnpairedCrops, readable, split_holdout
from nst_bench.data.images import list_images, load_image, save_image
from nst_bench.errors import UserError
from nst_bench.losses.artefacts import periodic_peak, texture_rebound
from nst_bench.losses.painting_domain import PaintingDomain
from nst_bench.methods.adain import AdaIN
from nst_bench.methods.cyclegan import (
    CycleGANModule,
    FeatureDiscriminator,
    JointDiscriminator,
    PatchDiscriminator,
    ResnetGenerator,
    init_weights,
    load_generator,
    mirrored,
    save_generator,
)
from nst_bench.methods.registry import get_method
from nst_bench.nets.backbones import build_backbone
from nst_bench.nets.content_check import ContentCheck
from nst_bench.recipes.training import Training, photo_split, sample_photos
from nst_bench.run.cache import ProcessCache
from nst_bench.run.context import start_run
from nst_bench.run.metrics import RunMetrics, write_json
from nst_bench.run.plots import discriminator_scores, held_out_curves

PLOTTED = ("g", "d", "cycle_a", "cycle_b", "gan_ab", "gan_ba")


HELD_OUT_PANELS = (("cycle_l1", "cycle L1, A->B->A vs photo"),
                   ("cycle_l1_blurred", "cycle L1 from a blurred A->B"), ("kid", "KID to held-out paintings"),
                   ("gram_to_paintings", "Gram distance to held-out paintings"),
                   ("identified_local", "content check: identified tiles"), ("lpips", "LPIPS to photo"),
                   ("grid_peak", "4-px grid peak (1 = none)"), ("cycle_grid_peak", "4-px grid peak of A->B->A"),
                   ("regular_texture", "regular texture (texture_rebound)"))


@torch.no_grad()
def translate(module: CycleGANModule, photos: torch.Tensor, chunk: int = 10
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A->B, A->B->A, and A->B->A from a slightly blurred A->B (Gaussian, sigma 1 px), in eval mode and in chunks.
    The last is the steganography test of Chu et al. (2017): a generator that hides the photo in a faint
    high-frequency pattern for the way back loses its reconstruction when that pattern is blurred away."""
    g_ab, g_ba = module.generators()
    modes = (g_ab.training, g_ba.training)
    g_ab.eval()
    g_ba.eval()
    fake_b = torch.cat([g_ab(x) for x in photos.split(chunk)])
    back = torch.cat([g_ba(x) for x in fake_b.split(chunk)])
    blurred = gaussian_blur(fake_b, kernel_size=5, sigma=1.0)
    back_blurred = torch.cat([g_ba(x) for x in blurred.split(chunk)])
    g_ab.train(modes[0])
    g_ba.train(modes[1])
    return fake_b.float(), back.float(), back_blurred.float()


class HeldOut:
    """The held-out photos and paintings and everything that scores a generator on them."""

    def __init__(self, photos: torch.Tensor, rows: int, check: ContentCheck, domain: PaintingDomain | None,
                 progress: bool = True) -> None:
        self.photos, self.rows, self.check, self.domain, self.progress = photos, rows, check, domain, progress

    def score(self, outputs: torch.Tensor, bar: tqdm | None = None) -> dict[str, float]:
        val = {k: float(v) for k, v in self.check(outputs).items()}
        val["grid_peak"] = periodic_peak(outputs)
        val["regular_texture"] = float(texture_rebound(outputs).mean())
        if bar is not None:
            bar.update()
        return val | (self.domain(outputs) if self.domain is not None else {})

    def grid(self, photos: torch.Tensor, fake_b: torch.Tensor, back: torch.Tensor) -> torch.Tensor:
        """Rows photo | A->B | A->B->A for the first ``rows`` photos."""
        n = self.rows
        tiles = torch.stack([photos[:n].float(), fake_b[:n], back[:n]], dim=1).flatten(0, 1)
        return make_grid(tiles, nrow=3, padding=2, pad_value=1.0)

    def __call__(self, module: CycleGANModule, photos: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The sample grid, and the scores of all the photos."""
        with tqdm(total=3, desc=f"scoring {len(photos)} held-out photos", unit="stage", leave=False,
                  disable=None if self.progress else True) as bar:
            fake_b, back, back_blurred = translate(module, photos)
            bar.update()
            val = {"cycle_l1": float(F.l1_loss(back, photos)), "change_l1": float(F.l1_loss(fake_b, photos)),
                   "cycle_l1_blurred": float(F.l1_loss(back_blurred, photos)),
                   "cycle_grid_peak": periodic_peak(back)}  # G_ba's own grid (a feature D_a let one grow)
            val |= self.score(fake_b, bar)
            bar.update()
        return self.grid(photos, fake_b, back), val

    def final(self, module: CycleGANModule, photos: torch.Tensor, history: list[dict[str, float]], steps: int
              ) -> tuple[torch.Tensor, dict[str, float]]:
        """The last step's grid and scores: reused from the sample step that ended training when there was one
        (the whole held-out scoring is the slow part), else computed."""
        if not history or history[-1]["step"] != steps:
            return self(module, photos)
        fake_b, back, _ = translate(module, photos[:self.rows])
        return self.grid(photos, fake_b, back), {k: v for k, v in history[-1].items() if k != "step"}


def held_out_set(cfg: RunConfig, photos: torch.Tensor, held_paintings: list[Path], train_paintings: list[Path],
                 cache: ProcessCache, progress: bool = True) -> HeldOut:
    """The content check (its floors: AdaIN with two of the held-out paintings, or of the training ones when none
    are held out) and the painting domain of the held-out paintings (none held out: no KID, no Gram distance)."""
    size = photos.shape[-1]
    load = lambda p: sample_photos([p], size)  # noqa: E731 - paintings as centre squares, as the photos
    paintings = [load(p) for p in held_paintings]  # the held-out set KID and the Gram distance compare against
    adain = cache.get("network", ("adain",), AdaIN)
    with torch.no_grad():
        refs = [adain(photos, [load(p)]) for p in (held_paintings or train_paintings)[:2]]
    check = ContentCheck.build(photos, references=refs)
    domain = PaintingDomain(paintings, classifier=check.classifier, seed=cfg.seed) if len(paintings) >= 2 else None
    return HeldOut(photos, cfg.cyclegan.sample_rows, check, domain, progress)


def kept_generator(out: Path, step: int) -> Path:
    """Where a run keeps the photo -> painting generator of one sample step (``experiments/cyclegan_pick.py``)."""
    return out / "generators" / f"step_{step:06d}.safetensors"


def kept_steps(out: Path) -> list[int]:
    """The sample steps whose generator a run kept, in order; none is a one-line error."""
    steps = sorted(int(p.stem.removeprefix("step_")) for p in (out / "generators").glob("step_*.safetensors"))
    if not steps:
        raise UserError(f"{out}/generators holds no step_*.safetensors: train with `nst-bench train cyclegan`")
    return steps


@torch.no_grad()
def held_out_translations(out: Path, step: int, size: int = 256, border: int = 0
                          ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """A run's held-out photos at ``size`` and their translations by the generator it kept at
    ``step`` (``border`` px mirrored around each photo: ``methods.cyclegan.mirrored``), with that generator's
    metadata: where every after-the-fact look at a kept step starts."""
    if step not in (steps := kept_steps(out)):
        raise UserError(f"{out} kept no generator at step {step}: choose from {steps}")
    g, meta = load_generator(kept_generator(out, step))
    photos = torch.cat([load_image(p, size) for p in meta["held_out"]])
    return photos, torch.cat([mirrored(g, x, border) for x in photos.split(10)]), meta


def build_networks(c: CycleGANConfig) -> list[nn.Module]:
    """G_ab, G_ba, D_a, D_b as the config describes them, initialised as the paper does; a checkpoint's state dict
    loads into the same list (``experiments/cyclegan_d_probe.py``)."""
    g_kw = {"antialias": c.g_antialias, "norm": c.g_norm, "skip": c.g_skip, "noise": c.g_noise}
    nets: list[nn.Module] = [ResnetGenerator(c.width, c.blocks, c.upsample, **g_kw) for _ in "ab"]
    pixel = lambda: PatchDiscriminator(c.d_width, antialias=c.d_antialias, blur_input=c.d_blur_input)  # noqa: E731
    if c.d_features != "none":  # the config refuses spectral norm with it (it applies to pixel convs)
        pooling = "avg" if c.d_features.endswith("_avg") else "max"
        encoder = build_backbone("vgg16_tv", pooling=pooling).eval().requires_grad_(False)
        features = lambda: FeatureDiscriminator(encoder, "relu4_3", 512, c.d_width * 4)  # noqa: E731
        d_b = JointDiscriminator(features(), pixel()) if c.d_features_on == "paintings_with_pixels" else features()
        nets += [features() if c.d_features_on == "both" else pixel(), d_b]
    else:
        nets += [pixel(), pixel()]
    for n in nets:
        init_weights(n)
    if c.d_spectral_norm:
        nets[2:] = [d.spectral_normalize() for d in nets[2:]]
    return nets


def split_domains(cfg: RunConfig) -> tuple[list[Path], list[Path], list[Path], list[Path]]:
    """Training and held-out photos, training and held-out paintings (both splits fixed by the seed)."""
    c, t = cfg.cyclegan, cfg.train
    photos_train, held_photos = photo_split(c.domain_a, t.holdout, cfg.seed, "--domain-a", t.skip_first)
    if not c.domain_b or not Path(c.domain_b).is_dir():
        raise UserError(f"artist folder not found: {c.domain_b} (give --domain-b DIR, e.g. "
                        "../shared/data/paintings256/van_gogh)")
    paintings = [p for p in list_images(c.domain_b) if readable(p)]
    if len(paintings) < 2:
        raise UserError(f"{len(paintings)} readable paintings in {c.domain_b}: CycleGAN needs a folder of them")
    paintings, held_paintings = (split_holdout(paintings, c.holdout_b, cfg.seed, "cyclegan.holdout_b", "paintings")
                                 if c.holdout_b else (paintings, []))
    return photos_train, held_photos, paintings, held_paintings


def reference_scores(held: HeldOut, photos: torch.Tensor, paintings: list[Path], size: int
                     ) -> dict[str, dict[str, float]]:
    """Where the held-out curves start and where they aim: the photos themselves (a generator that is the
    identity) and, when there are held-out paintings, as many training paintings as photos."""
    scores = held.score(photos)
    references = {"photos": scores | {"cycle_grid_peak": scores["grid_peak"]}}  # a perfect way back is the photo
    if held.domain is not None:
        some = sample_photos(paintings, size)
        references["training paintings"] = held.domain(some) | {"grid_peak": periodic_peak(some),
                                                                 "regular_texture": float(texture_rebound(some).mean())}
    return references


def final_plots(out: Path, history: list[dict[str, float]], val_history: list[dict[str, float]],
                last: dict[str, float], references: dict[str, dict[str, float]]) -> None:
    """``discriminators.png`` (D(real) / D(fake)) and ``held_out.png`` (the scores of every sample step): at the
    end of training, or from the files of a run that stopped early (experiments/cyclegan_partial_plots.py);
    a panel for each score ``last`` has."""
    if history:
        discriminator_scores(history, out / "discriminators.png")
    held_out_curves(val_history, out / "held_out.png", [p for p in HELD_OUT_PANELS if p[0] in last], references)


def train(cfg: RunConfig, *, progress: bool = True, resume: bool = True,
          cache: ProcessCache | None = None) -> RunMetrics:
    """Train (or resume training) photo <-> artist; returns what is written to ``metrics.json``."""
    c, t = cfg.cyclegan, cfg.train
    run = start_run(cfg, cache)
    get_method(cfg.method).check(cfg)
    photos_train, held_photos, paintings, held_paintings = split_domains(cfg)
    training = Training(run, t, resume, optimizer_steps_per_step=CycleGANModule.OPTIMIZER_STEPS_PER_STEP)
    if training.finished is not None:
        return training.finished
    photos = sample_photos(held_photos, cfg.image.size)
    held = held_out_set(cfg, photos, held_paintings, paintings, run.cache, progress)
    references = reference_scores(held, photos, paintings[:len(held_photos)], cfg.image.size)
    write_json(run.out / "references.json", references)  # beside val_history.json while the run trains
    artist = Path(c.domain_b).name
    name = f"cyclegan-{Path(c.domain_a).name}-{artist}"
    run.open(name, job_type="train-cyclegan", resumed_from_step=training.start)
    meta = {"domain_a": c.domain_a, "domain_b": c.domain_b, "artist": artist, "config": run.config,
            "held_out": [str(p) for p in held_photos], "paintings": [str(p) for p in paintings],
            "held_out_paintings": [str(p) for p in held_paintings]}

    torch.manual_seed(cfg.seed)
    module = CycleGANModule(*build_networks(c), lr=c.lr, beta1=c.beta1, lambda_cycle=c.lambda_cycle,
                            lambda_identity=c.lambda_identity, lambda_grid=c.lambda_grid,
                            grid_tolerance=c.grid_tolerance, lambda_regular=c.lambda_regular,
                            regular_tolerance=c.regular_tolerance, pool_size=c.pool_size, steps=t.steps,
                            decay_from=round(c.decay_from * t.steps), cycle_noise=c.cycle_noise, d_lr=c.d_lr,
                            g_ema=c.g_ema, d_augment=c.d_augment)

    def export(module: CycleGANModule, step: int) -> None:
        g_ab, g_ba = module.generators()
        save_generator(g_ab, run.out / "generator.safetensors", step=step, direction="a2b", **meta)
        save_generator(g_ba, run.out / "generator_ba.safetensors", step=step, direction="b2a", **meta)

    def data(first: int) -> UnpairedCrops:
        count = (t.steps - training.start) * t.batch
        return UnpairedCrops(RandomCrops(photos_train, t.crop, count, cfg.seed, first=first, scale=c.a_scale),
                             RandomCrops(paintings, t.crop, count, cfg.seed + 1, first=first, scale=c.b_scale))

    sample = training.sampler(photos, held, f"photo | {artist} | back to photo")

    def sample_and_keep(module: CycleGANModule, step: int) -> None:
        """Every sample step's photo -> painting generator is kept beside its scores (``generators/``): the best
        one is rarely the last, and the held-out curves say which it is."""
        sample(module, step)
        save_generator(module.generators()[0], kept_generator(run.out, step), step=step,
                       direction="a2b", **meta)

    training.fit(module, data, sample_and_keep, export, run.out / "generator.safetensors", name, progress)

    grid, val = held.final(module, photos.to(cfg.device), training.val_history, t.steps)
    with torch.no_grad():
        save_image(module.generators()[0].eval()(photos[:1].to(cfg.device)), run.out / "stylized.jpg")
    final_plots(run.out, module.history, training.val_history, val, references)
    return training.finish(
        module, grid, val, PLOTTED, 50, "held-out photos: photo | A->B | A->B->A",
        held_out_photos=[str(p) for p in held_photos], held_out_paintings=[str(p) for p in held_paintings],
        paintings=len(paintings), training_photos=len(photos_train), references=references,
        content_check=held.check.describe(),
        painting_domain=held.domain.describe() if held.domain is not None else None,
        networks={"generator_parameters": sum(p.numel() for p in module.g_ab.parameters()),
                  "discriminator_parameters": sum(p.numel() for p in module.d_a.parameters())})
