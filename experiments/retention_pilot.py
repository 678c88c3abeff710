"""The Gatys iteration budget of the retention study, from its pilot (configs/retention_pilot.yaml).

Reads each pilot stylization's loss curve (``history.csv`` in its trial folder) and writes to the pilot's folder:
``pilot.csv`` (per run: iterations from which content + style stays within 5% and within 2% of its value at the last
iteration; the iteration at which its best value so far first comes within 5% of the run's best; how far the last
value is above the best (without a line search L-BFGS can end on a rise); the drop of the best value over the last
tenth of the run, which says whether the run itself is near convergence; seconds per iteration), ``budget.csv`` (per
backbone: the largest of the best-within-5% iterations, rounded up to 50: the budget the study gives that
backbone; and the hours one study setting takes at that budget, every 4th photo x 3 artists x k = 2),
``curves.png`` (content + style over the run's best, per run), ``stylizations.jpg`` (the paintings over each
backbone's stylization of the photo with them; the stylizations live in the trial folders, not in git) and, where
the pilot has "<setting> bf16" runs, ``precision.csv`` (each beside its fp32 twin: final loss in fp32, seconds,
scores).

    .venv/bin/python experiments/retention_pilot.py [results/retention_pilot]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from nst_bench.run.plots import ContactSheet, plt, save_figure
from nst_bench.sweeps.store import RunsLog

STUDY_STYLIZATIONS = 50 * 3 * 2  # a Gatys setting of configs/retention.yaml: every 4th photo, 3 artists, k = 2


def within(values: pd.Series, fraction: float) -> int:
    """First iteration (1-based) from which content + style stays within ``fraction`` of its last value."""
    final = values.iloc[-1]
    outside = (values - final).abs() > fraction * abs(final)
    last_outside = outside[outside].index.max()
    return 1 if pd.isna(last_outside) else int(last_outside) + 2


def best_within(values: pd.Series, fraction: float) -> int:
    """First iteration (1-based) at which the best content + style so far is within ``fraction`` of the run's best:
    robust to the rises of an L-BFGS run without a line search, which make the last value a poor reference."""
    best = values.cummin()
    return int((best <= (1 + fraction) * best.iloc[-1]).to_numpy().argmax()) + 1


def precision_pairs(scores: pd.DataFrame, finals: dict[str, float]) -> pd.DataFrame:
    """Each "<setting> bf16" run beside the same photo and painting under "<setting>" (fp32): the final total loss of
    both, evaluated in fp32 (``runs.jsonl``), seconds, and the scores the study reads. Is bf16 good enough to buy
    its time for the study?"""
    key = ["content", "painting"]
    shown = ["trial_id", "seconds", "top1", "agreement", "gram_distance", "ssim", "lpips", "deception"]
    rows = []
    for setting in (s for s in dict.fromkeys(scores.setting) if s.endswith(" bf16")):
        fp32 = scores[scores.setting == setting.removesuffix(" bf16")][key + shown]
        pairs = scores[scores.setting == setting][key + shown].merge(fp32, on=key, suffixes=("_bf16", "_fp32"))
        pairs.insert(0, "setting", setting)
        for precision in ("bf16", "fp32"):
            pairs[f"final_{precision}"] = pairs[f"trial_id_{precision}"].map(finals)
        pairs["final_ratio"] = pairs.final_bf16 / pairs.final_fp32
        pairs["time_ratio"] = pairs.seconds_bf16 / pairs.seconds_fp32
        rows.append(pairs.drop(columns=["trial_id_bf16", "trial_id_fp32"]))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def stylization_sheet(pilot: pd.DataFrame, folder: Path, size: int = 150) -> Path | None:
    """The paintings in the first row, each setting's stylization with them below: what the budget buys."""
    paintings = list(dict.fromkeys(zip(pilot.artist, pilot.painting_path)))
    settings = list(dict.fromkeys(pilot.setting))
    left, gap = 160, 4
    sheet = ContactSheet(left + len(paintings) * (size + gap), 16 + (len(settings) + 1) * (size + gap))
    for j, (artist, path) in enumerate(paintings):
        x = left + j * (size + gap)
        sheet.draw.text((x, 2), f"{artist} {Path(path).stem}"[:26], fill="black")
        sheet.paste(Path(path), (x, 16), size)
    for i, setting in enumerate(settings, start=1):
        y = 16 + i * (size + gap)
        sheet.draw.text((4, y + size // 2 - 6), setting, fill="black")
        for j, (_, path) in enumerate(paintings):
            run = pilot[(pilot.setting == setting) & (pilot.painting_path == path)]
            if not run.empty:
                sheet.paste(folder / str(run.trial_id.iloc[0]) / "stylized.jpg", (left + j * (size + gap), y), size)
    return sheet.save(folder / "stylizations.jpg")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", default="results/retention_pilot", type=Path)
    folder = ap.parse_args().folder
    scores = pd.DataFrame(RunsLog(folder / "scores.jsonl").read())
    if scores.empty:
        raise SystemExit(f"{folder}/scores.jsonl is empty: run the pilot first (its command heads "
                         "configs/retention_pilot.yaml)")
    rows, curves = [], {}
    for r in scores.itertuples():
        history = pd.read_csv(folder / r.trial_id / "history.csv")
        total = (history["loss/content"] + history["loss/style"]).reset_index(drop=True)
        curves[r.setting, f"{r.content[:12]} {Path(r.painting).stem}"] = total / total.min()
        best = total.cummin()
        rows.append({"setting": r.setting, "trial_id": r.trial_id, "content": r.content, "artist": r.artist,
                     "painting": Path(r.painting).stem, "painting_path": r.painting, "iterations": len(total),
                     "steps_to_5pct": r.steps_to_5pct,
                     "stays_within_5pct": within(total, 0.05), "stays_within_2pct": within(total, 0.02),
                     "best_within_5pct": best_within(total, 0.05),
                     "last_over_best": float(total.iloc[-1] / best.iloc[-1] - 1),
                     # how far from converged the run is: the drop of its best value over the last tenth
                     "last_tenth_drop": float(1 - best.iloc[-1] / best.iloc[-(len(total) // 10) - 1]),
                     "seconds": r.seconds, "s_per_iteration": r.seconds / len(total)})
    pilot = pd.DataFrame(rows)
    pilot.drop(columns="painting_path").to_csv(folder / "pilot.csv", index=False)
    budget = pilot.groupby("setting", sort=False).agg(
        runs=("painting", "size"), max_best_within_5pct=("best_within_5pct", "max"),
        median_best_within_5pct=("best_within_5pct", "median"), max_stays_within_5pct=("stays_within_5pct", "max"),
        max_last_over_best=("last_over_best", "max"), max_last_tenth_drop=("last_tenth_drop", "max"),
        s_per_iteration=("s_per_iteration", "median"))
    budget["budget"] = [50 * math.ceil(v / 50) for v in budget.max_best_within_5pct]
    budget["minutes_per_image"] = budget.budget * budget.s_per_iteration / 60
    budget["study_hours"] = budget.minutes_per_image * STUDY_STYLIZATIONS / 60
    budget.reset_index().to_csv(folder / "budget.csv", index=False)
    settings = list(dict.fromkeys(pilot.setting))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 3.6), dpi=110, squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for (s, painting), curve in curves.items():
            if s == setting:
                ax.plot(range(1, len(curve) + 1), curve, lw=1, label=painting[:24])
        b = budget.loc[setting, "budget"]
        ax.axhspan(1.0, 1.05, color="0.85", zorder=0, label="within 5% of the best value")
        ax.axvline(b, color="k", ls="--", lw=1, label=f"budget {b}")
        ax.set_yscale("log")
        ax.set_xlabel("L-BFGS iteration")
        ax.set_title(setting, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=5)
    axes[0][0].set_ylabel("(content + style) / its best value")
    save_figure(fig, axes[0][0], folder / "curves.png")
    stylization_sheet(pilot, folder)
    print(budget.to_string())
    finals = {r["trial_id"]: r["final"]["total"] for r in RunsLog(folder / "runs.jsonl").read() if "final" in r}
    precision = precision_pairs(scores, finals)
    if not precision.empty:
        precision.to_csv(folder / "precision.csv", index=False)
        print(precision[["setting", "content", "painting", "final_ratio", "time_ratio"]].to_string())


if __name__ == "__main__":
    main()
