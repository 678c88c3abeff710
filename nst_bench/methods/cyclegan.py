"""CycleGAN (Zhu et al. 2017): unpaired photo <-> artist translation.

ResNet generators (reflection padding, instance norm; x2 upsampling by transposed convolution as in the paper, or
by a nearest or bilinear resize and a convolution), 70x70 PatchGAN
discriminators, least-squares GAN loss, cycle loss (lambda 10) and identity loss (0.5 lambda), a history pool of
50 generated images per domain, Adam (lr 2e-4, beta1 0.5) with a linear decay to zero, N(0, 0.02) init. Images
are RGB in [0, 1] at the interface and [-1, 1] inside, as in the paper's code.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from nst_bench.config import CHOICES, RunConfig
from nst_bench.errors import UserError
from nst_bench.losses.artefacts import periodic_ratio, texture_rebound
from nst_bench.methods.common import TrainedNetwork
from nst_bench.methods.registry import register_method
from nst_bench.nets.netfile import load_network_file, save_network_file
from nst_bench.run.cache import ProcessCache
from nst_bench.run.trainer import record_step

# cyclegan.g_norm -> (norm up to and in the residual blocks, norm in the upsampling blocks)
NORMS = {"instance": ("instance", "instance"), "pixel": ("pixel", "pixel"), "pixel_decoder": ("instance", "pixel")}


class PixelNorm(nn.Module):
    """Each pixel's feature vector scaled to unit mean square over the channels (Karras et al. 2018). Unlike
    instance norm it uses no statistic of the whole image, so a generator gains nothing by painting a strong local
    spike to steer that statistic: the dark "droplets" of Karras et al. 2020 (StyleGAN2, section 2.1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.float().square().mean(1, keepdim=True) + 1e-8).to(x.dtype)


def norm_layer(norm: str, channels: int) -> nn.Module:
    """One layer's norm: ``instance`` or ``pixel`` (``ResnetGenerator`` resolves ``pixel_decoder`` per layer)."""
    if norm == "instance":
        return nn.InstanceNorm2d(channels)
    if norm == "pixel":
        return PixelNorm()
    raise UserError(f"unknown cyclegan.g_norm {norm!r}: choose {', '.join(NORMS)}")


class Blur(nn.Module):
    """Fixed [1, 2, 1] x [1, 2, 1] / 16 low-pass per channel (Zhang 2019, "Making convolutional networks
    shift-invariant again"). Before a stride-2 conv it damps what that stride would alias (it zeroes the exact
    Nyquist rate, a 2-pixel period, and halves a 4-pixel one), so a pattern at the next layer's Nyquist rate
    hardly reaches the deeper layers; after a x2 upsampling it damps the copy of the spectrum the resize leaves."""

    def __init__(self) -> None:
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16).expand(1, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.kernel.expand(c, 1, 3, 3).to(x.dtype), groups=c)


class NoiseInput(nn.Module):
    """Per-pixel Gaussian noise, one map shared by the channels, times a learnt per-channel scale that starts at 0
    (Karras et al. 2019, StyleGAN's noise inputs). A generator that must paint fine texture from a map at a quarter
    of the resolution has only its upsampling to draw it with, and what that draws repeats with the pixel lattice
    (the grid, results/cyclegan); noise gives it texture that repeats nowhere. In eval mode the noise comes from a
    fixed seed, so that a photo (or the same batch of photos) always gets the same translation."""

    SEED = 0

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        rng = None if self.training else torch.Generator(device=x.device).manual_seed(self.SEED)
        noise = torch.randn(n, 1, h, w, generator=rng, device=x.device, dtype=x.dtype)
        return x + self.scale.to(x.dtype) * noise


