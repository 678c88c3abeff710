import numpy as np
import pytest
import torch
from PIL import Image

from nst_bench.data.images import as_saved_jpeg, load_image, read_image, recombine_colour, rgb_to_yiq, save_image
from nst_bench.errors import UserError


def _save(tmp_path, name, array, mode=None):
    p = tmp_path / name
    Image.fromarray(array, mode=mode).save(p) if mode else Image.fromarray(array).save(p)
    return p


def test_rgba_is_composited_over_white(tmp_path):
    a = np.zeros((8, 8, 4), np.uint8)
    a[..., 0] = 255  # red, fully transparent on the left half, opaque on the right
    a[:, 4:, 3] = 255
    x = read_image(_save(tmp_path, "a.png", a))
    assert x.shape == (1, 3, 8, 8)
    assert torch.allclose(x[0, :, 0, 0], torch.ones(3))
    assert torch.allclose(x[0, :, 0, 7], torch.tensor([1.0, 0.0, 0.0]))


def test_grayscale_palette_and_cmyk_become_rgb(tmp_path):
    grey = _save(tmp_path, "g.png", np.full((6, 5), 128, np.uint8))
    pal = tmp_path / "p.gif"
    Image.fromarray(np.full((6, 5, 3), (0, 0, 255), np.uint8)).convert("P").save(pal)
    cmyk = tmp_path / "c.jpg"
    Image.new("CMYK", (5, 6), (0, 255, 255, 0)).save(cmyk)
    for p in (grey, pal, cmyk):
        x = read_image(p)
        assert x.shape == (1, 3, 6, 5) and x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
    assert torch.allclose(read_image(grey), torch.full((1, 3, 6, 5), 128 / 255))
    assert read_image(pal)[0, 2].mean() > 0.9 and read_image(pal)[0, 0].mean() < 0.1
    assert read_image(cmyk)[0, 0].mean() > 0.9 and read_image(cmyk)[0, 1].mean() < 0.1


def test_16_bit_keeps_its_range(tmp_path):
    a = np.array([[0, 32768, 65535]], np.uint16)
    x = read_image(_save(tmp_path, "d.png", a))
    assert torch.allclose(x[0, 0, 0], torch.tensor([0.0, 0.5, 1.0]), atol=1e-4)


def test_bad_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_image(tmp_path / "missing.jpg")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="not an image"):
        read_image(tmp_path / "notes.txt")
    good = _save(tmp_path, "ok.jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:300])
    with pytest.raises(UserError, match=r"truncated|corrupt|cannot read"):
        read_image(tmp_path / "cut.jpg")


def test_size_limits(tmp_path):
    p = _save(tmp_path, "s.png", np.zeros((40, 80, 3), np.uint8))
    assert load_image(p, 64).shape == (1, 3, 32, 64)
    with pytest.raises(UserError, match="at least 32 px"):
        load_image(p, 40, min_side=32)
    with pytest.raises(UserError, match="above the limit"):
        load_image(p, 64, max_pixels=1000)


def test_recombine_colour_keeps_content_chrominance_and_stylized_luminance():
    g = torch.Generator().manual_seed(0)
    content = 0.4 + 0.2 * torch.rand(1, 3, 16, 16, generator=g)  # mid-range, so nothing is clamped
    stylized = 0.4 + 0.2 * torch.rand(1, 3, 16, 16, generator=g)
    out = recombine_colour(stylized, content)
    assert torch.allclose(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-5)
    assert torch.allclose(rgb_to_yiq(out)[:, :1], rgb_to_yiq(stylized)[:, :1], atol=1e-5)
    assert not torch.allclose(out, stylized, atol=1e-2)


def test_a_clean_view_through_the_jpeg_is_what_a_saved_stylization_reads_back(tmp_path):
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    back = load_image(save_image(x, tmp_path / "out.jpg"))
    assert torch.equal(as_saved_jpeg(x), back) and not torch.equal(back, x)
