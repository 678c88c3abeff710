"""Seconds per CycleGAN training step on this machine, for the options a CPU config chooses between (generator
width and blocks, crop, upsampling, precision): the real ``CycleGANModule`` step (both generators, both
discriminators, batch 1) through the same Lightning Trainer as ``nst-bench train cyclegan``, on random crops.

    .venv/bin/python experiments/cyclegan_speed.py --out results/cyclegan/speed   (~10 min on 2 cores)

Writes ``speed.csv`` (median and spread of the timed steps, parameters, hours for 1,000 steps), ``speed.md``
and ``provenance.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from nst_bench.methods.cyclegan import CycleGANModule, PatchDiscriminator, ResnetGenerator, init_weights
from nst_bench.run.tracking import provenance
from nst_bench.run.trainer import make_trainer

OPTIONS = [  # (width, blocks, crop, upsample, precision)
    (32, 9, 128, "bilinear", "bf16-mixed"),
    (32, 9, 128, "bilinear", "32"),
    (32, 9, 128, "transposed", "bf16-mixed"),
    (32, 9, 160, "bilinear", "bf16-mixed"),
    (32, 9, 192, "bilinear", "bf16-mixed"),
    (32, 6, 128, "bilinear", "bf16-mixed"),
    (64, 9, 128, "bilinear", "bf16-mixed"),
]


class StepTimes(pl.Callback):
    """Wall time of every training batch (both optimiser steps)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, *args: object) -> None:
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, *args: object) -> None:
        self.times.append(time.perf_counter() - self.t0)


def time_option(width: int, blocks: int, crop: int, upsample: str, precision: str, steps: int,
                warmup: int) -> dict[str, float]:
    torch.manual_seed(0)
    nets = [ResnetGenerator(width, blocks, upsample), ResnetGenerator(width, blocks, upsample),
            PatchDiscriminator(64), PatchDiscriminator(64)]
    for n in nets:
        init_weights(n)
    n = warmup + steps
    module = CycleGANModule(*nets, steps=n, decay_from=n)
    module.history = []
    data = DataLoader([(torch.rand(3, crop, crop), torch.rand(3, crop, crop)) for _ in range(n)], batch_size=1)
    timer = StepTimes()
    make_trainer(precision=precision, max_steps=2 * n, max_epochs=-1, callbacks=[timer]).fit(module, data)
    timed = timer.times[warmup:]
    median = statistics.median(timed)
    return {"width": width, "blocks": blocks, "crop": crop, "upsample": upsample, "precision": precision,
            "generator_parameters": sum(p.numel() for p in nets[0].parameters()), "s_per_step": median,
            "s_min": min(timed), "s_max": max(timed), "steps_timed": len(timed),
            "hours_per_1000_steps": 1000 * median / 3600}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/cyclegan/speed"))
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for option in OPTIONS:
        rows.append(time_option(*option, steps=args.steps, warmup=args.warmup))
        print({k: rows[-1][k] for k in ("width", "blocks", "crop", "upsample", "precision", "s_per_step")})
    df = pd.DataFrame(rows)
    df.to_csv(args.out / "speed.csv", index=False)
    p = provenance("cpu", 0, "see the precision column")
    (args.out / "provenance.json").write_text(json.dumps(p, indent=1) + "\n")
    (args.out / "speed.md").write_text(
        f"CycleGAN training step (2 generators + 2 discriminators of width 64, batch 1) on {p.get('threads')} "
        f"threads, torch {p.get('torch')}; median of {args.steps} steps after {args.warmup} warm-up steps.\n\n"
        + df.to_markdown(index=False, floatfmt=".3g") + "\n")
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
