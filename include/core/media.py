"""Thin, shared wrappers around the ffmpeg / ffprobe binaries.

Every stage and provider that runs ffmpeg or ffprobe goes through :func:`run` so that timeouts become
``RetryableError`` and a missing binary becomes one clear ``FatalError``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Sequence

from include.core.errors import FatalError, RetryableError

FFMPEG = os.environ.get("FFMPEG_BIN", "ffmpeg")
FFPROBE = os.environ.get("FFPROBE_BIN", "ffprobe")


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise FatalError(
            f"'{name}' is not installed on this worker; install it (apt-get install ffmpeg espeak-ng) "
            "or run 'make setup'."
        )
    return path


def run(
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
        raise FatalError(f"{what} failed: {last_error_line(proc.stderr)}")
    return proc


def last_error_line(stderr: bytes | str) -> str:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if not ln.startswith(("frame=", "size=", "video:", "[out#", "Press [q]")):
            return ln[:300]
    return "no error output"


def ffprobe(path: str | os.PathLike, *, timeout: float = 60) -> dict:
    """Return ffprobe's JSON (format + streams) for a local file."""
    proc = run(
        [
            FFPROBE,
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
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
