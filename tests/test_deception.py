import shutil

import pytest
import torch

from nst_bench.evaluate.deception import copies, fit_folded_probe
from nst_bench.nets.classifier import imagenet_classifier

from .conftest import SHARED


def test_copies_group_near_identical_features_transitively():
    base = torch.randn(4, 16)
    feats = torch.cat([base, base[1:2] + 1e-3 * torch.randn(1, 16), base[1:2] + 2e-3 * torch.randn(1, 16)])
    group = copies(feats)
    assert group[4] == group[5] == group[1] and len(set(group[:4])) == 4


def test_a_stylization_is_never_scored_by_a_probe_that_trained_on_its_painting_or_a_copy_of_it(tmp_path):
    data = SHARED / "data"
    paintings = {"monet": sorted((data / "paintings256/monet").glob("*.jpg"))[:5],
                 "van_gogh": sorted((data / "paintings256/van_gogh").glob("*.jpg"))[:5],
                 "hokusai": sorted((data / "artists/hokusai").glob("*.jpg"))[:4]}
    copy = tmp_path / "renamed_copy.jpg"  # the same painting in a second folder under another name
    shutil.copy(paintings["monet"][0], copy)
    paintings["monet"].append(copy)
    classifier = imagenet_classifier("efficientnet_lite0")
    probe = fit_folded_probe(classifier, paintings, folds=3, crops=3, size=160, epochs=100, progress=False)
    assert probe.fold[copy] == probe.fold[paintings["monet"][0]]
    everyone = [p for ps in paintings.values() for p in ps]
    for p in everyone:
        k = probe.fold[p]
        assert probe.probe_for(p) is probe.probes[k]
        assert p not in probe.trained_on[k] and everyone != list(probe.trained_on[k])
        assert copy not in probe.trained_on[probe.fold[paintings["monet"][0]]]
    assert all(len(t) < len(everyone) for t in probe.trained_on) and set(probe.heldout) == set(paintings)
    assert all(0.0 <= v <= 1.0 for v in probe.heldout.values())
    with pytest.raises(KeyError, match="not one of the artist classifier's paintings"):
        probe.probe_for(tmp_path / "unknown.jpg")
    image = torch.rand(1, 3, 96, 96)
    assert probe.predict(classifier, [image], [paintings["hokusai"][0]], crops=2)[0] in paintings


def test_the_artist_classifier_reads_its_painting_features_back_from_the_cache_and_fits_the_same_probes(
        tmp_path, monkeypatch):
    data = SHARED / "data"
    paintings = {"monet": sorted((data / "paintings256/monet").glob("*.jpg"))[:3],
                 "van_gogh": sorted((data / "paintings256/van_gogh").glob("*.jpg"))[:3]}
    classifier = imagenet_classifier("efficientnet_lite0")
    fit = dict(folds=3, crops=2, size=96, epochs=20, progress=False, cache=tmp_path)
    first = fit_folded_probe(classifier, paintings, **fit)
    assert len(list(tmp_path.glob("*.pt"))) == 1

    def no_features(*args, **kwargs):
        raise AssertionError("features recomputed although they are cached")

    monkeypatch.setattr(classifier, "features", no_features)
    second = fit_folded_probe(classifier, paintings, **fit)
    assert second.fold == first.fold and second.heldout == first.heldout
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(first.probes, second.probes))
    with pytest.raises(AssertionError, match="recomputed"):  # other paintings: another key, computed again
        fit_folded_probe(classifier, {"monet": paintings["monet"][:2], "van_gogh": paintings["van_gogh"]}, **fit)
