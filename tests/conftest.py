"""Shared fixtures: generated clips with known ground truth (no footage from outside the repo)."""

from __future__ import annotations

import os
import subprocess
import sys
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
