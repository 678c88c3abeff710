"""The FLOP rate of a Gatys evaluation against this machine's matmul rate, from the runtime table's timings.

    .venv/bin/python experiments/gatys_flops.py [--runtime results/runtime/runtime.csv] [--sizes 256 512 1024]

Default setup: normalised VGG19, content conv4_2, style conv1_1..conv5_1. One L-BFGS iteration is one or more
evaluations (a forward and a backward pass through the encoder) under its strong-Wolfe line search. The FLOPs of
one evaluation are counted with torch.utils.flop_counter. Seconds per iteration and evaluations per iteration come
from ``nst-bench evaluate runtime`` (``runtime.csv``), the one timing path, so these rates use the same numbers
as every other runtime table. Writes ``gatys_flops.csv`` beside it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from nst_bench.data.images import load_image
from nst_bench.evaluate.runtime import CONTENT, STYLE, gatys_objective, machine

ROOT = Path(__file__).resolve().parent.parent


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def evaluation_flops(size: int) -> int:
    """FLOPs of one forward + backward pass of the objective (its targets computed before counting)."""
    content, style = load_image(CONTENT, size), load_image(STYLE, size)
    objective = gatys_objective("vgg19", content, style)
    x = content.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        objective(x)["total"].backward()
    return counter.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", type=Path, default=ROOT / "results/runtime/runtime.csv")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    args = ap.parse_args()
    runtime = pd.read_csv(args.runtime)
    peak = matmul_gflops()
    rows = []
    for size in args.sizes:
        t = runtime[(runtime.method == "gatys (vgg19)") & (runtime["size"] == size) & (runtime.dtype == "float32")]
        if t.empty:
            raise SystemExit(f"{args.runtime} has no float32 gatys (vgg19) row at {size} px: run evaluate runtime")
        t = t.iloc[0]
        gflop = evaluation_flops(size) / 1e9
        rate = gflop * t.evaluations_per_iteration / t.s_per_iteration
        rows.append({"size": size, "image": t.image, "s_per_iteration": t.s_per_iteration,
                     "evaluations_per_iteration": t.evaluations_per_iteration, "gflop_per_evaluation": gflop,
                     "gflops": rate, "matmul_gflops": peak, "share_of_matmul": rate / peak} | machine())
    table = pd.DataFrame(rows)
    table.to_csv(args.runtime.with_name("gatys_flops.csv"), index=False)
    print(table.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
