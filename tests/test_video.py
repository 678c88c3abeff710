"""Video: I/O, optical flow and occlusion, temporal consistency for feed-forward and Gatys, resume, the metric,
the CLI and video sweeps, on a synthetic clip the tests make (a textured square sliding over a background)."""

import json

import pandas as pd
import pytest
import torch
import yaml

from nst_bench.cli import main
from nst_bench.config import load_config
from nst_bench.data.video_io import pan_zoom_clip, read_video, write_video
from nst_bench.nets.flow import consistency_mask, farneback, warp, warping_error
from nst_bench.recipes.video import frame_path, run_video

from .conftest import CONTENT, STYLE, moving_square_clip


def test_video_round_trips_frames_and_frame_rate(tmp_path):
    frames = pan_zoom_clip(CONTENT, 64, seconds=0.5, fps=12)
    assert len(frames) == 6 and not torch.equal(frames[0], frames[-1])
    back, fps = read_video(write_video(frames, tmp_path / "c.mp4", 12), max_frames=4)
    assert fps == 12 and len(back) == 4 and back[0].shape == frames[0].shape
    assert float((back[2] - frames[2]).abs().mean()) < 0.03  # H.264 at crf 18 is close to lossless


def test_flow_follows_the_square_and_masks_what_it_uncovers(tmp_path):
    frames, _ = read_video(moving_square_clip(tmp_path / "m.mp4", speed=3))
    prev, cur = frames[2], frames[3]
    back, fwd = farneback(cur, prev), farneback(prev, cur)
    assert -3.6 < float(back[0, 0, 20:28, 14:22].mean()) < -2.4  # inside the square: came from 3 px left
    assert abs(float(back[0, 0, 40:, :].mean())) < 0.3  # the still background
    assert warping_error(cur, prev, back, torch.ones_like(back[:, :1])) < 0.5 * float((cur - prev).pow(2).mean())
    mask = consistency_mask(back, fwd)
    assert 0.7 < float(mask.mean()) < 1.0
    assert torch.allclose(warp(prev, torch.zeros_like(back)), prev, atol=1e-6)


def _cfg(tmp_path, clip, name, **overrides):
    return load_config([], {"styles": [str(STYLE)], "video.input": str(clip), "image.size": 64,
                            "out": str(tmp_path / name), "tracking.wandb": "disabled", **overrides})


def test_blending_cuts_adain_flicker_and_a_killed_run_resumes(tmp_path):
    clip = moving_square_clip(tmp_path / "m.mp4")
    plain = run_video(_cfg(tmp_path, clip, "plain", method="adain"), progress=False).as_dict()
    blended = run_video(_cfg(tmp_path, clip, "blend", method="adain", **{"video.blend": 0.7}), progress=False).as_dict()
    assert blended["final"]["warping_error"] < 0.7 * plain["final"]["warping_error"]
    assert plain["final"]["content_warping_error"] == blended["final"]["content_warping_error"]
    frames, fps = read_video(tmp_path / "blend" / "stylized.mp4")
    assert len(frames) == 8 and fps == 12
    # kill after frame 5: the rerun keeps frames 0-5 and stylizes 6 and 7 from the saved frame 5
    kept = frame_path(tmp_path / "blend", 5).read_bytes()
    for i in (6, 7):
        frame_path(tmp_path / "blend", i).unlink()
    again = run_video(_cfg(tmp_path, clip, "blend", method="adain", **{"video.blend": 0.7}), progress=False).as_dict()
    assert again["resumed_from_frame"] == 6 and frame_path(tmp_path / "blend", 5).read_bytes() == kept
    assert [r["frame"] for r in again["per_frame"]] == list(range(8))
    assert abs(again["final"]["warping_error"] - blended["final"]["warping_error"]) < 1e-4


def test_gatys_temporal_loss_starts_from_the_warped_frame_and_steadies_the_video(tmp_path):
    clip = moving_square_clip(tmp_path / "m.mp4", frames=4)
    common = {"method": "gatys", "image.size": 48, "optimizer.steps": 4, "gatys.init": "noise"}
    free = run_video(_cfg(tmp_path, clip, "free", **common), progress=False).as_dict()
    steady = run_video(_cfg(tmp_path, clip, "steady", **common, **{"video.temporal_weight": 2000.0}),
                       progress=False).as_dict()
    terms = steady["per_frame"]
    assert "temporal" not in terms[0] and all(r["temporal"] > 0 for r in terms[1:])
    assert steady["final"]["warping_error"] < 0.5 * free["final"]["warping_error"]


def test_video_cli_and_its_errors(tmp_path, capsys):
    assert main(["clip", "--photo", str(CONTENT), "--out", str(tmp_path / "pan.mp4"), "--size", "64",
                 "--seconds", "0.5", "--fps", "8"]) == 0
    assert main(["video", "--input", str(tmp_path / "pan.mp4"), "--out", str(tmp_path / "v" / "adain.mp4"),
                 "--method", "adain", "--style", str(STYLE), "--size", "64", "--blend", "0.5", "--no-progress",
                 "--wandb", "offline"]) == 0
    assert "warping error" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "v" / "adain" / "metrics.json").read_text())
    assert metrics["frames"] == 4 and metrics["video"].endswith("adain.mp4") and metrics["mask_coverage"] > 0.5
    assert (tmp_path / "v" / "adain.mp4").is_file() and (tmp_path / "v" / "adain" / "strip.jpg").is_file()
    assert list((tmp_path / "v" / "adain" / "wandb").glob("offline-run-*/files/media/videos/*.mp4"))
    for argv, message in ((["--input", str(tmp_path / "none.mp4")], "video not found"),
                          (["--input", str(STYLE)], "at least 2 frames"),
                          (["--input", str(tmp_path / "pan.mp4"), "--blend", "1.5"], "video.blend")):
        code = main(["video", *argv, "--out", str(tmp_path / "x.mp4"), "--method", "adain", "--style", str(STYLE),
                     "--no-progress"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1


def test_a_video_sweep_reports_warping_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clip = moving_square_clip(tmp_path / "m.mp4", frames=4)
    sweep = tmp_path / "video.yaml"
    sweep.write_text(yaml.safe_dump({"name": "video", "program": "video", "method": "grid", "parameters": {
        "video.input": {"value": str(clip)}, "styles": {"values": [str(STYLE)]}, "method": {"value": "adain"},
        "image.size": {"value": 48}, "tracking.wandb": {"value": "disabled"},
        "video.blend": {"values": [0.0, 0.6]}}}))
    assert main(["sweep", str(sweep), "--results", "res"]) == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "res" / "video" / "table.csv")
    assert len(table) == 2 and "final/warping_error mean" in " ".join(table.columns)


def test_raft_loads_through_the_resolver_or_says_what_is_missing(tmp_path, monkeypatch):
    from torchvision.models.optical_flow import raft_small

    from nst_bench.errors import UserError
    from nst_bench.nets.flow import flow_estimator

    monkeypatch.setenv("NST_BENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(UserError, match=r"no weights for raft_small .*raft_small_C_T_V2-01064c6d\.pth"):
        flow_estimator("raft_small")
    torch.manual_seed(0)
    torch.save(raft_small(weights=None).state_dict(), tmp_path / "raft_small_C_T_V2-01064c6d.pth")
    raft = flow_estimator("raft_small")  # random weights: checks loading and shapes, not accuracy
    assert raft.resolved.source == "weights_dir"
    a, b = torch.rand(1, 3, 44, 60), torch.rand(1, 3, 44, 60)
    assert raft(a, b).shape == (1, 2, 44, 60)
