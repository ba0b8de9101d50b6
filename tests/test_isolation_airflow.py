"""Tenant isolation through Airflow's own doors, probed from outside against the session's real
api-server (TenantAuthManager, scripts/airflow.sh): REST /api/v2, the UI's /ui calls and pages,
task logs (also the worker's log server), XCom, the Execution API, variables/connections/config.

alice (tenant acme) finishes a video through the studio; bob (tenant globex) then tries every
door with his bearer token and with his UI cookie. Runs that the studio's service identity (or a
tenant user) starts may only read sealed uploads of their tenant: those attempts fail at ingest
with one sentence. Admins keep everything; the studio flow (upload → run → rerun from voiceover)
still works.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid

import pytest
import requests

from include.sample_media import make_sample
from include.stages.ingest import video_id_for

pytestmark = pytest.mark.scheduler

DAG = "video_pipeline"
REFUSED_SOURCE = "is not allowed for a run started from the studio or by a tenant user"
NOT_SEALED = "is not a finalized upload of tenant"


def _token(server, user: str, password: str | None = None) -> str:
    r = requests.post(
        f"{server.url}/auth/token", json={"username": user, "password": password or user}, timeout=120
    )
    assert r.status_code in (200, 201), r.text
    return r.json()["access_token"]


def _bearer(server, user: str, password: str | None = None) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {_token(server, user, password)}"
    return s


def _cookie(server, user: str) -> requests.Session:
    """What the Airflow UI sends: the ``_token`` cookie, no Authorization header."""
    s = requests.Session()
    s.cookies.set("_token", _token(server, user), domain="127.0.0.1", path="/")
    return s


def _studio_password(server) -> str:
    """The service identity's generated password, as the api-server's passwords file has it."""
    return json.loads((server.home / "passwords.json").read_text())["studio"]


def _upload(server, s: requests.Session, data: bytes, finalize: bool = True, **fields) -> dict:
    body = {"filename": "clip.mp4", "size": len(data), "content_type": "video/mp4", **fields}
    r = s.post(f"{server.url}/studio/api/uploads", json=body, timeout=120)
    assert r.status_code == 201, r.text
    ticket = r.json()
    for n in range(1, math.ceil(len(data) / ticket["part_size"]) + 1):
        part = data[(n - 1) * ticket["part_size"] : n * ticket["part_size"]]
        r = s.put(server.url + ticket["part_url"].replace("{n}", str(n)), data=part, timeout=120)
        assert r.status_code == 200, r.text
    if finalize:
        r = s.post(server.url + ticket["finalize_url"], timeout=120)
        assert r.status_code == 200, r.text
        ticket["finalized"] = r.json()
    return ticket


@pytest.fixture(scope="module")
def admin_client(airflow_server):
    """The admin's REST client, patient with a busy api-server (2 shared cores)."""
    from include.airflow_client import AirflowClient

    return AirflowClient(airflow_server.url, timeout=120).login()


@pytest.fixture(scope="module")
def alice_video(airflow_server, admin_client, tmp_path_factory) -> dict:
    """alice uploads a clip in the studio (autopilot) and the run finishes."""
    clip = tmp_path_factory.mktemp("isolation") / "alice.mp4"
    make_sample(clip, seconds=6, size="320x180")
    data = clip.read_bytes()
    alice = _bearer(airflow_server, "alice")
    ticket = _upload(airflow_server, alice, data, title_hint="Isolation test")
    vid = ticket["finalized"]["video_id"]
    assert vid == video_id_for("acme", hashlib.sha256(data).hexdigest())
    run = admin_client.wait(vid, timeout=900)
    assert run["state"] == "success", run
    return {"video_id": vid, "key": ticket["key"], "alice": alice, "ticket": ticket}


@pytest.fixture(scope="module")
def bobs(airflow_server) -> dict[str, requests.Session]:
    return {"bearer": _bearer(airflow_server, "bob"), "cookie": _cookie(airflow_server, "bob")}


