"""One run of a W&B sweep, as ``wandb agent`` launches it: the run's parameters arrive as ``--key=value``
arguments (W&B's ``${args}``), and this runs that one setting over the sweep file's images.

The bundled sweep files carry the ``command:`` that does it (run the agent from the repository root: the paths in
it and in the sweep files are relative to it)::

    command: ["${env}", "${interpreter}", -m, nst_bench.cli, agent, configs/sweeps/demo.yaml, "${args}"]

Each image pair is an ordinary trial (same id, folder and ``runs.jsonl`` row as under ``nst-bench sweep``, so the
two share results); the agent's run (``WANDB_RUN_ID``, ``WANDB_SWEEP_ID``, set by the agent) receives each pair's
final metrics, the table, and in its summary the mean over pairs of every metric, the sweep's own included.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

from nst_bench.errors import UserError
from nst_bench.sweeps.report import comparison_table
from nst_bench.sweeps.runner import run_sweep
from nst_bench.sweeps.spec import IMAGE_PARAMS, Sweep, expand, load_sweep


def parse_agent_args(args: list[str]) -> dict[str, Any]:
    """``--loss.style_weight=2.0 --content=assets/demo/content`` -> typed values. W&B writes each value with
    Python's ``str``; ``ast.literal_eval`` is its inverse for numbers, booleans, None, lists and dicts, and
    anything else (a path, ``no``, ``1:30``) stays the string it was."""
    values: dict[str, Any] = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise UserError(f"agent arguments look like --key=value (W&B's ${{args}}), got {arg!r}")
        key, raw = arg[2:].split("=", 1)
        try:
            values[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            values[key] = raw
    return values


def one_setting(sweep: Sweep, values: dict[str, Any]) -> Sweep:
    """The sweep narrowed to the agent's value of each setting, keeping its swept keys as the table's columns.
    The images stay the file's own: W&B sees a list of images as one more parameter, but a run of nst-bench is a
    setting over all of them (runs that differ only by image find their trials done and report the same)."""
    unknown = set(values) - set(sweep.parameters)
    if unknown:
        raise UserError(f"{sweep.path}: the agent passed {', '.join(sorted(unknown))}, which the sweep file's "
                        "parameters do not have: was the sweep created from another file?")
    swept = [k for k in sweep.swept_keys if k not in IMAGE_PARAMS]
    sweep.parameters = {k: ({"value": values[k]} if k in values and k not in IMAGE_PARAMS else spec)
                        for k, spec in sweep.parameters.items()}
    missing = [k for k, spec in sweep.parameters.items() if k not in IMAGE_PARAMS and "value" not in spec
               and "values" not in spec]
    if missing:  # a range left unset would be drawn again here: the agent is the one that chooses
        raise UserError(f"{sweep.path}: the agent gave no value for {', '.join(missing)}")
    sweep.method, sweep.swept = "grid", swept
    return sweep


def agent_run(sweep_file: str | Path, args: list[str], *, results_root: Path = Path("results"),
              wandb_mode: str | None = None) -> dict[str, Any]:
    """Run the setting the agent chose and report it to the agent's W&B run; returns this setting's rows."""
    import wandb

    sweep = one_setting(load_sweep(sweep_file, for_agent=True), parse_agent_args(args))
    values = {k: spec.get("value", spec.get("values")) for k, spec in sweep.parameters.items()}
    result = run_sweep(sweep, results_root=results_root, wandb_mode="disabled")  # one W&B run: the agent's
    ids = {t.id for t in expand(sweep, results_root)}
    runs = result["runs"][result["runs"].trial_id.isin(ids)]  # runs.jsonl also holds the sweep's other settings
    table = comparison_table(runs, result["settings"])
    table.columns = [str(c) for c in table.columns]
    means = {c.removesuffix(" mean"): float(table[c].iloc[0]) for c in table.columns if c.endswith(" mean")
             and table[c].notna().all()}
    mode = wandb_mode or os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_SWEEP_ID") else "offline")
    run = wandb.init(dir=str((results_root / sweep.name).resolve()), mode=mode,
                     project=os.environ.get("WANDB_PROJECT") or sweep.project or "nst-bench", group=sweep.name,
                     job_type="sweep-agent", config=values,
                     settings=wandb.Settings(console="off", silent=True, x_disable_stats=True))
    for i, (_, row) in enumerate(runs.iterrows()):
        run.log({k: row[k] for k in runs.columns if k.startswith("final/") and row[k] == row[k]}
                | {"pair": i, "status": row["status"]})
    run.log({"comparison": wandb.Table(dataframe=table.astype(str))})
    for k, v in means.items():
        run.summary[k] = v
    failed = int((runs.status == "failed").sum())
    run.summary["pairs_failed"] = failed
    run_dir = Path(run.dir).parent
    run.finish(exit_code=1 if failed == len(runs) else 0)
    if failed == len(runs):
        raise UserError(f"every pair of this setting failed ({runs.error.iloc[0]}); see {results_root / sweep.name}")
    return {"runs": runs, "table": table, "wandb_run_dir": run_dir}
