from pathlib import Path

import pytest
import torch

from nst_bench.data.images import load_image
from nst_bench.errors import UserError
from nst_bench.nets.backbones import build_backbone

from .conftest import CONTENT, SHARED


def test_normalised_vgg19_input_transform_is_caffe_bgr(vgg19):
    red = torch.zeros(1, 3, 1, 1)
    red[0, 0] = 1.0
    out = vgg19.preprocess(red).flatten()
    # BGR x 255 minus the Caffe mean (103.939, 116.779, 123.68): red lands in the last channel
    assert out[2].item() == pytest.approx(255 - 123.68, abs=1.0)
    assert out[0].item() == pytest.approx(-103.939, abs=1.0)


def test_one_pass_returns_every_layer_and_stops_at_the_deepest(vgg19):
    calls = []
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: calls.append(n)) for n, m in vgg19.body.named_children()]
    x = torch.rand(1, 3, 64, 64)
    feats = vgg19(x, ["conv1_1", "relu2_1", "conv3_1"])
    for h in hooks:
        h.remove()
    assert {k: v.shape for k, v in feats.items()} == {
        "conv1_1": (1, 64, 64, 64), "relu2_1": (1, 128, 32, 32), "conv3_1": (1, 256, 16, 16)}
    assert calls[-1] == "conv3_1" and "relu3_1" not in calls
    assert (feats["conv1_1"] < 0).any(), "conv outputs must not be rectified in place"


def test_unknown_layer_lists_valid_ones_and_keras_names_work(vgg19):
    with pytest.raises(UserError, match="valid layers: conv1_1, relu1_1"):
        vgg19(torch.rand(1, 3, 32, 32), ["conv9_9"])
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(vgg19(x, ["block4_conv2"])["block4_conv2"], vgg19(x, ["conv4_2"])["conv4_2"])


def test_average_pooling_changes_deep_features():
    x = torch.rand(1, 3, 32, 32)
    a = build_backbone("vgg19", pooling="max")(x, ["conv3_1"])["conv3_1"]
    b = build_backbone("vgg19", pooling="avg")(x, ["conv3_1"])["conv3_1"]
    assert a.shape == b.shape and not torch.allclose(a, b)
    with pytest.raises(UserError, match="pooling"):
        build_backbone("vgg19", pooling="median")


def test_vgg16_from_the_weights_directory():
    enc = build_backbone("vgg16_tv")
    assert enc.weights.source == "weights_dir"
    assert "conv4_3" in enc.layer_names and "conv4_4" not in enc.layer_names
    # first conv bias as documented in ../shared/weights/README.md
    conv = enc.convs()[0]
    assert conv.bias[:3].tolist() == pytest.approx([0.4034, 0.3778, 0.4644], abs=1e-3)


def test_efficientnet_lite0_classifies_imagenet_images(effnet):
    """The bundled weights, renamed by position into timm's layout, must be a working ImageNet classifier."""
    import timm

    files = sorted((SHARED / "data" / "imagenet_sample").glob("n*.JPEG"))[:12]
    model = effnet.model
    names = timm.data.ImageNetInfo().label_names()
    hits = 0
    for f in files:
        x = load_image(f, 224)
        logits = model(effnet.preprocess(x))
        hits += names[logits.argmax().item()] == f.name.split("_")[0]
    assert hits >= 6, f"only {hits}/12 correct"
    assert effnet.layer_names == ("blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6")
    feats = effnet(torch.rand(1, 3, 64, 64), ["blocks.1", "blocks.0"])
    assert feats["blocks.0"].shape[-1] == 32 and feats["blocks.1"].shape[-1] == 16


def test_unknown_backbone_and_missing_weights_are_user_errors(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="registered: vgg19"):
        build_backbone("vgg99")
    monkeypatch.setenv("NST_BENCH_WEIGHTS", str(tmp_path))
    from nst_bench.nets import weights as W

    monkeypatch.setattr(W, "torch_cache_dir", lambda: Path(tmp_path))
    with pytest.raises(UserError, match="no weights for resnet50"):
        build_backbone("resnet50")


def test_content_image_features_are_not_random(vgg19):
    """Real weights respond to a photo very differently from a random trunk."""
    x = load_image(CONTENT, 128)
    real = vgg19(x, ["relu4_1"])["relu4_1"]
    random_trunk = build_backbone("vgg19")
    torch.manual_seed(0)
    for conv in random_trunk.convs():
        torch.nn.init.kaiming_normal_(conv.weight)
    assert not torch.allclose(real, random_trunk(x, ["relu4_1"])["relu4_1"], rtol=0.1)


def test_any_timm_model_from_an_explicit_checkpoint(tmp_path, monkeypatch):
    import timm

    model = timm.create_model("resnet18", pretrained=False)
    torch.save(model.state_dict(), tmp_path / "r18.pth")
    enc = build_backbone("timm:resnet18", weights=str(tmp_path / "r18.pth"))
    assert enc.layer_names == ("act1", "layer1", "layer2", "layer3", "layer4")
    assert enc.weights.source == "explicit" and len(enc.weights.sha256) == 64
    feats = enc(torch.rand(1, 3, 64, 64), ["layer2", "act1"])
    assert feats["layer2"].shape == (1, 128, 8, 8) and feats["act1"].shape == (1, 64, 32, 32)
    ref = model.eval().forward_intermediates(enc.preprocess(torch.ones(1, 3, 64, 64)), indices=[2],
                                             intermediates_only=True)[0]
    assert torch.allclose(enc(torch.ones(1, 3, 64, 64), ["layer2"])["layer2"], ref, atol=1e-5)
    with pytest.raises(UserError, match="no weights for timm model resnet18"):
        build_backbone("timm:resnet18")
    with pytest.raises(UserError, match="timm has no model"):
        build_backbone("timm:not_a_model")
