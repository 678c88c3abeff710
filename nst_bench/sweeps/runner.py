"""Run a sweep: expand it, run what ``runs.jsonl`` does not hold yet, then write the report and a W&B summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nst_bench.run.tracking import log_tables
from nst_bench.sweeps.executors import SweepProgress, local_executor, ray_executor
from nst_bench.sweeps.report import report, runtime_columns
from nst_bench.sweeps.spec import Sweep, Trial, expand
from nst_bench.sweeps.store import RunsLog


def pending_trials(trials: list[Trial], runs: RunsLog, retry_failed: bool = False) -> list[Trial]:
    """Trials without a row in runs.jsonl (failed ones too, with ``retry_failed``)."""
    todo = set(runs.pending([t.id for t in trials], retry_failed))
    return [t for t in trials if t.id in todo]


def run_sweep(sweep: Sweep, *, executor: str = "local", max_trials: int | None = None,
              results_root: Path = Path("results"), wandb_mode: str | None = None, retry_failed: bool = False,
              ray_address: str | None = None, ray_cpus: float | None = None,
              ray_gpus: float | None = None, summary: bool = True) -> dict[str, Any]:
    """Run what is not done yet, then write the report and a W&B summary run with the comparison table
    (``summary=False``: neither, for a caller that builds its own tables from thousands of trials)."""
    trials = expand(sweep, results_root)
    if wandb_mode:
        for t in trials:
            t.config.tracking.wandb = wandb_mode
    out = results_root / sweep.name
    runs = RunsLog(out / "runs.jsonl")
    pending = pending_trials(trials, runs, retry_failed)
    todo = pending[: max_trials if max_trials is not None else None]
    progress = SweepProgress(total=len(trials), already=len(trials) - len(pending))
    cpus = ray_cpus if ray_cpus is not None else sweep.resource("ray.cpus", 1)
    gpus = ray_gpus if ray_gpus is not None else sweep.resource("ray.gpus", 0)
    run = local_executor if executor == "local" else ray_executor(ray_address, cpus, gpus)
    try:
        run(todo, runs, progress)
    finally:
        progress.close()
    if not summary:
        return {"ran": len(todo)}
    result = report(out)
    mode = wandb_mode or (trials[0].config.tracking.wandb if trials else "offline")
    if mode != "disabled":
        table = result["table"].copy()
        table.columns = [str(c) for c in table.columns]
        result["wandb_run_dir"] = log_tables(out, f"{sweep.name}-summary", {
            "comparison": table, "runtime": table[runtime_columns(table)]}, mode=mode,
            project=trials[0].config.tracking.project, group=sweep.name)
    result["ran"] = len(todo)
    return result
