import pytest
import torch
import torch.nn.functional as F

from nst_bench.losses.objective import PerceptualObjective
from nst_bench.losses.terms import blend_grams, gram, style_layer_loss, total_variation


def _feats(seed, c=8, h=5, w=6):
    return torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_paper_normalisation_matches_gatys_formula():
    x, s = _feats(0), _feats(1)
    n, m = x.shape[1], x.shape[2] * x.shape[3]
    fx, fs = x.reshape(n, m), s.reshape(n, m)
    expected = ((fx @ fx.T - fs @ fs.T) ** 2).sum() / (4 * n**2 * m**2)
    assert style_layer_loss(gram(x), gram(s), "paper").item() == pytest.approx(expected.item(), rel=1e-5)


def test_mse_chw_normalisation_is_mse_of_g_over_chw():
    x, s = _feats(0), _feats(1)
    c, h, w = x.shape[1:]
    fx, fs = x.reshape(c, -1), s.reshape(c, -1)
    expected = F.mse_loss(fx @ fx.T / (c * h * w), fs @ fs.T / (c * h * w))
    assert style_layer_loss(gram(x), gram(s), "mse_chw").item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="paper, mse_chw, mse_hw"):
        style_layer_loss(gram(x), gram(s), "bogus")


def test_blended_target_has_the_gradient_of_the_weighted_losses():
    a, b = {"l": gram(_feats(1))}, {"l": gram(_feats(2))}
    target = blend_grams([a, b], [3.0, 1.0])  # normalised to 0.75 / 0.25
    assert torch.allclose(target["l"], 0.75 * a["l"] + 0.25 * b["l"])
    x1 = _feats(0).requires_grad_(True)
    style_layer_loss(gram(x1), target["l"], "mse_hw").backward()
    x2 = _feats(0).requires_grad_(True)
    g = gram(x2)
    (0.75 * style_layer_loss(g, a["l"], "mse_hw") + 0.25 * style_layer_loss(g, b["l"], "mse_hw")).backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)


def test_total_variation_beta():
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert total_variation(flat).item() == 0
    noisy = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    smooth = F.avg_pool2d(noisy, 3, 1, 1)
    assert total_variation(noisy) > total_variation(smooth)
    ramp = torch.linspace(0, 1, 8).repeat(1, 3, 8, 1)  # dx = 1/7 everywhere, dy = 0
    assert total_variation(ramp, beta=1.0).item() == pytest.approx(1 / 7, rel=1e-3)
    assert total_variation(ramp, beta=2.0).item() == pytest.approx(1 / 49, rel=1e-3)


def test_objective_reports_each_weighted_term(vgg19):
    obj = PerceptualObjective(vgg19, ["conv2_1"], ["conv1_1", "conv2_1"], content_weight=2.0, style_weight=3.0,
                              tv_weight=4.0, style_layer_weights=[0.25, 0.75])
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    obj.set_content(content)
    obj.set_style(blend_grams([obj.style_grams(style)], [1.0]))
    x = torch.rand(1, 3, 32, 32)
    t = obj(x)
    assert t["total"].item() == pytest.approx((t["content"] + t["style"] + t["tv"]).item(), rel=1e-6)
    assert t["style"].item() == pytest.approx(3.0 * (t["style/conv1_1"] + t["style/conv2_1"]).item(), rel=1e-5)
    assert t["tv"].item() == pytest.approx(4.0 * total_variation(x).item(), rel=1e-5)
    assert obj(content)["content"].item() == 0
