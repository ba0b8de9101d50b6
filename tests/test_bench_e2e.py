"""benchmarks/e2e.py's arithmetic on a made-up run: critical path, gaps, overhead per task."""

from __future__ import annotations

from benchmarks.e2e import critical_path, figures

# a → b → d and a → c → d; c ends after b, so the path runs through c
UPSTREAM = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


def _tis(**over):
    tis = {  # epoch seconds; the trigger is at 100
        "a": {"state": "success", "start": 101.0, "end": 104.0, "timing": {"compute_s": 2.0}},
        "b": {"state": "success", "start": 105.0, "end": 106.0, "timing": {"compute_s": 0.5}},
        "c": {"state": "success", "start": 105.0, "end": 110.0, "timing": {"compute_s": 4.0}},
        "d": {"state": "success", "start": 111.0, "end": 113.0, "timing": {"compute_s": 1.0}},
    }
    for k, v in over.items():
        tis[k].update(v)
    for ti in tis.values():
        ti["duration"] = ti["end"] - ti["start"]
    return tis


def test_critical_path_goes_through_the_upstream_that_ended_last():
    assert critical_path(_tis(), UPSTREAM, "d") == ["a", "c", "d"]
    assert critical_path(_tis(b={"end": 112.0}), UPSTREAM, "d") == ["a", "b", "d"]


def test_figures_of_a_run():
    r = figures(_tis(), UPSTREAM, triggered=100.0, duration=10.0, state="success")
    assert r["end_task"] == "d"
    assert r["trigger_to_end_s"] == 13.0
    assert r["ratio_to_source"] == 1.3
    assert r["critical_path_task_s"] == 3.0 + 5.0 + 2.0
    assert r["critical_path_compute_s"] == 7.0
    assert r["scheduling_gaps_s"] == 3.0  # 13 s wall − 10 s of tasks: before a, a→c, c→d
    assert r["fixed_overhead_per_task_s"] == 2.0  # (13 − 7) ÷ 3
    assert r["in_task_overhead_per_task_s"] == 1.0  # (10 − 7) ÷ 3
    assert r["dominant_task"] == "c"
    assert r["tasks"]["c"]["overhead"] == 1.0 and r["tasks"]["c"]["wait"] == 1.0
    assert r["tasks"]["d"]["wait"] == 1.0  # after c, its last upstream


def test_a_failed_run_ends_at_the_task_that_ran_last():
    tis = _tis(d={"state": "upstream_failed", "start": 111.0, "end": 111.0},
               c={"state": "failed"})
    r = figures(tis, UPSTREAM, triggered=100.0, duration=10.0, state="failed")
    assert r["end_task"] == "c" and r["trigger_to_published_s"] is None
    assert r["critical_path"] == ["a", "c"]
    assert "d" not in r["tasks"]
