"""The files a retention study leaves behind, all rebuilt from ``scores.jsonl`` (so a page cannot drift from them).

``retention.csv`` (per setting x artist and pooled: rates with photo-bootstrap intervals, distances, seconds),
``paired.csv`` (every pair of settings: the top-1 difference on their common photos), ``deception.csv`` (the
artist classifier's held-out accuracy per artist), ``clean.csv`` (each photo's clean prediction), ``study.json``
(the protocol, classifier, settings and provenance), ``plots/`` and a W&B run with the tables.
"""

from __future__ import annotations

import itertools
import json
import logging
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nst_bench.data.datasets import WNID
from nst_bench.evaluate.deception import FoldedProbe
from nst_bench.evaluate.statistics import cluster_ci, paired_difference, photo_means
from nst_bench.nets.classifier import Classifier
from nst_bench.run.plots import ContactSheet, plt, save_figure
from nst_bench.run.tracking import log_tables, provenance

log = logging.getLogger(__name__)

RATES = ("top1", "top5", "agreement", "deception", "clean_top1")
MEANS = ("gram_distance", "ssim", "psnr", "lpips", "seconds", "steps_to_5pct")
POOLED = "all artists"


def headline_rows(table: pd.DataFrame) -> pd.Series:
    """One row per setting: its pooled row, or its only artist's row when it ran on one artist."""
    pooled = table.artist.eq(POOLED)
    return pooled | ~table.setting.isin(table.setting[pooled])


