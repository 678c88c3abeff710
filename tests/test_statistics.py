import numpy as np
import pandas as pd
import pytest

from nst_bench.evaluate.statistics import cluster_ci, paired_difference, photo_means, resample_indices, sign_test


def _rows(values: dict[str, list[float]], artists: int = 1) -> pd.DataFrame:
    """One row per photo, painting and artist: ``values[photo]`` are its paintings' scores, the same per artist."""
    return pd.DataFrame([{"content": p, "artist": f"a{k}", "top1": v} for p, vs in values.items()
                         for k in range(artists) for v in vs])


def test_photos_not_rows_are_resampled_so_repeating_each_photo_does_not_narrow_the_interval():
    rng = np.random.default_rng(0)
    values = {f"p{i:02d}": [float(rng.random() < 0.6)] for i in range(40)}
    once = cluster_ci(photo_means(_rows(values), "top1"), seed=3)
    # the same photos under three artists with identical outputs (a CycleGAN generator ignores the painting)
    thrice = cluster_ci(photo_means(_rows(values, artists=3), "top1"), seed=3)
    assert once == thrice
    naive = pd.Series(np.repeat([v[0] for v in values.values()], 3))  # rows treated as independent photos
    naive.index = [f"r{i}" for i in range(len(naive))]
    lo, hi = cluster_ci(naive, seed=3)
    assert hi - lo < 0.8 * (once[1] - once[0])  # what the old bootstrap did: too narrow


def test_resamples_depend_on_the_seed_and_the_photo_set_only():
    photos = [f"p{i}" for i in range(10)]
    assert np.array_equal(resample_indices(photos, 50, 0), resample_indices(list(reversed(photos)), 50, 0))
    assert not np.array_equal(resample_indices(photos, 50, 0), resample_indices(photos, 50, 1))
    assert not np.array_equal(resample_indices(photos, 50, 0), resample_indices([*photos[:-1], "q"], 50, 0))


def test_sign_test_matches_the_binomial_tail():
    assert sign_test(5, 5) == 1.0
    assert sign_test(9, 1) == pytest.approx(2 * 11 / 1024)
    assert sign_test(0, 0) == 1.0


def test_paired_difference_on_common_photos_finds_a_consistent_gain_and_no_gain_in_noise():
    rng = np.random.default_rng(1)
    photos = [f"p{i:02d}" for i in range(60)]
    a = pd.Series(rng.random(60), index=photos)
    better = paired_difference(a, a + 0.05 + 0.01 * rng.standard_normal(60), seed=0)
    assert better.photos == 60 and 0.04 < better.lo < better.mean < better.hi < 0.06
    assert better.wins == 60 and better.sign_p < 1e-9 and better.permutation_p < 1e-3
    noise = paired_difference(a, a + 0.1 * rng.standard_normal(60), seed=0)
    assert noise.lo < 0 < noise.hi and noise.permutation_p > 0.05
    subset = paired_difference(a, (a + 1).iloc[::4], seed=0)  # a Gatys setting scored on every 4th photo
    assert subset.photos == 15 and subset.mean == pytest.approx(1.0)


def test_a_photos_artists_weigh_the_same_however_many_rows_each_has():
    rows = pd.DataFrame([{"content": "p", "artist": "monet", "top1": 1.0}] * 3
                        + [{"content": "p", "artist": "hokusai", "top1": 0.0}])
    assert photo_means(rows, "top1").loc["p"] == 0.5  # not 0.75: a missing painting does not tilt the photo


def test_permutation_p_matches_full_enumeration_on_a_small_sample():
    import itertools

    diff = np.array([0.3, 0.1, -0.05, 0.2, 0.25, -0.1, 0.15])
    photos = [f"p{i}" for i in range(len(diff))]
    exact = np.mean([abs(np.mean(np.array(s) * diff)) >= abs(diff.mean()) - 1e-12
                     for s in itertools.product([-1, 1], repeat=len(diff))])
    got = paired_difference(pd.Series(0.0, index=photos), pd.Series(diff, index=photos), permutations=20000)
    assert got.permutation_p == pytest.approx(exact, abs=0.01)
