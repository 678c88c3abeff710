"""Seconds per Gatys iteration at 256 and 512 px, the FLOP rate achieved, and this machine's matmul GFLOP/s.

    .venv/bin/python experiments/bench_gatys.py [--sizes 256 512] [--steps 20] [--out results/runtime/gatys_bench.md]

Default setup: normalised VGG19, content conv4_2, style conv1_1..conv5_1, L-BFGS, content init. One iteration is
one L-BFGS step with its strong-Wolfe line search (one or more evaluations, each a forward and a backward pass
through the encoder); the FLOPs of one evaluation are counted with torch.utils.flop_counter. Warm-up steps are
excluded from the timing.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from nst_bench.data.images import load_image
from nst_bench.evaluate.runtime import CONTENT, STYLE, gatys_objective, time_gatys
from nst_bench.losses.objective import PerceptualObjective

ROOT = Path(__file__).resolve().parent.parent


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def iteration_flops(objective: PerceptualObjective, image: torch.Tensor) -> int:
    x = image.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        objective(x)["total"].backward()
    return counter.get_total_flops()


def bench(size: int, steps: int, warmup: int) -> dict[str, float]:
    content, style = load_image(CONTENT, size), load_image(STYLE, size)
    flops = iteration_flops(gatys_objective("vgg19", content, style), content)
    t = time_gatys("vgg19", size, steps, warmup)
    evals = t["evaluations_per_iteration"]
    return {"size": size, "hw": t["image"], "s_per_it": t["s_per_iteration"], "evals": evals,
            "gflop_per_eval": flops / 1e9, "gflops": flops / 1e9 * evals / t["s_per_iteration"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "results/runtime/gatys_bench.md")
    args = ap.parse_args()
    peak = matmul_gflops()
    rows = [bench(s, args.steps, args.warmup) for s in args.sizes]
    lines = [
        f"device cpu ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, float32; matmul 2048^3: {peak:.1f} GFLOP/s",
        "",
        "| long side | image | s / iteration | evaluations / iteration | GFLOP / evaluation | GFLOP/s | "
        "share of matmul rate |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {r['size']} | {r['hw']} | {r['s_per_it']:.3f} | {r['evals']:.2f} | {r['gflop_per_eval']:.1f} | "
              f"{r['gflops']:.1f} | {r['gflops'] / peak:.0%} |" for r in rows]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"# Gatys iteration speed\n\n`.venv/bin/python experiments/bench_gatys.py`\n\n{text}\n")


if __name__ == "__main__":
    main()
