"""The studio's doors (issue #10) against the session's real Airflow: CSRF, Idempotency-Key, load.

- CSRF: a cookie-authenticated write must be same-origin (Origin = the api-server's origin, or
  ``Sec-Fetch-Site: same-origin``) and send JSON where the route takes a body; bearer calls are
  unaffected.
- Idempotency-Key: scoped to the user, bound to one request (method, path, body): reused for
  another request → 422; replayed → the first answer; raced → one run (the loser gets 409).
- Load: 60 parallel studio calls of one tenant are answered (or refused with 429) and Airflow's
  own health endpoint stays responsive meanwhile.
"""

from __future__ import annotations

import hashlib
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from include.sample_media import make_sample
from include.stages.ingest import video_id_for
from tests.test_studio_api import TENANT, Studio, upload

pytestmark = pytest.mark.scheduler


def _token(studio: Studio, user: str) -> str:
    return requests.post(
        f"{studio.server.url}/auth/token", json={"username": user, "password": user}, timeout=30
    ).json()["access_token"]


@pytest.fixture(scope="module")
def studio(airflow_server) -> Studio:
    return Studio(f"{airflow_server.url}/studio", airflow_server)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("doors") / "doors.mp4"
    make_sample(path, seconds=6, size="320x180")
    return path.read_bytes()


def cookie_session(studio: Studio, user: str, **headers: str) -> requests.Session:
    """A browser-like caller: the Airflow UI's ``_token`` cookie, no Authorization header."""
    s = requests.Session()
    s.cookies.set("_token", _token(studio, user))
    s.headers.update(headers)
    return s


