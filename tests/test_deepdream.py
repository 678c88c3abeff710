"""DeepDream: ascent raises the chosen layers' activations, octaves come back to the input size, the command
records its run, and a bad layer is a one-line error."""

import json

from nst_bench.cli import main
from nst_bench.config import DreamConfig, OptimizerConfig
from nst_bench.data.images import load_image, pyramid
from nst_bench.methods.deepdream import DreamObjective, dream, octave_fractions

from .conftest import CONTENT


def test_ascent_raises_the_layer_activation(vgg19):
    image = load_image(CONTENT, 64)
    objective = DreamObjective(vgg19, ["conv3_1"], jitter=4)
    r = dream(image, objective, DreamConfig(octaves=1, jitter=4), OptimizerConfig(name="sgd", lr=0.02, steps=8),
              progress=False)
    rising = [row["activation"] for row in r.history]
    assert rising[-1] > 1.5 * rising[0]
    assert r.final["activation"] > 1.5 * float(objective.activation(image))
    assert not r.image.equal(image) and float(r.image.min()) >= 0 and float(r.image.max()) <= 1


def test_octaves_run_small_to_large_and_end_at_the_input_size(vgg19):
    image = load_image(CONTENT, 90)
    h, w = image.shape[-2:]
    sizes = pyramid(h, w, octave_fractions(3, 1.5), min_side=16)
    assert sizes[-1] == (h, w) and sizes[0] == (round(h / 2.25), round(w / 2.25)) and len(sizes) == 3
    small = pyramid(h, w, octave_fractions(10, 2.0), min_side=16)  # octaves below the layers' minimum are skipped
    assert min(small[0]) >= 16 and len(small) < 10 and small[-1] == (h, w)
    r = dream(image, DreamObjective(vgg19, ["conv2_1"], jitter=2), DreamConfig(octaves=3, octave_scale=1.5),
              OptimizerConfig(name="sgd", lr=0.02, steps=2), min_side=16, progress=False)
    assert r.image.shape == image.shape and r.sizes == sizes and r.iterations == 6


def test_dream_command_writes_its_run_and_rejects_unknown_layers(tmp_path, capsys):
    out = tmp_path / "dream"
    assert main(["dream", "--image", str(CONTENT), "--layers", "conv4_2", "--octaves", "2", "--steps", "3",
                 "--size", "64", "--out", str(out), "--no-progress", "--wandb", "offline"]) == 0
    assert "conv4_2 of vgg19" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["activation_rise"] > 1 and metrics["config"]["optimizer"]["name"] == "sgd"
    assert load_image(out / "stylized.jpg").shape == load_image(CONTENT, 64).shape
    assert "loss/activation" in (out / "history.csv").read_text().splitlines()[0]
    assert list((out / "wandb").glob("offline-run-*/*.wandb"))
    assert main(["dream", "--image", str(CONTENT), "--layers", "conv9_9", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no layer 'conv9_9'" in err and len(err.splitlines()) == 1
