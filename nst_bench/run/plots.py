"""Figures people would rather look at than read: loss curves, image strips."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def save_figure(fig: plt.Figure, ax: plt.Axes, path: Path, legend: bool = True) -> Path:
    """The finishing every figure here shares: light grid, frameless legend, tight layout, saved and closed."""
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def loss_curves(history: Sequence[dict[str, float]], path: Path, terms: Sequence[str] = ("total", "content",
                "style", "tv", "depth"), title: str = "", smooth: int = 1,
                ylabel: str = "weighted loss") -> Path:
    """Each loss term against the step, log scale (terms that stay at zero are left out); ``smooth`` > 1 draws
    the running mean over that many steps over the faint raw values (GAN losses at batch 1 are mostly noise)."""
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    steps = np.array([h["step"] for h in history])
    for i, term in enumerate(terms):
        values = np.array([h.get(term, 0.0) for h in history], dtype=float)
        if not (values > 0).any():
            continue
        if smooth > 1 and len(values) > smooth:
            ax.plot(steps, values, color=f"C{i}", lw=0.5, alpha=0.2)
            mean = running_mean(values, smooth)
            ax.plot(steps[smooth - 1:], mean, color=f"C{i}", lw=1.4, label=f"{term} ({smooth}-step mean)")
        else:
            ax.plot(steps, values, color=f"C{i}", label=term, lw=1.4)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, ax, path)


def warping_curves(content: Sequence[float], stylized: Sequence[float], path: Path) -> Path:
    """A video's warping error per frame, stylized against the content clip's own."""
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    ax.plot(range(1, len(content) + 1), content, label="content clip", color="k", lw=1)
    ax.plot(range(1, len(stylized) + 1), stylized, label="stylized", color="C3", lw=1.2)
    ax.set_xlabel("frame")
    ax.set_ylabel("warping error (MSE)")
    return save_figure(fig, ax, path)


def running_mean(values: np.ndarray, n: int) -> np.ndarray:
    return np.convolve(values, np.ones(n) / n, mode="valid") if n > 1 and len(values) > n else values


def discriminator_scores(history: Sequence[dict[str, float]], path: Path, smooth: int = 50) -> Path:
    """The discriminators' mean scores on real and (pooled) fake images against the step, ``smooth``-step running
    means. LSGAN targets are 1 for real and 0 for fake: curves pinned at those targets mean the discriminator has
    won; both near 0.5 mean it cannot tell."""
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    steps = np.array([h["step"] for h in history])
    for i, (key, label) in enumerate([("D_b_real", "D_painting(painting)"), ("D_b_fake", "D_painting(A->B)"),
                                      ("D_a_real", "D_photo(photo)"), ("D_a_fake", "D_photo(B->A)")]):
        values = np.array([h.get(key, np.nan) for h in history], dtype=float)
        if np.isnan(values).all():
            continue
        mean = running_mean(values, smooth)
        ax.plot(steps[len(steps) - len(mean):], mean, color=f"C{i}", lw=1.3, ls="-" if "real" in key else "--",
                label=label)
    ax.axhline(0.5, color="k", lw=0.5, alpha=0.5)
    ax.set_xlabel("step")
    ax.set_ylabel(f"mean score ({smooth}-step mean)")
    ax.set_title("discriminators: real (target 1) vs fake (target 0)", fontsize=9)
    ax.legend(frameon=False, fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))  # not over the curves
    return save_figure(fig, ax, path, legend=False)


def held_out_curves(val_history: Sequence[dict[str, float]], path: Path, panels: Sequence[tuple[str, str]],
                    references: dict[str, dict[str, float]] | None = None) -> Path:
    """One small panel per held-out score against the step (``panels``: key, title), with dotted lines for
    ``references`` (label -> {key: value}), e.g. where the photos themselves score."""
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.5 * rows), dpi=110, squeeze=False)
    steps = [v["step"] for v in val_history]
    for ax, (key, title) in zip(axes.flat, panels):
        ax.plot(steps, [v.get(key, np.nan) for v in val_history], "o-", ms=3, lw=1.3, color="C0")
        for i, (label, values) in enumerate((references or {}).items()):
            if key in values:
                ax.axhline(values[key], color=f"C{i + 1}", ls=":", lw=1.2, label=label)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


class ContactSheet:
    """A white sheet of thumbnails read from trial folders. The folders are not in git (a committed study keeps
    only its tables), so a sheet nothing could be pasted into is not saved: the one already on disk stays."""

    def __init__(self, width: int, height: int) -> None:
        from PIL import Image, ImageDraw

        self.image = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.pasted = 0

    def paste(self, src: Path, xy: tuple[int, int], size: int) -> bool:
        """Paste ``src`` shrunk to fit ``size`` x ``size`` at ``xy``; False when the file is not here."""
        from PIL import Image

        if not src.is_file():
            return False
        with Image.open(src) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            self.image.paste(im, xy)
        self.pasted += 1
        return True

    def save(self, path: Path) -> Path | None:
        """Write the sheet, or keep the old one (None when there is none) if no thumbnail was pasted."""
        if not self.pasted:
            return path if path.exists() else None
        self.image.save(path, quality=85)
        return path
