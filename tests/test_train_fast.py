"""`nst-bench train fast` end to end on tiny crops: files, W&B samples, resume, and the network used as a method."""

import csv
import json
import shutil

import pytest

from nst_bench.cli import main
from nst_bench.errors import UserError, run_script
from nst_bench.recipes.training import load_last_checkpoint, photo_split

from .conftest import CONTENT, DEMO, STYLE, STYLE2

TINY = ["--crop", "32", "--batch", "2", "--size", "32", "--width", "8", "--blocks", "1", "--sample-every", "2",
        "--checkpoint-every", "2", "--holdout", "1", "--no-progress", "--set", "backbone.content_layers=[conv2_1]",
        "--set", "backbone.style_layers=[conv1_1,conv2_1]"]


def _photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, src in enumerate([*(DEMO / "content").glob("*.jpg"), STYLE2, CONTENT]):
        shutil.copy(src, folder / f"{i}.jpg")
    return folder


def _steps(out):
    with open(out / "history.csv") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def test_train_resume_then_stylize_with_the_network(tmp_path, capsys):
    photos, out = _photos(tmp_path), tmp_path / "net"
    args = ["train", "fast", "--style", str(STYLE), str(STYLE2), "--content-dir", str(photos), "--out", str(out),
            *TINY]
    assert main([*args, "--steps", "4"]) == 0, capsys.readouterr().err
    assert _steps(out) == [1, 2, 3, 4]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000002.jpg", "step_000004.jpg"]
    assert list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    # a longer run in the same folder resumes at step 4 and continues the history
    assert main([*args, "--steps", "6"]) == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert _steps(out) == [1, 2, 3, 4, 5, 6] and m["resumed_from_step"] == 4 and m["steps"] == 6
    assert m["network"]["n_styles"] == 2 and m["network"]["file"] == "net.safetensors"
    assert len(m["held_out_photos"]) == 1 and m["held_out"]["style"] > 0
    assert m["provenance"]["torch"] and m["backbone"]["weights"]["sha256"]
    # scripts that probe a run read its last checkpoint; without one: a one-line reason and exit status 2
    assert load_last_checkpoint(out)["global_step"] == 6
    with pytest.raises(SystemExit) as stopped:
        run_script(lambda: load_last_checkpoint(tmp_path / "untrained"))
    assert stopped.value.code == 2 and "last.ckpt not found: train the run first" in capsys.readouterr().err

    # the trained network is a method: its styles come from the checkpoint, a weight vector blends them
    run = tmp_path / "stylized"
    code = main(["stylize", "--method", "fast", "--checkpoint", str(out / "net.safetensors"), "--content",
                 str(CONTENT), "--style-weights", "0.3", "0.7", "--size", "48", "--out", str(run), "--no-progress",
                 "--wandb", "disabled"])
    assert code == 0, capsys.readouterr().err
    s = json.loads((run / "metrics.json").read_text())
    assert s["config"]["styles"] == [str(STYLE), str(STYLE2)] and s["method_weights"]["step"] == 6
    assert s["final"]["style"] > 0 and (run / "stylized.jpg").is_file()


def test_fast_method_and_training_errors_are_one_line(tmp_path, capsys):
    from .test_cli import _err

    assert "needs a trained network" in _err(capsys, ["stylize", "--method", "fast", "--content", str(CONTENT)])
    assert "--content-dir" in _err(capsys, ["train", "fast", "--style", str(STYLE), "--out", str(tmp_path)])
    assert "not found" in _err(capsys, ["train", "fast", "--style", str(STYLE), "--content-dir",
                                        str(tmp_path / "nope"), "--out", str(tmp_path)])


def test_a_train_fast_sweep_trains_each_setting_once_and_reports(tmp_path, capsys):
    import yaml

    photos = _photos(tmp_path)
    sweep = tmp_path / "outputs.yaml"
    params = {"styles": {"value": str(STYLE)}, "train.content_dir": {"value": str(photos)},
              "fast.output": {"values": ["tanh", "clamp"]}, "train.steps": {"value": 2},
              "train.crop": {"value": 32}, "train.batch": {"value": 2}, "train.holdout": {"value": 1},
              "image.size": {"value": 32}, "fast.width": {"value": 8}, "fast.blocks": {"value": 1},
              "backbone.content_layers": {"value": ["conv2_1"]}, "backbone.style_layers": {"value": ["conv1_1"]},
              "tracking.wandb": {"value": "disabled"}}
    sweep.write_text(yaml.safe_dump({"recipe": "train-fast", "method": "grid", "parameters": params}))
    results = tmp_path / "results"
    assert main(["sweep", str(sweep), "--results", str(results)]) == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (results / "outputs" / "runs.jsonl").read_text().splitlines()]
    assert [r["params"]["fast.output"] for r in rows] == ["tanh", "clamp"]
    assert all(r["status"] == "ok" and r["iterations"] == 2 and r["final"]["style"] > 0 for r in rows)
    assert "tanh" in (results / "outputs" / "table.md").read_text()
    assert main(["sweep", str(sweep), "--results", str(results)]) == 0  # nothing left to run
    assert "ran 0 trials" in capsys.readouterr().out


def test_sweep_programs_and_fast_trial_ids(tmp_path):
    import pytest
    import torch
    import yaml

    from nst_bench.config import RunConfig
    from nst_bench.errors import UserError
    from nst_bench.methods.fast import TransformerNet, save_network
    from nst_bench.sweeps.spec import load_sweep, trial_hash

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"recipe": "train.py", "parameters": {"styles": {"value": str(STYLE)}}}))
    with pytest.raises(UserError, match="recipe must be one of stylize, train-fast"):
        load_sweep(bad)
    # a retrained network (same path, new weights) is a new trial; the same file keeps its id
    net = tmp_path / "net.safetensors"
    cfg = RunConfig(method="fast", content="c.jpg", styles=["s.jpg"])
    cfg.fast.checkpoint = str(net)
    torch.manual_seed(0)
    save_network(TransformerNet(width=8, blocks=1), net, styles=["s.jpg"])
    first = trial_hash(cfg)
    assert trial_hash(cfg) == first
    save_network(TransformerNet(width=8, blocks=1), net, styles=["s.jpg"])
    assert trial_hash(cfg) != first


def test_skip_first_keeps_the_evaluation_photos_out_of_training(tmp_path):
    photos = _photos(tmp_path)
    every = sorted(photos.glob("*.jpg"))
    train, held_out = photo_split(str(photos), 1, 0, "--content-dir", skip_first=2)
    assert sorted(train + held_out) == every[2:]
    with pytest.raises(UserError, match=r"train\.skip_first"):
        photo_split(str(photos), 1, 0, "--content-dir", skip_first=len(every) - 1)