def _log(studio: Studio) -> str:
    return (studio.server.home / "standalone.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def finalized(studio, clip) -> dict:
    """alice uploads the clip twice (review mode, so the run stops at the gate); upload 1 is
    finalized by four requests racing with one Idempotency-Key."""
    alice = studio.session("alice")
    fields = {"script_mode": "review_before_tts", "title_hint": "Doors test"}
    first, second = (upload(studio, alice, clip, name=f"doors-{n}.mp4", **fields) for n in (1, 2))
    barrier = threading.Barrier(4)

    def finalize(_):
        barrier.wait()
        return alice.post(
            studio.server.url + first["finalize_url"], headers={"Idempotency-Key": "doors-k1"}, timeout=120
        )

    with ThreadPoolExecutor(4) as pool:
        raced = list(pool.map(finalize, range(4)))
    return {
        "alice": alice,
        "first": first,
        "second": second,
        "raced": raced,
        "video_id": video_id_for(TENANT, hashlib.sha256(clip).hexdigest()),
    }


# --------------------------------------------------------------------------- idempotency


def test_racing_finalizes_with_one_key_make_one_run(studio, finalized):
    raced, vid = finalized["raced"], finalized["video_id"]
    statuses = sorted(r.status_code for r in raced)
    print(f"\nfour finalizes racing with one Idempotency-Key: {statuses}")
    assert set(statuses) <= {200, 409} and 200 in statuses, [r.text for r in raced]
    answers = [r.json() for r in raced if r.status_code == 200]
    assert all(a == answers[0] for a in answers) and answers[0]["video_id"] == vid
    for r in raced:
        if r.status_code == 409:
            assert "in progress" in r.json()["detail"] and r.headers["retry-after"]
    runs = studio.server.client._call(
        "GET", "/dags/video_pipeline/dagRuns", params={"run_id_prefix_pattern": vid}
    )
    assert runs["total_entries"] == 1
    # the same request again: the same answer
    again = finalized["alice"].post(
        studio.server.url + finalized["first"]["finalize_url"],
        headers={"Idempotency-Key": "doors-k1"},
        timeout=60,
    )
    assert again.status_code == 200 and again.json() == answers[0]


def test_a_key_reused_for_another_upload_is_refused(studio, finalized):
    alice, second = finalized["alice"], finalized["second"]
    r = alice.post(
        studio.server.url + second["finalize_url"], headers={"Idempotency-Key": "doors-k1"}, timeout=60
    )
    assert r.status_code == 422, r.text
    assert "already used for another request" in r.json()["detail"]
    upload_dir = f"tenants/{TENANT}/uploads/{second['upload_id']}"
    assert not studio.server.store.exists(f"{upload_dir}/finalized.json")  # upload 2 did not run
    # with a key of its own, upload 2 finalizes (same bytes: the existing video, no second run)
    r = alice.post(
        studio.server.url + second["finalize_url"], headers={"Idempotency-Key": "doors-k2"}, timeout=60
    )
    assert r.status_code == 200 and r.json()["video_id"] == finalized["video_id"] and not r.json()["created"]
    assert "at door idempotency" in _log(studio)


def test_a_key_is_bound_to_its_body_and_its_user(studio, clip):
    alice, bob = studio.session("alice"), studio.session("bob")
    url, key = f"{studio.url}/api/uploads", {"Idempotency-Key": "doors-init"}
    body = {"filename": "a.mp4", "size": len(clip), "content_type": "video/mp4"}
    first = alice.post(url, json=body, headers=key, timeout=30)
    assert first.status_code == 201
    assert alice.post(url, json=body, headers=key, timeout=30).json() == first.json()
    other = alice.post(url, json={**body, "filename": "b.mp4"}, headers=key, timeout=30)
    assert other.status_code == 422 and "another request" in other.json()["detail"]
    # bob's key of the same name is his own
    bobs = bob.post(url, json=body, headers=key, timeout=30)
    assert bobs.status_code == 201 and bobs.json()["upload_id"].startswith("globex.")


# --------------------------------------------------------------------------- csrf


def test_cross_site_cookie_writes_are_refused(studio, finalized):
    from include.review import ReviewConflict, read_decision

    vid = finalized["video_id"]
    own, evil = studio.server.url, "http://evil.example"
    api = f"{studio.url}/api"
    approve = f"{api}/videos/{vid}/approve"
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    # the attack of issue #10: a form on another site POSTs, the browser adds alice's cookie
    attacker = cookie_session(studio, "alice", Origin=evil, **{"Sec-Fetch-Site": "cross-site"})
    r = attacker.post(approve, data=b"", headers=form, timeout=30)
    assert r.status_code == 403 and "cross-site request refused" in r.json()["detail"], r.text
    writes = [
        ("PUT", f"{api}/videos/{vid}/script", {"segments": [{"id": "s01", "text": "Hijacked."}]}),
        ("POST", f"{api}/videos/{vid}/reject", {"reason": "not mine"}),
        ("POST", f"{api}/videos/{vid}/rerun", {"from_stage": "voiceover"}),
        ("POST", f"{api}/uploads", {"filename": "x.mp4", "size": 10, "content_type": "video/mp4"}),
        ("POST", own + finalized["second"]["finalize_url"], None),
        ("PUT", own + finalized["second"]["part_url"].replace("{n}", "1"), None),
    ]
    for method, url, body in writes:
        r = attacker.request(method, url, json=body, timeout=30)
        assert r.status_code == 403 and "cross-site" in r.json()["detail"], (method, url, r.text)

    # a cookie write without Origin (and no Sec-Fetch-Site) is refused too
    r = cookie_session(studio, "alice").post(approve, json={}, timeout=30)
    assert r.status_code == 403 and "no Origin header" in r.json()["detail"]
    # same-origin, but not JSON where the route takes a body
    same = cookie_session(studio, "alice", Origin=own)
    r = same.post(approve, data=b"", headers=form, timeout=30)
    assert r.status_code == 403 and "JSON body" in r.json()["detail"]
    r = same.post(approve, data=b"{}", headers={"Content-Type": "text/plain"}, timeout=30)
    assert r.status_code == 403 and "JSON body" in r.json()["detail"]

    try:
        decided = read_decision(studio.server.store, TENANT, vid)
    except ReviewConflict:  # the run has not written its script yet: nothing can be decided
        decided = None
    assert decided is None  # nothing was decided
    log = _log(studio)
    assert "at door csrf to user 'alice'" in log and f"POST /studio/api/videos/{vid}/approve" in log
    # reads are not writes
    assert attacker.get(f"{api}/videos", timeout=30).status_code == 200


def test_same_origin_cookie_writes_and_bearer_writes_work(studio, clip):
    own = studio.server.url
    body = {"filename": "same.mp4", "size": len(clip), "content_type": "video/mp4"}
    # the studio's own pages: Origin of the api-server (what the browser sends), JSON bodies
    page = cookie_session(studio, "alice", Origin=own)
    ticket = page.post(f"{studio.url}/api/uploads", json=body, timeout=30)
    assert ticket.status_code == 201, ticket.text
    part = own + ticket.json()["part_url"].replace("{n}", "1")
    r = page.put(part, data=clip, headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 200, r.text
    done = page.post(own + ticket.json()["finalize_url"], timeout=60)  # no body: no Content-Type needed
    assert done.status_code == 200 and done.json()["video_id"].startswith(f"{TENANT}-"), done.text
    # Sec-Fetch-Site: same-origin is enough (a browser that sends it sends Origin too)
    fetch_meta = cookie_session(studio, "alice", **{"Sec-Fetch-Site": "same-origin"})
    assert fetch_meta.post(f"{studio.url}/api/uploads", json=body, timeout=30).status_code == 201
    # bearer calls are not CSRF-able and not checked: no Origin, or any
    bearer = studio.session("alice")
    assert bearer.post(f"{studio.url}/api/uploads", json=body, timeout=30).status_code == 201
    bearer.headers["Origin"] = "http://elsewhere.example"
    assert bearer.post(f"{studio.url}/api/uploads", json=body, timeout=30).status_code == 201


# --------------------------------------------------------------------------- load


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def test_sixty_parallel_calls_of_one_tenant_leave_airflow_responsive(studio):
    """60 parallel GET /studio/api/videos as alice while Airflow's health endpoint is polled."""
    token = _token(studio, "alice")
    health_url = f"{studio.server.url}/api/v2/monitor/health"
    idle = []
    for _ in range(10):
        t0 = time.monotonic()
        requests.get(health_url, timeout=60)
        idle.append(time.monotonic() - t0)

    done = threading.Event()
    health: list[float] = []

    def poll_health():
        with requests.Session() as s:
            while not done.is_set():
                t0 = time.monotonic()
                try:
                    s.get(health_url, timeout=60)
                except requests.RequestException:
                    pass
                health.append(time.monotonic() - t0)
                time.sleep(0.1)

    barrier = threading.Barrier(60)

    def call(_):
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {token}"
            barrier.wait()
            t0 = time.monotonic()
            try:
                status = s.get(f"{studio.url}/api/videos", timeout=60).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            return status, time.monotonic() - t0

    poller = threading.Thread(target=poll_health)
    poller.start()
    start = time.monotonic()
    try:
        with ThreadPoolExecutor(60) as pool:
            results = list(pool.map(call, range(60)))
        wall = time.monotonic() - start
        time.sleep(1)  # one more health sample after the burst
    finally:
        done.set()
        poller.join()
    statuses = [s for s, _ in results]
    latency = [t for _, t in results]
    counts = {s: statuses.count(s) for s in set(statuses)}
    print(
        f"\n60 parallel studio GETs: {counts} in {wall:.1f} s; "
        f"studio latency p50 {statistics.median(latency):.2f} s, p95 {_pct(latency, 0.95):.2f} s, "
        f"max {max(latency):.2f} s\n"
        f"health idle p50 {statistics.median(idle) * 1000:.0f} ms; during the burst ({len(health)} samples) "
        f"p50 {statistics.median(health) * 1000:.0f} ms, p95 {_pct(health, 0.95) * 1000:.0f} ms, "
        f"max {max(health) * 1000:.0f} ms"
    )
    assert set(statuses) <= {200, 429}, counts
    # the goal is a p95 under 2 s (seen: 0.1-0.7 s, 1.8 s with the machine's load at 20);
    # asserted generously, as the 30-60 s stall it guards against is far beyond either
    assert _pct(health, 0.95) < 5.0
    time.sleep(3)  # alice's token bucket refills for the tests after this one


# --------------------------------------------------------------------------- in-process: S3, records


class _Airflow:
    """Stands in for Airflow's REST API in the in-process upload tests (records the trigger)."""

    def __init__(self):
        self.triggered: list[dict] = []

    def trigger(self, run_id, conf, note=None):
        self.triggered.append(conf)
        return {"dag_run_id": run_id, "conf": conf}, True


def _policy_conditions(fields: dict) -> list:
    import base64
    import json

    return json.loads(base64.b64decode(fields["policy"]))["conditions"]


def test_presigned_uploads_are_sealed_at_finalize(local_s3, clip):
    from include.storage import ArtifactStore
    from include.studio import uploads
    from include.studio.auth import StudioUser

    store = ArtifactStore(local_s3.root("doors-seal"))
    alice = StudioUser("alice", "acme", is_admin=False, token="t")
    body = uploads.UploadInit(filename="clip.mp4", size=len(clip), content_type="video/mp4")
    ticket = uploads.init_upload(alice, store, body, "/studio")
    assert ["content-length-range", len(clip), len(clip)] in _policy_conditions(ticket["fields"])
    assert {"Content-Type": "video/mp4"} in _policy_conditions(ticket["fields"])
    post = lambda data: requests.post(  # noqa: E731
        ticket["url"], data=ticket["fields"], files={"file": ("clip.mp4", data)}, timeout=30
    )
    assert post(clip).status_code == 204

    airflow = _Airflow()
    done = uploads.finalize(alice, store, airflow, ticket["upload_id"], "/studio")
    source = airflow.triggered[0]["source"]
    assert source != ticket["key"] and "/sealed-" in source
    assert not store.exists(ticket["key"])  # the presigned key is not read again
    # the policy is still valid: a later POST (same size, other bytes) changes nothing the run reads
    tampered = clip[:100] + b"\0" * 100 + clip[200:]
    assert post(tampered).status_code == 204
    assert store.path(source).read_bytes() == clip
    assert uploads.finalize(alice, store, airflow, ticket["upload_id"], "/studio") == done
    assert len(airflow.triggered) == 1


def test_presigned_upload_larger_than_announced_is_refused_at_finalize(local_s3, clip, caplog):
    from fastapi import HTTPException

    from include.storage import ArtifactStore
    from include.studio import uploads
    from include.studio.auth import StudioUser

    store = ArtifactStore(local_s3.root("doors-size"))
    alice = StudioUser("alice", "acme", is_admin=False, token="t")
    body = uploads.UploadInit(filename="clip.mp4", size=len(clip), content_type="video/mp4")
    ticket = uploads.init_upload(alice, store, body, "/studio")
    # S3 enforces content-length-range; moto does not, so this lands and finalize must refuse it
    bigger = clip + b"\0" * 4096
    r = requests.post(ticket["url"], data=ticket["fields"], files={"file": ("c.mp4", bigger)}, timeout=30)
    assert r.status_code == 204
    airflow = _Airflow()
    with caplog.at_level("WARNING", logger="studio.audit"), pytest.raises(HTTPException) as refused:
        uploads.finalize(alice, store, airflow, ticket["upload_id"], "/studio")
    assert refused.value.status_code == 413 and f"{len(bigger)} bytes" in refused.value.detail
    assert airflow.triggered == [] and not store.exists(ticket["key"])
    assert "at door upload-size to user 'alice'" in caplog.text
    # a smaller file is refused as well (400), and neither was ever hashed or copied
    smaller = requests.post(
        ticket["url"], data=ticket["fields"], files={"file": ("c.mp4", clip[:-10])}, timeout=30
    )
    assert smaller.status_code == 204
    with pytest.raises(HTTPException) as refused:
        uploads.finalize(alice, store, airflow, ticket["upload_id"], "/studio")
    assert refused.value.status_code == 400
    kept = store.list(f"tenants/acme/uploads/{ticket['upload_id']}")
    assert not [k for k in kept if k.rsplit("/", 1)[-1].startswith("sealed-")]


def _request(path: str):
    from starlette.requests import Request

    return Request({"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""})


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_idempotency_records_are_claimed_once(kind, tmp_path, request, caplog):
    from fastapi import HTTPException

    from include.storage import ArtifactStore
    from include.studio.auth import StudioUser
    from include.studio.idempotency import Idempotency, create_exclusive

    if kind == "s3":
        store = ArtifactStore(request.getfixturevalue("local_s3").root(f"doors-idem-{time.time_ns()}"))
    else:
        store = ArtifactStore(f"file://{tmp_path}")
    assert create_exclusive(store, "x/once.json", b"1") and not create_exclusive(store, "x/once.json", b"2")
    assert store.path("x/once.json").read_bytes() == b"1"

    alice = StudioUser("alice", "acme", is_admin=False, token="t")
    key = Idempotency("k", alice, _request("/studio/api/uploads/u1/finalize"), "fingerprint-1")
    started, release, runs = threading.Event(), threading.Event(), []

    def slow():
        runs.append(1)
        started.set()
        release.wait(30)
        return {"video_id": "v1"}

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(key.run, store, slow)
        assert started.wait(30)
        with pytest.raises(HTTPException) as busy:  # the same request while the first runs
            key.run(store, slow)
        assert busy.value.status_code == 409 and busy.value.headers["Retry-After"]
        release.set()
        assert first.result(30) == {"video_id": "v1"}
    assert key.run(store, slow) == {"video_id": "v1"} and len(runs) == 1  # replayed, not rerun
    other = Idempotency("k", alice, _request("/studio/api/uploads/u2/finalize"), "fingerprint-2")
    with caplog.at_level("WARNING", logger="studio.audit"), pytest.raises(HTTPException) as reused:
        other.run(store, slow)
    assert reused.value.status_code == 422 and "/u1/finalize" in reused.value.detail
    assert "at door idempotency" in caplog.text
    # another user's key of the same name is another record
    bob = StudioUser("bob", "globex", is_admin=False, token="t")
    assert Idempotency("k", bob, _request("/x"), "fingerprint-3").run(store, lambda: {"b": 1}) == {"b": 1}

    def fails():
        raise HTTPException(400, "incomplete")

    retry = Idempotency("r", alice, _request("/x"), "fingerprint-4")
    with pytest.raises(HTTPException):
        retry.run(store, fails)
    assert retry.run(store, lambda: {"ok": True}) == {"ok": True}  # a failure is not replayed
