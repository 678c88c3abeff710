"""CycleGAN networks, losses and training on tiny images."""

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from nst_bench.methods.cyclegan import (
    Blur,
    CycleGANModule,
    ImagePool,
    PatchDiscriminator,
    ResidualBlock,
    ResnetGenerator,
    init_weights,
    linear_decay,
    load_generator,
    save_generator,
)
from nst_bench.recipes.train_cyclegan import kept_generator


def test_generator_keeps_size_and_range_and_discriminator_sees_70px_patches():
    g = ResnetGenerator(width=8, blocks=1, upsample="bilinear")
    y = g(torch.rand(2, 3, 37, 50))
    assert y.shape == (2, 3, 37, 50) and y.min() >= 0 and y.max() <= 1
    d = PatchDiscriminator(width=8)
    for i, m in enumerate(d.net):  # instance norm mixes every position; the receptive field is the convs'
        if isinstance(m, torch.nn.InstanceNorm2d):
            d.net[i] = torch.nn.Identity()
    x = torch.rand(1, 3, 140, 140, requires_grad=True)
    scores = d(x)
    assert scores.shape == (1, 1, 15, 15)
    scores[0, 0, 7, 7].backward()  # one score depends on a 70x70 window of the input, no more
    rows, cols = (x.grad[0].abs().sum(0) > 0).nonzero(as_tuple=True)
    assert int(rows.max() - rows.min()) + 1 == 70 and int(cols.max() - cols.min()) + 1 == 70


def test_image_pool_returns_a_batch_mixing_new_and_old_fakes():
    pool = ImagePool(size=4, seed=0)
    first = torch.zeros(4, 3, 2, 2)
    assert torch.equal(pool.query(first), first)  # filling up: the new images come back
    out = torch.cat([pool.query(torch.ones(4, 3, 2, 2)) for _ in range(5)])
    assert out.shape == (20, 3, 2, 2) and 0 < (out.sum((1, 2, 3)) == 0).sum() < 20


def test_linear_decay_schedule():
    assert [linear_decay(s, 10, 5) for s in (0, 4, 5, 7, 10, 12)] == [1.0, 1.0, 1.0, 0.6, 0.0, 0.0]


def test_a_few_steps_reduce_the_cycle_loss_and_generators_round_trip(tmp_path):
    torch.manual_seed(0)
    nets = [ResnetGenerator(8, 1), ResnetGenerator(8, 1), PatchDiscriminator(8), PatchDiscriminator(8)]
    for n in nets:
        init_weights(n)
    module = CycleGANModule(*nets, lr=2e-3, steps=60, decay_from=60)
    a = torch.rand(1, 3, 32, 32)
    b = torch.rand(1, 3, 32, 32) * 0.5
    data = DataLoader([(a[0], b[0])] * 60, batch_size=1)
    pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False).fit(module, data)
    h = module.history
    assert [r["step"] for r in h[:3]] == [1, 2, 3] and len(h) == 60  # steps completed, as in fast training
    first = sum(r["cycle_a"] + r["cycle_b"] for r in h[:5])
    last = sum(r["cycle_a"] + r["cycle_b"] for r in h[-5:])
    assert last < 0.75 * first, (first, last)  # measured: 22.1 -> 13.7
    save_generator(module.g_ab, tmp_path / "g.safetensors", domain_b="toy", step=40)
    g, meta = load_generator(tmp_path / "g.safetensors")
    assert meta["domain_b"] == "toy" and torch.equal(g(a), module.g_ab.eval()(a))


