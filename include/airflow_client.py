"""A small client for Airflow's REST API v2: token, trigger (with dedup), wait, clear.

Used by ``make demo``, the command-line tools and the tests; the studio plugin reuses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import requests

DAG_ID = "video_pipeline"
TERMINAL = {"success", "failed"}


class AirflowAPIError(RuntimeError):
    def __init__(self, status: int, detail: str):
        super().__init__(f"Airflow API {status}: {detail}")
        self.status = status
        self.detail = detail


def _detail(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:500]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI validation errors
        return "; ".join(str(d.get("msg", d)) for d in detail)
    return str(detail)[:500]


@dataclass
class AirflowClient:
    base_url: str = "http://127.0.0.1:8080"
    username: str = "admin"
    password: str = "admin"
    timeout: float = 30
    session: requests.Session = field(default_factory=requests.Session)

    def login(self) -> "AirflowClient":
        resp = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=self.timeout,
        )
        if resp.status_code >= 300:
            raise AirflowAPIError(resp.status_code, _detail(resp))
        self.session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        return self

    def _call(self, method: str, path: str, **kwargs) -> dict:
        resp = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=self.timeout, **kwargs)
        if resp.status_code >= 300:
            raise AirflowAPIError(resp.status_code, _detail(resp))
        return resp.json() if resp.content else {}

    def trigger(self, run_id: str, conf: dict, dag_id: str = DAG_ID, note: str | None = None) -> tuple[dict, bool]:
        """Create a run; returns (run, created). A duplicate run id (409) returns the existing run."""
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        if note:
            body["note"] = note
        try:
            return self._call("POST", f"/dags/{dag_id}/dagRuns", json=body), True
        except AirflowAPIError as exc:
            if exc.status != 409:
                raise
            return self.get_run(run_id, dag_id), False

    def wait_for_dag(self, dag_id: str = DAG_ID, timeout: float = 120) -> dict:
        """Wait until the dag-processor has parsed ``dag_id`` (it does so after start-up)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._call("GET", f"/dags/{dag_id}")
            except AirflowAPIError:
                if time.monotonic() > deadline:
                    errors = self._call("GET", "/importErrors")
                    raise TimeoutError(f"{dag_id} was not parsed in {timeout:.0f} s: {errors}") from None
                time.sleep(1)

    def get_run(self, run_id: str, dag_id: str = DAG_ID) -> dict:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict]:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def xcom(self, run_id: str, task_id: str, dag_id: str = DAG_ID) -> dict:
        data = self._call(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"deserialize": "true"},
        )
        return data.get("value")

    def wait(self, run_id: str, dag_id: str = DAG_ID, timeout: float = 900, poll: float = 2,
             until: set[str] = TERMINAL) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id, dag_id)
            if run["state"] in until:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run['state']} after {timeout:.0f} s")
            time.sleep(poll)

    def wait_task(self, run_id: str, task_id: str, states: set[str], dag_id: str = DAG_ID,
                  timeout: float = 300, poll: float = 1) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            ti = {t["task_id"]: t for t in self.task_instances(run_id, dag_id)}.get(task_id, {})
            if ti.get("state") in states:
                return ti
            if time.monotonic() > deadline:
                raise TimeoutError(f"{task_id} of {run_id} still {ti.get('state')} after {timeout:.0f} s")
            time.sleep(poll)

    def clear_from(self, run_id: str, task_id: str, dag_id: str = DAG_ID) -> list[str]:
        """Rerun ``task_id`` and everything downstream of it (not a dry run, not only failed)."""
        data = self._call(
            "POST", f"/dags/{dag_id}/clearTaskInstances",
            json={
                "dag_run_id": run_id,
                "task_ids": [task_id],
                "include_downstream": True,
                "include_upstream": False,
                "only_failed": False,
                "dry_run": False,
                "reset_dag_runs": True,
            },
        )
        return sorted(t["task_id"] for t in data.get("task_instances", []))
