"""Runtime tables: seconds per iteration and per image, warm-up excluded, with device, threads and dtype."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from nst_bench.config import RunConfig, from_dict, set_dotted, validate
from nst_bench.data.images import load_image
from nst_bench.losses.objective import PerceptualObjective
from nst_bench.methods.common import perceptual_objective, set_style_targets
from nst_bench.methods.registry import get_method
from nst_bench.run.cache import ProcessCache

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "assets/demo/content/rocket.jpg"
STYLE = ROOT / "assets/demo/style/starry_night.jpg"


def machine() -> dict[str, Any]:
    return {"device": "cpu", "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "dtype": "float32", "torch": torch.__version__}


def method_config(method: str, size: int, **keys: Any) -> RunConfig:
    """The config a runtime cell times: the bundled demo pair at ``size`` px, nothing logged."""
    data: dict[str, Any] = {"method": method, "content": str(CONTENT), "styles": [str(STYLE)],
                            "image": {"size": size}, "tracking": {"wandb": "disabled"}}
    for key, value in keys.items():
        set_dotted(data, key, value)
    return validate(from_dict(RunConfig, data))


def gatys_objective(backbone: str, content: torch.Tensor, style: torch.Tensor) -> PerceptualObjective:
    """The default Gatys objective on ``backbone`` with its targets set (for FLOP counts and timings)."""
    objective = perceptual_objective(method_config("gatys", max(content.shape[-2:]), **{"backbone.name": backbone}),
                                     ProcessCache())
    set_style_targets(objective, content, [style], [1.0])
    return objective


def time_gatys(backbone: str, size: int, steps: int = 5, warmup: int = 2,
               steps_per_image: int = 300) -> dict[str, Any]:
    """Seconds per L-BFGS iteration after ``warmup`` iterations; per image = that x ``steps_per_image``."""
    cfg = method_config("gatys", size, **{"backbone.name": backbone})
    stylize = get_method("gatys").build(cfg, ProcessCache())
    content, style = load_image(CONTENT, size), load_image(STYLE, size)
    cfg.optimizer.steps = warmup
    stylize(content, [style], [1.0])
    cfg.optimizer.steps = steps
    r = stylize(content, [style], [1.0])
    s_per_it = r.seconds / r.iterations
    h, w = content.shape[-2:]
    return {"method": f"gatys ({backbone})", "size": size, "image": f"{w}x{h}", "s_per_iteration": s_per_it,
            "evaluations_per_iteration": r.evaluations / r.iterations, "iterations": steps_per_image,
            "s_per_image": s_per_it * steps_per_image, "measured_iterations": r.iterations}


def time_one_pass(cfg: RunConfig, cache: ProcessCache, repeats: int = 3) -> dict[str, Any]:
    """Seconds per image of one pass of a feed-forward method (median over ``repeats`` after 2 warm-up passes),
    built through the registry like every other run."""
    method = get_method(cfg.method)
    method.prepare(cfg, cache)
    stylize = method.build(cfg, cache)
    content = load_image(CONTENT, cfg.image.size)
    styles = [load_image(s, cfg.image.size) for s in cfg.styles] if method.reads_style_pixels else []
    blend = cfg.style_weights()
    m = timed(lambda: stylize(content, styles, blend, score=False), repeats)
    h, w = content.shape[-2:]
    return {"method": cfg.method, "size": cfg.image.size, "image": f"{w}x{h}", "s_per_iteration": float("nan"),
            "evaluations_per_iteration": float("nan"), "iterations": 0, "s_per_image": m.median,
            "s_per_image_iqr": m.iqr, "measured_iterations": repeats}


@dataclass
class Timing:
    median: float
    iqr: float  # spread: interquartile range of the calls (0 for fewer than 2)


def timed(fn: Callable[[], object], repeats: int, warmup: int = 2) -> Timing:
    """Median and IQR of ``repeats`` single calls of ``fn`` after ``warmup`` untimed ones (oneDNN picks kernels
    on the first calls at a new shape). Each call is timed on its own: torch.utils.benchmark's Timer warms up
    before every measurement, which would run a whole stylization three times per repeat."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return Timing(statistics.median(times), q[2] - q[0])


def bf16_supported() -> bool:
    """bf16 autocast is only worth timing where the CPU has native bf16 dot products (AVX512-BF16 or AMX)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def time_feedforward(label: str, fn, image: torch.Tensor, repeats: int = 5, bf16: bool = False,
                     channels_last: bool = False, modules: tuple[torch.nn.Module, ...] = ()) -> dict[str, Any]:
    """Seconds per image of one feed-forward pass ``fn(image)`` under the given dtype and memory format."""
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    for module in modules:
        module.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

    def call() -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            fn(image)

    m = timed(call, repeats)
    h, w = image.shape[-2:]
    return {"method": label, "size": max(h, w), "image": f"{w}x{h}", "dtype": "bf16 autocast" if bf16 else "float32",
            "channels_last": channels_last, "s_per_image": m.median, "s_per_image_iqr": m.iqr, "repeats": repeats}


def runtime_table(backbones: list[str], sizes: list[int], steps: int = 5, warmup: int = 2,
                  adain: bool = True, fast_checkpoint: str | None = None,
                  cyclegan_checkpoint: str | None = None) -> pd.DataFrame:
    """One row per method and size; a bar counts the cells (1024 px Gatys cells take minutes each)."""
    # the one-pass methods to time: a trained network brings its own styles (styles: [])
    one_pass = ([("adain", {})] if adain else []) + (
        [("fast", {"fast.checkpoint": fast_checkpoint, "styles": []})] if fast_checkpoint else []) + (
        [("cyclegan", {"cyclegan.checkpoint": cyclegan_checkpoint})] if cyclegan_checkpoint else [])
    cells = [(time_gatys, (b, s, steps, warmup)) for b in backbones for s in sizes]
    cache = ProcessCache()  # networks load once, not once per size
    cells += [(time_one_pass, (method_config(name, s, **keys), cache)) for name, keys in one_pass for s in sizes]
    rows = [time(*args) | machine() for time, args in tqdm(cells, desc="runtime", unit="cell", disable=None)]
    return pd.DataFrame(rows)
