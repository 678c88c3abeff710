"""The time-to-quality reference (experiments/gatys_reference.py, a plain PyTorch Gatys): nst-bench configured to
its objective gives the same loss on the same image, and its L-BFGS loop lowers that loss."""

from __future__ import annotations

import sys

import pytest
import torch

from nst_bench.config import load_config
from nst_bench.methods.common import perceptual_objective, set_style_targets
from nst_bench.run.cache import ProcessCache

from .conftest import CONTENT, ROOT, STYLE

sys.path.insert(0, str(ROOT / "experiments"))
from gatys_reference import STYLE_LAYERS, Reference, load


def test_nst_bench_configured_as_the_reference_gives_its_loss_and_the_reference_optimises():
    content, style = load(str(CONTENT), 64), load(str(STYLE), 64)
    reference = Reference(content, style)
    cfg = load_config([], {"content": str(CONTENT), "styles": [str(STYLE)], "image.size": 64,
                           "backbone.content_layers": ["relu4_2"], "backbone.style_layers": list(STYLE_LAYERS),
                           "backbone.style_layer_weights": [1.0] * 5, "loss.gram_norm": "mse_chw",
                           "loss.style_weight": 1e6, "tracking.wandb": "disabled"})
    objective = perceptual_objective(cfg, ProcessCache())
    set_style_targets(objective, content, [style], [1.0])
    x = (content + 0.1 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    ours, theirs = objective(x), reference.loss(x)
    for term in ("content", "style", "total"):
        assert float(ours[term]) == pytest.approx(float(theirs[term]), rel=1e-4), term
    _, history = reference.run(content, steps=5)
    assert history[-1]["total"] < 0.8 * history[0]["total"] and history[0]["content"] == 0.0  # started at content
