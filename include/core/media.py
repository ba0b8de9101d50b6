"""Thin, shared wrappers around the ffmpeg / ffprobe binaries.

Every stage and provider that runs ffmpeg, ffprobe (or piper, espeak-ng) goes through :func:`run_tool`
(named so it does not read like a stage's ``run``) so that timeouts become
``RetryableError`` and a missing binary becomes one clear ``FatalError``.

Input policy (issue #10): ffmpeg and ffprobe read only the file they are handed. Every input they
open is given by :func:`user_input_args` (``-i`` and its options) or :func:`ffprobe`: the file
protocol only (no URLs, no ``concat:``/``subfile:``, no nested opens by a demuxer), a whitelist of
demuxers (:data:`USER_VIDEO_FORMATS` for footage; :data:`MUSIC_FORMATS` for a music bed;
:data:`VOICE_FORMATS` for our own narration WAV), so playlists (HLS, ffconcat), image sequences
and every other demuxer are refused before they read a byte beyond the file itself, and a decoder
cap of :data:`MAX_PIXELS` per frame. :func:`sniff_container` checks the first bytes (ingest and
the studio call it before any decoder sees the file).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Sequence

from include.core.errors import FatalError, RetryableError

FFMPEG = os.environ.get("FFMPEG_BIN", "ffmpeg")
FFPROBE = os.environ.get("FFPROBE_BIN", "ffprobe")

# Demuxers (libavformat names) an input may be opened with. Footage: MP4/MOV, Matroska/WebM, AVI.
USER_VIDEO_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi"
# A music bed (user media too): the video containers plus plain audio files.
MUSIC_FORMATS = f"{USER_VIDEO_FORMATS},mp3,wav,flac,ogg"
# Our own generated narration (every TTS provider writes a PCM WAV).
VOICE_FORMATS = "wav"
# Stills we make ourselves (keyframes, thumbnails).
IMAGE_FORMATS = "image2,jpeg_pipe,png_pipe"
ACCEPTED = {
    USER_VIDEO_FORMATS: "MP4/MOV, Matroska/WebM and AVI video files",
    MUSIC_FORMATS: "MP4/MOV, Matroska/WebM, AVI, MP3, WAV, FLAC and Ogg files",
    VOICE_FORMATS: "WAV files",
    IMAGE_FORMATS: "JPEG and PNG images",
}
# Decoders refuse frames above this many pixels (8K UHD) before allocating them.
MAX_PIXELS = 7680 * 4320
# How much ffprobe / ffmpeg read and decode to find the streams' parameters (the defaults, pinned).
PROBE_BYTES = 5_000_000
ANALYZE_MICROSECONDS = 5_000_000
# What a refused demuxer is, in a user's words.
_FORMAT_WORDS = {
    "hls": "an HLS playlist (m3u8)",
    "concat": "an ffconcat script",
    "image2": "an image file or image sequence",
    "dash": "a DASH manifest",
    "tee": "a tee list",
}
_NOT_ON_FORMAT_WHITELIST = re.compile(r"\[(\w+) @ [^\]]*\] Format not on whitelist '([^']*)'")
_NOT_ON_PROTOCOL_WHITELIST = re.compile(r"Protocol '([^']*)' not on whitelist")


class InputRefused(FatalError):
    """ffmpeg / ffprobe refused an input under the input policy (a playlist, an image, a URL…)."""


def inference_threads() -> int:
    """Threads a speech model (Whisper, the Piper voice) may use in one task: env
    ``VIDEO_TASK_THREADS``, else the machine's cores, at most 2. A Celery worker that runs one
    task per core sets 1 (scripts/cluster.sh): there a second thread only adds CPU (14 s of
    Piper narration 1.31–1.38 CPU-s on one thread, 1.40–1.51 on two on an idle machine; with
    onnxruntime's default threads under load 1.79–1.98), while a single run on an idle machine
    gets that narration in 0.76–0.84 s on two threads instead of 1.31–1.39 s."""
    raw = os.environ.get("VIDEO_TASK_THREADS", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise FatalError(f"VIDEO_TASK_THREADS must be a whole number of threads >= 1, not {raw!r}.")
        return int(raw)
    return max(1, min(2, os.cpu_count() or 1))


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise FatalError(
            f"'{name}' is not installed on this worker; install it (apt-get install ffmpeg espeak-ng) "
            "or run 'make setup'."
        )
    return path


def run_tool(
    cmd: Sequence[str],
    *,
    timeout: float = 3600,
    what: str = "ffmpeg",
    input: bytes | None = None,
) -> subprocess.CompletedProcess:
    """Run a command, capture output, map failures to stage errors.

    A non-zero exit is a ``FatalError`` carrying the last meaningful stderr line (bad media,
    bad filter graph); a timeout is a ``RetryableError``.
    """
    require_binary(cmd[0])
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, timeout=timeout, input=input, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RetryableError(f"{what} did not finish within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        refusal = whitelist_refusal(proc.stderr.decode("utf-8", "replace"))
        if refusal:
            raise InputRefused(refusal)
        raise FatalError(f"{what} failed: {last_error_line(proc.stderr)}")
    return proc


def last_error_line(stderr: bytes | str) -> str:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    refusal = whitelist_refusal(text)
    if refusal:
        return refusal
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if not ln.startswith(("frame=", "size=", "video:", "[out#", "Press [q]")):
            return ln[:300]
    return "no error output"


def whitelist_refusal(stderr: str) -> str | None:
    """One sentence for an input ffmpeg refused by the policy (``None`` for any other error)."""
    found = _NOT_ON_FORMAT_WHITELIST.search(stderr)
    if found:
        name, allowed = found[1], found[2]
        what = _FORMAT_WORDS.get(name) or (
            "an image" if name.endswith("_pipe") else f"in the {name!r} format")
        accepted = ACCEPTED.get(allowed, f"files in the formats {allowed}")
        return f"the file is {what}, which is refused here: only {accepted} are accepted."
    found = _NOT_ON_PROTOCOL_WHITELIST.search(stderr)
    if found:
        return (f"the file asks to open another resource over the {found[1]!r} protocol, "
                "which is refused: only the one local file given is read.")
    return None


def local_input(path: str | os.PathLike) -> str:
    """``file:<absolute path>``: the only input form ffmpeg gets (no URL, no protocol prefix)."""
    text = os.fspath(path)
    if not text or "://" in text or (":" in text.split("/", 1)[0]) or any(
            ord(ch) < 32 for ch in text):
        raise FatalError(
            f"media input {text!r} is not a local file path; URLs and protocol prefixes are refused."
        )
    return "file:" + os.path.abspath(text)


def input_options(formats: str = USER_VIDEO_FORMATS, *, cap_pixels: bool = True) -> list[str]:
    """The options that go before every ``-i``: file protocol only, ``formats`` demuxers only,
    pinned probe sizes and (``cap_pixels``) a per-frame pixel cap for the decoders."""
    return [
        "-protocol_whitelist", "file",
        "-format_whitelist", formats,
        "-probesize", str(PROBE_BYTES),
        "-analyzeduration", str(ANALYZE_MICROSECONDS),
        *(["-max_pixels", str(MAX_PIXELS)] if cap_pixels else []),
    ]


def user_input_args(path: str | os.PathLike, formats: str = USER_VIDEO_FORMATS) -> list[str]:
    """``[... options ..., "-i", "file:/abs/path"]`` for one ffmpeg input (see the module doc)."""
    return [*input_options(formats), "-i", local_input(path)]


def sniff_container(head: bytes) -> str | None:
    """The container the first bytes announce (``"mov"``, ``"matroska"``, ``"avi"``), else ``None``.

    MP4/MOV: an ``ftyp`` box (or, in old QuickTime files, ``moov``/``mdat``/``wide``/``free``/
    ``skip``) at offset 4; Matroska/WebM: the EBML magic; AVI: ``RIFF`` .... ``AVI ``.
    """
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def describe_head(head: bytes) -> str:
    """What the first bytes of a refused file look like, for the error message."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, words in (
        (b"#EXTM3U", "an HLS playlist"),
        (b"ffconcat", "an ffconcat script"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"<", "an XML/HTML document"),
        (b"{", "a JSON document"),
    ):
        if stripped.startswith(magic):
            return words
    if head[:4] == b"RIFF":
        return f"a RIFF {head[8:12].decode('latin-1').strip()!r} file"
    if stripped and all(32 <= b < 127 or b in b"\t\r\n" for b in stripped[:64]):
        return "a text file"
    return "an unknown format"


