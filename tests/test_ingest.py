"""ingest: hashing, ids, source.json, and one clear FatalError per kind of bad upload."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from include.core.errors import FatalError
from include.core.options import Settings
from include.stages import ingest

ACME = Settings(tenant="acme")


def _ingest(path: Path, out_dir: Path, settings: Settings = ACME, **limits) -> dict:
    with open(path, "rb") as fileobj:
        return ingest.run(fileobj, path.name, settings, out_dir, **limits)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def bad_media(tmp_path_factory, sample_clip) -> dict[str, Path]:
    """One small file per kind of bad upload."""
    d = tmp_path_factory.mktemp("bad")
    sample = sample_clip[0].read_bytes()
    files = {
        "zero": d / "empty.mp4",
        "text": d / "notes.mp4",
        "truncated": d / "cut_off.mp4",
        "audio_only": d / "tone.m4a",
        "cover_art": d / "song.m4a",
        "short": d / "blink.mp4",
        "gif": d / "anim.gif",
        "ffv1": d / "lossless.mkv",
    }
    files["zero"].write_bytes(b"")
    files["text"].write_text("This is a meeting transcript, not a video.\n" * 50)
    files["truncated"].write_bytes(sample[: len(sample) // 2])
    _ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=2", "-c:a", "aac", str(files["audio_only"]))
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=f=440:d=2", "-f", "lavfi", "-i", "color=red:s=64x64:d=1",
        "-map", "0", "-map", "1", "-frames:v", "1", "-c:a", "aac", "-c:v", "png",
        "-disposition:v", "attached_pic", str(files["cover_art"]),
    )
    _ffmpeg("-f", "lavfi", "-i", "testsrc=d=0.2:s=160x120:r=30", "-pix_fmt", "yuv420p",
            str(files["short"]))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=d=2:s=160x120:r=10", "-f", "gif", str(files["gif"]))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=d=2:s=160x120:r=10", "-c:v", "ffv1", str(files["ffv1"]))
    return files


def test_happy_path_writes_source_and_json(sample_clip, tmp_path):
    path, truth = sample_clip
    out = tmp_path / "out"
    result = _ingest(path, out)

    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert result["sha256"] == sha
    assert result["video_id"] == f"acme-{sha[:16]}" == ingest.video_id_for("acme", sha)
    assert result["bytes"] == path.stat().st_size
    assert result["source_file"] == "source.mp4"
    assert (out / "source.mp4").read_bytes() == path.read_bytes()
    assert result["has_audio"] is True and result["notes"] == []
    assert (result["width"], result["height"]) == (640, 360)
    assert result["duration"] == pytest.approx(truth.duration, abs=0.1)

    info = json.loads((out / "source.json").read_text())
    for key in ("video_id", "sha256", "bytes", "duration", "width", "height", "has_audio", "notes"):
        assert info[key] == result[key]
    assert info["tenant"] == "acme" and info["original_name"] == "sample.mp4"
    assert info["fps"] == pytest.approx(30.0)
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    assert {"format", "streams"} <= set(info["probe"])
    assert sorted(p.name for p in out.iterdir()) == ["source.json", "source.mp4"]


def test_video_id_is_stable_per_content_and_tenant(sample_clip, tmp_path):
    path = sample_clip[0]
    first = _ingest(path, tmp_path / "a")
    again = _ingest(path, tmp_path / "b")
    other = _ingest(path, tmp_path / "c", Settings(tenant="globex"))
    assert first["video_id"] == again["video_id"]
    assert other["video_id"] != first["video_id"]
    assert other["video_id"].startswith("globex-")


def test_clip_without_audio_is_allowed_and_noted(silent_clip, tmp_path):
    result = _ingest(silent_clip[0], tmp_path / "out")
    assert result["has_audio"] is False
    assert result["notes"] == [ingest.NO_AUDIO_NOTE]
    assert "no audio track" in ingest.NO_AUDIO_NOTE


def test_unknown_extension_is_derived_from_the_container(sample_clip, tmp_path):
    path = sample_clip[0]
    with open(path, "rb") as fileobj:
        result = ingest.run(fileobj, "upload.DAT", ACME, tmp_path / "out")
    assert result["source_file"] == "source.mp4"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("zero", r"empty \(0 bytes\)"),
        ("text", r"not a video file"),
        ("truncated", r"truncated or corrupt"),
        ("audio_only", r"audio-only"),
        ("cover_art", r"audio-only"),
        ("short", r"too short"),
        ("gif", r"^source is a GIF image, not a video file: only MP4/MOV, Matroska/WebM and AVI"),
        ("ffv1", r"unsupported video codec 'ffv1'; re-encode to H\.264"),
    ],
)
def test_bad_upload_is_fatal_and_leaves_nothing(bad_media, tmp_path, kind, message):
    out = tmp_path / "out"
    with pytest.raises(FatalError, match=message):
        _ingest(bad_media[kind], out)
    assert list(out.iterdir()) == []


def test_size_limit_stops_the_copy(sample_clip, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FatalError, match=r"larger than the 100 KiB upload limit"):
        _ingest(sample_clip[0], out, max_bytes=100 * 1024)
    assert list(out.iterdir()) == []


def test_duration_limit(sample_clip, tmp_path):
    with pytest.raises(FatalError, match=r"longer than the .* h limit"):
        _ingest(sample_clip[0], tmp_path / "out", max_duration=10)


def test_run_id_that_looks_like_a_video_id_must_match_the_content(sample_clip, tmp_path):
    path = sample_clip[0]
    video_id = ingest.video_id_for("acme", hashlib.sha256(path.read_bytes()).hexdigest())
    assert _ingest(path, tmp_path / "same", run_id=video_id)["video_id"] == video_id
    # manual and scheduled runs have other ids: nothing to compare
    _ingest(path, tmp_path / "manual", run_id="manual__2026-12-01T22:00:00+00:00")
    # a studio-made run whose upload was replaced by other bytes
    out = tmp_path / "swapped"
    with pytest.raises(FatalError, match=(
            r"^source does not match run acme-0123456789abcdef: its content has video id "
            rf"{video_id}, so the file changed after it was uploaded; upload it again")):
        _ingest(path, out, run_id="acme-0123456789abcdef")
    assert list(out.iterdir()) == []
    # the same bytes made by another tenant's run id are another video
    with pytest.raises(FatalError, match="does not match run globex-"):
        _ingest(path, tmp_path / "other", run_id="globex-" + video_id.split("-")[-1])


def test_music_cannot_be_an_upload_part():
    with pytest.raises(FatalError, match="not one part of an unfinished upload"):
        Settings.from_mapping(
            {"tenant": "acme", "music": f"tenants/acme/uploads/acme.{'b' * 32}/parts/000002"})
    Settings.from_mapping(
        {"tenant": "acme", "music": f"tenants/acme/uploads/acme.{'b' * 32}/song.mp3"})


PART = r"is one part of an unfinished upload, not a video: finalize the upload and use the key"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", r"source is empty"),
        ("   ", r"source is empty"),
        ("/data/in\x00.mp4", r"control characters"),
        ("/data/in%00.mp4", r"control characters"),
        ("/data/../etc/passwd", r"'\.\.' path component"),
        ("/data/%2e%2e/etc/passwd", r"'\.\.' path component"),
        ("/data/%252e%252e/secret.mp4", r"'\.\.' path component"),
        ("s3://conn@bucket/a/../b.mp4", r"'\.\.' path component"),
        ("tenants/acme/uploads/../../globex/uploads/x.mp4", r"'\.\.' path component"),
        ("/data%2fsecret.mp4", r"encoded slash"),
        ("videos/demo.mp4", r"relative path"),
        ("demo.mp4", r"relative path"),
        ("file://demo.mp4", r"remote host"),
        ("http://example.com/demo.mp4", r"scheme 'http' is not supported"),
        ("ftp://example.com/demo.mp4", r"scheme 'ftp' is not supported"),
        ("javascript:alert(1)", r"scheme 'javascript' is not supported"),
        ("s3://", r"not a valid s3 URI"),
        ("tenants/globex/uploads/demo.mp4", r"not an upload of tenant 'acme'"),
        ("tenants/acme/videos/x/ingest/source.mp4", r"not an upload of tenant 'acme'"),
        ("tenants/acme/uploads/", r"not an upload of tenant 'acme'"),
        # a raw 8 MB part of a file-store upload: only part 1's first bytes were ever checked
        (f"tenants/acme/uploads/acme.{'a' * 32}/parts/000002", PART),
        (f"/srv/store/tenants/acme/uploads/acme.{'a' * 32}/parts/000002", PART),
        (f"file:///srv/store/tenants/acme/uploads/acme.{'a' * 32}/parts/000001", PART),
        (f"s3://minio@videos/tenants/acme/uploads/acme.{'a' * 32}/parts/000003", PART),
    ],
)
def test_source_reference_tricks_are_rejected(source, message):
    with pytest.raises(FatalError, match=message):
        ingest.check_source_reference(source, tenant="acme")


@pytest.mark.parametrize(
    "source",
    [
        "/data/uploads/demo.mp4",
        "file:///data/uploads/demo%20one.mp4",
        "s3://minio@videos/raw/demo.mp4",
        "tenants/acme/uploads/demo.mp4",
        f"tenants/acme/uploads/acme.{'a' * 32}/demo.mp4",
        "/home/me/parts/demo.mp4",
        f"tenants/acme/uploads/acme.{'a' * 32}/parts.mp4",
    ],
)
def test_good_source_references_pass(source):
    ingest.check_source_reference(source, tenant="acme")


def test_open_local_source_returns_file_and_basename(sample_clip):
    path = sample_clip[0]
    for ref in (str(path), path.as_uri()):
        fileobj, name = ingest.open_local_source(ref)
        with fileobj:
            assert name == "sample.mp4"
            assert fileobj.read(8) == path.read_bytes()[:8]


def test_open_local_source_refuses_non_files(tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    cases = [
        (str(tmp_path / "missing.mp4"), r"does not exist"),
        (str(tmp_path), r"is a directory"),
        ("/dev/zero", r"system directory"),
        ("/proc/self/environ", r"system directory"),
        (str(fifo), r"not a regular file"),
    ]
    for ref, message in cases:
        with pytest.raises(FatalError, match=message):
            ingest.open_local_source(ref)


def test_open_local_source_follows_symlinks_to_devices(tmp_path):
    link = tmp_path / "innocent.mp4"
    link.symlink_to("/dev/zero")
    with pytest.raises(FatalError, match=r"system directory"):
        ingest.open_local_source(str(link))
