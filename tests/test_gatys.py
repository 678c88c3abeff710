import itertools

import pytest
import torch

from nst_bench.config import GatysConfig, OptimizerConfig
from nst_bench.data.images import load_image, rgb_to_yiq
from nst_bench.losses.objective import PerceptualObjective
from nst_bench.methods.gatys import stylize

from .conftest import CONTENT, STYLE, STYLE2

LAYERS = (["conv4_2"], ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"])


def _run(vgg19, size=64, steps=15, optim="lbfgs", lr=1.0, init="content", scales=(1.0,), preserve=False,
         styles=(STYLE,), blend=(1.0,), seed=0, style_weight=5.0, scale_steps=None, stop_below=None,
         line_search_steps=None):
    content = load_image(CONTENT, size)
    style_imgs = [load_image(s, size) for s in styles]
    obj = PerceptualObjective(vgg19, *LAYERS, content_weight=1.0, style_weight=style_weight, tv_weight=0.0)
    return content, stylize(content, style_imgs, list(blend), obj,
                            GatysConfig(init=init, scales=list(scales), preserve_color=preserve,
                                        scale_steps=scale_steps),
                            OptimizerConfig(name=optim, lr=lr, steps=steps, line_search_steps=line_search_steps),
                            seed=seed, progress=False, stop_below=stop_below)


def test_lbfgs_lowers_style_loss_and_changes_the_image(vgg19):
    content, r = _run(vgg19)
    assert r.iterations == 15 and len(r.history) == 15
    assert r.history[0]["style"] / r.final["style"] > 5
    assert r.final["total"] < r.history[0]["total"]
    assert (r.image - content).abs().mean() > 0.02
    assert r.image.min() >= 0 and r.image.max() <= 1


def test_lbfgs_runs_on_a_channels_last_photo(vgg19):
    """A photo whose strides are not contiguous (here channels-last) made L-BFGS fail in view(-1) of its gradient:
    every Gatys stylization of the retention pilot failed so."""
    content = load_image(CONTENT, 64).contiguous(memory_format=torch.channels_last)
    obj = PerceptualObjective(vgg19, *LAYERS, content_weight=1.0, style_weight=5.0, tv_weight=0.0)
    r = stylize(content, [load_image(STYLE, 64)], [1.0], obj, GatysConfig(), OptimizerConfig(steps=3), seed=0,
                progress=False)
    assert r.iterations == 3 and r.final["total"] < r.history[0]["total"]


def test_adam_lowers_the_total_loss(vgg19):
    _, r = _run(vgg19, optim="adam", lr=0.02, steps=20)
    assert r.final["total"] < 0.5 * r.history[0]["total"]


def test_noise_init_is_seeded(vgg19):
    _, a = _run(vgg19, init="noise", steps=3, seed=1)
    _, b = _run(vgg19, init="noise", steps=3, seed=1)
    _, c = _run(vgg19, init="noise", steps=3, seed=2)
    assert torch.equal(a.image, b.image) and not torch.allclose(a.image, c.image)


def test_two_styles_blend_between_single_styles(vgg19):
    """A 0.5/0.5 blend ends up with a style loss to each painting between the two single-style runs'."""
    _, only_a = _run(vgg19, styles=(STYLE,))
    _, only_b = _run(vgg19, styles=(STYLE2,))
    _, both = _run(vgg19, styles=(STYLE, STYLE2), blend=(0.5, 0.5))
    assert not torch.allclose(both.image, only_a.image) and not torch.allclose(both.image, only_b.image)
    assert (both.image - only_a.image).abs().mean() < (only_b.image - only_a.image).abs().mean()


def test_coarse_to_fine_ends_at_full_size(vgg19):
    content, r = _run(vgg19, size=96, steps=5, scales=(0.5, 1.0))
    assert r.sizes == [(32, 48), (64, 96)] and r.image.shape[-2:] == content.shape[-2:]
    assert r.iterations == 10 and len(r.extra["per_scale_seconds"]) == 2


def test_scale_steps_set_the_iterations_of_each_scale_and_seconds_run_on_across_scales(vgg19):
    _, r = _run(vgg19, size=96, scales=(0.5, 1.0), scale_steps=[6, 3])
    assert r.iterations == 9 and [row["step"] for row in r.history] == list(range(9))
    seconds = [row["seconds"] for row in r.history]
    assert seconds == sorted(seconds) and seconds[-1] >= sum(r.extra["per_scale_seconds"]) * 0.9


def test_stop_below_ends_the_last_scale_at_that_loss_and_not_before(vgg19):
    _, full = _run(vgg19, steps=15)
    target = full.history[6]["total"]
    _, r = _run(vgg19, steps=15, stop_below=target)
    assert r.iterations < 15 and r.history[-1]["total"] < target <= r.history[-2]["total"]
    _, c2f = _run(vgg19, size=96, scales=(0.5, 1.0), scale_steps=[5, 40], stop_below=1e-12)  # never reached
    assert c2f.iterations == 45


def test_a_pyramid_parameterisation_optimises_the_same_loss_of_the_same_pixels(vgg19):
    from nst_bench.methods.gatys import PixelModule

    content, style = load_image(CONTENT, 64), load_image(STYLE, 64)
    obj = PerceptualObjective(vgg19, *LAYERS, content_weight=1.0, style_weight=5.0, tv_weight=0.0)
    obj.set_content(content)
    obj.set_style(obj.style_grams(style))
    module = PixelModule(obj, content, OptimizerConfig(), levels=4)
    assert [tuple(p.shape[-2:]) for p in module.coarse] == [(21, 32), (11, 16), (6, 8)]
    assert torch.equal(module.picture, content)  # coarse levels start at zero: the start image is unchanged
    plain = stylize(content, [style], [1.0], obj, GatysConfig(), OptimizerConfig(line_search=None, steps=10),
                    progress=False)
    pyr = stylize(content, [style], [1.0], obj, GatysConfig(pyramid=4), OptimizerConfig(line_search=None, steps=10),
                  progress=False)
    assert pyr.history[0]["total"] == pytest.approx(plain.history[0]["total"], rel=1e-6)
    assert pyr.final["total"] < 0.5 * pyr.history[0]["total"]
    assert not torch.allclose(pyr.image, plain.image) and pyr.image.min() >= 0 and pyr.image.max() <= 1


def test_line_search_steps_search_only_at_the_start_and_after_a_rise(vgg19):
    from nst_bench.methods.gatys import PixelModule

    content = load_image(CONTENT, 32)
    obj = PerceptualObjective(vgg19, *LAYERS, content_weight=1.0, style_weight=5.0, tv_weight=0.0)
    module = PixelModule(obj, content, OptimizerConfig(line_search_steps=2))
    opt = module.configure_optimizers()
    searched = []
    for iteration, total in enumerate([9.0, 8.0, 7.0, 6.0, 6.5, 5.0, 4.0, 3.0]):
        module.choose_line_search(opt, iteration)
        searched.append(opt.param_groups[0]["line_search_fn"] is not None)
        module.history.append({"total": total})
    # iterations 0-1 search; the rise recorded at iteration 4 makes 5 and 6 search again
    assert searched == [True, True, False, False, False, True, True, False]
    _, always = _run(vgg19, steps=12)
    _, budget = _run(vgg19, steps=12, line_search_steps=2)
    assert 12 <= budget.evaluations < always.evaluations
    assert budget.final["total"] < 0.5 * budget.history[0]["total"]


def test_keep_best_ends_on_the_lowest_loss_image_when_l_bfgs_without_a_line_search_rises(vgg19):
    content = load_image(CONTENT, 48)
    obj = PerceptualObjective(vgg19, *LAYERS, content_weight=1.0, style_weight=5.0, tv_weight=0.0)

    def run(keep_best: bool):  # a step 3x too long: the loss rises and falls again
        return stylize(content, [load_image(STYLE, 48)], [1.0], obj, GatysConfig(),
                       OptimizerConfig(steps=12, lr=3.0, line_search=None, keep_best=keep_best), progress=False)

    last, best = run(False), run(True)
    totals = [row["total"] for row in best.history]
    assert [row["total"] for row in last.history] == pytest.approx(totals)  # the same trajectory
    assert any(b > a for a, b in itertools.pairwise(totals)), "the test needs a run whose loss rises"
    (step,) = best.extra["best_steps"]
    assert totals[step] == min(totals) and best.final["total"] == pytest.approx(min(totals), rel=1e-4)
    assert "best_steps" not in last.extra and not torch.equal(best.image, last.image)


def test_a_finer_scale_starts_at_its_own_content_plus_the_upsampled_change_of_the_scale_before(vgg19, monkeypatch):
    from nst_bench.data.images import resize
    from nst_bench.methods import gatys

    starts, modules = [], []
    real = gatys.optimise_pixels

    def spy(objective, start, *args, **kwargs):
        starts.append(start.clone())
        modules.append(real(objective, start, *args, **kwargs))
        return modules[-1]

    monkeypatch.setattr(gatys, "optimise_pixels", spy)
    content, _ = _run(vgg19, size=96, scales=(0.5, 1.0), scale_steps=[6, 1])
    coarse_content = resize(content, starts[0].shape[-2:])
    change = modules[0].picture - coarse_content
    assert change.abs().mean() > 0.01  # the coarse scale stylized
    expected = (content + resize(change, content.shape[-2:])).clamp(0, 1)
    assert torch.allclose(starts[1], expected, atol=1e-6)
    # plain upsampling of the coarse picture would blur the photo: the residual start keeps more of it
    blurred = resize(modules[0].picture, content.shape[-2:])
    assert (starts[1] - content).abs().mean() < (blurred - content).abs().mean()


def test_preserve_color_keeps_content_chrominance(vgg19):
    content, r = _run(vgg19, preserve=True, steps=5)
    inside = (r.image > 0.01) & (r.image < 0.99)
    iq_out, iq_content = rgb_to_yiq(r.image)[:, 1:], rgb_to_yiq(content)[:, 1:]
    mask = inside.all(dim=1, keepdim=True).expand_as(iq_out)
    assert (iq_out - iq_content)[mask].abs().max() < 1e-3


def test_nan_loss_stops_and_keeps_the_last_finite_image(vgg19):
    content, r = _run(vgg19, style_weight=float("nan"), steps=5)
    assert r.diverged_at == 0 and r.iterations == 0
    assert torch.equal(r.image, content)


@pytest.mark.parametrize("name", ["vgg16_tv", "efficientnet_lite0"])
def test_other_backbones_optimise(name):
    from nst_bench.nets.backbones import build_backbone

    enc = build_backbone(name)
    content, style = load_image(CONTENT, 64), load_image(STYLE, 64)
    obj = PerceptualObjective(enc, enc.default_content_layers, enc.default_style_layers, content_weight=1.0,
                              style_weight=5.0, tv_weight=0.0)
    r = stylize(content, [style], [1.0], obj, GatysConfig(), OptimizerConfig(steps=25), progress=False)
    assert r.history[0]["style"] / r.final["style"] > 3
