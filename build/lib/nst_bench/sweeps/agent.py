"""One run of a W&B sweep, as ``wandb agent`` launches it: the run's parameters arrive as ``--key=value``
arguments (W&B's ``${args}``), and this runs that one setting over the sweep file's images.

The bundled sweep files carry the ``command:`` that does it::

    command: [${env}, ${interpreter}, -m, nst_bench.cli, agent, configs/sweeps/demo.yaml, ${args}]

Each image pair is an ordinary trial (same id, folder and ``runs.jsonl`` row as under ``nst-bench sweep``, so the
two share results); the agent's run (``WANDB_RUN_ID``, ``WANDB_SWEEP_ID``, set by the agent) receives each pair's
final metrics, the table, and in its summary the mean over pairs of every metric, the sweep's own included.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from nst_bench.errors import UserError
from nst_bench.sweeps.runner import run_sweep
from nst_bench.sweeps.spec import Sweep, load_sweep


def parse_agent_args(args: list[str]) -> dict[str, Any]:
    """``--loss.style_weight=2.0 --content=assets/demo/content`` -> typed values. W&B writes each value with
    Python's ``str``, which YAML reads back (lists, dicts, numbers, booleans, None)."""
    values: dict[str, Any] = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise UserError(f"agent arguments look like --key=value (W&B's ${{args}}), got {arg!r}")
        key, raw = arg[2:].split("=", 1)
        try:
            values[key] = yaml.safe_load(raw)
        except yaml.YAMLError:
            values[key] = raw
        if values[key] == "None":
            values[key] = None
    return values


def one_setting(sweep: Sweep, values: dict[str, Any]) -> Sweep:
    """The sweep narrowed to one value per parameter, keeping its swept keys as the table's columns."""
    unknown = set(values) - set(sweep.parameters)
    if unknown:
        raise UserError(f"{sweep.path}: the agent passed {', '.join(sorted(unknown))}, which the sweep file's "
                        "parameters do not have: was the sweep created from another file?")
    swept = sweep.swept_keys
    sweep.parameters = {k: ({"value": values[k]} if k in values else spec) for k, spec in sweep.parameters.items()}
    if sweep.method != "grid":  # a range or distribution left unset would be drawn again: the agent chose it
        missing = [k for k, spec in sweep.parameters.items() if "value" not in spec]
        if missing:
            raise UserError(f"{sweep.path}: the agent gave no value for {', '.join(missing)}")
        sweep.method = "grid"
    sweep.swept = swept
    return sweep


def agent_run(sweep_file: str | Path, args: list[str], *, results_root: Path = Path("results"),
              wandb_mode: str | None = None) -> dict[str, Any]:
    """Run the setting the agent chose and report it to the agent's W&B run; returns the sweep result."""
    import wandb

    sweep = one_setting(load_sweep(sweep_file), parse_agent_args(args))
    values = {k: spec["value"] for k, spec in sweep.parameters.items()}
    result = run_sweep(sweep, results_root=results_root, wandb_mode="disabled")  # one W&B run: the agent's
    table = result["table"]
    table.columns = [str(c) for c in table.columns]
    means = {c.removesuffix(" mean"): float(table[c].iloc[0]) for c in table.columns if c.endswith(" mean")
             and table[c].notna().all()}
    mode = wandb_mode or os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_SWEEP_ID") else "offline")
    run = wandb.init(dir=str((results_root / sweep.name).resolve()), mode=mode, project=os.environ.get(
        "WANDB_PROJECT", "nst-bench"), group=sweep.name, job_type="sweep-agent", config=values,
        settings=wandb.Settings(console="off", silent=True, x_disable_stats=True))
    runs = result["runs"]
    for i, (_, row) in enumerate(runs.iterrows()):
        run.log({k: row[k] for k in runs.columns if k.startswith("final/") and row[k] == row[k]}
                | {"pair": i, "status": row["status"]})
    run.log({"comparison": wandb.Table(dataframe=table.astype(str))})
    for k, v in means.items():
        run.summary[k] = v
    run.summary["pairs_failed"] = int((runs.status == "failed").sum())
    result["wandb_run_dir"] = Path(run.dir).parent
    run.finish()
    return result
