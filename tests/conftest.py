"""Shared fixtures: generated clips with known ground truth (no footage from outside the repo)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

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