def _run_doors(vid: str) -> list[str]:
    """Doors that must answer 403: a run, its tasks, XCom and logs, and Airflow's settings."""
    run = f"/api/v2/dags/{DAG}/dagRuns/{vid}"
    return [
        f"/api/v2/dags/{DAG}/dagRuns",
        run,
        f"{run}/taskInstances",
        f"{run}/taskInstances/ingest",
        f"{run}/taskInstances/ingest/xcomEntries",
        f"{run}/taskInstances/ingest/xcomEntries/return_value",
        f"{run}/taskInstances/render/xcomEntries/return_value",
        f"{run}/taskInstances/ingest/logs/1",
        f"{run}/taskInstances/publish/logs/1",
        f"/api/v2/dags/{DAG}",
        f"/api/v2/dags/{DAG}/details",
        f"/api/v2/dags/{DAG}/tasks",
        "/api/v2/variables",
        "/api/v2/variables/studio_tenants",
        "/api/v2/connections",
        "/api/v2/config",
        "/api/v2/pools",
        "/api/v2/plugins",
        f"/ui/grid/runs/{DAG}",
        f"/ui/grid/structure/{DAG}",
        f"/ui/structure/structure_data?dag_id={DAG}",
    ]


# Lists Airflow filters to what the caller may read (403, or 200 with nothing of alice's).
FILTERED_DOORS = [
    "/api/v2/dags",
    "/api/v2/dags/~/dagRuns",
    "/api/v2/dags/~/dagRuns/~/taskInstances",
    "/api/v2/eventLogs",
    "/api/v2/dagStats",
    "/api/v2/importErrors",
    "/api/v2/dagWarnings",
    "/api/v2/assets",
    "/ui/dags",
    "/ui/dashboard/dag_stats",
]


@pytest.mark.parametrize("how", ["bearer", "cookie"])
def test_a_tenant_user_reads_nothing_through_airflow(airflow_server, alice_video, bobs, how):
    bob, vid = bobs[how], alice_video["video_id"]
    for path in _run_doors(vid):
        r = bob.get(airflow_server.url + path, timeout=120)
        assert r.status_code == 403, (how, path, r.status_code, r.text[:300])
        assert vid not in r.text and "tenants/acme" not in r.text, (how, path)
    seen = {}
    for path in FILTERED_DOORS:
        r = bob.get(airflow_server.url + path, timeout=120)
        seen[path] = r.status_code
        assert r.status_code in (403, 404) or r.status_code == 200, (how, path, r.status_code, r.text[:300])
        assert vid not in r.text and "acme" not in r.text and DAG not in r.text, (how, path, r.text[:300])
    print(how, "filtered doors:", seen)
    # the admin reads the same doors (the probes are real): the run, its conf, XCom and logs
    admin = _bearer(airflow_server, "admin")
    for path in _run_doors(vid):
        if path != "/api/v2/config":  # [api] expose_config is off for everyone
            assert admin.get(airflow_server.url + path, timeout=120).status_code == 200, path
    assert admin.get(f"{airflow_server.url}/api/v2/dags/{DAG}/dagRuns/{vid}", timeout=120).json()["conf"]["tenant"] == "acme"
    listed = admin.get(f"{airflow_server.url}/api/v2/dags/~/dagRuns", params={"run_id_pattern": vid}, timeout=120)
    assert [r["dag_run_id"] for r in listed.json()["dag_runs"]] == [vid]
    log = admin.get(
        f"{airflow_server.url}/api/v2/dags/{DAG}/dagRuns/{vid}/taskInstances/ingest/logs/1",
        headers={"Accept": "application/json"}, timeout=120,
    )
    assert log.status_code == 200 and "ingest" in log.text


