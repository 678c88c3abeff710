"""Fast feed-forward style transfer (Johnson et al. 2016) with Ulyanov's instance normalisation, and the N-style
variant with conditional instance normalisation (Dumoulin et al. 2017): one network, a weight vector picks or
blends the styles at inference.

The network is trained against the same perceptual objective as Gatys (``nst_bench.losses.objective``), so losses of the
two families are directly comparable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from nst_bench.config import RunConfig
from nst_bench.errors import UserError
from nst_bench.losses.objective import PerceptualObjective
from nst_bench.methods.common import TrainedNetwork
from nst_bench.methods.registry import Deployable, register_method
from nst_bench.nets.engstrom import EngstromNet, is_engstrom_checkpoint, load_engstrom
from nst_bench.nets.netfile import load_network_file, save_network_file
from nst_bench.run.cache import ProcessCache
from nst_bench.run.trainer import record_step

OUTPUT_ACTIVATIONS = ("tanh", "sigmoid", "clamp")


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose affine scale and shift are a weighted mix of one (gamma, beta) pair per style."""

    def __init__(self, channels: int, n_styles: int = 1) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.gamma = nn.Parameter(torch.ones(n_styles, channels))
        self.beta = nn.Parameter(torch.zeros(n_styles, channels))

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        gamma = (style_weights @ self.gamma)[..., None, None]
        beta = (style_weights @ self.beta)[..., None, None]
        return self.norm(x) * gamma + beta


