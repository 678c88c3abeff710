"""Typed run configuration: dataclass defaults < YAML file < command-line flags < ``--set key=value``.

Every key that changes a result lives here (Gram normalisation, pooling, padding, init, weights source), so the
resolved config saved with each result says exactly what produced it. Unknown keys are errors, with a suggestion.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nst_bench.errors import UserError


@dataclass
class ImageConfig:
    size: int = 512  # long side of the output, px
    style_size: int | None = None  # long side of the style images; None = same as size
    max_pixels: int = 200_000_000  # refuse source images larger than this
    max_size: int = 4096  # refuse to work above this long side


@dataclass
class BackboneConfig:
    name: str = "vgg19"
    weights: str | None = None  # explicit checkpoint path; None = resolver order (see nst_bench.nets.weights)
    content_layers: list[str] | None = None  # None = the backbone's default (vgg: conv4_2)
    style_layers: list[str] | None = None  # None = the backbone's default (vgg: conv1_1..conv5_1)
    style_layer_weights: list[float] | None = None  # None = equal, summing to 1
    pooling: str = "max"  # max | avg
    padding: str = "zeros"  # zeros | reflect


@dataclass
class LossConfig:
    content_weight: float = 1.0
    style_weight: float = 5.0
    tv_weight: float = 0.0
    tv_beta: float = 2.0
    gram_norm: str = "paper"  # paper | mse_chw | mse_hw


DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02, "sgd": 0.01}


@dataclass
class OptimizerConfig:
    name: str = "lbfgs"  # lbfgs | adam | sgd (DeepDream's normalised-gradient ascent)
    lr: float | None = None  # None = 1.0 for L-BFGS (step scale), 0.02 for Adam, 0.01 for SGD (pixels in [0, 1])
    steps: int = 300  # iterations per scale (Gatys: unless gatys.scale_steps says otherwise)
    history_size: int = 100  # L-BFGS memory
    line_search: str | None = "strong_wolfe"  # L-BFGS line search; None = fixed step lr (fast, can diverge)
    line_search_steps: int | None = None  # line search only in each scale's first N iterations and after a rise
    keep_best: bool = False  # end each scale on the evaluated image with the lowest loss, not the last (without a
    #   line search L-BFGS can end on a rise: up to 23% above its best in results/retention_pilot)


@dataclass
class GatysConfig:
    init: str = "content"  # content | noise | style
    scales: list[float] = field(default_factory=lambda: [1.0])  # coarse-to-fine, e.g. [0.5, 1.0]
    scale_steps: list[int] | None = None  # iterations at each scale, e.g. [200, 60]; None = optimizer.steps each
    preserve_color: bool = False  # luminance-only transfer, content's chrominance kept
    precision: str = "fp32"  # fp32 | bf16 (encoder under bf16 autocast; Gram matrices and losses stay float32)
    pyramid: int = 1  # pixels as a Laplacian pyramid of N levels (1 = plain pixels); same loss, other variables


@dataclass
class AdainConfig:
    alpha: float = 1.0  # 1 = all style, 0 = the content's own features
    preserve_color: bool = False


@dataclass
class MagentaConfig:
    alpha: float = 1.0  # magenta: 0 = the photo's own style vector, 1 = the painting's
    style_index: int = 0  # magenta26: which of its 26 built-in styles (0-25)


@dataclass
class FastConfig:
    checkpoint: str | None = None  # trained network (.safetensors from `nst-bench train fast`) for method: fast
    width: int = 32  # channels of the first layer (training only; a checkpoint records its own)
    blocks: int = 5  # residual blocks
    output: str = "sigmoid"  # tanh | sigmoid | clamp


@dataclass
class CycleGANConfig:
    checkpoint: str | None = None  # photo -> artist generator (generator.safetensors) for method: cyclegan
    border: int = 0  # translation: px of the photo mirrored around it, cropped off after; 0 = the paper (a band
    #   along the edges, where the generators' zero padding shows; methods.cyclegan.mirrored); 32 takes it out
    #   (results/cyclegan/border)
    domain_a: str | None = None  # training: photo folder
    domain_b: str | None = None  # training: the artist's paintings
    width: int = 64  # generator channels (the paper: 64)
    blocks: int = 9  # residual blocks (the paper: 9 at 256 px)
    upsample: str = "transposed"  # transposed (the paper) | nearest | bilinear: a resize, then a 3x3 conv
    g_antialias: bool = False  # generators: a blur before each stride-2 conv and after each x2 upsampling
    g_skip: bool = False  # generators add their output to the photo (before the tanh): they start as the identity
    g_noise: bool = False  # generators get per-pixel noise, with a learnt per-channel scale, in both upsampling
    #   blocks (StyleGAN's noise inputs): a source of fine texture not locked to the pixel lattice
    g_norm: str = "instance"  # generators' norm: instance (the paper) | pixel (no image-wide statistic) | pixel_decoder
    d_width: int = 64  # discriminator channels
    d_spectral_norm: bool = False  # spectral norm on every discriminator conv (Miyato et al. 2018): caps how
    #   sharply D can react to a pattern, so it cannot run away from the generator
    d_antialias: bool = False  # a fixed blur before each of the discriminators' stride-2 convs (Zhang 2019)
    d_blur_input: bool = True  # with d_antialias: blur the image itself too (false: D sees the pixels as they are)
    d_features: str = "none"  # none (the paper: D reads pixels) | vgg16: a PatchGAN head on frozen VGG16 relu4_3 |
    #   vgg16_avg: the same with average pooling, a weaker 8-pixel lattice for a periodic pattern to lock to
    d_augment: str = "none"  # none (the paper) | translation | translation_cutout | scale_translation: the
    #   discriminators read randomly shifted (cut-out, or resized by 0.76-1.32 first) images, real and fake alike
    #   (DiffAugment, Zhao et al. 2020; the resize so no fixed period locks to a discriminator's stride)
    d_features_on: str = "both"  # which discriminators read d_features: both | paintings (D_b; the photos' D_a
    #   reads pixels: a feature D cannot see a 4-pixel grid in G_ba's photos, results/cyclegan)
    #   | paintings_with_pixels (D_b also has a pixel PatchGAN beside the feature head: a texture the features
    #   pool away still costs the generator)
    lr: float = 2e-4
    d_lr: float | None = None  # the discriminators' learning rate; None = lr
    g_ema: float = 0.0  # > 0: scored, sampled and saved generators are an exponential moving average of the
    #   trained ones with this decay (Yazici et al. 2019); 0 = the paper (the trained weights themselves)
    beta1: float = 0.5
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # x lambda_cycle
    lambda_grid: float = 0.0  # > 0: the generators also pay for spectral power on the 4-pixel lattice (the grid
    #   artefact, losses/artefacts.py) above its neighbours', log-ratio, both generators' outputs
    grid_tolerance: float = 1.0  # the lattice ratio lambda_grid lets pass free: photos measure about 1, a visible
    #   grid tens; above 1 the penalty stops once the grid is gone instead of pushing the outputs flat
    lambda_regular: float = 0.0  # > 0: the generators also pay for a regular fine texture at any period or
    #   orientation (losses.artefacts.texture_rebound, mean over 64 px tiles) above regular_tolerance
    regular_tolerance: float = 0.14  # the held-out painting sets measure 0.14, the landscape photos 0.16
    pool_size: int = 50
    cycle_noise: float = 0.0  # std of Gaussian noise on A->B (and B->A) before the way back; 0 = the paper
    decay_from: float = 0.5  # fraction of train.steps after which the learning rate falls linearly to 0
    a_scale: float = 1.0  # photos are resized to crop x a_scale on the short side (256 / crop: native 256 px)
    b_scale: float = 1.5  # paintings are resized to crop x b_scale on the short side: more distinct crops
    holdout_b: int = 0  # paintings never trained on: the held-out set KID and the Gram distance compare against
    sample_rows: int = 6  # held-out photos shown in the sample grids (all train.holdout photos are scored)


@dataclass
class TrainConfig:
    """Feed-forward training (`nst-bench train fast`); never part of a stylize trial."""

    content_dir: str | None = None  # any folder of photos (COCO for real use)
    extra_content_dirs: list[str] = field(default_factory=list)  # more photo folders, trained on after content_dir's
    crop: int = 256  # random square crops, px
    batch: int = 4
    steps: int = 2000
    lr: float = 1e-3
    holdout: int = 4  # photos of content_dir never trained on; stylized as samples
    skip_first: int = 0  # the first N photos (sorted) are not used at all: keep `evaluate retention --limit N` unseen
    sample_every: int = 100  # steps between sample grids (files + W&B)
    checkpoint_every: int = 100  # steps between checkpoints (resume point + net.safetensors)
    precision: str = "32"  # 32 | bf16-mixed (bf16 autocast; Gram matrices stay float32). 2.3x faster on AVX512-BF16


@dataclass
class DepthConfig:
    """Depth-preservation loss (Gatys and fast-network training): off while weight is 0."""

    weight: float = 0.0  # x mean squared difference of standardised depth maps (output vs content)
    estimator: str = "midas_small"  # midas_small | dpt_hybrid | dpt_large | depth_anything_small | ..._v2_small
    weights: str | None = None  # explicit checkpoint (MiDaS) or saved model directory (transformers)
    size: int | None = None  # long side the estimator sees; None = its own (MiDaS small 256, DPT 384)


@dataclass
class VideoConfig:
    """`nst-bench video` and `program: video` sweeps: stylize a clip frame by frame, optionally consistently."""

    input: str | None = None  # the clip (.mp4, .mov, ...)
    max_frames: int | None = None  # None = every frame
    temporal_weight: float = 0.0  # gatys: Ruder et al.'s temporal loss; > 0 also starts each frame from the last
    blend: float = 0.0  # fast/adain/cyclegan: share of the flow-warped previous output mixed into each frame
    flow: str = "farneback"  # farneback | raft_small | raft_large (RAFT needs its weights)
    flow_weights: str | None = None


@dataclass
class DreamConfig:
    """DeepDream (`nst-bench dream`): gradient ascent on the activations of ``layers``, octave by octave."""

    layers: list[str] | None = None  # None = the backbone's content layer (vgg: conv4_2)
    octaves: int = 4  # image sizes, each octave_scale times the last, ending at image.size
    octave_scale: float = 1.4
    jitter: int = 32  # random roll, px, before every step


@dataclass
class TrackingConfig:
    wandb: str = "offline"  # offline | online | disabled
    project: str = "nst-bench"
    group: str | None = None
    log_every: int = 1
    score_outputs: bool = True  # Gatys terms of one-pass outputs, SSIM/PSNR/LPIPS of all (retention: its own)


@dataclass
class RunConfig:
    method: str = "gatys"
    content: str | None = None
    styles: list[str] = field(default_factory=list)
    style_blend: list[float] | None = None  # one weight per style image; None = equal
    out: str = "results/stylize"
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None  # torch.set_num_threads; None = torch's default
    image: ImageConfig = field(default_factory=ImageConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    gatys: GatysConfig = field(default_factory=GatysConfig)
    adain: AdainConfig = field(default_factory=AdainConfig)
    fast: FastConfig = field(default_factory=FastConfig)
    magenta: MagentaConfig = field(default_factory=MagentaConfig)
    cyclegan: CycleGANConfig = field(default_factory=CycleGANConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    depth: DepthConfig = field(default_factory=DepthConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    dream: DreamConfig = field(default_factory=DreamConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def style_weights(self) -> list[float]:
        """One blend weight per style image: the given ones, else equal."""
        return list(self.style_blend) if self.style_blend else [1.0] * len(self.styles)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unknown_key(key: str, valid: list[str], where: str) -> UserError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return UserError(f"unknown config key {where}{key!r}{hint}; valid keys here: {', '.join(valid)}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML/CLI value to the declared type, or raise a UserError naming the key."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(value, args[0], key)
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(v, item, key) for v in value]
    try:
        if tp is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if tp is float:
            return float(value)
        if tp is str:
            return str(value)
    except (TypeError, ValueError):
        raise UserError(f"config key {key} wants {getattr(tp, '__name__', tp)}, got {value!r}") from None
    return value


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, checking every key and type."""
    if not isinstance(data, dict):
        raise UserError(f"config section {where or 'top level'} must be a mapping, got {type(data).__name__}")
    types_ = _field_types(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in types_:
            raise _unknown_key(key, list(types_), where)
        tp = types_[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value or {}, f"{where}{key}.")
        else:
            kwargs[key] = _coerce(value, tp, where + key)
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """data['a']['b'] = value for 'a.b', creating sections as needed."""
    *parents, leaf = dotted.split(".")
    node = data
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise UserError(f"cannot set {dotted}: {p} is not a section")
    node[leaf] = merge(node[leaf], value) if isinstance(value, dict) and isinstance(node.get(leaf), dict) else value


def parse_override(text: str) -> tuple[str, Any]:
    """'loss.style_weight=1e4' -> ('loss.style_weight', 10000.0); the value is parsed as YAML."""
    if "=" not in text:
        raise UserError(f"override {text!r} must look like key=value, e.g. loss.style_weight=1e4")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{p} is not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise UserError(f"{p} must hold a mapping of config keys, not a {type(data).__name__}")
    return data


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(files: list[str] | None = None, overrides: dict[str, Any] | None = None,
                defaults: dict[str, Any] | None = None) -> RunConfig:
    """Dataclass defaults, then a command's own ``defaults``, each YAML file in order, then dotted overrides
    (already typed or raw strings)."""
    data: dict[str, Any] = dict(defaults or {})
    for f in files or []:
        data = merge(data, read_yaml(f))
    for key, value in (overrides or {}).items():
        set_dotted(data, key, value)
    return validate(from_dict(RunConfig, data))


# the values a key may take; the CLI's flags offer the same lists
CHOICES: dict[str, tuple[Any, ...]] = {
    "optimizer.name": ("lbfgs", "adam", "sgd"),
    "gatys.init": ("content", "noise", "style"),
    "loss.gram_norm": ("paper", "mse_chw", "mse_hw"),
    "optimizer.line_search": ("strong_wolfe", None),
    "backbone.pooling": ("max", "avg"),
    "backbone.padding": ("zeros", "reflect"),
    "tracking.wandb": ("offline", "online", "disabled"),
    "fast.output": ("tanh", "sigmoid", "clamp"),
    "train.precision": ("32", "bf16-mixed"),
    "gatys.precision": ("fp32", "bf16"),
    "cyclegan.upsample": ("transposed", "nearest", "bilinear"),
    "cyclegan.g_norm": ("instance", "pixel", "pixel_decoder"),
    "cyclegan.d_features": ("none", "vgg16", "vgg16_avg"),
    "cyclegan.d_features_on": ("both", "paintings", "paintings_with_pixels"),
    "cyclegan.d_augment": ("none", "translation", "translation_cutout", "scale_translation"),
    "video.flow": ("farneback", "raft_small", "raft_large"),
}


def validate(cfg: RunConfig) -> RunConfig:
    """Checks that need more than one key or a choice list; each failure says what to change."""
    for key, allowed in CHOICES.items():
        value = functools.reduce(getattr, key.split("."), cfg)
        if value not in allowed:
            raise UserError(f"{key} is {value!r}; choose one of {', '.join(map(str, allowed))}")
    if not 16 <= cfg.image.size <= cfg.image.max_size:
        raise UserError(f"image.size {cfg.image.size} is outside 16..{cfg.image.max_size} px "
                        "(raise image.max_size to go bigger)")
    if cfg.optimizer.lr is None:
        cfg.optimizer.lr = DEFAULT_LR[cfg.optimizer.name]
    if cfg.optimizer.steps < 1:
        raise UserError(f"optimizer.steps must be at least 1, got {cfg.optimizer.steps}")
    if cfg.style_blend is not None and cfg.styles and len(cfg.style_blend) != len(cfg.styles):
        raise UserError(f"{len(cfg.styles)} style images but {len(cfg.style_blend)} style weights: "
                        "give one weight per --style")
    if cfg.style_blend is not None and (min(cfg.style_blend) < 0 or sum(cfg.style_blend) <= 0):
        raise UserError("style weights must be non-negative and sum to more than 0")
    if not cfg.gatys.scales or any(not 0 < s <= 1 for s in cfg.gatys.scales):
        raise UserError(f"gatys.scales must be fractions in (0, 1], e.g. [0.5, 1.0]; got {cfg.gatys.scales}")
    if cfg.gatys.pyramid < 1:
        raise UserError(f"gatys.pyramid is the number of pyramid levels, at least 1; got {cfg.gatys.pyramid}")
    steps = cfg.gatys.scale_steps
    if steps is not None and (len(steps) != len(cfg.gatys.scales) or min(steps) < 1):
        raise UserError(f"gatys.scale_steps needs one positive iteration count per scale {cfg.gatys.scales}, "
                        f"got {steps}")
    if not 0 <= cfg.cyclegan.g_ema < 1:
        raise UserError(f"cyclegan.g_ema is a decay in [0, 1) (0 = off, e.g. 0.999), got {cfg.cyclegan.g_ema}")
    if cfg.cyclegan.d_features != "none" and cfg.cyclegan.d_spectral_norm:
        raise UserError("cyclegan.d_spectral_norm applies to the pixel discriminator: drop it or set "
                        "cyclegan.d_features: none")
    if cfg.cyclegan.lambda_grid < 0:
        raise UserError(f"cyclegan.lambda_grid is a loss weight, 0 (off) or more; got {cfg.cyclegan.lambda_grid}")
    if cfg.cyclegan.grid_tolerance < 1:
        raise UserError("cyclegan.grid_tolerance is the lattice power ratio left unpenalised, 1 (photos) or more "
                        f"(e.g. 2); got {cfg.cyclegan.grid_tolerance}")
    if cfg.cyclegan.border < 0:
        raise UserError("cyclegan.border is the px of photo mirrored around it, 0 (off) or more; "
                        f"got {cfg.cyclegan.border}")
    if cfg.cyclegan.lambda_regular < 0:
        raise UserError(f"cyclegan.lambda_regular is a loss weight, 0 (off) or more; got {cfg.cyclegan.lambda_regular}")
    if not 0 <= cfg.cyclegan.regular_tolerance < 1:
        raise UserError("cyclegan.regular_tolerance is the texture rebound left unpenalised, between 0 and 1 "
                        f"(the held-out paintings measure 0.14); got {cfg.cyclegan.regular_tolerance}")
    if cfg.cyclegan.d_features == "none" and cfg.cyclegan.d_features_on != "both":
        raise UserError("cyclegan.d_features_on says which discriminators read features: set cyclegan.d_features "
                        "(e.g. vgg16_avg) or drop d_features_on")
    if not 0 <= cfg.adain.alpha <= 1:
        raise UserError(f"adain.alpha must be in [0, 1], got {cfg.adain.alpha}")
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"device is {cfg.device} but torch sees no GPU here: use --device cpu (or device: cpu)")
    t = cfg.train
    if t.skip_first < 0:
        raise UserError(f"train.skip_first must be 0 or more, got {t.skip_first}")
    if min(t.crop, t.batch, t.steps, t.sample_every, t.checkpoint_every) < 1 or t.lr <= 0 or t.holdout < 0:
        raise UserError("train.crop, batch, steps, sample_every, checkpoint_every and lr must be positive, "
                        "train.holdout at least 0")
    if cfg.loss.tv_beta <= 0:
        raise UserError(f"loss.tv_beta must be positive, got {cfg.loss.tv_beta}")
    v = cfg.video
    if v.temporal_weight < 0 or not 0 <= v.blend < 1 or (v.max_frames is not None and v.max_frames < 1):
        raise UserError("video.temporal_weight must be >= 0, video.blend in [0, 1), video.max_frames >= 1")
    if cfg.dream.octaves < 1 or cfg.dream.octave_scale <= 1 or cfg.dream.jitter < 0:
        raise UserError("dream.octaves must be >= 1, dream.octave_scale > 1 and dream.jitter >= 0")
    if cfg.depth.weight < 0:
        raise UserError(f"depth.weight must be 0 (off) or positive, got {cfg.depth.weight}")
    return cfg


