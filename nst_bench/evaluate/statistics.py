"""Photo-level statistics for retention studies: the photo is the unit, not the stylized image.

A photo stylized with several paintings of several artists gives rows that are not independent (a CycleGAN
generator ignores the painting: its rows of one photo are identical), so every interval here resamples photos
(a cluster bootstrap), and a setting's value on a resample is the mean over the resampled photos of each photo's
mean over its rows. The resampled photos depend only on the study's seed and the set of photos, never on which
settings are in the table: adding a setting changes no other row, and two settings on the same photos are
compared on the same resamples (a paired bootstrap of their difference).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


def photo_means(rows: pd.DataFrame, value: str, photo: str = "content", artist: str = "artist") -> pd.Series:
    """Each photo's mean of ``value``: over each artist's paintings first, then over its artists, so that every
    artist weighs the same whatever the number of rows it has for the photo (NaNs left out); indexed by photo."""
    keys = [photo, artist] if artist in rows.columns else [photo]
    return rows.groupby(keys, sort=True)[value].mean().groupby(level=0).mean().dropna()


def resample_indices(photos: list[str], n: int, seed: int) -> np.ndarray:
    """``n`` x ``len(photos)`` indices into the sorted photos: a function of the seed and the photo set only."""
    key = hashlib.sha256("\n".join(sorted(photos)).encode()).digest()[:8]
    rng = np.random.default_rng([seed, int.from_bytes(key, "little")])
    return rng.integers(0, len(photos), size=(n, len(photos)))


def cluster_ci(means: pd.Series, n: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean over photos, resampling photos (``means`` from ``photo_means``)."""
    if len(means) == 0:
        return math.nan, math.nan
    values = means.sort_index().to_numpy()
    boot = values[resample_indices(list(means.sort_index().index), n, seed)].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(boot, tail)), float(np.percentile(boot, 100 - tail))


@dataclass(frozen=True)
class PairedDifference:
    """``b - a`` over the photos both settings scored: mean, interval, and two-sided p-values."""

    photos: int
    mean: float
    lo: float
    hi: float
    sign_p: float  # exact sign test on the photos whose difference is not 0
    permutation_p: float  # sign-flip permutation test of the mean difference
    wins: int  # photos where b > a
    losses: int  # photos where b < a


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial test of wins against losses at p = 1/2 (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_difference(a: pd.Series, b: pd.Series, n: int = 2000, seed: int = 0,
                      permutations: int = 10000) -> PairedDifference:
    """Compare two settings' ``photo_means`` on their common photos."""
    common = a.index.intersection(b.index).sort_values()
    diff = (b.loc[common] - a.loc[common]).to_numpy(dtype=float)
    if len(diff) == 0:
        return PairedDifference(0, math.nan, math.nan, math.nan, math.nan, math.nan, 0, 0)
    lo, hi = cluster_ci(pd.Series(diff, index=common), n, seed)
    rng = np.random.default_rng([seed, 1])
    flips = rng.choice([-1.0, 1.0], size=(permutations, len(diff)))
    observed = abs(diff.mean())
    perm_p = (1 + int((np.abs((flips * diff).mean(axis=1)) >= observed - 1e-12).sum())) / (permutations + 1)
    wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
    return PairedDifference(len(diff), float(diff.mean()), lo, hi, sign_test(wins, losses), perm_p, wins, losses)
