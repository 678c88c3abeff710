"""Shared fixtures. Tests never download: NST_BENCH_OFFLINE is set, and the weights directory points at
../shared/weights (as in CI) unless the caller chose another."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DEMO = ROOT / "assets" / "demo"
CONTENT = DEMO / "content" / "chelsea.jpg"
STYLE = DEMO / "style" / "starry_night.jpg"
STYLE2 = DEMO / "style" / "great_wave.jpg"

os.environ["NST_BENCH_OFFLINE"] = "1"
os.environ.setdefault("NST_BENCH_WEIGHTS", str(SHARED / "weights"))
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def vgg19():
    from nst_bench.backbones import build_backbone

    return build_backbone("vgg19")


@pytest.fixture(scope="session")
def effnet():
    from nst_bench.backbones import build_backbone

    return build_backbone("efficientnet_lite0")
