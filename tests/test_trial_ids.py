"""Trial ids name result folders and decide what a resumed sweep skips: a refactor must leave them unchanged."""

import json

from .conftest import ROOT
from .trial_ids import bundled_trial_ids


def test_bundled_sweeps_keep_their_trial_ids(monkeypatch):
    monkeypatch.chdir(ROOT)
    expected = json.loads((ROOT / "tests" / "data" / "trial_ids.json").read_text())
    got = bundled_trial_ids()
    assert set(got) == set(expected), "a sweep file was added or removed: regenerate tests/data/trial_ids.json"
    for name, ids in expected.items():
        assert got[name] == ids, f"{name}: trial ids changed (tests/data/make_trial_ids.py regenerates them)"


def test_a_key_added_later_changes_an_id_only_when_set_away_from_its_default():
    from nst_bench.config import config_hash, load_config

    base = config_hash(load_config([], {"gatys.pyramid": 1}))
    assert config_hash(load_config()) == base
    assert config_hash(load_config([], {"gatys.pyramid": 4})) != base