def test_bf16_training_on_a_cpu_without_native_bf16_stops_at_once_with_what_to_do(tmp_path, capsys, monkeypatch):
    from nst_bench.cli import main
    from nst_bench.run import cpu

    from .test_train_fast import _photos

    monkeypatch.setattr(cpu, "bf16_supported", lambda: False)
    out, photos = tmp_path / "cg", _photos(tmp_path)
    assert main(["train", "cyclegan", "--domain-a", str(photos), "--domain-b", str(photos),
                 "--out", str(out), "--precision", "bf16-mixed", "--steps", "2", "--no-progress", "--crop", "32",
                 "--size", "32", "--holdout", "2", "--set", "cyclegan.holdout_b=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no native bf16" in err and "use --precision 32" in err and "\n" not in err
    assert not (out / "references.json").exists()  # before the held-out references, minutes on a real run
    cpu.check_precision("cuda", "bf16-mixed")  # a GPU has its own bf16
    cpu.check_precision("cpu", "32")


def test_train_cyclegan_resumes_and_the_generator_is_a_method(tmp_path, capsys):
    import csv
    import json

    from nst_bench.cli import main
    from nst_bench.nets.weights import sha256

    from .conftest import CONTENT, SHARED
    from .test_train_fast import _photos

    photos, out = _photos(tmp_path), tmp_path / "cg"
    args = ["train", "cyclegan", "--domain-a", str(photos), "--domain-b", str(SHARED / "data/artists/hokusai"),
            "--out", str(out), "--crop", "32", "--batch", "1", "--size", "32", "--width", "8", "--blocks", "1",
            "--upsample", "nearest", "--sample-every", "2", "--checkpoint-every", "2", "--holdout", "2",
            "--no-progress", "--set", "cyclegan.d_width=8", "--set", "cyclegan.holdout_b=2", "--g-ema", "0.9"]
    assert main([*args, "--steps", "2"]) == 0, capsys.readouterr().err
    assert main([*args, "--steps", "4", "--g-ema", "0"]) == 2  # another network than the checkpoint's: one line
    err = capsys.readouterr().err.strip()
    assert "holds other networks than this config builds (first difference: g_ab_ema." in err and "\n" not in err
    assert main([*args, "--steps", "4"]) == 0, capsys.readouterr().err  # resumes at step 2
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4] and "loss/cycle_a" in rows[0]
    m = json.loads((out / "metrics.json").read_text())
    assert m["resumed_from_step"] == 2 and m["paintings"] == 5 and m["held_out"]["cycle_l1"] > 0
    assert m["network"] == {"file": "generator.safetensors", "sha256": sha256(out / "generator.safetensors")}
    _, meta = load_generator(out / "generator.safetensors")
    assert len(meta["held_out_paintings"]) == 2 and not set(meta["held_out_paintings"]) & set(meta["paintings"])
    # every sample step scored, across the resume: cycle, content check, KID / Gram to held-out paintings, grid
    assert [v["step"] for v in m["val_history"]] == [2, 4]
    assert m["held_out"] == {k: v for k, v in m["val_history"][-1].items() if k != "step"}  # the last step's scores
    assert {"identified", "identified_local", "kid", "gram_to_paintings", "grid_peak", "cycle_l1_blurred",
            "cycle_grid_peak"} <= set(m["val_history"][0])
    photos = m["references"]["photos"]
    assert photos["identified"] == 1.0 and photos["kid"] > 0 and photos["cycle_grid_peak"] == photos["grid_peak"]
    assert json.loads((out / "references.json").read_text()) == m["references"]  # on disk from the start
    assert all(abs(float(r[f"loss/D_{k}"])) < 10 for r in rows for k in ("a_real", "a_fake", "b_real", "b_fake"))
    assert (out / "held_out.png").is_file() and (out / "discriminators.png").is_file()
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000002.jpg", "step_000004.jpg"]
    kept = sorted((out / "generators").iterdir())  # each sample step's generator, to choose one by its scores
    assert [p.name for p in kept] == ["step_000002.safetensors", "step_000004.safetensors"]
    assert load_generator(kept[0])[1]["step"] == 2
    last, final = (load_generator(p)[0].state_dict() for p in (kept[1], out / "generator.safetensors"))
    assert all(torch.equal(last[k], final[k]) for k in final)  # the last kept one is the final generator
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(ckpt[f"g_ab_ema.{k}"], final[k]) for k in final)  # --g-ema: the average is saved,
    assert not all(torch.equal(ckpt[f"g_ab.{k}"], final[k]) for k in final)  # not the trained weights
    assert list((out / "wandb").glob("offline-run-*/run-*.wandb"))

    run = tmp_path / "stylized"
    assert main(["stylize", "--method", "cyclegan", "--checkpoint", str(out / "generator.safetensors"),
                 "--content", str(CONTENT), "--size", "40", "--out", str(run), "--no-progress",
                 "--wandb", "disabled", "--border", "8"]) == 0, capsys.readouterr().err
    s = json.loads((run / "metrics.json").read_text())
    assert s["config"]["cyclegan"]["border"] == 8
    assert len(s["config"]["styles"]) == 5 and s["method_weights"]["artist"] == "hokusai"  # the training paintings
    assert s["final"]["style"] > 0 and (run / "stylized.jpg").is_file()

    capsys.readouterr()
    too_many = [*args[:args.index("--out") + 1], str(tmp_path / "none"), *args[args.index("--out") + 2:]]
    assert main([*too_many, "--set", "cyclegan.holdout_b=7"]) != 0  # hokusai has 7 paintings
    err = capsys.readouterr().err
    assert "cannot spare 7" in err and "cyclegan.holdout_b" in err and not (tmp_path / "none" / "history.csv").exists()


def test_every_upsampling_keeps_the_size_and_an_unknown_one_is_a_clear_error():

    from nst_bench.errors import UserError

    x = torch.rand(1, 3, 36, 44)
    outs = {u: ResnetGenerator(8, 1, u)(x) for u in ("transposed", "nearest", "bilinear")}
    assert all(y.shape == x.shape for y in outs.values())
    assert not torch.allclose(outs["nearest"], outs["bilinear"])
    with pytest.raises(UserError, match=r"cyclegan\.upsample"):
        ResnetGenerator(8, 1, "pixelshuffle")


def test_periodic_peak_finds_a_4px_grid_that_photos_do_not_have():

    from nst_bench.losses.artefacts import periodic_peak
    from nst_bench.recipes.training import sample_photos

    from .conftest import SHARED

    photos = sample_photos(sorted((SHARED / "data/landscapes256").glob("*.jpg"))[:8], 128)
    grid = torch.zeros(1, 1, 128, 128)
    grid[..., 1::4, 2::4] = 1  # a faint dot every 4 px, anywhere in the 4 x 4 cell
    clean, gridded = periodic_peak(photos), periodic_peak((photos + 0.05 * grid).clamp(0, 1))
    assert clean < 2 and gridded > 8, (clean, gridded)
    assert periodic_peak(photos, period=8) < 2
    with pytest.raises(ValueError, match="at least 16 px"):
        periodic_peak(photos[..., :12, :12])


