"""ingest: copy the user's upload into the pipeline, fingerprint it and reject what cannot work.

Three steps, called by the DAG layer in this order:

1. :func:`check_source_reference` vets the ``source`` string itself (path tricks, foreign tenants,
   unsupported schemes) before anything is opened.
2. :func:`open_local_source` opens a local path / ``file://`` URI, refusing anything that is not a
   regular file (directories, devices such as ``/dev/zero``, FIFOs, ``/proc`` files).
3. :func:`run` streams the bytes into ``out_dir/source.<ext>`` while hashing them, sniffs its first
   bytes (MP4/MOV, Matroska/WebM or AVI only), checks the container's claims against the decoder
   limits (frame size, frame rate, stream count, duration) before any decoder is opened, probes
   the copy with ffprobe and writes ``out_dir/source.json`` (see ``docs/ARTIFACTS.md``).

Every rejection is a :class:`FatalError` whose message names the problem in one sentence; a
rejected upload leaves nothing behind in ``out_dir``.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from include.core import keys, media
from include.core.errors import FatalError
from include.core.files import write_json
from include.core.keys import VIDEO_ID_RE, video_id_for
from include.core.options import Settings

CHUNK_BYTES = 2**20
DEFAULT_MAX_BYTES = 20 * 2**30
DEFAULT_MAX_DURATION = 4 * 3600.0
MIN_DURATION = 0.5
# Decoder-bomb limits: 8K UHD frames (either orientation), 120 fps, 16 streams (phone footage
# carries a few metadata tracks beside its video and audio).
MAX_PIXELS = media.MAX_PIXELS
MAX_SIDE = 7680
MAX_FPS = 120.0
MAX_STREAMS = 16

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})
# First name in ffprobe's ``format_name`` -> extension, for uploads without a usable extension.
EXTENSION_BY_FORMAT = {
    "mov": ".mp4",
    "matroska": ".mkv",
    "avi": ".avi",
    "mpegts": ".ts",
    "mpeg": ".mpg",
    "ogg": ".ogv",
    "flv": ".flv",
    "nut": ".nut",
}
SUPPORTED_VIDEO_CODECS = frozenset({
    "h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video", "prores", "mjpeg", "dnxhd",
    "theora",
})
NO_AUDIO_NOTE = "no audio track: the narration will be the only sound"
CORRUPT_TAIL = "source is truncated or corrupt: the last second of video cannot be decoded"

SYSTEM_DIRS = ("/dev", "/proc", "/sys")


# --------------------------------------------------------------------------- source reference


def check_source_reference(source: str, tenant: str, *, uploads_only: bool = False,
                           what: str = "source") -> None:
    """Reject a ``source`` string that is empty, malformed or tries to escape its sandbox.

    Accepted forms: an absolute local path, ``file:///abs/path``, ``s3://[conn@]bucket/key`` and an
    object-store key ``tenants/<tenant>/uploads/<name>`` of the *same* tenant. With
    ``uploads_only`` (runs started from the studio or by a tenant user) only the uploaded file
    itself is accepted: ``tenants/<tenant>/uploads/<tenant>.<32 hex>/<file>``.
    """
    if uploads_only and not _upload_file_re(tenant).fullmatch(str(source)):
        raise FatalError(
            f"{what} {str(source)[:200]!r} is not allowed for a run started from the studio or by a "
            f"tenant user: it must be an uploaded file {keys.uploads_prefix(tenant)}<upload id>/<file>."
        )
    if not isinstance(source, str) or not source.strip():
        raise FatalError(
            "source is empty: give an absolute file path, a file:// or s3:// URI, or an upload key."
        )
    if _has_control_chars(source):
        raise FatalError("source contains control characters (such as NUL or a newline).")
    decoded = unquote(source)
    if _has_control_chars(decoded):
        raise FatalError("source contains percent-encoded control characters (such as %00).")
    encoded_separator = any(
        code in text.lower() for text in (source, decoded) for code in ("%2f", "%5c")
    )
    if encoded_separator or "\\" in decoded:
        raise FatalError(
            "source contains an encoded slash or a backslash; use plain '/' separators."
        )
    if ".." in PurePosixPath(decoded).parts or ".." in PurePosixPath(unquote(decoded)).parts:
        raise FatalError("source contains a '..' path component; give the file's real location.")

    if _is_upload_part(decoded):
        raise FatalError(
            f"source {source!r} is one part of an unfinished upload, not a video: finalize the "
            "upload and use the key it returns."
        )
    if keys.is_store_key(source):
        _check_store_key(source, tenant)
        return
    scheme = _scheme_of(source)
    if scheme == "file":
        _local_path_from(source)
    elif scheme == "s3":
        _check_s3_uri(source)
    elif scheme or ":" in source.split("/", 1)[0]:
        raise FatalError(
            f"source scheme {source.split(':', 1)[0]!r} is not supported: use an absolute path, "
            "file://, s3:// or an upload key."
        )
    elif not source.startswith("/"):
        raise FatalError(f"source {source!r} is a relative path: give an absolute path.")


def _is_upload_part(source: str) -> bool:
    """``…/uploads/<upload id>/parts/<n>``: a raw 8 MB part of a file-store upload (only part 1's
    first bytes were ever checked), in any form (key, path, URI)."""
    return keys.is_upload_part_path(PurePosixPath(urlsplit(source).path).parts)


def _upload_file_re(tenant: str) -> re.Pattern:
    """An upload's file (``uploads.py`` names it); not its parts or the studio's records."""
    return keys.upload_file_re(tenant)


def _scheme_of(source: str) -> str:
    return urlsplit(source).scheme.lower() if "://" in source else ""


def _has_control_chars(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def _check_store_key(key: str, tenant: str) -> None:
    prefix = keys.uploads_prefix(tenant)
    if not key.startswith(prefix) or not key[len(prefix):].strip("/"):
        raise FatalError(
            f"source key {key!r} is not an upload of tenant {tenant!r}: "
            f"it must start with {prefix!r}."
        )


def _check_s3_uri(uri: str) -> None:
    parts = urlsplit(uri)
    bucket = parts.netloc.rsplit("@", 1)[-1]
    if not bucket or not parts.path.strip("/"):
        raise FatalError(f"source {uri!r} is not a valid s3 URI: use s3://[conn@]bucket/key.")


def _local_path_from(source: str) -> Path:
    """The absolute local path behind a plain path or a ``file://`` URI."""
    if _scheme_of(source) == "file":
        parts = urlsplit(source)
        if parts.netloc not in ("", "localhost"):
            raise FatalError(f"source {source!r} names a remote host; file:// URIs must be local.")
        path = unquote(parts.path)
    else:
        path = source
    if not path.startswith("/"):
        raise FatalError(f"source {source!r} is a relative path: give an absolute path.")
    return Path(path)


