"""analyze: shots, frozen stretches, silences and dead air of the source, in one ffmpeg pass.

One ffmpeg process decodes the source once and feeds three outputs:

* small 192x108 YUV 4:2:0 frames on stdout, read chunk by chunk (never all frames at once) and
  turned into per-frame scalar signals by :class:`SignalExtractor`;
* 480 px wide JPEG samples, two per second, into a scratch folder: the keyframe candidates;
* ``silencedetect`` on the first audio track, parsed from stderr (read in a thread);
* any :class:`FrameTap`: raw frames on a pipe of their own, handed to a consumer while ffmpeg
  decodes (the OCR reader of :mod:`include.stages.footage_text` gets full-size grey frames two
  times a second and reads the screen whenever it changed, in a thread of its own).

From the signals come hard cuts (a spike of the picture change over its local median, measured on
the most-changed quarter of the picture or on the colour histogram, so a slide that changes only a
region of a screen recording counts), dissolves (a window whose middle frame is a blend of its
ends, reported once), frozen spans and per-segment looks. Each segment gets the text read on its
screen during the pass (OCR) and the presenter's words (speech recognition, run beside the pass
on the audio) by :mod:`include.stages.footage_text`. The outputs are ``segments.json`` and one
``keyframes/<segment_id>.jpg`` per segment (see ``docs/ARTIFACTS.md``).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from include.core import media, spans
from include.core.errors import FatalError, RetryableError
from include.core.files import copy_file, write_json
from include.core.ports import KeyframeDescriber, TextReader, Transcriber
from include.core.spans import Span
from include.stages import focus, footage_text

# ---- the analysis picture
WIDTH, HEIGHT = 192, 108
Y_SIZE = WIDTH * HEIGHT
C_SIZE = Y_SIZE // 4
FRAME_BYTES = Y_SIZE + 2 * C_SIZE  # one yuv420p frame
GRID_COLS, GRID_ROWS = 8, 6  # change is measured per block of this grid
TOP_BLOCKS = GRID_COLS * GRID_ROWS // 4  # "the most-changed quarter of the picture"
THUMB_SIZE = (HEIGHT // 4) * (WIDTH // 4)  # samples per plane of the quarter-size thumbnails
CHUNK_FRAMES = 64
MAX_ANALYSIS_FPS = 60
DECODE_TIMEOUT_SECONDS = 600.0  # plus one second per second of video, see _decode_timeout

# ---- hard cuts (block differences are mean absolute differences in 8-bit levels)
BLOCK_CHANGED = 3.0  # a block changed if it moved this much and CUT_RATIO times its recent median
CUT_MIN_PIXEL = 5.0  # the most-changed quarter must change at least this much ...
CUT_MIN_AREA = 0.25  # ... with at least this fraction of the blocks changed (a cursor is not a cut)
CUT_MIN_HIST = 0.06  # or the colour histogram must move at least this far (0..1)
CUT_RATIO = 3.0  # and either must exceed this many times its local median
BASELINE_SECONDS = 0.5  # the local median looks this far to each side
MERGE_CUTS_SECONDS = 0.5

# ---- dissolves (is the frame in the middle of a window a blend of the frames at its ends?)
DISSOLVE_WINDOW_SECONDS = 1.0
DISSOLVE_MIN_CHANGE = 8.0  # levels between the window ends
DISSOLVE_MAX_RESIDUAL = 0.3  # what the blend leaves unexplained, relative to that change
DISSOLVE_ALPHA = (0.3, 0.7)  # the blend must be well under way in the middle of the window
DISSOLVE_MIN_HIST = 0.1  # the colour mix must change across the window ...
DISSOLVE_FLANK_RATIO = 2.0  # ... far more than in the windows before and after (not a pan)

# ---- frozen picture
STILL_PIXEL_DELTA = 10  # a Y/U/V sample changed if it moved more than this (encoder noise is less)
STILL_MAX_CHANGED = 0.002  # a frame is still if at most this fraction of its samples changed
MIN_STATIC_SECONDS = 1.0
# Frozen (for the render, which shows such a stretch as one held frame): every sample of every
# frame within FROZEN_DELTA levels of the run's first frame — a moving pointer, a caret or one
# typed letter moves samples far more, even at 192x108. Stricter than "still" on purpose.
FROZEN_DELTA = 3
MIN_FROZEN_SECONDS = 0.5

# ---- audio and dead air
SILENCE_FILTER = "silencedetect=n=-40dB:d=0.5"
MIN_KEPT_SECONDS = spans.MIN_KEPT_SECONDS

# ---- segments
MAX_SEGMENT_SECONDS = 20.0
MIN_SEGMENT_SECONDS = 1.5

# ---- looks and keyframes
LOOK_SAMPLES_PER_SECOND = 2
KEYFRAME_SAMPLES_PER_SECOND = 2
KEYFRAME_WIDTH = 480
COLOR_NAMES = (
    "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "black", "gray", "white",
)
# Upper OpenCV hue bound (hue is 0..180) of each chromatic name; red wraps around.
HUE_NAMES = (
    (8, "red"), (20, "orange"), (33, "yellow"), (78, "green"), (100, "cyan"), (130, "blue"),
    (150, "purple"), (170, "pink"), (180, "red"),
)
HUE_TO_COLOR = np.array(
    [COLOR_NAMES.index(next(name for top, name in HUE_NAMES if hue < top)) for hue in range(180)],
    np.uint8,
)
SATURATED = 64  # HSV saturation (0..255) from which a pixel's hue names its colour
DARK = 51  # HSV value below which a pixel is black
LIGHT = 200  # HSV value from which an unsaturated pixel is white rather than gray


@dataclass
class Signals:
    """Per-frame series (frame ``i`` starts at ``i / fps`` and is compared with frame ``i - 1``)
    plus looks sampled LOOK_SAMPLES_PER_SECOND times a second."""

    fps: float
    pixel: np.ndarray  # mean difference of the most-changed quarter of the blocks (levels)
    area: np.ndarray  # fraction of blocks that changed far more than they usually do
    hist: np.ndarray  # colour-histogram distance to the previous frame (0..1)
    motion: np.ndarray  # fraction of the picture whose luma changed noticeably
    still: np.ndarray  # bool: the picture still matches the start of its still run
    frozen: np.ndarray  # bool: every sample within FROZEN_DELTA of the start of its frozen run
    window_change: np.ndarray  # difference to the frame one dissolve window earlier (levels)
    window_hist: np.ndarray  # colour-histogram distance to that frame
    blend_alpha: np.ndarray  # window middle ~ (1 - a) * window start + a * window end
    blend_residual: np.ndarray  # what that blend leaves unexplained, relative to window_change
    look_times: np.ndarray
    brightness: np.ndarray  # 0..1
    colorfulness: np.ndarray  # Hasler-Suesstrunk colourfulness / 100, capped at 1
    edge_density: np.ndarray  # fraction of Canny edge pixels
    colors: np.ndarray  # (samples, len(COLOR_NAMES)) pixel counts

    @property
    def frames(self) -> int:
        return len(self.pixel)


# --------------------------------------------------------------------------- the stage


def run(
    source_path: Path,
    out_dir: Path,
    *,
    source_info: dict | None = None,
    reader: TextReader | None = None,
    transcriber: Transcriber | None = None,
    describer: KeyframeDescriber | None = None,
) -> dict:
    """Analyse ``source_path``; write ``segments.json`` and ``keyframes/`` into ``out_dir``.

    ``source_info`` is ingest's ``source.json`` (it saves a probe). With a ``reader`` (OCR) every
    segment gets the text on its screen (``screen``) and the video its product name; with a
    ``transcriber`` (speech recognition) and an audio track, the presenter's words (``speech``);
    with a ``describer`` (a vision model) a ``description`` of its keyframe. Returns
    ``{"segments", "cuts", "static_spans", "silences", "duration", "read", "reads", "heard"}``
    (counts, seconds; ``read`` the seconds the OCR thread spent reading its ``reads`` frames,
    ``heard`` the seconds speech recognition took, both while the decode pass ran) plus
    ``"usage"`` when a vision provider was paid.
    """
    source_path, out_dir = Path(source_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    facts = _source_facts(source_path, source_info)
    rate = _analysis_rate(facts["frame_rate"])
    has_audio = facts["has_audio"]

    # Speech recognition needs only the audio: it runs beside the decode pass, in a thread.
    hearing = footage_text.Hearing(source_path, transcriber) if transcriber and has_audio else None
    screens = None
    taps: list[FrameTap] = []
    if reader is not None and facts["width"] and facts["height"]:
        screens = footage_text.ScreenReader(reader, (facts["width"], facts["height"]))
        taps.append(FrameTap(screens.filters, screens.width, screens.height, screens.add))
    scratch = Path(tempfile.mkdtemp(prefix=".analyze-", dir=out_dir))
    try:
        detector = (focus.FocusDetector(facts["width"], facts["height"])
                    if facts["width"] and facts["height"] else None)
        signals, silences = scan(source_path, rate, has_audio, scratch, facts["duration"],
                                 detector, taps=taps)
        duration = facts["duration"] or signals.frames / float(rate)
        silences = [(a, min(b, duration)) for a, b in silences if a < duration]
        cuts = detect_cuts(signals)
        cut_times = [c["time"] for c in cuts]
        static_spans = [(a, min(b, duration)) for a, b in find_static_spans(signals, cut_times)]
        frozen_spans = [(a, min(b, duration)) for a, b in find_frozen_spans(signals, cut_times)]
        dead_air = find_dead_air(static_spans, silences if has_audio else [(0.0, duration)])
        segments = [
            describe_segment(
                f"s{i:02d}", span, signals, static_spans, silences, dead_air, has_audio
            )
            for i, span in enumerate(build_segments(cut_times, duration), 1)
        ]
        focus.assign(segments, detector.events() if detector is not None else [])
        _write_keyframes(segments, scratch, out_dir / "keyframes")
        footage, transcript, spent = {"product_name": "", "chrome": []}, "", {}
        if screens is not None:
            footage = footage_text.read_screens(segments, screens.finish(), screens.size)
            spent["read"] = screens.seconds
            spent["reads"] = len(screens.reads)
            spent["partial_reads"] = screens.partial
        if hearing is not None:
            # the chrome (the product's name, the nav) is on every screen, dropped from the
            # segments' lines: a heard word is checked against it too ("Ludgerly")
            transcript = hearing.attach(segments, shown=footage["chrome"])
            spent["heard"] = hearing.seconds
    finally:
        if screens is not None:
            screens.close()
        if hearing is not None:
            hearing.close()
        shutil.rmtree(scratch, ignore_errors=True)
    if describer is not None:
        descriptions = describer.describe({seg["id"]: out_dir / seg["keyframe"] for seg in segments})
        for seg in segments:
            seg["description"] = descriptions[seg["id"]]

    write_json(out_dir / "segments.json", {
        "duration": _r(duration),
        "fps": _r(facts["fps"] or rate),
        "width": facts["width"],
        "height": facts["height"],
        "has_audio": has_audio,
        "product_name": footage["product_name"],
        "chrome": footage["chrome"],
        "transcript": transcript,
        "cuts": cuts,
        "static_spans": [[_r(a), _r(b)] for a, b in static_spans],
        "frozen_spans": [[_r(a), _r(b)] for a, b in frozen_spans],
        "silences": [[_r(a), _r(b)] for a, b in silences],
        "segments": segments,
    })
    return {
        "segments": len(segments),
        "cuts": len(cuts),
        "static_spans": len(static_spans),
        "frozen_spans": len(frozen_spans),
        "silences": len(silences),
        "duration": _r(duration),
        **spent,
        **(describer.usage.entry() if describer is not None else {}),
    }


def _r(value: float) -> float:
    return round(float(value), 3)


def _source_facts(source_path: Path, source_info: dict | None) -> dict:
    """Duration, size, frame rate and audio presence, from source.json or else a fresh probe."""
    info = source_info or {}
    probe = info.get("probe") or media.ffprobe(source_path)
    streams = probe.get("streams") or []
    videos = [
        s for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        raise FatalError(f"{source_path.name} has no video stream to analyse.")
    video = videos[0]
    try:
        probed_duration = float((probe.get("format") or {}).get("duration") or 0.0)
    except ValueError:
        probed_duration = 0.0
    frame_rate = _frame_rate(video)
    probed_audio = any(s.get("codec_type") == "audio" for s in streams)
    return {
        "duration": float(info.get("duration") or probed_duration),
        "fps": float(info.get("fps") or frame_rate),
        "frame_rate": frame_rate,
        "width": int(info.get("width") or video.get("width") or 0),
        "height": int(info.get("height") or video.get("height") or 0),
        "has_audio": bool(info.get("has_audio", probed_audio)),
    }


def _frame_rate(video: dict) -> Fraction:
    """The stream's ``avg_frame_rate``, else ``r_frame_rate``, as a fraction (0 if unknown)."""
    for key in ("avg_frame_rate", "r_frame_rate"):
        try:
            rate = Fraction(str(video.get(key) or "0"))
        except (ValueError, ZeroDivisionError):
            continue
        if rate > 0:
            return rate
    return Fraction(0)


