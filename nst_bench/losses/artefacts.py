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


def texture_rebound(images: torch.Tensor, tile: int = 64, radii: tuple[int, int] = (2, 7),
                    angles: int = 36) -> torch.Tensor:
    """How regular the fine texture of each ``tile``-px tile is, whatever its period or orientation: the local
    autocorrelation of a high-passed channel rises again after falling (a texture that repeats at a dominant
    scale), where brush strokes, grass and noise decay along every direction. Per tile and channel, the largest rise
    of the normalised autocorrelation over its running minimum along rays from the centre, at offsets ``radii`` px
    (up to 7: the photos and paintings are JPEGs, whose 8 px blocks repeat): 0 for monotone decay, near 1 for a
    perfect lattice. The channels are the grey level and two colour-opponent
    ones (red-green, yellow-blue): a crosshatch of pink on yellow can be nearly flat in grey. Returns the largest
    of the three per tile (N * tiles values); differentiable, so a generator can also be trained against it
    (``cyclegan.lambda_regular``). Images smaller than ``tile`` are read as one tile each."""
    tile = min(tile, *images.shape[-2:])
    if tile < 2 * radii[1] + 2:
        raise ValueError(f"texture_rebound needs images of at least {2 * radii[1] + 2} px a side, got "
                         f"{tuple(images.shape)}")
    with torch.autocast(images.device.type, enabled=False):  # FFTs and grid_sample in float32 under bf16 training
        r, g, b = images.float().unbind(1)
        channels = torch.stack([(r + g + b) / 3, (r - g) / 2, (r + g - 2 * b) / 4], 1).flatten(0, 1)[:, None]
        rebound = _channel_rebound(channels, tile, radii, angles)
        return rebound.unflatten(0, (len(images), 3)).amax(1).flatten()


def _channel_rebound(channel: torch.Tensor, tile: int, radii: tuple[int, int], angles: int) -> torch.Tensor:
    """``texture_rebound`` of single-channel images (M x 1 x H x W): M x tiles values, image by image."""
    blur = torch.nn.functional.avg_pool2d(channel, 5, stride=1, padding=2, count_include_pad=False)
    h, w = (n - n % tile for n in channel.shape[-2:])  # whole tiles only
    high = (channel - blur)[..., :h, :w]
    per_image = (high.shape[-2] // tile) * (high.shape[-1] // tile)
    tiles = high.unfold(2, tile, tile).unfold(3, tile, tile).reshape(-1, tile, tile)
    tiles = tiles - tiles.mean((-2, -1), keepdim=True)
    window = torch.hann_window(tile, periodic=False, device=channel.device)
    spectrum = torch.fft.rfft2(tiles * window[:, None] * window[None, :], s=(2 * tile, 2 * tile))
    acf = torch.fft.fftshift(torch.fft.irfft2(spectrum.abs().square(), s=(2 * tile, 2 * tile)), dim=(-2, -1))
    acf = acf / acf[:, tile, tile, None, None].detach().clamp_min(1e-12)  # detached: more noise is no way out
    theta = torch.arange(angles, device=channel.device) * torch.pi / angles  # symmetric: half a turn is enough
    r = torch.arange(radii[1] + 1.0, device=channel.device)
    offsets = torch.stack([r[None, :] * theta.cos()[:, None], r[None, :] * theta.sin()[:, None]], -1)
    xy = (offsets + 0.5) / tile  # grid_sample's coordinates of lag 0 (pixel ``tile``) and the offsets from it
    rays = torch.nn.functional.grid_sample(acf[:, None], xy[None].expand(len(acf), -1, -1, -1),
                                           align_corners=False)[:, 0]  # tiles x angles x radii
    rise = rays - rays.cummin(-1).values.clamp_min(0)  # back up to a positive correlation, not just to 0
    return rise[..., radii[0]:].amax((-2, -1)).view(-1, per_image)