# --------------------------------------------------------------------------- local files


def open_local_source(path: str) -> tuple[BinaryIO, str]:
    """Open a local path or ``file://`` URI for reading; return ``(binary file, basename)``.

    Only regular files outside ``/dev``, ``/proc`` and ``/sys`` are accepted, so a directory, a
    device (``/dev/zero`` would stream forever) or a FIFO (would block) is refused up front. The
    check is repeated on the opened descriptor, so swapping the path afterwards does not help.
    """
    local = _local_path_from(path)
    resolved = local.resolve()
    if any(resolved == Path(d) or Path(d) in resolved.parents for d in SYSTEM_DIRS):
        raise FatalError(
            f"source {path!r} points into a system directory, not at an uploaded file."
        )
    try:
        info = os.stat(resolved)
    except FileNotFoundError:
        raise FatalError(f"source file {path!r} does not exist.") from None
    except OSError as exc:
        raise FatalError(f"source file {path!r} cannot be read: {exc.strerror}.") from None
    _require_regular(info, path)
    try:
        fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise FatalError(f"source file {path!r} cannot be opened: {exc.strerror}.") from None
    try:
        _require_regular(os.fstat(fd), path)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), local.name
    except BaseException:
        os.close(fd)
        raise


def _require_regular(info: os.stat_result, path: str) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise FatalError(f"source {path!r} is a directory, not a video file.")
    if not stat.S_ISREG(info.st_mode):
        raise FatalError(f"source {path!r} is not a regular file (device, pipe or socket).")


# --------------------------------------------------------------------------- the stage


