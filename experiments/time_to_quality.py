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


def plot_curves(rows: list[dict[str, Any]], path: Path, variants: list[str]) -> None:
    """Loss against seconds, one panel per size: each pair's reference dashed, nst-bench ``variants`` solid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["size"] for r in rows})
    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4.2), squeeze=False)
    colours = dict(zip(PAIRS, ("tab:blue", "tab:orange", "tab:green")))
    styles = dict(zip(variants, ("-", ":", "-.", (0, (5, 1)))))
    for ax, size in zip(axes[0], sizes):
        for r in rows:
            if r["size"] != size or r["variant"] not in ["reference", *variants]:
                continue
            curve = r["curve"]
            label = f"{r['pair']}: {'reference' if r['variant'] == 'reference' else 'nst-bench ' + r['variant']}"
            ax.plot([c["seconds"] for c in curve], [c["total"] for c in curve], color=colours[r["pair"]],
                    ls="--" if r["variant"] == "reference" else styles[r["variant"]], lw=1.4, label=label)
        ax.set(yscale="log", xlabel="seconds (weights loading included)", ylabel="total loss at full size",
               title=f"{size} px (long side)")
        targets = [r["final"]["total"] for r in rows if r["size"] == size and r["variant"] == "reference"]
        if targets:
            ax.set_ylim(min(targets) * 0.8, max(targets) * 20)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05 + 0.03 * len(labels) / 2, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def side_by_side(out: Path, pair: str, size: int, variant: str, frame: pd.DataFrame) -> Path | None:
    """The reference's picture after 300 iterations beside nst-bench's when it reached the same loss."""
    from PIL import ImageDraw

    paths = [cell_path(out, pair, size, v).with_suffix(".jpg") for v in ("reference", variant)]
    if not all(p.exists() for p in paths):
        return None
    images = [Image.open(p).convert("RGB") for p in paths]
    rows = [frame[(frame.pair == pair) & (frame["size"] == size) & (frame.variant == v)].iloc[0]
            for v in ("reference", variant)]
    w, h = images[0].size
    sheet = Image.new("RGB", (2 * w + 8, h + 36), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (im, r) in enumerate(zip(images, rows)):
        sheet.paste(im, (i * (w + 8), 36))
        name = "reference, 300 iterations" if i == 0 else f"nst-bench {variant}"
        draw.text((i * (w + 8) + 4, 4), f"{name}: loss {r.loss:.4g}\n{r.seconds:.0f} s", fill="black")
    path = out / f"side_by_side_{slug(pair)}_{size}.jpg"
    sheet.save(path, quality=88)
    return path


def report(out: Path, rows: list[dict[str, Any]]) -> None:
    frame = table(rows)
    frame.to_csv(out / "time_to_quality.csv", index=False)
    plot_curves([r for r in rows if r["variant"] in ("reference", "default")], out / "curves.png", ["default"])
    lever_rows = [r for r in rows if r["pair"] == next(iter(PAIRS))]
    plot_curves(lever_rows, out / "levers.png", [v for v in dict.fromkeys(r["variant"] for r in lever_rows)
                                                 if v != "reference"][:4])
    for pair in PAIRS:
        side_by_side(out, pair, 512, "default", frame)
    print(frame[["pair", "size", "variant", "seconds", "evaluations", "loss", "target", "speedup",
                 "peak_rss_mb"]].to_string(index=False))


def parse_variant(words: list[str]) -> tuple[str, dict[str, Any]]:
    from nst_bench.config import parse_override

    return words[0], dict(parse_override(w) for w in words[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    ap.add_argument("--variant", nargs="+", action="append", metavar="NAME KEY=VALUE",
                    help="an nst-bench setting to time besides its defaults (repeatable)")
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
    rows = []
    for size in args.sizes:
        for pair in args.pairs:
            ref = ensure(args.out, "reference", pair, size, "reference", {})
            rows.append(ref)
            for name, overrides in variants.items():
                rows.append(ensure(args.out, "nst-bench", pair, size, name, overrides, ref["final"]["total"]))
    report(args.out, rows)


if __name__ == "__main__":
    main()
