"""Runtime tables: seconds per iteration and per image, warm-up excluded, with device, threads and dtype."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from nst_bench.config import GatysConfig, OptimizerConfig
from nst_bench.data.images import load_image
from nst_bench.losses.objective import PerceptualObjective, blend_grams
from nst_bench.methods.adain import AdaIN
from nst_bench.methods.cyclegan import load_generator
from nst_bench.methods.fast import load_network
from nst_bench.methods.gatys import stylize
from nst_bench.nets.backbones import build_backbone

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "assets/demo/content/rocket.jpg"
STYLE = ROOT / "assets/demo/style/starry_night.jpg"


def machine() -> dict[str, Any]:
    return {"device": "cpu", "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "dtype": "float32", "torch": torch.__version__}


def gatys_objective(backbone: str, content: torch.Tensor, style: torch.Tensor) -> PerceptualObjective:
    encoder = build_backbone(backbone)
    objective = PerceptualObjective(encoder, encoder.default_content_layers, encoder.default_style_layers,
                                    content_weight=1.0, style_weight=5.0, tv_weight=0.0)
    objective.set_targets(objective.content_features(content), blend_grams([objective.style_grams(style)], [1.0]))
    return objective


def time_gatys(backbone: str, size: int, steps: int = 5, warmup: int = 2,
               steps_per_image: int = 300) -> dict[str, Any]:
    """Seconds per L-BFGS iteration after ``warmup`` iterations; per image = that x ``steps_per_image``."""
    content, style = load_image(CONTENT, size), load_image(STYLE, size)
    objective = gatys_objective(backbone, content, style)
    stylize(content, [style], [1.0], objective, GatysConfig(), OptimizerConfig(steps=warmup), progress=False)
    r = stylize(content, [style], [1.0], objective, GatysConfig(), OptimizerConfig(steps=steps), progress=False)
    s_per_it = r.seconds / r.iterations
    h, w = content.shape[-2:]
    return {"method": f"gatys ({backbone})", "size": size, "image": f"{w}x{h}", "s_per_iteration": s_per_it,
            "evaluations_per_iteration": r.evaluations / r.iterations, "iterations": steps_per_image,
            "s_per_image": s_per_it * steps_per_image, "measured_iterations": r.iterations}


def time_adain(size: int, repeats: int = 3, model: AdaIN | None = None) -> dict[str, Any]:
    """Seconds per image of one AdaIN pass (encoder + decoder), after one warm-up pass."""
    content, style = load_image(CONTENT, size), load_image(STYLE, size)
    model = model or AdaIN()
    model(content, [style])
    t = time.perf_counter()
    for _ in range(repeats):
        model(content, [style])
    h, w = content.shape[-2:]
    return {"method": "adain", "size": size, "image": f"{w}x{h}", "s_per_iteration": float("nan"),
            "evaluations_per_iteration": float("nan"), "iterations": 0,
            "s_per_image": (time.perf_counter() - t) / repeats, "measured_iterations": repeats}


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones (oneDNN picks kernels on
    the first calls at a new shape)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bf16_supported() -> bool:
    """bf16 autocast is only worth timing where the CPU has native bf16 dot products (AVX512-BF16 or AMX)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def time_feedforward(label: str, fn, image: torch.Tensor, repeats: int = 5, bf16: bool = False,
                     channels_last: bool = False, modules: tuple[torch.nn.Module, ...] = ()) -> dict[str, Any]:
    """Seconds per image of one feed-forward pass ``fn(image)`` under the given dtype and memory format."""
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    for m in modules:
        m.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

    def call() -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            fn(image)

    seconds = median_seconds(call, repeats)
    h, w = image.shape[-2:]
    return {"method": label, "size": max(h, w), "image": f"{w}x{h}", "dtype": "bf16 autocast" if bf16 else "float32",
            "channels_last": channels_last, "s_per_image": seconds, "repeats": repeats}


def time_network(label: str, size: int, forward: Callable[[torch.Tensor], torch.Tensor], net: torch.nn.Module
                 ) -> dict[str, Any]:
    """Seconds per image of one pass of a trained network (float32), in the same row layout as the other methods."""
    row = time_feedforward(label, forward, load_image(CONTENT, size), repeats=3, modules=(net,))
    return row | {"s_per_iteration": float("nan"), "evaluations_per_iteration": float("nan"), "iterations": 0,
                  "measured_iterations": row["repeats"]}


def runtime_table(backbones: list[str], sizes: list[int], steps: int = 5, warmup: int = 2,
                  adain: bool = True, fast_checkpoint: str | None = None,
                  cyclegan_checkpoint: str | None = None) -> pd.DataFrame:
    """One row per method and size; a bar counts the cells (1024 px Gatys cells take minutes each)."""
    networks: dict[str, tuple[Callable, torch.nn.Module]] = {}
    if fast_checkpoint:
        net = load_network(fast_checkpoint)[0]
        networks["fast"] = (net.stylize, net)
    if cyclegan_checkpoint:
        generator = load_generator(cyclegan_checkpoint)[0]
        networks["cyclegan"] = (generator, generator)
    cells = [("gatys", b, s) for b in backbones for s in sizes] + ([("adain", "", s) for s in sizes] if adain else [])
    cells += [(name, "", s) for name in networks for s in sizes]
    model = AdaIN() if adain else None
    rows = []
    for method, backbone, size in tqdm(cells, desc="runtime", unit="cell", disable=None):
        if method == "gatys":
            row = time_gatys(backbone, size, steps, warmup)
        else:
            row = time_adain(size, model=model) if method == "adain" else time_network(method, size, *networks[method])
        rows.append(row | machine())
    return pd.DataFrame(rows)