def run(
    fileobj: BinaryIO,
    original_name: str,
    settings: Settings,
    out_dir: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_duration: float = DEFAULT_MAX_DURATION,
    run_id: str | None = None,
) -> dict:
    """Copy, hash, probe and validate one upload; write ``source.<ext>`` and ``source.json``.

    ``run_id`` is the DAG run's id: when it looks like a video id (``<tenant>-<16 hex>``, as the
    studio makes them) it must equal the id of the bytes read, else the file changed under it.

    Returns ``{"video_id", "sha256", "bytes", "duration", "has_audio", "width", "height",
    "source_file", "notes"}``. On any error nothing is left in ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / ".source.partial"
    written: list[Path] = [partial]
    try:
        sha256, size = _copy_and_hash(fileobj, partial, max_bytes)
        if size == 0:
            raise FatalError("source file is empty (0 bytes).")
        _check_run_id(run_id, video_id_for(settings.tenant, sha256))
        probe = _probe(partial, max_duration)
        facts = _validate(probe, partial, max_duration)

        source = out_dir / f"source{_extension_for(original_name, probe)}"
        os.replace(partial, source)
        written.append(source)
        probe.setdefault("format", {})["filename"] = source.name

        notes = [] if facts["has_audio"] else [NO_AUDIO_NOTE]
        info = {
            "video_id": video_id_for(settings.tenant, sha256),
            "tenant": settings.tenant,
            "sha256": sha256,
            "bytes": size,
            "original_name": original_name,
            **facts,
            "notes": notes,
            "probe": probe,
            "source_file": source.name,
        }
        info_path = out_dir / "source.json"
        written.append(info_path)
        write_json(info_path, info)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return {key: info[key] for key in (
        "video_id", "sha256", "bytes", "duration", "has_audio", "width", "height", "source_file",
        "notes",
    )}


def _copy_and_hash(fileobj: BinaryIO, dest: Path, max_bytes: int) -> tuple[str, int]:
    """Stream ``fileobj`` to ``dest`` in 1 MiB chunks; return (sha256 hex, size).

    Stops as soon as the size passes ``max_bytes``.
    """
    digest = hashlib.sha256()
    size = 0
    with open(dest, "wb") as out:
        while chunk := fileobj.read(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                limit = _human_bytes(max_bytes)
                raise FatalError(f"source is larger than the {limit} upload limit.")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def _human_bytes(n: int) -> str:
    """``20 GiB``, ``100 KiB``, ``12 bytes``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def _check_run_id(run_id: str | None, video_id: str) -> None:
    if run_id and VIDEO_ID_RE.fullmatch(run_id) and run_id != video_id:
        raise FatalError(
            f"source does not match run {run_id}: its content has video id {video_id}, so the file "
            "changed after it was uploaded; upload it again as a new video."
        )


def _probe(path: Path, max_duration: float = DEFAULT_MAX_DURATION) -> dict:
    """ffprobe JSON for the copied upload; a file ffprobe cannot parse is not a video.

    First the first bytes (:func:`media.require_video_container`), then the container headers
    alone (no decoder opened) against the limits, then the full probe.
    """
    media.require_video_container(path)
    header = _ffprobe(path, decode=False)
    _check_limits(header, max_duration, header_only=True)
    return _ffprobe(path, decode=True)


def _ffprobe(path: Path, *, decode: bool) -> dict:
    try:
        return media.ffprobe(path, decode=decode)
    except media.InputRefused as exc:
        raise FatalError(f"source refused: {exc}") from None
    except FatalError as exc:
        if "max pixel count" in str(exc):  # the frames are larger than their container says
            raise FatalError(
                f"source video frames are larger than 7680x4320 ({MAX_PIXELS / 1e6:.1f} "
                "megapixels); scale it down to 8K or less."
            ) from None
        if "moov atom not found" in str(exc):
            raise FatalError(
                "source is truncated or corrupt: the MP4 index (moov atom) is missing; upload the "
                "complete file."
            ) from None
        raise FatalError(
            "source is not a video file ffprobe can read (unknown or damaged format)."
        ) from None


