"""One user's view of the videos: Airflow runs (through Airflow's REST API, as the studio's own
service identity) and the artifact store, always checked against the user's tenant here.

Tenant users have no Airflow permissions (``include/studio/auth_manager.py``): their tokens never
reach Airflow's API. The studio signs in as ``STUDIO_AIRFLOW_USER`` (default ``studio``, role op)
with the generated ``STUDIO_AIRFLOW_PASSWORD``, so every check of the caller's tenant below is
the studio's own.

A video is a ``video_pipeline`` run whose ``dag_run_id`` is the video id and whose
``conf.tenant`` is its tenant. Another tenant's video is "not found" (and logged), never "forbidden",
so ids cannot be probed.

A tenant's list of videos is cached for :data:`LIST_TTL` seconds (``STUDIO_LIST_TTL``), and
concurrent requests for it wait for one computation instead of each asking Airflow: 60 parallel
list calls of one tenant cost Airflow's API two calls (the stage graph is cached for a minute). A
finalize or a rerun forgets it. Users of one tenant share it (their Airflow permissions are alike).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from graphlib import TopologicalSorter
from typing import Any

import requests
from fastapi import HTTPException

from include.airflow_client import DAG_ID, AirflowAPIError, AirflowClient
from include.core.errors import FatalError
from include.core.options import Settings
from include.review import QcReview, ReviewConflict, ScriptReview
from include.stages.script import word_budget
from include.core import keys
from include.core.keys import video_prefix
from include.storage import ArtifactStore, check_key
from include.studio.auth import StudioUser, refuse
from include.tenancy import SERVICE_PASSWORD_ENV, service_user

LIST_LIMIT = 100
CALL_ATTEMPTS = 4
SERVICE_TOKEN_SECONDS = 3600  # sign in again well before Airflow's tokens expire (24 h default)
FINAL = keys.artifact_name("render", "final.mp4")
METADATA = keys.METADATA
RECEIPT = keys.RECEIPT
QC = keys.QC_REPORT
EDL = keys.artifact_name("edit", "edl.json")
DRIFT_GOAL_SECONDS = 0.25  # |narration start - footage start| the video page flags beyond
LIST_TTL = float(os.environ.get("STUDIO_LIST_TTL", "2"))
ALL_TENANTS = "*"  # an admin's list
GRAPH_TTL = 60.0  # the DAG's shape changes only with a deploy

_graph: tuple[float, dict[str, list[str]]] | None = None

_lists: dict[str, tuple[float, int, list[dict]]] = {}  # scope → (expires, generation, videos)
_generations: dict[str, int] = {}
_list_locks: dict[str, threading.Lock] = {}
_list_guard = threading.Lock()


# the publisher's own bookkeeping (a resumable upload's session URI): not the user's to read
INTERNAL_PREFIXES = (keys.artifact_name("publish", keys.PUBLISH_STATE) + "/",)


def _listed(name: str) -> bool:
    """Whether an artifact is the user's to see: not hidden temp files, not internal state."""
    return not name.rsplit("/", 1)[-1].startswith(".") and not name.startswith(INTERNAL_PREFIXES)


def forget_list(tenant: str | None) -> None:
    """Drop the cached lists that show ``tenant`` (its own and the admins')."""
    with _list_guard:
        for scope in (tenant, ALL_TENANTS):
            _generations[scope] = _generations.get(scope, 0) + 1
            _lists.pop(scope, None)