def test_radial_power_puts_ripples_at_their_scale_where_the_lattice_number_misses_them():
    from nst_bench.losses.artefacts import periodic_peak, radial_power
    from nst_bench.recipes.training import sample_photos

    from .conftest import SHARED

    photos = sample_photos(sorted((SHARED / "data/landscapes256").glob("*.jpg"))[:8], 128)
    y = torch.arange(128.0)[:, None].expand(128, 128)
    ripples = (photos + 0.03 * torch.sin(2 * torch.pi * 37 * y / 128)).clamp(0, 1)  # 37 cycles: a 3.5 px period
    excess = radial_power(ripples) / radial_power(photos)
    assert excess.shape == (65,) and int(excess[1:].argmax()) + 1 == 37 and excess[37] > 3
    assert excess[:30].max() < 1.5  # the photos' own scales untouched
    assert periodic_peak(ripples) < 2  # off the 4-pixel lattice: the grid number does not see them


def test_texture_rebound_sees_a_regular_texture_at_any_period_and_orientation_where_noise_has_none():

    from nst_bench.losses.artefacts import periodic_peak, texture_rebound
    from nst_bench.recipes.training import sample_photos

    from .conftest import SHARED

    photos = sample_photos(sorted((SHARED / "data/landscapes256").glob("*.jpg"))[:8], 128)
    y, x = torch.arange(128.0)[:, None], torch.arange(128.0)[None, :]
    diagonal = (photos + 0.05 * torch.sin(2 * torch.pi * (y + x) / 5.3)).clamp(0, 1)  # off the 4-pixel lattice
    torch.manual_seed(0)
    noise = torch.rand(8, 3, 128, 128)
    own, striped, random = (float(texture_rebound(i).mean()) for i in (photos, diagonal, noise))
    assert texture_rebound(photos).shape == (8 * 4,)  # one value per 64 px tile
    assert texture_rebound(photos[..., :32, :32]).shape == (8,)  # smaller than a tile: one tile each
    with pytest.raises(ValueError, match="at least 16 px"):
        texture_rebound(photos[..., :12, :12])
    assert striped > 0.4 > 0.3 > own > random, (striped, own, random)
    assert periodic_peak(diagonal) < 2  # the lattice number misses what the rebound sees


def test_the_grid_penalty_takes_a_grid_out_by_gradient_and_reaches_the_generators():
    from nst_bench.losses.artefacts import periodic_peak, periodic_ratio
    from nst_bench.recipes.training import sample_photos

    from .conftest import SHARED

    photos = sample_photos(sorted((SHARED / "data/landscapes256").glob("*.jpg"))[:2], 128)
    grid = torch.zeros(1, 1, 128, 128)
    grid[..., 1::4, 2::4] = 1
    x = (photos + 0.05 * grid).clamp(0, 1).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=2e-3)
    for _ in range(60):
        loss = periodic_ratio(x).log()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert periodic_peak(x.detach()) < 2 < periodic_peak((photos + 0.05 * grid).clamp(0, 1))
    assert (x.detach() - photos).abs().mean() < 0.03  # the grid went, not the photo

    torch.manual_seed(0)
    nets = [ResnetGenerator(8, 1), ResnetGenerator(8, 1), PatchDiscriminator(8), PatchDiscriminator(8)]
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    terms, _ = CycleGANModule(*nets, lambda_grid=1.0).generator_losses(a, b)
    assert "grid" not in CycleGANModule(*nets).generator_losses(a, b)[0]  # off by default
    terms["grid"].backward()
    assert torch.isfinite(terms["grid"]) and any(p.grad is not None and p.grad.abs().sum() > 0
                                                 for p in nets[0].parameters())
    # outputs under the tolerance pay nothing: the penalty removes a grid and then leaves the images alone
    with torch.no_grad():
        above = max(periodic_peak(g(x)) for g, x in ((nets[0], a), (nets[1], b)))
    lenient = CycleGANModule(*nets, lambda_grid=1.0, grid_tolerance=above * 1.01).generator_losses(a, b)[0]
    assert lenient["grid"] == 0 < CycleGANModule(*nets, lambda_grid=1.0, grid_tolerance=above * 0.5
                                                 ).generator_losses(a, b)[0]["grid"]


