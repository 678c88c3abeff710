"""The trial ids of every bundled sweep file (and of the retention study's settings), computed from the files."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from nst_bench.evaluate.retention import RetentionStudy, planned
from nst_bench.nets.classifier import VIEW
from nst_bench.sweeps.spec import expand, load_sweep

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("../shared/data")
ARTISTS = [DATA / "paintings256" / "monet", DATA / "paintings256" / "van_gogh", DATA / "artists" / "hokusai"]


def retention_ids(settings: Path, limit: int | None) -> list[str]:
    """Every trial of a retention study on this machine's default classifier view (EfficientNet-Lite2)."""
    study = RetentionStudy(settings, DATA / "imagenet_sample", ARTISTS, [], limit=limit)
    side, _ = VIEW["efficientnet_lite2"]
    _, plan, _ = planned(study, side, study.out / "views" / "efficientnet_lite2")
    # the views are written by a run; their paths, not their pixels, enter the ids
    with mock.patch("nst_bench.sweeps.spec.expand_images", lambda value, base: [str(value)]):
        return [t.id for _, sweep, _ in plan for t in expand(sweep, Path("results"))]


def bundled_trial_ids() -> dict[str, list[str]]:
    """{sweep file: [trial id, ...]} sorted (a reordered sweep keeps its ids: a resume skips by id), as on a clean
    clone (no trained network is hashed into an id, whether or not one was trained here); run with the repository
    root as working directory."""
    with mock.patch("nst_bench.sweeps.spec.network_digest", lambda network: None):
        return {name: sorted(ids) for name, ids in _trial_ids().items()}


def _trial_ids() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / "configs" / "sweeps").glob("*.yaml")):
        sweep = load_sweep(path.relative_to(ROOT), require_images=False)
        if "pairs" in sweep.parameters or "content" in sweep.parameters or sweep.program != "stylize":
            out[f"sweeps/{path.name}"] = [t.id for t in expand(sweep, Path("results"))]
        else:  # a settings file for `evaluate retention` (depth.yaml): its images come from the command
            out[f"sweeps/{path.name}"] = retention_ids(path.relative_to(ROOT), 20)
    out["retention.yaml"] = retention_ids(Path("configs") / "retention.yaml", None)
    return out
