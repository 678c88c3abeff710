"""End-to-end through the command line: files written, W&B offline run, and one-line errors for bad input."""

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from nst_bench.cli import main
from nst_bench.config import LossConfig, load_config

from .conftest import CONTENT, STYLE, STYLE2, wandb_record

FAST = ["--size", "64", "--steps", "6", "--no-progress"]


def _err(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("nst-bench: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_a_bf16_gatys_run_says_so_in_its_provenance_and_stops_at_once_on_a_cpu_without_bf16(tmp_path, capsys,
                                                                                           monkeypatch):
    from nst_bench.run import cpu

    out = tmp_path / "run"
    args = ["stylize", "--content", str(CONTENT), "--style", str(STYLE), "--out", str(out), *FAST,
            "--set", "gatys.precision=bf16", "--wandb", "disabled"]
    monkeypatch.setattr(cpu, "bf16_supported", lambda: False)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "gatys.precision bf16" in err and "--set gatys.precision=fp32" in err and "\n" not in err
    assert not (out / "stylized.jpg").exists()
    monkeypatch.setattr(cpu, "bf16_supported", lambda: True)  # autocast runs anywhere, only slowly without
    code = main(args)
    assert code == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["provenance"]["dtype"] == "bf16-autocast" and m["config"]["gatys"]["precision"] == "bf16"


def test_stylize_writes_image_metrics_history_and_offline_wandb_run(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["stylize", "--content", str(CONTENT), "--style", str(STYLE), str(STYLE2), "--style-weights", "0.5",
                 "0.5", "--out", str(out), *FAST])
    assert code == 0, capsys.readouterr().err
    assert (out / "stylized.jpg").is_file() and Image.open(out / "stylized.jpg").size == (64, 42)
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "ok" and m["iterations"] == 6 and m["s_per_iteration"] > 0
    assert m["final"]["style"] < m["initial"]["style"]
    assert 0 < m["final"]["ssim"] < 1 and m["final"]["lpips"] > 0  # how much of the photo it kept, beside the loss
    assert m["config"]["style_blend"] == [0.5, 0.5] and m["config"]["backbone"]["content_layers"] == ["conv4_2"]
    assert m["backbone"]["weights"]["sha256"] == "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a"
    assert m["provenance"]["torch"] and m["provenance"]["device"] == "cpu" and m["provenance"]["seed"] == 0
    assert m["provenance"]["dtype"] == "float32"
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and "loss/style" in rows[0] and len(rows) == 7
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))
    record = wandb_record(runs[0], b"final/total")  # Lightning's logger wrote every step's terms
    assert record.count(b"loss/style/conv1_1") >= 6 and b"final/total" in record
    assert m["wandb_run_dir"] == str(runs[0])