def test_the_regular_texture_penalty_takes_stripes_out_instead_of_hiding_them_in_noise():
    from nst_bench.losses.artefacts import texture_rebound
    from nst_bench.recipes.training import sample_photos

    from .conftest import SHARED

    def high_pass_power(x: torch.Tensor) -> float:
        return float((x - torch.nn.functional.avg_pool2d(x, 5, 1, 2, count_include_pad=False)).square().mean())

    photos = sample_photos(sorted((SHARED / "data/landscapes256").glob("*.jpg"))[:4], 128)
    y, x = torch.arange(128.0)[:, None], torch.arange(128.0)[None, :]
    striped = (photos + 0.05 * torch.sin(2 * torch.pi * (y + x) / 5.3)).clamp(0, 1)
    z = striped.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=2e-3)
    for _ in range(60):
        loss = (texture_rebound(z).mean() - 0.14).clamp_min(0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    z = z.detach()
    assert texture_rebound(z).mean() < 0.2 < texture_rebound(striped).mean()
    # the stripes went (closer to the photo, less fine power), not drowned in added noise
    assert (z - photos).abs().mean() < 0.8 * (striped - photos).abs().mean()
    assert high_pass_power(z) < high_pass_power(striped)

    torch.manual_seed(0)
    nets = [ResnetGenerator(8, 1), ResnetGenerator(8, 1), PatchDiscriminator(8), PatchDiscriminator(8)]
    a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    assert "regular" not in CycleGANModule(*nets).generator_losses(a, b)[0]  # off by default
    terms = CycleGANModule(*nets, lambda_regular=1.0, regular_tolerance=0.0).generator_losses(a, b)[0]
    terms["regular"].backward()
    assert terms["regular"] > 0 and any(p.grad is not None and p.grad.abs().sum() > 0 for p in nets[0].parameters())
    lenient = CycleGANModule(*nets, lambda_regular=1.0, regular_tolerance=0.99).generator_losses(a, b)[0]
    assert lenient["regular"] == 0


def test_painting_domain_kid_puts_an_artists_other_paintings_nearer_than_photos_and_keeps_the_rng():
    from nst_bench.losses.painting_domain import PaintingDomain
    from nst_bench.recipes.training import sample_photos

    from .conftest import SHARED

    van_gogh = sorted((SHARED / "data/paintings256/van_gogh").glob("*.jpg"))
    photos = sorted((SHARED / "data/landscapes256").glob("*.jpg"))
    domain = PaintingDomain([sample_photos([p], 128) for p in van_gogh[:12]], subsets=20)
    state = torch.random.get_rng_state()
    other = domain(sample_photos(van_gogh[12:24], 128))
    assert torch.equal(torch.random.get_rng_state(), state)  # scoring never moves a training run's stream
    photo = domain(sample_photos(photos[:12], 128))
    assert other["kid"] < photo["kid"], (other, photo)
    assert domain(sample_photos(van_gogh[12:24], 128)) == other  # seeded: the same outputs score the same
    # the Gram distance is to the paintings' mean Grams: a painting scores 0 against a set of itself
    one = sample_photos(van_gogh[:1], 128)
    itself = PaintingDomain([one, one], classifier=domain.classifier, encoder=domain.encoder, subsets=2)
    assert itself(one)["gram_to_paintings"] < 1e-6 < itself(sample_photos(photos[:1], 128))["gram_to_paintings"]


def test_spectral_norm_holds_each_discriminator_conv_at_unit_gain_and_d_lr_reaches_its_optimizer():
    torch.manual_seed(0)
    d = PatchDiscriminator(width=8)
    init_weights(d)
    d.net[0].weight.data.mul_(50)  # a conv far above unit gain before the norm
    d.spectral_normalize()
    for _ in range(20):  # power iteration converges in training mode
        d(torch.rand(1, 3, 64, 64))
    convs = [m for m in d.net if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5
    sigmas = [torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item() for m in convs]
    assert all(abs(s - 1) < 0.05 for s in sigmas), sigmas
    nets = [ResnetGenerator(8, 1), ResnetGenerator(8, 1), d, PatchDiscriminator(8)]
    (opt_g, opt_d), _ = CycleGANModule(*nets, lr=2e-4, d_lr=5e-5).configure_optimizers()
    assert opt_g.param_groups[0]["lr"] == 2e-4 and opt_d.param_groups[0]["lr"] == 5e-5


def test_an_antialiased_discriminator_is_blind_to_a_2px_checkerboard_that_the_plain_one_sees():
    torch.manual_seed(0)
    flat = torch.full((1, 3, 64, 64), 0.5)
    checker = flat + 0.2 * ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2 * 2 - 1)
    for antialias, blur_input, blind in ((True, True, True), (False, True, False), (True, False, False)):
        d = PatchDiscriminator(width=8, antialias=antialias, blur_input=blur_input)
        init_weights(d)
        with torch.no_grad():  # blur_input=False: the inner blurs stay, the image reaches the first conv as it is
            assert torch.allclose(d(flat), d(checker), atol=1e-6) == blind


def test_a_skip_generator_starts_as_the_identity_learns_a_change_and_its_file_keeps_the_skip(tmp_path):
    torch.manual_seed(0)
    photo = torch.nn.functional.interpolate(torch.rand(1, 3, 5, 5), size=40, mode="bilinear") * 0.9 + 0.05
    plain, skip = ResnetGenerator(8, 2, "bilinear"), ResnetGenerator(8, 2, "bilinear", skip=True)
    for g in (plain, skip):
        init_weights(g)
    with torch.no_grad():
        assert (skip(photo) - photo).abs().max() < 1e-4  # an output of 0 returns the photo
        assert (plain(photo) - photo).abs().mean() > 0.1  # the paper's generator starts far from it
    opt = torch.optim.Adam(skip.parameters(), 3e-3)
    target = photo * 0.5 + 0.4  # a paler, lower-contrast photo: the skip does not hold the output at the photo
    for _ in range(60):
        loss = (skip(photo) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss < 0.5 * (photo - target).abs().mean()
    save_generator(skip, tmp_path / "g.safetensors")
    loaded, meta = load_generator(tmp_path / "g.safetensors")
    assert meta["skip"] is True and loaded.skip
    with torch.no_grad():
        assert torch.allclose(loaded(photo), skip(photo), atol=1e-6)


def test_noise_inputs_start_silent_learn_a_scale_and_translate_a_photo_the_same_way_twice_in_eval(tmp_path):
    from nst_bench.methods.cyclegan import NoiseInput

    torch.manual_seed(0)
    photo = torch.rand(1, 3, 32, 32)
    nets = []
    for noise in (False, True):  # the same seed, the same convs: the same weights; the noise scales start at 0
        torch.manual_seed(1)
        nets.append(ResnetGenerator(8, 1, "bilinear", noise=noise))
        init_weights(nets[-1])
    plain, noisy = nets
    inputs = [m for m in noisy.modules() if isinstance(m, NoiseInput)]
    assert len(inputs) == 2 and all(m.scale.abs().sum() == 0 for m in inputs)  # one per upsampling block
    with torch.no_grad():
        assert torch.equal(noisy(photo), plain(photo))  # silent until trained
    loss = noisy(photo).square().mean()
    loss.backward()
    assert all(m.scale.grad is not None and m.scale.grad.abs().sum() > 0 for m in inputs)  # the scales learn
    with torch.no_grad():
        for m in inputs:
            m.scale.fill_(0.5)
        assert not torch.allclose(noisy(photo), noisy(photo))  # training: fresh noise at every call
        noisy.eval()
        assert torch.equal(noisy(photo), noisy(photo))  # eval: the fixed-seed noise
        assert not torch.allclose(noisy(photo), plain.eval()(photo), atol=1e-3)
    save_generator(noisy, tmp_path / "g.safetensors")
    loaded, meta = load_generator(tmp_path / "g.safetensors")
    assert meta["noise"] is True and loaded.noise
    with torch.no_grad():
        assert torch.equal(loaded(photo), noisy(photo))


def test_discriminator_augmentation_shifts_and_cuts_each_image_on_its_own_and_passes_gradients_back():
    from nst_bench.methods.cyclegan import augment

    torch.manual_seed(0)
    images = torch.rand(4, 3, 32, 32, requires_grad=True)
    assert augment(images, "none") is images
    shifted = augment(images, "translation")
    assert shifted.shape == images.shape
    for image, out in zip(images.detach(), shifted.detach()):  # each one is its own image moved by <= 4 px
        moves = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                 if torch.equal(out[:, 4:-4, 4:-4], image[:, 4 + dy:28 + dy, 4 + dx:28 + dx])]
        assert len(moves) == 1
    assert len({tuple(map(tuple, out[0, :2, :2].tolist())) for out in shifted.detach()}) > 1  # not one shift for all
    cut = augment(images, "translation_cutout").detach()
    grey = (cut == 0.5).all(dim=1)  # a 16 x 16 grey square somewhere in every image
    assert all(int(g.sum()) >= 16 * 16 for g in grey)
    augment(images, "translation_cutout").sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0  # the generator learns through it


def test_scaled_discriminator_inputs_carry_a_stripe_at_a_different_period_per_image():
    from nst_bench.methods.cyclegan import _rescale, augment

    torch.manual_seed(0)
    x = torch.arange(64.0)
    stripes = (0.5 + 0.5 * torch.cos(2 * torch.pi * x / 8)).expand(8, 3, 64, 64).clone().requires_grad_(True)
    scaled = augment(stripes, "scale_translation")
    assert scaled.shape == stripes.shape
    periods = set()
    for image in scaled.detach():
        row = image[0, 32, 12:52]  # away from the zeros a shift or a shrink leaves at the edges
        spectrum = torch.fft.rfft(row - row.mean(), n=512).abs()
        periods.add(round(512 / int(spectrum.argmax()), 1))
    assert len(periods) >= 4 and all(5.5 < p < 11.0 for p in periods), periods  # 8 px x 0.76-1.32, not 8 each time
    scaled.sum().backward()
    assert stripes.grad is not None and stripes.grad.abs().sum() > 0
    for factor in (0.8, 1.25):  # shrinking (antialiased) and enlarging, under bf16 autocast as in training
        assert _rescale(stripes[0].detach().bfloat16(), factor).dtype == torch.bfloat16


def test_an_antialiased_generator_follows_a_one_pixel_shift_more_closely_than_the_plain_one():
    from nst_bench.recipes.training import sample_photos

    from .conftest import SHARED

    photo = sample_photos(sorted((SHARED / "data/landscapes256").glob("*.jpg"))[:1], 72)
    errors = {}
    for antialias in (False, True):
        torch.manual_seed(0)
        g = ResnetGenerator(8, 2, "bilinear", antialias=antialias)
        init_weights(g, std=0.2)  # strong enough weights that the strides' aliasing shows
        with torch.no_grad():  # shift the input one pixel: an equivariant net shifts its output the same
            y, y_shifted = g(photo[..., :, :64]), g(photo[..., :, 1:65])
        errors[antialias] = float((y[..., 8:-8, 9:-8] - y_shifted[..., 8:-8, 8:-9]).abs().mean())
    assert sum(isinstance(m, Blur) for m in g.modules()) == 4  # two strided convs, two upsamplings
    assert errors[True] < 0.7 * errors[False], errors


def test_pixel_norm_keeps_a_spike_local_where_instance_norm_rescales_the_whole_map_and_files_keep_the_choice(
        tmp_path):

    from nst_bench.errors import UserError
    from nst_bench.methods.cyclegan import PixelNorm

    torch.manual_seed(0)
    x = torch.randn(1, 4, 16, 16)
    spiked = x.clone()
    spiked[..., 3, 3] += 100.0  # one strong local spike, the droplet of Karras et al.
    far = (..., slice(8, None), slice(8, None))
    inorm = torch.nn.InstanceNorm2d(4)
    assert not torch.allclose(inorm(x)[far], inorm(spiked)[far], atol=1e-2)  # the spike rescales everything
    assert torch.equal(PixelNorm()(x)[far], PixelNorm()(spiked)[far])  # only its own pixel changes
    assert torch.allclose(PixelNorm()(spiked).square().mean(1), torch.ones(1, 16, 16), atol=1e-4)  # and it is unit
    g = ResnetGenerator(8, 1, "bilinear", antialias=True, norm="pixel")
    save_generator(g, tmp_path / "g.safetensors")
    loaded, meta = load_generator(tmp_path / "g.safetensors")
    assert (meta["antialias"], meta["norm"]) == (True, "pixel")
    photo = torch.rand(1, 3, 32, 32)
    assert torch.equal(loaded(photo), g.eval()(photo))
    with pytest.raises(UserError, match=r"cyclegan\.g_norm"):
        ResnetGenerator(8, 1, norm="batch")
    # instance norm where the photo is read, pixel norm in the upsampling only; files keep that too
    split = ResnetGenerator(8, 2, "bilinear", norm="pixel_decoder")
    norms = [type(m).__name__ for m in split.net if type(m).__name__ in ("InstanceNorm2d", "PixelNorm")]
    inner = [type(m).__name__ for block in split.net if isinstance(block, ResidualBlock) for m in block.body]
    assert norms == ["InstanceNorm2d"] * 3 + ["PixelNorm"] * 2 and inner.count("InstanceNorm2d") == 4
    save_generator(split, tmp_path / "split.safetensors")
    assert load_generator(tmp_path / "split.safetensors")[1]["norm"] == "pixel_decoder"


def test_a_generator_file_from_before_the_blur_and_norm_options_loads_as_the_papers_generator(tmp_path):
    from nst_bench.methods.cyclegan import FORMAT
    from nst_bench.nets.netfile import save_network_file

    torch.manual_seed(0)
    g = ResnetGenerator(8, 1, "bilinear")
    save_network_file(g, tmp_path / "old.safetensors", {"format": FORMAT, "width": 8, "blocks": 1,
                                                        "upsample": "bilinear"})  # the old header
    loaded, _ = load_generator(tmp_path / "old.safetensors")
    assert (loaded.antialias, loaded.norm) == (False, "instance")
    photo = torch.rand(1, 3, 32, 32)
    assert torch.equal(loaded(photo), g.eval()(photo))


def test_the_blur_follows_every_upsampling_and_a_bad_generator_choice_fails_before_training():

    from nst_bench.config import load_config
    from nst_bench.errors import UserError

    for upsample in ("transposed", "nearest", "bilinear"):
        names = [type(m).__name__ for m in ResnetGenerator(8, 1, upsample, antialias=True).net]
        ups = [i for i, n in enumerate(names) if n in ("ConvTranspose2d", "Upsample")]
        assert len(ups) == 2 and all(names[i + 1] == "Blur" for i in ups), names
    with pytest.raises(UserError, match=r"cyclegan\.g_norm is 'batch'"):
        load_config([], {"cyclegan.g_norm": "batch"})
    from nst_bench.config import CHOICES
    from nst_bench.methods.cyclegan import NORMS

    assert CHOICES["cyclegan.g_norm"] == tuple(NORMS)  # what the config and --g-norm accept is what the net builds


def test_the_pick_takes_the_lowest_kid_among_steps_without_grid_or_lost_photos_and_names_its_file(
        tmp_path, monkeypatch, capsys):
    import json
    import sys
    from pathlib import Path


    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "experiments"))
    import cyclegan_pick

    run = tmp_path / "run"
    history = [{"step": 1, "kid": 0.20, "grid_peak": 1.1, "identified_local": 0.3, "cycle_l1": 0.2},  # photos lost
               {"step": 2, "kid": 0.25, "grid_peak": 1.2, "identified_local": 0.7, "cycle_l1": 0.1},  # chosen
               {"step": 3, "kid": 0.22, "grid_peak": 2.0, "identified_local": 0.9, "cycle_l1": 0.1},  # grid
               {"step": 4, "kid": 0.30, "grid_peak": 1.0, "identified_local": 0.8, "cycle_l1": 0.1}]
    run.mkdir()
    (run / "val_history.json").write_text(json.dumps(history))
    (run / "references.json").write_text(json.dumps({"photos": {"grid_peak": 1.0}}))  # a run still training
    for step in (2, 4):
        save_generator(ResnetGenerator(width=4, blocks=1), kept_generator(run, step), step=step, direction="a2b")
    monkeypatch.setattr(sys, "argv", ["pick", str(run)])
    cyclegan_pick.main()
    chosen = json.loads((run / "chosen.json").read_text())
    assert chosen["step"] == 2 and chosen["file"].endswith("step_000002.safetensors") and len(chosen["sha256"]) == 64
    assert chosen["scores"]["kid"] == 0.25 and chosen["rule"]["photos_grid_peak"] == 1.0
    monkeypatch.setattr(sys, "argv", ["pick", str(run), "--min-identified", "0.95"])
    with pytest.raises(SystemExit, match=r"no step of .* passes"):
        cyclegan_pick.main()
    monkeypatch.setattr(sys, "argv", ["pick", str(run), "--min-identified", "0.75"])  # step 4: its generator is gone
    kept_generator(run, 4).unlink()
    with pytest.raises(SystemExit, match=r"step_000004.safetensors is missing"):
        cyclegan_pick.main()
    (run / "val_history.json").unlink()  # a run before its first sample step: a one-line reason, no traceback
    with pytest.raises(SystemExit, match=r"holds no held-out scores"):
        cyclegan_pick.main()


