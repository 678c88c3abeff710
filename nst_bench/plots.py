"""Figures people would rather look at than read: loss curves, image strips."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

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
                "style", "tv", "depth"), title: str = "") -> Path:
    """Each loss term against the step, log scale (terms that stay at zero are left out)."""
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    steps = [h["step"] for h in history]
    for term in terms:
        values = [h.get(term, 0.0) for h in history]
        if any(v > 0 for v in values):
            ax.plot(steps, values, label=term, lw=1.4)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss")
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, ax, path)
