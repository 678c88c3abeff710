"""Sweep expansion, the resumable results store, failure handling, reports and W&B runs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from nst_bench.cli import main
from nst_bench.errors import UserError
from nst_bench.sweeps.spec import expand, load_sweep
from nst_bench.sweeps.store import RunsLog

from .conftest import DEMO, ROOT

TINY = {"image.size": {"value": 48}, "optimizer.steps": {"value": 3}}


def _sweep_file(tmp_path, params, name="s", method="grid", **top):
    import yaml

    data = {"name": name, "method": method, "parameters": {
        "content": {"values": [str(DEMO / "content")]},
        "styles": {"values": [str(DEMO / "style" / "starry_night.jpg")]}, **TINY, **params}, **top}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_grid_crosses_images_with_parameters(tmp_path):
    f = _sweep_file(tmp_path, {"loss.style_weight": {"values": [1.0, 10.0, 100.0]},
                               "optimizer.name": {"values": ["lbfgs", "adam"]},
                               "styles": {"values": [str(DEMO / "style" / "*.jpg"),
                                                     [str(DEMO / "style" / "starry_night.jpg"),
                                                      str(DEMO / "style" / "great_wave.jpg")]]}})
    trials = expand(load_sweep(f), tmp_path)
    # 2 contents x (2 single styles from the glob + 1 two-style set) x 3 weights x 2 optimisers
    assert len(trials) == 2 * 3 * 3 * 2 == len({t.id for t in trials})
    assert {len(t.config.styles) for t in trials} == {1, 2}
    assert {t.config.optimizer.lr for t in trials} == {1.0, 0.02}
    assert all(t.config.out == str(tmp_path / "s" / t.id) for t in trials)
    assert set(trials[0].params) == {"content", "style", "loss.style_weight", "optimizer.name"}
    assert [t.id for t in expand(load_sweep(f), tmp_path)] == [t.id for t in trials], "ids must be stable"


def test_random_search_is_seeded_and_capped(tmp_path):
    f = _sweep_file(tmp_path, {"loss.style_weight": {"min": 1.0, "max": 1000.0,
                                                     "distribution": "log_uniform_values"}},
                    method="random", run_cap=4)
    a, b = expand(load_sweep(f), tmp_path), expand(load_sweep(f), tmp_path)
    assert len(a) == 8 and [t.id for t in a] == [t.id for t in b]
    assert all(1.0 <= t.config.loss.style_weight <= 1000.0 for t in a)


@pytest.mark.parametrize("params, message", [
    ({"loss.stlye_weight": {"values": [1]}}, "did you mean style_weight"),
    ({"loss.style_weight": {"min": 1, "max": 2}}, "needs method: random"),
    ({"content": {"values": ["no/such/dir"]}}, "no images match"),
    ({"optimizer.name": {"values": ["rmsprop"]}}, "choose one of lbfgs, adam, sgd"),
])
def test_bad_sweep_files_are_user_errors(tmp_path, params, message):
    with pytest.raises(UserError, match=message):
        expand(load_sweep(_sweep_file(tmp_path, params)), tmp_path)


def test_runs_log_survives_a_torn_last_line(tmp_path):
    log = RunsLog(tmp_path / "runs.jsonl")
    log.append({"trial_id": "a", "status": "ok"})
    with open(log.path, "a") as f:
        f.write('{"trial_id": "b", "sta')  # a writer killed mid-line
    log.append({"trial_id": "c", "status": "ok"})
    assert [r["trial_id"] for r in log.read()] == ["a", "c"]
    assert log.path.read_text().count("\n") == 3


def test_sweep_runs_resumes_records_failures_and_reports(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = _sweep_file(tmp_path, {"backbone.style_layers": {"values": [["conv1_1", "conv2_1"], ["conv9_9"]]},
                               "loss.style_weight": {"values": [1.0, 5.0]}}, name="mini")
    assert main(["sweep", str(f), "--max-trials", "3", "--results", "res"]) == 0
    runs = RunsLog(tmp_path / "res" / "mini" / "runs.jsonl")
    assert len(runs.read()) == 3
    assert main(["sweep", str(f), "--results", "res"]) == 0
    rows = runs.read()
    assert len(rows) == 8 == len({r["trial_id"] for r in rows})
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 4 and all("conv9_9" in r["error"] for r in failed)
    assert main(["sweep", str(f), "--results", "res"]) == 0  # nothing left: nothing run twice
    assert len(runs.read()) == 8
    out = tmp_path / "res" / "mini"
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 4 and sorted(table.pairs) == [0, 0, 2, 2] and sorted(table.failed) == [0, 0, 2, 2]
    assert "final/total mean" in table.columns and "± " in (out / "table.md").read_text()
    assert "\\begin{tabular}" in (out / "table.tex").read_text()
    page = (out / "report.html").read_text()
    assert page.count("<img src='thumbs/") == 4 and "conv9_9" in page
    assert (out / "plots" / "loss_curves.png").stat().st_size > 5000
    ok = next(r for r in rows if r["status"] == "ok")
    trial_runs = list((Path(ok["out"]) / "wandb").glob("offline-run-*"))
    assert len(trial_runs) == 1 and list(trial_runs[0].glob("*.wandb"))
    summary = [p for p in (out / "wandb").glob("offline-run-*")]
    assert summary and list(summary[-1].glob("*.wandb"))
    printed = capsys.readouterr().out
    assert "sweep mini: ran 5 trials now; 4 ok, 4 failed in total" in printed and "ran 0 trials now" in printed


def test_dry_run_lists_trials_and_count(tmp_path, capsys):
    f = _sweep_file(tmp_path, {"loss.style_weight": {"values": [1.0, 5.0]}})
    assert main(["sweep", str(f), "--dry-run", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 trials in sweep s: 0 done, 4 to run" in out and out.count("todo") == 4


def test_sigkill_at_any_moment_then_resume_counts_each_trial_once(tmp_path):
    f = _sweep_file(tmp_path, {"loss.style_weight": {"values": [1.0, 2.0, 3.0]}}, name="kill")
    cmd = [sys.executable, "-m", "nst_bench.cli", "sweep", str(f), "--results", str(tmp_path), "--wandb", "disabled"]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    runs = RunsLog(tmp_path / "kill" / "runs.jsonl")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not runs.read() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # in the middle of the second trial (or of writing its row)
    proc.wait()
    killed_after = len(runs.read())
    assert 1 <= killed_after < 6
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    ids = [r["trial_id"] for r in runs.read()]
    assert len(ids) == 6 and len(set(ids)) == 6
    assert all(r["status"] == "ok" for r in runs.read())


def test_shared_targets_are_computed_once_and_change_nothing(tmp_path):
    from nst_bench.run.cache import process_cache, reset_process_cache
    from nst_bench.sweeps import executors

    f = _sweep_file(tmp_path, {"loss.style_weight": {"values": [1.0, 2.0, 3.0]}, "tracking.wandb":
                               {"value": "disabled"}, "content": {"values": [str(DEMO / "content" / "rocket.jpg")]}})
    trials = expand(load_sweep(f), tmp_path)
    reset_process_cache()
    rows = [executors.run_trial(t) for t in trials]
    cache = process_cache()
    # content features + style Grams once, reused twice each
    assert (cache.misses["content"], cache.hits["content"], cache.misses["gram"], cache.hits["gram"]) == (1, 2, 1, 2)
    assert cache.count("encoder") == 1
    reset_process_cache()
    cold = executors.run_trial(trials[2])
    assert cold["final"]["total"] == pytest.approx(rows[2]["final"]["total"], rel=1e-6)


def test_config_valued_parameter_sets_several_keys(tmp_path):
    f = _sweep_file(tmp_path, {"config": {"values": [{"backbone.name": "vgg19", "loss.style_weight": 1.0},
                                                     {"method": "adain", "adain.alpha": 0.5}]}})
    trials = expand(load_sweep(f), tmp_path)
    assert len(trials) == 4
    kinds = {(t.config.method, t.config.backbone.name, t.config.loss.style_weight, t.config.adain.alpha)
             for t in trials}
    assert kinds == {("gatys", "vgg19", 1.0, 1.0), ("adain", "vgg19", 5.0, 0.5)}
    with pytest.raises(UserError, match="mapping of dotted keys"):
        expand(load_sweep(_sweep_file(tmp_path, {"config": {"values": [3]}})), tmp_path)


def test_trial_ids_ignore_sections_the_method_does_not_use():
    from nst_bench.config import RunConfig
    from nst_bench.sweeps.spec import trial_hash

    a, b = RunConfig(content="c.jpg", styles=["s.jpg"]), RunConfig(content="c.jpg", styles=["s.jpg"])
    b.adain.alpha, b.out, b.tracking.wandb = 0.3, "elsewhere", "disabled"
    assert trial_hash(a) == trial_hash(b)
    b.loss.style_weight = 7.0
    assert trial_hash(a) != trial_hash(b)
    c, d = RunConfig(method="adain", content="c.jpg"), RunConfig(method="adain", content="c.jpg")
    d.optimizer.steps, d.gatys.init = 7, "noise"
    assert trial_hash(c) == trial_hash(d)


def test_absolute_paths_resolves_every_path_key_and_keeps_the_rest(tmp_path, monkeypatch):
    from nst_bench.config import PATH_KEYS, RunConfig, absolute_paths

    monkeypatch.chdir(tmp_path)
    cfg = RunConfig(content="c.jpg", styles=["a.jpg", "b.jpg"], out="res/x")
    cfg.video.input, cfg.train.content_dir, cfg.fast.checkpoint = "clip.mp4", "photos", "net.safetensors"
    cfg.cyclegan.domain_b, cfg.backbone.weights = "paintings", "w.pth"
    out = absolute_paths(cfg)
    assert out.styles == [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")] and out.out == str(tmp_path / "res/x")
    assert (out.video.input, out.train.content_dir, out.fast.checkpoint, out.cyclegan.domain_b) == (
        str(tmp_path / "clip.mp4"), str(tmp_path / "photos"), str(tmp_path / "net.safetensors"),
        str(tmp_path / "paintings"))
    assert out.backbone.weights == str(tmp_path / "w.pth") and out.depth.weights is None and cfg.content == "c.jpg"
    assert {"video.input", "train.content_dir", "cyclegan.checkpoint", "depth.weights"} <= set(PATH_KEYS)


def test_seeds_are_replicates_averaged_in_one_row_per_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = _sweep_file(tmp_path, {"seed": {"values": [0, 1]}, "loss.style_weight": {"values": [1.0, 5.0]},
                               "content": {"values": [str(DEMO / "content" / "chelsea.jpg")]}}, name="reps")
    trials = expand(load_sweep(f), tmp_path)
    assert len(trials) == 4 and {t.config.seed for t in trials} == {0, 1}
    assert all("seed" not in t.params for t in trials), "a seed is a replicate, not a setting"
    assert main(["sweep", str(f), "--results", "res"]) == 0
    rows = RunsLog(tmp_path / "res" / "reps" / "runs.jsonl").read()
    assert sorted(r["seed"] for r in rows) == [0, 0, 1, 1]
    table = pd.read_csv(tmp_path / "res" / "reps" / "table.csv")
    assert list(table.pairs) == [2, 2] and table["final/total std"].notna().all()
