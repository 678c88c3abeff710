"""Depth estimators and the depth-preservation loss, on the real architectures with random weights (no depth
weights can be had on this machine): gradients reach the pixels, the depth term falls, weights load through the
resolver, and missing weights are a one-line error."""

import json

import pandas as pd
import pytest
import torch
import yaml

from nst_bench.cli import main
from nst_bench.config import GatysConfig, OptimizerConfig
from nst_bench.data.images import load_image
from nst_bench.errors import UserError
from nst_bench.evaluate.retention_report import plot_against_steps
from nst_bench.losses.objective import PerceptualObjective
from nst_bench.losses.terms import DepthLoss
from nst_bench.methods import gatys
from nst_bench.nets.backbones import IMAGENET_MEAN, IMAGENET_STD
from nst_bench.nets.depth import DepthEstimator, MidasSmall, build_depth, standardise
from nst_bench.sweeps.store import RunsLog

from .conftest import CONTENT, ROOT, STYLE
from .test_train_fast import TINY, _photos


def _midas(size: int = 64) -> DepthEstimator:
    torch.manual_seed(0)
    return DepthEstimator("midas_small", MidasSmall(), size, 32, IMAGENET_MEAN, IMAGENET_STD, None)


@pytest.fixture()
def weights_dir(tmp_path, monkeypatch):
    """A weights directory holding a MiDaS small state dict saved from the random-initialised model."""
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.manual_seed(0)
    torch.save(MidasSmall().state_dict(), folder / "midas_v21_small_256.pt")
    monkeypatch.setenv("NST_BENCH_WEIGHTS", str(folder))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return folder


def test_midas_is_frozen_but_passes_gradients_to_the_pixels():
    estimator = _midas()
    x = torch.rand(1, 3, 50, 70, requires_grad=True)
    depth = estimator(x)
    assert depth.shape == (1, 1, 50, 70)
    depth.mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in estimator.parameters())
    estimator.train()
    assert not estimator.training  # batch-norm statistics stay frozen


def test_standardised_depth_ignores_scale_and_shift():
    d = torch.rand(2, 1, 8, 8)
    assert torch.allclose(standardise(d), standardise(3 * d + 5), atol=1e-5)


def test_the_depth_term_falls_during_gatys_optimisation(vgg19):
    """Depth alone (no content or style layers) from the style image: only the depth gradient moves the pixels."""
    content = load_image(CONTENT, 64)
    style = load_image(STYLE, 64)
    objective = PerceptualObjective(vgg19, [], [], content_weight=0.0, style_weight=0.0, tv_weight=0.0,
                                    depth=DepthLoss(_midas(), 10.0))
    r = gatys.stylize(content, [style], [1.0], objective, GatysConfig(init="style"),
                      OptimizerConfig(name="adam", lr=0.02, steps=15), progress=False)
    depth = [row["depth"] for row in r.history]
    assert depth[-1] < 0.5 * depth[0]


def test_midas_weights_load_through_the_resolver(weights_dir):
    estimator = build_depth("midas_small")
    assert estimator.weights.source == "weights_dir"
    assert estimator.weights.path == weights_dir / "midas_v21_small_256.pt"
    x = torch.rand(1, 3, 64, 64)
    reference = DepthEstimator("midas_small", _midas().net, 256, 32, IMAGENET_MEAN, IMAGENET_STD, None)
    assert torch.allclose(estimator(x), reference(x), atol=1e-5)


def test_missing_or_wrong_depth_weights_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_BENCH_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(UserError, match=r"no weights for midas_small .*midas_v21_small_256\.pt") as e:
        build_depth("midas_small")
    assert "\n" not in str(e.value)
    wrong = tmp_path / "wrong.pt"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(UserError, match=r"not a MiDaS v2\.1 small checkpoint"):
        build_depth("midas_small", str(wrong))
    with pytest.raises(UserError, match="unknown depth estimator 'midas'"):
        build_depth("midas")


