"""Content retention end to end on a few real ImageNet photos, and the pieces it is built from."""

import pandas as pd
import pytest

from nst_bench.data.datasets import artist_paintings, labelled_images
from nst_bench.errors import UserError

from .conftest import SHARED

IMAGENET = SHARED / "data" / "imagenet_sample"
ARTISTS = SHARED / "data" / "artists"


def test_labelled_sets_from_names_imagefolder_and_csv(tmp_path):
    items = labelled_images(IMAGENET, limit=5)
    assert len(items) == 5 and all(i.label and i.label.startswith("n") for i in items)
    folder = tmp_path / "n01440764"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(items[0].path.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    assert [i.label for i in labelled_images(tmp_path)] == ["n01440764"]  # the broken file is skipped
    csv = tmp_path / "set.csv"
    csv.write_text(f"path,label\n{items[1].path},n99999999\n{items[2].path},\n")
    assert [i.label for i in labelled_images(csv)] == ["n99999999", None]
    with pytest.raises(UserError, match="not found"):
        labelled_images(tmp_path / "nope")


def test_artist_paintings_and_missing_artist():
    p = artist_paintings(ARTISTS, ["hokusai", "van_gogh"])
    assert len(p["hokusai"]) == 7 and len(p["van_gogh"]) == 9
    with pytest.raises(UserError, match="available: arcimboldo"):
        artist_paintings(ARTISTS, ["banksy"])




def test_runtime_table_has_every_cell(tmp_path):
    from nst_bench.evaluate.runtime import runtime_table
    from nst_bench.methods.cyclegan import ResnetGenerator, save_generator

    generator = save_generator(ResnetGenerator(width=8, blocks=1), tmp_path / "g.safetensors")
    t = runtime_table(["efficientnet_lite0"], [64, 96], steps=2, warmup=1, cyclegan_checkpoint=str(generator))
    t = t[t.dtype == "float32"]  # bf16 rows as well where the CPU has native bf16
    gatys, adain = t[t.method.str.startswith("gatys")], t[t.method == "adain"]
    assert list(gatys["size"]) == [64, 96] == list(adain["size"]) and (gatys.s_per_iteration > 0).all()
    assert (gatys.s_per_image == gatys.s_per_iteration * 300).all() and t.threads.iloc[0] >= 1
    assert (adain.s_per_image > 0).all() and (adain.s_per_image < gatys.s_per_image.to_numpy()).all()
    cyclegan = t[t.method == "cyclegan"]
    assert list(cyclegan["size"]) == [64, 96] and (cyclegan.s_per_image > 0).all()


def test_runtime_command_writes_its_table(tmp_path, capsys):
    from nst_bench.cli import main
    from nst_bench.methods.fast import TransformerNet, save_network

    from .test_engstrom import write_checkpoint

    save_network(TransformerNet(width=8, blocks=1), tmp_path / "net.safetensors", styles=["s.jpg"])
    (tmp_path / "wreck").mkdir()
    write_checkpoint(tmp_path / "wreck")
    assert main(["evaluate", "runtime", "--backbones", "efficientnet_lite0", "--sizes", "64", "--steps", "1",
                 "--fast-checkpoint", str(tmp_path / "net.safetensors"), "--engstrom", str(tmp_path / "wreck"),
                 "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "runtime.csv")
    table = table[table.dtype == "float32"]
    assert list(table.method) == ["gatys (efficientnet_lite0)", "adain", "magenta", "magenta26", "fast",
                                  "engstrom (wreck)"] and (table.s_per_image > 0).all()
    assert list(table.network.fillna("-")) == ["-", "-", "-", "-", "net.safetensors", "wreck"]
    assert "| gatys (efficientnet_lite0) |" in (tmp_path / "runtime.md").read_text()


def test_runtime_without_backbones_times_the_one_pass_methods_only(tmp_path, capsys):
    from nst_bench.cli import main

    assert main(["evaluate", "runtime", "--backbones", "--sizes", "48", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "runtime.csv")
    assert set(table.method) == {"adain", "magenta", "magenta26"} and (table.s_per_image > 0).all()
    assert "gatys" not in (tmp_path / "runtime.md").read_text().lower()
