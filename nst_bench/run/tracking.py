"""Where a run's numbers go besides its folder: a small logger protocol with a W&B run and a no-op behind it,
plus the one writer of ``history.csv`` and the provenance block every result carries.

Local files are the source of truth (tables are built from them); W&B is a view. Each W&B run sets its mode
explicitly (offline by default) and never touches ``os.environ``, so one process can hold runs of different modes.
"""

from __future__ import annotations

import csv
import datetime
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from nst_bench.run.cpu import cpu_name


class Tracker(Protocol):
    def log(self, metrics: Mapping[str, float]) -> None: ...
    def log_image(self, key: str, path: Path, caption: str = "") -> None: ...
    def log_video(self, key: str, path: Path) -> None: ...
    def finish(self, summary: Mapping[str, Any]) -> None: ...


class NullTracker:
    """``tracking.wandb: disabled``: the run folder is the only record."""

    run_dir: Path | None = None

    def log(self, metrics: Mapping[str, float]) -> None:
        pass

    def log_image(self, key: str, path: Path, caption: str = "") -> None:
        pass

    def log_video(self, key: str, path: Path) -> None:
        pass

    def finish(self, summary: Mapping[str, Any]) -> None:
        pass


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

    def log(self, metrics: Mapping[str, float]) -> None:
        """Logged without W&B's own ``step``: rows carry ``trainer/global_step``, the axis every chart uses."""
        self.run.log(dict(metrics))

    def log_image(self, key: str, path: Path, caption: str = "") -> None:
        self.run.log({key: self._wandb.Image(str(path), caption=caption)})

    def log_video(self, key: str, path: Path) -> None:
        self.run.log({key: self._wandb.Video(str(path), format="mp4")})

    def finish(self, summary: Mapping[str, Any]) -> None:
        for k, v in summary.items():
            self.run.summary[k] = v
        self.run.finish()


def log_tables(out_dir: Path, name: str, tables: Mapping[str, Any], *, mode: str, project: str = "nst-bench",
               group: str | None = None, job_type: str = "summary", config: Mapping[str, Any] | None = None) -> Path:
    """One W&B run holding pandas tables as ``wandb.Table``s (a sweep's comparison, a retention table)."""
    import wandb

    run = wandb_init(out_dir, mode=mode, project=project, name=name, group=group, job_type=job_type,
                     config=dict(config or {}))
    run.log({key: wandb.Table(dataframe=t.astype(str)) for key, t in tables.items()})
    run_dir = Path(run.dir).parent
    run.finish()
    return run_dir


UNPREFIXED = ("step", "elapsed")


def compact(value: float) -> float | str:
    """A float at 6 significant digits, far finer than any curve or table here reads it: a 5,000-step history of
    17 terms is then about half the size that full float64 text makes it (results are committed)."""
    return f"{value:.6g}" if isinstance(value, float) else value


def write_history(path: Path, history: Sequence[Mapping[str, float]]) -> Path | None:
    """``history.csv``: one row per step, every term as ``loss/<term>`` (plus cumulative wall seconds), written
    through a temp file so a kill never leaves half of it."""
    if not history:
        return None
    rows = [{(k if k in UNPREFIXED else f"loss/{k}"): compact(v) for k, v in row.items()} for row in history]
    keys = list(dict.fromkeys(k for row in rows for k in row))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def read_history(path: Path, until: int | None = None) -> list[dict[str, float]]:
    """The rows of a ``history.csv`` (up to step ``until``: what a checkpoint holds after a crash)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = [{k.removeprefix("loss/"): int(float(v)) if k == "step" else float(v) for k, v in row.items()
                 if v not in (None, "")} for row in csv.DictReader(f)]
    return [r for r in rows if until is None or r["step"] <= until]


def provenance(device: str, seed: int, dtype: str = "float32") -> dict[str, Any]:
    """What produced a result, beyond its config: versions, device, threads, commit."""
    import pytorch_lightning
    import timm
    import torchvision

    import nst_bench

    return {
        "nst_bench": nst_bench.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
        "torchvision": torchvision.__version__, "timm": timm.__version__,
        "pytorch_lightning": pytorch_lightning.__version__, "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else cpu_name(),
        "threads": torch.get_num_threads(), "dtype": dtype, "seed": seed,
        "platform": platform.platform(), "git_commit": _git_commit(),
        "date": datetime.date.today().isoformat(),
    }


def _git_commit() -> str | None:
    head = Path(__file__).resolve().parents[2] / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (head.parent / ref[5:]).read_text().strip()[:12]
        return ref[:12]
    except OSError:
        return None
