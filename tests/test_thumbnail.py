"""Thumbnail stage: a valid 1280x720 JPEG under 2 MB, the sharpest frame, an optional title."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from include.core.edl import Edl
from include.core.errors import FatalError
from include.core.media import IMAGE_FORMATS, ffprobe
from include.core.options import Settings
from include.stages import thumbnail
from tests.fakes.edl import clip, edl_document

# The sample clip: s04 is a soft, low-contrast mandelbrot zoom, s01 testsrc2 (busy, sharp).
CLIPS = [clip("s04", 13.0, 15.0, 0.0), clip("s01", 1.0, 3.0, 2.0)]


@pytest.fixture
def edl_path(tmp_path):
    path = tmp_path / "edl.json"
    path.write_text(json.dumps(edl_document(CLIPS, source_duration=20.0)))
    return path


def test_a_sharp_frame_becomes_a_valid_1280x720_jpeg(sample_clip, edl_path, tmp_path):
    result = thumbnail.run(sample_clip[0], edl_path, Settings(thumbnail_title=False),
                           tmp_path / "out")
    jpeg = tmp_path / "out" / "thumbnail.jpg"
    (stream,) = ffprobe(jpeg, formats=IMAGE_FORMATS)["streams"]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", 1280, 720)
    assert jpeg.read_bytes()[:2] == b"\xff\xd8" and jpeg.stat().st_size <= 2 * 1024 * 1024
    assert result["source_time"] == 2.0, "testsrc2 is sharper and more contrasty"
    assert result["title"] == "" and result["bytes"] == jpeg.stat().st_size
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["thumbnail.jpg"]


def test_the_title_is_drawn_on_a_band(sample_clip, edl_path, tmp_path):
    plain = thumbnail.run(sample_clip[0], edl_path, Settings(thumbnail_title=False),
                          tmp_path / "plain")
    titled = thumbnail.run(sample_clip[0], edl_path, Settings(), tmp_path / "titled",
                           title="Our new dashboard: 100% faster, it's here")
    cjk = thumbnail.run(sample_clip[0], edl_path, Settings(), tmp_path / "cjk",
                        title="我们的新仪表板")
    assert titled["title"].startswith("Our new dashboard") and cjk["title"] == "我们的新仪表板"
    images = {name: cv2.imread(str(tmp_path / name / "thumbnail.jpg"), cv2.IMREAD_GRAYSCALE)
              .astype(float) for name in ("plain", "titled", "cjk")}
    band, above = slice(int(720 * 0.74), int(720 * 0.9)), slice(0, int(720 * 0.7))
    for name in ("titled", "cjk"):
        assert np.abs(images[name][band] - images["plain"][band]).mean() > 20, name
        assert np.abs(images[name][above] - images["plain"][above]).mean() < 2, name
    assert np.abs(images["titled"][band] - images["cjk"][band]).mean() > 5
    assert plain["source_time"] == titled["source_time"]


def test_dark_and_flat_frames_score_low():
    rng = np.random.default_rng(0)
    busy = (rng.random((180, 320)) * 255).astype(np.uint8)
    assert thumbnail.score_frame(busy) > 0.5
    assert thumbnail.score_frame(np.zeros((180, 320), np.uint8)) == 0.0
    assert thumbnail.score_frame(np.full((180, 320), 128, np.uint8)) < 0.01


def test_candidates_are_spread_over_many_clips():
    clips = [clip("s01", i, i + 1, i) for i in range(100)]
    times = thumbnail.candidate_times(Edl.from_dict(edl_document(clips)).clips)
    assert len(times) == thumbnail.MAX_CANDIDATES and times[0] == 0.5 and times[-1] > 90


def test_an_edl_without_clips_is_fatal(sample_clip, tmp_path):
    (tmp_path / "edl.json").write_text(json.dumps(edl_document([], duration=5.0)))
    with pytest.raises(FatalError, match="no clips"):
        thumbnail.run(sample_clip[0], tmp_path / "edl.json", Settings(), tmp_path / "out")
