"""Thumbnail stage: a sharp, high-contrast frame of the footage the video uses, as a 1280x720 JPEG.

Candidates are frames in the middle of the EDL's clips (at most ``MAX_CANDIDATES``, spread over
the video). Each is decoded small (one seek per candidate, never the whole source; several candidates in one
ffmpeg run) and scored by
sharpness (variance of the Laplacian) and contrast (spread of the luma); nearly black or white
frames lose. The winner is extracted at full resolution, letterboxed to 1280x720, optionally with
the title drawn over a dark band, and written as a JPEG under 2 MB.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from include.core import media
from include.core.edl import Clip, Edl
from include.core.errors import FatalError
from include.core.files import atomic_write
from include.core.options import Settings

WIDTH, HEIGHT = 1280, 720
MAX_BYTES = 2 * 1024 * 1024
MAX_CANDIDATES = 12
# decoders in one candidate run: their memory (the render's figures, include/stages/render.py)
DECODER_BUDGET_BYTES = 200 * 2**20
DECODER_BYTES_PER_PIXEL = 20
PROBE_WIDTH, PROBE_HEIGHT = 320, 180
SHARPNESS_SCALE = 300.0  # Laplacian variance (8-bit levels) that scores one half
CONTRAST_SCALE = 40.0  # luma standard deviation (levels) that scores one half
JPEG_QUALITIES = (2, 5, 10)  # ffmpeg -q:v, tried in order until the file fits MAX_BYTES
TITLE_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
MAX_TITLE_CHARS = 60


def run(source_path: Path, edl_path: Path, settings: Settings, out_dir: Path, *,
        title: str = "") -> dict:
    """Write ``out_dir/thumbnail.jpg``; return where it comes from and how it scored.

    ``title`` is drawn over the picture when ``settings.thumbnail_title`` is on and it is not
    empty. Returns ``{"source_time", "score", "width", "height", "bytes", "title"}``.
    """
    edl = Edl.load(edl_path)
    times = candidate_times(edl.clips)
    if not times:
        raise FatalError("edl.json has no clips to take a thumbnail from; re-run the edit stage.")
    frames = _small_frames(source_path, times, (edl.source.width, edl.source.height))
    score, best = max((score_frame(frame), t) for frame, t in zip(frames, times))
    title = " ".join(title.split())[:MAX_TITLE_CHARS] if settings.thumbnail_title else ""

    target = Path(out_dir) / "thumbnail.jpg"
    with atomic_write(target) as tmp, tempfile.NamedTemporaryFile(
            "w", suffix=".txt", encoding="utf-8") as title_file:
        title_file.write(title)
        title_file.flush()
        _write_jpeg(source_path, best, _picture_filters(title, title_file.name), tmp)
    return {"source_time": round(best, 3), "score": round(score, 3), "width": WIDTH,
            "height": HEIGHT, "bytes": target.stat().st_size, "title": title}


def _write_jpeg(source_path: Path, seconds: float, filters: str, path: Path) -> None:
    """The frame at ``seconds`` through ``filters`` as a JPEG at ``path``, within 2 MB."""
    try:
        for quality in JPEG_QUALITIES:
            media.run_tool(
                [media.FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-y",
                 "-ss", f"{seconds:.3f}", *media.user_input_args(source_path), "-frames:v", "1",
                 "-vf", filters, "-q:v", str(quality), "-f", "image2", "-c:v", "mjpeg",
                 str(path)],
                timeout=120, what="ffmpeg (thumbnail)",
            )
            if path.stat().st_size <= MAX_BYTES:
                return
        raise FatalError("the thumbnail does not fit in 2 MB even at low JPEG quality.")
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def candidate_times(clips: Sequence[Clip]) -> list[float]:
    """Source times in the middle of the EDL's clips, at most ``MAX_CANDIDATES`` spread evenly."""
    times = [(c.src_start + c.src_end) / 2 for c in clips]
    if len(times) > MAX_CANDIDATES:
        step = len(times) / MAX_CANDIDATES
        times = [times[math.floor(i * step)] for i in range(MAX_CANDIDATES)]
    return times


