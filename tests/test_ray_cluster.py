"""A real Ray cluster on this machine: a head and a second node started with `ray start`, sweeps joining it with
--ray-address. Trials spread over both nodes; the driver is killed mid-sweep and a rerun finishes the rest; a
train-fast and a video sweep given relative paths run as what they are, with every path made absolute."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nst_bench.sweeps.store import RunsLog

from .conftest import DEMO, ROOT, moving_square_clip
from .test_train_fast import _photos

pytest.importorskip("ray")
RAY = Path(sys.executable).parent / "ray"
# a local test cluster without token authentication (a real cluster keeps Ray's default and shares its token)
ENV = os.environ | {"RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_node_cluster():
    address = f"127.0.0.1:{free_port()}"
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", "--port", address.split(":")[1], "--include-dashboard", "false",
                        *common], env=ENV, check=True, capture_output=True, timeout=120)
        subprocess.run([RAY, "start", "--address", address, *common], env=ENV, check=True, capture_output=True,
                       timeout=120)
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], env=ENV, capture_output=True, timeout=120)


def write_sweep(path: Path, program: str, params: dict) -> Path:
    base = {"image.size": {"value": 32}, "tracking.wandb": {"value": "disabled"}, "ray.cpus": {"value": 1}}
    path.write_text(yaml.safe_dump({"name": path.stem, "recipe": program, "method": "grid",
                                    "parameters": base | params}))
    return path


def test_sweeps_on_a_two_node_cluster(two_node_cluster, tmp_path, monkeypatch):
    import ray

    from nst_bench.sweeps.runner import run_sweep
    from nst_bench.sweeps.spec import load_sweep

    monkeypatch.chdir(tmp_path)  # every path below is relative to here; the tasks must get them absolute
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    _photos(tmp_path)
    shutil.copy(DEMO / "style" / "starry_night.jpg", tmp_path / "style.jpg")
    moving_square_clip(tmp_path / "clip.mp4", frames=4)
    stylize = write_sweep(Path("rs.yaml"), "stylize", {
        "content": {"values": ["photos/0.jpg", "photos/1.jpg"]}, "styles": {"value": "style.jpg"},
        "loss.style_weight": {"values": [1.0, 2.0, 3.0]}, "optimizer.steps": {"value": 3}})
    train = write_sweep(Path("rt.yaml"), "train-fast", {
        "styles": {"value": "style.jpg"}, "train.content_dir": {"value": "photos"}, "train.steps": {"value": 2},
        "train.crop": {"value": 32}, "train.batch": {"value": 2}, "train.holdout": {"value": 1},
        "fast.width": {"value": 8}, "fast.blocks": {"value": 1}, "backbone.content_layers": {"value": ["conv2_1"]},
        "backbone.style_layers": {"value": ["conv1_1"]}})
    video = write_sweep(Path("rv.yaml"), "video", {
        "video.input": {"value": "clip.mp4"}, "styles": {"value": "style.jpg"}, "method": {"value": "adain"},
        "video.blend": {"values": [0.0, 0.5]}})

    def sweep(path: Path) -> list[str]:
        return [sys.executable, "-m", "nst_bench.cli", "sweep", str(path), "--results", "res", "--executor", "ray",
                "--ray-address", two_node_cluster]

    # stylize: kill the driver once the first row is in, then rerun
    runs = RunsLog(tmp_path / "res" / "rs" / "runs.jsonl")
    driver = subprocess.Popen(sweep(stylize), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not runs.read() and time.time() < deadline and driver.poll() is None:
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)  # its running tasks die with it
    driver.wait()
    first = runs.read()
    assert 1 <= len(first) < 6, driver.stderr.read().decode()[-2000:]
    done = subprocess.run(sweep(stylize), env=ENV, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"ran {6 - len(first)} trials now" in done.stdout
    rows = runs.read()
    assert len(rows) == 6 == len({r["trial_id"] for r in rows}) and all(r["status"] == "ok" for r in rows)
    assert rows[: len(first)] == first  # the rerun added rows and rewrote none
    by_node: dict[str, list[str]] = {}
    for r in rows:
        by_node.setdefault(r["ray_node"][:8], []).append(f"{r['params']['content']}:{r['params']['loss.style_weight']}")
    print(f"\nkilled after {len(first)} of 6 trials; trials per node: {by_node}")

    # train-fast and video from this process, joined to the cluster: each trial runs its own program
    ray.init(address=two_node_cluster, log_to_driver=False)
    try:
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        for path in (train, video):
            assert run_sweep(load_sweep(path), executor="ray", results_root=Path("res"))["ran"] >= 1
    finally:
        ray.shutdown()
    assert {r["ray_node"] for r in rows} == nodes and len(nodes) == 2, "the trials ran on both nodes"
    trained = RunsLog(tmp_path / "res" / "rt" / "runs.jsonl").read()
    assert len(trained) == 1 and trained[0]["status"] == "ok", trained
    out = Path(trained[0]["out"])
    assert (out / "net.safetensors").is_file() and trained[0]["iterations"] == 2  # trained, not stylized
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["train"]["content_dir"] == str(tmp_path / "photos") and config["out"] == str(out)
    videos = RunsLog(tmp_path / "res" / "rv" / "runs.jsonl").read()
    assert len(videos) == 2 and all(r["status"] == "ok" for r in videos), videos
    for r in videos:
        metrics = json.loads((Path(r["out"]) / "metrics.json").read_text())
        assert metrics["frames"] == 4 and len(list((Path(r["out"]) / "frames").glob("*.png"))) == 4
        assert metrics["config"]["video"]["input"] == str(tmp_path / "clip.mp4")
        assert metrics["config"]["styles"] == [str(tmp_path / "style.jpg")]
    blended = {r["params"]["video.blend"]: r["final"]["warping_error"] for r in videos}
    assert blended[0.5] < blended[0.0]
