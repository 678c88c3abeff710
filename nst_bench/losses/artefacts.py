"""A number for the grid artefact of generators with a total stride of 4 (here, below the recipes, which score
it during training): a pattern that repeats every 4 pixels puts spectral power on a lattice of frequencies
(multiples of 1/4 cycle per pixel on each axis), where natural images have no more power than at the frequencies
beside them. Measured on the output, it separates a generator's own texture from the photo's, since both are
compared at the same frequencies. The ratio is differentiable, so a generator can also be trained against it
(``cyclegan.lambda_grid``). Once the lattice is penalised, ``radial_power`` shows what a generator puts elsewhere in
the spectrum: texture at other periods, or ripples along edges, that no lattice number sees."""

from __future__ import annotations

import torch


@torch.no_grad()
def periodic_peak(images: torch.Tensor, period: int = 4, ring: int = 2) -> float:
    """``periodic_ratio`` as a number: the score of a batch of outputs."""
    return float(periodic_ratio(images, period, ring))


def windowed_power(images: torch.Tensor) -> torch.Tensor:
    """Spectral power of each grey, mean-free, Hann-windowed image of a batch (N x C x H x W): N x H x W."""
    gray = images.float().mean(1)
    gray = gray - gray.mean((-2, -1), keepdim=True)
    h, w = gray.shape[-2:]
    window = torch.hann_window(h, periodic=False)[:, None] * torch.hann_window(w, periodic=False)[None, :]
    return torch.fft.fft2(gray * window).abs().square()


@torch.no_grad()
def radial_power(images: torch.Tensor) -> torch.Tensor:
    """Mean spectral power of ``images`` per whole number of cycles across the image (the radius of the frequency,
    0 to half the shorter side): the radially averaged spectrum of Durall et al. 2020. Divided by a painting set's
    own, a bump says at which scale a generator adds texture the paintings do not have."""
    power = windowed_power(images).mean(0)
    h, w = power.shape
    fy, fx = torch.fft.fftfreq(h) * h, torch.fft.fftfreq(w) * w
    radius = (fy[:, None].square() + fx[None, :].square()).sqrt().round().long().flatten()
    keep = radius <= min(h, w) // 2
    sums = torch.bincount(radius[keep], weights=power.flatten()[keep].double())
    counts = torch.bincount(radius[keep])
    return (sums / counts.clamp_min(1)).float()


def periodic_ratio(images: torch.Tensor, period: int = 4, ring: int = 2) -> torch.Tensor:
    """Mean spectral power of ``images`` (N x C x H x W in [0, 1]) at the harmonics of a ``period``-pixel grid
    (DC excluded), over the mean power ``ring`` bins beside them on both axes. About 1 for photos; a visible
    4-pixel grid gives tens. The sides are cut to multiples of ``period`` and windowed against edge leakage."""
    h, w = (s - s % period for s in images.shape[-2:])
    if h < 4 * period or w < 4 * period:
        raise ValueError(f"periodic_peak needs images of at least {4 * period} px a side, got {tuple(images.shape)}")
    power = windowed_power(images[..., :h, :w]).mean(0)
    peaks = [(i * h // period, j * w // period) for i in range(period) for j in range(period) if i or j]
    offsets = [(dy, dx) for dy in (-ring, 0, ring) for dx in (-ring, 0, ring) if dy or dx]
    at = torch.stack([power[y, x] for y, x in peaks])
    beside = torch.stack([power[(y + dy) % h, (x + dx) % w] for y, x in peaks for dy, dx in offsets])
    return at.mean() / beside.mean().clamp_min(1e-12)
