"""Does a feed-forward network's output still show the photo? A check every trained network reports, because the
Gatys objective alone cannot tell: a network that paints the same texture over every photo can have a lower
content loss than one that keeps the photo.

On held-out photos it reports the ImageNet classifier's top-5 agreement between photo and output (the share of
the photo's five most likely classes that are also among the output's five), SSIM and LPIPS to the photo, and
**identified**: the share of outputs whose nearest held-out photo under LPIPS is their own photo (1 for the
identity; 1/N for a network that ignores its input). A network is **collapsed** when identified is below
``FLOOR`` x pretrained AdaIN's on the same photos and painting.

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
from torchmetrics.functional.image import structural_similarity_index_measure

from nst_bench.nets.classifier import Classifier, imagenet_classifier
from nst_bench.nets.weights import find, load_state_dict

FLOOR = 0.75  # collapsed when fewer than 3/4 as many outputs as AdaIN's are identified


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
    """SSIM and LPIPS of one output to its photo, for the tables of one-image runs (a sweep of stylizations);
    the output is resized to the photo when a method changed its size. LPIPS is left out without its weights."""
    photo, output = photo.float().cpu(), output.float().cpu()
    if output.shape[-2:] != photo.shape[-2:]:
        output = torch.nn.functional.interpolate(output, size=photo.shape[-2:], mode="bilinear", antialias=True)
    output = output.clamp(0, 1)
    scores = {"ssim": float(structural_similarity_index_measure(output, photo, data_range=1.0))}
    lpips = lpips_vgg()
    if lpips is not None:
        scores["lpips"] = float(lpips(output, photo, normalize=True).mean())
    return scores


def top5_agreement(classifier: Classifier, photos: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Per photo: the share of its top-5 classes that are also in the output's top-5 (1 for the identity)."""
    clean = classifier.probabilities(list(photos.split(1))).topk(5).indices
    styled = classifier.probabilities(list(outputs.split(1))).topk(5).indices
    return (clean[:, :, None] == styled[:, None, :]).any(-1).float().mean(-1)


def lpips_matrix(lpips: torch.nn.Module, photos: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """``d[i, j]``: LPIPS between output i and photo j (N x N evaluations; 64 for the 8 held-out photos)."""
    return torch.stack([lpips(out[None].expand_as(photos), photos, normalize=True).flatten() for out in outputs])


def identified(distances: torch.Tensor) -> torch.Tensor:
    """Per output: whether its nearest photo is its own (the diagonal of ``distances``)."""
    return distances.argmin(1) == torch.arange(len(distances))


@dataclass
class ContentCheck:
    """Scores a network's outputs of ``photos``; the floor comes from a reference method (AdaIN) on them."""

    photos: torch.Tensor
    classifier: Classifier
    lpips: torch.nn.Module | None
    reference: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, photos: torch.Tensor, references: Sequence[torch.Tensor] = (),
              classifier: Classifier | None = None) -> ContentCheck:
        """``references``: AdaIN's outputs of ``photos``, one batch per painting; their mean scores set the floor.
        Without references, or without LPIPS (VGG-16 weights absent), nothing is flagged."""
        check = cls(photos.float().cpu(), classifier or imagenet_classifier(), lpips_vgg())
        rows = [check(r) for r in references]
        check.reference = {k: sum(float(r[k]) for r in rows) / len(rows) for k in rows[0]} if rows else {}
        return check

    @property
    def floor(self) -> float | None:
        """Collapsed below this share of identified outputs; None when no reference was scored."""
        return FLOOR * self.reference["identified"] if "identified" in self.reference else None

    def is_collapsed(self, identified: float) -> bool:
        """The collapse rule, in one place: a mean ``identified`` below the floor (never without a floor)."""
        return self.floor is not None and identified < self.floor

    @torch.no_grad()
    def per_photo(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each score per held-out photo (``identified`` as 0/1), for tables with a row per photo."""
        outputs = outputs.float().cpu()
        scores = {"top5_agreement": top5_agreement(self.classifier, self.photos, outputs),
                  "ssim": structural_similarity_index_measure(outputs, self.photos, data_range=1.0, reduction="none")}
        if self.lpips is not None:
            distances = lpips_matrix(self.lpips, self.photos, outputs)
            scores |= {"lpips": distances.diag(), "identified": identified(distances).float()}
        return scores

    def __call__(self, outputs: torch.Tensor) -> dict[str, float | bool]:
        """Means over the photos, and with a reference the floor and the collapse flag."""
        row: dict[str, float | bool] = {k: float(v.mean()) for k, v in self.per_photo(outputs).items()}
        if self.floor is not None:
            row |= {"identified_floor": self.floor, "collapsed": self.is_collapsed(float(row["identified"]))}
        return row

    def describe(self) -> dict[str, object]:
        return {"classifier": self.classifier.describe(), "photos": len(self.photos), "floor": self.floor,
                "floor_rule": f"identified < {FLOOR} x AdaIN's" if self.lpips is not None
                else "none: LPIPS needs the VGG-16 weights (vgg16_tv), so nothing is flagged",
                "adain": self.reference}
