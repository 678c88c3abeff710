"""Monocular depth estimators for the depth-preservation loss, in a registry like the backbones'.

Every estimator takes RGB in [0, 1] at any size and returns relative inverse depth (B, 1, H, W) at that size. It
is frozen (eval mode, no parameter gradients) but differentiable with respect to its input, so a depth loss can
push gradients into pixels or into a feed-forward network. The outputs have no fixed scale or shift (MiDaS and
its successors are trained scale- and shift-invariant), so the loss compares standardised maps.

* ``midas_small``: MiDaS v2.1 small (Ranftl et al. 2020): EfficientNet-Lite3 from timm plus the RefineNet-style
  decoder, laid out so the official ``midas_v21_small_256.pt`` loads key for key. Weights come through
  ``nst_bench.nets.weights`` (path, weights dir, torch hub cache, download).
* ``dpt_hybrid``, ``dpt_large``, ``depth_anything_small``, ``depth_anything_v2_small``: through ``transformers``
  (optional): a saved model directory given as the path or found in the weights dir, else the Hugging Face cache,
  else a download. ``trust_remote_code`` stays off: no downloaded code runs.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import nn

from nst_bench.errors import UserError
from nst_bench.nets import weights as W
from nst_bench.nets.backbones import IMAGENET_MEAN, IMAGENET_STD

W.register(W.WeightSpec(
    "midas_small",
    "MiDaS v2.1 small depth network (EfficientNet-Lite3 encoder)",
    ("midas_v21_small_256.pt", "midas_v21_small-70d6b9c8.pt"),
    url="https://github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21_small_256.pt", licence="MIT",
))


class DepthEstimator(nn.Module):
    """Frozen depth network with its own preprocessing: RGB [0, 1] in, (B, 1, H, W) relative inverse depth out."""

    def __init__(self, name: str, net: nn.Module, size: int, multiple: int, mean: tuple[float, ...],
                 std: tuple[float, ...], weights: W.ResolvedWeights | None) -> None:
        super().__init__()
        self.name, self.net, self.size, self.multiple, self.weights = name, net, size, multiple, weights
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> DepthEstimator:
        return super().train(False)  # batch-norm statistics stay frozen whoever calls .train()

    def network_size(self, h: int, w: int) -> tuple[int, int]:
        """The long side at ``size``, both sides a multiple of the network's stride (MiDaS' 'upper_bound')."""
        scale = self.size / max(h, w)
        return tuple(max(self.multiple, round(s * scale / self.multiple) * self.multiple) for s in (h, w))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        x = F.interpolate(image, self.network_size(h, w), mode="bilinear", align_corners=False, antialias=True)
        depth = self.predict((x - self.mean) / self.std)
        return F.interpolate(depth, (h, w), mode="bilinear", align_corners=False)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        depth = getattr(out, "predicted_depth", out)  # transformers' output object, or MiDaS' tensor
        return depth.reshape(len(x), 1, *depth.shape[-2:])

    def describe(self) -> dict:
        return {"name": self.name, "size": self.size, "weights": self.weights.as_dict() if self.weights else None}


# --- MiDaS small -----------------------------------------------------------------------------------------------
class ResidualConvUnit(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """Add the skip connection (refined), refine, upsample x2, then project to the next level's width."""

    def __init__(self, features: int, out_features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, out_features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)  # camelCase: the checkpoint's key names
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = F.interpolate(self.resConfUnit2(x), scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class MidasSmall(nn.Module):
    """MiDaS v2.1 small. Module names follow the official checkpoint (``pretrained.layer1.0.weight``, ...)."""

    ENCODER_WIDTHS = (32, 48, 136, 384)  # EfficientNet-Lite3 after blocks 0-1, 2, 3-4, 5-6

    def __init__(self, features: int = 64) -> None:
        super().__init__()
        effnet = timm.create_model("tf_efficientnet_lite3", pretrained=False)
        self.pretrained = nn.Module()
        # index 2 held the stem's activation in the original; timm folds it into bn1, Identity keeps the indices
        self.pretrained.layer1 = nn.Sequential(effnet.conv_stem, effnet.bn1, nn.Identity(), *effnet.blocks[0:2])
        self.pretrained.layer2 = nn.Sequential(*effnet.blocks[2:3])
        self.pretrained.layer3 = nn.Sequential(*effnet.blocks[3:5])
        self.pretrained.layer4 = nn.Sequential(*effnet.blocks[5:7])
        widths = (features, features * 2, features * 4, features * 8)  # the decoder 'expands' with depth
        self.scratch = nn.Module()
        for i, (cin, cout) in enumerate(zip(self.ENCODER_WIDTHS, widths), start=1):
            setattr(self.scratch, f"layer{i}_rn", nn.Conv2d(cin, cout, 3, padding=1, bias=False))
        self.scratch.refinenet4 = FusionBlock(widths[3], widths[2])
        self.scratch.refinenet3 = FusionBlock(widths[2], widths[1])
        self.scratch.refinenet2 = FusionBlock(widths[1], widths[0])
        self.scratch.refinenet1 = FusionBlock(widths[0], widths[0])
        self.scratch.output_conv = nn.Sequential(
            nn.Conv2d(features, features // 2, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear"),
            nn.Conv2d(features // 2, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 1, 1), nn.ReLU(), nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, s = self.pretrained, self.scratch
        l1 = p.layer1(x)
        l2 = p.layer2(l1)
        l3 = p.layer3(l2)
        l4 = p.layer4(l3)
        path = s.refinenet4(s.layer4_rn(l4))
        path = s.refinenet3(path, s.layer3_rn(l3))
        path = s.refinenet2(path, s.layer2_rn(l2))
        path = s.refinenet1(path, s.layer1_rn(l1))
        return s.output_conv(path)


def load_midas_state(net: nn.Module, resolved: W.ResolvedWeights) -> None:
    sd = W.load_state_dict(resolved)
    if "model" in sd and isinstance(sd["model"], dict):  # training checkpoints wrap the weights
        sd = sd["model"]
    result = net.load_state_dict(sd, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise UserError(f"{resolved.path} is not a MiDaS v2.1 small checkpoint: {len(result.missing_keys)} missing "
                        f"keys (e.g. {result.missing_keys[:1]}), {len(result.unexpected_keys)} unexpected "
                        f"(e.g. {result.unexpected_keys[:1]})")


# --- Hugging Face transformers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class HFDepthSpec:
    model_id: str
    size: int
    multiple: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


HF_MODELS = {
    "dpt_hybrid": HFDepthSpec("Intel/dpt-hybrid-midas", 384, 32, (0.5,) * 3, (0.5,) * 3),
    "dpt_large": HFDepthSpec("Intel/dpt-large", 384, 32, (0.5,) * 3, (0.5,) * 3),
    "depth_anything_small": HFDepthSpec("LiheYoung/depth-anything-small-hf", 518, 14, IMAGENET_MEAN, IMAGENET_STD),
    "depth_anything_v2_small": HFDepthSpec("depth-anything/Depth-Anything-V2-Small-hf", 518, 14, IMAGENET_MEAN,
                                           IMAGENET_STD),
}


def hf_model_file(folder: Path) -> Path | None:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_hf_model(name: str, spec: HFDepthSpec, path: str | None) -> tuple[nn.Module, W.ResolvedWeights]:
    """A saved model directory (explicit, or ``<weights dir>/<name>``), else the HF cache, else a download."""
    if importlib.util.find_spec("transformers") is None:
        raise UserError(f"depth estimator {name} needs transformers: pip install 'nst-bench[depth]' "
                        "(or use depth.estimator: midas_small)")
    from transformers import AutoModelForDepthEstimation

    folder = Path(path).expanduser() if path else W.weights_dir() / name
    if path and not folder.is_dir():
        raise UserError(f"depth weights for {name} not found: {folder} (give the directory a "
                        "transformers save_pretrained() wrote)")
    if folder.is_dir():
        model = AutoModelForDepthEstimation.from_pretrained(folder, trust_remote_code=False)
        file = hf_model_file(folder)
        source = "explicit" if path else "weights_dir"
        return model, W.ResolvedWeights(name, folder, source, W.sha256(file) if file else "")
    try:
        model = AutoModelForDepthEstimation.from_pretrained(spec.model_id, local_files_only=True,
                                                            trust_remote_code=False)
        source = "hf_cache"
    except OSError:
        if W.offline() or os.environ.get("HF_HUB_OFFLINE"):
            raise UserError(f"no weights for {name} ({spec.model_id}): save the model to {folder} or into the "
                            "Hugging Face cache; or unset NST_BENCH_OFFLINE/HF_HUB_OFFLINE to download it") from None
        try:
            model = AutoModelForDepthEstimation.from_pretrained(spec.model_id, trust_remote_code=False)
        except OSError as e:
            raise UserError(f"no weights for {name} and the download of {spec.model_id} failed "
                            f"({str(e).splitlines()[0][:120]}): save the model to {folder}") from e
        source = "download"
    return model, W.ResolvedWeights(name, Path(spec.model_id), source, "")


# --- registry --------------------------------------------------------------------------------------------------
DEPTH_ESTIMATORS: dict[str, Callable[[str | None], DepthEstimator]] = {}


def register_depth(name: str) -> Callable:
    def deco(fn: Callable[[str | None], DepthEstimator]) -> Callable[[str | None], DepthEstimator]:
        DEPTH_ESTIMATORS[name] = fn
        return fn
    return deco


@register_depth("midas_small")
def midas_small(weights: str | None = None) -> DepthEstimator:
    resolved = W.resolve("midas_small", weights)
    net = MidasSmall()
    load_midas_state(net, resolved)
    return DepthEstimator("midas_small", net, 256, 32, IMAGENET_MEAN, IMAGENET_STD, resolved)


def _hf_builder(name: str) -> Callable[[str | None], DepthEstimator]:
    spec = HF_MODELS[name]

    def build(weights: str | None = None) -> DepthEstimator:
        model, resolved = load_hf_model(name, spec, weights)
        return DepthEstimator(name, model, spec.size, spec.multiple, spec.mean, spec.std, resolved)
    return build


for _name in HF_MODELS:
    register_depth(_name)(_hf_builder(_name))


def build_depth(name: str, weights: str | None = None, size: int | None = None) -> DepthEstimator:
    """The named estimator with pretrained weights, seeing ``size`` px on the long side (None: its own); a
    UserError says what is missing when there are no weights."""
    if name not in DEPTH_ESTIMATORS:
        raise UserError(f"unknown depth estimator {name!r}; known: {', '.join(DEPTH_ESTIMATORS)}")
    estimator = DEPTH_ESTIMATORS[name](weights)
    if size:
        estimator.size = size
    return estimator


# --- depth maps as images ------------------------------------------------------------------------------------
def standardise(depth: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit deviation per image: relative depth has no scale or shift of its own."""
    flat = depth.flatten(1)
    mean, std = flat.mean(1), flat.std(1)
    return (depth - mean.view(-1, 1, 1, 1)) / (std.view(-1, 1, 1, 1) + 1e-6)


@torch.no_grad()
def depth_strip(estimator: DepthEstimator, content: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """content | output | depth of content | depth of output, as one RGB image (near is bright)."""
    maps = [standardise(estimator(x)) for x in (content, output)]
    lo, hi = min(float(m.min()) for m in maps), max(float(m.max()) for m in maps)
    grey = [((m - lo) / max(hi - lo, 1e-6)).expand(-1, 3, -1, -1) for m in maps]
    return torch.cat([content, output, *grey], dim=-1)
