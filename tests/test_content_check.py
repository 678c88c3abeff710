"""The content check of feed-forward networks: it flags a network that paints the same texture over every photo
and passes the identity and pretrained AdaIN."""

from __future__ import annotations

import pytest
import torch

from nst_bench.data.images import list_images, load_image, resize
from nst_bench.losses.objective import PerceptualObjective
from nst_bench.methods.adain import AdaIN
from nst_bench.nets.content_check import FLOOR, ContentCheck, identified, lpips_vgg, similarity_to_photo, top5_agreement
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
    assert check.floor == pytest.approx(FLOOR * check.reference["identified"])
    row = check(photos)
    assert row["collapsed"] is False and row["identified"] == 1.0 and row["ssim"] > 0.99 and row["lpips"] < 0.01


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


def test_a_network_that_ignores_its_input_is_flagged_collapsed_in_the_training_samples(check, photos, vgg19):
    if check.lpips is None:
        pytest.skip("LPIPS needs the VGG-16 weights (vgg16_tv), which are not here")
    objective = PerceptualObjective(vgg19, ["conv4_2"], ["conv1_1", "conv2_1"], content_weight=1.0,
                                    style_weight=1.0, tv_weight=0.0)
    grams = [objective.compute_style_grams(load_image(STYLE, 256))]
    _, texture = evaluate_samples(Texture(load_image(STYLE, 256)), objective, photos, grams, check)
    assert texture["collapsed"] == 1.0 and texture["identified"] == pytest.approx(1 / len(photos))
    assert texture["identified"] < check.floor and texture["ssim"] < 0.3
    _, identity = evaluate_samples(Identity(), objective, photos, grams, check)
    assert identity["collapsed"] == 0.0 and identity["identified"] == 1.0 and identity["top5_agreement"] == 1.0