class StudioAirflow(AirflowClient):
    """Airflow's REST API as the studio's service identity (one cached token per api-server)."""

    _token: dict[str, Any] = {"value": None, "at": 0.0}
    _token_lock = threading.Lock()

    def _call(self, method: str, path: str, **kwargs) -> dict:
        """Retried on 5xx and on no answer: a busy SQLite metadata DB answers concurrent writers
        with "database is locked". Retrying is safe: a trigger is deduplicated by its run id.
        A 401 (the service token expired or the JWT secret changed) signs in again, once."""
        attempt, signed_in = 0, False
        while True:
            try:
                return super()._call(method, path, **kwargs)
            except requests.RequestException as exc:
                error = AirflowAPIError(503, f"no answer from Airflow's API ({type(exc).__name__})")
            except AirflowAPIError as exc:
                if exc.status == 401 and not signed_in:
                    self._authorize(refresh=True)
                    signed_in = True
                    continue
                if exc.status < 500:
                    raise
                error = exc
            attempt += 1
            if attempt == CALL_ATTEMPTS:
                raise error
            time.sleep(0.5 * 2**attempt)

    @classmethod
    def service(cls) -> "StudioAirflow":
        """A client signed in as the studio's own Airflow user (never as the caller)."""
        from airflow.configuration import conf

        client = cls(conf.get("api", "base_url", fallback="http://127.0.0.1:8080").rstrip("/"))
        client._authorize()
        return client

    def _authorize(self, refresh: bool = False) -> None:
        token = StudioAirflow._token
        with StudioAirflow._token_lock:
            if refresh or not token["value"] or time.monotonic() - token["at"] > SERVICE_TOKEN_SECONDS:
                token.update(value=self._sign_in(), at=time.monotonic())
            self.session.headers["Authorization"] = f"Bearer {token['value']}"

    def _sign_in(self) -> str:
        user, password = service_user(), os.environ.get(SERVICE_PASSWORD_ENV, "")
        if not password:
            raise HTTPException(
                503, f"the studio has no Airflow identity: set {SERVICE_PASSWORD_ENV} (scripts/env.sh "
                f"generates it) for the Airflow user {user!r}."
            )
        try:
            resp = requests.post(
                f"{self.base_url}/auth/token", json={"username": user, "password": password}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise HTTPException(503, f"no answer from Airflow's API ({type(exc).__name__})") from None
        if resp.status_code >= 300:
            raise HTTPException(
                503, f"the studio cannot sign in to Airflow as {user!r} ({resp.status_code}): check "
                f"{SERVICE_PASSWORD_ENV} and that the user exists."
            )
        return resp.json()["access_token"]

    def runs(self, run_id_prefix: str | None) -> list[dict]:
        params: dict[str, Any] = {"order_by": "-run_after", "limit": LIST_LIMIT}
        if run_id_prefix:
            params["run_id_prefix_pattern"] = run_id_prefix
        return self._call("GET", f"/dags/{DAG_ID}/dagRuns", params=params)["dag_runs"]

    def task_instances_of(self, run_ids: list[str]) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {r: [] for r in run_ids}
        offset = 0
        while run_ids:
            page = self._call(
                "POST",
                "/dags/~/dagRuns/~/taskInstances/list",
                json={"dag_ids": [DAG_ID], "dag_run_ids": run_ids, "page_limit": 100, "page_offset": offset},
            )
            for ti in page["task_instances"]:
                out[ti["dag_run_id"]].append(ti)
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page["total_entries"]:
                break
        return out

    def stage_graph(self) -> dict[str, list[str]]:
        """The DAG's tasks in topological order, each with its direct downstream task ids
        (cached for :data:`GRAPH_TTL` seconds: one Airflow call fewer for most studio calls)."""
        global _graph
        if _graph is not None and _graph[0] > time.monotonic():
            return _graph[1]
        tasks = {
            t["task_id"]: t["downstream_task_ids"]
            for t in self._call("GET", f"/dags/{DAG_ID}/tasks")["tasks"]
        }
        upstream: dict[str, list[str]] = {t: [] for t in tasks}
        for task, downstream in tasks.items():
            for t in downstream:
                upstream[t].append(task)
        graph = {t: tasks[t] for t in TopologicalSorter(upstream).static_order()}
        _graph = (time.monotonic() + GRAPH_TTL, graph)
        return graph


def rerun_plan(graph: dict[str, list[str]]) -> dict[str, list[str]]:
    """For every stage: what "rerun from here" clears (itself and all its downstream), in DAG order."""
    plan = {}
    for start in graph:
        seen, todo = {start}, [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        plan[start] = [t for t in graph if t in seen]
    return plan


def _stage_rows(tis: list[dict], stages: list[str]) -> list[dict]:
    by_id = {ti["task_id"]: ti for ti in tis}
    rows = []
    for stage in stages:
        ti = by_id.get(stage, {})
        tries = ti.get("try_number") or 0
        rows.append(
            {
                "stage": stage,
                "state": ti.get("state") or "none",
                "duration": round(ti["duration"], 1) if ti.get("duration") is not None else None,
                "tries": tries,
                "retries": max(tries - 1, 0),
                "start": ti.get("start_date"),
                "end": ti.get("end_date"),
            }
        )
    return rows


def pacing_rows(edl: dict) -> list[dict]:
    """The drift report of ``edl.json`` as the video page shows it: per narrated segment, the
    narration's drift from its footage and the share of its action that made it into the video
    (``[]`` for an EDL without one)."""
    rows = []
    for p in edl.get("pacing") or []:
        try:
            drift, action, kept = float(p["drift"]), float(p["action"]), float(p["action_kept"])
        except (KeyError, TypeError, ValueError):
            continue
        rows.append({
            "segment": str(p.get("segment_id", "")),
            "at": round(float(p.get("footage_start") or 0.0), 1),
            "drift": round(drift, 2),
            "drift_ok": abs(drift) <= DRIFT_GOAL_SECONDS,
            "action": round(action, 1),
            "action_kept": round(kept, 1),
            "action_share": round(100 * kept / action) if action > 0 else 100,
            "idle_speed": round(float(p.get("idle_speed") or 1.0), 2),
            "hold": round(float(p.get("hold") or 0.0), 1),
        })
    return rows


def _summary(run: dict, tis: list[dict], stages: list[str]) -> dict:
    conf = run.get("conf") or {}
    rows = _stage_rows(tis, stages)
    return {
        "video_id": run["dag_run_id"],
        "tenant": conf.get("tenant"),
        "title": conf.get("title_hint") or conf.get("source", "").rsplit("/", 1)[-1],
        "state": run.get("state"),
        "script_mode": conf.get("script_mode", "autopilot"),
        "created": run.get("run_after"),
        "waiting_for_review": any(r["stage"] == "review_gate" and r["state"] == "deferred" for r in rows),
        "stages": rows,
    }


class Videos:
    def __init__(self, user: StudioUser):
        self.user = user
        self.store = ArtifactStore()
        self.airflow = StudioAirflow.service()

    # ----------------------------------------------------------------- runs

    def run(self, video_id: str, action: str = "read") -> dict:
        """The run of a video this user may see; 404 (logged) for anything else."""
        if not keys.VIDEO_ID_RE.fullmatch(video_id):
            raise refuse(self.user, action, f"video {video_id}")
        try:
            run = self.airflow.get_run(video_id)
        except AirflowAPIError as exc:
            if exc.status == 404:
                raise HTTPException(404, f"video {video_id}: not found") from None
            raise
        if not self.user.can_access((run.get("conf") or {}).get("tenant", "")):
            raise refuse(self.user, action, f"video {video_id}")
        return run

    def list(self) -> list[dict]:
        """The tenant's videos (admins: all), from the cache when it is fresh (see the module doc)."""
        scope = ALL_TENANTS if self.user.is_admin else str(self.user.tenant)
        with _list_guard:
            lock = _list_locks.setdefault(scope, threading.Lock())
        with lock:  # concurrent misses of one scope: one computes, the others take its answer
            with _list_guard:
                expires, _, videos = _lists.get(scope, (0.0, 0, []))
                generation = _generations.get(scope, 0)
            if expires > time.monotonic():
                return videos
            videos = self._list()
            with _list_guard:
                if _generations.get(scope, 0) == generation:  # not forgotten meanwhile
                    _lists[scope] = (time.monotonic() + LIST_TTL, generation, videos)
            return videos

    def _list(self) -> list[dict]:
        runs = self.airflow.runs(None if self.user.is_admin else f"{self.user.tenant}-")
        runs = [r for r in runs if self.user.can_access((r.get("conf") or {}).get("tenant", ""))]
        tis = self.airflow.task_instances_of([r["dag_run_id"] for r in runs])
        stages = list(self.airflow.stage_graph())
        return [_summary(r, tis[r["dag_run_id"]], stages) for r in runs]

    def detail(self, video_id: str) -> dict:
        run = self.run(video_id)
        graph = self.airflow.stage_graph()
        video = _summary(run, self.airflow.task_instances(video_id), list(graph))
        tenant = video["tenant"]
        prefix = video_prefix(tenant, video_id) + "/"
        names = [
            name for name in (k[len(prefix):] for k in self.store.list(prefix)) if _listed(name)
        ]
        video["artifacts"] = names
        video["final"] = FINAL if FINAL in names else None
        video["thumbnail"] = next(
            (n for n in names if "thumbnail" in n and n.endswith((".jpg", ".png"))), None
        )
        video["metadata"] = self.store.get_json(prefix + METADATA) if METADATA in names else None
        video["receipt"] = self.store.get_json(prefix + RECEIPT) if RECEIPT in names else None
        video["qc"] = _qc_panel(self.store.get_json(prefix + QC)) if QC in names else None
        video["waiting_for_qc_review"] = any(
            r["stage"] == "qc" and r["state"] == "deferred" for r in video["stages"])
        video["timeline"] = [n for n in names if n.startswith("edit/timeline.")]
        video["pacing"] = pacing_rows(self.store.get_json(prefix + EDL)) if EDL in names else []
        video["rerun_plan"] = rerun_plan(graph)
        return video

    def decide_qc(self, video_id: str, decision: str, reason: str = "",
                  final_sha256: str | None = None) -> dict:
        """Publish a video that failed QC anyway, or reject it (``on_qc_fail=review``); 409 when
        that final.mp4 was already decided or rendered again meanwhile."""
        run = self.run(video_id, f"qc {decision}")
        with conflicts():
            return QcReview(self.store, run["conf"]["tenant"], video_id).decide(
                decision, by=self.user.name, reason=reason, final_sha256=final_sha256)

    def artifact_key(self, video_id: str, name: str, raw_path: str) -> str:
        """The store key of one artifact of this video; refuses anything outside its prefix."""
        run = self.run(video_id, "artifact read")
        lowered = raw_path.lower()
        if any(code in lowered for code in ("%2f", "%5c", "%2e", "%00")) or name.startswith("/"):
            raise refuse(self.user, "encoded or absolute artifact path", raw_path, status=403)
        key = f"{video_prefix(run['conf']['tenant'], video_id)}/{name}"
        try:
            check_key(key)
        except FatalError:
            raise refuse(self.user, "artifact path outside the video", name, status=403) from None
        if not _listed(name) or not self.store.exists(key):
            raise HTTPException(404, f"artifact {name}: not found")
        return key

    # ----------------------------------------------------------------- script review

    def _review(self, video_id: str, action: str) -> tuple[ScriptReview, Settings]:
        run = self.run(video_id, action)
        conf = run.get("conf") or {}
        return ScriptReview(self.store, conf["tenant"], video_id), Settings.from_mapping(conf)

    def script(self, video_id: str) -> dict:
        review, settings = self._review(video_id, "script read")
        with conflicts():
            state = review.state()
        script = state.narration
        wpm = int(script.get("words_per_minute") or settings.words_per_minute)
        seen = self._what_the_writer_saw(settings.tenant, video_id)
        segments = [
            {
                "id": s["id"],
                "start": s["start"],
                "end": s["end"],
                "text": s["text"],
                "word_budget": word_budget(s["kept_duration"], wpm),
                "keyframe": keys.keyframe_name(s["id"]),
                "on_screen": seen.get(s["id"], {}),
            }
            for s in script["segments"]
        ]
        return {
            "video_id": video_id,
            "revision": state.revision,
            "title": script.get("title", ""),
            "segments": segments,
            "edited": state.edit is not None,
            "warnings": script.get("warnings", []),
            "decision": state.decision,
        }

    def _what_the_writer_saw(self, tenant: str, video_id: str) -> dict[str, dict]:
        """Per segment, the text read on its screen and the presenter's words (segments.json),
        so a reviewer sees what the script was written from."""
        key = keys.artifact_key(tenant, video_id, "analyze", "segments.json")
        try:
            analysis = self.store.get_json(key) if self.store.exists(key) else {}
        except (FatalError, ValueError):
            return {}
        seen = {}
        for seg in analysis.get("segments") or []:
            screen = seg.get("screen") or {}
            seen[str(seg.get("id"))] = {
                "headline": screen.get("headline") or "",
                "new": list(screen.get("new") or [])[:4],
                "terms": list(screen.get("terms") or [])[:8],
                "numbers": list(screen.get("numbers") or [])[:4],
                "said": (seg.get("speech") or {}).get("text") or "",
            }
        return seen

    def save_script(self, video_id: str, segments: list[dict], revision: str | None = None) -> dict:
        review, settings = self._review(video_id, "script edit")
        with conflicts():
            review.save_edit(segments, settings, by=self.user.name, expected_revision=revision,
                             run_id=video_id)
        return self.script(video_id)

    def decide(
        self, video_id: str, decision: str, reason: str = "", segments: list[dict] | None = None,
        revision: str | None = None,
    ) -> dict:
        """The one decision for the current script revision; 409 when it was already decided
        (or the script changed since the reviewer loaded it)."""
        review, settings = self._review(video_id, decision)
        with conflicts():
            return review.decide(decision, by=self.user.name, reason=reason, edits=segments,
                                 settings=settings, expected_revision=revision, run_id=video_id)

    # ----------------------------------------------------------------- rerun

    def rerun(self, video_id: str, from_stage: str) -> dict:
        run = self.run(video_id, "rerun")
        plan = rerun_plan(self.airflow.stage_graph())
        if from_stage not in plan:
            raise HTTPException(400, f"from_stage must be one of: {', '.join(plan)}.")
        review = ScriptReview(self.store, run["conf"]["tenant"], video_id)
        if "script" in plan[from_stage]:  # a new script revision: edits and decisions go to history
            review.discard()
        elif "review_gate" in plan[from_stage] and self.store.exists(review.script_key):
            review.withdraw_decision()  # the gate must wait for a new decision
        cleared = self.airflow.clear_from(video_id, from_stage)
        forget_list(run["conf"]["tenant"])
        return {"video_id": video_id, "from_stage": from_stage, "cleared": cleared}


def _qc_panel(report: dict) -> dict:
    """What the video page shows of qc.json: the verdict, and one row per check."""
    rows = []
    for name, check in (report.get("checks") or {}).items():
        rows.append({"name": name.replace("_", " "), "status": check.get("status"),
                     "message": check.get("message") or "", "figure": _figure(name, check)})
    return {"passed": bool(report.get("passed")), "summary": report.get("summary") or "",
            "final_sha256": report.get("final_sha256"), "checks": rows,
            "cost": report.get("cost") or {}}


def _figure(name: str, check: dict) -> str:
    """The check's main measurement, short."""
    if name == "loudness" and check.get("integrated_lufs") is not None:
        peak = check.get("true_peak_dbtp")
        return f"{check['integrated_lufs']} LUFS" + (f", {peak} dBTP" if peak is not None else "")
    if name == "caption_onsets" and check.get("median_ms") is not None:
        return f"median {check['median_ms']:.0f} ms, p90 {check['p90_ms']:.0f} ms"
    if name == "words" and check.get("word_error") is not None:
        return f"{check['word_error']:.0%} word error"
    if name == "drift" and check.get("worst_s") is not None:
        return f"worst {check['worst_s']:.2f} s"
    if name == "duration" and check.get("off_s") is not None:
        return f"{check['actual']:.2f} s ({check['off_s']:+.2f} s)"
    if name == "black_ends":
        return f"start {check.get('black_start_s', 0)} s, end {check.get('black_end_s', 0)} s"
    if name == "title_safe" and check.get("events") is not None:
        return f"{check.get('outside_count', 0)} of {check['events']} outside"
    return ""


@contextlib.contextmanager
def conflicts():
    """A :class:`~include.review.ReviewConflict` is an HTTP 409 with its sentence."""
    try:
        yield
    except ReviewConflict as exc:
        raise HTTPException(409, str(exc)) from None
