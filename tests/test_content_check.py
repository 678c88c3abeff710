"""The content check of feed-forward networks: it flags a network that paints the same texture over every photo
and passes the identity and pretrained AdaIN."""

from __future__ import annotations

import pytest
import torch

from nst_bench.data.images import list_images, load_image, resize
from nst_bench.losses.objective import PerceptualObjective
from nst_bench.methods.adain import AdaIN
from nst_bench.nets.content_check import (
    FLOOR,
    ContentCheck,
    identified,
    lpips_features,
    lpips_maps,
    lpips_vgg,
    similarity_to_photo,
    top5_agreement,
)
from nst_bench.recipes.train_fast import evaluate_samples
from nst_bench.recipes.training import sample_photos

from .conftest import SHARED, STYLE

IMAGENET = SHARED / "data" / "imagenet_sample"


@pytest.fixture(scope="module")
def photos():
    if not IMAGENET.is_dir():
        pytest.skip("../shared/data/imagenet_sample is not here")
    return sample_photos(list_images(IMAGENET)[::25], 224)  # 8 photos of 8 unrelated classes


@pytest.fixture(scope="module")
def check(photos):
    style = load_image(STYLE, 256)
    adain = AdaIN()
    with torch.no_grad():
        return ContentCheck.build(photos, references=[adain(photos, [style])])


class Texture(torch.nn.Module):
    """A 'network' that ignores its input: the same painting for every photo (what a collapsed network does)."""

    n_styles = 1

    def __init__(self, texture: torch.Tensor) -> None:
        super().__init__()
        self.texture = texture

    def stylize(self, x: torch.Tensor, style_weights=None) -> torch.Tensor:
        return resize(self.texture, tuple(x.shape[-2:])).expand(len(x), -1, -1, -1)


class Identity(Texture):
    def __init__(self) -> None:
        torch.nn.Module.__init__(self)

    def stylize(self, x: torch.Tensor, style_weights=None) -> torch.Tensor:
        return x


def test_identity_agrees_fully_and_adain_sets_a_floor_below_it(check, photos):
    if check.lpips is None:
        pytest.skip("LPIPS needs the VGG-16 weights (vgg16_tv), which are not here")
    assert float(top5_agreement(check.classifier, photos, photos).mean()) == 1.0
    assert check.reference["identified"] >= 0.8  # AdaIN keeps these photos: most are nearest their own
    assert check.reference["identified_local"] >= 0.6
    assert check.floors == pytest.approx({k: FLOOR * check.reference[k] for k in ("identified", "identified_local")})
    row = check(photos)
    assert row["collapsed"] is False and row["identified"] == 1.0 and row["identified_local"] == 1.0
    assert row["ssim"] > 0.99 and row["lpips"] < 0.01


def test_similarity_to_photo_is_perfect_for_the_photo_and_low_for_a_texture_of_another_size(photos):
    if lpips_vgg() is None:
        pytest.skip("LPIPS needs the VGG-16 weights (vgg16_tv), which are not here")
    photo = photos[:1]
    same = similarity_to_photo(photo, photo)
    assert same["ssim"] > 0.99 and same["lpips"] < 0.01
    other = similarity_to_photo(photo, load_image(STYLE, 100))  # another picture, resized to the photo's size
    assert other["ssim"] < 0.5 and other["lpips"] > 0.3


def test_identified_counts_outputs_whose_nearest_photo_is_their_own():
    distances = torch.tensor([[0.1, 0.5, 0.9], [0.2, 0.4, 0.3], [0.9, 0.8, 0.7]])
    assert identified(distances).tolist() == [True, False, True]
    tiles = torch.stack([distances, distances.T], dim=-1)[..., None]  # two tiles per output: N x N x 2 x 1
    assert identified(tiles)[..., 0].tolist() == [[True, True], [False, True], [True, False]]