def test_stylize_with_a_depth_loss_records_and_saves_depth(weights_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["stylize", "--content", str(CONTENT), "--style", str(STYLE), "--size", "64", "--steps", "4",
                 "--out", str(out), "--no-progress", "--set", "depth.weight=100", "--set", "gatys.init=style",
                 "--set", "tracking.wandb=disabled"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["depth"]["weights"]["source"] == "weights_dir" and metrics["depth"]["weight"] == 100
    assert metrics["final"]["depth"] > 0 and 1 <= metrics["steps_to_5pct"] <= 4
    assert "loss/depth" in (out / "history.csv").read_text().splitlines()[0]
    assert load_image(out / "depth.jpg").shape[-1] == 4 * load_image(out / "stylized.jpg").shape[-1]


def test_a_depth_loss_without_weights_stops_the_run_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    code = main(["stylize", "--content", str(CONTENT), "--style", str(STYLE), "--size", "64", "--steps", "2",
                 "--out", str(tmp_path / "run"), "--no-progress", "--set", "depth.weight=1"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "no weights for midas_small" in err and len(err.splitlines()) == 1


def test_transformers_depth_models_load_from_a_saved_directory(tmp_path):
    transformers = pytest.importorskip("transformers")
    backbone = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                                         intermediate_size=64, patch_size=14, image_size=56,
                                         out_features=["stage1", "stage2", "stage3", "stage4"],
                                         reshape_hidden_states=False)
    config = transformers.DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32,
                                              neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                                              head_hidden_size=8)
    transformers.DepthAnythingForDepthEstimation(config).save_pretrained(tmp_path / "tiny")
    estimator = build_depth("depth_anything_small", str(tmp_path / "tiny"))
    assert estimator.weights.source == "explicit" and len(estimator.weights.sha256) == 64
    x = torch.rand(1, 3, 40, 60, requires_grad=True)
    depth = estimator(x)
    assert depth.shape == (1, 1, 40, 60)
    depth.mean().backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(UserError, match="not found"):
        build_depth("dpt_hybrid", str(tmp_path / "missing"))


def test_the_depth_sweep_records_convergence_against_steps(weights_dir, tmp_path, monkeypatch, capsys):
    """configs/sweeps/depth.yaml shrunk to 2 depth weights x 2 step budgets on one pair, run as a sweep (the
    retention evaluator it is meant for is tested end to end once, in test_evaluate)."""
    monkeypatch.chdir(tmp_path)
    sweep = yaml.safe_load((ROOT / "configs" / "sweeps" / "depth.yaml").read_text())
    sweep["parameters"] |= {"image.size": {"value": 48}, "depth.size": {"value": 64},
                            "depth.weight": {"values": [0.0, 100.0]}, "optimizer.steps": {"values": [2, 4]},
                            "content": {"value": str(CONTENT)}, "styles": {"value": str(STYLE)}}
    settings = tmp_path / "depth.yaml"
    settings.write_text(yaml.safe_dump(sweep))
    assert main(["sweep", str(settings), "--results", "res", "--wandb", "disabled"]) == 0, capsys.readouterr().err
    rows = RunsLog(tmp_path / "res" / "depth" / "runs.jsonl").read()
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows), rows
    records = []
    for r in rows:
        m = json.loads((tmp_path / "res" / "depth" / r["trial_id"] / "metrics.json").read_text())
        weight, steps = r["params"]["depth.weight"], r["params"]["optimizer.steps"]
        assert 1 <= m["steps_to_5pct"] <= steps == m["iterations"]
        assert ("depth" in m["final"]) == (weight > 0) and (m["depth"] is None) == (weight == 0)
        records.append({"depth.weight": weight, "optimizer.steps": steps, "steps_to_5pct": m["steps_to_5pct"],
                        "agreement": 1.0 - m["final"]["style"] / (1 + m["final"]["style"])})
    df = pd.DataFrame(records)
    assert plot_against_steps(df, tmp_path / "against.png") == tmp_path / "against.png"
    assert (tmp_path / "against.png").stat().st_size > 5000
    assert plot_against_steps(df[df["optimizer.steps"] == 2], tmp_path / "none.png") is None  # one budget: no plot


def test_fast_training_with_a_depth_loss_logs_the_term_and_its_maps(weights_dir, tmp_path, capsys):
    out = tmp_path / "net"
    code = main(["train", "fast", "--style", str(STYLE), "--content-dir", str(_photos(tmp_path)), "--steps", "2",
                 "--out", str(out), *TINY, "--set", "depth.weight=10", "--set", "depth.size=32",
                 "--set", "tracking.wandb=disabled"])
    assert code == 0, capsys.readouterr().err
    assert "loss/depth" in (out / "history.csv").read_text().splitlines()[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["held_out"]["depth"] > 0 and metrics["depth"]["size"] == 32
    assert (out / "depth.jpg").is_file()