def require_video_container(path: str | os.PathLike, what: str = "source") -> str:
    """Sniff ``path``'s first bytes; the container name, or a ``FatalError`` in one sentence."""
    with open(path, "rb") as f:
        head = f.read(64)
    container = sniff_container(head)
    if container is None:
        raise FatalError(
            f"{what} is {describe_head(head)}, not a video file: only MP4/MOV, Matroska/WebM and "
            "AVI are accepted."
        )
    return container


def ffprobe(
    path: str | os.PathLike,
    *,
    timeout: float = 60,
    formats: str = USER_VIDEO_FORMATS,
    decode: bool = True,
) -> dict:
    """Return ffprobe's JSON (format + streams) for a local file, under the input policy.

    ``decode=False`` reads the container headers only (``-nofind_stream_info``: no frame is
    decoded, nothing the size of a frame is allocated), for checking a file's claims before it is
    decoded; it reports the sizes the container states, so it sets no pixel cap (with one,
    ffprobe reports an oversized stream as 0x0). With ``decode`` the decoders are capped.
    """
    proc = run_tool(
        [
            FFPROBE,
            "-v",
            "error",
            *input_options(formats, cap_pixels=decode),
            *([] if decode else ["-nofind_stream_info"]),
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-i",
            local_input(path),
        ],
        timeout=timeout,
        what="ffprobe",
    )
    return json.loads(proc.stdout or b"{}")


