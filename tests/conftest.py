"""Shared fixtures: generated clips with known ground truth, a test metadata DB, a real Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never touch the developer's Airflow home (.airflow) or store (.data): everything lives
# under test-output/, set before anything imports Airflow.
OUT = ROOT / "test-output"
TEST_HOME = OUT / "airflow-home"
TEST_HOME.mkdir(parents=True, exist_ok=True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(TEST_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{TEST_HOME}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "VIDEO_STORE_ROOT": f"file://{OUT / 'store'}",
        "VIDEO_OUTBOX": str(OUT / "outbox"),
    }
)

from include.sample_media import SampleTruth, make_sample  # noqa: E402


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory) -> tuple[Path, SampleTruth]:
    """20 s, 640x360, 5 shots (cuts at 4/8/12/16 s), frozen 4-12 s, tone with silences."""
    out = tmp_path_factory.mktemp("clips") / "sample.mp4"
    truth = make_sample(out, seconds=20, size="640x360")
    return out, truth


@pytest.fixture(scope="session")
def silent_clip(tmp_path_factory) -> tuple[Path, SampleTruth]:
    """12 s, 640x360, no audio track."""
    out = tmp_path_factory.mktemp("clips") / "noaudio.mp4"
    truth = make_sample(out, seconds=12, size="640x360", audio=False)
    return out, truth


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB under test-output/ (dag.test() needs one)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True, capture_output=True, env=os.environ.copy(),
    )
    return TEST_HOME


AIRFLOW_TEST_PORT = int(os.environ.get("TEST_AIRFLOW_PORT", "18080"))


@dataclass
class AirflowServer:
    """A running Airflow (scheduler, dag-processor, triggerer, api-server) for the tests."""

    client: "AirflowClient"  # noqa: F821
    store: "ArtifactStore"  # noqa: F821
    port: int
    env: dict
    home: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def airflow_server():
    """``scripts/airflow.sh up`` with its own home, port and store under test-output/.

    Shared by every test that needs a real scheduler or api-server (one start per session,
    ≈ 30-70 s on 2 cores); stopped at the end, and nothing may be left listening on its port.
    """
    from include.airflow_client import AirflowClient
    from include.storage import ArtifactStore

    port = AIRFLOW_TEST_PORT
    home, store = OUT / "scheduler-home", OUT / "scheduler-store"
    subprocess.run(["rm", "-rf", str(home), str(store)], check=True)  # a new DB needs a new store
    store_root = f"file://{store}"
    # nothing of the caller's Airflow: its settings, home or secrets (scripts/env.sh makes new ones)
    secrets = ("AIRFLOW_HOME", "STUDIO_AIRFLOW_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "STUDIO_DEV_USERS")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k not in secrets}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_PORT": str(port),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port + 713),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(port + 714),
        "AIRFLOW__CORE__PARALLELISM": "3",
        "VIDEO_STORE_ROOT": store_root,
        "VIDEO_OUTBOX": str(OUT / "scheduler-outbox"),
    })
    script = str(ROOT / "scripts" / "airflow.sh")
    try:  # a start that times out is stopped too
        up = subprocess.run([script, "up"], env=env, capture_output=True, text=True, timeout=900)
        assert up.returncode == 0, up.stdout + up.stderr
        client = AirflowClient(f"http://127.0.0.1:{port}").login()
        client.wait_for_dag()
        yield AirflowServer(client, ArtifactStore(store_root), port, env, home)
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True, timeout=120)
        left = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert left.strip() == "", f"something still listens on {port}: {left}"


@dataclass
class LocalS3:
    """A local S3 endpoint (moto's server speaks the S3 wire protocol) and an Airflow connection."""

    endpoint: str
    conn_id: str
    bucket: str

    def root(self, prefix: str) -> str:
        return f"s3://{self.conn_id}@{self.bucket}/{prefix}"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")


@pytest.fixture(scope="session")
def local_s3() -> LocalS3:
    """moto's ThreadedMotoServer on a free 127.0.0.1 port with bucket ``videos``.

    The connection ``moto_s3`` is exported as ``AIRFLOW_CONN_MOTO_S3`` (in this process; pass
    ``local_s3_env`` to subprocesses). moto does not check signatures: authorization is tested
    in our own code, not through it.
    """
    import json
    import logging
    import socket

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    s3 = LocalS3(endpoint=f"http://127.0.0.1:{port}", conn_id="moto_s3", bucket="videos")
    os.environ["AIRFLOW_CONN_MOTO_S3"] = json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": s3.endpoint, "region_name": "us-east-1",
                  "config_kwargs": {"signature_version": "s3v4"}},
    })
    s3.client().create_bucket(Bucket=s3.bucket)
    yield s3
    server.stop()
    os.environ.pop("AIRFLOW_CONN_MOTO_S3", None)


@pytest.fixture(scope="session")
def product_tour(tmp_path_factory) -> tuple[Path, dict]:
    """The generated ~40 s Ledgerly product tour at 1280x720 with its presenter, and its truth.

    See include/product_tour.py for the truth's keys (pages, dialog, typing, toast, scroll,
    dead_stretch, static, speech, filler, ...).
    """
    from include.product_tour import make_product_tour

    out = tmp_path_factory.mktemp("tour") / "product_tour.mp4"
    return out, make_product_tour(out, size=(1280, 720))


@pytest.fixture(scope="session")
def screen_recording(tmp_path_factory) -> dict:
    """The generated 12 s screen recording (tests/screen_recording.py: typing, a dialog, a
    toast, a pointer-only span) and its analysis, made once for every module that needs it.
    ``segments`` is the parsed segments.json; a test that changes it writes its own copy."""
    import json

    from include.stages import analyze
    from tests.screen_recording import make_screen_recording

    folder = tmp_path_factory.mktemp("screen_recording")
    source = folder / "recording.mp4"
    truth = make_screen_recording(source)
    analyze.run(source, folder / "analyze")
    segments = json.loads((folder / "analyze" / "segments.json").read_text())
    return {"folder": folder, "source": source, "truth": truth, "segments": segments,
            "segments_path": folder / "analyze" / "segments.json"}


def audio_rms_db(path: Path, start: float, end: float) -> float:
    """The RMS level (dBFS) of ``path``'s sound between ``start`` and ``end`` seconds."""
    import math

    import numpy as np

    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{start:.3f}", "-t", f"{end - start:.3f}", "-i",
         str(path), "-vn", "-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
        check=True, capture_output=True).stdout
    samples = np.frombuffer(raw, np.int16).astype(float) / 32768
    return 20 * math.log10(max(float(np.sqrt(np.mean(samples ** 2))), 1e-9))


def gray_frames(path: Path, width: int, height: int):
    """Every frame of ``path``'s picture as grey levels, an (n, height, width) uint8 array."""
    import numpy as np

    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-f",
                          "rawvideo", "-pix_fmt", "gray", "-"], check=True,
                         capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width)


def audio_samples(path: Path, rate: int = 48000):
    """``path``'s sound as mono float samples at ``rate``."""
    import numpy as np

    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-ac", "1",
                          "-ar", str(rate), "-f", "f32le", "-"], check=True,
                         capture_output=True).stdout
    return np.frombuffer(raw, np.float32)