def _analysis_rate(frame_rate: Fraction) -> Fraction:
    """The source rate, divided down to at most 60 fps; 30 fps when the source does not say."""
    if frame_rate <= 0:
        return Fraction(30)
    return frame_rate / math.ceil(frame_rate / MAX_ANALYSIS_FPS)


# --------------------------------------------------------------------------- the single decode pass


TAP_BYTES_PER_PIXEL = {"gray": 1.0, "yuv420p": 1.5, "rgb24": 3.0, "bgr24": 3.0}


@dataclass
class FrameTap:
    """One more output of the decode pass: raw frames handed to a consumer while ffmpeg decodes.

    ``filters`` (an ffmpeg filter chain on the source's first video stream, e.g.
    ``fps=2,scale=960:-2``) must make ``width`` x ``height`` frames; they come out as ``pix_fmt``
    (``gray``, ``yuv420p``, ``rgb24`` or ``bgr24``) on a pipe of their own, read by a thread that
    calls ``consume(frames, first)`` with up to ``chunk`` frames — ``(n, height, width)`` for
    grey, ``(n, height, width, 3)`` for RGB/BGR, ``(n, frame_bytes)`` for YUV — and the index of
    the first of them in this output. The arrays are read-only views of the bytes read from the
    pipe (each chunk its own). A consumer that raises stops the decode and :func:`scan` raises
    its error.
    """

    filters: str
    width: int
    height: int
    consume: Callable[[np.ndarray, int], None]
    pix_fmt: str = "gray"
    chunk: int = 1

    @property
    def frame_bytes(self) -> int:
        return int(self.width * self.height * TAP_BYTES_PER_PIXEL[self.pix_fmt])

    def output_args(self, fd: int) -> list[str]:
        """The ffmpeg output options that write this tap's frames to file descriptor ``fd``."""
        return ["-map", "0:v:0", "-vf", f"{self.filters},format={self.pix_fmt}",
                "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", self.pix_fmt,
                f"pipe:{fd}"]

    def shape(self, n: int) -> tuple[int, ...]:
        if self.pix_fmt == "gray":
            return (n, self.height, self.width)
        if self.pix_fmt in ("rgb24", "bgr24"):
            return (n, self.height, self.width, 3)
        return (n, self.frame_bytes)


