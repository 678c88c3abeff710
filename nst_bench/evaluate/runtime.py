"""The one timing path: every runtime table and speed-up in results/ comes from these functions.

Each cell is a median over repeats after untimed warm-up calls, with its interquartile range, and names its dtype;
the machine (CPU, threads, torch) is recorded in every row, so a ratio is only ever taken between rows of one run
with the same dtype.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
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
from nst_bench.run.cpu import bf16_supported, cpu_name

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "assets/demo/content/rocket.jpg"
STYLE = ROOT / "assets/demo/style/starry_night.jpg"


def machine() -> dict[str, Any]:
    """What every timing row records about where and by which code it was measured."""
    from nst_bench.run.tracking import provenance

    made = provenance("cpu", 0)
    return {"device": "cpu", "cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "git_commit": made["git_commit"], "date": made["date"]}


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


def time_gatys(backbone: str, size: int, steps: int = 5, warmup: int = 2, repeats: int = 3,
               steps_per_image: int = 300) -> dict[str, Any]:
    """Seconds per L-BFGS iteration: the median over ``repeats`` runs of ``steps`` iterations, after one untimed
    run of ``warmup``; per image = that x ``steps_per_image``."""
    cfg = method_config("gatys", size, **{"backbone.name": backbone})
    stylize = get_method("gatys").build(cfg, ProcessCache())
    content, style = load_image(CONTENT, size), load_image(STYLE, size)
    cfg.optimizer.steps = warmup
    stylize(content, [style], [1.0])
    cfg.optimizer.steps = steps
    runs = [stylize(content, [style], [1.0]) for _ in range(repeats)]
    per_it = spread([r.seconds / r.iterations for r in runs])
    h, w = content.shape[-2:]
    return {"method": f"gatys ({backbone})", "size": size, "image": f"{w}x{h}", "dtype": "float32",
            "s_per_iteration": per_it.median, "s_per_iteration_iqr": per_it.iqr,
            "evaluations_per_iteration": sum(r.evaluations for r in runs) / sum(r.iterations for r in runs),
            "iterations": steps_per_image, "s_per_image": per_it.median * steps_per_image,
            "s_per_image_iqr": per_it.iqr * steps_per_image, "repeats": repeats}


def time_one_pass(cfg: RunConfig, cache: ProcessCache, repeats: int = 5, dtype: str = "float32",
                  label: str | None = None, network: str | None = None) -> dict[str, Any]:
    """Seconds per image of one pass of a feed-forward method (median over ``repeats`` after 2 warm-up passes),
    built through the registry like every other run; ``dtype`` bf16 runs it under bf16 autocast."""
    method = get_method(cfg.method)
    method.prepare(cfg, cache)
    stylize = method.build(cfg, cache)
    content = load_image(CONTENT, cfg.image.size)
    styles = [load_image(s, cfg.image.size) for s in cfg.styles] if method.reads_style_pixels else []
    blend = cfg.style_weights()

    def call() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            stylize(content, styles, blend, score=False)

    m = timed(call, repeats)
    h, w = content.shape[-2:]
    return {"method": label or cfg.method, "size": cfg.image.size, "image": f"{w}x{h}", "dtype": dtype,
            "network": Path(network).name if network else None, "s_per_iteration": float("nan"),
            "s_per_iteration_iqr": float("nan"), "evaluations_per_iteration": float("nan"), "iterations": 0,
            "s_per_image": m.median, "s_per_image_iqr": m.iqr, "repeats": repeats}


@dataclass
class Timing:
    median: float
    iqr: float  # spread: interquartile range of the calls (0 for fewer than 2)


def spread(times: list[float]) -> Timing:
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return Timing(statistics.median(times), q[2] - q[0])


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
    return spread(times)


def runtime_table(backbones: list[str], sizes: list[int], steps: int = 5, warmup: int = 2, repeats: int = 3,
                  adain: bool = True, fast_checkpoint: str | None = None, cyclegan_checkpoint: str | None = None,
                  dtypes: tuple[str, ...] | None = None, magenta: bool = True,
                  engstrom: Sequence[str] = ()) -> pd.DataFrame:
    """One row per method, size and dtype (float32, plus bf16 autocast for the one-pass methods where the CPU has
    native bf16); a bar counts the cells (1024 px Gatys cells take minutes each). ``engstrom``: folders of
    Engstrom's pretrained networks, each timed as ``method: fast``."""
    dtypes = dtypes or (("float32", "bf16") if bf16_supported() else ("float32",))
    # (label, method, config keys, network file) of the one-pass methods: a trained network brings its own styles
    one_pass = ([("adain", "adain", {}, None)] if adain else []) + (
        [("magenta", "magenta", {}, None), ("magenta26", "magenta26", {}, None)] if magenta else []) + (
        [("fast", "fast", {"fast.checkpoint": fast_checkpoint, "styles": []}, fast_checkpoint)]
        if fast_checkpoint else []) + [
        (f"engstrom ({Path(f).name})", "fast", {"fast.checkpoint": f}, f) for f in engstrom] + (
        [("cyclegan", "cyclegan", {"cyclegan.checkpoint": cyclegan_checkpoint}, cyclegan_checkpoint)]
        if cyclegan_checkpoint else [])
    cells: list[tuple[Callable[..., dict[str, Any]], tuple, dict[str, Any]]] = [
        (time_gatys, (b, s, steps, warmup, repeats), {}) for b in backbones for s in sizes]
    cache = ProcessCache()  # networks load once, not once per size
    cells += [(time_one_pass, (method_config(name, s, **keys), cache),
               {"dtype": d, "repeats": max(repeats, 5), "label": label, "network": network})
              for label, name, keys, network in one_pass for s in sizes for d in dtypes]
    where = machine()  # once: the same machine and commit for every cell
    rows = [fn(*args, **kw) | where for fn, args, kw in tqdm(cells, desc="runtime", unit="cell", disable=None)]
    return pd.DataFrame(rows)
