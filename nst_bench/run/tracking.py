"""A small logger protocol: local files always, Weights & Biases when enabled.

Local files are the source of truth (tables are built from them); W&B is a view. Each W&B run sets its mode
explicitly (offline by default) and never touches ``os.environ``, so one process can hold runs of different modes.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

log = logging.getLogger(__name__)


class Tracker(Protocol):
    def log(self, metrics: Mapping[str, float], step: int) -> None: ...
    def log_image(self, key: str, path: Path, caption: str = "") -> None: ...
    def finish(self, summary: Mapping[str, Any]) -> None: ...


class LocalTracker:
    """Keeps the metric history in memory and writes it to ``history.csv`` when the run ends."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.history: list[dict[str, float]] = []

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.history.append({"step": step, **{k: float(v) for k, v in metrics.items()}})

    def log_image(self, key: str, path: Path, caption: str = "") -> None:
        pass  # the image is already a file in out_dir

    def finish(self, summary: Mapping[str, Any]) -> None:
        if not self.history:
            return
        keys = list(dict.fromkeys(k for row in self.history for k in row))
        with open(self.out_dir / "history.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.history)


def wandb_init(out_dir: Path, *, mode: str, **kwargs: Any) -> Any:
    """A new W&B run in ``out_dir/wandb``. The path is absolute because W&B's service process, started once per
    Python process, resolves relative paths against its own working directory, not the caller's."""
    import wandb

    return wandb.init(dir=str(out_dir.resolve()), mode=mode, reinit="create_new",
                      settings=wandb.Settings(console="off", silent=True, x_disable_stats=True), **kwargs)


class WandbTracker:
    """One W&B run; ``mode`` is passed to ``wandb.init`` rather than set in the environment."""

    def __init__(self, out_dir: Path, *, mode: str, project: str, name: str, config: Mapping[str, Any],
                 group: str | None = None, job_type: str | None = None) -> None:
        import wandb

        self._wandb = wandb
        self.run = wandb_init(out_dir, mode=mode, project=project, name=name, group=group, job_type=job_type,
                              config=dict(config))

    @property
    def run_dir(self) -> Path:
        return Path(self.run.dir).parent  # .../wandb/offline-run-<time>-<id>

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def log_image(self, key: str, path: Path, caption: str = "") -> None:
        self.run.log({key: self._wandb.Image(str(path), caption=caption)})

    def finish(self, summary: Mapping[str, Any]) -> None:
        for k, v in summary.items():
            self.run.summary[k] = v
        self.run.finish()


class Trackers:
    """Fan-out to several trackers, so methods log through one object."""

    def __init__(self, *trackers: Tracker) -> None:
        self.trackers = [t for t in trackers if t is not None]

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        for t in self.trackers:
            t.log(metrics, step)

    def log_image(self, key: str, path: Path, caption: str = "") -> None:
        for t in self.trackers:
            t.log_image(key, path, caption)

    def finish(self, summary: Mapping[str, Any]) -> None:
        for t in self.trackers:
            t.finish(summary)

    def find(self, kind: type) -> Any:
        return next((t for t in self.trackers if isinstance(t, kind)), None)


def provenance(device: str, seed: int) -> dict[str, Any]:
    """What produced a result, beyond its config: versions, device, threads, commit."""
    import pytorch_lightning
    import timm
    import torchvision

    import nst_bench

    info: dict[str, Any] = {
        "nst_bench": nst_bench.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
        "torchvision": torchvision.__version__, "timm": timm.__version__,
        "pytorch_lightning": pytorch_lightning.__version__, "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor()
        or platform.machine(), "threads": torch.get_num_threads(), "dtype": "float32", "seed": seed,
        "platform": platform.platform(), "git_commit": _git_commit(),
    }
    return info


def _git_commit() -> str | None:
    head = Path(__file__).resolve().parents[2] / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (head.parent / ref[5:]).read_text().strip()[:12]
        return ref[:12]
    except OSError:
        return None


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON atomically (temp file + rename), so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def log_sweep_summary(out_dir: Path, sweep: str, table: Any, mode: str, project: str = "nst-bench") -> Path:
    """One W&B run per sweep holding the comparison table and the runtime table (``wandb.Table``)."""
    import wandb

    run = wandb_init(out_dir, mode=mode, project=project, name=f"{sweep}-summary", group=sweep, job_type="summary")
    table = table.copy()
    table.columns = [str(c) for c in table.columns]
    runtime_cols = [c for c in table.columns if c.split(" ")[0] in ("seconds", "s_per_iteration", "iterations")]
    settings = [c for c in table.columns if " " not in c and c not in ("pairs", "failed", "error")]
    run.log({"comparison": wandb.Table(dataframe=table.astype(str)),
             "runtime": wandb.Table(dataframe=table[settings + runtime_cols].astype(str))})
    run_dir = Path(run.dir).parent
    run.finish()
    return run_dir
