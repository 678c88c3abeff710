"""Tables, plots and an HTML page from a sweep's results directory (``runs.jsonl`` is the source of truth)."""

from __future__ import annotations

import html
import re
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd

from nst_bench.data.images import load_image, save_image
from nst_bench.errors import UserError
from nst_bench.run.plots import ContactSheet, plt
from nst_bench.sweeps.spec import short_value
from nst_bench.sweeps.store import RunsLog

# final/collapsed: the share of trained networks whose outputs lost the photos (nets.content_check)
METRICS = ["final/total", "final/content", "final/style", "final/tv", "final/warping_error",
           "final/content_warping_error", "final/warping_ratio", "final/top5_agreement", "final/identified",
           "final/identified_local", "final/ssim", "final/lpips", "final/collapsed",
           # CycleGAN's held-out scores (recipes.train_cyclegan)
           "final/cycle_l1", "final/cycle_l1_blurred", "final/kid", "final/gram_to_paintings", "final/grid_peak",
           "seconds", "s_per_iteration", "iterations"]
IMAGE_KEYS = ("content", "style")


def runs_frame(results: Path) -> tuple[pd.DataFrame, list[str]]:
    """One row per trial: swept parameters, status, and flattened metrics; plus the setting columns."""
    rows = RunsLog(results / "runs.jsonl").read()
    if not rows:
        raise UserError(f"no finished trials in {results}/runs.jsonl: run the sweep first")
    flat = []
    for r in rows:
        item: dict[str, Any] = {"trial_id": r["trial_id"], "status": r["status"], "error": r.get("error", "")}
        item |= {k: short_value(v) if isinstance(v, (list, dict)) else v for k, v in r.get("params", {}).items()}
        item |= {f"final/{k}": v for k, v in (r.get("final") or {}).items() if "/" not in k}
        item |= {k: r.get(k) for k in ("seconds", "s_per_iteration", "iterations", "backbone", "out")}
        item |= {f"eval/{k}": v for k, v in (r.get("eval") or {}).items()}
        flat.append(item)
    df = pd.DataFrame(flat)
    for key in IMAGE_KEYS:  # a training sweep has styles but no content image
        if key not in df.columns:
            df[key] = "-"
    settings = list(dict.fromkeys(c for r in rows for c in r.get("params", {}) if c not in IMAGE_KEYS))
    df["setting"] = df.apply(lambda r: ", ".join(f"{k}={r[k]}" for k in settings) or "default", axis=1)
    return df, settings


def comparison_table(df: pd.DataFrame, settings: list[str]) -> pd.DataFrame:
    """Mean and std over image pairs of every metric, per setting; trials that failed are counted, not averaged."""
    metrics = [m for m in METRICS + [c for c in df.columns if c.startswith("eval/")] if m in df.columns]
    ok = df[df.status == "ok"]
    keys = settings or ["backbone"]
    if ok.empty:
        table = pd.DataFrame(columns=keys)
    else:
        agg = ok.groupby(keys, dropna=False, sort=False)[metrics].agg(["mean", "std"])
        agg.columns = [f"{m} {s}" for m, s in agg.columns]
        table = agg.reset_index()
    counts = df.groupby(keys, dropna=False, sort=False).agg(
        pairs=("status", lambda s: int((s == "ok").sum())), failed=("status", lambda s: int((s == "failed").sum())))
    table = counts.reset_index().merge(table, on=keys, how="left")
    errors = df[df.status == "failed"].groupby(keys, dropna=False, sort=False)["error"].first()
    if not errors.empty:
        table = table.merge(errors.rename("error").reset_index(), on=keys, how="left")
    return table


def runtime_columns(table: pd.DataFrame) -> list[str]:
    """The setting columns and the timing ones: a sweep's runtime table."""
    runtime = [c for c in table.columns if c.split(" ")[0] in ("seconds", "s_per_iteration", "iterations")]
    settings = [c for c in table.columns if " " not in c and c not in ("pairs", "failed", "error")]
    return settings + runtime


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """For reading: 'mean ± std' in one column per metric, 4 significant digits."""
    out = table.copy()
    for c in [c for c in out.columns if c.endswith(" mean")]:
        m = c.removesuffix(" mean")
        std = out.get(f"{m} std")
        out[m] = [("" if pd.isna(a) else f"{a:.4g}" + ("" if std is None or pd.isna(b) else f" ± {b:.2g}"))
                  for a, b in zip(out[c], std if std is not None else [None] * len(out))]
        out = out.drop(columns=[c, f"{m} std"] if std is not None else [c])
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    out = out.fillna("")
    if "pairs" in out:  # a setting whose every trial failed says so in each metric cell, never a blank mean
        metrics = [c.removesuffix(" mean") for c in table.columns if c.endswith(" mean")]
        out.loc[out.pairs == 0, metrics] = "all failed"
    return out


