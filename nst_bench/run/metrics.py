"""``RunMetrics``: what every run reports, typed once, written to ``metrics.json`` and summarised in ``runs.jsonl``.

Every recipe ends with one of these; the sweep store keeps ``row()`` of it, and the report reads those rows. The
fields every method shares are typed here; what only one method has (a video's frames, a network's held-out
losses, DeepDream's octaves) goes in ``extra`` and is written at the top level of ``metrics.json`` beside them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunMetrics:
    status: str  # ok | diverged
    final: dict[str, float]  # the terms the run is judged by (loss terms, held-out losses, warping errors)
    seconds: float | None  # of the work itself: optimisation, forward passes, training
    iterations: int  # optimiser steps, training steps or frames; 0 for one forward pass
    config: dict[str, Any]  # the resolved config, as in config.yaml
    provenance: dict[str, Any]  # versions, device, threads, seed, commit
    backbone: dict[str, Any] | None = None  # name, preprocessing, weights' source and sha256
    method_weights: dict[str, Any] | None = None  # where a network's own weights came from
    wandb_run_dir: str | None = None
    timed_iterations: int | None = None  # iterations ``seconds`` covers, when fewer (a resumed video: its new frames)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def s_per_iteration(self) -> float | None:
        timed = self.timed_iterations if self.timed_iterations is not None else self.iterations
        return self.seconds / timed if timed and self.seconds is not None else None

    def as_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` layout: the shared fields, then each extra key at the top level."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return data | {"s_per_iteration": self.s_per_iteration} | self.extra

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunMetrics:
        """Read back a ``metrics.json`` (a finished training run returns its own instead of training again).
        Files written before RunMetrics existed have a training run's ``held_out`` and ``steps`` instead of
        ``final`` and ``iterations``, and may lack the config or provenance."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        extra = {k: v for k, v in data.items() if k not in names and k != "s_per_iteration"}
        fields = {k: data[k] for k in names if k in data}
        fields.setdefault("status", "ok")
        fields.setdefault("final", data.get("held_out") or {})
        fields.setdefault("seconds", None)
        fields.setdefault("iterations", data.get("steps") or 0)
        fields.setdefault("config", {})
        fields.setdefault("provenance", {})
        return cls(**fields, extra=extra)

    def row(self) -> dict[str, Any]:
        """The summary a sweep keeps in ``runs.jsonl`` for its table."""
        backbone = self.backbone or {}
        return {"status": self.status, "final": self.final, "seconds": self.seconds,
                "s_per_iteration": self.s_per_iteration, "iterations": self.iterations,
                "backbone": backbone.get("name"), "weights_source": (backbone.get("weights") or {}).get("source")}

    def write(self, path: Path) -> Path:
        return write_json(path, self.as_dict())


def write_json(path: Path, data: Mapping[str, Any] | list[Any]) -> Path:
    """Write JSON atomically (temp file + rename), so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
    return path


def steps_to_within(history: list[dict[str, float]], fraction: float = 0.05) -> int | None:
    """Iterations until content + style first comes within ``fraction`` of its final value: how soon a run
    reaches the picture it ends with (the depth study's measure of speed)."""
    rows = [r for r in history if "content" in r and "style" in r]
    if not rows:
        return None
    values = [row["content"] + row["style"] for row in rows]
    final = values[-1]
    return next(row["step"] + 1 for row, v in zip(rows, values) if abs(v - final) <= fraction * abs(final))
