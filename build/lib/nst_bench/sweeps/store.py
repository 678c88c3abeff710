"""The results store: ``runs.jsonl``, one JSON line per finished trial, the source of truth of a sweep's tables.

Only the sweep's driver writes it (Ray workers return their rows to it), so one file never has two writers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class RunsLog:
    """``runs.jsonl``, appended with a single write and fsync.

    A process killed mid-write can leave at most one torn last line; readers skip it and the next append starts
    on a fresh line, so a trial is never counted twice and nothing before it is lost.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn line from a killed writer
        return rows

    def done(self) -> dict[str, dict[str, Any]]:
        return {r["trial_id"]: r for r in self.read() if "trial_id" in r}

    def append(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(row, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:
                with open(self.path, "rb") as f:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        data = b"\n" + data
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self, trial_ids: list[str], retry_failed: bool = False) -> list[str]:
        """The ids without a row (failed ones too, with ``retry_failed``), in the order given."""
        done = self.done()
        return [t for t in trial_ids if t not in done or (retry_failed and done[t].get("status") == "failed")]
