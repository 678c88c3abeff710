"""TransformerNet and its training module (the network only; a trained checkpoint comes from a real run)."""

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from nst_bench.images import load_image
from nst_bench.losses import PerceptualObjective
from nst_bench.methods.fast import FastStyleModule, TransformerNet

from .conftest import CONTENT, STYLE, STYLE2


@pytest.mark.parametrize("output", ["tanh", "sigmoid", "clamp"])
def test_output_is_an_image_of_the_input_size(output):
    net = TransformerNet(width=8, blocks=1, output=output)
    y = net(torch.rand(2, 3, 37, 50))
    assert y.shape == (2, 3, 37, 50) and y.min() >= 0 and y.max() <= 1


def test_n_style_network_blends_by_weight():
    torch.manual_seed(0)
    net = TransformerNet(width=8, blocks=1, n_styles=3)
    for m in net.modules():
        if hasattr(m, "gamma"):
            torch.nn.init.normal_(m.gamma, 1.0, 0.5)
            torch.nn.init.normal_(m.beta, 0.0, 0.5)
    x = torch.rand(1, 3, 32, 32)
    a, b = net(x, [1, 0, 0]), net(x, [0, 1, 0])
    mix = net(x, [0.5, 0.5, 0])
    assert not torch.allclose(a, b) and not torch.allclose(mix, a) and not torch.allclose(mix, b)
    with pytest.raises(ValueError, match="2 style weights for a network of 3"):
        net(x, [1, 0])


def test_training_lowers_the_perceptual_loss(vgg19):
    torch.manual_seed(0)
    obj = PerceptualObjective(vgg19, ["conv2_1"], ["conv1_1", "conv2_1"], content_weight=1.0, style_weight=5.0,
                              tv_weight=0.0)
    grams = [obj.compute_style_grams(load_image(s, 48)) for s in (STYLE, STYLE2)]
    crop = load_image(CONTENT, 48)[..., :32, :32]
    module = FastStyleModule(TransformerNet(width=8, blocks=1, n_styles=2), obj, grams, lr=1e-3)
    data = DataLoader([crop[0]] * 60, batch_size=2)
    pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False).fit(module, data)
    first, last = module.history[0]["total"], module.history[-1]["total"]
    assert len(module.history) == 30 and last < 0.5 * first
