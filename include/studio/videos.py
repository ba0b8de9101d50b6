"""One user's view of the videos: Airflow runs (through Airflow's REST API, with the user's own
token) and the artifact store, always checked against the user's tenant.

A video is a ``video_pipeline`` run whose ``dag_run_id`` is the video id and whose
``conf.tenant`` is its tenant. Another tenant's video is "not found" (and logged), never "forbidden",
so ids cannot be probed.
"""

from __future__ import annotations

import contextlib
import re
import time
from graphlib import TopologicalSorter
from typing import Any

import requests
from fastapi import HTTPException

from include.airflow_client import DAG_ID, AirflowAPIError, AirflowClient
from include.core.errors import FatalError
from include.review import ReviewConflict, ScriptReview
from include.stages.script import word_budget
from include.stages.settings import Settings
from include.storage import ArtifactStore, check_key, video_prefix
from include.studio.auth import StudioUser, refuse

VIDEO_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}-[0-9a-f]{16}$")
LIST_LIMIT = 100
CALL_ATTEMPTS = 4
FINAL = "render/final.mp4"
METADATA = "metadata/metadata.json"
RECEIPT = "publish/receipt.json"


class StudioAirflow(AirflowClient):
    """Airflow's REST API as the calling user (their token: Airflow's own authorization applies)."""

    def _call(self, method: str, path: str, **kwargs) -> dict:
        """Retried on 5xx and on no answer: a busy SQLite metadata DB answers concurrent writers
        with "database is locked". Retrying is safe: a trigger is deduplicated by its run id."""
        attempt = 0
        while True:
            try:
                return super()._call(method, path, **kwargs)
            except requests.RequestException as exc:
                error = AirflowAPIError(503, f"no answer from Airflow's API ({type(exc).__name__})")
            except AirflowAPIError as exc:
                if exc.status < 500:
                    raise
                error = exc
            attempt += 1
            if attempt == CALL_ATTEMPTS:
                raise error
            time.sleep(0.5 * 2**attempt)

    @classmethod
    def for_user(cls, user: StudioUser) -> "StudioAirflow":
        from airflow.configuration import conf

        client = cls(conf.get("api", "base_url", fallback="http://127.0.0.1:8080").rstrip("/"))
        client.session.headers["Authorization"] = f"Bearer {user.token}"
        return client

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
        """The DAG's tasks in topological order, each with its direct downstream task ids."""
        tasks = {
            t["task_id"]: t["downstream_task_ids"]
            for t in self._call("GET", f"/dags/{DAG_ID}/tasks")["tasks"]
        }
        upstream: dict[str, list[str]] = {t: [] for t in tasks}
        for task, downstream in tasks.items():
            for t in downstream:
                upstream[t].append(task)
        return {t: tasks[t] for t in TopologicalSorter(upstream).static_order()}


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
        self.airflow = StudioAirflow.for_user(user)

    # ----------------------------------------------------------------- runs

    def run(self, video_id: str, action: str = "read") -> dict:
        """The run of a video this user may see; 404 (logged) for anything else."""
        if not VIDEO_ID_RE.match(video_id):
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
            k[len(prefix) :] for k in self.store.list(prefix) if not k.rsplit("/", 1)[-1].startswith(".")
        ]
        video["artifacts"] = names
        video["final"] = FINAL if FINAL in names else None
        video["thumbnail"] = next(
            (n for n in names if "thumbnail" in n and n.endswith((".jpg", ".png"))), None
        )
        video["metadata"] = self.store.get_json(prefix + METADATA) if METADATA in names else None
        video["receipt"] = self.store.get_json(prefix + RECEIPT) if RECEIPT in names else None
        video["rerun_plan"] = rerun_plan(graph)
        return video

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
        if not self.store.exists(key):
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
        segments = [
            {
                "id": s["id"],
                "start": s["start"],
                "end": s["end"],
                "text": s["text"],
                "word_budget": word_budget(s["kept_duration"], wpm),
                "keyframe": f"analyze/keyframes/{s['id']}.jpg",
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
        return {"video_id": video_id, "from_stage": from_stage, "cleared": cleared}


@contextlib.contextmanager
def conflicts():
    """A :class:`~include.review.ReviewConflict` is an HTTP 409 with its sentence."""
    try:
        yield
    except ReviewConflict as exc:
        raise HTTPException(409, str(exc)) from None
