"""Gatys time to quality (issue 17): how long nst-bench takes to reach the loss a plain PyTorch Gatys reaches in
300 L-BFGS iterations, on the same objective, pixels and machine.

    .venv/bin/python experiments/time_to_quality.py --sizes 256 512 1024 --out results/time_to_quality

For every (pair, size) cell the reference (``experiments/gatys_reference.py``) runs 300 iterations; its loss at the
end is the target. nst-bench, configured to the reference's objective and otherwise left at its defaults (or at a
variant given by ``--variant name key=value ...``), then runs until its total loss at full size falls below that
target. Both sides run in a fresh subprocess each, one after the other, so each reports its own peak RSS and no
two timings share the CPU; both are timed from the loaded images to the final image, weights loading included.
Every cell is a JSON file in ``<out>/cells``: a killed run resumes at the first missing cell.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "experiments"))
from gatys_reference import STYLE_LAYERS, Reference, load  # noqa: E402

PAIRS = {"tubingen x starry_night": ("content/tubingen.jpg", "styles/starry_night.jpg"),
         "golden_gate x the_scream": ("content/golden_gate.jpg", "styles/the_scream.jpg"),
         "sailboat x la_muse": ("content/sailboat.jpg", "styles/la_muse.jpg")}
REFERENCE_STEPS = 300
# nst-bench set to the reference's objective: the rest of its config stays at its defaults
SAME_OBJECTIVE = {"backbone.content_layers": ["relu4_2"], "backbone.style_layers": list(STYLE_LAYERS),
                  "backbone.style_layer_weights": [1.0] * 5, "loss.gram_norm": "mse_chw", "loss.style_weight": 1e6,
                  "tracking.wandb": "disabled"}
MAX_STEPS = 1000  # an nst-bench run that has not reached the target after this many full-size iterations stops


def slug(pair: str) -> str:
    return pair.replace(" x ", "-")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def save_jpeg(image: torch.Tensor, path: Path) -> None:
    pixels = (image[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def run_reference(pair: str, size: int, cell: Path) -> dict[str, Any]:
    content_path, style_path = PAIRS[pair]
    content, style = load(str(DATA / content_path), size), load(str(DATA / style_path), size)
    t0 = time.perf_counter()
    reference = Reference(content, style)
    setup = time.perf_counter() - t0
    image, history = reference.run(content, REFERENCE_STEPS)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        final = {k: float(v) for k, v in reference.loss(image).items()}
    save_jpeg(image, cell.with_suffix(".jpg"))
    curve = [{"seconds": row["seconds"] + setup, "total": row["total"]} for row in history]
    return {"kind": "reference", "seconds": seconds, "final": final, "evaluations": REFERENCE_STEPS,
            "iterations": REFERENCE_STEPS, "curve": [*curve, {"seconds": seconds, "total": final["total"]}]}


def run_nst_bench(pair: str, size: int, cell: Path, overrides: dict[str, Any], target: float) -> dict[str, Any]:
    from nst_bench.config import load_config
    from nst_bench.methods.common import perceptual_objective
    from nst_bench.methods.gatys import stylize
    from nst_bench.run.cache import ProcessCache

    content_path, style_path = PAIRS[pair]
    content, style = load(str(DATA / content_path), size), load(str(DATA / style_path), size)
    cfg = load_config([], {"content": str(DATA / content_path), "styles": [str(DATA / style_path)],
                           "image.size": size, **SAME_OBJECTIVE, **overrides})
    steps = list(cfg.gatys.scale_steps or [cfg.optimizer.steps] * len(cfg.gatys.scales))
    cfg.gatys.scale_steps = [*steps[:-1], MAX_STEPS]  # the last scale runs until it reaches the target
    t0 = time.perf_counter()
    objective = perceptual_objective(cfg, ProcessCache())
    setup = time.perf_counter() - t0
    result = stylize(content, [style], [1.0], objective, cfg.gatys, cfg.optimizer, seed=cfg.seed, progress=False,
                     stop_below=target)
    seconds = time.perf_counter() - t0
    save_jpeg(result.image, cell.with_suffix(".jpg"))
    final_size = [r for r in result.history if r["step"] >= sum(steps[:-1])]
    curve = [{"seconds": r["seconds"] + setup, "total": r["total"]} for r in final_size]
    return {"kind": "nst-bench", "seconds": seconds, "final": result.final, "evaluations": result.evaluations,
            "iterations": result.iterations, "per_scale_seconds": result.extra["per_scale_seconds"],
            "sizes": [list(s) for s in result.sizes], "reached": result.final["total"] <= target,
            "curve": [*curve, {"seconds": seconds, "total": result.final["total"]}]}


def objective_check(out: Path, size: int = 256) -> pd.DataFrame:
    """Both objectives on the same image (each pair's photo plus seeded noise, clamped): the loss terms agree to
    four digits, or the benchmark compares two different problems."""
    from nst_bench.config import load_config
    from nst_bench.methods.common import perceptual_objective, set_style_targets
    from nst_bench.run.cache import ProcessCache

    rows = []
    for pair, (content_path, style_path) in PAIRS.items():
        content, style = load(str(DATA / content_path), size), load(str(DATA / style_path), size)
        cfg = load_config([], {"content": str(DATA / content_path), "styles": [str(DATA / style_path)],
                               "image.size": size, **SAME_OBJECTIVE})
        objective = perceptual_objective(cfg, ProcessCache())
        set_style_targets(objective, content, [style], [1.0])
        noise = torch.randn(content.shape, generator=torch.Generator().manual_seed(0))
        x = (content + 0.1 * noise).clamp(0, 1)
        with torch.no_grad():
            ours, theirs = objective(x), Reference(content, style).loss(x)
        for term in ("content", "style", "total"):
            rows.append({"pair": pair, "size": size, "term": term, "reference": float(theirs[term]),
                         "nst_bench": float(ours[term]), "relative_difference": float(ours[term] / theirs[term] - 1)})
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "objective_check.csv", index=False)
    return frame


def run_cell(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    cell = Path(args.cell)
    overrides = json.loads(args.overrides)
    if args.kind == "reference":
        record = run_reference(args.pair, args.size, cell)
    else:
        record = run_nst_bench(args.pair, args.size, cell, overrides, args.target)
    record |= {"pair": args.pair, "size": args.size, "variant": args.variant, "overrides": overrides,
               "peak_rss_mb": peak_rss_mb(), "threads": torch.get_num_threads(), "torch": torch.__version__}
    cell.with_suffix(".json").write_text(json.dumps(record))


def cell_path(out: Path, pair: str, size: int, variant: str) -> Path:
    return out / "cells" / f"{slug(pair)}_{size}_{variant}"


def ensure(out: Path, kind: str, pair: str, size: int, variant: str, overrides: dict[str, Any],
           target: float = 0.0) -> dict[str, Any]:
    """The cell's record, computed in a subprocess unless a previous run left it."""
    cell = cell_path(out, pair, size, variant)
    if not cell.with_suffix(".json").exists():
        cell.parent.mkdir(parents=True, exist_ok=True)
        print(f"{pair} {size} px {variant} ...", flush=True)
        subprocess.run([sys.executable, __file__, "--cell", str(cell), "--kind", kind, "--pair", pair,
                        "--size", str(size), "--cell-variant", variant, "--overrides", json.dumps(overrides),
                        "--target", repr(target)], check=True)
    record = json.loads(cell.with_suffix(".json").read_text())
    print(f"  {pair} {size} px {variant}: {record['seconds']:.1f} s, loss {record['final']['total']:.5g}, "
          f"{record['evaluations']} evaluations, peak RSS {record['peak_rss_mb']:.0f} MB", flush=True)
    return record


def table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per cell; ``speedup`` = the reference's seconds / this cell's, within one (pair, size)."""
    from nst_bench.evaluate.runtime import machine

    frame = pd.DataFrame([{
        "pair": r["pair"], "size": r["size"], "variant": r["variant"],
        "setting": " ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "defaults",
        "seconds": r["seconds"], "evaluations": r["evaluations"], "iterations": r["iterations"],
        "s_per_evaluation": r["seconds"] / r["evaluations"], "loss": r["final"]["total"],
        "content": r["final"]["content"], "style": r["final"]["style"], "peak_rss_mb": r["peak_rss_mb"],
        "scales_seconds": " ".join(f"{x:.0f}" for x in r.get("per_scale_seconds", [r["seconds"]]))}
        for r in rows])
    ref = frame[frame.variant == "reference"].set_index(["pair", "size"])
    key = list(zip(frame.pair, frame["size"]))
    frame["target"] = [ref.loc[k, "loss"] for k in key]
    frame["reached"] = frame.loss <= frame.target * (1 + 1e-6)
    frame["speedup"] = [ref.loc[k, "seconds"] for k in key] / frame.seconds
    return frame.assign(**machine())


def _axes(sizes: list[int]) -> tuple[Any, Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4.2), squeeze=False)
    return plt, fig, axes[0]


def _finish(ax: Any, rows: list[dict[str, Any]], size: int) -> None:
    ax.set(yscale="log", xlabel="seconds (weights loading included)", title=f"{size} px (long side)")
    if ax.get_subplotspec().is_first_col():
        ax.set_ylabel("total loss at full size")
    targets = [r["final"]["total"] for r in rows if r["size"] == size and r["variant"] == "reference"]
    if targets:
        ax.set_ylim(min(targets) * 0.9, max(targets) * 6)
        for t in targets:
            ax.axhline(t, color="grey", lw=0.6, ls=":")
    ax.grid(alpha=0.3)


def plot_curves(rows: list[dict[str, Any]], path: Path, variant: str) -> None:
    """Loss against seconds, one panel per size: each pair's reference dashed, nst-bench's ``variant`` solid."""
    sizes = sorted({r["size"] for r in rows})
    plt, fig, axes = _axes(sizes)
    colours = dict(zip(PAIRS, ("tab:blue", "tab:orange", "tab:green")))
    for ax, size in zip(axes, sizes):
        for r in rows:
            if r["size"] == size and r["variant"] in ("reference", variant):
                label = f"{r['pair']}: " + ("reference" if r["variant"] == "reference" else f"nst-bench {variant}")
                ax.plot([c["seconds"] for c in r["curve"]], [c["total"] for c in r["curve"]],
                        color=colours[r["pair"]], ls="--" if r["variant"] == "reference" else "-", lw=1.4,
                        label=label)
        _finish(ax, rows, size)
    fig.tight_layout()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               frameon=False)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_levers(rows: list[dict[str, Any]], path: Path) -> None:
    """Every variant tried on one pair, one panel per size: which lever moved the curve."""
    sizes = sorted({r["size"] for r in rows})
    plt, fig, axes = _axes(sizes)
    variants = [v for v in dict.fromkeys(r["variant"] for r in rows) if not v.startswith("reference")]
    colours = dict(zip(variants, plt.get_cmap("tab20").colors))
    for ax, size in zip(axes, sizes):
        for r in rows:
            if r["size"] != size:
                continue
            reference = r["variant"].startswith("reference")
            ax.plot([c["seconds"] for c in r["curve"]], [c["total"] for c in r["curve"]],
                    color="black" if reference else colours[r["variant"]], ls="--" if reference else "-",
                    lw=1.6 if reference else 1.1, label=r["variant"])
        _finish(ax, rows, size)
    handles = {}
    for ax in axes:
        handles |= dict(zip(*reversed(ax.get_legend_handles_labels())))
    fig.tight_layout()
    fig.legend(handles.values(), handles.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               frameon=False, title=next(iter(PAIRS)))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def side_by_side(out: Path, pair: str, size: int, frame: pd.DataFrame) -> Path | None:
    """The reference's picture after 300 iterations beside every nst-bench picture of the same cell whose image is
    on disk (cell images are not committed, so a fresh checkout shows what it has measured itself)."""
    from PIL import ImageDraw

    rows = frame[(frame.pair == pair) & (frame["size"] == size)]
    shown = [r for _, r in rows.iterrows() if cell_path(out, pair, size, r.variant).with_suffix(".jpg").exists()]
    shown = [r for r in shown if r.variant.startswith("reference")][:1] + [
        r for r in shown if not r.variant.startswith("reference")]
    if len(shown) < 2 or not shown[0].variant.startswith("reference"):
        return None
    images = [Image.open(cell_path(out, pair, size, r.variant).with_suffix(".jpg")).convert("RGB") for r in shown]
    w, h = images[0].size
    sheet = Image.new("RGB", (len(images) * (w + 8) - 8, h + 36), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (im, r) in enumerate(zip(images, shown)):
        sheet.paste(im, (i * (w + 8), 36))
        name = f"{r.variant}, 300 iterations" if i == 0 else f"nst-bench {r.variant}"
        status = "" if i == 0 or r.reached else ", target not reached"
        draw.text((i * (w + 8) + 4, 4), f"{name}: loss {r.loss:.4g}\n{r.seconds:.0f} s{status}", fill="black")
    path = out / f"side_by_side_{slug(pair)}_{size}.jpg"
    sheet.save(path, quality=88)
    return path


def all_cells(out: Path) -> list[dict[str, Any]]:
    """Every cell measured into ``out``, by this invocation or an earlier one, in size, pair, variant order."""
    rows = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    pairs = list(PAIRS)
    return sorted(rows, key=lambda r: (r["size"], pairs.index(r["pair"]), r["variant"] != "reference",
                                       r["variant"]))


def report(out: Path, shown: str = "default") -> pd.DataFrame:
    """The table of every cell, the curves of ``shown`` against the reference, the levers plot and the 512 px
    side-by-side pictures."""
    rows = all_cells(out)
    frame = table(rows)
    frame.to_csv(out / "time_to_quality.csv", index=False)
    plot_curves(rows, out / "curves.png", shown)
    plot_levers([r for r in rows if r["pair"] == next(iter(PAIRS))], out / "levers.png")
    for pair in PAIRS:
        side_by_side(out, pair, 512, frame)
    print(frame[["pair", "size", "variant", "seconds", "evaluations", "loss", "target", "speedup",
                 "peak_rss_mb"]].to_string(index=False))
    return frame


def parse_variant(words: list[str]) -> tuple[str, dict[str, Any]]:
    from nst_bench.config import parse_override

    return words[0], dict(parse_override(w) for w in words[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    ap.add_argument("--variant", nargs="+", action="append", metavar="NAME KEY=VALUE",
                    help="an nst-bench setting to time besides its defaults (repeatable)")
    ap.add_argument("--repeat-reference", action="store_true",
                    help="time the reference a second time (cell reference-2): its spread, and its picture")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "time_to_quality")
    ap.add_argument("--cell", help=argparse.SUPPRESS)
    for hidden in ("--kind", "--pair", "--overrides", "--cell-variant"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--target", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cell:
        args.variant = args.cell_variant
        return run_cell(args)
    variants = dict([*(parse_variant(v) for v in args.variant or []), ("default", {})])
    for size in args.sizes:
        for pair in args.pairs:
            ref = ensure(args.out, "reference", pair, size, "reference", {})
            if args.repeat_reference:
                ensure(args.out, "reference", pair, size, "reference-2", {})
            for name, overrides in variants.items():
                ensure(args.out, "nst-bench", pair, size, name, overrides, ref["final"]["total"])
    if not (args.out / "objective_check.csv").exists():
        objective_check(args.out)
    report(args.out)


if __name__ == "__main__":
    main()