class _TapReader:
    """Reads one tap's pipe in a thread and feeds its consumer; keeps the consumer's error."""

    def __init__(self, tap: FrameTap, fd: int, on_error: Callable[[], None]) -> None:
        self.tap = tap
        self.error: BaseException | None = None
        self._stream = os.fdopen(fd, "rb")
        self._on_error = on_error
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        tap, first = self.tap, 0
        try:
            with self._stream:
                while chunk := self._stream.read(tap.frame_bytes * tap.chunk):
                    whole = len(chunk) // tap.frame_bytes  # a torn last frame is dropped
                    if whole:
                        frames = np.frombuffer(chunk, np.uint8, whole * tap.frame_bytes)
                        tap.consume(frames.reshape(tap.shape(whole)), first)
                        first += whole
        except BaseException as exc:  # re-raised by scan() in the caller's thread
            self.error = exc
            self._on_error()

    def join(self) -> None:
        self._thread.join()


def scan(
    source_path: Path, rate: Fraction, has_audio: bool, scratch: Path, duration: float,
    detector: focus.FocusDetector | None = None, *, taps: Sequence[FrameTap] = (),
) -> tuple[Signals, list[Span]]:
    """Run the one ffmpeg pass; return the frame signals and the silences.

    With a ``detector`` the same pass also feeds it gray focus frames (:mod:`.focus`); each of
    ``taps`` gets its frames as they are decoded. Keyframe candidates land in ``scratch`` as
    ``<n>.jpg`` (sample ``n`` shows ``n / 2`` s). A decode that outlasts :func:`_decode_timeout`
    is killed and reported as retryable.
    """
    media.require_binary(media.FFMPEG)
    cmd = [
        media.FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
        # B-frames skip the deblocking filter: a tenth less decode work, invisible at these sizes,
        # and I/P frames stay exact, so the small error cannot build up.
        "-skip_loop_filter", "bidir",
        *media.user_input_args(source_path),
        "-map", "0:v:0",
        "-vf", f"fps={rate},scale={WIDTH}:{HEIGHT}:flags=fast_bilinear,format=yuv420p",
        "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1",
        "-map", "0:v:0",
        "-vf", f"fps={KEYFRAME_SAMPLES_PER_SECOND},"
               f"scale='min({KEYFRAME_WIDTH},iw)':-2:flags=bilinear",
        "-fps_mode", "passthrough", "-q:v", "3", "-start_number", "0",
        str(scratch).replace("%", "%%") + "/%07d.jpg",
    ]
    pipes = [os.pipe() for _ in taps]  # (read end, write end) per tap
    for tap, (_, write_end) in zip(taps, pipes):
        cmd += tap.output_args(write_end)
    if has_audio:
        cmd += ["-map", "0:a:0", "-af", SILENCE_FILTER, "-f", "null", "-"]
    focus_pipe = focus.FramePipe(detector) if detector is not None else None
    cmd += focus_pipe.output_args() if focus_pipe else []

    timeout = _decode_timeout(duration)
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=[write_end for _, write_end in pipes]
            + list(focus_pipe.pass_fds if focus_pipe else ()),
        )
    except BaseException:
        for fds in pipes:
            for fd in fds:
                os.close(fd)
        if focus_pipe:
            focus_pipe.close()
        raise
    for _, write_end in pipes:
        os.close(write_end)  # ffmpeg holds them now: its exit is the readers' end of file
    if focus_pipe:
        focus_pipe.start()
    stderr = _StderrReader(proc.stderr)
    readers = [_TapReader(tap, read_end, proc.kill) for tap, (read_end, _) in zip(taps, pipes)]
    timed_out = threading.Event()

    def kill_on_timeout() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill_on_timeout)
    timer.start()
    extractor = SignalExtractor(float(rate))
    try:
        while chunk := proc.stdout.read(FRAME_BYTES * CHUNK_FRAMES):
            whole = len(chunk) // FRAME_BYTES  # a torn last frame is dropped
            if whole:
                frames = np.frombuffer(chunk, np.uint8, whole * FRAME_BYTES)
                extractor.add(frames.reshape(whole, FRAME_BYTES))
        returncode = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join()
        stderr.join()
        if focus_pipe:
            focus_pipe.join()
    for reader in readers:
        if reader.error is not None:
            raise reader.error
    if timed_out.is_set():
        raise RetryableError(f"ffmpeg did not finish analysing within {timeout:.0f} s")
    if returncode != 0:
        detail = media.last_error_line(stderr.tail())
        raise FatalError(f"ffmpeg could not decode the source: {detail}")
    if extractor.frames == 0:
        raise FatalError("no video frames could be decoded from the source.")
    return extractor.signals(), stderr.silences()


