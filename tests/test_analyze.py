"""analyze: cuts, dissolves, region changes, frozen spans, silences, dead air and keyframes.

Every clip is generated here or in conftest.py, with known ground truth.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import pytest

from include.core.errors import FatalError, RetryableError
from include.core.options import Settings
from include.stages import analyze, ingest

FRAME = 1 / 30  # the generated clips are 30 fps


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *args], check=True)


def _encode(out: Path, filtergraph: str) -> Path:
    _ffmpeg("-filter_complex", f"{filtergraph},format=yuv420p",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "30", str(out))
    return out


def _analyze(source: Path, out_dir: Path, **kwargs) -> tuple[dict, dict]:
    result = analyze.run(source, out_dir, **kwargs)
    return result, json.loads((out_dir / "segments.json").read_text())


@pytest.fixture(scope="module")
def analyzed_sample(sample_clip, tmp_path_factory):
    path, truth = sample_clip
    out = tmp_path_factory.mktemp("analyze")
    result, doc = _analyze(path, out)
    return truth, out, result, doc


@pytest.fixture(scope="module")
def dissolve_clip(tmp_path_factory) -> Path:
    """8 s: testsrc2, a 1 s cross-fade centred on 4.0 s, SMPTE bars."""
    return _encode(
        tmp_path_factory.mktemp("clips") / "dissolve.mp4",
        "testsrc2=s=640x360:r=30:d=4.5[a];smptebars=s=640x360:r=30:d=4.5[b];"
        "[a][b]xfade=transition=fade:duration=1:offset=3.5",
    )


@pytest.fixture(scope="module")
def region_clip(tmp_path_factory) -> Path:
    """6 s screen-recording look: a panel covering ~28 % of the frame turns from blue to orange at
    3 s, while a small square moves across the bottom the whole time."""
    return _encode(
        tmp_path_factory.mktemp("clips") / "region.mp4",
        "color=c=0x202830:s=640x360:r=30:d=6,"
        "drawbox=x=40:y=40:w=360:h=180:color=0x3366cc:t=fill,"
        "drawbox=x=40:y=40:w=360:h=180:color=0xe0a020:t=fill:enable='gte(t,3)'[bg];"
        "color=c=white:s=24x24:r=30:d=6[dot];[bg][dot]overlay=x='20+mod(t*90,560)':y=300",
    )


def _covered(spans, start: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)


def test_sample_cuts_are_exact_and_hard(analyzed_sample):
    truth, _, result, doc = analyzed_sample
    times = [c["time"] for c in doc["cuts"]]
    assert len(times) == len(truth.cuts) == result["cuts"]
    for found, expected in zip(times, truth.cuts):
        assert found == pytest.approx(expected, abs=2 * FRAME)
    assert {c["kind"] for c in doc["cuts"]} == {"hard"}
    assert all(0.0 < c["score"] <= 1.0 for c in doc["cuts"])


def test_sample_silences_and_frozen_spans(analyzed_sample):
    truth, _, result, doc = analyzed_sample
    assert doc["has_audio"] is True
    assert len(doc["silences"]) == len(truth.silences) == result["silences"]
    for (a, b), (ta, tb) in zip(doc["silences"], truth.silences):
        assert a == pytest.approx(ta, abs=0.1) and b == pytest.approx(tb, abs=0.1)
    frozen = doc["static_spans"]
    assert _covered(frozen, 4.0, 12.0) >= 0.9 * 8.0
    assert _covered(frozen, 0.0, 4.0) == 0.0 and _covered(frozen, 12.0, 20.0) == 0.0
    strict = doc["frozen_spans"]  # the render's held frames: the same still stretch, no more
    assert _covered(strict, 4.0, 12.0) >= 0.9 * 8.0
    assert _covered(strict, 0.0, 4.0) == 0.0 and _covered(strict, 12.0, 20.0) == 0.0


def test_sample_segments_tile_the_clip(analyzed_sample):
    truth, _, result, doc = analyzed_sample
    segments = doc["segments"]
    assert result == {
        "segments": len(segments),
        "cuts": len(doc["cuts"]),
        "static_spans": len(doc["static_spans"]),
        "frozen_spans": len(doc["frozen_spans"]),
        "silences": len(doc["silences"]),
        "duration": doc["duration"],
    }
    assert doc["duration"] == pytest.approx(truth.duration, abs=0.05)
    assert (doc["width"], doc["height"], doc["fps"]) == (640, 360, 30.0)
    assert [s["id"] for s in segments] == [f"s{i:02d}" for i in range(1, len(segments) + 1)]
    assert segments[0]["start"] == 0.0 and segments[-1]["end"] == doc["duration"]
    for before, after in zip(segments, segments[1:]):
        assert before["end"] == after["start"]
    for seg in segments:
        assert seg["end"] - seg["start"] >= analyze.MIN_SEGMENT_SECONDS
        assert seg["dominant_color"] in analyze.COLOR_NAMES
        for key in ("static_ratio", "silent_ratio", "motion", "brightness", "colorfulness",
                    "edge_density"):
            assert 0.0 <= seg[key] <= 1.0, key
    slide = segments[1]  # the dark-blue "slide" of the sample, 4-8 s
    assert slide["static_ratio"] == pytest.approx(1.0, abs=0.05)
    assert slide["dominant_color"] == "blue"
    assert slide["motion"] < segments[0]["motion"]


def test_sample_kept_spans_drop_dead_air(analyzed_sample):
    _, _, _, doc = analyzed_sample
    for seg in doc["segments"]:
        kept = seg["kept"]
        assert kept and all(seg["start"] <= a < b <= seg["end"] for a, b in kept)
        assert seg["kept_duration"] == pytest.approx(sum(b - a for a, b in kept), abs=0.002)
        assert seg["kept_duration"] >= analyze.MIN_KEPT_SECONDS
    # 5.2-6.8 s is silent and frozen: kept loses it except for 0.25 s margins.
    kept = [piece for seg in doc["segments"] for piece in seg["kept"]]
    assert _covered(kept, 5.46, 6.54) == 0.0
    slide = doc["segments"][1]
    assert slide["kept"] == [
        [4.0, pytest.approx(5.45, abs=0.05)], [pytest.approx(6.55, abs=0.05), 8.0]
    ]
    # Moving shots keep everything even where the audio is silent.
    assert doc["segments"][0]["kept"] == [[0.0, 4.0]]


def test_sample_keyframes_are_jpegs(analyzed_sample):
    _, out, _, doc = analyzed_sample
    for seg in doc["segments"]:
        image = cv2.imread(str(out / seg["keyframe"]))
        assert image is not None, seg["keyframe"]
        assert image.shape[1] == analyze.KEYFRAME_WIDTH
    assert sorted(p.name for p in out.iterdir()) == ["keyframes", "segments.json"]
    assert len(list((out / "keyframes").iterdir())) == len(doc["segments"])


def test_dissolve_is_reported_once(dissolve_clip, tmp_path):
    _, doc = _analyze(dissolve_clip, tmp_path)
    assert [c["kind"] for c in doc["cuts"]] == ["dissolve"]
    assert doc["cuts"][0]["time"] == pytest.approx(4.0, abs=0.5)
    assert [(s["start"], s["end"]) for s in doc["segments"]] == [(0.0, doc["cuts"][0]["time"]),
                                                                 (doc["cuts"][0]["time"], 8.0)]


def test_change_of_a_screen_region_is_a_cut(region_clip, tmp_path):
    _, doc = _analyze(region_clip, tmp_path)
    assert [c["kind"] for c in doc["cuts"]] == ["hard"]
    assert doc["cuts"][0]["time"] == pytest.approx(3.0, abs=2 * FRAME)
    assert doc["static_spans"] == []  # the moving square keeps the picture alive


def test_clip_without_audio(silent_clip, tmp_path):
    path, truth = silent_clip
    _, doc = _analyze(path, tmp_path)
    assert doc["has_audio"] is False and doc["silences"] == []
    assert [c["time"] for c in doc["cuts"]] == pytest.approx(truth.cuts, abs=2 * FRAME)
    for seg in doc["segments"]:
        assert seg["silent_ratio"] == 1.0
        frozen = _covered(doc["static_spans"], seg["start"], seg["end"]) > 1.0
        # Without audio every frozen stretch is dead air: only the 1 s minimum is kept.
        expected = [[seg["start"], seg["start"] + 1.0]] if frozen else [[seg["start"], seg["end"]]]
        assert seg["kept"] == expected


def test_source_info_from_ingest_is_used(sample_clip, analyzed_sample, tmp_path):
    path = sample_clip[0]
    with open(path, "rb") as fileobj:
        ingest.run(fileobj, path.name, Settings(), tmp_path / "ingest")
    info = json.loads((tmp_path / "ingest" / "source.json").read_text())
    source = tmp_path / "ingest" / info["source_file"]
    _, doc = _analyze(source, tmp_path / "analyze", source_info=info)
    assert doc["cuts"] == analyzed_sample[3]["cuts"]
    assert doc["duration"] == info["duration"]


def test_decode_timeout_is_retryable_and_leaves_nothing(sample_clip, tmp_path, monkeypatch):
    monkeypatch.setattr(analyze, "_decode_timeout", lambda duration: 0.05)
    with pytest.raises(RetryableError, match="did not finish"):
        analyze.run(sample_clip[0], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_not_a_video_is_fatal(tmp_path):
    bogus = tmp_path / "bogus.mp4"
    bogus.write_text("not a video")
    with pytest.raises(FatalError):
        analyze.run(bogus, tmp_path / "out")


@pytest.mark.parametrize(
    ("cuts", "duration", "expected"),
    [
        ([4.0, 8.0], 12.0, [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]),
        ([4.0, 4.5], 12.0, [(0.0, 4.5), (4.5, 12.0)]),  # a 0.5 s flash joins its shorter neighbour
        ([0.7], 10.0, [(0.0, 10.0)]),  # a short first shot joins the next one
        ([], 45.0, [(0.0, 15.0), (15.0, 30.0), (30.0, 45.0)]),  # long shots split evenly
        ([], 1.2, [(0.0, 1.2)]),  # a clip shorter than the minimum stays one segment
    ],
)
def test_build_segments(cuts, duration, expected):
    assert analyze.build_segments(cuts, duration) == expected


def test_dead_air_needs_frozen_and_silent_over_a_second():
    frozen = [(0.0, 10.0)]
    assert analyze.find_dead_air(frozen, [(2.0, 4.0), (6.0, 6.9)]) == [(2.25, 3.75)]
    assert analyze.find_dead_air([(0.0, 0.8)], [(0.0, 5.0)]) == []
