"""schemathesis over the studio's OpenAPI (/studio/openapi.json) on the session's api-server: no 5xx.

Runs schemathesis' own runner (coverage, fuzzing and stateful phases) as bob (tenant globex):
generated ids hit nothing of his, generated bodies exercise validation.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from tests.conftest import OUT

pytestmark = pytest.mark.scheduler


def test_generated_requests_never_get_a_server_error(airflow_server):
    token = requests.post(
        f"{airflow_server.url}/auth/token", json={"username": "bob", "password": "bob"}, timeout=30
    ).json()["access_token"]
    studio = f"{airflow_server.url}/studio"
    options = "--checks not_a_server_error --max-examples 10 --request-timeout 60 --report junit".split()
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{studio}/openapi.json", "--url", studio,
         "-H", f"Authorization: Bearer {token}", *options, "--report-dir", str(OUT / "schemathesis")],
        capture_output=True, text=True, timeout=600, cwd=OUT,  # its .schemathesis cache goes there too
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
