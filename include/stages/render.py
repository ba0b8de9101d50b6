"""Render stage: one ffmpeg run from the EDL to ``final.mp4``.

Video: every EDL clip is its own input seeked with ``-ss``/``-t`` (only the kept spans are
decoded), retimed with ``setpts`` for its speed, made constant-rate with ``fps``, padded with
``tpad`` (clone) for its hold and cut with ``trim`` to its exact frame count, so the clips land on
the EDL's final-time boundaries without drift. The clips are concatenated, scaled and padded to
the output size, the captions burned in with ``subtitles`` and converted to yuv420p. Above
``MAX_SEEK_INPUTS`` clips one input is split and trimmed per clip instead (that decodes the whole
source, and buffers the frames of clips that come earlier in the source than in the output).
Audio: the voiceover padded with silence / trimmed to the output duration, 48 kHz stereo AAC.
Output: H.264 with BT.709 tags and ``+faststart``, written to a temp name and renamed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable

from include.stages.errors import FatalError, RetryableError
from include.stages.jsonio import read_json
from include.stages.media import FFMPEG, atomic_output, ffprobe, last_error_line, require_binary
from include.stages.settings import Settings

MAX_SEEK_INPUTS = 40  # more clips than this: one input + split/trim instead of one input each
FONTS_DIR = "/usr/share/fonts"
AUDIO_RATE = 48000
AUDIO_BITRATE = "128k"
BT601_MATRICES = ("bt470bg", "smpte170m", "bt601")

ProgressCallback = Callable[[float, str], None]


def run(
    source_path: Path,
    edl_path: Path,
    captions_path: Path,
    voiceover_path: Path,
    settings: Settings,
    out_dir: Path,
    *,
    preset: str = "veryfast",
    crf: int = 23,
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> dict:
    """Render ``out_dir/final.mp4`` from the EDL; return its probed properties.

    The output geometry comes from the EDL's ``output`` block (which the edit stage wrote from the
    same ``settings``). ``progress(percent, speed)`` is called as ffmpeg reports progress.
    ``timeout`` defaults to ``max(600, 10 x duration)`` seconds; exceeding it is a
    ``RetryableError``, an ffmpeg failure a ``FatalError``. No partial file is left behind.

    Returns ``{"duration", "width", "height", "bytes", "video_codec", "audio_codec"}``.
    """
    for path, what in (
        (source_path, "source video"),
        (edl_path, "edl.json"),
        (captions_path, "captions file"),
        (voiceover_path, "voiceover audio"),
    ):
        if not Path(path).is_file():
            raise FatalError(f"The {what} {path} is missing; re-run the stage that writes it.")
    edl = _load_edl(edl_path)
    duration = float(edl["output"]["duration"])
    final = Path(out_dir) / "final.mp4"
    partial = atomic_output(final)
    cmd = build_command(
        edl, source_path, captions_path, voiceover_path, partial, preset=preset, crf=crf
    )
    try:
        _run_ffmpeg(cmd, duration, timeout or max(600.0, 10.0 * duration), progress)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)

    info = ffprobe(final)
    video = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), {})
    audio = next((s for s in info.get("streams", []) if s.get("codec_type") == "audio"), {})
    return {
        "duration": round(float(info.get("format", {}).get("duration") or 0.0), 3),
        "width": video.get("width"),
        "height": video.get("height"),
        "bytes": final.stat().st_size,
        "video_codec": video.get("codec_name"),
        "audio_codec": audio.get("codec_name"),
    }


def build_command(
    edl: dict,
    source_path: Path,
    captions_path: Path,
    voiceover_path: Path,
    output_path: Path,
    *,
    preset: str = "veryfast",
    crf: int = 23,
) -> list[str]:
    """The complete ffmpeg command line that renders ``edl`` to ``output_path``.

    Probes ``source_path`` for its colour matrix (see :func:`_to_bt709`).
    """
    out = edl["output"]
    width, height, fps = int(out["width"]), int(out["height"]), out["fps"]
    duration = float(out["duration"])
    clips = _timed_clips(edl["clips"], fps)
    seek_inputs = len(clips) <= MAX_SEEK_INPUTS

    inputs: list[str] = []
    graph: list[str] = []
    if seek_inputs:
        for clip in clips:
            inputs += ["-ss", _num(clip["src_start"]),
                       "-t", _num(clip["src_end"] - clip["src_start"]), "-i", str(source_path)]
    else:
        inputs += ["-i", str(source_path)]
        graph.append(f"[0:v]split={len(clips)}" + "".join(f"[s{k}]" for k in range(len(clips))))
    voice_index = len(clips) if seek_inputs else 1
    inputs += ["-i", str(voiceover_path)]

    for k, clip in enumerate(clips):
        if seek_inputs:
            head = f"[{k}:v]"
        else:
            head = f"[s{k}]trim=start={_num(clip['src_start'])}:end={_num(clip['src_end'])},"
        # tpad clones two spare frames beyond the hold so that trim can always cut the exact
        # frame count, whatever the rounding of the source span to frames.
        graph.append(
            f"{head}setpts=(PTS-STARTPTS)/{_num(clip['speed'])},fps={fps},"
            f"tpad=stop_mode=clone:stop_duration={_num(clip['hold'] + 2 / fps)},"
            f"trim=end_frame={clip['frames']}[v{k}]"
        )
    subtitles = (
        f"subtitles=filename={_filter_value(captions_path)}:fontsdir={_filter_value(FONTS_DIR)}"
    )
    graph.append(
        "".join(f"[v{k}]" for k in range(len(clips)))
        + f"concat=n={len(clips)}:v=1:a=0,"
        f"scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2"
        f"{_to_bt709(source_path)},"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,{subtitles},format=yuv420p[v]"
    )
    graph.append(
        f"[{voice_index}:a]aresample={AUDIO_RATE},aformat=channel_layouts=stereo,"
        f"apad,atrim=end={_num(duration)}[a]"
    )
    return [
        FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        *inputs,
        "-filter_complex", ";".join(graph),
        "-map", "[v]", "-map", "[a]", "-map_metadata", "-1",
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv",
        "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", str(AUDIO_RATE), "-ac", "2",
        "-movflags", "+faststart", "-t", _num(duration),
        "-progress", "pipe:1", "-nostats",
        str(output_path),
    ]


def _load_edl(edl_path: Path) -> dict:
    edl = read_json(edl_path, "edl.json")
    try:
        output = edl["output"]
        if not (edl["clips"] and float(output["duration"]) > 0):
            raise ValueError("no clips or zero duration")
        int(output["width"]), int(output["height"]), float(output["fps"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FatalError(
            f"edl.json is not a valid edit decision list ({exc}); re-run the edit stage."
        ) from exc
    return edl


def _to_bt709(source_path: Path) -> str:
    """Extra ``scale`` options converting a source tagged with an SD (BT.601) matrix to BT.709.

    Untagged sources are taken as BT.709 already and pass through unconverted: a matrix
    conversion at this point costs more than the rest of the filter graph together.
    """
    streams = ffprobe(source_path).get("streams", [])
    matrix = next((s.get("color_space") for s in streams if s.get("codec_type") == "video"), None)
    if matrix in BT601_MATRICES:
        return ":in_color_matrix=bt601:out_color_matrix=bt709"
    return ""


def _timed_clips(clips: list[dict], fps: float) -> list[dict]:
    """The clips with their exact output frame count; clips shorter than half a frame vanish.

    Frame boundaries are rounded from the final-time boundaries, so the counts add up to
    ``round(duration * fps)`` and the picture never drifts from the voice.
    """
    timed = []
    for clip in clips:
        frames = round(clip["out_end"] * fps) - round(clip["out_start"] * fps)
        if frames > 0:
            timed.append({**clip, "frames": frames})
    return timed


def _num(value: float) -> str:
    """A float for the command line: fixed point, no exponent, trailing zeros dropped."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _filter_value(value: str | os.PathLike) -> str:
    """Escape a path for use as an option value inside an ``-filter_complex`` graph.

    Two levels (see ffmpeg-filters "Notes on filtergraph escaping"): inside the filter's option
    string ``\\``, ``'`` and ``:`` are special; in the graph description ``\\``, ``'``, ``[``,
    ``]``, ``,`` and ``;`` are.
    """
    option_level = _backslash_escape(str(value), "\\':")
    return _backslash_escape(option_level, "\\'[],;")


