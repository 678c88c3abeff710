"""Run a sweep's pending trials: in this process (default) or as Ray tasks. Only the driver writes runs.jsonl."""

from __future__ import annotations

import dataclasses
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nst_bench.config import absolute_paths
from nst_bench.errors import UserError
from nst_bench.recipes import get_program
from nst_bench.run.cache import process_cache
from nst_bench.sweeps.spec import Trial
from nst_bench.sweeps.store import RunsLog


def run_trial(trial: Trial, progress: bool = False) -> dict[str, Any]:
    """Run one trial and return its runs.jsonl row; a failure becomes a row with the error, never an exception.
    The process cache lives as long as the process: a Ray worker keeps it across the tasks it runs."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"trial_id": trial.id, "params": trial.params, "seed": trial.config.seed,
                           "out": trial.config.out}
    try:
        row |= get_program(trial.program).run(trial.config, progress, process_cache()).row()
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


def run_trial_on_node(trial: Trial) -> dict[str, Any]:
    """``run_trial`` in a Ray worker: the row also says which node ran it."""
    import socket

    import ray

    return run_trial(trial) | {"ray_node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname()}


def with_absolute_paths(trial: Trial) -> Trial:
    """The same trial (id, program, params) with every path in its config absolute: Ray workers may start in
    another directory, on another machine with the same shared file system."""
    return dataclasses.replace(trial, config=absolute_paths(trial.config))


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
        remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(run_trial_on_node)
        labels = {}
        pending = []
        for t in trials:
            ref = remote.remote(with_absolute_paths(t))
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
