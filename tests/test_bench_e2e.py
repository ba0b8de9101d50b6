"""benchmarks/e2e.py's arithmetic on a made-up run: critical path, gaps, overhead per task."""

from __future__ import annotations

from benchmarks.e2e import critical_path, figures, merged

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


def test_a_mapped_task_is_one_node_from_its_first_start_to_its_last_end():
    group = [
        {"state": "success", "start": 105.0, "end": 108.0, "duration": 3.0, "tries": 1,
         "map_index": 0, "timing": {"compute_s": 2.5}},
        {"state": "success", "start": 105.5, "end": 110.0, "duration": 4.5, "tries": 1,
         "map_index": 1, "timing": {"compute_s": 4.0}},
    ]
    node = merged(group)
    assert (node["start"], node["end"], node["duration"]) == (105.0, 110.0, 5.0)
    # side by side: the span (5 s) times the instances' compute share (6.5 of 7.5 s)
    assert node["timing"] == {"compute_s": round(5.0 * 6.5 / 7.5, 3)}
    assert [m["compute"] for m in node["mapped"]] == [2.5, 4.0]
    single = {**group[0], "map_index": -1}
    assert merged([single]) is single


def test_a_skipped_expand_is_not_on_the_critical_path():
    # b is an expand over no chunks: skipped, with dates after c's end
    tis = _tis(b={"state": "skipped", "start": 111.5, "end": 111.5})
    assert critical_path(tis, UPSTREAM, "d") == ["a", "c", "d"]
    r = figures(tis, UPSTREAM, triggered=100.0, duration=10.0, state="success")
    assert "b" not in r["tasks"] and r["tasks"]["d"]["wait"] == 1.0
