"""Registry of frozen feature encoders with named layers.

An encoder returns every requested layer from one forward pass and stops at the deepest one, so asking for
``conv4_2`` never pays for ``conv5_4``. Inputs are always RGB in [0, 1]; each encoder owns its preprocessing
(the normalised Caffe VGG19 wants mean-subtracted BGR x255, torchvision models want ImageNet mean/std).
"""

from __future__ import annotations

import difflib
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from nst_bench.errors import UserError
from nst_bench.nets import weights as W

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Encoder(nn.Module):
    """Frozen feature extractor. Subclasses fill ``layer_names`` and implement ``_features``."""

    def __init__(self, name: str, weights: W.ResolvedWeights | None, preprocessing: str) -> None:
        super().__init__()
        self.name = name
        self.weights = weights
        self.preprocessing = preprocessing
        self.layer_names: tuple[str, ...] = ()
        self.reductions: dict[str, int] = {}
        self.default_content_layers: list[str] = []
        self.default_style_layers: list[str] = []

    def canonical(self, layer: str) -> str:
        return layer

    def check_layers(self, layers: Iterable[str]) -> list[str]:
        """Canonical names of ``layers``; an unknown one is a UserError listing the valid names."""
        out = []
        for layer in layers:
            name = self.canonical(layer)
            if name not in self.layer_names:
                close = difflib.get_close_matches(layer, self.layer_names, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise UserError(f"backbone {self.name} has no layer {layer!r}{hint}; "
                                f"valid layers: {', '.join(self.layer_names)}")
            out.append(name)
        return out

    def min_side(self, layers: Iterable[str]) -> int:
        """Smallest input side that still leaves every requested layer at least 1x1."""
        return max((self.reductions[self.canonical(x)] for x in layers), default=1)

    def forward(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        names = self.check_layers(layers)
        feats = self._features(image, names)
        return {orig: feats[name] for orig, name in zip(layers, names)}

    def _features(self, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @property
    def cache_key(self) -> tuple:
        """What makes two encoders compute the same features (for caching targets across trials)."""
        extra = (getattr(self, "pooling", None), getattr(self, "padding", None))
        return (self.name, self.weights.sha256 if self.weights else None, *extra)

    def describe(self) -> dict:
        return {"name": self.name, "preprocessing": self.preprocessing,
                "weights": self.weights.as_dict() if self.weights else None}


# --- VGG ------------------------------------------------------------------------------------------------------
VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
VGG_WIDTHS = (64, 128, 256, 512, 512)
_KERAS_NAME = re.compile(r"block(\d)_(conv|pool)(\d*)")


class VGGEncoder(Encoder):
    """VGG trunk with Caffe/paper layer names (conv1_1, relu1_1, pool1, ...); max or average pooling."""

    def __init__(self, name: str, arch: str, weights: W.ResolvedWeights | None, preprocess: nn.Module,
                 preprocessing: str, pooling: str = "max", padding: str = "zeros") -> None:
        super().__init__(name, weights, preprocessing)
        if pooling not in ("max", "avg"):
            raise UserError(f"backbone.pooling must be 'max' or 'avg', not {pooling!r}")
        if padding not in ("zeros", "reflect"):
            raise UserError(f"backbone.padding must be 'zeros' or 'reflect', not {padding!r}")
        self.pooling, self.padding = pooling, padding
        self.preprocess = preprocess
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in, reduction = 3, 1
        for block, (n_convs, width) in enumerate(zip(VGG_BLOCKS[arch], VGG_WIDTHS), start=1):
            for i in range(1, n_convs + 1):
                layers[f"conv{block}_{i}"] = nn.Conv2d(c_in, width, 3, padding=1, padding_mode=padding)
                layers[f"relu{block}_{i}"] = nn.ReLU(inplace=False)  # conv outputs must survive the ReLU
                self.reductions[f"conv{block}_{i}"] = self.reductions[f"relu{block}_{i}"] = reduction
                c_in = width
            pool = nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2)
            reduction *= 2
            layers[f"pool{block}"] = pool
            self.reductions[f"pool{block}"] = reduction
        self.body = nn.Sequential(layers)
        self.layer_names = tuple(layers)
        self.default_content_layers = ["conv4_2"]  # Gatys et al. 2016
        self.default_style_layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]

    def canonical(self, layer: str) -> str:
        """Accept Keras names too: block4_conv2 -> conv4_2, block3_pool -> pool3."""
        m = _KERAS_NAME.fullmatch(layer)
        if not m:
            return layer
        block, kind, idx = m.groups()
        return f"conv{block}_{idx}" if kind == "conv" else f"pool{block}"

    def convs(self) -> list[nn.Conv2d]:
        return [m for m in self.body if isinstance(m, nn.Conv2d)]

    def _features(self, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        wanted, out = set(layers), {}
        x = self.preprocess(image)
        for name, module in self.body.named_children():
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


class Normalize(nn.Module):
    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


# --- registry -------------------------------------------------------------------------------------------------
Builder = Callable[..., Encoder]
BACKBONES: dict[str, Builder] = {}


def register_backbone(name: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        BACKBONES[name] = fn
        return fn

    return deco


@register_backbone("vgg19")
def vgg19(weights: str | None = None, pooling: str = "max", padding: str = "zeros") -> Encoder:
    """Gatys' normalised Caffe VGG19: its first tensor is a 1x1 conv mapping RGB [0,1] to mean-free BGR x255."""
    resolved = W.resolve("vgg19_normalised", weights)
    first, *convs = W.conv_pairs(W.load_state_dict(resolved))
    if first[1].shape != (3, 3, 1, 1):
        raise UserError(f"{resolved.path} does not start with the 1x1 input conv of the normalised VGG19")
    to_caffe = nn.Conv2d(3, 3, 1)
    to_caffe.weight.data.copy_(first[1])
    to_caffe.bias.data.copy_(first[2])
    enc = VGGEncoder("vgg19", "vgg19", resolved, to_caffe, "rgb[0,1] -> caffe bgr*255 - mean (1x1 conv)",
                     pooling, padding)
    W.copy_in_order(enc.convs(), convs, resolved.path, enc.name)
    return enc.eval().requires_grad_(False)


def _torchvision_vgg(arch: str, weight_name: str, weights: str | None, pooling: str, padding: str) -> Encoder:
    resolved = W.resolve(weight_name, weights)
    sd = W.load_state_dict(resolved)
    prefix = "features." if any(k.startswith("features.") for k in sd) else ""
    enc = VGGEncoder(f"{arch}_tv", arch, resolved, Normalize(IMAGENET_MEAN, IMAGENET_STD),
                     "imagenet mean/std", pooling, padding)
    W.copy_in_order(enc.convs(), W.conv_pairs(sd, prefix, kernel=3), resolved.path, enc.name)
    return enc.eval().requires_grad_(False)


@register_backbone("vgg19_tv")
def vgg19_tv(weights: str | None = None, pooling: str = "max", padding: str = "zeros") -> Encoder:
    return _torchvision_vgg("vgg19", "vgg19_tv", weights, pooling, padding)


@register_backbone("vgg16_tv")
def vgg16_tv(weights: str | None = None, pooling: str = "max", padding: str = "zeros") -> Encoder:
    return _torchvision_vgg("vgg16", "vgg16_tv", weights, pooling, padding)


# --- timm -----------------------------------------------------------------------------------------------------
class TimmEncoder(Encoder):
    """Any timm model with ``forward_intermediates``; layers are the module names in its ``feature_info``."""

    def __init__(self, name: str, model: nn.Module, weights: W.ResolvedWeights | None) -> None:
        cfg = model.pretrained_cfg
        super().__init__(name, weights, f"mean {tuple(cfg['mean'])} std {tuple(cfg['std'])}")
        self.model = model
        self.preprocess = Normalize(cfg["mean"], cfg["std"])
        info = model.feature_info
        self.layer_names = tuple(f["module"] for f in info)
        self.reductions = {f["module"]: f["reduction"] for f in info}
        # content from the stride-8 stage (mid-level structure), style from every stage
        self.default_content_layers = [next(f["module"] for f in info if f["reduction"] >= 8)]
        self.default_style_layers = list(self.layer_names)

    def _features(self, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        idx = sorted({self.layer_names.index(name) for name in layers})
        feats = self.model.forward_intermediates(self.preprocess(image), indices=idx, stop_early=True,
                                                 intermediates_only=True)
        by_idx = dict(zip(idx, feats))
        return {name: by_idx[self.layer_names.index(name)] for name in layers}


def remap_in_order(sd: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``sd``'s tensors to ``target``'s keys by position, checking every shape (same net, other names)."""
    if len(sd) != len(target):
        raise UserError(f"checkpoint has {len(sd)} tensors, the model {len(target)}: not the same network")
    out = {}
    for (k_src, v), (k_dst, ref) in zip(sd.items(), target.items()):
        if v.shape != ref.shape:
            raise UserError(f"checkpoint tensor {k_src} {tuple(v.shape)} does not fit {k_dst} {tuple(ref.shape)}")
        out[k_dst] = v
    return out


def timm_model(arch: str, resolved: W.ResolvedWeights | None) -> nn.Module:
    """A timm model with the given checkpoint loaded (renamed by position if its names differ)."""
    import timm

    model = timm.create_model(arch, pretrained=False)
    if resolved is not None:
        sd = W.load_state_dict(resolved)
        target = model.state_dict()
        if set(sd) != set(target):
            sd = remap_in_order(sd, target)
        model.load_state_dict(sd)
    return model.eval().requires_grad_(False)


@register_backbone("efficientnet_lite0")
def efficientnet_lite0(weights: str | None = None, **_: object) -> Encoder:
    resolved = W.resolve("efficientnet_lite0", weights)
    return TimmEncoder("efficientnet_lite0", timm_model("tf_efficientnet_lite0", resolved), resolved)


@register_backbone("resnet50")
def resnet50(weights: str | None = None, **_: object) -> Encoder:
    resolved = W.resolve("resnet50", weights)
    return TimmEncoder("resnet50", timm_model("resnet50", resolved), resolved)


def _hf_cached(arch: str) -> Path | None:
    """timm's pretrained file for ``arch`` if it is already in the Hugging Face cache (no network)."""
    import timm
    from huggingface_hub import try_to_load_from_cache

    cfg = timm.models.get_pretrained_cfg(arch)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg else None
    for filename in ("model.safetensors", "pytorch_model.bin") if hub_id else ():
        found = try_to_load_from_cache(hub_id, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def generic_timm(arch: str, weights: str | None = None) -> Encoder:
    """``timm:<arch>``: an explicit checkpoint, else the Hugging Face cache, else timm's own download."""
    import timm

    if arch not in timm.list_models(pretrained=False):
        raise UserError(f"timm has no model {arch!r}: see timm.list_models()")
    path, source = (Path(weights), "explicit") if weights else (_hf_cached(arch), "hf_cache")
    if path is not None:
        if not path.is_file():
            raise UserError(f"weights file for timm:{arch} not found: {path}")
        resolved = W.ResolvedWeights(arch, path, source, W.sha256(path))
        return TimmEncoder(f"timm:{arch}", timm_model(arch, resolved), resolved)
    if W.offline():
        raise UserError(f"no weights for timm model {arch} here: give backbone.weights=PATH, or unset "
                        "NST_BENCH_OFFLINE to let timm download them")
    try:
        model = timm.create_model(arch, pretrained=True).eval().requires_grad_(False)
    except Exception as e:
        raise UserError(f"no weights for timm model {arch}: the download failed ({type(e).__name__}); "
                        "give backbone.weights=PATH") from e
    return TimmEncoder(f"timm:{arch}", model, W.ResolvedWeights(arch, Path("hf-hub"), "download"))


def build_backbone(name: str, weights: str | None = None, pooling: str = "max",
                   padding: str = "zeros") -> Encoder:
    """Build a registered backbone, or any timm model as ``timm:<name>``."""
    if name.startswith("timm:"):
        return generic_timm(name.removeprefix("timm:"), weights)
    if name not in BACKBONES:
        raise UserError(f"unknown backbone {name!r}; registered: {', '.join(BACKBONES)} (or timm:<model name>)")
    return BACKBONES[name](weights=weights, pooling=pooling, padding=padding)
