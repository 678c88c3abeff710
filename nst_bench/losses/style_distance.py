"""Style distance of an image to a painting (or to a set's mean Grams) on a fixed reference network, for tables
and held-out scores: it lives below the recipes and the evaluator, which both use it."""

from __future__ import annotations

import numpy as np
import torch

from nst_bench.losses.terms import gram, style_layer_loss
from nst_bench.nets.backbones import Encoder, build_backbone
from nst_bench.nets.weights import find

REFERENCE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def reference_encoder() -> Encoder:
    """A fixed network for style distances: torchvision VGG16 when its weights are here, else the bundled VGG19."""
    return build_backbone("vgg16_tv" if find("vgg16_tv") else "vgg19")


@torch.no_grad()
def style_grams(encoder: Encoder, style: torch.Tensor) -> dict[str, torch.Tensor]:
    """The painting's Gram matrices on the reference layers, computed once per painting and reused."""
    return {k: gram(v) for k, v in encoder(style, REFERENCE_LAYERS).items()}


@torch.no_grad()
def gram_distance(encoder: Encoder, image: torch.Tensor, style: torch.Tensor | dict[str, torch.Tensor]) -> float:
    """Mean over relu1_1..relu5_1 of the mse_chw Gram distance, x1e3 for readable numbers. ``style`` is the
    painting or its ``style_grams``."""
    targets = style if isinstance(style, dict) else style_grams(encoder, style)
    feats = encoder(image, REFERENCE_LAYERS)
    return 1e3 * float(np.mean([style_layer_loss(gram(feats[k]), targets[k], "mse_chw").item() for k in feats]))