def duration_of(path: str | os.PathLike) -> float:
    """Container duration in seconds (0.0 when unknown)."""
    info = ffprobe(path)
    try:
        return float(info.get("format", {}).get("duration") or 0.0)
    except ValueError:
        return 0.0


def picture_end(path: str | os.PathLike, *, timeout: float = 60) -> float:
    """When the picture of ``path`` ends, in seconds from its first frame: the last frame's
    time plus its duration (0.0 without video). Not the video track's own duration: with a
    variable frame rate (a still picture stored once) and B-frames that is the sum of the
    decode-time steps, shorter than what is shown when the last frames were left out."""
    proc = run_tool([FFPROBE, "-v", "error", *input_options(cap_pixels=False),
                     "-select_streams", "v:0", "-show_entries", "packet=pts_time,duration_time",
                     "-of", "csv=p=0", "-i", local_input(path)], timeout=timeout, what="ffprobe")
    times = [line.split(",")[:2] for line in proc.stdout.decode().split()]
    packets = [(float(p), float(d or 0)) for p, d in times if p not in ("", "N/A")]
    if not packets:
        return 0.0
    return max(p + d for p, d in packets) - min(p for p, _ in packets)


SPEECH_RATE = 16000  # what speech recognition (Whisper) listens at


def write_speech_audio(path: str | os.PathLike, wav: Path, *, timeout: float = 600) -> None:
    """``path``'s first audio track as 16 kHz mono PCM in ``wav``, for speech recognition."""
    run_tool([FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", *user_input_args(path),
              "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(SPEECH_RATE), "-c:a", "pcm_s16le",
              "-y", str(wav)], timeout=timeout, what="ffmpeg (audio for speech recognition)")