@pytest.mark.parametrize("how", ["bearer", "cookie"])
def test_a_tenant_user_changes_nothing_through_airflow(airflow_server, admin_client, alice_video, bobs, how):
    bob, vid, client = bobs[how], alice_video["video_id"], admin_client
    before = {t["task_id"]: t["try_number"] for t in client.task_instances(vid)}
    api = f"{airflow_server.url}/api/v2"
    clip = str(airflow_server.store.path(alice_video["key"]).path)
    attempts = [
        ("POST", f"/dags/{DAG}/clearTaskInstances",
         {"dag_run_id": vid, "task_ids": ["voiceover"], "dry_run": True, "only_failed": False}),
        ("POST", f"/dags/{DAG}/clearTaskInstances",
         {"dag_run_id": vid, "task_ids": ["voiceover"], "dry_run": False, "only_failed": False,
          "include_downstream": True}),
        ("POST", f"/dags/{DAG}/dagRuns/{vid}/clear", {"dry_run": False}),
        ("PATCH", f"/dags/{DAG}/dagRuns/{vid}", {"state": "failed"}),
        ("PATCH", f"/dags/{DAG}/dagRuns/{vid}/taskInstances/publish", {"new_state": "failed"}),
        ("DELETE", f"/dags/{DAG}/dagRuns/{vid}", None),
        ("PATCH", f"/dags/{DAG}", {"is_paused": True}),
        ("PATCH", "/variables/studio_tenants", {"key": "studio_tenants", "value": '{"bob": "acme"}'}),
        ("POST", "/variables", {"key": "x", "value": "y"}),
    ]
    for tenant, source in [
        ("acme", clip),  # a run inside another tenant
        ("globex", clip),  # alice's footage by its worker path
        ("globex", "s3://aws_default@another-bucket/footage.mp4"),
        ("globex", f"tenants/globex/uploads/globex.{'0' * 32}/parts/000001"),
    ]:
        run_id = f"{tenant}-bob-{uuid.uuid4().hex[:12]}"
        attempts.append(("POST", f"/dags/{DAG}/dagRuns",
                         {"dag_run_id": run_id, "logical_date": None, "conf": {"tenant": tenant, "source": source}}))
    for method, path, body in attempts:
        r = bob.request(method, api + path, json=body, timeout=120)
        assert r.status_code == 403, (how, method, path, r.status_code, r.text[:300])
    after = {t["task_id"]: t["try_number"] for t in client.task_instances(vid)}
    assert after == before and client.get_run(vid)["state"] == "success"
    runs = client._call("GET", f"/dags/{DAG}/dagRuns", params={"run_id_pattern": "%-bob-%"})
    assert runs["total_entries"] == 0
    assert json.loads(client._call("GET", "/variables/studio_tenants")["value"]) == {"alice": "acme", "bob": "globex"}


def test_other_doors_are_closed_too(airflow_server, alice_video, bobs):
    bob, vid = bobs["bearer"], alice_video["video_id"]
    # the worker's log server: only tokens the api-server signs for one log file
    log_port = airflow_server.port + 713
    path = f"dag_id={DAG}/run_id={vid}/task_id=ingest/attempt=1.log"
    r = bob.get(f"http://127.0.0.1:{log_port}/log/{path}", timeout=120)
    assert r.status_code == 403 and "acme" not in r.text
    # the Execution API (tasks only): a user's token reads no variable or connection
    for door in ("/execution/variables/studio_tenants", "/execution/connections/aws_default"):
        r = bob.get(airflow_server.url + door, timeout=120)
        assert r.status_code in (401, 403), (door, r.status_code, r.text[:200])
    # the UI's pages send a tenant user to the studio; admins get Airflow's UI
    page = {"Accept": "text/html"}
    r = bobs["cookie"].get(f"{airflow_server.url}/dags/{DAG}/runs/{vid}", headers=page, allow_redirects=False,
                           timeout=120)
    assert r.status_code == 303 and r.headers["location"].endswith("/studio/videos"), r.status_code
    # without the cookie the UI's static shell is all there is (its /ui and /api calls are 403)
    r = bobs["bearer"].get(f"{airflow_server.url}/dags/{DAG}/runs/{vid}", headers=page, timeout=120)
    assert vid not in r.text and "acme" not in r.text
    admin = _cookie(airflow_server, "admin")
    r = admin.get(f"{airflow_server.url}/dags/{DAG}", headers=page, allow_redirects=False, timeout=120)
    assert r.status_code == 200 and "<html" in r.text.lower()
    # refusals are logged with the door they came through
    log = (airflow_server.home / "standalone.log").read_text(errors="replace")
    assert "airflow-api: refused is_authorized_dag" in log and "'bob' (tenant 'globex')" in log
    assert "airflow-ui: refused is_authorized_dag" in log
    assert f"GET /api/v2/dags/{DAG}/dagRuns/{vid}/taskInstances/ingest/xcomEntries" in log