def test_held_out_translations_reads_a_kept_step_and_names_the_kept_ones_otherwise(tmp_path):
    from nst_bench.data.images import save_image
    from nst_bench.errors import UserError
    from nst_bench.recipes.train_cyclegan import held_out_translations, kept_steps

    run = tmp_path / "run"
    with pytest.raises(UserError, match="holds no step_"):
        kept_steps(run)
    photos = [save_image(torch.rand(1, 3, 40, 48), tmp_path / f"p{i}.png") for i in range(3)]
    torch.manual_seed(0)
    g = ResnetGenerator(width=4, blocks=1)
    for step in (200, 100):
        save_generator(g, kept_generator(run, step), step=step, held_out=[str(p) for p in photos])
    assert kept_steps(run) == [100, 200]
    images, out, meta = held_out_translations(run, 200, size=48)
    assert images.shape == out.shape == (3, 3, 40, 48) and meta["step"] == 200
    assert torch.allclose(out, g.eval()(images), atol=1e-6)
    with pytest.raises(UserError, match=r"no generator at step 300: choose from \[100, 200\]"):
        held_out_translations(run, 300)


def test_a_mirrored_border_changes_a_translation_most_along_its_edges_and_reaches_the_method(tmp_path):
    from nst_bench.config import config_hash, load_config, to_dict
    from nst_bench.methods.cyclegan import CycleGAN, mirrored
    from nst_bench.run.cache import ProcessCache

    torch.manual_seed(0)
    g = ResnetGenerator(width=8, blocks=2).eval()
    init_weights(g)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        plain, mirror = g(x), mirrored(g, x, 16)
    assert torch.equal(mirrored(g, x, 0), plain) and mirror.shape == plain.shape
    change = (plain - mirror).abs().mean(1)[0]
    frame = torch.ones_like(change, dtype=torch.bool)
    frame[4:-4, 4:-4] = False
    assert change[frame].mean() > 2 * change[~frame].mean() > 0  # the zero padding shows along the edges
    assert mirrored(g, torch.rand(1, 3, 8, 8), 32).shape == (1, 3, 8, 8)  # a border wider than the photo is cut

    path = save_generator(g, tmp_path / "g.safetensors", paintings=[])
    translate = {b: CycleGAN().build(load_config(overrides={"method": "cyclegan", "cyclegan.checkpoint": str(path),
                                                            "cyclegan.border": b}), ProcessCache()).forward
                 for b in (0, 16)}
    with torch.no_grad():
        assert torch.allclose(translate[0](x, [], []), plain) and torch.allclose(translate[16](x, [], []), mirror)
    data = to_dict(load_config(overrides={"method": "adain"}))  # configs from before the key keep their id
    assert config_hash(data) == config_hash(data | {"cyclegan": {k: v for k, v in data["cyclegan"].items()
                                                                  if k != "border"}})


