"""Content retention: stylize labelled photos with each artist's paintings, then ask an ImageNet classifier
whether it still sees the same thing. Plus style and content distances per output.

Stylization reuses the sweep runner (its resume, caches and results layout): the settings come from a sweep file
whose image parameters are replaced by (photo, painting) pairs, photo i taking painting i mod n of each artist.
Clean accuracy is measured on the photo at the same working size as its stylized version, so the table isolates
what stylization destroys from what downscaling destroys.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from nst_bench.data.datasets import WNID, artist_paintings, labelled_images
from nst_bench.data.images import load_image
from nst_bench.errors import UserError
from nst_bench.evaluate.artists import train_artist_probe
from nst_bench.losses.style_distance import gram_distance, reference_encoder, style_grams
from nst_bench.nets.backbones import Encoder
from nst_bench.nets.classifier import Classifier, imagenet_classifier
from nst_bench.nets.content_check import similarity_to_photo
from nst_bench.run.plots import plt, save_figure
from nst_bench.run.tracking import log_tables
from nst_bench.sweeps.runner import run_sweep
from nst_bench.sweeps.spec import IMAGE_PARAMS, Sweep, expand, load_sweep, short_value
from nst_bench.sweeps.store import RunsLog

log = logging.getLogger(__name__)
RATES = ("top1", "top5", "clean_top1", "agreement", "deception")


@dataclass
class RetentionJob:
    settings: Path  # sweep file: the methods/settings to compare (its image parameters are ignored)
    content: Path  # labelled content set
    artists_root: Path
    artists: list[str]
    limit: int | None = 50
    name: str = "retention"
    classifier: str = "auto"
    results_root: Path = Path("results")
    bootstrap: int = 1000
    seed: int = 0
    probe_crops: int = 24  # crops per painting for the artist probe


def build_sweep(job: RetentionJob) -> Sweep:
    sweep = load_sweep(job.settings, require_images=False)
    items = labelled_images(job.content, job.limit)
    paintings = artist_paintings(job.artists_root, job.artists)
    pairs = [[str(item.path), str(paintings[a][i % len(paintings[a])])] for a in job.artists
             for i, item in enumerate(items)]
    sweep.parameters = {k: v for k, v in sweep.parameters.items() if k not in IMAGE_PARAMS}
    sweep.parameters["pairs"] = {"values": pairs}
    sweep.name = job.name
    return sweep


def bootstrap_ci(values: np.ndarray, n: int, rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean over images."""
    if len(values) == 0:
        return float("nan"), float("nan")
    means = rng.choice(values, size=(n, len(values)), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def setting_label(params: dict[str, Any]) -> str:
    """'backbone.name=vgg19 loss.style_weight=1.0' from a trial's swept parameters (images left out)."""
    parts = [short_value(v) if k == "config" else f"{k}={short_value(v)}" for k, v in params.items()
             if k not in ("content", "style")]
    return ", ".join(parts) or "default"


def score_trials(job: RetentionJob, trial_ids: set[str], classifier: Classifier, reference: Encoder
                 ) -> tuple[pd.DataFrame, list[torch.Tensor]]:
    """One row per finished trial of this job: labels, top-1/top-5 of clean and stylized, agreement, distances."""
    runs = [r for r in RunsLog(job.results_root / job.name / "runs.jsonl").read()
            if r.get("status") == "ok" and r["trial_id"] in trial_ids]
    if not runs:
        raise UserError(f"no finished trials in {job.results_root / job.name}: stylization failed for all")
    rows, targets = [], {}
    for r in tqdm(runs, desc="scoring", unit="image", disable=None):
        metrics = json.loads((Path(r["out"]) / "metrics.json").read_text())
        cfg = metrics["config"]
        content_path, style_path = Path(cfg["content"]), Path(cfg["styles"][0])
        stylized = load_image(Path(r["out"]) / "stylized.jpg")
        size = max(stylized.shape[-2:])
        clean = load_image(content_path, size)
        if (style_path, size) not in targets:
            targets[style_path, size] = style_grams(reference, load_image(style_path, size))
        label = m.group(0) if (m := WNID.match(content_path.name)) else None
        rows.append({
            "trial_id": r["trial_id"], "setting": setting_label(r["params"]),
            "artist": style_path.parent.name, "content": content_path.stem, "painting": style_path.stem,
            "label": label, "seconds": r.get("seconds"), "steps_to_5pct": metrics.get("steps_to_5pct"),
            **{k: v for k, v in r["params"].items() if k not in ("content", "style", "pairs", "config")},
            "gram_distance": gram_distance(reference, stylized, targets[style_path, size]),
            "lpips": float("nan"), **similarity_to_photo(clean, stylized),  # LPIPS is nan without its weights
            "_clean": clean, "_stylized": stylized,
        })
    df = pd.DataFrame(rows)
    stylized = list(df.pop("_stylized"))
    probs_clean = classifier.probabilities(list(df.pop("_clean")))
    probs_styl = classifier.probabilities(stylized)
    labels = classifier.labels
    top5_clean, top5_styl = probs_clean.topk(5).indices, probs_styl.topk(5).indices
    df["pred_clean"] = [labels[i] for i in top5_clean[:, 0].tolist()]
    df["pred_stylized"] = [labels[i] for i in top5_styl[:, 0].tolist()]
    top5_s = [[labels[i] for i in row] for row in top5_styl.tolist()]
    top5_c = [[labels[i] for i in row] for row in top5_clean.tolist()]
    labelled = df.label.notna()
    df["clean_top1"] = (df.pred_clean == df.label).astype(float).where(labelled)
    df["clean_top5"] = pd.Series([float(lab in t) for lab, t in zip(df.label, top5_c)]).where(labelled)
    df["top1"] = (df.pred_stylized == df.label).astype(float).where(labelled)
    df["top5"] = pd.Series([float(lab in t) for lab, t in zip(df.label, top5_s)]).where(labelled)
    df["agreement"] = (df.pred_stylized == df.pred_clean).astype(float)
    return df, stylized


def retention_table(df: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Per setting and artist, then the mean across artists: accuracies with 95% bootstrap CIs over images."""
    rng = np.random.default_rng(seed)
    rows = []
    for (setting, artist), g in list(df.groupby(["setting", "artist"], sort=False)) + [
            ((s, "mean over artists"), g) for s, g in df.groupby("setting", sort=False)]:
        row: dict[str, Any] = {"setting": setting, "artist": artist, "images": len(g)}
        for m in RATES:
            lo, hi = bootstrap_ci(g[m].dropna().to_numpy(), n_boot, rng)
            row |= {m: g[m].mean(), f"{m}_lo": lo, f"{m}_hi": hi}
        row["retention"] = row["top1"] / row["clean_top1"] if row["clean_top1"] else float("nan")
        row |= {m: g[m].mean() for m in ("gram_distance", "ssim", "psnr", "lpips", "seconds", "steps_to_5pct")}
        rows.append(row)
    return pd.DataFrame(rows)


def readable_table(table: pd.DataFrame) -> pd.DataFrame:
    out = table[["setting", "artist", "images"]].copy()
    for m in RATES:
        out[m] = [f"{v:.1%} [{lo:.0%}, {hi:.0%}]" for v, lo, hi in zip(table[m], table[f"{m}_lo"], table[f"{m}_hi"])]
    out["retention"] = table["retention"].map(lambda v: f"{v:.2f}")
    for m, fmt in (("gram_distance", "{:.3g}"), ("ssim", "{:.3f}"), ("psnr", "{:.1f}"), ("lpips", "{:.3f}"),
                   ("seconds", "{:.1f}"), ("steps_to_5pct", "{:.1f}")):
        out[m] = table[m].map(fmt.format)
    if table["steps_to_5pct"].isna().all():  # only optimisation runs have one, and only since it was recorded
        out = out.drop(columns="steps_to_5pct")
    return out


def plot_retention(table: pd.DataFrame, path: Path) -> Path:
    """Stylized top-1 per artist as bars with 95% CIs, one group per setting; the clean level as a line."""
    settings = list(dict.fromkeys(table.setting))
    artists = list(dict.fromkeys(table.artist))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(settings) * len(artists) / 2), 4), dpi=110)
    width = 0.8 / len(artists)
    for j, artist in enumerate(artists):
        t = table[table.artist == artist].set_index("setting").loc[settings]
        x = np.arange(len(settings)) + j * width - 0.4 + width / 2
        ax.bar(x, t.top1, width, yerr=[t.top1 - t.top1_lo, t.top1_hi - t.top1], capsize=3, label=artist)
    clean = table[table.artist == "mean over artists"].clean_top1.mean()
    ax.axhline(clean, color="k", ls="--", lw=1, label=f"clean top-1 ({clean:.0%})")
    ax.set_xticks(np.arange(len(settings)), [s.replace(", ", "\n").replace(" ", "\n") for s in settings], fontsize=7)
    ax.set_ylabel("stylized top-1")
    ax.set_ylim(0, 1)
    return save_figure(fig, ax, path)


def plot_time_vs_retention(table: pd.DataFrame, path: Path) -> Path:
    t = table[table.artist == "mean over artists"]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for i, (_, r) in enumerate(t.iterrows()):
        ax.errorbar(r.seconds, r.top1, yerr=[[r.top1 - r.top1_lo], [r.top1_hi - r.top1]], fmt="o", color=f"C{i}",
                    label=r.setting, capsize=3)
    ax.set_xlabel("seconds per image")
    ax.set_ylabel("stylized top-1 (mean over artists)")
    return save_figure(fig, ax, path)


def plot_against_steps(df: pd.DataFrame, path: Path) -> Path | None:
    """When the settings sweep ``optimizer.steps``: content retention (agreement with the clean prediction) and
    the iterations to come within 5% of the final content+style objective, against the step budget, one line per
    value of the other swept keys (the depth study: one line per depth weight)."""
    if "optimizer.steps" not in df.columns or df["optimizer.steps"].nunique() < 2:
        return None
    others = [c for c in df.columns if "." in c and c != "optimizer.steps" and df[c].astype(str).nunique() > 1]
    label = df[others].astype(str).agg(", ".join, axis=1) if others else pd.Series("all", index=df.index)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for i, (name, g) in enumerate(df.groupby(label, sort=False)):
        by_steps = g.groupby("optimizer.steps")
        legend = ", ".join(f"{k}={v}" for k, v in zip(others, name.split(", "))) if others else name
        axes[0].plot(by_steps.agreement.mean(), "o-", color=f"C{i}", label=legend)
        axes[1].plot(by_steps.steps_to_5pct.mean(), "o-", color=f"C{i}", label=legend)
    axes[0].set_ylabel("agreement with the clean prediction")
    axes[1].set_ylabel("iterations to within 5% of the final objective")
    axes[0].set_ylim(0, 1)
    for ax in axes:
        ax.set_xlabel("optimizer.steps")
        ax.set_xticks(sorted(df["optimizer.steps"].unique()))
        ax.grid(alpha=0.3)
    save_figure(fig, axes[0], path)
    return path


def run_retention(job: RetentionJob, *, executor: str = "local", wandb_mode: str | None = None) -> dict[str, Any]:
    """Stylize (resumable), score, and write retention.{md,csv,tex}, per_image.csv and plots."""
    classifier = imagenet_classifier(job.classifier)  # fail early when no classifier is available
    sweep = build_sweep(job)
    run_sweep(sweep, executor=executor, results_root=job.results_root, wandb_mode=wandb_mode)
    out = job.results_root / job.name
    reference = reference_encoder()
    trial_ids = {t.id for t in expand(sweep, job.results_root)}
    df, stylized = score_trials(job, trial_ids, classifier, reference)
    probe = train_artist_probe(classifier, artist_paintings(job.artists_root), crops=job.probe_crops, seed=job.seed)
    df["predicted_artist"] = probe.predict(classifier, stylized, seed=job.seed)
    df["deception"] = (df.predicted_artist == df.artist).astype(float)
    df.to_csv(out / "per_image.csv", index=False)
    table = retention_table(df, job.bootstrap, job.seed)
    table.to_csv(out / "retention.csv", index=False)
    shown = readable_table(table)
    header = (f"classifier: {classifier.name} ({classifier.weights.source}); clean top-1 on the photos at the "
              f"stylization size; style distance: mse_chw Gram distance x1e3 on {reference.name}, "
              f"relu1_1..relu5_1; SSIM/PSNR/LPIPS(vgg) to the photo (torchmetrics; LPIPS blank without VGG16 weights); "
              "95% bootstrap CIs over images\n\n"
              f"deception: share of stylized images a {len(probe.artists)}-artist linear probe on {classifier.name} "
              f"features attributes to the intended artist (chance {1 / len(probe.artists):.1%}); probe accuracy on "
              f"{probe.heldout_paintings} held-out paintings {probe.heldout_accuracy:.1%} (per crop "
              f"{probe.heldout_crop_accuracy:.1%})\n\n")
    (out / "retention.md").write_text(header + shown.to_markdown(index=False) + "\n")
    (out / "retention.tex").write_text(shown.to_latex(index=False))
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    plot_retention(table, plots / "retention_per_artist.png")
    plot_time_vs_retention(table, plots / "time_vs_retention.png")
    plot_against_steps(df, plots / "against_steps.png")
    if (wandb_mode or "offline") != "disabled":
        log_tables(out, f"{job.name}-retention", {"retention": shown}, mode=wandb_mode or "offline", group=job.name,
                   job_type="evaluate", config={"classifier": classifier.describe(), "artists": job.artists,
                                                "limit": job.limit})
    return {"table": table, "per_image": df, "classifier": classifier.name, "probe": probe}

