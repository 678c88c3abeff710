"""What this CPU can do, for provenance and for choosing a precision (``check_precision``, shared by training and
Gatys): timings and bf16 runs from different CPUs never compare (a bf16 CycleGAN step was 1.75x faster than float32
on one machine of this workplace; on another a bf16 conv is 25x slower)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

from nst_bench.errors import UserError


@functools.cache
def bf16_supported() -> bool:
    """Whether oneDNN has bf16 kernels for this CPU (AVX-512 or AMX). Without them PyTorch runs bf16 convolutions
    on its generic path: about 25x slower than float32 on an AVX2-only AMD EPYC here (a 128-channel 3x3 conv)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


@functools.cache
def cpu_name() -> str:
    """The CPU model and whether it has AVX-512 / native bf16: timings from different CPUs never share a ratio."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    return f"{model} ({'avx512' if 'avx512f' in flags else 'no avx512'}, {'bf16' if bf16_supported() else 'no bf16'})"


def check_precision(device: str, precision: str, key: str = "train.precision",
                    fix: str = "--precision 32") -> None:
    """A one-line error before any work when bf16 would crawl: a config tuned on a CPU with native bf16
    (configs/cyclegan/*.yaml) would otherwise run for days on one without. ``key`` and ``fix`` name the setting
    and its float32 value (training: train.precision; Gatys: gatys.precision)."""
    if precision.startswith("bf16") and not device.startswith("cuda") and not bf16_supported():
        raise UserError(f"{key} {precision}: this CPU has no native bf16 (oneDNN bf16 needs AVX-512 or "
                        f"AMX), so bf16 convolutions run about 25x slower than float32: use {fix}")
