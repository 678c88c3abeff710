"""Does a feed-forward network's output still show the photo? A check every trained network reports, because the
Gatys objective alone cannot tell: a network that paints the same texture over every photo can have a lower
content loss than one that keeps the photo.

On held-out photos it reports the ImageNet classifier's top-5 agreement between photo and output (the share of
the photo's five most likely classes that are also among the output's five), SSIM and LPIPS to the photo, and
**identified**: the share of outputs whose nearest held-out photo under LPIPS is their own photo (1 for the
identity; 1/N for a network that ignores its input), and **identified_local**: the same question asked of each
of a 4 x 4 grid of tiles (is the output's tile nearest the same tile of its own photo, among the held-out photos'
tiles at that place?). A network is **collapsed** when either share is below ``FLOOR`` x pretrained AdaIN's on
the same photos and painting.

Why the tiles: the whole-image question is lenient. Starry Night's network at step 100 had painted blue blobs
over most of every photo and kept only the brightest outlines, yet 7 of its 8 outputs were nearest their own
photo; 59% of its tiles were, against 97% at step 600 (results/fast/diagnosis/tiles/tiles.csv, scored on the
saved JPEG sample grids by experiments/content_check_on_samples.py).

Tiles are exact quarters of every layer's distance map when the side is a multiple of 64 (the held-out photos
are 256 px); otherwise adaptive pooling makes neighbouring tiles overlap by a row or two. A deep layer's tile
still sees most of the image, so a tile is a place to look, not an independent crop.

Why identification and not the top-5 agreement: on strong styles the classifier sees a painting, not the photo's
class, whatever the method. On La Muse the agreement of Engstrom's and Magenta's networks is 0.00 and AdaIN's
0.025, though all three keep every photo; on The Scream AdaIN's is 0.00, so a floor of half of it flags nothing
(results/fast/compare). Identification asks the question a reader asks of a grid: which photo is this?
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
from torchmetrics.functional.image.lpips import _normalize_tensor

from nst_bench.nets.classifier import Classifier, imagenet_classifier
from nst_bench.nets.weights import find, load_state_dict

FLOOR = 0.75  # collapsed when fewer than 3/4 as many outputs (or tiles) as AdaIN's are identified
TILES = 4  # identified_local asks about each tile of a 4 x 4 grid
SHARES = ("identified", "identified_local")  # the scores the floor applies to


@functools.cache
def lpips_vgg() -> torch.nn.Module | None:
    """torchmetrics' LPIPS (VGG variant: its linear heads ship with torchmetrics) on our VGG16 weights; None when
    those weights are not on this machine (LPIPS is then left out, never computed on random ones). Loaded once
    per process: callers only run it under no_grad."""
    from torchmetrics.functional.image.lpips import _LPIPS

    resolved = find("vgg16_tv")
    if resolved is None:
        return None
    sd = load_state_dict(resolved)
    model = _LPIPS(pretrained=True, net="vgg", pnet_rand=True)  # random trunk, replaced below; no download
    slices = [(4, 1), (9, 2), (16, 3), (23, 4), (30, 5)]
    mapped = {}
    for key, value in sd.items():
        idx = int(key.removeprefix("features.").split(".")[0])
        if idx < 30:
            n = next(s for end, s in slices if idx < end)
            mapped[f"slice{n}.{idx}.{key.rsplit('.', 1)[1]}"] = value
    model.net.load_state_dict(mapped)
    return model.eval().requires_grad_(False)


@torch.no_grad()
def similarity_to_photo(photo: torch.Tensor, output: torch.Tensor) -> dict[str, float]:
    """SSIM, PSNR and LPIPS of one output to its photo, for the tables of one-image runs (a sweep of stylizations);
    the output is resized to the photo when a method changed its size. LPIPS is left out without its weights."""
    photo, output = photo.float().cpu(), output.float().cpu()
    if output.shape[-2:] != photo.shape[-2:]:
        output = torch.nn.functional.interpolate(output, size=photo.shape[-2:], mode="bilinear", antialias=True)
    output = output.clamp(0, 1)
    scores = {"ssim": float(structural_similarity_index_measure(output, photo, data_range=1.0)),
              "psnr": float(peak_signal_noise_ratio(output, photo, data_range=1.0))}
    lpips = lpips_vgg()
    if lpips is not None:
        scores["lpips"] = float(lpips(output, photo, normalize=True).mean())
    return scores


def top5_agreement(classifier: Classifier, photos: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Per photo: the share of its top-5 classes that are also in the output's top-5 (1 for the identity)."""
    clean = classifier.probabilities(list(photos.split(1))).topk(5).indices
    styled = classifier.probabilities(list(outputs.split(1))).topk(5).indices
    return (clean[:, :, None] == styled[:, None, :]).any(-1).float().mean(-1)


