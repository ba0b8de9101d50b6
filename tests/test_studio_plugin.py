"""The studio plugin: every task process loads the plugins, so registering the studio must not
import its app (FastAPI routes, templates, the store: about a CPU-second per task, issue #13);
the api-server still serves it, imported on the first request."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import ROOT

PROBE = r"""
import json, sys
from airflow.sdk.execution_time import task_runner  # what a task process has loaded anyway
before = set(sys.modules)
sys.path.insert(0, "plugins")
import studio_plugin
new = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("include", "jinja2", "multipart"))
print(json.dumps(new))
"""


def test_loading_the_plugin_does_not_import_the_studio_app():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_the_mounted_plugin_app_serves_the_studio():
    sys.path.insert(0, str(ROOT / "plugins"))
    try:
        from studio_plugin import StudioPlugin
    finally:
        sys.path.remove(str(ROOT / "plugins"))
    from include.studio.app import app as studio

    entry = StudioPlugin.fastapi_apps[0]
    host = FastAPI()
    host.mount(entry["url_prefix"], entry["app"])  # as Airflow's api-server mounts plugin apps
    with TestClient(host) as client:
        served = client.get("/studio/api/videos")
    with TestClient(studio) as client:
        direct = client.get("/api/videos")
    # no session: the studio's own answer (its 401 and body), through the plugin as directly
    assert served.status_code == direct.status_code == 401
    assert served.json() == direct.json()