def test_the_grid_probe_notch_removes_exactly_a_4_pixel_grid_and_its_control_keeps_it(monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "experiments"))
    from cyclegan_grid_probe import notch

    torch.manual_seed(0)
    base = 0.3 + 0.4 * torch.nn.functional.avg_pool2d(torch.rand(2, 3, 64, 64), 5, 1, 2)
    lattice = torch.zeros(64, 64)
    lattice[::4, ::4] = 0.1
    lattice -= lattice.mean()  # the notch keeps the mean (DC is no grid)
    assert (notch(base + lattice) - notch(base)).abs().max() < 1e-5  # the grid is gone, whatever the image
    assert torch.allclose(notch(base + lattice, offset=3) - notch(base, offset=3), lattice.expand(2, 3, 64, 64),
                          atol=1e-5)  # the control leaves the grid whole
    assert 0 < (notch(base) - base).abs().mean() < 0.01  # and both take little else


def test_the_generators_average_trails_the_trained_weights_and_is_what_gets_scored_and_resumed():
    torch.manual_seed(0)
    nets = [ResnetGenerator(8, 1), ResnetGenerator(8, 1), PatchDiscriminator(8), PatchDiscriminator(8)]
    for n in nets:
        init_weights(n)
    start = [p.detach().clone() for p in nets[0].parameters()]
    module = CycleGANModule(*nets, lr=2e-3, steps=20, decay_from=20, g_ema=0.9)
    assert module.generators() == (module.g_ab_ema, module.g_ba_ema)
    data = DataLoader([(torch.rand(3, 32, 32), torch.rand(3, 32, 32) * 0.5)] * 20, batch_size=1)
    pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False).fit(module, data)
    assert not any(p.requires_grad for p in module.g_ab_ema.parameters())

    def moved(g: ResnetGenerator) -> float:
        return sum(float((p - p0).abs().sum()) for p0, p in zip(start, g.parameters(), strict=True))

    moved_live, moved_avg = moved(module.g_ab), moved(module.g_ab_ema)
    assert 0 < moved_avg < moved_live  # it has left the init, and lags behind the trained weights
    state = module.state_dict()  # a checkpoint holds the averages, so a resumed run goes on averaging them
    assert any(k.startswith("g_ab_ema.") for k in state) and any(k.startswith("g_ba_ema.") for k in state)
    plain = CycleGANModule(*nets)
    assert plain.generators() == (plain.g_ab, plain.g_ba) and not any("ema" in k for k in plain.state_dict())


