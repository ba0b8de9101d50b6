"""The production topology on this machine, once per session (``make test-integration``).

PostgreSQL (a database of its own, dropped at the end) + Redis (db 7) + CeleryExecutor, with
``scripts/cluster.sh`` starting api-server, scheduler, dag-processor, triggerer, a ``media`` worker
and a ``default`` worker, each its own process group. The artifact store is ``s3://`` on the
session's local S3 endpoint (moto), as it must be when workers run on several hosts.

Ports 18280 (api), 18993 (worker logs), 18994 (trigger logs): no clash with tests/test_scheduler.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import OUT, ROOT

PORT = 18280
REDIS_DB = 7
PG = dict(host="127.0.0.1", port=5432, user="postgres")
IT_OUT = OUT / "integration"
CLUSTER = str(ROOT / "scripts" / "cluster.sh")
ADMIN_PASSWORD = uuid.uuid4().hex  # the cluster's admin password (no defaults outside dev)

# Measurements (batch ratio, crash recovery, …) printed at the end of the session.
REPORT: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("production topology measurements")
        for name, value in REPORT.items():
            terminalreporter.write_line(f"{name}: {value}")


def _reachable(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _ensure_services() -> None:
    """Start PostgreSQL and Redis (as CI does) when they are not listening."""
    starts = {
        5432: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
        6379: "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
              " --dir /var/lib/redis --logfile /var/log/redis/ci.log",
    }
    for port, command in starts.items():
        if not _reachable(port):
            subprocess.run(command, shell=True, check=True, timeout=60)
            deadline = time.monotonic() + 30
            while not _reachable(port):
                assert time.monotonic() < deadline, f"nothing listens on {port} after: {command}"
                time.sleep(0.5)


def _psql(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", **PG)
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


def _redis_flush() -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()


@dataclass
class Cluster:
    """The running topology: REST client, artifact store, and its components' process groups."""

    client: "AirflowClient"  # noqa: F821
    store: "ArtifactStore"  # noqa: F821
    env: dict
    home: Path

    def run(self, action: str, *components: str) -> str:
        """``scripts/cluster.sh up|down|status [component...]`` with the cluster's env."""
        done = subprocess.run([CLUSTER, action, *components], env=self.env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def pid(self, component: str) -> int:
        return int((self.home / "cluster" / f"{component}.pid").read_text())


@pytest.fixture(scope="session")
def cluster(local_s3):
    from include.airflow_client import AirflowClient
    from include.storage import ArtifactStore

    _ensure_services()
    db = f"vp_it_{uuid.uuid4().hex[:8]}"
    home = IT_OUT / "home"
    shutil.rmtree(IT_OUT, ignore_errors=True)
    home.mkdir(parents=True)
    store_root = local_s3.root(f"it-{db}")
    pg_url = f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "AIRFLOW_HOME"}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_PORT": str(PORT),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "18993",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "18994",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg_url.replace("+psycopg2", ""),
        # A killed worker's task stops heartbeating: fail it (→ retry) after 20 s, not 5 min.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "VIDEO_STORE_ROOT": store_root,
        "VIDEO_OUTBOX": str(IT_OUT / "outbox"),
        # cluster.sh has no demo users: admin's password is a secret (scripts/env.sh)
        "AIRFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "STUDIO_DEV_USERS": "0",  # `. scripts/env.sh` (make test-integration) exported dev's 1
    })
    _redis_flush()
    started = time.monotonic()
    cluster = None
    try:
        up = subprocess.run([CLUSTER, "up"], env=env, capture_output=True, text=True, timeout=400)
        assert up.returncode == 0, up.stdout + up.stderr
        client = AirflowClient(f"http://127.0.0.1:{PORT}", password=ADMIN_PASSWORD).login()
        client.wait_for_dag()
        REPORT["cluster start (migrate + 6 components + DAG parsed)"] = f"{time.monotonic() - started:.0f} s"
        cluster = Cluster(client, ArtifactStore(store_root), env, home)
        yield cluster
    finally:
        subprocess.run([CLUSTER, "down"], env=env, capture_output=True, timeout=180)
        _psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        _redis_flush()
        left = subprocess.run(["ss", "-Htln", f"sport = :{PORT}"], capture_output=True, text=True).stdout
        assert left.strip() == "", f"something still listens on {PORT}: {left}"


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory) -> Path:
    """12 s, 640x360, three shots: the batch and end-to-end runs."""
    from include.sample_media import make_sample

    out = tmp_path_factory.mktemp("clips") / "short.mp4"
    make_sample(out, seconds=12, size="640x360")
    return out
