"""Retention protocol v2 end to end on a few real ImageNet photos: views, k paintings per artist, settings that
restrict photos and artists, scores kept across runs, rows that do not move when a setting is added, and an artist
classifier that never scores a stylization of a painting it trained on."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from nst_bench.cli import main
from nst_bench.data.images import load_image
from nst_bench.errors import UserError
from nst_bench.evaluate.retention import RetentionStudy, run_retention
from nst_bench.evaluate.retention_report import wnid

from .conftest import SHARED

IMAGENET = SHARED / "data" / "imagenet_sample"
ARTISTS = SHARED / "data" / "artists"
PHOTO = {"method": "photo", "retention.label": "photo"}
ADAIN = {"method": "adain", "retention.label": "AdaIN"}


def settings_file(path: Path, settings: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"name": "ret", "method": "grid", "parameters": {
        "tracking.wandb": {"value": "disabled"}, "tracking.score_outputs": {"value": False},
        "config": {"values": settings}}}))
    return path


def study(settings: Path, root: Path, **kw) -> RetentionStudy:
    s = RetentionStudy(settings, IMAGENET, [ARTISTS / "hokusai", ARTISTS / "van_gogh"], [ARTISTS], limit=4,
                       results_root=root, bootstrap=200, **kw)
    s.probe |= {"crops": 3, "size": 160}
    return s


def test_adding_a_setting_changes_no_other_row_and_no_probe_scores_its_own_painting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = study(settings_file(tmp_path / "s.yaml", [PHOTO, ADAIN]), tmp_path / "res")
    result = run_retention(first, wandb_mode="disabled")
    out = tmp_path / "res" / "ret"
    scores = pd.read_json(out / "scores.jsonl", lines=True)
    assert len(scores) == 2 * 4 * 2 * 2  # settings x photos x artists x k
    assert (scores.groupby(["setting", "content", "artist"]).painting.nunique() == 2).all()
    assert scores.label.str.match(r"n\d{8}").all() and set(scores.classifier) == {"efficientnet_lite2"}
    # every stylization was scored by the one probe that did not train on its painting
    probe = result["probe"]
    for row in scores.itertuples():
        assert probe.fold[Path(row.painting)] == row.probe_fold
        assert Path(row.painting) not in probe.trained_on[row.probe_fold]
    # the photo through the pipeline keeps what the classifier saw; AdaIN moves it away
    table = pd.read_csv(out / "retention.csv")
    pooled = table[table.artist == "all artists"].set_index("setting")
    assert pooled.loc["photo", "agreement"] >= pooled.loc["AdaIN", "agreement"]
    assert pooled.loc["photo", "ssim"] > 0.9 > pooled.loc["AdaIN", "ssim"]
    assert (pooled.photos == 4).all() and (pooled.images == 16).all()
    views = sorted((out / "views" / "efficientnet_lite2").glob("*.png"))
    assert len(views) == 4
    assert load_image(views[0]).shape[-2:] == (260, 260)  # the classifier's own view, nothing upscaled later
    assert load_image(Path(scores.trial_id.map(lambda t: out / t / "stylized.jpg").iloc[-1])).shape[-2:] == (260, 260)
    metrics = json.loads((out / scores.trial_id.iloc[-1] / "metrics.json").read_text())
    assert metrics["final"] == {} and metrics["config"]["tracking"]["score_outputs"] is False  # scored here instead
    paired = pd.read_csv(out / "paired.csv")
    assert list(paired[["a", "b"]].itertuples(index=False, name=None)) == [("photo", "AdaIN")]
    assert paired.photos.iloc[0] == 4 and 0 <= paired.sign_p.iloc[0] <= 1
    assert set(pd.read_csv(out / "deception.csv").artist) >= {"hokusai", "van_gogh"}
    # the page's markdown tables print the CSV's numbers: pooled rows, the pair, the probe's accuracy
    md = (out / "retention.md").read_text()
    photo = pooled.loc["photo"]
    assert f"{100 * photo.top1:.1f}% [{100 * photo.top1_lo:.1f}, {100 * photo.top1_hi:.1f}]" in md
    assert "| hokusai " not in md and "| hokusai " in (out / "per_artist.md").read_text()
    assert f"{100 * paired.difference.iloc[0]:+.1f}" in (out / "paired.md").read_text()
    assert "hokusai" in (out / "deception.md").read_text()
    record = json.loads((out / "study.json").read_text())
    assert record["clean"]["photos"] == 4
    assert record["clean"]["top1"] == pd.read_csv(out / "clean.csv").clean_top1.mean()
    assert record["scored"] == {"settings": 2, "stylizations": len(scores)}
    clean = pd.read_csv(out / "clean.csv")
    assert record["clean"]["enlarged"] == int((clean.short_side < record["clean"]["view_short_side"]).sum())
    # examples: a row per setting in the study's order, the same 4 photos in each, a bar green where top-1 holds
    sheet = Image.open(out / "plots" / "examples.jpg").convert("RGB")
    assert sheet.size == (170 + 4 * (128 + 4), 18 + 2 * (128 + 6 + 4))
    for i, setting in enumerate(["photo", "AdaIN"]):
        first = scores[scores.setting == setting].sort_values(["content", "artist", "painting"]).iloc[0]
        r, g, _ = sheet.getpixel((170 + 64, 18 + i * (128 + 6 + 4) + 128 + 3))
        assert (g > r) == bool(first.top1), (setting, r, g)

    # a third setting, first in the file (a shared random stream would shift every row after it), restricted to
    # every 2nd photo and one artist: the other two settings' rows and their pair stay identical
    half = {"method": "adain", "adain.alpha": 0.5, "retention.label": "AdaIN 0.5, every 2nd, hokusai",
            "retention.every": 2, "retention.artists": ["hokusai"]}
    second = study(settings_file(tmp_path / "s.yaml", [half, PHOTO, ADAIN]), tmp_path / "res")
    run_retention(second, wandb_mode="disabled")
    again = pd.read_csv(out / "retention.csv")
    assert again.setting.iloc[0] == half["retention.label"]
    pd.testing.assert_frame_equal(again[again.setting != half["retention.label"]].reset_index(drop=True), table)
    pairs = pd.read_csv(out / "paired.csv")
    assert len(pairs) == 3
    pd.testing.assert_frame_equal(pairs[(pairs.a == "photo") & (pairs.b == "AdaIN")].reset_index(drop=True), paired)
    new = pd.read_json(out / "scores.jsonl", lines=True)
    assert len(new) == len(scores) + 2 * 1 * 2  # only the new setting was scored
    mine = new[new.setting == half["retention.label"]]
    assert set(mine.artist) == {"hokusai"} and sorted(mine.content.unique()) == sorted(scores.content.unique())[::2]
    row = again[again.setting == half["retention.label"]].iloc[0]
    assert row.artist == "hokusai" and row.photos == 2
    assert pooled.loc["AdaIN", "ssim"] < row.ssim < pooled.loc["photo", "ssim"]

    # tables only: a setting with nothing scored yet leaves them, nothing is stylized or scored, the rest stays
    pending = {"method": "adain", "adain.alpha": 0.25, "retention.label": "AdaIN 0.25, not run"}
    run_retention(study(settings_file(tmp_path / "t.yaml", [half, PHOTO, ADAIN, pending]), tmp_path / "res",
                        name="ret"), wandb_mode="disabled", stylize=False)
    pd.testing.assert_frame_equal(pd.read_csv(out / "retention.csv"), again)
    assert len(pd.read_json(out / "scores.jsonl", lines=True)) == len(new)

    # a setting's stylizations gone (trial folders are not in git): the whole sheet on disk stays, not one with a
    # blank row
    sheet_bytes = (out / "plots" / "examples.jpg").read_bytes()
    for trial in new[new.setting == "photo"].trial_id:
        (out / trial / "stylized.jpg").unlink()
    run_retention(second, wandb_mode="disabled")
    assert not any((out / t / "stylized.jpg").exists() for t in new[new.setting == "photo"].trial_id)  # not redone
    assert (out / "plots" / "examples.jpg").read_bytes() == sheet_bytes


def test_the_protocol_refuses_what_it_cannot_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="at least 2 paintings"):
        run_retention(study(settings_file(tmp_path / "s.yaml", [PHOTO]), tmp_path / "res", k=1))
    with pytest.raises(UserError, match="does not have"):
        run_retention(study(settings_file(tmp_path / "s.yaml", [PHOTO | {"retention.artists": ["monet"]}]),
                            tmp_path / "res"))
    with pytest.raises(UserError, match="share a label"):
        run_retention(study(settings_file(tmp_path / "s.yaml", [PHOTO, ADAIN | {"retention.label": "photo"}]),
                            tmp_path / "res"))
    assert main(["evaluate", "retention", str(settings_file(tmp_path / "s.yaml", [PHOTO])), "--content", str(IMAGENET),
                 "--artist", str(ARTISTS / "nobody")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "artist folder not found" in err[0]


def test_labels_come_from_the_wordnet_id_in_the_name():
    assert wnid("n01440764_tench") == "n01440764" and wnid("chelsea") is None


def test_a_setting_whose_network_is_gone_keeps_only_the_rows_of_that_network(tmp_path, monkeypatch):
    from nst_bench.evaluate.retention import kept_rows, planned
    from nst_bench.sweeps.spec import expand, trial_hash

    # the views' paths, not their pixels, enter the ids: no need to write them
    monkeypatch.setattr("nst_bench.sweeps.spec.expand_images", lambda value, base: [str(value)])

    def cyclegan(name: str) -> dict:
        return {"method": "cyclegan", "cyclegan.checkpoint": str(tmp_path / name), "retention.label": "CycleGAN"}

    def plan_of(setting: dict):
        s = study(settings_file(tmp_path / "s.yaml", [setting]), tmp_path)
        return planned(s, 64, tmp_path / "views")[1][0][:2]

    def scored_rows(setting: dict, sha: str) -> list[dict]:  # what scoring wrote while that network was here
        _, sweep = plan_of(setting)
        return [{"trial_id": trial_hash(t.config, sha), "network_sha256": sha} for t in expand(sweep, tmp_path)]

    old, new = scored_rows(cyclegan("old.safetensors"), "a" * 64), scored_rows(cyclegan("new.safetensors"), "b" * 64)
    setting, sweep = plan_of(cyclegan("new.safetensors"))
    kept = kept_rows(setting, sweep, {"CycleGAN": old + new}, tmp_path)  # the label scored two networks
    assert kept == new and len(new) == len(old) > 0  # not the old network's rows, whose ids differ
    assert not {r["trial_id"] for r in old} & {r["trial_id"] for r in new}
    with pytest.raises(UserError, match="no scores yet"):
        kept_rows(setting, sweep, {"CycleGAN": old}, tmp_path)
    (tmp_path / "new.safetensors").write_bytes(b"x")  # present: it is run and scored as usual
    assert kept_rows(setting, sweep, {"CycleGAN": old + new}, tmp_path) is None
    adain, adain_sweep = plan_of(ADAIN)
    assert kept_rows(adain, adain_sweep, {}, tmp_path) is None


def test_a_stylization_that_failed_is_run_again_when_the_study_is_rerun(tmp_path, monkeypatch):
    from nst_bench.methods.photo import Photo

    monkeypatch.chdir(tmp_path)
    s = study(settings_file(tmp_path / "s.yaml", [PHOTO | {"retention.artists": ["hokusai"]}]), tmp_path / "res")
    real = Photo.build

    def broken(self, cfg, cache):
        raise RuntimeError("a bug in the method")

    monkeypatch.setattr(Photo, "build", broken)
    with pytest.raises(UserError, match=r"failed .*fix the cause and rerun the study"):
        run_retention(s, wandb_mode="disabled")
    monkeypatch.setattr(Photo, "build", real)  # the cause fixed: the rerun retries the failed stylizations
    run_retention(s, wandb_mode="disabled")
    scores = pd.read_json(tmp_path / "res" / "ret" / "scores.jsonl", lines=True)
    assert len(scores) == 4 * 2  # photos x k, all scored


def test_the_pilot_pairs_each_bf16_run_with_its_fp32_twin_on_the_same_photo_and_painting(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "experiments"))
    from retention_pilot import precision_pairs

    def row(trial: str, setting: str, painting: str, seconds: float, top1: float) -> dict:
        return {"trial_id": trial, "setting": setting, "content": "tench", "painting": painting, "seconds": seconds,
                "top1": top1, "agreement": top1, "gram_distance": 0.1, "ssim": 0.4, "lpips": 0.6, "deception": 1.0}

    scores = pd.DataFrame([row("a", "Gatys VGG19", "p1", 200, 1), row("b", "Gatys VGG19", "p2", 200, 0),
                           row("c", "Gatys VGG19 bf16", "p2", 120, 1), row("d", "Gatys VGG16", "p1", 210, 1),
                           row("e", "Gatys VGG19 bf16", "p3", 120, 1)])  # p3: no fp32 twin, no row
    pairs = precision_pairs(scores, {"a": 10.0, "b": 8.0, "c": 9.0, "d": 7.0, "e": 5.0})
    assert len(pairs) == 1 and pairs.painting[0] == "p2" and pairs.setting[0] == "Gatys VGG19 bf16"
    assert pairs.final_ratio[0] == pytest.approx(9 / 8) and pairs.time_ratio[0] == pytest.approx(0.6)
    assert (pairs.top1_bf16[0], pairs.top1_fp32[0]) == (1, 0)
    assert precision_pairs(scores[scores.setting != "Gatys VGG19 bf16"], {}).empty