def retention_table(scores: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Per setting, per artist and pooled over artists: each rate's mean over photos and its photo-bootstrap
    interval (a photo's value is its mean over its paintings and artists, so nothing is counted twice), and the
    classifier's most frequent answer with its share of the images."""
    rows = []
    for setting, g in scores.groupby("setting", sort=False):
        groups = [(a, ga) for a, ga in g.groupby("artist", sort=True)]
        for artist, ga in groups + ([(POOLED, g)] if len(groups) > 1 else []):
            row: dict[str, Any] = {"setting": setting, "artist": artist, "photos": ga.content.nunique(),
                                   "images": len(ga)}
            for rate in RATES:
                means = photo_means(ga, rate)
                lo, hi = cluster_ci(means, n_boot, seed)
                row |= {rate: float(means.mean()), f"{rate}_lo": lo, f"{rate}_hi": hi}
            numeric = ga.assign(**{m: pd.to_numeric(ga.get(m), errors="coerce") for m in MEANS})
            row |= {m: float(photo_means(numeric, m).mean()) for m in MEANS}  # photos weigh the same here too
            counts = ga.pred.value_counts()  # a method that pushes every photo into one class shows here
            row |= {"top_prediction": counts.index[0], "top_prediction_share": float(counts.iloc[0] / len(ga))}
            rows.append(row)
    return pd.DataFrame(rows)


def paired_table(scores: pd.DataFrame, n_boot: int, seed: int, rate: str = "top1") -> pd.DataFrame:
    """Every pair of settings on the photos (and artists) both scored: ``b - a`` in ``rate`` with its interval,
    sign test and permutation p-value. Settings with no artist in common are compared photo by photo, each on
    its own artists (``artists`` says "a's vs b's")."""
    rows = []
    settings = list(dict.fromkeys(scores.setting))
    for a, b in itertools.combinations(settings, 2):
        ga, gb = scores[scores.setting == a], scores[scores.setting == b]
        shared = sorted(set(ga.artist) & set(gb.artist))
        if shared:  # the same artists on both sides
            ga, gb = ga[ga.artist.isin(shared)], gb[gb.artist.isin(shared)]
            artists = " ".join(shared)
        else:  # one-artist settings of different artists (two CycleGAN generators): paired by photo only
            artists = f"{' '.join(sorted(set(ga.artist)))} vs {' '.join(sorted(set(gb.artist)))}"
        ma, mb = photo_means(ga, rate), photo_means(gb, rate)
        d = paired_difference(ma, mb, n_boot, seed)
        rows.append({"a": a, "b": b, "artists": artists, "metric": rate, "photos": d.photos,
                     "a_mean": float(ma.loc[ma.index.intersection(mb.index)].mean()),
                     "difference": d.mean, "lo": d.lo, "hi": d.hi, "sign_p": d.sign_p,
                     "permutation_p": d.permutation_p, "wins": d.wins, "losses": d.losses})
    return pd.DataFrame(rows)


def wnid(name: str) -> str | None:
    return m.group(0) if (m := WNID.match(name)) else None


def deception_table(probe: FoldedProbe) -> pd.DataFrame:
    return pd.DataFrame([{"artist": a, "heldout_accuracy": probe.heldout[a], "paintings": probe.heldout_paintings[a],
                          "folds": len(probe.probes)} for a in probe.artists])


def plot_per_artist(table: pd.DataFrame, clean: float, path: Path) -> Path:
    """Stylized top-1 per setting, one bar per artist (and pooled), with the photo-bootstrap intervals."""
    settings = list(dict.fromkeys(table.setting))
    artists = [*sorted(set(table.artist) - {POOLED}), *([POOLED] if (table.artist == POOLED).any() else [])]
    fig, ax = plt.subplots(figsize=(max(7.0, 0.9 * len(settings) * 2), 4.2), dpi=110)
    width = 0.8 / len(artists)
    for j, artist in enumerate(artists):
        t = table[table.artist == artist].set_index("setting").reindex(settings)
        x = np.arange(len(settings)) + j * width - 0.4 + width / 2
        ax.bar(x, t.top1, width, yerr=[t.top1 - t.top1_lo, t.top1_hi - t.top1], capsize=2, label=artist,
               color="0.35" if artist == POOLED else f"C{j}")
    ax.axhline(clean, color="k", ls="--", lw=1, label=f"clean top-1 of the views ({clean:.0%})")
    ax.set_xticks(np.arange(len(settings)), [s.replace(", ", "\n") for s in settings], fontsize=7)
    ax.set_xlim(-0.5, len(settings) - 0.5)  # each tick centred under its group, even when some bars are blank
    ax.set_ylabel("stylized top-1 (95% photo-bootstrap CI)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, ax, path)


def example_sheet(scores: pd.DataFrame, out: Path, path: Path, order: list[str], photos: int = 6,
                  size: int = 128) -> Path | None:
    """One row per setting, one column per photo (the same photos in every row, spread over the classes): each
    setting's stylization of the photo with its first artist and painting, over a green bar where the classifier
    still names the photo's class and a red one where it does not. The stylizations live in the trial folders,
    which are not in git: if any of them is missing, the sheet already on disk stays (a sheet with blank rows would
    replace a whole one). Rows follow ``order`` (the study's)."""
    settings = [s for s in order if (scores.setting == s).any()]
    common = sorted(set.intersection(*(set(scores.content[scores.setting == s]) for s in settings)))
    picked = common[:: max(1, len(common) // photos)][:photos]
    left, gap, bar = 170, 4, 6
    tiles = {(s, c): scores[(scores.setting == s) & (scores.content == c)].sort_values(["artist", "painting"])
             .iloc[0] for s in settings for c in picked}  # each setting's first artist and painting
    missing = [k for k, r in tiles.items() if not (out / str(r.trial_id) / "stylized.jpg").is_file()]
    if missing and path.exists():
        log.warning("%s kept: %d example stylizations are not here (first: %s)", path, len(missing), missing[0])
        return path
    sheet = ContactSheet(left + len(picked) * (size + gap), 18 + len(settings) * (size + bar + gap))
    for j, content in enumerate(picked):
        sheet.draw.text((left + j * (size + gap), 2), content[:24], fill="black")
    for i, setting in enumerate(settings):
        y = 18 + i * (size + bar + gap)
        sheet.draw.text((4, y + size // 2 - 12), "\n".join(textwrap.wrap(setting, 26)[:3]), fill="black")
        for j, content in enumerate(picked):
            r, x = tiles[setting, content], left + j * (size + gap)
            if sheet.paste(out / str(r.trial_id) / "stylized.jpg", (x, y), size):
                sheet.draw.rectangle((x, y + size, x + size - 1, y + size + bar - 1),
                                     fill="seagreen" if r.top1 else "firebrick")
    return sheet.save(path)


def plot_time_vs_top1(table: pd.DataFrame, path: Path) -> Path:
    pooled = table[headline_rows(table)]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=110)
    for i, (_, r) in enumerate(pooled.drop_duplicates("setting").iterrows()):
        ax.errorbar(max(r.seconds, 1e-3), r.top1, yerr=[[r.top1 - r.top1_lo], [r.top1_hi - r.top1]], fmt="o",
                    color=f"C{i % 10}", label=r.setting, capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel("seconds per image (log)")
    ax.set_ylabel("stylized top-1, over the setting's artists")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=6)
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


def with_ci(t: pd.DataFrame, rate: str, pct: bool = True) -> pd.Series:
    """``12.0% [7.5, 16.5]``: a rate with its interval, as the tables print it."""
    f = (lambda v: f"{100 * v:.1f}") if pct else (lambda v: f"{v:.3f}")
    return t.apply(lambda r: "" if pd.isna(r[rate]) else f"{f(r[rate])}{'%' if pct else ''} "
                   f"[{f(r[f'{rate}_lo'])}, {f(r[f'{rate}_hi'])}]", axis=1)


def markdown_tables(table: pd.DataFrame, paired: pd.DataFrame, deception: pd.DataFrame) -> dict[str, str]:
    """The study page's tables (``retention.md``, ``per_artist.md``, ``paired.md``, ``deception.md``), printed from
    the same frames as the CSV files."""
    shown = pd.DataFrame({"setting": table.setting, "artist": table.artist, "photos": table.photos,
                          "images": table.images, "top-1": with_ci(table, "top1"), "top-5": with_ci(table, "top5"),
                          "agrees with clean": with_ci(table, "agreement"),
                          "deception": with_ci(table, "deception"), "LPIPS to photo": table.lpips.round(3),
                          "Gram distance": table.gram_distance.round(4),
                          "s / image": table.seconds.round(3)})
    pooled = headline_rows(table)
    diffs = pd.DataFrame({"a": paired.a, "b": paired.b, "artists": paired.artists, "photos": paired.photos,
                          "top-1 of a": (100 * paired.a_mean).round(1).astype(str) + "%",
                          "b - a, points [95% CI]": paired.apply(
                              lambda r: f"{100 * r.difference:+.1f} [{100 * r.lo:+.1f}, {100 * r.hi:+.1f}]", axis=1),
                          "wins / losses": paired.wins.astype(str) + " / " + paired.losses.astype(str),
                          "sign p": paired.sign_p.map("{:.2g}".format),
                          "permutation p": paired.permutation_p.map("{:.2g}".format)}) if len(paired) else paired
    held = pd.DataFrame({"artist": deception.artist, "paintings": deception.paintings,
                         "held-out accuracy": (100 * deception.heldout_accuracy).round(1).astype(str) + "%"})
    return {"retention.md": shown[pooled].to_markdown(index=False),
            "per_artist.md": shown[~table.artist.eq(POOLED)].to_markdown(index=False),
            "paired.md": diffs.to_markdown(index=False) if len(diffs) else "(one setting: no pairs yet)",
            "deception.md": held.to_markdown(index=False)}


def write_report(out: Path, protocol: dict[str, Any], settings: list[dict[str, Any]], scores: pd.DataFrame,
                 clean: dict[str, list[str]], short_sides: dict[str, int], classifier: Classifier,
                 probe: FoldedProbe | None, wandb_mode: str | None) -> dict[str, Any]:
    """Every table, plot and the study's record from its scores (``settings``: label, config, every, artists;
    ``short_sides``: each photo's short side before its view, to name the photos the view enlarges)."""
    n_boot, seed = protocol["bootstrap"], protocol["seed"]
    table = retention_table(scores, n_boot, seed)
    table.to_csv(out / "retention.csv", index=False)
    paired = paired_table(scores, n_boot, seed)
    paired.to_csv(out / "paired.csv", index=False)
    if probe is not None:
        deception_table(probe).to_csv(out / "deception.csv", index=False)
    deception = pd.read_csv(out / "deception.csv")
    resized_to = round(classifier.input_size / classifier.crop_pct)  # the view's short side before its crop
    clean_rows = pd.DataFrame([{"content": c, "label": label, "pred_clean": p[0], "clean_top1": float(p[0] == label),
                                "clean_top5": float(label in p), "short_side": short_sides[c],
                                "enlarged": short_sides[c] < resized_to}
                               for c, p in clean.items() if (label := wnid(c))])
    clean_rows.to_csv(out / "clean.csv", index=False)
    for name, text in markdown_tables(table, paired, deception).items():
        (out / name).write_text(text + "\n")
    (out / "study.json").write_text(json.dumps({
        "protocol": protocol, "classifier": classifier.describe(), "settings": settings,
        "clean": {"photos": len(clean_rows), "top1": float(clean_rows.clean_top1.mean()),
                  "top5": float(clean_rows.clean_top5.mean()), "view_short_side": resized_to,
                  "enlarged": int(clean_rows.enlarged.sum()), "smallest_short_side": int(clean_rows.short_side.min())},
        "scored": {"settings": int(scores.setting.nunique()), "stylizations": len(scores)},
        "provenance": provenance("cpu", seed)}, indent=1, default=str) + "\n")
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    plot_per_artist(table, float(clean_rows.clean_top1.mean()), plots / "top1_per_artist.png")
    plot_time_vs_top1(table, plots / "time_vs_top1.png")
    example_sheet(scores, out, plots / "examples.jpg", [s["label"] for s in settings])
    keys = pd.DataFrame([{"setting": s["label"], **s["config"]} for s in settings])  # the settings' keys as columns
    plot_against_steps(scores.merge(keys, on="setting", how="left"), plots / "against_steps.png")
    if (wandb_mode or "offline") != "disabled":
        log_tables(out, f"{out.name}-retention", {"retention": table, "paired": paired, "deception": deception},
                   mode=wandb_mode or "offline", group=out.name, job_type="evaluate",
                   config={"classifier": classifier.describe(), **protocol})
    return {"table": table, "paired": paired, "deception": deception, "clean": clean_rows, "scores": scores}