def score_frame(gray: np.ndarray) -> float:
    """Sharpness x contrast in 0..1 (neither saturates, so the better frame always wins);
    frames that are nearly black or white score near 0."""
    laplacian = cv2.Laplacian(gray, cv2.CV_64F).var()
    sharpness = laplacian / (laplacian + SHARPNESS_SCALE)
    spread = float(gray.std())
    contrast = spread / (spread + CONTRAST_SCALE)
    mean = float(gray.mean()) / 255.0
    exposure = max(0.0, min(1.0, mean / 0.15, (1.0 - mean) / 0.15))
    return sharpness * contrast * exposure


def _small_frames(source_path: Path, times: Sequence[float],
                  size: tuple[int, int] = (0, 0)) -> list[np.ndarray]:
    """The grey frames at ``times``, each scaled to 320x180, as (180, 320) arrays.

    One ffmpeg run decodes several: an input seeked to each time, its first frame scaled, the
    frames concatenated (an ffmpeg start costs about as much as a small frame's decode). As many
    inputs (one decoder each) as ``DECODER_BUDGET_BYTES`` allows for a source of ``size``
    (width, height; unknown: 1080p) go in one run."""
    width, height = size
    pixels = (width or 1920) * (height or 1080)
    per_run = max(1, min(MAX_CANDIDATES, DECODER_BUDGET_BYTES // (pixels * DECODER_BYTES_PER_PIXEL)))
    frames: list[np.ndarray] = []
    for first in range(0, len(times), per_run):
        frames += _decode_small(source_path, times[first:first + per_run])
    return frames


def _decode_small(source_path: Path, times: Sequence[float]) -> list[np.ndarray]:
    inputs: list[str] = []
    for seconds in times:
        inputs += ["-ss", f"{seconds:.3f}", *media.user_input_args(source_path)]
    n = len(times)
    graph = ";".join(f"[{k}:v]trim=end_frame=1,scale={PROBE_WIDTH}:{PROBE_HEIGHT},format=gray,"
                     f"setpts=PTS-STARTPTS[c{k}]" for k in range(n))
    graph += ";" + "".join(f"[c{k}]" for k in range(n)) + f"concat=n={n}:v=1:a=0[c]"
    proc = media.run_tool(
        [media.FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *inputs,
         "-filter_complex", graph, "-map", "[c]", "-fps_mode", "passthrough",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        timeout=120 * n, what="ffmpeg (thumbnail candidates)",
    )
    size = PROBE_WIDTH * PROBE_HEIGHT
    if len(proc.stdout) < size * n:
        missing = times[len(proc.stdout) // size]
        raise FatalError(f"no frame could be decoded at {missing:.3f} s of the source.")
    return [np.frombuffer(proc.stdout[k * size:(k + 1) * size], np.uint8)
            .reshape(PROBE_HEIGHT, PROBE_WIDTH) for k in range(n)]


def _picture_filters(title: str, title_path: str) -> str:
    """Letterbox to 1280x720 (full-range JPEG); with a title, draw ``title_path``'s text (read
    from a file: no escaping) on a dark band, sized to fit the width."""
    filters = (f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease,"
               f"pad={WIDTH}:{HEIGHT}:(ow-iw)/2:(oh-ih)/2,setsar=1")
    if title:
        wide = [ord(ch) >= 0x2E80 for ch in title]
        font = CJK_FONT if any(wide) else TITLE_FONT
        ems = sum(1.0 if w else 0.65 for w in wide)  # rough advance widths in font sizes
        size = min(round(HEIGHT * 0.08), int(WIDTH * 0.92 / ems))
        filters += (
            f",drawbox=x=0:y=ih*0.72:w=iw:h=ih*0.2:color=black@0.6:t=fill,"
            f"drawtext=fontfile={font}:textfile={title_path}:expansion=none:fontcolor=white:"
            f"fontsize={size}:x=(w-text_w)/2:y=h*0.82-text_h/2"
        )
    return filters + ",format=yuvj420p"