class ConvNorm(nn.Module):
    """Reflection pad, conv, conditional instance norm, optional ReLU; optional nearest upsampling first
    (upsample-then-convolve avoids the checkerboard of transposed convolutions)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, upsample: int = 1, n_styles: int = 1,
                 relu: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride)
        self.norm = ConditionalInstanceNorm(c_out, n_styles)
        self.relu = relu

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=float(self.upsample), mode="nearest")
        x = self.norm(self.conv(self.pad(x)), w)
        return F.relu(x) if self.relu else x


class Residual(nn.Module):
    def __init__(self, channels: int, n_styles: int) -> None:
        super().__init__()
        self.a = ConvNorm(channels, channels, 3, n_styles=n_styles)
        self.b = ConvNorm(channels, channels, 3, n_styles=n_styles, relu=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x, w), w)


class TransformerNet(nn.Module):
    """Johnson's image transformation network: 3 down, ``blocks`` residual, 2 up (upsample + conv), 9x9 out."""

    def __init__(self, width: int = 32, blocks: int = 5, n_styles: int = 1, output: str = "sigmoid") -> None:
        super().__init__()
        if output not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output activation {output!r}; choose one of {', '.join(OUTPUT_ACTIVATIONS)}")
        self.width, self.blocks, self.n_styles, self.output = width, blocks, n_styles, output
        w = width
        self.down = nn.ModuleList([ConvNorm(3, w, 9, n_styles=n_styles), ConvNorm(w, 2 * w, 3, 2, n_styles=n_styles),
                                   ConvNorm(2 * w, 4 * w, 3, 2, n_styles=n_styles)])
        self.res = nn.ModuleList([Residual(4 * w, n_styles) for _ in range(blocks)])
        self.up = nn.ModuleList([ConvNorm(4 * w, 2 * w, 3, upsample=2, n_styles=n_styles),
                                 ConvNorm(2 * w, w, 3, upsample=2, n_styles=n_styles)])
        self.out = nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(w, 3, 9))

    def style_vector(self, batch: int, style_weights: Sequence[float] | torch.Tensor | None,
                     device: torch.device | None = None) -> torch.Tensor:
        """A (batch, n_styles) weight tensor from None (the first style), one vector, or one per image."""
        if style_weights is None:
            style_weights = [1.0] + [0.0] * (self.n_styles - 1)
        w = torch.as_tensor(style_weights, dtype=torch.float32, device=device)
        if w.shape[-1] != self.n_styles:
            raise ValueError(f"{w.shape[-1]} style weights for a network of {self.n_styles} styles")
        return w.expand(batch, -1) if w.ndim == 1 else w

    def stylize(self, x: torch.Tensor, style_weights: Sequence[float] | torch.Tensor | None = None) -> torch.Tensor:
        """``forward`` for Python callers: style weights may be a list, and default to the first style."""
        return self(x, self.style_vector(x.shape[0], style_weights, x.device))

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] in, RGB [0, 1] out; ``style_weights`` (batch, n_styles) picks or blends the styles, normalised
        to sum to 1. Tensors only, so the network scripts and exports as it is."""
        w = style_weights / style_weights.sum(-1, keepdim=True)
        h, wd = x.shape[-2], x.shape[-1]
        y = x
        for layer in self.down:
            y = layer(y, w)
        for block in self.res:
            y = block(y, w)
        for layer in self.up:
            y = layer(y, w)
        y = self.out(y)
        # sizes not divisible by 4 come back up to 3 px larger; resampling to the input size is the identity when
        # they match, and doing it unconditionally keeps the exported graph valid for every input size
        y = F.interpolate(y, size=(h, wd), mode="bilinear", align_corners=False)
        if self.output == "tanh":
            return (torch.tanh(y) + 1) / 2
        if self.output == "sigmoid":
            return torch.sigmoid(y)
        return y.clamp(0, 1)


class FastStyleModule(pl.LightningModule):
    """Trains a TransformerNet on content crops against fixed style Gram targets (one set per style).

    Only ``net`` is a registered module, so checkpoints hold the network and its optimiser, not the frozen
    encoder inside the objective."""

    def __init__(self, net: TransformerNet, objective: PerceptualObjective, style_grams: Sequence[dict],
                 lr: float = 1e-3) -> None:
        super().__init__()
        self.net = net
        self.__dict__["objective"] = objective  # not a submodule: checkpoints hold the network, not the encoder
        self.style_grams = list(style_grams)
        self.lr = lr
        self.history: list[dict[str, float]] = []

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        # each image of the batch gets one style (cycled from the step), so an N-style network sees every style
        styles = (torch.arange(batch.shape[0], device=batch.device) + self.global_step) % self.net.n_styles
        out = self.net(batch, F.one_hot(styles, self.net.n_styles).float())
        style_targets = {k: torch.cat([self.style_grams[int(s)][k] for s in styles])
                         for k in self.objective.style_layers}
        self.objective.set_content(batch, cache=False)
        self.objective.set_style(style_targets)
        terms = self.objective(out)
        values = {k: float(v.detach()) for k, v in terms.items()}
        if not math.isfinite(values["total"]):
            raise UserError(f"training loss became {values['total']} at step {self.global_step}: lower train.lr or "
                            "the loss weights, then resume from the last checkpoint")
        record_step(self, values, self.global_step + 1, ("total", "content", "style", "tv"))  # steps completed
        return terms["total"]


# --- trained networks on disk ---------------------------------------------------------------------------------
FORMAT = "nst-bench/transformernet-v1"
HINT = "train one with `nst-bench train fast` and pass its net.safetensors as fast.checkpoint"


def save_network(net: TransformerNet, path: Path, **meta: Any) -> Path:
    """The weights and everything needed to rebuild the network (its styles, step, training config)."""
    return save_network_file(net, path, {"format": FORMAT, "width": net.width, "blocks": net.blocks,
                                         "n_styles": net.n_styles, "output": net.output, **meta})


def load_network(path: str | Path) -> tuple[TransformerNet | EngstromNet, dict[str, Any]]:
    """A trained TransformerNet (eval mode) and its metadata, or Engstrom's pretrained network when ``path`` is
    a folder of his deeplearn.js checkpoint."""
    if is_engstrom_checkpoint(path):
        return load_engstrom(path)
    tensors, meta = load_network_file(path, FORMAT, "fast-network checkpoint", HINT)
    net = TransformerNet(meta["width"], meta["blocks"], meta["n_styles"], meta["output"])
    net.load_state_dict(tensors)
    return net.eval().requires_grad_(False), meta


@register_method
class Fast(TrainedNetwork):
    """A trained TransformerNet (``nst-bench train fast``), or one of Engstrom's pretrained networks (a folder with
    manifest.json); its styles are the ones it was trained on."""

    name = "fast"
    sections = ("fast",)
    checkpoint_key = "fast.checkpoint"
    depth_loss = True  # in training
    made_by = "net.safetensors from `nst-bench train fast`"

    def load(self, path: str) -> tuple[TransformerNet | EngstromNet, dict[str, Any]]:
        return load_network(path)

    def forward(self, net: TransformerNet, cfg: RunConfig) -> Callable[..., torch.Tensor]:
        return lambda content, styles, blend: net.stylize(content, blend)

    def complete(self, cfg: RunConfig, cache: ProcessCache) -> None:
        meta = self.network(cfg, cache)[1]
        if not cfg.styles and not meta["styles"]:
            raise UserError(f"{cfg.fast.checkpoint} does not record its style image: give --style PATH (the "
                            "painting it was trained on), which its outputs are scored against")
        if not cfg.styles:
            cfg.styles = list(meta["styles"])
        if len(cfg.styles) != meta["n_styles"]:
            raise UserError(f"{cfg.fast.checkpoint} was trained on {meta['n_styles']} style(s) but {len(cfg.styles)} "
                            "--style images were given: leave --style out to use its own")
        if cfg.style_blend is not None and len(cfg.style_blend) != meta["n_styles"]:
            raise UserError(f"{cfg.fast.checkpoint} has {meta['n_styles']} styles; give {meta['n_styles']} "
                            "--style-weights")

    def deployable(self, checkpoint: str | None) -> Deployable:
        if not checkpoint:
            raise UserError("exporting a fast network needs --checkpoint PATH/net.safetensors")
        net = load_network(checkpoint)[0]
        weights = torch.full((1, net.n_styles), 1.0 / net.n_styles)
        return Deployable(net, {"image": torch.rand(1, 3, 256, 256), "style_weights": weights},
                          {"image": {0: "batch", 2: "height", 3: "width"}, "style_weights": {0: "batch"}})
