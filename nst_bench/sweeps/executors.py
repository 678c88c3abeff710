"""Run a sweep's pending trials: in this process (default) or as Ray tasks. Only the driver writes runs.jsonl."""

from __future__ import annotations

import copy
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nst_bench.errors import UserError
from nst_bench.recipes.stylize import SharedWork, run
from nst_bench.sweeps.spec import RunsLog, Trial

log = logging.getLogger(__name__)
_SHARED: SharedWork | None = None  # one per process: a Ray worker keeps it across the tasks it runs


def shared_work() -> SharedWork:
    global _SHARED
    if _SHARED is None:
        _SHARED = SharedWork()
    return _SHARED


def run_trial(trial: Trial, progress: bool = False) -> dict[str, Any]:
    """Run one trial and return its runs.jsonl row; a failure becomes a row with the error, never an exception."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"trial_id": trial.id, "params": trial.params, "out": trial.config.out}
    try:
        if trial.program == "train-fast":
            from nst_bench.recipes.train_fast import train

            m = train(trial.config, progress=progress)  # resumes from its own checkpoint after a crash
            metrics = m | {"final": m["held_out"], "iterations": m["steps"],
                           "s_per_iteration": m["seconds"] / m["steps"] if m["seconds"] else None}
        elif trial.program == "video":
            from nst_bench.recipes.video import run_video

            metrics = run_video(trial.config, progress=progress, shared=shared_work())  # resumes by frame
        else:
            metrics = run(trial.config, progress=progress, shared=shared_work(), bar_position=1)
        backbone = metrics.get("backbone") or {}  # a video of a trained network runs no backbone
        row |= {"status": metrics["status"], "final": metrics["final"], "seconds": metrics["seconds"],
                "s_per_iteration": metrics["s_per_iteration"], "iterations": metrics["iterations"],
                "backbone": backbone.get("name"), "weights_source": (backbone.get("weights") or {}).get("source")}
    except Exception as e:  # a failed trial is a result too: record it and let the sweep go on
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        row |= {"status": "failed", "error": f"{type(e).__name__}: {message}"}
        if not isinstance(e, UserError):
            Path(trial.config.out).mkdir(parents=True, exist_ok=True)
            (Path(trial.config.out) / "error.txt").write_text(traceback.format_exc())
    row["wall_seconds"] = time.perf_counter() - t0
    return row


class SweepProgress:
    """The sweep-level bar (done / failed / remaining, ETA) on a terminal; plain log lines otherwise."""

    def __init__(self, total: int, already: int) -> None:
        self.total, self.done, self.failed = total, already, 0
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.started = already
        self.bar = tqdm(total=total, initial=already, desc="sweep", unit="trial", position=0, leave=True,
                        dynamic_ncols=True) if self.tty else None

    def update(self, row: dict[str, Any], label: str) -> None:
        self.done += 1
        self.failed += row["status"] == "failed"
        remaining = self.total - self.done
        if self.bar is not None:
            self.bar.set_postfix(failed=self.failed, remaining=remaining)
            self.bar.update(1)
            if row["status"] == "failed":
                self.bar.write(f"failed: {label}: {row['error']}")
            return
        rate = (time.perf_counter() - self.t0) / max(1, self.done - self.started)
        status = row["status"] if row["status"] != "failed" else f"FAILED ({row['error']})"
        print(f"[{self.done}/{self.total}] {status}: {label} ({row['wall_seconds']:.1f} s); {self.failed} failed, "
              f"{remaining} remaining, ETA {remaining * rate / 60:.1f} min", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def with_absolute_paths(trial: Trial) -> Trial:
    cfg = copy.deepcopy(trial.config)
    cfg.content = str(Path(cfg.content).resolve()) if cfg.content else None
    cfg.styles = [str(Path(s).resolve()) for s in cfg.styles]
    cfg.out = str(Path(cfg.out).resolve())
    return Trial(trial.id, cfg, trial.params)


Executor = Callable[[list[Trial], RunsLog, SweepProgress], None]


def local_executor(trials: list[Trial], runs: RunsLog, progress: SweepProgress) -> None:
    for trial in trials:
        row = run_trial(trial, progress=progress.tty)
        runs.append(row)
        progress.update(row, trial.label)


def ray_executor(address: str | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 local_cpus: int | None = None) -> Executor:
    """Each trial a Ray task; ``address=None`` starts an embedded Ray, otherwise joins that cluster."""

    def execute(trials: list[Trial], runs: RunsLog, progress: SweepProgress) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("the ray executor needs Ray: pip install 'nst-bench[ray]'") from None
        started_here = not ray.is_initialized()
        if started_here:
            kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": local_cpus}
            ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(run_trial)
        labels = {}
        pending = []
        for t in trials:
            ref = remote.remote(with_absolute_paths(t))  # Ray workers may start in another directory
            labels[ref] = t.label
            pending.append(ref)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                row = ray.get(ready[0])
                runs.append(row)
                progress.update(row, labels[ready[0]])
        finally:
            if started_here:
                ray.shutdown()

    return execute
