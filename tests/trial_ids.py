"""The trial ids of every bundled sweep file (and of the retention study's settings), computed from the files."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from nst_bench.evaluate.retention import RetentionJob, build_sweep
from nst_bench.sweeps.spec import expand, load_sweep

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
RETENTION = {"retention.yaml": ["hokusai", "van_gogh"]}


def bundled_trial_ids() -> dict[str, list[str]]:
    """{sweep file: [trial id, ...]} in expansion order, as on a clean clone (no trained network is hashed into
    an id, whether or not one was trained here); run with the repository root as working directory."""
    with mock.patch("nst_bench.sweeps.spec.network_digest", lambda network: None):
        return _trial_ids()


def _trial_ids() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / "configs" / "sweeps").glob("*.yaml")):
        sweep = load_sweep(path.relative_to(ROOT), require_images=False)
        if "pairs" in sweep.parameters or "content" in sweep.parameters or sweep.program != "stylize":
            out[f"sweeps/{path.name}"] = [t.id for t in expand(sweep, Path("results"))]
        else:  # a settings file for `evaluate retention` (depth.yaml): its images come from the command
            job = RetentionJob(path.relative_to(ROOT), Path("../shared/data/imagenet_sample"),
                               Path("../shared/data/artists"), ["hokusai", "van_gogh"], 20, sweep.name)
            out[f"sweeps/{path.name}"] = [t.id for t in expand(build_sweep(job), Path("results"))]
    for name, artists in RETENTION.items():
        job = RetentionJob(Path("configs") / name, Path("../shared/data/imagenet_sample"),
                           Path("../shared/data/artists"), artists, 50, "retention")
        out[name] = [t.id for t in expand(build_sweep(job), Path("results"))]
    return out
