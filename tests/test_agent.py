"""`wandb agent` offline: the command line is built exactly as the agent builds it (W&B's own functions, from the
sweep file's `command:` and one run's parameters), executed, and the run lands in the offline run directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nst_bench.sweeps.agent import one_setting, parse_agent_args
from nst_bench.sweeps.spec import expand, load_sweep
from nst_bench.sweeps.store import RunsLog

from .conftest import ROOT


def agent_command(sweep: dict, params: dict) -> list[str]:
    """What wandb_agent.Agent._command_run runs for a run with ``params``."""
    from wandb.sdk.launch.sweeps import utils

    sweep_vars = utils.create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    sweep_vars |= {"interpreter": ["python"], "program": [sweep.get("program", "")], "env": ["/usr/bin/env"]}
    command = []
    for chunk in utils.create_sweep_command(list(sweep["command"])):
        chunk = str(chunk)
        command += sweep_vars.get(chunk[2:-1]) or [] if chunk.startswith("${") and chunk.endswith("}") else [chunk]
    return command


def test_every_bundled_sweep_file_has_a_command_the_agent_can_launch():
    for path in sorted((ROOT / "configs" / "sweeps").glob("*.yaml")):
        sweep = yaml.safe_load(path.read_text())
        if "content" not in sweep["parameters"] and "pairs" not in sweep["parameters"] and "recipe" not in sweep:
            continue  # depth.yaml: settings for `evaluate retention`, whose images come from that command
        command = agent_command(sweep, {"x": 1})
        assert command[:5] == ["/usr/bin/env", "python", "-m", "nst_bench.cli", "agent"], path.name
        assert command[5] == f"configs/sweeps/{path.name}" and command[-1] == "--x=1"


def test_agent_values_come_back_exactly_as_w_and_b_wrote_them():
    from wandb.sdk.launch.sweeps import utils

    chosen = {"loss.style_weight": 1e-05, "backbone.style_layers": ["conv1_1", "conv2_1"], "gatys.init": "no",
              "config": {"method": "adain", "adain.alpha": 0.5}, "gatys.preserve_color": False, "x.time": "1:30",
              "fast.checkpoint": None, "content": "assets/demo/content", "y.code": "010", "loss.tv_beta": 2.0}
    args = utils.create_sweep_command_args({"args": {k: {"value": v} for k, v in chosen.items()}})["args"]
    assert parse_agent_args(args) == chosen
    sweep = load_sweep(ROOT / "configs" / "sweeps" / "demo.yaml")
    with pytest.raises(Exception, match="do not have"):
        one_setting(sweep, {"loss.tv_weight": 1.0})


def test_an_agent_run_of_the_demo_sweep_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the agent starts where `wandb agent` runs: the repository, as the paths assume
    demo = yaml.safe_load((ROOT / "configs" / "sweeps" / "demo.yaml").read_text())
    demo["parameters"] |= {"image.size": {"value": 48}, "optimizer.steps": {"value": 3}}
    sweep_file = tmp_path / "demo.yaml"
    demo["command"] = [str(sweep_file) if c == "configs/sweeps/demo.yaml" else c for c in demo["command"]]
    sweep_file.write_text(yaml.safe_dump(demo))
    # one run as the server would choose it: a value for every parameter
    params = {"content": "assets/demo/content", "styles": "assets/demo/style/starry_night.jpg", "image.size": 48,
              "optimizer.steps": 3, "loss.style_weight": 10.0, "optimizer.name": "adam"}
    command = [*agent_command(demo, params), "--results", str(tmp_path / "res")]
    env = os.environ | {"WANDB_MODE": "offline", "WANDB_SWEEP_ID": "sw1234", "WANDB_RUN_ID": "run5678",
                        "WANDB_DIR": str(tmp_path), "PYTHONPATH": str(ROOT),
                        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "agent run: 2 pairs, 2 ok" in done.stdout
    rows = RunsLog(tmp_path / "res" / "demo" / "runs.jsonl").read()
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)  # the run's setting over both photos
    assert {r["params"]["loss.style_weight"] for r in rows} == {10.0}  # labelled by the sweep's swept keys
    assert set(rows[0]["params"]) == {"content", "style", "loss.style_weight", "optimizer.name"}
    # the same trials a local `nst-bench sweep` of the file would run
    local = {t.id for t in expand(load_sweep(sweep_file), tmp_path / "res") if t.config.optimizer.name == "adam"
             and t.config.loss.style_weight == 10.0}
    assert {r["trial_id"] for r in rows} == local
    runs = list((tmp_path / "res" / "demo" / "wandb").glob("offline-run-*-run5678"))
    assert len(runs) == 1, done.stdout
    record = next(runs[0].glob("*.wandb")).read_bytes()
    assert b"loss.style_weight" in record and b"final/total" in record and b"sw1234" in record
    metrics = json.loads((Path(rows[0]["out"]) / "metrics.json").read_text())
    assert metrics["config"]["optimizer"]["name"] == "adam" and metrics["wandb_run_dir"] is None
    # a second run of the sweep, another setting, the same results folder: it reports its own pairs only
    other = [*agent_command(demo, params | {"loss.style_weight": 2.0}), "--results", str(tmp_path / "res")]
    second = subprocess.run(other, env=env | {"WANDB_RUN_ID": "run9999"}, cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0 and "agent run: 2 pairs, 2 ok" in second.stdout, second.stderr[-3000:]
    assert len(RunsLog(tmp_path / "res" / "demo" / "runs.jsonl").read()) == 4
