from pathlib import Path

import pytest
import torch

from nst_bench.errors import UserError
from nst_bench.evaluate.protocol import assign_paintings, every_nth
from nst_bench.nets.classifier import evaluation_view


def _paintings(**counts: int) -> dict[str, list[Path]]:
    return {a: [Path(f"{a}/{i:03d}.jpg") for i in range(n)] for a, n in counts.items()}


def test_each_photo_draws_k_distinct_paintings_per_artist_and_adding_photos_or_artists_changes_no_draw():
    photos = [Path(f"n{i:08d}_x.jpg") for i in range(20)]
    pairs = assign_paintings(photos, _paintings(monet=240, hokusai=7), k=2, seed=0)
    assert len(pairs) == 20 * 2 * 2
    for photo in photos:
        for artist in ("monet", "hokusai"):
            drawn = [p.painting for p in pairs if p.photo == photo and p.artist == artist]
            assert len(set(drawn)) == 2
    more = assign_paintings([*photos, Path("n99999999_y.jpg")], _paintings(monet=240, hokusai=7, degas=5), 2, 0)
    assert [p for p in more if p.artist != "degas" and p.photo in photos] == pairs
    assert assign_paintings(photos, _paintings(monet=240, hokusai=7), 2, 1) != pairs  # the seed matters
    used = {p.painting for p in pairs if p.artist == "monet"}
    assert len(used) > 20  # paintings vary across photos: the painting is a factor, not a constant
    with pytest.raises(UserError, match="fewer than k=3"):
        assign_paintings(photos, _paintings(monet=240, one=2), k=3, seed=0)


def test_the_classifier_view_is_the_centre_square_of_the_resized_photo_and_never_smaller():
    image = torch.rand(1, 3, 300, 450)
    view = evaluation_view(image, 224, 0.875)
    assert view.shape == (1, 3, 224, 224)
    assert evaluation_view(torch.rand(1, 3, 100, 400), 260, 0.89).shape == (1, 3, 260, 260)


def test_every_nth_is_a_sorted_stride():
    photos = [Path(f"{c}.jpg") for c in "hgfedcba"]
    assert every_nth(photos, 4) == [Path("a.jpg"), Path("e.jpg")]
    with pytest.raises(UserError):
        every_nth(photos, 0)