def _check_limits(probe: dict, max_duration: float, *, header_only: bool = False) -> None:
    """Refuse what would make the decoders allocate or work without bound: too many streams,
    frames beyond 8K, more than 120 fps, a duration beyond ``max_duration``.

    ``header_only``: the probe read the container headers only, so a size it does not state (0)
    is left to the full probe.
    """
    streams = probe.get("streams") or []
    if len(streams) > MAX_STREAMS:
        raise FatalError(
            f"source has {len(streams)} streams; at most {MAX_STREAMS} are accepted, so export it "
            "with just its video and audio."
        )
    for stream in streams:
        if stream.get("codec_type") != "video":
            continue
        width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
        if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
            raise FatalError(
                f"source video is {width}x{height} ({width * height / 1e6:.1f} megapixels); at "
                f"most 7680x4320 ({MAX_PIXELS / 1e6:.1f} megapixels) is accepted, so scale it "
                "down to 8K or less."
            )
        if not header_only and not (width and height):
            raise FatalError(
                "source video has no readable frame size (its frames may be larger than "
                "7680x4320); re-encode it at 8K or less."
            )
        fps = 0.0 if (stream.get("disposition") or {}).get("attached_pic") else _frame_rate(stream)
        if fps > MAX_FPS:
            raise FatalError(
                f"source video runs at {fps:.4g} fps; at most {MAX_FPS:g} fps is accepted, so "
                "re-encode it at a lower frame rate."
            )
    duration = _float_or_none((probe.get("format") or {}).get("duration"))
    if duration is not None and duration > max_duration:
        raise FatalError(
            f"source duration {duration / 3600:.2f} h is longer than the "
            f"{max_duration / 3600:g} h limit."
        )


def _validate(probe: dict, path: Path, max_duration: float) -> dict:
    """Check streams, codec, duration and the tail of the file; return the source.json facts."""
    _check_limits(probe, max_duration)
    streams = probe.get("streams") or []
    videos = [
        s for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos:
        if audios:
            raise FatalError(
                "source is audio-only (no video stream, at most cover art); upload a video."
            )
        raise FatalError("source is not a video: it has no video or audio streams.")
    video = videos[0]
    codec = video.get("codec_name") or "unknown"
    if codec not in SUPPORTED_VIDEO_CODECS:
        raise FatalError(f"unsupported video codec {codec!r}; re-encode to H.264.")

    duration = _float_or_none((probe.get("format") or {}).get("duration"))
    if duration is None:
        duration = _float_or_none(video.get("duration"))
    if duration is None:
        raise FatalError("source duration is unknown (N/A); re-encode it to a regular MP4.")
    if duration < MIN_DURATION:
        raise FatalError(
            f"source duration {duration:.3g} s is too short; it must be at least {MIN_DURATION} s."
        )
    if duration > max_duration:
        raise FatalError(
            f"source duration {duration / 3600:.2f} h is longer than the "
            f"{max_duration / 3600:g} h limit."
        )
    video_duration = _float_or_none(video.get("duration")) or duration
    _check_tail_decodes(path, video_duration)

    return {
        "duration": round(duration, 3),
        "width": int(video.get("width") or 0),
        "height": int(video.get("height") or 0),
        "fps": round(_frame_rate(video), 3),
        "video_codec": codec,
        "has_audio": bool(audios),
        "audio_codec": audios[0].get("codec_name") if audios else None,
    }


def _float_or_none(value) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result and result >= 0 else None  # NaN / negative -> unknown


def _frame_rate(video: dict) -> float:
    """Frames per second from ``avg_frame_rate``, else ``r_frame_rate`` (0.0 if unknown)."""
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(video.get(key) or "0/0").partition("/")
        try:
            rate = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            continue
        if rate > 0:
            return rate
    return 0.0


def _check_tail_decodes(path: Path, duration: float) -> None:
    """Decode the last second of video: a cut-off upload has an index but no media at the end."""
    start = max(0.0, duration - 1.0)
    try:
        proc = media.run_tool(
            [
                media.FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-nostats",
                "-ss", f"{start:.3f}", *media.user_input_args(path), "-map", "0:v:0", "-t", "1",
                "-progress", "pipe:1", "-f", "null", "-",
            ],
            timeout=300,
            what="ffmpeg",
        )
    except FatalError as exc:
        raise FatalError(f"{CORRUPT_TAIL} ({exc}); upload the complete file.") from None
    frames = 0
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("frame="):
            frames = int(line.partition("=")[2] or 0)
    if frames == 0 or b"partial file" in proc.stderr:
        raise FatalError(f"{CORRUPT_TAIL}; upload the complete file.")


def _extension_for(original_name: str, probe: dict) -> str:
    """Keep a known video extension, else derive one from the probed container."""
    suffix = PurePosixPath(original_name).suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return suffix
    format_name = str((probe.get("format") or {}).get("format_name") or "")
    return EXTENSION_BY_FORMAT.get(format_name.split(",", 1)[0], ".bin")