# every key that holds a file or folder: made absolute before a trial runs somewhere else (a Ray worker)
PATH_KEYS = ("content", "styles", "out", "backbone.weights", "fast.checkpoint", "cyclegan.checkpoint",
             "cyclegan.domain_a", "cyclegan.domain_b", "train.content_dir", "train.extra_content_dirs",
             "depth.weights", "video.input", "video.flow_weights")


def absolute_paths(cfg: RunConfig) -> RunConfig:
    """A copy of ``cfg`` with every path key that is set resolved against the current directory."""
    cfg = copy.deepcopy(cfg)
    for key in PATH_KEYS:
        *parents, leaf = key.split(".")
        node = cfg
        for p in parents:
            node = getattr(node, p)
        value = getattr(node, leaf)
        if isinstance(value, list):
            setattr(node, leaf, [str(Path(v).resolve()) for v in value])
        elif value:
            setattr(node, leaf, str(Path(value).resolve()))
    return cfg


_UNSET = object()
# keys added after trial ids were first written: left out of an id while at these (their defaults), so a sweep
# that never sets them keeps its ids and resumes into its old folders
LATER_KEYS: dict[str, Any] = {"optimizer.line_search_steps": None, "gatys.scale_steps": None,
                              "optimizer.keep_best": False,
                              "gatys.precision": "fp32", "gatys.pyramid": 1, "train.extra_content_dirs": [],
                              "cyclegan.d_spectral_norm": False, "cyclegan.d_lr": None,
                              "cyclegan.d_antialias": False, "tracking.score_outputs": True,
                              "cyclegan.g_antialias": False, "cyclegan.g_norm": "instance",
                              "cyclegan.g_ema": 0.0, "cyclegan.d_blur_input": True,
                              "cyclegan.g_skip": False, "cyclegan.d_features": "none",
                              "cyclegan.d_features_on": "both", "cyclegan.lambda_grid": 0.0,
                              "cyclegan.grid_tolerance": 1.0, "cyclegan.g_noise": False,
                              "cyclegan.d_augment": "none", "cyclegan.lambda_regular": 0.0,
                              "cyclegan.regular_tolerance": 0.14, "cyclegan.border": 0}


def config_hash(cfg: RunConfig | dict[str, Any], length: int = 10) -> str:
    """Stable id of a resolved config (sorted JSON), used to name runs and trials. Sections that are off (a depth
    loss of weight 0, no video) are left out, so adding an optional loss leaves every earlier id unchanged."""
    data = to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg
    off = {"depth": lambda d: not d["weight"], "video": lambda v: not v["input"]}
    data = {k: v for k, v in data.items() if not (k in off and isinstance(v, dict) and off[k](v))}
    data = {k: {n: x for n, x in v.items() if LATER_KEYS.get(f"{k}.{n}", _UNSET) != x} if isinstance(v, dict) else v
            for k, v in data.items()}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:length]