def test_lpips_maps_match_torchmetrics_lpips_and_average_to_it_over_the_tiles(photos):
    lpips = lpips_vgg()
    if lpips is None:
        pytest.skip("LPIPS needs the VGG-16 weights (vgg16_tv), which are not here")
    photos = resize(photos, (256, 256))  # every layer's map (256 ... 16 px) splits evenly into 4 x 4 tiles
    outputs = photos.flip(0)
    with torch.no_grad():
        whole, tiles = lpips_maps(lpips, photos[:3], outputs[:3])
        expected = torch.stack([lpips(o[None].expand(3, -1, -1, -1), photos[:3], normalize=True).flatten()
                                for o in outputs[:3]])
    assert whole.shape == (3, 3) and tiles.shape == (3, 3, 4, 4)
    assert torch.allclose(whole, expected, atol=1e-5)
    assert torch.allclose(tiles.mean((-2, -1)), whole, atol=1e-5)


def test_lpips_maps_by_the_expanded_square_equal_the_pairwise_definition_on_uneven_tiles(photos):
    """At 100 px the deeper maps (25, 12, 6 px) do not split evenly into 4 x 4 tiles: adaptive pooling's
    overlapping bins, computed from each pair's own distance map, are the definition the fast path must meet."""
    lpips = lpips_vgg()
    if lpips is None:
        pytest.skip("LPIPS needs the VGG-16 weights (vgg16_tv), which are not here")
    photos = resize(photos, (100, 100))[:3]
    outputs = (0.6 * photos.flip(0) + 0.4 * photos).clamp(0, 1)
    with torch.no_grad():
        whole, tiles = lpips_maps(lpips, lpips_features(lpips, photos), outputs, chunk=2)
        a, b = lpips_features(lpips, photos), lpips_features(lpips, outputs)
        maps = [[[lin((x[i:i + 1] - y[j:j + 1]) ** 2)[0, 0] for lin, x, y in zip(lpips.lins, b, a)]
                 for j in range(3)] for i in range(3)]
    expected_whole = torch.tensor([[sum(float(m.mean()) for m in pair) for pair in row] for row in maps])
    expected_tiles = torch.stack([torch.stack([sum(torch.nn.functional.adaptive_avg_pool2d(m[None], 4)[0]
                                                   for m in pair) for pair in row]) for row in maps])
    assert torch.allclose(whole, expected_whole, atol=1e-4)
    assert torch.allclose(tiles, expected_tiles, atol=1e-5)


def test_the_tiles_flag_an_output_that_keeps_only_a_strip_of_each_photo(check, photos):
    """What Starry Night's network did at step 100: the photo's outline in one place, texture everywhere else.
    The whole-image question passes it; the tiles do not."""
    if check.lpips is None:
        pytest.skip("LPIPS needs the VGG-16 weights (vgg16_tv), which are not here")
    texture = resize(load_image(STYLE, 256), tuple(photos.shape[-2:])).expand_as(photos).clone()
    texture[..., : photos.shape[-2] // 4, :] = photos[..., : photos.shape[-2] // 4, :]  # the top quarter kept
    row = check(texture)
    assert row["identified"] >= check.floors["identified"]
    assert row["identified_local"] < check.floors["identified_local"] and row["collapsed"] is True


def test_a_network_that_ignores_its_input_is_flagged_collapsed_in_the_training_samples(check, photos, vgg19):
    if check.lpips is None:
        pytest.skip("LPIPS needs the VGG-16 weights (vgg16_tv), which are not here")
    objective = PerceptualObjective(vgg19, ["conv4_2"], ["conv1_1", "conv2_1"], content_weight=1.0,
                                    style_weight=1.0, tv_weight=0.0)
    grams = [objective.compute_style_grams(load_image(STYLE, 256))]
    _, texture = evaluate_samples(Texture(load_image(STYLE, 256)), objective, photos, grams, check)
    assert texture["collapsed"] == 1.0 and texture["identified"] == pytest.approx(1 / len(photos))
    assert texture["identified"] < check.floors["identified"] and texture["ssim"] < 0.3
    assert texture["identified_local"] == pytest.approx(1 / len(photos))  # one photo is nearest, per tile
    _, identity = evaluate_samples(Identity(), objective, photos, grams, check)
    assert identity["collapsed"] == 0.0 and identity["identified"] == 1.0 and identity["top5_agreement"] == 1.0