def test_a_feature_discriminator_trains_only_its_head_keeps_the_encoder_out_of_its_file_and_tells_paintings_apart():

    from nst_bench.config import CycleGANConfig, load_config
    from nst_bench.data.images import load_image
    from nst_bench.errors import UserError
    from nst_bench.methods.cyclegan import FeatureDiscriminator, lsgan
    from nst_bench.recipes.train_cyclegan import build_networks

    from .conftest import CONTENT, STYLE

    torch.manual_seed(0)
    *_, d_a, d_b = build_networks(CycleGANConfig(width=8, blocks=1, d_width=8, d_features="vgg16"))
    assert isinstance(d_b, FeatureDiscriminator) and d_a.encoder[0] is d_b.encoder[0]  # one VGG for both
    assert all(k.startswith("head.") for k in d_b.state_dict())  # the frozen weights are not saved per run
    photo, painting = (load_image(p, 96)[..., :64, :64] for p in (CONTENT, STYLE))
    opt = torch.optim.Adam(d_b.parameters(), 2e-4, betas=(0.5, 0.999))
    for _ in range(30):
        loss = 0.5 * (lsgan(d_b(painting), True) + lsgan(d_b(photo), False))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(p.grad is None for p in d_b.encoder[0].parameters())
    with torch.no_grad():
        assert d_b(painting).mean() - d_b(photo).mean() > 0.5
    *_, d_avg = build_networks(CycleGANConfig(width=8, blocks=1, d_width=8, d_features="vgg16_avg"))
    assert d_avg.encoder[0].pooling == "avg" and d_b.encoder[0].pooling == "max"
    d_avg.load_state_dict(d_b.state_dict())  # the same head: what differs is the pooling it reads through
    with torch.no_grad():
        assert d_avg(photo).shape == d_b(photo).shape and not torch.allclose(d_avg(photo), d_b(photo), atol=1e-3)
    from nst_bench.methods.cyclegan import PatchDiscriminator

    *_, d_a, d_b = build_networks(CycleGANConfig(width=8, blocks=1, d_width=8, d_features="vgg16_avg",
                                                 d_features_on="paintings"))
    assert isinstance(d_a, PatchDiscriminator) and isinstance(d_b, FeatureDiscriminator)  # photos: pixels
    *_, d_a, d_joint = build_networks(CycleGANConfig(width=8, blocks=1, d_width=8, d_features="vgg16_avg",
                                                     d_features_on="paintings_with_pixels"))
    assert isinstance(d_a, PatchDiscriminator)
    features, pixels = d_joint.parts
    assert isinstance(features, FeatureDiscriminator) and isinstance(pixels, PatchDiscriminator)
    crop = torch.rand(2, 3, 128, 128, requires_grad=True)
    scores = d_joint(crop)  # both score maps, flattened side by side: 14x14 patches each at 128 px
    assert scores.shape == (2, 2 * 14 * 14)
    with torch.no_grad():
        assert torch.equal(scores[:, :196], features(crop).flatten(1))
        assert torch.equal(scores[:, 196:], pixels(crop).flatten(1))
    lsgan(scores, True).backward()  # the generator's gradient comes through both
    assert crop.grad.abs().sum() > 0 and all(p.grad is not None for p in pixels.parameters())
    assert all(p.grad is not None for p in features.head.parameters())
    with pytest.raises(UserError, match="d_spectral_norm applies to the pixel discriminator"):  # before any work
        load_config(overrides={"method": "cyclegan", "cyclegan.d_features": "vgg16", "cyclegan.d_spectral_norm": True})
    with pytest.raises(UserError, match=r"set cyclegan\.d_features"):
        load_config(overrides={"method": "cyclegan", "cyclegan.d_features_on": "paintings"})
    with pytest.raises(UserError, match="lambda_grid is a loss weight"):
        load_config(overrides={"method": "cyclegan", "cyclegan.lambda_grid": -1.0})
    with pytest.raises(UserError, match="grid_tolerance is the lattice power ratio"):
        load_config(overrides={"method": "cyclegan", "cyclegan.grid_tolerance": 0.5})
    with pytest.raises(UserError, match="lambda_regular is a loss weight"):
        load_config(overrides={"method": "cyclegan", "cyclegan.lambda_regular": -1.0})
    with pytest.raises(UserError, match="regular_tolerance is the texture rebound"):
        load_config(overrides={"method": "cyclegan", "cyclegan.regular_tolerance": 1.5})
    with pytest.raises(UserError, match="border is the px of photo mirrored"):
        load_config(overrides={"method": "cyclegan", "cyclegan.border": -4})
