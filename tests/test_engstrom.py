"""Engstrom's pretrained fast networks (deeplearn.js checkpoint folders): the loader against a small hand-made
checkpoint in the same format, and, where ../shared/weights has them, the real networks through `nst-bench stylize`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nst_bench.cli import main
from nst_bench.errors import UserError
from nst_bench.nets.engstrom import LAYERS, load_engstrom, same_pad

from .conftest import CONTENT, SHARED, STYLE

REAL = SHARED / "weights" / "fast_style_transfer"


def write_checkpoint(folder, widths=(4, 6, 8), seed=0):
    """A 16-layer network of Engstrom's layout with narrow random layers, written as he stores it."""
    rng = np.random.default_rng(seed)
    a, b, c = widths
    channels = [(3, a), (a, b), (b, c)] + [(c, c)] * 10 + [(c, b), (b, a), (a, 3)]
    kernel_sizes = [9, 3, 3] + [3] * 10 + [3, 3, 9]
    manifest = {}
    for i, ((cin, cout), k) in enumerate(zip(channels, kernel_sizes)):
        # conv kernels are [kh, kw, in, out]; transposed-conv kernels [kh, kw, out, in]
        shape = [k, k, cout, cin] if LAYERS[i][0] == "transpose" else [k, k, cin, cout]
        for j, array in enumerate([rng.normal(0, 0.1, shape), rng.normal(0, 0.1, cout), 1 + rng.normal(0, 0.1, cout)]):
            name = f"Variable_{3 * i + j}" if 3 * i + j else "Variable"
            array.astype("<f4").tofile(folder / name)
            manifest[name] = {"filename": name, "shape": list(array.shape)}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_same_padding_puts_the_odd_pixel_at_the_bottom_right():
    x = torch.ones(1, 1, 6, 5)
    padded = same_pad(x, 3, 2)  # height 6: out 3, total pad 1 -> (0, 1); width 5: out 3, total pad 2 -> (1, 1)
    assert padded.shape[-2:] == (7, 7)
    assert padded[0, 0, -1].abs().sum() == 0 and padded[0, 0, 0, 1:-1].abs().sum() > 0
    assert same_pad(torch.ones(1, 1, 8, 8), 9, 1).shape[-2:] == (16, 16)


def test_hand_made_checkpoint_loads_with_its_layout_and_keeps_the_input_size(tmp_path):
    folder = write_checkpoint(tmp_path)
    net, meta = load_engstrom(folder)
    raw = np.fromfile(folder / "Variable", dtype="<f4").reshape(9, 9, 3, 4)
    assert torch.equal(net.kernels[0][2, 1, 3, 5], torch.tensor(raw[3, 5, 1, 2]))  # [out, in, kh, kw]
    raw = np.fromfile(folder / "Variable_39", dtype="<f4").reshape(3, 3, 6, 8)
    assert torch.equal(net.kernels[13][7, 5, 0, 2], torch.tensor(raw[0, 2, 5, 7]))  # transposed: [in, out, kh, kw]
    assert meta["n_styles"] == 1 and len(meta["sha256"]) == 64
    x = torch.rand(1, 3, 37, 50, generator=torch.Generator().manual_seed(0))
    y = net(x)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert not torch.allclose(net(x.flip(-1)), y)  # the output depends on the input


def test_first_layer_is_a_same_padded_convolution_of_the_photo_in_0_255(tmp_path):
    net, _ = load_engstrom(write_checkpoint(tmp_path))
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    conv = F.conv2d(F.pad(x * 255, (4, 4, 4, 4)), net.kernels[0])
    var, mean = torch.var_mean(conv, dim=(-2, -1), keepdim=True, correction=0)
    expected = F.relu((conv - mean) / torch.sqrt(var + 1e-3) * net.scales[0][:, None, None]
                      + net.shifts[0][:, None, None])
    assert torch.allclose(net.layer(0, x * 255), expected, atol=1e-4)


def test_damaged_or_foreign_folders_are_refused_in_one_line(tmp_path):
    with pytest.raises(UserError, match=r"no manifest\.json"):
        load_engstrom(tmp_path)
    folder = write_checkpoint(tmp_path)
    (folder / "Variable_3").write_bytes(b"\0" * 8)
    with pytest.raises(UserError, match="damaged"):
        load_engstrom(folder)


def test_a_hand_made_checkpoint_runs_as_method_fast_and_needs_its_style_named(tmp_path, capsys):
    folder = tmp_path / "net"
    folder.mkdir()
    write_checkpoint(folder)
    argv = ["stylize", "--method", "fast", "--checkpoint", str(folder), "--content", str(CONTENT), "--size", "64",
            "--wandb", "disabled", "--no-progress", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "does not record its style image" in capsys.readouterr().err
    assert main([*argv, "--style", str(STYLE)]) == 0, capsys.readouterr().err
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["method_weights"]["format"] == "engstrom/deeplearnjs" and len(m["method_weights"]["sha256"]) == 64


@pytest.mark.skipif(not (REAL / "scream" / "manifest.json").is_file(), reason="Engstrom's networks are not here")
@pytest.mark.parametrize("style", ["la_muse", "scream", "wreck"])
def test_real_networks_restyle_the_photo_and_keep_its_layout(style):
    from nst_bench.data.images import load_image, luminance, resize

    def correlation(a, b):
        return float(torch.corrcoef(torch.stack([luminance(a).flatten(), luminance(b).flatten()]))[0, 1])

    net, _ = load_engstrom(REAL / style)
    x = load_image(CONTENT, 256)
    other = resize(load_image(CONTENT.parent / "rocket.jpg", 256), tuple(x.shape[-2:]))
    with torch.no_grad():
        y = net(x)
    assert (y - x).abs().mean() > 0.08  # restyled
    # the photo's light and dark survive: the output follows its own photo, not another one
    assert correlation(y, x) > 0.3 and correlation(y, x) > correlation(y, other) + 0.15
