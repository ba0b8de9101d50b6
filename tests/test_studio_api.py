"""Studio REST API against the session's real Airflow (api-server with the plugin loaded).

One review-mode video is shared by the module: ten uploads of the same clip are finalized at
once (one run), then refusals are checked while it runs, then it is reviewed, approved and
played. The presigned-S3 path is tested in-process against moto (``local_s3``).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from include.core import keys
from include.sample_media import make_sample
from include.stages.ingest import video_id_for

pytestmark = pytest.mark.scheduler

TENANT = "acme"  # alice's tenant (airflow_settings.yaml: studio_tenants)


@dataclass
class Studio:
    url: str  # http://127.0.0.1:<port>/studio
    server: object

    def session(self, user: str | None) -> requests.Session:
        s = requests.Session()
        if user:
            token = requests.post(
                f"{self.server.url}/auth/token", json={"username": user, "password": user}, timeout=30
            ).json()["access_token"]
            s.headers["Authorization"] = f"Bearer {token}"
        return s


def upload(studio: Studio, s: requests.Session, data: bytes, name: str = "clip.mp4", **fields) -> dict:
    """init + every part; returns the ticket."""
    body = {"filename": name, "size": len(data), "content_type": "video/mp4", **fields}
    r = s.post(f"{studio.url}/api/uploads", json=body, timeout=30)
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["mode"] == "parts" and ticket["parts"] == math.ceil(len(data) / ticket["part_size"])
    for n in range(1, ticket["parts"] + 1):
        part = data[(n - 1) * ticket["part_size"] : n * ticket["part_size"]]
        r = s.put(studio.server.url + ticket["part_url"].replace("{n}", str(n)), data=part, timeout=60)
        assert r.status_code == 200, r.text
    return ticket


@pytest.fixture(scope="module")
def studio(airflow_server) -> Studio:
    return Studio(f"{airflow_server.url}/studio", airflow_server)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("studio") / "api.mp4"
    make_sample(path, seconds=8, size="320x180")
    return path.read_bytes()


@pytest.fixture(scope="module")
def race(studio, clip) -> dict:
    """Ten uploads of one clip by alice, finalized concurrently: one video, one run."""
    video_id = video_id_for(TENANT, hashlib.sha256(clip).hexdigest())
    alice = studio.session("alice")
    tickets = [
        upload(studio, alice, clip, script_mode="review_before_tts", title_hint="Studio API test")
        for _ in range(10)
    ]
    with ThreadPoolExecutor(10) as pool:
        responses = list(
            pool.map(lambda t: alice.post(studio.server.url + t["finalize_url"], timeout=120), tickets)
        )
    return {"tickets": tickets, "responses": responses, "alice": alice, "video_id": video_id}


def test_ten_racing_finalizes_make_one_video_and_one_run(studio, race):
    results = [r.json() for r in race["responses"]]
    assert [r.status_code for r in race["responses"]] == [200] * 10, results
    assert {r["video_id"] for r in results} == {race["video_id"]}
    assert sum(r["created"] for r in results) == 1
    runs = studio.server.client._call(
        "GET", "/dags/video_pipeline/dagRuns", params={"run_id_prefix_pattern": race["video_id"]}
    )
    assert runs["total_entries"] == 1
    # finalize again and with an Idempotency-Key: the same video, still one run
    again = race["alice"].post(
        studio.server.url + race["tickets"][0]["finalize_url"], headers={"Idempotency-Key": "k1"}, timeout=60
    )
    assert again.json()["video_id"] == race["video_id"]
    videos = race["alice"].get(f"{studio.url}/api/videos", timeout=30).json()["videos"]
    assert [v["video_id"] for v in videos].count(race["video_id"]) == 1


def test_idempotency_key_replays_the_upload_init(studio, clip):
    alice = studio.session("alice")
    body = {"filename": "same.mp4", "size": len(clip), "content_type": "video/mp4"}
    first, second = (
        alice.post(
            f"{studio.url}/api/uploads", json=body, headers={"Idempotency-Key": "init-1"}, timeout=30
        ).json()
        for _ in range(2)
    )
    assert first["upload_id"] == second["upload_id"]


def test_every_route_needs_an_airflow_user(studio):
    anon, forged = studio.session(None), studio.session(None)
    forged.headers["Authorization"] = "Bearer not-a-token"
    spec = studio.session("alice").get(f"{studio.url}/openapi.json", timeout=30).json()
    assert anon.get(f"{studio.url}/openapi.json", timeout=30).status_code == 401
    vid, upl = f"{TENANT}-0123456789abcdef", f"{TENANT}.{'0' * 32}"
    for path, methods in spec["paths"].items():
        url = studio.url + path.format(video_id=vid, upload_id=upl, n=1, name="render/final.mp4")
        for method in methods:
            for s in (anon, forged):
                r = s.request(method.upper(), url, json={}, timeout=30)
                assert r.status_code == 401, (method, path, r.status_code, r.text)
    for page in ("/videos", "/upload", f"/videos/{vid}"):
        r = anon.get(studio.url + page, allow_redirects=False, headers={"Accept": "text/html"}, timeout=30)
        assert r.status_code == 303 and "/auth/login" in r.headers["location"]


def test_other_tenants_cannot_touch_the_video(studio, race):
    bob, vid = studio.session("bob"), race["video_id"]
    base = f"{studio.url}/api/videos/{vid}"
    attempts = [
        ("GET", base, None),
        ("GET", f"{base}/script", None),
        ("PUT", f"{base}/script", {"segments": [{"id": "s01", "text": "Hijacked."}]}),
        ("POST", f"{base}/approve", {}),
        ("POST", f"{base}/reject", {"reason": "mine now"}),
        ("POST", f"{base}/rerun", {"from_stage": "voiceover"}),
        ("GET", f"{base}/artifacts/ingest/source.json", None),
        ("POST", studio.server.url + race["tickets"][0]["finalize_url"], None),
        ("PUT", studio.server.url + race["tickets"][0]["part_url"].replace("{n}", "1"), None),
    ]
    for method, url, body in attempts:
        r = bob.request(method, url, json=body, timeout=30)
        assert r.status_code in (403, 404), (method, url, r.status_code, r.text)
        assert "detail" in r.json()
    assert vid not in bob.get(f"{studio.url}/api/videos", timeout=30).text
    r = bob.post(
        f"{studio.url}/api/uploads",
        timeout=30,
        json={"filename": "x.mp4", "size": 10, "content_type": "video/mp4", "tenant": TENANT},
    )
    assert r.status_code == 403
    # admins see every tenant
    assert studio.session("admin").get(base, timeout=30).status_code == 200
    log = (studio.server.home / "standalone.log").read_text(errors="replace")
    assert "studio: refused rerun" in log and "'bob'" in log


@pytest.mark.parametrize(
    "path",
    [
        "../../../globex/videos/x/render/final.mp4",
        "..%2F..%2Fglobex%2Fx",
        "%2e%2e/%2e%2e/x",
        "/etc/passwd",
        "render/..%5C..%5Cx",
        "render/%00",
    ],
)
def test_traversal_is_refused(studio, race, path):
    alice = race["alice"]
    url = f"{studio.url}/api/videos/{race['video_id']}/artifacts/{path}"
    req = alice.prepare_request(requests.Request("GET", url))
    req.url = url  # keep the path exactly as written (no normalisation)
    r = alice.send(req, timeout=30)
    assert r.status_code in (403, 404), (path, r.status_code, r.text)


@pytest.mark.parametrize("video_id", ["..", "acme-..%2F..", "ACME-0123456789abcdef", "acme"])
def test_malformed_video_ids_are_not_found(studio, race, video_id):
    r = race["alice"].get(f"{studio.url}/api/videos/{video_id}", timeout=30)
    assert r.status_code in (403, 404)


def test_malformed_requests_get_a_4xx_with_a_message(studio, race, clip):
    alice, url = race["alice"], f"{studio.url}/api"
    vid = race["video_id"]
    cases = [
        alice.post(f"{url}/uploads", data="{not json", headers={"Content-Type": "application/json"}),
        alice.post(f"{url}/uploads", json={"filename": "x.mp4"}),
        alice.post(f"{url}/uploads", json={"filename": "x.mp4", "size": "big"}),
        alice.post(f"{url}/uploads", json={"filename": "x.mp4", "size": 10, "script_mode": "yolo"}),
        alice.post(f"{url}/uploads", json={"filename": "x.mp4", "size": 10, "voice": "a b"}),
        alice.post(f"{url}/uploads", json=[1, 2]),
        alice.post(f"{url}/videos/{vid}/reject", json={"reason": ""}),
        alice.post(f"{url}/videos/{vid}/rerun", json={"from_stage": "everything"}),
        alice.put(f"{url}/videos/{vid}/script", json={"segments": "s01"}),
        alice.put(f"{url}/videos/{vid}/script", data=b"\xff\xfe"),
    ]
    for r in cases:
        assert 400 <= r.status_code < 500 and r.json()["detail"], (r.request.url, r.status_code, r.text)

    too_big = alice.post(f"{url}/uploads", json={"filename": "huge.mp4", "size": 50 * 2**30})
    assert too_big.status_code == 413 and "limit" in too_big.json()["detail"]
    not_video = alice.post(
        f"{url}/uploads", json={"filename": "notes.txt", "size": 10, "content_type": "text/plain"}
    )
    assert not_video.status_code == 415 and "not a video" in not_video.json()["detail"]

    ticket = alice.post(
        f"{url}/uploads", json={"filename": "fake.mp4", "size": 20, "content_type": "video/mp4"}
    ).json()
    part = studio.server.url + ticket["part_url"].replace("{n}", "1")
    assert alice.put(part, data=b"short").status_code == 400
    assert alice.put(studio.server.url + ticket["part_url"].replace("{n}", "2"), data=b"x").status_code == 400
    r = alice.put(part, data=b"This is not a video!")
    assert r.status_code == 415 and "not a video" in r.json()["detail"]
    r = alice.post(studio.server.url + ticket["finalize_url"])
    assert r.status_code == 400 and "incomplete" in r.json()["detail"]


def test_upload_throughput(studio):
    """32 MB in 8 MB parts through the api-server (not finalized: no run)."""
    data = b"\x00\x00\x00\x18ftypmp42" + os.urandom(32 * 2**20 - 12)
    start = time.monotonic()
    upload(studio, studio.session("alice"), data, name="big.mp4")
    rate = len(data) / 2**20 / (time.monotonic() - start)
    print(f"upload throughput: {rate:.0f} MB/s")
    assert rate > 5


def test_review_approve_and_play_the_final_video(studio, race):
    client, alice, vid = studio.server.client, race["alice"], race["video_id"]
    ti = client.wait_task(vid, "review_gate", {"deferred", "failed"}, timeout=400)
    assert ti["state"] == "deferred"
    video = alice.get(f"{studio.url}/api/videos/{vid}", timeout=30).json()
    assert video["waiting_for_review"] and video["stages"][0]["state"] == "success"

    script_url = f"{studio.url}/api/videos/{vid}/script"
    script = alice.get(script_url, timeout=30).json()
    first = script["segments"][0]
    assert first["word_budget"] >= 2 and first["keyframe"].startswith("analyze/keyframes/")
    # what the writer saw is shown beside each keyframe (from segments.json)
    assert set(first["on_screen"]) == {"headline", "new", "terms", "numbers", "said"}
    assert (
        alice.get(f"{studio.url}/api/videos/{vid}/artifacts/{first['keyframe']}", timeout=30).status_code
        == 200
    )

    bad = (
        [{"id": "s99", "text": "Nope."}],
        [{"id": first["id"], "text": "bell\x07 here"}],
        [{"id": first["id"], "text": "x" * 1001}],
        [{"id": first["id"], "text": "🚀 <b></b>"}],  # nothing speakable (blank = a silent segment)
    )
    for segments in bad:
        r = alice.put(script_url, json={"segments": segments}, timeout=30)
        assert r.status_code in (400, 422) and r.json()["detail"], (segments, r.text)

    edited = "Welcome to the studio test."
    assert script["revision"] and script["edited"] is False and script["decision"] is None
    stale = {"segments": [{"id": first["id"], "text": edited}], "revision": "20000101T000000Z-00000000"}
    r = alice.put(script_url, json=stale, timeout=30)  # made against a script that is gone
    assert r.status_code == 409 and "changed since you opened it" in r.json()["detail"], r.text
    r = alice.put(script_url, json={**stale, "revision": script["revision"]}, timeout=30)
    assert r.status_code == 200 and r.json()["segments"][0]["text"] == edited and r.json()["edited"]
    r = alice.post(f"{studio.url}/api/videos/{vid}/approve", json={}, timeout=30)
    assert r.status_code == 200 and r.json()["decision"] == "approved" and r.json()["by"] == "alice"
    assert r.json()["revision"] == script["revision"]
    # a decision is final: approving again or rejecting now is a conflict, and changes nothing
    r = alice.post(f"{studio.url}/api/videos/{vid}/approve", json={}, timeout=30)
    assert r.status_code == 409 and "already approved by alice" in r.json()["detail"], r.text
    r = alice.post(f"{studio.url}/api/videos/{vid}/reject", json={"reason": "Changed my mind."}, timeout=30)
    assert r.status_code == 409 and "a decision is final" in r.json()["detail"], r.text
    assert alice.get(script_url, timeout=30).json()["decision"]["decision"] == "approved"

    assert client.wait(vid, timeout=600)["state"] == "success"
    video = alice.get(f"{studio.url}/api/videos/{vid}", timeout=30).json()
    assert video["final"] == "render/final.mp4" and video["receipt"] and video["metadata"]["title"]
    assert {s["state"] for s in video["stages"]} <= {"success", "skipped"}
    voice = alice.get(f"{studio.url}/api/videos/{vid}/artifacts/voiceover/voiceover.json", timeout=30).json()
    assert voice["segments"][0]["text"] == edited
    # the publisher's own state (a resumable upload's session URI) is neither listed nor served
    studio.server.store.put_json({"session_uri": "https://upload.example/session"},
                                 keys.publish_state_key(TENANT, vid, "youtube"))
    listed = alice.get(f"{studio.url}/api/videos/{vid}", timeout=30).json()["artifacts"]
    assert "render/final.mp4" in listed and not [n for n in listed if n.startswith("publish/state/")]
    assert alice.get(f"{studio.url}/api/videos/{vid}/artifacts/publish/state/youtube.json",
                     timeout=30).status_code == 404

    final = f"{studio.url}/api/videos/{vid}/artifacts/render/final.mp4"
    whole = alice.get(final, timeout=30)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    part = alice.get(final, headers={"Range": "bytes=0-99"}, timeout=30)
    assert part.status_code == 206 and part.content == whole.content[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"


def test_rerun_from_the_gate_asks_again_and_a_rejection_fails_it(studio, race):
    client, alice, vid = studio.server.client, race["alice"], race["video_id"]
    r = alice.post(f"{studio.url}/api/videos/{vid}/rerun", json={"from_stage": "review_gate"}, timeout=60)
    assert r.status_code == 200, r.text
    assert {"review_gate", "voiceover", "render", "publish"} <= set(r.json()["cleared"])
    assert not {"ingest", "analyze", "script"} & set(r.json()["cleared"])
    assert (
        client.wait_task(vid, "review_gate", {"deferred", "success", "failed"}, timeout=300)["state"]
        == "deferred"
    )
    assert alice.get(f"{studio.url}/api/videos/{vid}/script", timeout=30).json()["decision"] is None

    r = alice.post(
        f"{studio.url}/api/videos/{vid}/reject", json={"reason": "Too fast for viewers."}, timeout=30
    )
    assert r.status_code == 200 and r.json()["decision"] == "rejected"
    r = alice.post(f"{studio.url}/api/videos/{vid}/approve", json={}, timeout=30)
    assert r.status_code == 409 and "already rejected by alice" in r.json()["detail"], r.text
    r = alice.post(f"{studio.url}/api/videos/{vid}/reject", json={"reason": "Twice."}, timeout=30)
    assert r.status_code == 409
    # the gate fails with the reason (seen here: Airflow 3.3 still schedules the gate's one retry
    # after it raised AirflowFailException on resuming from its trigger; the retry fails again)
    gate = client.wait_task(vid, "review_gate", {"failed", "up_for_retry"}, timeout=120)
    assert gate["state"] in ("failed", "up_for_retry")
    stages = alice.get(f"{studio.url}/api/videos/{vid}", timeout=30).json()["stages"]
    assert {s["stage"]: s["state"] for s in stages}["voiceover"] not in ("running", "success")


# --------------------------------------------------------------------------- presigned S3 uploads


def test_s3_store_uploads_go_straight_to_the_bucket(local_s3, clip):
    from fastapi import HTTPException

    from include.storage import ArtifactStore
    from include.studio import uploads
    from include.studio.auth import StudioUser
    from include.studio.presign import presigned_url

    store = ArtifactStore(local_s3.root("studio-test"))
    alice = StudioUser("alice", "acme", is_admin=False, token="t")
    bob = StudioUser("bob", "globex", is_admin=False, token="t")
    body = uploads.UploadInit(filename="clip.mp4", size=len(clip), content_type="video/mp4")
    ticket = uploads.init_upload(alice, store, body, "/studio")
    assert ticket["mode"] == "presigned" and "part_url" not in ticket
    assert ticket["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # SigV4 (s3v4)
    assert ticket["fields"]["key"] == f"studio-test/tenants/acme/uploads/{ticket['upload_id']}/clip.mp4"

    r = requests.post(ticket["url"], data=ticket["fields"], files={"file": ("clip.mp4", clip)}, timeout=30)
    assert r.status_code == 204, r.text

    class FakeAirflow:
        def trigger(self, run_id, conf, note=None):
            self.conf = conf
            return {"dag_run_id": run_id, "conf": conf}, True

    with pytest.raises(HTTPException) as refused:  # another tenant's upload id
        uploads.finalize(bob, store, FakeAirflow(), ticket["upload_id"], "/studio")
    assert refused.value.status_code == 404
    airflow = FakeAirflow()
    done = uploads.finalize(alice, store, airflow, ticket["upload_id"], "/studio")
    assert done["video_id"] == video_id_for("acme", hashlib.sha256(clip).hexdigest())
    source = airflow.conf["source"]  # the sealed copy, not the key the presigned POST writes to
    assert source.startswith(f"tenants/acme/uploads/{ticket['upload_id']}/sealed-")
    assert airflow.conf["tenant"] == "acme"
    obj = local_s3.client().get_object(Bucket=local_s3.bucket, Key=f"studio-test/{source}")
    assert obj["Body"].read() == clip
    # artifacts of an S3 store are played from the bucket (the studio redirects to this URL)
    ranged = requests.get(presigned_url(store, source, "GET"), headers={"Range": "bytes=0-9"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == clip[:10]
