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


def wandb_record(run_dir: Path, last: bytes, timeout: float = 60.0) -> bytes:
    """The bytes of an offline W&B run's transaction log once ``last`` (a key logged at its end) is in it. W&B's
    service closes the log a few milliseconds after ``run.finish()`` returns (seen in its debug-internal.log),
    so a test that reads at once can find only the 7-byte header on a loaded machine."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        record = next(run_dir.glob("run-*.wandb")).read_bytes()
        if last in record or time.monotonic() > deadline:
            return record
        time.sleep(0.1)


@pytest.fixture(scope="session")
def vgg19():
    from nst_bench.nets.backbones import build_backbone

    return build_backbone("vgg19")


@pytest.fixture(scope="session")
def effnet():
    from nst_bench.nets.backbones import build_backbone

    return build_backbone("efficientnet_lite0")


def moving_square_clip(path: Path, frames: int = 8, height: int = 48, width: int = 64, speed: int = 2,
                       fps: float = 12.0) -> Path:
    """A textured square sliding right by ``speed`` px per frame across a still textured background."""
    from nst_bench.data.video_io import write_video

    g = torch.Generator().manual_seed(0)
    background = torch.nn.functional.interpolate(torch.rand(1, 3, height // 8, width // 8, generator=g),
                                                 (height, width), mode="bicubic", align_corners=False).clamp(0, 1)
    square = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4, generator=g), (16, 16), mode="nearest")
    clip = []
    for t in range(frames):
        frame = background.clone()
        x = 4 + speed * t
        frame[..., 16:32, x:x + 16] = square
        clip.append(frame)
    return write_video(clip, path, fps)
