"""What every recipe does around its work, in one place: ``start_run`` (threads, seeds, the output folder),
``Run.open`` (``config.yaml`` and the W&B run), and ``Run.finish`` (``metrics.json``, images and summary to W&B).

A recipe reads: start the run, build what it needs, open the run (so ``config.yaml`` holds the config as resolved,
layer defaults filled in), do the work, finish with a ``RunMetrics``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from nst_bench.config import RunConfig, to_dict
from nst_bench.run.cache import ProcessCache
from nst_bench.run.metrics import RunMetrics
from nst_bench.run.tracking import NullTracker, Tracker, WandbTracker, provenance
from nst_bench.run.trainer import quiet_lightning


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Run:
    cfg: RunConfig
    out: Path
    cache: ProcessCache
    tracker: Tracker = field(default_factory=NullTracker)
    config: dict[str, Any] = field(default_factory=dict)

    def open(self, name: str, job_type: str, **extra_config: Any) -> Run:
        """Write ``config.yaml`` and start the W&B run (a new one on every resume: the local files are the
        record, never a resumed W&B run)."""
        self.config = to_dict(self.cfg)
        (self.out / "config.yaml").write_text(yaml.safe_dump(self.config, sort_keys=False))
        t = self.cfg.tracking
        if t.wandb != "disabled":
            self.tracker = WandbTracker(self.out, mode=t.wandb, project=t.project, name=name,
                                        config=self.config | extra_config, group=t.group, job_type=job_type)
        return self

    def lightning_logger(self) -> Any:
        """Lightning's own W&B logger on this run's W&B run (None when W&B is off). Handing it the run keeps
        ``WandbLogger`` from creating one, which would set ``WANDB_MODE`` for the whole process."""
        if not isinstance(self.tracker, WandbTracker):
            return None
        from pytorch_lightning.loggers import WandbLogger

        run = self.tracker.run  # what Lightning does for a run it creates: charts against the logged step
        run.define_metric("trainer/global_step")
        run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
        return WandbLogger(experiment=run)

    def metrics(self, status: str, final: Mapping[str, float], seconds: float | None, iterations: int,
                **extra: Any) -> RunMetrics:
        """A ``RunMetrics`` with the config, provenance and W&B run folder filled in (``dtype=`` names a precision
        other than float32, e.g. a bf16-mixed training run's)."""
        backbone, method_weights = extra.pop("backbone", None), extra.pop("method_weights", None)
        run_dir = getattr(self.tracker, "run_dir", None)
        return RunMetrics(status=status, final=dict(final), seconds=seconds, iterations=iterations,
                          config=self.config or to_dict(self.cfg),
                          provenance=provenance(self.cfg.device, self.cfg.seed, extra.pop("dtype", "float32")),
                          backbone=backbone, method_weights=method_weights,
                          wandb_run_dir=str(run_dir) if run_dir else None,
                          timed_iterations=extra.pop("timed_iterations", None), extra=extra)

    def finish(self, metrics: RunMetrics, images: Mapping[str, tuple[Path | None, str]] = (),
               summary: Mapping[str, Any] | None = None) -> RunMetrics:
        """``metrics.json``, then each image (key -> (path, caption)) and the summary to W&B."""
        metrics.write(self.out / "metrics.json")
        for key, (path, caption) in dict(images).items():
            if path is not None and Path(path).is_file():
                self.tracker.log_image(key, Path(path), caption)
        default = {f"final/{k}": v for k, v in metrics.final.items() if isinstance(v, (int, float))}
        self.tracker.finish(default | {"seconds": metrics.seconds, "iterations": metrics.iterations}
                            | dict(summary or {}))
        return metrics


def start_run(cfg: RunConfig, cache: ProcessCache | None = None) -> Run:
    """Threads, quiet Lightning, seeds and the output folder: what every recipe does first. A run on its own gets
    a cache of its own; a sweep passes the process cache, so its trials share networks and targets."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    quiet_lightning()
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    return Run(cfg, out, cache if cache is not None else ProcessCache())