def _decode_timeout(duration: float) -> float:
    """Seconds the decode pass may take: far beyond any healthy run, short of a hung worker."""
    return DECODE_TIMEOUT_SECONDS + duration


class _StderrReader:
    """Drains ffmpeg's stderr in a thread, keeping silencedetect events and the last lines."""

    SILENCE = re.compile(rb"silence_(start|end): (-?[0-9.]+)")

    def __init__(self, stream) -> None:
        self._stream = stream
        self._events: list[tuple[bytes, float]] = []
        self._tail: deque[bytes] = deque(maxlen=30)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for line in self._stream:
            match = self.SILENCE.search(line)
            if match:
                self._events.append((match[1], float(match[2])))
            else:
                self._tail.append(line)

    def join(self) -> None:
        self._thread.join()

    def tail(self) -> bytes:
        return b"".join(self._tail)

    def silences(self) -> list[Span]:
        """``(start, end)`` pairs; a silence open at the end runs to infinity (clipped later)."""
        found, start = [], None
        for kind, value in self._events:
            if kind == b"start":
                start = max(0.0, value)
            elif start is not None:
                found.append((start, value))
                start = None
        if start is not None:
            found.append((start, math.inf))
        return found


# --------------------------------------------------------------------------- frame signals

HIST_BINS = 32  # 16 luma + 8 + 8 chroma bins
# Per thumbnail sample: the right shift to its bin and the offset of its plane's bins.
HIST_SHIFT = np.repeat(np.array([4, 5, 5], np.uint8), THUMB_SIZE)
HIST_OFFSET = np.repeat(np.array([0, 16, 24], np.intp), THUMB_SIZE)


