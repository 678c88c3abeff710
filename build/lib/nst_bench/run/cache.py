"""The process-wide cache: networks, encoders and loss targets built once and reused by every run in a process.

A sweep runs many trials in one process (a Ray worker runs many tasks); each trial asks the cache for what it
needs by a key that says what makes two requests the same (backbone name + weights + pooling, a checkpoint path, an
image's pixels + layers). The cache knows nothing of what it holds, so it sits below every package that fills it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ProcessCache:
    """``get(kind, key, build)``: ``build()`` on the first request for (kind, key), the stored object after."""

    def __init__(self) -> None:
        self._store: dict[tuple[str, Hashable], Any] = {}
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()

    def get(self, kind: str, key: Hashable, build: Callable[[], T]) -> T:
        full = (kind, key)
        if full in self._store:
            self.hits[kind] += 1
        else:
            self.misses[kind] += 1
            self._store[full] = build()
        return self._store[full]

    def count(self, kind: str) -> int:
        """How many distinct objects of ``kind`` are held."""
        return sum(k == kind for k, _ in self._store)


_PROCESS: ProcessCache | None = None


def process_cache() -> ProcessCache:
    """The one cache of this process (created on first use)."""
    global _PROCESS
    if _PROCESS is None:
        _PROCESS = ProcessCache()
    return _PROCESS


def reset_process_cache() -> None:
    """Forget everything (tests use it to compare a cold run with a warm one)."""
    global _PROCESS
    _PROCESS = None
