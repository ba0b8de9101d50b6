"""Under a real Airflow (scheduler, dag-processor, triggerer, api-server): REST in, video out.

Uses the session's ``airflow_server`` (tests/conftest.py): its own home, port and store under
test-output/, so it never touches a developer's running Airflow.
"""

from __future__ import annotations

import hashlib

import pytest
import requests

from include.airflow_client import AirflowAPIError
from include.review import ScriptReview, submit_review
from include.stages.ingest import video_id_for
from include.storage import artifact_key
from tests.conftest import AIRFLOW_TEST_PORT as PORT

pytestmark = pytest.mark.scheduler

UPSTREAM = ["ingest", "analyze", "script", "review_gate"]
# animate draws from the reviewed script, not the voice: a rerun from voiceover keeps its clips
NOT_DOWNSTREAM = ["animate"]
RERUN = ["voiceover", "edit", "chunk_plan", "render_chunk", "render", "qc", "metadata",
         "thumbnail", "captions", "publish"]
# a short video's render_chunk is an expand over []: skipped again on the rerun, no worker
SKIPPED = {"render_chunk"}


@pytest.fixture(scope="module")
def airflow(airflow_server):
    return airflow_server.client, airflow_server.store


def _vid(clip, tenant):
    return video_id_for(tenant, hashlib.sha256(clip.read_bytes()).hexdigest())


def _tries(client, run_id):
    return {t["task_id"]: (t["try_number"], t["state"]) for t in client.task_instances(run_id)}


def test_invalid_conf_is_a_400_not_a_run(airflow):
    client, _ = airflow
    with pytest.raises(AirflowAPIError) as err:
        client.trigger("bad-conf", {"tenant": "Not Valid!", "source": "/x.mp4"})
    assert err.value.status == 400
    with pytest.raises(AirflowAPIError) as err:
        client.get_run("bad-conf")
    assert err.value.status == 404


def test_rest_run_then_rerun_from_voiceover_keeps_upstream(airflow, sample_clip):
    client, store = airflow
    clip, _ = sample_clip
    tenant = "sched"
    vid = _vid(clip, tenant)
    run, created = client.trigger(vid, {"tenant": tenant, "source": str(clip), "title_hint": "Scheduler test"})
    assert created
    assert client.wait(vid, timeout=600)["state"] == "success", _tries(client, vid)

    before = _tries(client, vid)
    upstream_keys = [
        artifact_key(tenant, vid, "ingest", "source.json"),
        artifact_key(tenant, vid, "analyze", "segments.json"),
        artifact_key(tenant, vid, "script", "script.json"),
    ]
    stamps = {k: store.mtime_ns(k) for k in upstream_keys}
    final_key = artifact_key(tenant, vid, "render", "final.mp4")
    final_stamp = store.mtime_ns(final_key)

    cleared = client.clear_from(vid, "voiceover")
    assert cleared == sorted(RERUN)
    assert client.wait(vid, timeout=600)["state"] == "success", _tries(client, vid)
    after = _tries(client, vid)
    for t in UPSTREAM + NOT_DOWNSTREAM:
        assert after[t] == before[t], t
    for t in RERUN:
        if t in SKIPPED:
            assert before[t][1] == after[t][1] == "skipped", t
            continue
        assert after[t][0] == before[t][0] + 1 and after[t][1] == "success", t
    assert {k: store.mtime_ns(k) for k in upstream_keys} == stamps
    assert store.mtime_ns(final_key) > final_stamp

    # The same file for the same tenant is the same video: 409 → "already exists".
    again, created = client.trigger(vid, {"tenant": tenant, "source": str(clip)})
    assert not created and again["dag_run_id"] == vid


def test_review_gate_defers_until_approved_and_asks_again_after_a_rerun_from_script(airflow, sample_clip):
    """Review mode: edit + approve → the edit is narrated. Rerun from script: a new revision, the
    edit and the approval go to history, the gate waits again, the stale edit is not narrated."""
    client, store = airflow
    clip, _ = sample_clip
    tenant = "sched-review"
    vid = _vid(clip, tenant)
    # the sample shows no text and says no words: the title hint is what there is to narrate
    client.trigger(vid, {"tenant": tenant, "source": str(clip), "script_mode": "review_before_tts",
                         "title_hint": "Scheduler review test"})
    ti = client.wait_task(vid, "review_gate", {"deferred", "failed"}, timeout=300)
    assert ti["state"] == "deferred"
    assert _tries(client, vid)["voiceover"][1] in (None, "none", "no_status", "scheduled")
    review = ScriptReview(store, tenant, vid)
    first = review.state()
    assert first.run_id == vid and first.decision is None
    seg = first.script["segments"][0]["id"]
    review.save_edit({seg: EDITED}, by="test")
    submit_review(store, tenant, vid, "approved", by="test")
    assert client.wait(vid, timeout=600)["state"] == "success", _tries(client, vid)
    assert _spoken(store, tenant, vid)[seg] == EDITED

    gate_try = _tries(client, vid)["review_gate"][0]
    assert "review_gate" in client.clear_from(vid, "script")
    ti = client.wait_task(vid, "review_gate", {"deferred", "failed", "success"}, timeout=300)
    assert ti["state"] == "deferred" and ti["try_number"] > gate_try, ti
    second = review.state()
    assert second.revision != first.revision
    assert second.edit is None and second.decision is None and second.ignored == []
    moved = store.list(artifact_key(tenant, vid, "review", "history"))
    assert len(moved) == 2 and all(first.revision in k for k in moved), moved
    assert _tries(client, vid)["voiceover"][1] in (None, "none", "no_status", "scheduled")

    submit_review(store, tenant, vid, "approved", by="test")
    assert client.wait(vid, timeout=600)["state"] == "success", _tries(client, vid)
    assert _spoken(store, tenant, vid)[seg] == second.script["segments"][0]["text"] != EDITED


EDITED = "Words a reviewer wrote for the first script."


def _spoken(store, tenant, vid) -> dict[str, str]:
    voice = store.get_json(artifact_key(tenant, vid, "voiceover", "voiceover.json"))
    return {s["id"]: s["text"] for s in voice["segments"]}


def test_api_requires_auth(airflow):
    r = requests.get(f"http://127.0.0.1:{PORT}/api/v2/dags/video_pipeline", timeout=10)
    assert r.status_code == 401