class SignalExtractor:
    """Turns small YUV 4:2:0 frames, chunk by chunk, into :class:`Signals`.

    Besides a few numbers per frame it keeps only the previous frame, the anchor of the current
    still run and one dissolve window of thumbnails, so memory stays flat however long the video.
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.window = max(2, round(DISSOLVE_WINDOW_SECONDS * fps))
        self.look_step = max(1, round(fps / LOOK_SAMPLES_PER_SECOND))
        self.frames = 0
        self._previous: np.ndarray | None = None  # last frame of the previous chunk ...
        self._previous_hist: np.ndarray | None = None  # ... and its histogram
        self._anchor: np.ndarray | None = None  # first frame of the current still run
        self._frozen_anchor: np.ndarray | None = None  # ... and of the current frozen run
        baseline_frames = max(2, round(BASELINE_SECONDS * fps))
        # Block changes of the last BASELINE_SECONDS, so each block has its usual level.
        self._block_history = np.zeros((baseline_frames, GRID_ROWS * GRID_COLS))
        self._thumbs = np.empty((0, 3 * THUMB_SIZE), np.float32)  # the last `window` thumbnails ...
        self._hists = np.empty((0, HIST_BINS), np.float32)  # ... and their histograms
        self._series: dict[str, list[np.ndarray]] = {
            name: [] for name in ("pixel", "area", "hist", "motion", "still", "frozen",
                                  "window_change", "window_hist", "blend_alpha", "blend_residual")
        }
        self._looks: list[tuple[float, float, float, float, np.ndarray]] = []

    def add(self, chunk: np.ndarray) -> None:
        """Consume ``(n, FRAME_BYTES)`` uint8 frames that follow the previous chunk."""
        previous = chunk[:1] if self._previous is None else self._previous
        self._add_frame_changes(cv2.absdiff(chunk, np.concatenate([previous, chunk[:-1]])))
        self._add_stillness(chunk)
        thumbs, hists = _thumbnails(chunk)
        previous_hist = hists[:1] if self._previous_hist is None else self._previous_hist
        before = np.concatenate([previous_hist, hists[:-1]])
        self._series["hist"].append(_hist_distance(hists, before))
        self._add_window_changes(thumbs, hists)
        for k in range(-self.frames % self.look_step, len(chunk), self.look_step):
            self._looks.append(((self.frames + k) / self.fps, *_frame_looks(chunk[k])))
        self._previous, self._previous_hist = chunk[-1:].copy(), hists[-1:]
        self.frames += len(chunk)

    def _add_frame_changes(self, diff: np.ndarray) -> None:
        """Block-wise change signals from the absolute difference to the previous frame."""
        luma = diff[:, :Y_SIZE]
        blocks = _block_means(luma, HEIGHT, WIDTH) + 0.5 * (
            _block_means(diff[:, Y_SIZE:Y_SIZE + C_SIZE], HEIGHT // 2, WIDTH // 2)
            + _block_means(diff[:, Y_SIZE + C_SIZE:], HEIGHT // 2, WIDTH // 2)
        )
        history = np.concatenate([self._block_history, blocks])
        depth = len(self._block_history)
        windows = np.lib.stride_tricks.sliding_window_view(history, depth, axis=0)
        usual = np.median(windows[:len(blocks)], axis=2)  # each block over the frames before
        self._block_history = history[-depth:]
        changed = (blocks >= BLOCK_CHANGED) & (blocks >= CUT_RATIO * usual)
        top_quarter = np.partition(blocks, -TOP_BLOCKS, axis=1)[:, -TOP_BLOCKS:]
        moving = np.count_nonzero(luma > STILL_PIXEL_DELTA, axis=1) / Y_SIZE
        self._series["pixel"].append(top_quarter.mean(axis=1).astype(np.float32))
        self._series["area"].append(changed.mean(axis=1).astype(np.float32))
        self._series["motion"].append(moving.astype(np.float32))

    def _add_stillness(self, chunk: np.ndarray) -> None:
        """A frame is still when it matches the frame that began the current still run.

        Comparing with that anchor rather than with the previous frame makes a slow drift (a fade,
        a hue cycle) count as change once it adds up.
        """
        still = np.zeros(len(chunk), bool)
        for k, frame in enumerate(chunk):
            if self._anchor is not None:
                changed = np.count_nonzero(cv2.absdiff(frame, self._anchor) > STILL_PIXEL_DELTA)
                still[k] = changed <= STILL_MAX_CHANGED * FRAME_BYTES
            if not still[k]:
                self._anchor = frame.copy()
        self._series["still"].append(still)
        frozen = np.zeros(len(chunk), bool)
        for k, frame in enumerate(chunk):
            if self._frozen_anchor is not None:
                frozen[k] = int(cv2.absdiff(frame, self._frozen_anchor).max()) <= FROZEN_DELTA
            if not frozen[k]:
                self._frozen_anchor = frame.copy()
        self._series["frozen"].append(frozen)

    def _add_window_changes(self, thumbs: np.ndarray, hists: np.ndarray) -> None:
        """Compare each frame with the one a window earlier; fit the window's middle as a blend."""
        n, k = len(thumbs), self.window
        all_thumbs = np.concatenate([self._thumbs, thumbs])
        all_hists = np.concatenate([self._hists, hists])
        ends = np.arange(len(self._thumbs), len(all_thumbs))
        ends = ends[ends >= k]  # the first `window` frames of the video have no window yet
        change, hist, alpha, residual = (np.full(n, np.nan, np.float32) for _ in range(4))
        if len(ends):
            start, middle, end = all_thumbs[ends - k], all_thumbs[ends - k // 2], all_thumbs[ends]
            delta = end - start
            slot = ends - len(self._thumbs)
            change[slot] = np.abs(delta).mean(axis=1)
            energy = np.maximum((delta * delta).sum(axis=1), 1e-6)
            alpha[slot] = ((middle - start) * delta).sum(axis=1) / energy  # least squares
            unexplained = np.abs(middle - start - alpha[slot][:, None] * delta).mean(axis=1)
            residual[slot] = unexplained / np.maximum(change[slot], 1e-6)
            hist[slot] = _hist_distance(all_hists[ends], all_hists[ends - k])
        self._series["window_change"].append(change)
        self._series["window_hist"].append(hist)
        self._series["blend_alpha"].append(alpha)
        self._series["blend_residual"].append(residual)
        self._thumbs, self._hists = all_thumbs[-k:], all_hists[-k:]

    def signals(self) -> Signals:
        """Everything gathered so far, as arrays."""
        series = {name: np.concatenate(parts) for name, parts in self._series.items()}
        times, brightness, colorfulness, edges, colors = zip(*self._looks)
        return Signals(
            fps=self.fps, **series, look_times=np.array(times), brightness=np.array(brightness),
            colorfulness=np.array(colorfulness), edge_density=np.array(edges),
            colors=np.array(colors),
        )


def _block_means(planes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mean of each grid block of ``(n, height * width)`` uint8 planes, as ``(n, blocks)``."""
    n = len(planes)
    bh, bw = height // GRID_ROWS, width // GRID_COLS
    row_sums = np.add.reduceat(
        planes.reshape(-1, width), np.arange(0, width, bw), axis=1, dtype=np.uint32
    )
    sums = row_sums.reshape(n, GRID_ROWS, bh, GRID_COLS).sum(axis=2)
    return sums.reshape(n, -1) / float(bh * bw)


def _thumbnails(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quarter-size Y, U, V planes (flattened, float) and their 32-bin colour histograms."""
    n = len(chunk)
    y = chunk[:, :Y_SIZE].reshape(n, HEIGHT, WIDTH)[:, ::4, ::4]
    u = chunk[:, Y_SIZE:Y_SIZE + C_SIZE].reshape(n, HEIGHT // 2, WIDTH // 2)[:, ::2, ::2]
    v = chunk[:, Y_SIZE + C_SIZE:].reshape(n, HEIGHT // 2, WIDTH // 2)[:, ::2, ::2]
    planes = np.concatenate([p.reshape(n, THUMB_SIZE) for p in (y, u, v)], axis=1)
    codes = (planes >> HIST_SHIFT).astype(np.intp) + HIST_OFFSET + np.arange(n)[:, None] * HIST_BINS
    hists = np.bincount(codes.ravel(), minlength=n * HIST_BINS).reshape(n, HIST_BINS)
    return planes.astype(np.float32), (hists / THUMB_SIZE).astype(np.float32)


def _hist_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Earth mover's distance of the Y, U and V histograms, averaged; 0 = same, 1 = black vs white.

    Unlike a bin-by-bin distance it grows smoothly when colours drift across a bin edge (a
    dissolve, a fade), so only a real change of the colour mix makes it jump.
    """
    total = np.zeros(len(a), np.float32)
    for first, bins in ((0, 16), (16, 8), (24, 8)):
        cdf_a = np.cumsum(a[:, first:first + bins], axis=1)
        cdf_b = np.cumsum(b[:, first:first + bins], axis=1)
        total += np.abs(cdf_a - cdf_b).sum(axis=1) / (bins - 1)
    return total / 3.0


def _frame_looks(frame: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """Brightness, colourfulness, edge density and colour-name pixel counts of one small frame."""
    luma = frame[:Y_SIZE].reshape(HEIGHT, WIDTH)
    bgr = cv2.cvtColor(frame.reshape(HEIGHT * 3 // 2, WIDTH), cv2.COLOR_YUV2BGR_I420)
    b, g, r = (bgr[..., c].astype(np.float32) for c in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    hasler = math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())
    hue, sat, val = cv2.split(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV))
    names = HUE_TO_COLOR[hue]
    names[(sat < SATURATED) & (val >= LIGHT)] = COLOR_NAMES.index("white")
    names[(sat < SATURATED) & (val < LIGHT)] = COLOR_NAMES.index("gray")
    names[val < DARK] = COLOR_NAMES.index("black")
    return (
        float(np.clip((luma.mean() - 16.0) / 219.0, 0.0, 1.0)),
        min(1.0, hasler / 100.0),
        np.count_nonzero(cv2.Canny(luma, 100, 200)) / Y_SIZE,
        np.bincount(names.ravel(), minlength=len(COLOR_NAMES)),
    )


# --------------------------------------------------------------------------- detection


def detect_cuts(signals: Signals) -> list[dict]:
    """Hard cuts and dissolves as ``{"time", "kind", "score"}``, sorted, at least 0.5 s apart.

    ``score`` (0..1) is how strongly the picture changed: the colour-histogram distance, or the
    change of the most-changed quarter of the picture as a fraction of 128 levels if larger.
    """
    fps = signals.fps
    strength = np.minimum(1.0, np.maximum(signals.hist, signals.pixel / 128.0))
    hard = _hard_cut_frames(signals)
    found = sorted([(int(i), "hard", float(strength[i])) for i in hard] + _dissolves(signals, hard))
    merged: list[tuple[int, str, float]] = []
    for event in found:
        if merged and event[0] - merged[-1][0] < MERGE_CUTS_SECONDS * fps:
            if event[2] > merged[-1][2]:
                merged[-1] = event
        else:
            merged.append(event)
    return [
        {"time": _r(frame / fps), "kind": kind, "score": _r(score)} for frame, kind, score in merged
    ]


def _hard_cut_frames(signals: Signals) -> np.ndarray:
    """Frames whose change spikes over its local median: by pixels (over enough area) or colour."""
    half = max(2, round(BASELINE_SECONDS * signals.fps))
    by_pixel = (
        (signals.pixel >= CUT_MIN_PIXEL)
        & (signals.area >= CUT_MIN_AREA)
        & (signals.pixel >= CUT_RATIO * _local_baseline(signals.pixel, half))
    )
    by_colour = (
        (signals.hist >= CUT_MIN_HIST)
        & (signals.hist >= CUT_RATIO * _local_baseline(signals.hist, half))
    )
    frames = np.flatnonzero(by_pixel | by_colour)
    return frames[frames > 0]


def _local_baseline(values: np.ndarray, half: int) -> np.ndarray:
    """For each frame, the larger of the medians of the ``half`` values before and after it."""
    n = len(values)
    padded = np.concatenate([np.full(half, values[0]), values, np.full(half + 1, values[-1])])
    medians = np.median(np.lib.stride_tricks.sliding_window_view(padded, half), axis=1)
    return np.maximum(medians[:n], medians[half + 1:half + 1 + n])


def _dissolves(signals: Signals, hard_frames: np.ndarray) -> list[tuple[int, str, float]]:
    """Gradual transitions: windows whose middle frame is a blend of two different-looking ends.

    The colour change across the window must dwarf the change within the windows just before and
    after it (so steady motion or a pan does not qualify) and no hard cut may lie inside. A run
    of qualifying windows is one dissolve, placed where the blend is half way.
    """
    k = max(2, round(DISSOLVE_WINDOW_SECONDS * signals.fps))
    n = signals.frames
    across = np.nan_to_num(signals.window_hist, nan=0.0)
    before, after = np.full(n, np.inf), np.full(n, np.inf)  # no flank window: cannot qualify
    if n > k:
        before[k:] = np.nan_to_num(signals.window_hist[:-k], nan=np.inf)
        after[:-k] = signals.window_hist[k:]
    with np.errstate(invalid="ignore"):
        candidate = (
            (signals.window_change >= DISSOLVE_MIN_CHANGE)
            & (signals.blend_residual <= DISSOLVE_MAX_RESIDUAL)
            & (signals.blend_alpha >= DISSOLVE_ALPHA[0])
            & (signals.blend_alpha <= DISSOLVE_ALPHA[1])
            & (across >= DISSOLVE_MIN_HIST)
            & (across >= DISSOLVE_FLANK_RATIO * np.maximum(before, after))
        )
    is_cut = np.zeros(n, bool)
    is_cut[hard_frames] = True
    cuts_before = np.concatenate([[0], np.cumsum(is_cut)])  # [i]: hard cuts in frames < i
    ends = np.arange(n)
    candidate &= cuts_before[ends + 1] == cuts_before[np.maximum(ends - k + 1, 0)]  # (i-k, i]

    found = []
    for first, last in _runs(candidate):
        run = np.arange(first, last + 1)
        halfway = run[np.argmin(np.abs(signals.blend_alpha[run] - 0.5))]
        found.append((int(halfway - k // 2), "dissolve", float(min(1.0, across[run].max()))))
    return found


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` index of every run of True values."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def find_static_spans(signals: Signals, cut_times: list[float]) -> list[Span]:
    """Spans of at least MIN_STATIC_SECONDS in which the picture does not change.

    A cut always ends a span, even one subtle enough to pass for encoder noise.
    """
    fps = signals.fps
    still = signals.still.copy()
    still[[i for i in (round(t * fps) for t in cut_times) if i < len(still)]] = False
    found = []
    for first, last in _runs(still):
        start, end = (first - 1) / fps, (last + 1) / fps  # a still frame repeats the one before it
        if end - start >= MIN_STATIC_SECONDS:
            found.append((start, end))
    return found


def find_frozen_spans(signals: Signals, cut_times: list[float]) -> list[Span]:
    """Spans of at least MIN_FROZEN_SECONDS whose frames are all the same picture (every sample
    within FROZEN_DELTA levels of the span's first frame); a cut ends a span. The render may show
    such a span as one held frame, so this is stricter than :func:`find_static_spans`."""
    fps = signals.fps
    frozen = signals.frozen.copy()
    frozen[[i for i in (round(t * fps) for t in cut_times) if i < len(frozen)]] = False
    found = []
    for first, last in _runs(frozen):
        start, end = (first - 1) / fps, (last + 1) / fps  # frame first - 1 began the run
        if end - start >= MIN_FROZEN_SECONDS:
            found.append((start, end))
    return found


def find_dead_air(static_spans: list[Span], silences: list[Span]) -> list[Span]:
    """Stretches both frozen and silent for longer than 1 s, minus a 0.25 s margin each side."""
    return spans.dead_air(static_spans, silences)


# --------------------------------------------------------------------------- segments


def build_segments(cut_times: list[float], duration: float) -> list[Span]:
    """Shots between cuts; shots under 1.5 s merged into their shorter neighbour, then shots over
    20 s split into equal parts."""
    bounds = [0.0] + sorted(t for t in cut_times if 0.0 < t < duration) + [_r(duration)]
    shots = list(zip(bounds, bounds[1:]))
    while len(shots) > 1:
        i = min(range(len(shots)), key=lambda j: shots[j][1] - shots[j][0])
        if shots[i][1] - shots[i][0] >= MIN_SEGMENT_SECONDS:
            break
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(shots)]
        j = min(neighbours, key=lambda j: shots[j][1] - shots[j][0])
        a, b = sorted((i, j))
        shots[a:b + 1] = [(shots[a][0], shots[b][1])]
    segments = []
    for start, end in shots:
        parts = math.ceil((end - start) / MAX_SEGMENT_SECONDS - 1e-9)
        edges = [_r(start + (end - start) * p / parts) for p in range(parts)] + [end]
        segments += zip(edges, edges[1:])
    return segments


def describe_segment(
    segment_id: str,
    span: Span,
    signals: Signals,
    static_spans: list[Span],
    silences: list[Span],
    dead_air: list[Span],
    has_audio: bool,
) -> dict:
    """One ``segments[]`` entry of segments.json."""
    start, end = span
    length = end - start
    kept = [(_r(a), _r(b)) for a, b in spans.keep(span, dead_air)]

    first, last = (math.ceil(t * signals.fps - 1e-6) for t in span)
    motion = signals.motion[first + 1:last]  # the first frame's change is the cut itself
    lo, hi = np.searchsorted(signals.look_times, [start, end])
    if lo == hi:  # no look sample inside: take the nearest one
        lo = min(lo, len(signals.look_times) - 1)
        hi = lo + 1
    return {
        "id": segment_id,
        "start": _r(start),
        "end": _r(end),
        "keyframe": f"keyframes/{segment_id}.jpg",
        "static_ratio": _r(spans.overlap(static_spans, span) / length),
        "silent_ratio": _r(spans.overlap(silences, span) / length if has_audio else 1.0),
        "motion": _r(motion.mean() if len(motion) else 0.0),
        "brightness": _r(signals.brightness[lo:hi].mean()),
        "colorfulness": _r(signals.colorfulness[lo:hi].mean()),
        "dominant_color": COLOR_NAMES[int(np.argmax(signals.colors[lo:hi].sum(axis=0)))],
        "edge_density": _r(signals.edge_density[lo:hi].mean()),
        "kept": [list(piece) for piece in kept],
        "kept_duration": _r(sum(b - a for a, b in kept)),
    }


# --------------------------------------------------------------------------- outputs


def _write_keyframes(segments: list[dict], samples_dir: Path, keyframes_dir: Path) -> None:
    """Per segment, copy the JPEG sample nearest the middle of its longest kept span."""
    samples = sorted(samples_dir.glob("*.jpg"))
    if not samples:
        raise FatalError("ffmpeg produced no keyframe samples from the source.")
    keyframes_dir.mkdir(parents=True, exist_ok=True)
    per_second = KEYFRAME_SAMPLES_PER_SECOND
    for segment in segments:
        a, b = max(segment["kept"], key=lambda piece: piece[1] - piece[0])
        first = math.ceil(segment["start"] * per_second)  # samples inside the segment
        last = max(first, math.ceil(segment["end"] * per_second) - 1)
        index = min(max(round((a + b) / 2 * per_second), first), last, len(samples) - 1)
        target = keyframes_dir / f"{segment['id']}.jpg"
        copy_file(samples[index], target)
