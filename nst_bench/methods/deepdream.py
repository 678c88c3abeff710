"""DeepDream (Mordvintsev et al. 2015): gradient *ascent* on the activations of chosen layers, the mirror image of
Gatys' descent, showing what a layer 'sees'.

It runs inside the Gatys module (the pixels are the parameters, one Lightning step per iteration) with a
different objective: minus the mean squared activation of the layers, measured on a randomly rolled copy of the
image (jitter, so no pixel grid gets reinforced), with the gradient normalised to unit mean magnitude before the
plain SGD step. Octaves run from small to full size; each carries up the detail dreamed so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nst_bench.config import DreamConfig, OptimizerConfig
from nst_bench.data.images import resize
from nst_bench.methods.gatys import GatysModule, _trainer, quiet_lightning
from nst_bench.run.tracking import Tracker


class NormaliseGradient(torch.autograd.Function):
    """Identity forward; backward divides the gradient by its mean magnitude, so the step size is lr in pixels
    whatever the layer's scale."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad / (grad.abs().mean() + 1e-8)


class DreamObjective:
    """Terms for the Gatys module: 'total' = -(mean squared activation, averaged over the layers), 'activation'."""

    def __init__(self, encoder: torch.nn.Module, layers: Sequence[str], jitter: int, seed: int = 0) -> None:
        self.encoder, self.layers, self.jitter = encoder, list(layers), jitter
        self.generator = torch.Generator().manual_seed(seed)

    def activation(self, image: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(image, self.layers)
        return sum(feats[k].pow(2).mean() for k in self.layers) / len(self.layers)

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = NormaliseGradient.apply(image)
        if self.jitter:
            dy, dx = (int(v) for v in torch.randint(-self.jitter, self.jitter + 1, (2,), generator=self.generator))
            x = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
        act = self.activation(x)
        return {"total": -act, "activation": act}


@dataclass
class DreamResult:
    image: torch.Tensor
    history: list[dict[str, float]]
    final: dict[str, float]
    sizes: list[tuple[int, int]]
    seconds: float
    iterations: int


def octave_sizes(height: int, width: int, octaves: int, scale: float, min_side: int) -> list[tuple[int, int]]:
    """Smallest first, ending at the image's own size; octaves that would fall below ``min_side`` are skipped."""
    sizes = []
    for k in reversed(range(octaves)):
        h, w = round(height / scale ** k), round(width / scale ** k)
        if min(h, w) >= min_side:
            sizes.append((h, w))
    return sizes or [(height, width)]


def dream(image: torch.Tensor, objective: DreamObjective, cfg: DreamConfig, optim: OptimizerConfig, *,
          min_side: int = 32, device: str = "cpu", tracker: Tracker | None = None, progress: bool = True
          ) -> DreamResult:
    """Dream on ``image`` octave by octave; the output has the input's size."""
    quiet_lightning()
    h, w = image.shape[-2:]
    sizes = octave_sizes(h, w, cfg.octaves, cfg.octave_scale, min_side)
    detail = torch.zeros_like(resize(image, sizes[0]))
    history: list[dict[str, float]] = []
    seconds = 0.0
    dreamt = image
    for size in sizes:
        base = resize(image, size)
        start = (base + resize(detail, size)).clamp(0, 1)
        module = GatysModule(objective, start, optim, tracker, step_offset=len(history))
        _trainer(device, progress, f"dream {size[1]}x{size[0]}").fit(
            module, torch.utils.data.DataLoader(range(optim.steps), batch_size=None))
        history += module.history
        seconds += module.seconds
        dreamt = module.image.detach()
        detail = dreamt - base
    with torch.no_grad():
        final = {"activation": float(objective.activation(dreamt))}
    return DreamResult(dreamt, history, final, sizes, seconds, len(history))