def test_yaml_config_and_dotted_overrides(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("loss:\n  tv_weight: 0.5\noptimizer:\n  name: adam\n  lr: 0.05\n")
    out = tmp_path / "run"
    assert main(["stylize", "--content", str(CONTENT), "--style", str(STYLE), "--config", str(cfg), "--set",
                 "loss.tv_beta=1.5", "--set", "tracking.wandb=disabled", "--out", str(out), *FAST]) == 0
    c = json.loads((out / "metrics.json").read_text())["config"]
    assert (c["loss"]["tv_weight"], c["loss"]["tv_beta"], c["optimizer"]["name"]) == (0.5, 1.5, "adam")
    assert not (out / "wandb").exists()


def test_grayscale_and_rgba_inputs_work(tmp_path, capsys):
    grey = tmp_path / "grey.png"
    Image.open(CONTENT).convert("L").save(grey)
    rgba = tmp_path / "rgba.png"
    Image.open(STYLE).convert("RGBA").save(rgba)
    assert main(["stylize", "--content", str(grey), "--style", str(rgba), "--wandb", "disabled",
                 "--out", str(tmp_path / "o"), *FAST]) == 0
    out = Image.open(tmp_path / "o" / "stylized.jpg")
    assert out.mode == "RGB" and out.size == (64, 42)
    pixels = np.asarray(out, dtype=float)
    # the grey photo took colour from the (RGBA) painting: its channels no longer agree
    assert np.abs(pixels[..., 0] - pixels[..., 2]).mean() > 2
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["status"] == "ok" and m["final"]["style"] < m["initial"]["style"]


@pytest.mark.parametrize("extra, message", [
    (["--content", "nope.jpg"], "image not found: nope.jpg"),
    (["--set", "loss.stlye_weight=3"], "did you mean style_weight"),
    (["--set", "optimizer.steps=many"], "optimizer.steps wants int"),
    (["--style-layers", "conv9_1"], "no layer 'conv9_1'"),
    (["--size", "16"], "needs at least 16 px"),
    (["--set", "image.max_pixels=1000"], "above the limit"),
    (["--style-weights", "1", "2"], "give one weight per --style"),
    (["--backbone", "vgg99"], "unknown backbone"),
    (["--style-weight", "nan"], "loss became NaN"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    argv = ["stylize", "--content", str(CONTENT), "--style", str(STYLE), "--wandb", "disabled",
            "--out", str(tmp_path / "o"), *FAST]
    # later flags win in argparse, so the bad value overrides the good default above
    err = _err(capsys, argv + extra)
    assert message in err


def test_bad_yaml_and_non_image(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss: [1, 2\n")
    assert "not valid YAML" in _err(capsys, ["stylize", "--config", str(bad), "--content", str(CONTENT),
                                             "--style", str(STYLE)])
    text = tmp_path / "x.jpg"
    text.write_text("not an image")
    assert "not an image PIL can read" in _err(capsys, ["stylize", "--content", str(text), "--style", str(STYLE),
                                                        "--wandb", "disabled", "--out", str(tmp_path / "o"), *FAST])


def test_nan_run_keeps_the_last_finite_image(tmp_path, capsys):
    out = tmp_path / "o"
    main(["stylize", "--content", str(CONTENT), "--style", str(STYLE), "--style-weight", "nan", "--wandb",
          "disabled", "--out", str(out), *FAST])
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "diverged" and (out / "stylized.jpg").is_file()
    assert np.asarray(Image.open(out / "stylized.jpg")).std() > 10


def test_version_and_unknown_flags(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == "nst-bench 0.1.0"
    with pytest.raises(SystemExit) as e:  # only `agent` takes --key=value arguments beyond its own flags
        main(["report", "results/x", "--loss.style_weight=2"])
    assert e.value.code == 2 and "unrecognized arguments: --loss.style_weight=2" in capsys.readouterr().err



@pytest.mark.parametrize("key, given, wanted", [
    ("optimizer.line_search", "none", None),  # an Optional cleared by the word none
    ("threads", "None", None),
    ("optimizer.steps", "1e3", 1000),  # YAML reads 1e3 as a string
    ("optimizer.steps", 300.0, 300),  # W&B writes a whole number as a float
    ("backbone.style_layers", "conv1_1,conv2_1", ["conv1_1", "conv2_1"]),
    ("styles", "a.jpg", ["a.jpg"]),
    ("gatys.scales", 1.0, [1.0]),
    ("out", "results/${method}", "results/${method}"),  # no interpolation of paths
    ("loss", None, LossConfig()),  # an empty section is the defaults
])
def test_config_values_users_write_are_read_as_meant(key, given, wanted):
    cfg = load_config([], {key: given})
    node = cfg
    for part in key.split("."):
        node = getattr(node, part)
    assert node == wanted


def test_a_config_parameter_merges_into_a_section_set_by_another(tmp_path):
    from nst_bench.sweeps.spec import expand, load_sweep

    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"name": "s", "method": "grid", "parameters": {
        "content": {"value": str(CONTENT)}, "styles": {"value": str(STYLE)},
        "backbone": {"value": {"content_layers": ["conv3_1"]}},
        "config": {"value": {"backbone": {"style_layers": ["conv1_1"]}}}}}))
    (trial,) = expand(load_sweep(tmp_path / "s.yaml"), tmp_path)
    assert trial.config.backbone.content_layers == ["conv3_1"] and trial.config.backbone.style_layers == ["conv1_1"]


def test_initial_loss_is_the_start_image_for_every_optimiser(tmp_path):
    """L-BFGS's history rows are the end of each line search; the initial loss must still be the start image's."""
    initial = {}
    for opt in ("lbfgs", "adam"):
        assert main(["stylize", "--content", str(CONTENT), "--style", str(STYLE), "--optimizer", opt,
                     "--out", str(tmp_path / opt), *FAST]) == 0
        m = json.loads((tmp_path / opt / "metrics.json").read_text())
        initial[opt] = m["initial"]["style"]
        assert m["style_reduction"] == pytest.approx(m["initial"]["style"] / m["final"]["style"])
    assert initial["lbfgs"] == pytest.approx(initial["adam"], rel=1e-5)  # the same start image, the same loss


def test_cyclegan_flags_reach_the_config(tmp_path, monkeypatch):
    import types

    import nst_bench.recipes.train_cyclegan as recipe

    seen = {}

    def fake_train(cfg, **_):
        seen["cfg"] = cfg
        return types.SimpleNamespace(as_dict=lambda: {"held_out": {}, "steps": 0, "seconds": 0})

    monkeypatch.setattr(recipe, "train", fake_train)
    base = ["train", "cyclegan", "--out", str(tmp_path), "--no-progress"]
    assert main([*base, "--g-skip", "--g-noise", "--no-d-blur-input", "--lambda-cycle", "2", "--lambda-identity", "0",
                 "--lambda-grid", "0.5", "--grid-tolerance", "2", "--lambda-regular", "3",
                 "--regular-tolerance", "0.12",
                 "--d-features", "vgg16", "--d-features-on", "paintings", "--d-augment", "translation"]) == 0
    c = seen["cfg"].cyclegan
    assert (c.g_skip, c.g_noise, c.d_blur_input, c.lambda_cycle, c.lambda_identity) == (True, True, False, 2.0, 0.0)
    assert (c.d_features, c.d_features_on, c.lambda_grid, c.grid_tolerance) == ("vgg16", "paintings", 0.5, 2.0)
    assert (c.d_augment, c.lambda_regular, c.regular_tolerance) == ("translation", 3.0, 0.12)
    assert main(base) == 0  # unset flags leave the defaults
    c = seen["cfg"].cyclegan
    assert (c.g_skip, c.g_noise, c.d_blur_input, c.lambda_cycle, c.lambda_identity) == (False, False, True, 10.0, 0.5)
    assert (c.d_features, c.d_features_on, c.lambda_grid, c.grid_tolerance, c.d_augment) == ("none", "both", 0.0, 1.0,
                                                                                           "none")
    assert (c.lambda_regular, c.regular_tolerance) == (0.0, 0.14)
