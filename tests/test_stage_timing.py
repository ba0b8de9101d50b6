"""StageIO.publish splits a stage's part of its task into fetch, compute and upload seconds
(``benchmarks/e2e.py`` subtracts them from the task's duration to get its fixed cost)."""

from __future__ import annotations

import time

from include.core.options import Settings
from include.pipeline import StageIO
from include.storage import ArtifactStore, artifact_key


def _io(tmp_path, **kwargs) -> StageIO:
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    (tmp_path / "out").mkdir()
    return StageIO(stage="captions", tenant="t", video_id="t-1", settings=Settings(tenant="t"),
                   store=store, work_dir=tmp_path / "work", out_dir=tmp_path / "out", **kwargs)


def test_publish_reports_compute_without_the_fetches(tmp_path):
    # a stage that began 5 s ago and spent 2 s of it fetching computed for 3 s (and a little more:
    # the time this test takes to get to publish)
    io = _io(tmp_path, started=time.perf_counter() - 5.0, fetch_seconds=2.0)
    (io.out_dir / "captions.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHi.\n")
    before = time.perf_counter()
    payload = io.publish({"cues": 1})
    timing = payload["timing"]
    assert set(timing) == {"fetch_s", "compute_s", "upload_s"}
    assert timing["fetch_s"] == 2.0
    assert 3.0 <= timing["compute_s"] <= 3.0 + (before - io.started - 5.0) + 0.01
    assert timing["upload_s"] >= 0
    # the rest of the payload is what it always was
    assert payload["result"] == {"cues": 1}
    assert list(payload["artifacts"]) == ["captions.srt"]


def test_fetch_time_is_counted_once_per_key(tmp_path):
    io = _io(tmp_path)
    key = artifact_key("t", "t-1", "edit", "edl.json")
    io.store.put_json({"clips": []}, key)
    io.fetch(key)
    first = io.fetch_seconds
    assert first > 0
    io.fetch(key)  # already here: no download, no time
    assert io.fetch_seconds == first
    assert io.publish()["timing"]["fetch_s"] == round(first, 3)
