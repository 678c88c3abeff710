"""TransformerNet and its training module (the network only; a trained checkpoint comes from a real run)."""

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from nst_bench.data.images import load_image
from nst_bench.losses.objective import PerceptualObjective
from nst_bench.methods.fast import FastStyleModule, TransformerNet

from .conftest import CONTENT, STYLE, STYLE2


@pytest.mark.parametrize("output", ["tanh", "sigmoid", "clamp"])
def test_output_is_an_image_of_the_input_size(output):
    net = TransformerNet(width=8, blocks=1, output=output)
    y = net.stylize(torch.rand(2, 3, 37, 50))
    assert y.shape == (2, 3, 37, 50) and y.min() >= 0 and y.max() <= 1


def test_n_style_network_blends_by_weight():
    torch.manual_seed(0)
    net = TransformerNet(width=8, blocks=1, n_styles=3)
    for m in net.modules():
        if hasattr(m, "gamma"):
            torch.nn.init.normal_(m.gamma, 1.0, 0.5)
            torch.nn.init.normal_(m.beta, 0.0, 0.5)
    x = torch.rand(1, 3, 32, 32)
    a, b = net.stylize(x, [1, 0, 0]), net.stylize(x, [0, 1, 0])
    mix = net.stylize(x, [0.5, 0.5, 0])
    assert not torch.allclose(a, b) and not torch.allclose(mix, a) and not torch.allclose(mix, b)
    with pytest.raises(ValueError, match="2 style weights for a network of 3"):
        net.stylize(x, [1, 0])


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


def test_random_crops_continue_the_same_stream_after_a_resume():
    from nst_bench.data.datasets import RandomCrops

    paths = [CONTENT, STYLE, STYLE2]
    whole = RandomCrops(paths, 32, count=10, seed=3)
    resumed = RandomCrops(paths, 32, count=4, seed=3, first=6)
    assert all(torch.equal(resumed[i], whole[6 + i]) for i in range(4))
    assert whole[0].shape == (3, 32, 32) and not torch.equal(whole[0], whole[1])


def test_network_file_round_trips_and_foreign_files_are_refused(tmp_path):
    from nst_bench.errors import UserError
    from nst_bench.methods.fast import load_network, save_network

    torch.manual_seed(1)
    net = TransformerNet(width=8, blocks=1, n_styles=2, output="tanh")
    save_network(net, tmp_path / "net.safetensors", styles=["a.jpg", "b.jpg"], step=7)
    loaded, meta = load_network(tmp_path / "net.safetensors")
    x = torch.rand(1, 3, 24, 24)
    assert torch.equal(loaded.stylize(x, [0.2, 0.8]), net.stylize(x, [0.2, 0.8]))
    assert meta["step"] == 7 and meta["styles"] == ["a.jpg", "b.jpg"] and loaded.output == "tanh"
    torch.save(net.state_dict(), tmp_path / "pickle.safetensors")
    with pytest.raises(UserError, match="not a safetensors file"):
        load_network(tmp_path / "pickle.safetensors")
    with pytest.raises(UserError, match="train one with"):
        load_network(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_exported_fast_network_matches_eager_at_other_sizes(tmp_path, suffix):
    from nst_bench.methods.fast import save_network
    from nst_bench.recipes.export import export

    save_network(TransformerNet(width=8, blocks=1, n_styles=3), tmp_path / "net.safetensors", styles=["a", "b", "c"])
    r = export("fast", tmp_path / f"net{suffix}", str(tmp_path / "net.safetensors"))
    assert r["check_shape"] == (2, 3, 200, 298) and r["max_abs_diff"] < 1e-4 and r["bytes"] > 10_000


def test_exported_adain_matches_eager(tmp_path):
    from nst_bench.recipes.export import export

    r = export("adain", tmp_path / "adain.onnx")
    assert r["check_shape"] == (1, 3, 200, 296) and r["max_abs_diff"] < 1e-4
