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
