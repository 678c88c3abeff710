"""Does a feed-forward network's output still show the photo? A check every trained network reports, because the
Gatys objective alone cannot tell: a network that paints the same texture over every photo can have a lower
content loss than one that keeps the photo.

On held-out photos: the ImageNet classifier's top-5 agreement between photo and output (the share of the
photo's five most likely classes that are also among the output's five), SSIM and LPIPS to the photo. A network
is **collapsed** when its agreement is below ``FLOOR`` x pretrained AdaIN's on the same photos and painting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from nst_bench.nets.classifier import Classifier, imagenet_classifier
from nst_bench.nets.weights import find, load_state_dict

FLOOR = 0.5  # collapsed below half of AdaIN's top-5 agreement


def lpips_vgg() -> torch.nn.Module | None:
    """torchmetrics' LPIPS (VGG variant: its linear heads ship with torchmetrics) on our VGG16 weights; None when
    those weights are not on this machine (LPIPS is then left out, never computed on random ones)."""
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


def top5_agreement(classifier: Classifier, photos: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Per photo: the share of its top-5 classes that are also in the output's top-5 (1 for the identity)."""
    clean = classifier.probabilities(list(photos.split(1))).topk(5).indices
    styled = classifier.probabilities(list(outputs.split(1))).topk(5).indices
    return (clean[:, :, None] == styled[:, None, :]).any(-1).float().mean(-1)


@dataclass
class ContentCheck:
    """Scores outputs against their photos; ``floor`` comes from a reference method (AdaIN) on the same photos."""

    classifier: Classifier
    lpips: torch.nn.Module | None
    floor: float | None = None
    reference_agreement: float | None = None

    @classmethod
    def build(cls, photos: torch.Tensor, reference: Callable[[torch.Tensor], torch.Tensor] | None = None,
              classifier: Classifier | None = None) -> ContentCheck:
        """``reference(photos)`` (AdaIN with the same painting) sets the floor; without one nothing is flagged."""
        check = cls(classifier or imagenet_classifier(), lpips_vgg())
        if reference is not None:
            with torch.no_grad():
                check.reference_agreement = float(top5_agreement(check.classifier, photos, reference(photos)).mean())
            check.floor = FLOOR * check.reference_agreement
        return check

    @torch.no_grad()
    def __call__(self, photos: torch.Tensor, outputs: torch.Tensor) -> dict[str, float | bool]:
        photos, outputs = photos.float().cpu(), outputs.float().cpu()
        agreement = float(top5_agreement(self.classifier, photos, outputs).mean())
        row: dict[str, float | bool] = {
            "top5_agreement": agreement,
            "ssim": float(structural_similarity_index_measure(outputs, photos, data_range=1.0)),
        }
        if self.lpips is not None:
            row["lpips"] = float(self.lpips(outputs, photos, normalize=True).mean())
        if self.floor is not None:
            row |= {"agreement_floor": self.floor, "collapsed": agreement < self.floor}
        return row

    def describe(self) -> dict[str, object]:
        return {"classifier": self.classifier.describe(), "floor": self.floor, "floor_rule": f"{FLOOR} x AdaIN",
                "adain_top5_agreement": self.reference_agreement, "lpips": self.lpips is not None}
