"""The recipes, and the registry of programs a sweep trial can run (``program:`` in a sweep file).

A program is a recipe with the call shape the sweep runner uses: ``run(cfg, progress, cache) -> RunMetrics``,
resuming by itself when its output folder already holds part of the work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nst_bench.config import RunConfig
from nst_bench.errors import UserError
from nst_bench.run.cache import ProcessCache
from nst_bench.run.metrics import RunMetrics


@dataclass(frozen=True)
class Program:
    name: str
    run: Callable[[RunConfig, bool, ProcessCache], RunMetrics]
    required: tuple[str, ...]  # sweep parameters it needs
    method: str | None = None  # the method its trials are fixed to (a training program trains one kind)
    trains: bool = False  # its trials train a network: their ids include the training settings

    def describe_requirements(self) -> str:
        return " and ".join(self.required)


def _stylize(cfg: RunConfig, progress: bool, cache: ProcessCache) -> RunMetrics:
    from nst_bench.recipes.stylize import run

    return run(cfg, progress=progress, cache=cache, bar_position=1)


def _train_fast(cfg: RunConfig, progress: bool, cache: ProcessCache) -> RunMetrics:
    from nst_bench.recipes.train_fast import train

    return train(cfg, progress=progress, cache=cache)  # resumes from its own checkpoint after a crash


def _train_cyclegan(cfg: RunConfig, progress: bool, cache: ProcessCache) -> RunMetrics:
    from nst_bench.recipes.train_cyclegan import train

    return train(cfg, progress=progress, cache=cache)  # resumes from its own checkpoint after a crash


def _video(cfg: RunConfig, progress: bool, cache: ProcessCache) -> RunMetrics:
    from nst_bench.recipes.video import run_video

    return run_video(cfg, progress=progress, cache=cache)  # resumes by frame


PROGRAMS: dict[str, Program] = {p.name: p for p in (
    Program("stylize", _stylize, ("content", "styles")),
    Program("train-fast", _train_fast, ("styles",), method="fast", trains=True),
    Program("train-cyclegan", _train_cyclegan, ("cyclegan.domain_a", "cyclegan.domain_b"), method="cyclegan",
            trains=True),
    Program("video", _video, ("video.input", "styles")),
)}


def get_program(name: str) -> Program:
    if name not in PROGRAMS:
        raise UserError(f"recipe must be one of {', '.join(PROGRAMS)}, got {name!r}")
    return PROGRAMS[name]