def _panels(ok: pd.DataFrame, width: float = 6.5) -> tuple[plt.Figure, list[tuple[str, pd.DataFrame, plt.Axes]]]:
    """One panel per backbone: losses on different backbones' features are in different units, so they never
    share an axis."""
    names = [b for b in dict.fromkeys(ok["backbone"]) if isinstance(b, str)] if "backbone" in ok else []
    groups = [(b, ok[ok["backbone"] == b]) for b in names] if len(names) > 1 else [(names[0] if names else "", ok)]
    fig, axes = plt.subplots(1, len(groups), figsize=(max(width, 3.6 * len(groups)), 4), dpi=110, squeeze=False)
    return fig, [(b, g, ax) for (b, g), ax in zip(groups, axes[0])]


def _finish(fig: plt.Figure, panels: list[tuple[str, pd.DataFrame, plt.Axes]], xlabel: str, path: Path) -> Path:
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    several = len(panels) > 1
    for i, (backbone, _, ax) in enumerate(panels):
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))  # 30, 100, not 3x10^1
        # label the minor ticks only when the axis spans under 1.5 decades (else they crowd)
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g") if high / max(low, 1e-12) < 30 else NullFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=7)
        if not several:
            ax.set_xlabel(xlabel)
        if i == 0:
            ax.set_ylabel("total loss (Gatys objective)" if several or not backbone else
                          f"total loss (Gatys objective on {backbone})")
        if several:
            ax.set_title(f"{backbone} features (own units)", fontsize=9)
        ax.grid(alpha=0.3)
    if several:
        fig.supxlabel(xlabel, fontsize=10, y=0.1)
    handles, labels = panels[0][2].get_legend_handles_labels()
    for _, _, ax in panels[1:]:
        h, lab = ax.get_legend_handles_labels()
        handles += [x for x, y in zip(h, lab) if y not in labels]
        labels += [y for y in lab if y not in labels]
    if labels:
        fig.legend(handles, [textwrap.shorten(x, 70) for x in labels], loc="lower center", frameon=False,
                   fontsize=7, ncol=min(len(labels), 3))
    bottom = min(0.5, 0.06 * ((len(labels) + 2) // 3)) + (0.08 if several else 0)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_loss_curves(df: pd.DataFrame, path: Path) -> Path | None:
    ok = df[(df.status == "ok") & df.out.notna()]
    ok = ok[[(Path(o) / "history.csv").exists() for o in ok.out]]
    if ok.empty or "final/total" not in ok.columns:  # feed-forward methods have no optimisation history
        return None
    fig, panels = _panels(ok)
    colours: dict[str, str] = {}
    for _, group, ax in panels:
        for _, row in group.iterrows():
            h = pd.read_csv(Path(row.out) / "history.csv")
            if "loss/total" not in h:
                continue
            first = row.setting not in colours
            colours.setdefault(row.setting, f"C{len(colours) % 10}")
            ax.plot(h["step"], h["loss/total"], color=colours[row.setting], alpha=0.7, lw=1,
                    label=row.setting if first else None)
    return _finish(fig, panels, "step", path)


def plot_time_vs_loss(df: pd.DataFrame, path: Path) -> Path | None:
    ok = df[df.status == "ok"]
    if ok.empty or "final/total" not in ok.columns or ok["final/total"].isna().all():  # video: no objective
        return None
    fig, panels = _panels(ok)
    settings = list(dict.fromkeys(ok.setting))
    for _, group, ax in panels:
        for label, g in group.groupby("setting", sort=False):
            ax.scatter(g["seconds"], g["final/total"], label=label, color=f"C{settings.index(label) % 10}", s=22)
    return _finish(fig, panels, "seconds per trial (as run, incl. loading; clean timings: results/runtime)", path)


def thumbnail(src: Path, dst: Path, size: int = 160) -> Path:
    save_image(load_image(src, size), dst, quality=85)
    return dst


def column_labels(settings: list[str], width: int) -> list[list[str]]:
    """Each setting as the lines that tell it from the others: one key=value per line, the parts every setting
    shares left out, long parts wrapped to ``width`` characters, never cut."""
    parts = [[p for p in re.split(r"[,\s]+(?![^{]*\})", re.sub(r"^config=\{?", "", s).rstrip("}")) if p]
             for s in settings]
    shared = set.intersection(*map(set, parts)) if len(parts) > 1 else set()
    return [[line for p in ps if p not in shared for line in textwrap.wrap(p, width)] or ["default"] for ps in parts]


def image_grid(df: pd.DataFrame, path: Path, size: int = 160, max_rows: int = 16) -> Path | None:
    """Contact sheet: one row per content x style (the first ``max_rows``), one column per setting."""
    settings = list(dict.fromkeys(df.setting))
    rows = list(df.groupby(["content", "style"], sort=False))[:max_rows]
    if not rows:
        return None
    labels = column_labels(settings, width=size // 6)
    label_h, left = 15 * max(len(lab) for lab in labels) + 6, 150  # 15 px per line of PIL's font
    sheet = ContactSheet(left + len(settings) * (size + 4), label_h + len(rows) * (size + 4))
    for j, lines in enumerate(labels):
        sheet.draw.text((left + j * (size + 4), 2), "\n".join(lines), fill="black")
    for i, ((content, style), g) in enumerate(rows):
        y = label_h + i * (size + 4)
        sheet.draw.text((4, y + size // 2 - 10), f"{content}\n x {style}"[:60], fill="black")
        for j, s in enumerate(settings):
            match = g[g.setting == s]
            if match.empty:
                continue
            if match.iloc[0].status != "ok":
                sheet.draw.text((left + j * (size + 4) + 4, y + size // 2), "failed:\n" + str(match.iloc[0].error)
                                [:90].replace(": ", ":\n", 2)[:90], fill="firebrick")
                continue
            sheet.paste(Path(str(match.iloc[0].out)) / "stylized.jpg", (left + j * (size + 4), y), size)
    return sheet.save(path)


def write_html(df: pd.DataFrame, settings: list[str], table: pd.DataFrame, results: Path, plots: list[Path]) -> Path:
    """Content x style rows, one column per setting, thumbnails of the outputs; the table and plots above."""
    thumbs = results / "thumbs"
    thumbs.mkdir(exist_ok=True)
    setting_labels = list(dict.fromkeys(df.setting))
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(results.name)}</title><style>"
             "body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:3px 6px;text-align:center} img{display:block}"
             f"</style></head><body><h1>{html.escape(results.name)}</h1>",
             format_table(table).to_html(index=False, escape=True)]
    parts += [f"<p><img src='{p.relative_to(results)}'></p>" for p in plots]
    parts.append("<h2>Outputs</h2><table><tr><th>content</th><th>style</th>"
                 + "".join(f"<th>{html.escape(s or 'default')}</th>" for s in setting_labels) + "</tr>")
    for (content, style), g in df.groupby(["content", "style"], sort=False):
        cells = []
        for label in setting_labels:
            match = g[g.setting == label]
            cell = "–"
            if not match.empty:
                r = match.iloc[0]
                img, t = Path(str(r.out)) / "stylized.jpg", thumbs / f"{r.trial_id}.jpg"
                if r.status == "ok" and (img.exists() or t.exists()):  # a committed study keeps only thumbs
                    if img.exists():
                        thumbnail(img, t)
                    cell = f"<img src='{t.relative_to(results)}' title='{r.trial_id}'>"
                else:
                    cell = html.escape(str(r.error or r.status))[:120]
            cells.append(f"<td>{cell}</td>")
        parts.append(f"<tr><td>{html.escape(str(content))}</td><td>{html.escape(str(style))}</td>{''.join(cells)}</tr>")
    parts.append("</table></body></html>")
    path = results / "report.html"
    path.write_text("\n".join(parts))
    return path


def report(results: str | Path) -> dict[str, Any]:
    """Write table.{md,csv,tex}, report.html and plots/*.png into ``results``; return the table and paths."""
    results = Path(results)
    if not results.is_dir():
        raise UserError(f"{results} is not a results directory (expected results/<sweep>/ with runs.jsonl)")
    df, settings = runs_frame(results)
    table = comparison_table(df, settings)
    shown = format_table(table)
    (results / "table.md").write_text(shown.to_markdown(index=False) + "\n")
    table.to_csv(results / "table.csv", index=False)
    (results / "table.tex").write_text(shown.to_latex(index=False))
    plots_dir = results / "plots"
    plots_dir.mkdir(exist_ok=True)
    plots = [p for p in (plot_loss_curves(df, plots_dir / "loss_curves.png"),
                         plot_time_vs_loss(df, plots_dir / "time_vs_loss.png"),
                         image_grid(df, plots_dir / "grid.jpg")) if p]
    page = write_html(df, settings, table, results, plots)
    return {"table": table, "runs": df, "settings": settings, "html": page, "plots": plots}
