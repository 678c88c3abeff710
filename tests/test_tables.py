"""Table arithmetic on hand-made rows: what the comparison and retention tables must compute, number by number."""

import numpy as np
import pandas as pd
import pytest

from nst_bench.evaluate.retention_report import POOLED, paired_table, retention_table
from nst_bench.evaluate.statistics import cluster_ci, photo_means
from nst_bench.sweeps.report import comparison_table, format_table


def _runs() -> pd.DataFrame:
    rows = [  # two settings x two image pairs; one trial of setting b failed
        {"setting": "a", "w": 1, "status": "ok", "error": "", "final/total": 10.0, "seconds": 2.0},
        {"setting": "a", "w": 1, "status": "ok", "error": "", "final/total": 14.0, "seconds": 4.0},
        {"setting": "b", "w": 2, "status": "ok", "error": "", "final/total": 3.0, "seconds": 1.0},
        {"setting": "b", "w": 2, "status": "failed", "error": "UserError: boom", "final/total": None,
         "seconds": None},
    ]
    return pd.DataFrame(rows)


def test_comparison_table_means_stds_and_counts_over_pairs():
    table = comparison_table(_runs(), ["w"]).set_index("w")
    assert table.loc[1, "final/total mean"] == 12.0 and table.loc[1, "final/total std"] == pytest.approx(np.sqrt(8))
    assert table.loc[1, "seconds mean"] == 3.0 and table.loc[2, "final/total mean"] == 3.0
    assert (table.loc[1, "pairs"], table.loc[1, "failed"]) == (2, 0)
    assert (table.loc[2, "pairs"], table.loc[2, "failed"]) == (1, 1) and table.loc[2, "error"] == "UserError: boom"
    shown = format_table(table.reset_index())
    assert list(shown["final/total"]) == ["12 ± 2.8", "3"]  # a single pair has no std to show


def test_a_setting_whose_trials_all_failed_says_so():
    runs = _runs()
    runs.loc[2, ["status", "error", "final/total", "seconds"]] = ["failed", "UserError: no weights", None, None]
    shown = format_table(comparison_table(runs, ["w"])).set_index("w")
    assert shown.loc[2, "final/total"] == "all failed" == shown.loc[2, "seconds"] and shown.loc[2, "pairs"] == 0
    assert shown.loc[2, "error"] == "UserError: no weights" and shown.loc[1, "final/total"] == "12 ± 2.8"


def _scored() -> pd.DataFrame:
    """4 photos x 2 artists x 1 setting; hokusai keeps 3 of 4 labels, van_gogh 1 of 4; every clean photo right."""
    rows = []
    for artist, kept in (("hokusai", [1, 1, 1, 0]), ("van_gogh", [0, 0, 1, 0])):
        for i, top1 in enumerate(kept):
            rows.append({"setting": "s", "artist": artist, "content": f"p{i}", "top1": float(top1),
                         "pred": f"n{i}" if top1 else "wallet",
                         "top5": 1.0, "clean_top1": 1.0, "agreement": float(top1), "deception": 0.0,
                         "gram_distance": 2.0 if artist == "hokusai" else 4.0, "ssim": 0.5, "psnr": 20.0,
                         "lpips": 0.3, "seconds": 1.5, "steps_to_5pct": np.nan})
    return pd.DataFrame(rows)


def test_retention_table_per_artist_and_pooled_over_photos():
    scores = _scored()
    t = retention_table(scores, n_boot=500, seed=0).set_index("artist")
    assert t.loc["hokusai", "top1"] == 0.75 and t.loc["van_gogh", "top1"] == 0.25
    pooled = t.loc[POOLED]
    assert pooled.top1 == 0.5 and pooled.images == 8 and pooled.photos == 4 and pooled.gram_distance == 3.0
    # pooled over artists, each photo counts once: the interval is the photo-bootstrap one of its 4 photo means
    assert (pooled.top1_lo, pooled.top1_hi) == cluster_ci(photo_means(scores, "top1"), 500, 0)
    assert t.loc["hokusai", "top1_lo"] <= 0.75 <= t.loc["hokusai", "top1_hi"]
    assert t.loc["hokusai", "top5_lo"] == t.loc["hokusai", "top5_hi"] == 1.0  # no spread, no interval
    # the classifier's most frequent answer: one class for 3 of van_gogh's 4 images, 4 of the 8 pooled
    assert (t.loc["van_gogh", "top_prediction"], t.loc["van_gogh", "top_prediction_share"]) == ("wallet", 0.75)
    assert (pooled.top_prediction, pooled.top_prediction_share) == ("wallet", 0.5)


def test_paired_table_compares_settings_on_their_common_photos_and_artists():
    a = _scored()
    b = a.assign(setting="t", top1=1.0)
    b = b[b.artist == "hokusai"]  # t ran on one artist: the comparison uses that artist's rows of both
    row = paired_table(pd.concat([a, b]), n_boot=500, seed=0).iloc[0]
    assert (row.a, row.b, row.artists, row.photos) == ("s", "t", "hokusai", 4)
    assert row.a_mean == 0.75 and row.difference == 0.25 and (row.wins, row.losses) == (1, 0)


def test_settings_on_different_artists_are_paired_by_photo_each_on_its_own_artist():
    s = _scored()
    a = s[s.artist == "hokusai"]  # keeps 3 of 4
    b = s[s.artist == "van_gogh"].assign(setting="t")  # keeps 1 of 4, on the same photos
    row = paired_table(pd.concat([a, b]), n_boot=500, seed=0).iloc[0]
    assert (row.artists, row.photos) == ("hokusai vs van_gogh", 4)
    assert row.a_mean == 0.75 and row.difference == -0.5 and (row.wins, row.losses) == (0, 2)  # 2 ties


def test_image_grid_pastes_outputs_and_keeps_the_old_grid_without_trial_folders(tmp_path):
    from PIL import Image

    from nst_bench.sweeps.report import image_grid

    for name, colour in (("a", (250, 0, 0)), ("b", (0, 0, 250))):
        (tmp_path / name).mkdir()
        Image.new("RGB", (64, 48), colour).save(tmp_path / name / "stylized.jpg")
    runs = pd.DataFrame([{"setting": s, "content": "cat", "style": "wave", "status": "ok", "error": "",
                          "out": str(tmp_path / s)} for s in ("a", "b")])
    path = image_grid(runs, tmp_path / "grid.jpg", size=64)
    sheet = np.asarray(Image.open(path).convert("RGB")).astype(int)
    left, top = 150, sheet.shape[0] - 68  # one row, 64 px cells 4 px apart under the column labels
    assert sheet[top + 20, left + 30, 0] > 200 and sheet[top + 20, left + 68 + 30, 2] > 200  # a red, then b blue
    assert (sheet[top + 56, left + 30] > 240).all()  # below the 48-px-high output: still white

    before = path.read_bytes()
    for s in ("a", "b"):
        (tmp_path / s / "stylized.jpg").unlink()
    assert image_grid(runs, path, size=64) == path and path.read_bytes() == before
    assert image_grid(runs, tmp_path / "none.jpg", size=64) is None
