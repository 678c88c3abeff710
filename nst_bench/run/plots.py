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
            mean = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
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