def conv_block(c_in: int, c_out: int, kernel: int, stride: int = 1, relu: bool = True, norm: str = "instance",
               antialias: bool = False, noise: bool = False) -> list[nn.Module]:
    """Conv, norm, ReLU; ``antialias`` blurs before a stride-2 conv so that it does not alias; ``noise`` adds
    ``NoiseInput`` after the conv, before the norm."""
    pad = [nn.ReflectionPad2d(kernel // 2)] if stride == 1 else []
    blur = [Blur()] if antialias and stride > 1 else []
    conv = nn.Conv2d(c_in, c_out, kernel, stride, padding=0 if stride == 1 else kernel // 2)
    return [*blur, *pad, conv, *([NoiseInput(c_out)] if noise else []), norm_layer(norm, c_out),
            *([nn.ReLU(True)] if relu else [])]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, norm: str = "instance") -> None:
        super().__init__()
        self.body = nn.Sequential(*conv_block(channels, channels, 3, norm=norm),
                                  *conv_block(channels, channels, 3, relu=False, norm=norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


UPSAMPLING = CHOICES["cyclegan.upsample"]


def up_block(c_in: int, c_out: int, upsample: str, norm: str = "instance", antialias: bool = False,
             noise: bool = False) -> list[nn.Module]:
    """x2 upsampling: the paper's transposed convolution (kernel 3, stride 2: its kernel overlaps itself unevenly,
    Odena et al.'s checkerboard), or a resize then a 3x3 convolution. ``antialias`` blurs the resized map: what
    was at the half-resolution map's Nyquist rate (a 4-pixel period here) is damped instead of passed on."""
    if upsample == "transposed":
        return [nn.ConvTranspose2d(c_in, c_out, 3, 2, padding=1, output_padding=1), *([Blur()] if antialias else []),
                *([NoiseInput(c_out)] if noise else []), norm_layer(norm, c_out), nn.ReLU(True)]
    if upsample not in UPSAMPLING:
        raise UserError(f"unknown cyclegan.upsample {upsample!r}: choose {', '.join(UPSAMPLING)}")
    resize = nn.Upsample(scale_factor=2, mode=upsample, **({"align_corners": False} if upsample == "bilinear" else {}))
    return [resize, *([Blur()] if antialias else []), *conv_block(c_in, c_out, 3, norm=norm, noise=noise)]


def mirrored(g: nn.Module, x: torch.Tensor, border: int) -> torch.Tensor:
    """``g(x)`` with ``border`` px of the photo mirrored around it, then cropped back: the generators' stride-2
    convolutions pad with zeros, and near an edge they paint a band of their own (results/cyclegan, "The band along
    the edges"); with the photo continued past the edge that band falls outside the crop. 0 = ``g(x)``."""
    if border <= 0:
        return g(x)
    border = min(border, x.shape[-2] - 1, x.shape[-1] - 1)  # reflection needs the image to be wider than the pad
    return g(F.pad(x, (border,) * 4, mode="reflect"))[..., border:-border, border:-border]


SKIP_CLAMP = 0.995  # atanh of the photo stays finite: its extremes come back as 0.25% and 99.75%


class ResnetGenerator(nn.Module):
    """c7s1-w, d2w, d4w, ``blocks`` x R4w, u2w, uw, c7s1-3 with tanh (Johnson's layout, as in the paper).
    ``antialias`` and ``norm="pixel"`` are this project's answers to the grid and the dark dots (results/cyclegan);
    ``norm="pixel_decoder"`` keeps instance norm where the photo is read (encoder and residual blocks) and uses
    pixel norm in the two upsampling blocks, where a trained generator's activations gather most in a few spots
    (results/cyclegan/van_gogh_g_aa/activation_spikes.csv: the top 0.1% of positions hold 6-11% of the energy
    there, 1-3.5% in the residual blocks, under 1% in the encoder). The defaults are the paper's generator."""

    def __init__(self, width: int = 64, blocks: int = 9, upsample: str = "transposed", *, antialias: bool = False,
                 norm: str = "instance", skip: bool = False, noise: bool = False) -> None:
        super().__init__()
        self.width, self.blocks, self.upsample, self.antialias, self.norm = width, blocks, upsample, antialias, norm
        self.skip, self.noise = skip, noise
        if norm not in NORMS:
            raise UserError(f"unknown cyclegan.g_norm {norm!r}: choose {', '.join(NORMS)}")
        down, up = NORMS[norm]
        w, kw = width, {"norm": down}
        self.net = nn.Sequential(
            *conv_block(3, w, 7, **kw), *conv_block(w, 2 * w, 3, 2, antialias=antialias, **kw),
            *conv_block(2 * w, 4 * w, 3, 2, antialias=antialias, **kw),
            *[ResidualBlock(4 * w, down) for _ in range(blocks)],
            *up_block(4 * w, 2 * w, upsample, up, antialias, noise),
            *up_block(2 * w, w, upsample, up, antialias, noise),
            nn.ReflectionPad2d(3), nn.Conv2d(w, 3, 7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] in and out; sizes not divisible by 4 are resampled back to the input's. With ``skip`` the
        network's output is added to the input before the tanh (the input mapped through atanh, so that an output of
        0 returns the photo): the generator starts as the identity and learns only the change, instead of learning
        to pass every pixel of the photo through a bottleneck at a quarter of its resolution."""
        x2 = x * 2 - 1
        z = self.net(x2)
        if z.shape[-2:] != x.shape[-2:]:
            z = F.interpolate(z, size=(x.shape[-2], x.shape[-1]), mode="bilinear", align_corners=False)
        if self.skip:
            z = z + torch.atanh(x2.clamp(-SKIP_CLAMP, SKIP_CLAMP)).to(z.dtype)
        return (torch.tanh(z) + 1) / 2


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN: C64 (no norm) - C128 - C256 - C512 (stride 1) - 1-channel map of real/fake scores.
    ``antialias`` puts a fixed blur before each stride-2 conv (the receptive field grows by a few pixels);
    ``blur_input=False`` leaves out the first of them, the one on the image itself, so that D still sees detail
    finer than a 4-pixel period (brushwork, and a blur where a painting would have it)."""

    def __init__(self, width: int = 64, layers: int = 3, antialias: bool = False, blur_input: bool = True) -> None:
        super().__init__()
        blur = [Blur()] if antialias else []
        mods: list[nn.Module] = [*(blur if blur_input else []), nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = width
        for i in range(1, layers + 1):
            c_out = width * min(2 ** i, 8)
            stride = 2 if i < layers else 1
            mods += [*(blur if stride == 2 else []), nn.Conv2d(c, c_out, 4, stride, 1), nn.InstanceNorm2d(c_out),
                     nn.LeakyReLU(0.2, True)]
            c = c_out
        mods.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)

    def spectral_normalize(self) -> PatchDiscriminator:
        """Spectral norm on every conv (after ``init_weights``): each layer's largest singular value is held at 1,
        so D's scores change at most linearly with its input and it cannot outrun the generator."""
        for i, m in enumerate(self.net):
            if isinstance(m, nn.Conv2d):
                self.net[i] = nn.utils.parametrizations.spectral_norm(m)
        return self


class FeatureDiscriminator(nn.Module):
    """A PatchGAN head on a frozen pretrained encoder's features (after Sauer et al. 2021, "Projected GANs converge
    faster"): a pixel discriminator here learns from scratch, one crop a step, and after 5,000 steps still scores
    a held-out painting barely above a photo (results/cyclegan, d_probe.json); features that already tell textures
    apart leave the head less to learn. The encoder is shared by both discriminators and kept out of the
    parameters and the state dict (a list, not a submodule): it is never trained and its weights are on disk."""

    def __init__(self, encoder: nn.Module, layer: str, channels: int, width: int = 256) -> None:
        super().__init__()
        self.encoder, self.layer = [encoder], layer
        self.head = nn.Sequential(nn.Conv2d(channels, width, 4, 1, 1), nn.InstanceNorm2d(width),
                                  nn.LeakyReLU(0.2, True), nn.Conv2d(width, 1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        encoder = self.encoder[0]
        if next(encoder.parameters()).device != x.device:
            encoder.to(x.device)
        return self.head(encoder(x, [self.layer])[self.layer])


class JointDiscriminator(nn.Module):
    """Several discriminators reading the same image, their score maps flattened and concatenated, so the LSGAN
    loss averages over all of their patches: a feature head beside a pixel PatchGAN (``d_features_on:
    paintings_with_pixels``) makes a texture that the features pool away cost the generator too. At 128 px crops
    both maps are 14x14, so the two weigh the same."""

    def __init__(self, *parts: nn.Module) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([d(x).flatten(1) for d in self.parts], 1)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """The paper's init: conv weights N(0, 0.02), biases 0 (instance norm here has no affine parameters). A
    generator with ``skip`` gets a zero last conv, so that it starts exactly as the identity."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    if isinstance(module, ResnetGenerator) and module.skip:
        nn.init.zeros_(module.net[-1].weight)


class ImagePool:
    """Shrivastava et al.'s history of generated images: the discriminator sees, half of the time, an older fake
    instead of the newest, which damps the oscillation between generator and discriminator."""

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        self.size, self.images = size, []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.random() < 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)


def augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """Differentiable augmentation of everything a discriminator reads, real and fake alike (DiffAugment, Zhao et
    al. 2020): with 160 paintings a discriminator learns the paintings instead of painting, and a generator can win
    with a pattern locked to a place on the pixel lattice. ``translation`` shifts each image by up to 1/8 of its
    size (zeros fill in), ``cutout`` also greys out a square of half its size; ``scale`` first resizes it by a
    factor between 0.76 and 1.32 (2 ** U(-0.4, 0.4)), so that a pattern of fixed period in the generator's output
    reaches the discriminator at a different period each time and cannot lock to its feature stride (8 px for
    relu4_3); each image draws its own."""
    if policy == "none":
        return x
    h, w = x.shape[-2:]
    out = []
    for image in x:
        if "scale" in policy:
            image = _rescale(image, 2.0 ** float(torch.empty(()).uniform_(-0.4, 0.4)))
        if "translation" in policy:
            dy, dx = (int(torch.randint(-(s // 8), s // 8 + 1, ())) for s in (h, w))
            image = F.pad(image, (w // 8, w // 8, h // 8, h // 8))[:, h // 8 + dy:h // 8 + dy + h,
                                                                   w // 8 + dx:w // 8 + dx + w]
        if "cutout" in policy:
            y0, x0 = int(torch.randint(0, h - h // 2 + 1, ())), int(torch.randint(0, w - w // 2 + 1, ()))
            mask = torch.ones_like(image[:1])
            mask[:, y0:y0 + h // 2, x0:x0 + w // 2] = 0
            image = image * mask + 0.5 * (1 - mask)
        out.append(image)
    return torch.stack(out)


def _rescale(image: torch.Tensor, factor: float) -> torch.Tensor:
    """``image`` resized by ``factor`` (antialiased when shrinking) and brought back to its own size: a random
    window of a larger one, or a smaller one at a random place on zeros."""
    h, w = image.shape[-2:]
    size = (max(1, round(h * factor)), max(1, round(w * factor)))
    big = F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False,  # antialias: float32 only
                        antialias=factor < 1)[0].to(image.dtype)
    bh, bw = big.shape[-2:]
    if bh >= h and bw >= w:
        y0, x0 = int(torch.randint(0, bh - h + 1, ())), int(torch.randint(0, bw - w + 1, ()))
        return big[:, y0:y0 + h, x0:x0 + w]
    y0, x0 = int(torch.randint(0, h - bh + 1, ())), int(torch.randint(0, w - bw + 1, ()))
    return F.pad(big, (x0, w - bw - x0, y0, h - bh - y0))


def lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    return F.mse_loss(scores, torch.full_like(scores, 1.0 if real else 0.0))


def linear_decay(step: int, total: int, decay_from: int) -> float:
    """LR multiplier: 1 until ``decay_from``, then linearly to 0 at ``total``."""
    if step < decay_from:
        return 1.0
    return max(0.0, 1.0 - (step - decay_from) / max(1, total - decay_from))


class CycleGANModule(pl.LightningModule):
    """Both generators and both discriminators; manual optimisation, one generator and one discriminator update
    per step. A is the photo domain, B the artist's."""

    OPTIMIZER_STEPS_PER_STEP = 2  # generators, then discriminators: Lightning's global_step counts both

    def __init__(self, g_ab: ResnetGenerator, g_ba: ResnetGenerator, d_a: PatchDiscriminator,
                 d_b: PatchDiscriminator, *, lr: float = 2e-4, beta1: float = 0.5, lambda_cycle: float = 10.0,
                 lambda_identity: float = 0.5, pool_size: int = 50, steps: int = 1000, decay_from: int = 500,
                 cycle_noise: float = 0.0, d_lr: float | None = None, g_ema: float = 0.0,
                 lambda_grid: float = 0.0, grid_tolerance: float = 1.0, d_augment: str = "none",
                 lambda_regular: float = 0.0, regular_tolerance: float = 0.14) -> None:
        super().__init__()
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.g_ema = g_ema
        if g_ema > 0:  # in the state dict, so a resumed run keeps its average
            self.g_ab_ema, self.g_ba_ema = (copy.deepcopy(g).requires_grad_(False) for g in (g_ab, g_ba))
        self.lr, self.d_lr, self.beta1 = lr, lr if d_lr is None else d_lr, beta1
        self.lambda_cycle, self.lambda_identity, self.lambda_grid = lambda_cycle, lambda_identity, lambda_grid
        self.grid_tolerance, self.d_augment = grid_tolerance, d_augment
        self.lambda_regular, self.regular_tolerance = lambda_regular, regular_tolerance
        self.pool_a, self.pool_b = ImagePool(pool_size, 1), ImagePool(pool_size, 2)
        self.steps, self.decay_from, self.cycle_noise = steps, decay_from, cycle_noise
        self.automatic_optimization = False
        self.history: list[dict[str, float]] = []

    def generators(self) -> tuple[ResnetGenerator, ResnetGenerator]:
        """The generators to score, sample and save: the moving averages when ``g_ema`` > 0, else the trained."""
        return (self.g_ab_ema, self.g_ba_ema) if self.g_ema > 0 else (self.g_ab, self.g_ba)

    @torch.no_grad()
    def update_averages(self, step: int) -> None:
        """EMA of the generators' weights; the decay ramps up from 0 so that early averages are not the init."""
        decay = min(self.g_ema, (1 + step) / (10 + step))
        for live, avg in ((self.g_ab, self.g_ab_ema), (self.g_ba, self.g_ba_ema)):
            torch._foreach_lerp_(list(avg.parameters()), list(live.parameters()), 1 - decay)

    def configure_optimizers(self) -> tuple[list, list]:
        betas = (self.beta1, 0.999)
        opt_g = torch.optim.Adam([*self.g_ab.parameters(), *self.g_ba.parameters()], lr=self.lr, betas=betas)
        opt_d = torch.optim.Adam([*self.d_a.parameters(), *self.d_b.parameters()], lr=self.d_lr, betas=betas)
        decay = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: linear_decay(s, self.steps, self.decay_from))
                 for o in (opt_g, opt_d)]
        return [opt_g, opt_d], decay

    def jitter(self, fake: torch.Tensor) -> torch.Tensor:
        """Gaussian noise on a translation before the way back (``cycle_noise``, pixels in [0, 1]): a code hidden
        in a faint pattern no longer survives the round trip, so the cycle loss stops paying for one."""
        return fake + self.cycle_noise * torch.randn_like(fake) if self.cycle_noise > 0 else fake

    def seen(self, images: torch.Tensor) -> torch.Tensor:
        """What the discriminators read in training: the images through ``d_augment``."""
        return augment(images, self.d_augment)

    def generator_losses(self, a: torch.Tensor, b: torch.Tensor) -> tuple[dict[str, torch.Tensor], tuple]:
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        terms = {"gan_ab": lsgan(self.d_b(self.seen(fake_b)), True),
                 "gan_ba": lsgan(self.d_a(self.seen(fake_a)), True),
                 "cycle_a": F.l1_loss(self.g_ba(self.jitter(fake_b)), a) * self.lambda_cycle,
                 "cycle_b": F.l1_loss(self.g_ab(self.jitter(fake_a)), b) * self.lambda_cycle}
        if self.lambda_identity > 0:  # a generator fed its own output domain should leave it alone
            w = self.lambda_cycle * self.lambda_identity
            terms["idt_a"] = F.l1_loss(self.g_ba(a), a) * w
            terms["idt_b"] = F.l1_loss(self.g_ab(b), b) * w
        if self.lambda_grid > 0:  # spectral power on the 4-pixel lattice above its neighbours', where photos and
            # paintings have none to spare (Durall et al. 2020 penalise the whole spectrum; this only the lattice).
            # Below the tolerance nothing pushes: at 1, lambda_grid 1 flattened the outputs (van_gogh_grid_penalty)
            excess = (periodic_ratio(x) / self.grid_tolerance for x in (fake_a, fake_b))
            terms["grid"] = self.lambda_grid * sum(r.log().clamp_min(0) for r in excess)
        if self.lambda_regular > 0:  # a texture that repeats at one scale, any period and orientation: what a
            # viewer still saw as a mesh once the lattice was paid for (monet_grid_tolerance)
            excess = (texture_rebound(x).mean() - self.regular_tolerance for x in (fake_a, fake_b))
            terms["regular"] = self.lambda_regular * sum(e.clamp_min(0) for e in excess)
        terms["g"] = sum(terms.values())
        return terms, (fake_a, fake_b)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        a, b = batch
        opt_g, opt_d = self.optimizers()
        # generators, with the discriminators frozen
        self.d_a.requires_grad_(False)
        self.d_b.requires_grad_(False)
        terms, (fake_a, fake_b) = self.generator_losses(a, b)
        opt_g.zero_grad()
        self.manual_backward(terms["g"])
        opt_g.step()
        if self.g_ema > 0:
            self.update_averages(self.global_step // self.OPTIMIZER_STEPS_PER_STEP)
        # discriminators, on real images and pooled fakes
        self.d_a.requires_grad_(True)
        self.d_b.requires_grad_(True)
        pa, pb = self.pool_a.query(fake_a), self.pool_b.query(fake_b)
        scores = {"a_real": self.d_a(self.seen(a)), "a_fake": self.d_a(self.seen(pa)),
                  "b_real": self.d_b(self.seen(b)), "b_fake": self.d_b(self.seen(pb))}
        terms["d_a"] = 0.5 * (lsgan(scores["a_real"], True) + lsgan(scores["a_fake"], False))
        terms["d_b"] = 0.5 * (lsgan(scores["b_real"], True) + lsgan(scores["b_fake"], False))
        terms["d"] = terms["d_a"] + terms["d_b"]
        # the discriminators' mean scores (LSGAN targets: 1 real, 0 fake): D(real) near 1 and D(fake) near 0 for
        # long means the discriminator has won and the generator learns from a saturated signal
        terms |= {f"D_{k}": v.mean() for k, v in scores.items()}
        opt_d.zero_grad()
        self.manual_backward(terms["d"])
        opt_d.step()
        for sched in self.lr_schedulers():
            sched.step()
        values = {k: float(v.detach()) for k, v in terms.items()}
        if not all(math.isfinite(v) for v in values.values()):
            raise UserError(f"a CycleGAN loss became non-finite at step {self.global_step}: lower train.lr and "
                            "resume from the last checkpoint")
        # iterations completed: Lightning counts each of the two optimizer steps
        record_step(self, values, self.global_step // self.OPTIMIZER_STEPS_PER_STEP, ("g", "d", "cycle_a", "gan_ab"))


# --- trained generators on disk --------------------------------------------------------------------------------
FORMAT = "nst-bench/cyclegan-generator-v1"
HINT = "train one with `nst-bench train cyclegan` and pass its generator.safetensors as cyclegan.checkpoint"


def save_generator(g: ResnetGenerator, path: Path, **meta: Any) -> Path:
    return save_network_file(g, path, {"format": FORMAT, "width": g.width, "blocks": g.blocks,
                                       "upsample": g.upsample, "antialias": g.antialias, "norm": g.norm, "skip": g.skip,
                                       "noise": g.noise, **meta})


def load_generator(path: str | Path) -> tuple[ResnetGenerator, dict[str, Any]]:
    """A trained photo -> artist generator (eval mode) and its metadata."""
    tensors, meta = load_network_file(path, FORMAT, "CycleGAN generator", HINT)
    g = ResnetGenerator(meta["width"], meta["blocks"], meta["upsample"], antialias=meta.get("antialias", False),
                        norm=meta.get("norm", "instance"), skip=meta.get("skip", False),
                        noise=meta.get("noise", False))  # older files: the paper's
    g.load_state_dict(tensors)
    return g.eval().requires_grad_(False), meta


@register_method
class CycleGAN(TrainedNetwork):
    """A trained photo -> artist generator (``nst-bench train cyclegan``); its styles are its paintings."""

    name = "cyclegan"
    sections = ("cyclegan",)
    checkpoint_key = "cyclegan.checkpoint"
    made_by = "generator.safetensors from `nst-bench train cyclegan`"

    def load(self, path: str) -> tuple[ResnetGenerator, dict[str, Any]]:
        return load_generator(path)

    def forward(self, net: ResnetGenerator, cfg: RunConfig) -> Callable[..., torch.Tensor]:
        return lambda content, styles, blend: mirrored(net, content, cfg.cyclegan.border)

    def complete(self, cfg: RunConfig, cache: ProcessCache) -> None:
        cfg.styles = cfg.styles or list(self.network(cfg, cache)[1]["paintings"])
