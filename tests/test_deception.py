import os
import shutil
from pathlib import Path

import pytest
import torch

from nst_bench.data.images import load_image
from nst_bench.evaluate import deception
from nst_bench.evaluate.artists import ArtistProbe
from nst_bench.evaluate.deception import copies, fit_folded_probe
from nst_bench.nets.classifier import imagenet_classifier

from .conftest import SHARED


def test_copies_group_near_identical_features_transitively():
    base = torch.randn(4, 16)
    feats = torch.cat([base, base[1:2] + 1e-3 * torch.randn(1, 16), base[1:2] + 2e-3 * torch.randn(1, 16)])
    group = copies(feats)
    assert group[4] == group[5] == group[1] and len(set(group[:4])) == 4


def test_a_stylization_is_never_scored_by_a_probe_that_trained_on_its_painting_or_a_copy_of_it(tmp_path,
                                                                                                monkeypatch):
    """Checked from the outside: the features each probe was actually fitted on (spied on fit_probe), and the probe
    actually called to judge an image (spied on ArtistProbe.probabilities). The worst case is judged: the
    "stylization" is the painting itself, and a renamed copy of one painting sits in the data too."""
    data = SHARED / "data"
    paintings = {"monet": sorted((data / "paintings256/monet").glob("*.jpg"))[:5],
                 "van_gogh": sorted((data / "paintings256/van_gogh").glob("*.jpg"))[:5],
                 "hokusai": sorted((data / "artists/hokusai").glob("*.jpg"))[:4]}
    copy = tmp_path / "renamed_copy.jpg"  # the same painting in a second folder under another name
    shutil.copy(paintings["monet"][0], copy)
    paintings["monet"].append(copy)
    classifier = imagenet_classifier("efficientnet_lite0")
    fitted: dict[int, torch.Tensor] = {}  # id(probe) -> the features it was fitted on
    real_fit = deception.fit_probe

    def spy_fit(artists, x, y, epochs):
        probe = real_fit(artists, x, y, epochs)
        fitted[id(probe)] = x
        return probe

    monkeypatch.setattr(deception, "fit_probe", spy_fit)
    probe = fit_folded_probe(classifier, paintings, folds=3, crops=3, size=160, epochs=100, progress=False)
    assert len(fitted) == 3
    called: list[int] = []
    real_probabilities = ArtistProbe.probabilities
    monkeypatch.setattr(ArtistProbe, "probabilities", lambda self, f: called.append(id(self))
                        or real_probabilities(self, f))

    def seen_by(probe_id: int, image: torch.Tensor) -> bool:
        whole = classifier.features([image])  # the whole painting is the first of its training crops
        return bool((torch.cdist(whole, fitted[probe_id]).min() < 1e-3 * whole.norm()).item())

    everyone = [p for ps in paintings.values() for p in ps]
    for p in everyone:
        image = load_image(p, 160)
        assert sum(seen_by(i, image) for i in fitted) >= 1  # the spy can see a training painting
        called.clear()
        verdict = probe.predict(classifier, [image], [p], seeds=[0], crops=2)[0]
        assert verdict in paintings and len(set(called)) == 1
        assert not seen_by(called[0], image), f"{p.name} was judged by a probe that trained on it"
    assert probe.fold[copy] == probe.fold[paintings["monet"][0]]  # the copy cannot leak its original
    assert set(probe.heldout) == set(paintings) and all(0.0 <= v <= 1.0 for v in probe.heldout.values())
    with pytest.raises(KeyError, match="not one of the artist classifier's paintings"):
        probe.probe_for(tmp_path / "unknown.jpg")


