"""Image I/O: anything PIL can read becomes an RGB float tensor in [0, 1], shape (1, 3, H, W).

Odd files are the norm in artists' datasets (palette GIFs, RGBA PNGs, 16-bit TIFFs, CMYK JPEGs), so they are
converted here once and every method sees the same thing.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from nst_bench.errors import UserError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_SOURCE_PIXELS = 200_000_000  # refuse to decode anything larger (PIL's own bomb limit is 179M)


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """PIL image of any mode -> float32 RGB array in [0, 1]; transparency is composited over white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float32)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / top, 0.0, 1.0)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "P", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
        rgba = np.asarray(im, dtype=np.float32) / 255.0
        alpha = rgba[..., 3:]
        return rgba[..., :3] * alpha + (1.0 - alpha)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    """An H x W x 3 float array in [0, 1] as a (1, 3, H, W) tensor."""
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0)


def read_image(path: str | Path, max_pixels: int = MAX_SOURCE_PIXELS) -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) float tensor in [0, 1]; a user mistake becomes a UserError."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"image not found: {p} (check the path)")
    if p.is_dir():
        raise UserError(f"{p} is a directory, not an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, with a clearer message
            with Image.open(p) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise UserError(f"{p} is {w}x{h} px, above the limit of {max_pixels:,} px: "
                                    "downscale it first or raise image.max_pixels")
                im.load()
                arr = _to_rgb_array(im)
    except UnidentifiedImageError as e:
        raise UserError(f"{p} is not an image PIL can read: give a JPEG, PNG, TIFF, WebP, BMP or GIF file") from e
    except OSError as e:
        raise UserError(f"cannot read image {p}: {e} (is the file truncated or corrupt?)") from e
    return _to_tensor(arr)


def fit_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(H, W) scaled so that the longer side is ``long_side``, aspect ratio kept."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def scaled_size(height: int, width: int, fraction: float) -> tuple[int, int]:
    """(H, W) times ``fraction``, each side rounded (so ``fraction`` 1 is the image's own size)."""
    return max(1, round(height * fraction)), max(1, round(width * fraction))


def pyramid(height: int, width: int, fractions: Sequence[float], min_side: int = 1) -> list[tuple[int, int]]:
    """Image sizes coarse to fine, one per fraction of the long side: Gatys' ``scales`` and DeepDream's octaves.
    Levels whose short side would fall below ``min_side`` are skipped; the finest level always stays."""
    sizes = [scaled_size(height, width, f) for f in fractions]
    kept = [s for s in sizes[:-1] if min(s) >= min_side]
    return [*kept, sizes[-1]]


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize, clamped back into [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bicubic", antialias=True, align_corners=False).clamp_(0, 1)


def load_image(path: str | Path, long_side: int | None = None, *, max_pixels: int = MAX_SOURCE_PIXELS,
               min_side: int = 1) -> torch.Tensor:
    """Read and resize to ``long_side`` px on the long side; refuse results smaller than ``min_side``."""
    image = read_image(path, max_pixels)
    if long_side is not None:
        h, w = image.shape[-2:]
        if max(h, w) < long_side / 4:
            log.warning("%s is only %dx%d px: upscaling it to %d px will look blurry", path, w, h, long_side)
        image = resize(image, fit_size(h, w, long_side))
    h, w = image.shape[-2:]
    if min(h, w) < min_side:
        raise UserError(f"{path} is {w}x{h} px after resizing, but the network needs at least {min_side} px "
                        f"on each side for the layers asked for: use a larger --size or shallower layers")
    return image


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels."""
    with Image.open(path) as im:
        return im.size


def _to_pil(image: torch.Tensor) -> Image.Image:
    arr = (image.detach().float().clamp(0, 1).squeeze(0).permute(1, 2, 0).cpu().numpy() * 255.0).round()
    return Image.fromarray(arr.astype(np.uint8))


def save_image(image: torch.Tensor, path: str | Path, quality: int = 92) -> Path:
    """Save a (1, 3, H, W) or (3, H, W) tensor in [0, 1]; the format follows the suffix."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    _to_pil(image).save(p, quality=quality)
    return p


def as_saved_jpeg(image: torch.Tensor, quality: int = 92) -> torch.Tensor:
    """``image`` as ``save_image`` to a .jpg and ``read_image`` would give it back: a clean image scored on the
    same footing as a saved stylization."""
    buffer = io.BytesIO()
    _to_pil(image).save(buffer, format="JPEG", quality=quality)
    with Image.open(buffer) as im:
        arr = _to_rgb_array(im)
    return _to_tensor(arr)


# --- colour ---------------------------------------------------------------------------------------------------
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_YIQ).to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Luminance as a 3-channel grey image, so a colour network can look at it."""
    return rgb_to_yiq(image)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Shift and scale ``image``'s luminance to the mean and std of ``reference``'s (Gatys et al. 2017, sec. 3)."""
    y, ref = luminance(image), luminance(reference)
    return ((y - y.mean()) * (ref.std() / (y.std() + 1e-8)) + ref.mean()).clamp(0, 1)


def recombine_colour(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance of ``stylized`` with the chrominance (I, Q) of ``content``: colour preservation."""
    if stylized.shape[-2:] != content.shape[-2:]:
        content = resize(content, tuple(stylized.shape[-2:]))
    yiq = torch.cat([rgb_to_yiq(stylized)[:, :1], rgb_to_yiq(content)[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


def list_images(folder: str | Path) -> list[Path]:
    """Image files in a folder, sorted, so runs are reproducible."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