def _backslash_escape(text: str, special: str) -> str:
    return "".join("\\" + ch if ch in special else ch for ch in text)


def _run_ffmpeg(
    cmd: list[str], duration: float, timeout: float, progress: ProgressCallback | None
) -> None:
    """Run ffmpeg, feed its ``-progress`` output to ``progress``, map failures to stage errors.

    stderr goes to a temp file (no pipe to fill up while we read stdout); a timer kills ffmpeg
    when ``timeout`` passes.
    """
    require_binary(cmd[0])
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True
        )

        def kill() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            _follow_progress(proc.stdout, duration, progress)
            returncode = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if timed_out.is_set():
            raise RetryableError(f"ffmpeg render did not finish within {timeout:.0f} s")
        if returncode != 0:
            stderr.seek(0)
            raise FatalError(f"ffmpeg render failed: {last_error_line(stderr.read())}")


def _follow_progress(lines, duration: float, progress: ProgressCallback | None) -> None:
    """Parse ``key=value`` blocks of ``-progress`` output; report at each ``progress=`` line."""
    out_time_us = 0
    speed = ""
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key == "out_time_us" and value.lstrip("-").isdigit():
            out_time_us = max(0, int(value))
        elif key == "speed":
            speed = value.strip()
        elif key == "progress" and progress is not None:
            percent = 100.0 if value == "end" else min(100.0, out_time_us / 1e4 / duration)
            progress(round(percent, 1), speed)