def test_a_verdict_depends_on_the_image_and_its_seed_not_on_what_is_scored_beside_it(monkeypatch):
    paintings = {"monet": sorted((SHARED / "data/paintings256/monet").glob("*.jpg"))[:3],
                 "van_gogh": sorted((SHARED / "data/paintings256/van_gogh").glob("*.jpg"))[:3]}
    classifier = imagenet_classifier("efficientnet_lite0")
    probe = fit_folded_probe(classifier, paintings, folds=3, crops=2, size=128, epochs=50, progress=False)
    images = [torch.rand(1, 3, 96, 96) for _ in range(3)]
    who = [paintings["monet"][0], paintings["van_gogh"][1], paintings["monet"][2]]
    seen: list[list[torch.Tensor]] = []
    real = classifier.features
    monkeypatch.setattr(classifier, "features", lambda crops, **kw: seen.append(crops) or real(crops, **kw))

    def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
        return len(a) == len(b) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b))

    probe.predict(classifier, images, who, seeds=[1, 2, 3], crops=3)
    together = seen[2]
    seen.clear()
    probe.predict(classifier, images[2:], who[2:], seeds=[3], crops=3)
    assert same(seen[0], together)  # the third image's crops, alone or after two others
    seen.clear()
    probe.predict(classifier, images[2:], who[2:], seeds=[4], crops=3)
    assert not same(seen[0], together)


def test_the_artist_classifier_reads_its_painting_features_back_from_the_cache_and_fits_the_same_probes(
        tmp_path, monkeypatch):
    data, folder = SHARED / "data", tmp_path / "paintings"
    folder.mkdir()
    paintings = {a: [Path(shutil.copy(p, folder)) for p in sorted((data / f"paintings256/{a}").glob("*.jpg"))[:3]]
                 for a in ("monet", "van_gogh")}
    classifier = imagenet_classifier("efficientnet_lite0")
    fit = dict(folds=3, crops=2, size=96, epochs=20, progress=False, cache=tmp_path / "cache")
    first = fit_folded_probe(classifier, paintings, **fit)
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1

    def no_features(*args, **kwargs):
        raise AssertionError("features recomputed although they are cached")

    monkeypatch.setattr(classifier, "features", no_features)
    for p in folder.iterdir():  # the same bytes with new times (../shared is copied afresh each session)
        os.utime(p, (1e9, 1e9))
    second = fit_folded_probe(classifier, paintings, **fit)
    assert second.fold == first.fold and second.heldout == first.heldout
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(first.probes, second.probes))
    with pytest.raises(AssertionError, match="recomputed"):  # other paintings: another key, computed again
        fit_folded_probe(classifier, {"monet": paintings["monet"][:2], "van_gogh": paintings["van_gogh"]}, **fit)
    shutil.copy(paintings["van_gogh"][0], paintings["monet"][0])  # same names, other bytes: computed again
    with pytest.raises(AssertionError, match="recomputed"):
        fit_folded_probe(classifier, paintings, **fit)


def test_painting_features_killed_part_way_go_on_from_the_last_save_and_equal_an_unbroken_run(
        tmp_path, monkeypatch):
    from nst_bench.evaluate import deception

    items = [("monet", p) for p in sorted((SHARED / "data/paintings256/monet").glob("*.jpg"))[:5]]
    classifier = imagenet_classifier("efficientnet_lite0")
    whole = deception.painting_features(classifier, items, 3, 64, seed=1, progress=False)
    monkeypatch.setattr(deception, "FEATURES_SAVE_EVERY", 2)
    real, calls = classifier.features, []

    def dies_at_the_fourth(crops):
        calls.append(len(crops))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(crops)

    monkeypatch.setattr(classifier, "features", dies_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        deception.painting_features(classifier, items, 3, 64, seed=1, progress=False, cache=tmp_path)
    assert [p.name.endswith(".partial.pt") for p in tmp_path.iterdir()] == [True]  # 2 of 5 kept
    calls.clear()
    monkeypatch.setattr(classifier, "features", lambda crops: calls.append(1) or real(crops))
    resumed = deception.painting_features(classifier, items, 3, 64, seed=1, progress=False, cache=tmp_path)
    assert len(calls) == 3  # the 3 not saved, not all 5
    assert all(torch.equal(a, b) for a, b in zip(whole, resumed, strict=True))  # the crops' stream went on unbroken
    assert [p.name.endswith(".partial.pt") for p in tmp_path.iterdir()] == [False]