def lpips_features(lpips: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """LPIPS's unit-normalised VGG features of ``images`` (RGB in [0, 1]), one tensor per layer."""
    if lpips.training or lpips.spatial or lpips.resize is not None:
        raise ValueError("lpips_maps needs torchmetrics' LPIPS in eval mode, without spatial output or resizing")
    return [_normalize_tensor(x) for x in lpips.net(lpips.scaling_layer(2 * images - 1))]


def lpips_maps(lpips: torch.nn.Module, photos: torch.Tensor | list[torch.Tensor], outputs: torch.Tensor,
               grid: int = TILES, chunk: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """``d[i, j]``, LPIPS between output i and photo j (N x N pairs), and ``tiles[i, j]``, the same distance on
    each of a ``grid`` x ``grid`` grid of tiles (adaptive-pooling bins of each layer's distance map).

    Each network runs once per image, not once per pair: with unit-normalised features ``x``, ``y`` and the
    layer's non-negative 1x1 weights ``w``, ``sum_c w_c (x_c - y_c)^2 = sum w x^2 + sum w y^2 - 2 sum w x y``,
    and the cross term of every pair over a region is one matrix product (at 50 photos of 256 px, 2,500 pairs,
    this takes less time than the network's passes). ``photos`` may be their ``lpips_features`` already, which a
    check that scores many outputs of the same photos computes once. The tests compare it with torchmetrics."""
    a = lpips_features(lpips, photos) if isinstance(photos, torch.Tensor) else photos
    weights = [lin.model[-1].weight.flatten() for lin in lpips.lins]
    n = len(a[0])
    whole, tiles = [], []
    for part in outputs.split(chunk):
        b = lpips_features(lpips, part)
        w_sum = torch.zeros(len(part), n)
        t_sum = torch.zeros(len(part), n, grid, grid)
        for w, x, y in zip(weights, b, a):  # x: outputs, y: photos, N x C x H x W
            w_sum += _region_distance(x, y, w, slice(None), slice(None))
            for r, rows in enumerate(_bins(x.shape[-2], grid)):
                for c, cols in enumerate(_bins(x.shape[-1], grid)):
                    t_sum[:, :, r, c] += _region_distance(x, y, w, rows, cols)
        whole.append(w_sum)
        tiles.append(t_sum)
    return torch.cat(whole), torch.cat(tiles)


def _bins(size: int, grid: int) -> list[slice]:
    """adaptive_avg_pool2d's bins along one axis: [floor(i n / g), ceil((i + 1) n / g))."""
    return [slice(i * size // grid, -(-(i + 1) * size // grid)) for i in range(grid)]


def _region_distance(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    """Mean over a region of ``sum_c w_c (x_ic - y_jc)^2`` for every pair (i, j), by the expanded square."""
    x, y = x[..., rows, cols], y[..., rows, cols]
    area = x.shape[-2] * x.shape[-1]
    wx = x * w.view(1, -1, 1, 1)
    own_x = (wx * x).sum((1, 2, 3)) / area
    own_y = (y * y * w.view(1, -1, 1, 1)).sum((1, 2, 3)) / area
    cross = wx.flatten(1) @ y.flatten(1).T / area
    return (own_x[:, None] + own_y[None, :] - 2 * cross).clamp_min(0)


def identified(distances: torch.Tensor) -> torch.Tensor:
    """Per output (and tile, for ``tiles`` from ``lpips_maps``): whether its nearest photo is its own."""
    own = torch.arange(len(distances)).view(-1, *[1] * (distances.dim() - 2))
    return distances.argmin(1) == own


@dataclass
class ContentCheck:
    """Scores a network's outputs of ``photos``; the floors come from a reference method (AdaIN) on them."""

    photos: torch.Tensor
    classifier: Classifier
    lpips: torch.nn.Module | None
    reference: dict[str, float] = field(default_factory=dict)
    photo_features: list[torch.Tensor] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, photos: torch.Tensor, references: Sequence[torch.Tensor] = (),
              classifier: Classifier | None = None) -> ContentCheck:
        """``references``: AdaIN's outputs of ``photos``, one batch per painting; their mean scores set the floors.
        Without references, or without LPIPS (VGG-16 weights absent), nothing is flagged."""
        check = cls(photos.float().cpu(), classifier or imagenet_classifier(), lpips_vgg())
        rows = [check(r) for r in references]
        check.reference = {k: sum(float(r[k]) for r in rows) / len(rows) for k in rows[0]} if rows else {}
        return check

    @property
    def floors(self) -> dict[str, float]:
        """Collapsed below these shares of identified outputs and tiles; empty when no reference was scored."""
        return {k: FLOOR * self.reference[k] for k in SHARES if k in self.reference}

    def is_collapsed(self, scores: dict[str, float]) -> bool:
        """The collapse rule, in one place: a mean share below its floor (never without a floor)."""
        return any(float(scores[k]) < floor for k, floor in self.floors.items())

    @torch.no_grad()
    def per_photo(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each score per held-out photo (``identified`` as 0/1, ``identified_local`` as the share of its tiles),
        for tables with a row per photo."""
        outputs = outputs.float().cpu()
        scores = {"top5_agreement": top5_agreement(self.classifier, self.photos, outputs),
                  "ssim": structural_similarity_index_measure(outputs, self.photos, data_range=1.0, reduction="none")}
        if self.lpips is not None:
            if self.photo_features is None:  # the photos never change: their features are computed once
                self.photo_features = lpips_features(self.lpips, self.photos)
            distances, tiles = lpips_maps(self.lpips, self.photo_features, outputs)
            scores |= {"lpips": distances.diag(), "identified": identified(distances).float(),
                       "identified_local": identified(tiles).float().mean((-2, -1))}
        return scores

    def __call__(self, outputs: torch.Tensor) -> dict[str, float | bool]:
        """Means over the photos, and with a reference the floors and the collapse flag."""
        row: dict[str, float | bool] = {k: float(v.mean()) for k, v in self.per_photo(outputs).items()}
        if self.floors:
            row |= {f"{k}_floor": v for k, v in self.floors.items()} | {"collapsed": self.is_collapsed(row)}
        return row

    def describe(self) -> dict[str, object]:
        return {"classifier": self.classifier.describe(), "photos": len(self.photos), "floors": self.floors,
                "floor_rule": f"identified or identified_local ({TILES}x{TILES} tiles) < {FLOOR} x AdaIN's"
                if self.lpips is not None
                else "none: LPIPS needs the VGG-16 weights (vgg16_tv), so nothing is flagged",
                "adain": self.reference}
