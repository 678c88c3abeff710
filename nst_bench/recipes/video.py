"""Recipe: stylize a video frame by frame, optionally with temporal consistency, and measure its flicker.

Per frame t > 0 the optical flow of the *content* frames gives the previous frame's pixels' positions in this one
(``flow.warp``) and a mask of where that can be trusted (``flow.consistency_mask``). Gatys starts from the previous
stylized frame warped onto this one and adds Ruder et al.'s temporal loss (``video.temporal_weight``);
feed-forward methods mix the warped previous output into theirs (``video.blend``). Either way the result is scored
by the temporal warping error: the mean squared difference between each stylized frame and the previous one
warped onto it over trusted pixels, reported beside the same error of the content clip.

Writes to ``cfg.out``: ``frames/NNNNN.png`` (each finished frame; a rerun resumes after the last one),
``stylized.mp4`` at the source frame rate (or the ``--out`` path), ``strip.jpg`` (content over stylized frames),
``warping.png``, ``metrics.json``, ``config.yaml`` and an offline W&B run with the video.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import make_grid
from tqdm.auto import tqdm

from nst_bench.config import RunConfig
from nst_bench.data.images import load_image, save_image
from nst_bench.data.video_io import iter_frames, probe_video, write_video
from nst_bench.errors import UserError
from nst_bench.losses.terms import TemporalLoss
from nst_bench.methods.registry import get_method, method_names
from nst_bench.nets.flow import consistency_mask, flow_estimator, warp, warping_error
from nst_bench.recipes.stylize import run_name
from nst_bench.run.cache import ProcessCache
from nst_bench.run.context import start_run
from nst_bench.run.metrics import RunMetrics
from nst_bench.run.plots import warping_curves


def frame_path(out: Path, i: int) -> Path:
    return out / "frames" / f"{i:05d}.png"


def finished_frames(out: Path, n: int) -> int:
    """How many frames, from the first on, a previous run already wrote."""
    done = 0
    while done < n and frame_path(out, done).is_file():
        done += 1
    return done


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _strip(out: Path, clip: str, size: int, n: int, columns: int = 6) -> torch.Tensor:
    """Content frames over stylized frames at ``columns`` evenly spaced times (a second, cheap decode)."""
    picks = sorted({round(i * (n - 1) / max(columns - 1, 1)) for i in range(columns)})
    content = [f[0] for i, f in enumerate(iter_frames(clip, size, n)) if i in picks]
    tiles = content + [load_image(frame_path(out, i))[0] for i in picks]
    return make_grid(tiles, nrow=len(picks), padding=2, pad_value=1.0)


def read_log(out: Path) -> list[dict[str, Any]]:
    """The per-frame records of earlier runs (``frames/log.jsonl``), up to the first frame whose PNG is missing."""
    path = out / "frames" / "log.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    return rows[:finished_frames(out, len(rows))]


def run_video(cfg: RunConfig, *, progress: bool = True, cache: ProcessCache | None = None,
              video_path: str | Path | None = None) -> RunMetrics:
    """Stylize ``cfg.video.input`` frame by frame into ``cfg.out``; returns what is written to metrics.json.

    Frames stream from the decoder, so memory holds two frames whatever the clip's length. Each finished frame is
    a PNG plus a line of ``frames/log.jsonl`` (its losses and warping errors): a rerun keeps both and goes on."""
    v = cfg.video
    method = get_method(cfg.method)
    if not v.input:
        raise UserError("no video: give --input CLIP.mp4 (or video.input)")
    if not method.video:
        able = ", ".join(m for m in method_names() if get_method(m).video)
        raise UserError(f"method {cfg.method} does not stylize video: use one of {able}")
    run = start_run(cfg, cache)
    method.prepare(cfg, run.cache)
    fps, count = probe_video(v.input)
    total = min(count, v.max_frames) if count and v.max_frames else count or v.max_frames
    styles = [load_image(s, cfg.image.style_size or cfg.image.size).to(cfg.device) for s in cfg.styles]
    blend = cfg.style_weights()
    stylize = method.build(cfg, run.cache)
    estimate_flow = flow_estimator(v.flow, v.flow_weights)
    # Gatys is consistent through its temporal loss, the one-pass methods through the blend
    consistent = v.temporal_weight > 0 if method.optimises else v.blend > 0
    run.open(f"video-{run_name(cfg)}", job_type="video")

    out = run.out
    rows = read_log(out)
    start = len(rows)
    log_path = out / "frames" / "log.jsonl"
    log_path.parent.mkdir(exist_ok=True)
    log_path.write_text("".join(json.dumps(r) + "\n" for r in rows))  # drops records past the resume point
    prev: torch.Tensor | None = None  # previous content frame
    prev_out: torch.Tensor | None = None  # previous stylized frame, as saved
    seconds, size = 0.0, None
    bar = tqdm(iter_frames(v.input, cfg.image.size, v.max_frames), desc=f"video {cfg.method}", unit="frame",
               total=total, disable=not progress)
    with open(log_path, "a") as log:
        for t, frame in enumerate(bar):
            frame, size = frame.to(cfg.device), list(frame.shape[-2:])
            if t < start:  # finished earlier: only the last one is needed, to continue from
                if t == start - 1:
                    prev_out = load_image(frame_path(out, t)).to(cfg.device)
                prev = frame
                continue
            back = mask = None
            if prev is not None:
                back = estimate_flow(frame, prev)
                mask = consistency_mask(back, estimate_flow(prev, frame))
            temporal = TemporalLoss(warp(prev_out, back), mask, v.temporal_weight) if (
                consistent and prev_out is not None) else None
            result = stylize(frame, styles, blend, temporal=temporal, score=False)
            if result.diverged_at is not None:
                raise UserError(f"the loss became NaN at step {result.diverged_at}: lower optimizer.lr or the weights")
            seconds += result.seconds
            path = frame_path(out, t)
            save_image(result.image, path.with_name(path.stem + ".tmp.png")).replace(path)  # on disk = finished
            saved = load_image(path).to(cfg.device)  # what the video holds (8-bit) is what is scored
            row: dict[str, Any] = {"frame": t, "seconds": result.seconds, **result.final}
            if back is not None:
                row |= {"warping_error": warping_error(saved, prev_out, back, mask),
                        "content_warping_error": warping_error(frame, prev, back, mask),
                        "mask_coverage": float(mask.mean())}
            log.write(json.dumps(row) + "\n")
            log.flush()
            rows.append(row)
            prev, prev_out = frame, saved
    if len(rows) < 2:
        raise UserError(f"{v.input} gave {len(rows)} frame(s); video.max_frames must be at least 2")

    pairs = rows[1:]
    styl_err = [r["warping_error"] for r in pairs]
    cont_err = [r["content_warping_error"] for r in pairs]
    final = {"warping_error": mean(styl_err), "content_warping_error": mean(cont_err)}
    final["warping_ratio"] = final["warping_error"] / final["content_warping_error"] if final[
        "content_warping_error"] else None
    n = len(rows)
    video = write_video((load_image(frame_path(out, i)) for i in range(n)), video_path or out / "stylized.mp4", fps)
    strip = save_image(_strip(out, v.input, cfg.image.size, n), out / "strip.jpg", quality=88)
    # the sweep report's thumbnail: the last frame, where consistent and independent frames differ most
    save_image(load_image(frame_path(out, n - 1)), out / "stylized.jpg")
    plot = warping_curves(cont_err, styl_err, out / "warping.png")
    for row in pairs:
        run.tracker.log({k: row[k] for k in ("warping_error", "content_warping_error", "mask_coverage")}
                        | {"trainer/global_step": row["frame"]})
    run.tracker.log_video("video", video)
    metrics = run.metrics(
        "ok", final, seconds, n, **stylize.describe(), frames=n, fps=fps, size=size, resumed_from_frame=start,
        consistent=consistent, timed_iterations=n - start, s_per_frame=seconds / max(1, n - start),
        per_frame=rows, video=str(video), flow=v.flow, mask_coverage=mean([r["mask_coverage"] for r in pairs]))
    return run.finish(metrics, {"strip": (strip, "content frames over stylized frames"), "warping": (plot, "")},
                      summary={"frames": n})