def _studio_trigger(airflow_server, conf: dict) -> str:
    """A run started as the studio's service identity, as if the studio had been tricked."""
    studio = _bearer(airflow_server, "studio", _studio_password(airflow_server))
    run_id = f"{conf['tenant']}-probe-{uuid.uuid4().hex[:12]}"
    r = studio.post(
        f"{airflow_server.url}/api/v2/dags/{DAG}/dagRuns",
        json={"dag_run_id": run_id, "logical_date": None, "conf": conf},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert r.json()["triggering_user_name"] == "studio"
    return run_id


def _ingest_log(airflow_server, run_id: str, try_number: int) -> str:
    admin = _bearer(airflow_server, "admin")
    r = admin.get(
        f"{airflow_server.url}/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/ingest/logs/{try_number}",
        headers={"Accept": "application/json"}, timeout=120,
    )
    assert r.status_code == 200, r.text
    return r.text


def test_studio_runs_read_only_sealed_uploads_of_their_tenant(airflow_server, admin_client, alice_video, tmp_path):
    """The service identity is trusted with the tenant, not with the footage: anything but a
    sealed upload of the run's tenant fails at ingest, at once, with one sentence."""
    client, key = admin_client, alice_video["key"]
    bob = _bearer(airflow_server, "bob")
    clip = tmp_path / "bob.mp4"
    make_sample(clip, seconds=2, size="160x90")
    unsealed = _upload(airflow_server, bob, clip.read_bytes(), finalize=False)
    parts_key = unsealed["key"].rsplit("/", 1)[0] + "/parts/000001"
    cases = {
        "worker path of alice's upload": ({"tenant": "globex", "source": str(airflow_server.store.path(key).path)},
                                          REFUSED_SOURCE),
        "file URI": ({"tenant": "globex", "source": f"file://{airflow_server.store.path(key).path}"}, REFUSED_SOURCE),
        "s3 URI": ({"tenant": "globex", "source": "s3://aws_default@another-bucket/footage.mp4"}, REFUSED_SOURCE),
        "alice's key": ({"tenant": "globex", "source": key}, REFUSED_SOURCE),
        "parts key": ({"tenant": "globex", "source": parts_key}, REFUSED_SOURCE),
        "upload record": ({"tenant": "globex", "source": unsealed["key"].rsplit("/", 1)[0] + "/upload.json"},
                          REFUSED_SOURCE),
        "unfinalized upload": ({"tenant": "globex", "source": unsealed["key"]}, NOT_SEALED),
        "music by path": ({"tenant": "acme", "source": key, "music": "/etc/passwd"}, REFUSED_SOURCE),
    }
    runs = {name: (_studio_trigger(airflow_server, conf), sentence) for name, (conf, sentence) in cases.items()}
    for name, (run_id, sentence) in runs.items():
        assert client.wait(run_id, timeout=900)["state"] == "failed", name
        ingest = {t["task_id"]: t for t in client.task_instances(run_id)}["ingest"]
        assert ingest["state"] == "failed", (name, ingest)  # no retry: tests/test_tenancy.py
        assert sentence in _ingest_log(airflow_server, run_id, ingest["try_number"]), name


def test_the_studio_flow_still_works_and_records_who(airflow_server, admin_client, alice_video):
    """Runs are started by the studio's identity, with the human in the note; a rerun from
    voiceover goes through the studio as well."""
    client, alice, vid = admin_client, alice_video["alice"], alice_video["video_id"]
    run = client.get_run(vid)
    assert run["triggering_user_name"] == "studio" and "by alice" in (run.get("note") or "")
    seal = airflow_server.store.get_json(alice_video["key"].rsplit("/", 1)[0] + "/sealed.json")
    assert seal["key"] == alice_video["key"] and seal["by"] == "alice"
    before = {t["task_id"]: t["try_number"] for t in client.task_instances(vid)}
    r = alice.post(f"{airflow_server.url}/studio/api/videos/{vid}/rerun", json={"from_stage": "voiceover"}, timeout=120)
    assert r.status_code == 200, r.text
    assert "voiceover" in r.json()["cleared"] and "ingest" not in r.json()["cleared"]
    assert client.wait(vid, timeout=900)["state"] == "success"
    tries = {t["task_id"]: t["try_number"] for t in client.task_instances(vid)}
    assert tries["voiceover"] == before["voiceover"] + 1 and tries["ingest"] == before["ingest"]
