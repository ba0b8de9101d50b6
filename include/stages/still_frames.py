"""Render only what changes: the final frames that repeat the frame before them.

With ``frame_rate = variable`` (the default) the render leaves such frames out of the encode:
the frame before them is stored once, lasting until the next change (a variable-frame-rate MP4:
the same picture at every instant, the same duration and sync). A screen recording is mostly
still, and x264 spends nearly as long on an unchanged 720p frame as on a changed one (300
identical frames 1.2–1.4 CPU-s, 300 of real footage 1.75 at veryfast on this 2-core machine),
so this is where a render of one spends its time.

Which frames repeat is known from the EDL, not measured on the pictures: a clip's held frames
(its frozen spans, see :func:`include.stages.render.video_clips`) and its hold, and an intro or
outro card once it has settled (:func:`include.stages.animate._still_span`: its file stores that
span as one frame). Of those, a frame is kept wherever something drawn over the picture may
change it: a caption appearing, leaving or (karaoke) lighting its next word — read from the ASS
file the render burns in, so it is what libass draws —, a lower third while it comes in and
while it fades out (in between it is one still picture too), a camera move (its whole span). One frame a
second is kept too, so that no frame lasts longer than a second, and the first and last frame of
what is encoded (a chunk's too: the join needs each chunk's exact duration). A variable-rate
encode has no B-frames (``-bf 0``): with them x264 gave a frame the decode time of the frame two
before it, the decode times fell behind the picture after every left-out stretch (the MP4's
video track, whose duration is their sum, read 14.17 s for a 16 s video ending on a still outro)
and keeping the two frames before each kept one cost 73 more frames stored on the product tour;
without them every decode time is the frame's own.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pysubs2

from include.core.edl import Edl
from include.stages import animate

DECODE_DELAY = 0  # frames kept before a kept frame for the decode times: none without B-frames
_TAGS = re.compile(r"\{([^}]*)\}")
_KARAOKE = re.compile(r"\\k(\d+)")  # \k: a syllable lights up at once when its time comes
# tags that change an event's picture during it (sweeps, fades, motion, transforms): the whole
# event is kept
_ANIMATED = re.compile(r"\\(?:kf|K|ko|t\(|fade?\(|move\()")


def repeated(edl: Edl, pieces: list, captions_path: Path | None, start: int = 0,
             end: int | None = None) -> list[tuple[int, int]]:
    """Inclusive ranges ``(a, b)`` of final frames in ``[start, end)`` (numbered from
    ``start``) that show the same picture as the frame before them and need not be encoded.
    ``pieces`` are the clips as the render decodes them (``render.video_clips(edl)``)."""
    fps = edl.output.fps
    total = round(edl.output.duration * fps)
    end = total if end is None else end
    candidates: list[tuple[int, int]] = []
    for card in edl.cards:  # a card holds still once its last line has risen
        first, last = round(card.out_start * fps), round(card.out_end * fps) - 1
        settled, _ = animate._still_span(card)
        candidates.append((first + math.ceil(settled * fps - 1e-6) + 1, last))
    for clip in pieces:
        first = round(clip.out_start * fps)
        candidates += [(first + a, first + b) for a, b in clip.held]
        played = clip.frames - round(clip.hold * fps)
        if played < clip.frames:
            candidates.append((first + max(played, 1), first + clip.frames - 1))
    if not candidates:
        return []
    keep = {start, end - 1}
    keep.update(range(math.ceil(start / fps) * fps, end, fps))  # one frame a second
    changes: list[tuple[float, float]] = []  # final-time spans where the picture may change
    for o in edl.overlays:  # a lower third changes while it comes in and while it fades out
        settled, until = animate._still_span(o)
        changes += [(o.out_start, o.out_start + settled), (o.out_start + until, o.out_end)]
    changes += [(m.out_start, m.out_end) for c in edl.clips for m in c.zoom]
    instants, spans = _caption_changes(captions_path)
    changes += spans
    for a, b in changes:
        keep.update(range(max(start, math.floor(a * fps) - 1), min(end, math.ceil(b * fps) + 2)))
    for t in instants:  # the first frame at or after t, and the next: the subtitles filter
        f = math.ceil(t * fps - 1e-6)  # truncates a frame's time to whole milliseconds
        keep.update((f, f + 1))
    ranges: list[tuple[int, int]] = []
    for a, b in candidates:
        a, b = max(a, start), min(b, end - 1)
        run_start = None
        for f in range(a, b + 2):
            if f <= b and f not in keep:
                run_start = f if run_start is None else run_start
            elif run_start is not None:
                ranges.append((run_start - start, f - 1 - start))
                run_start = None
    # with B-frames the DECODE_DELAY frames before each kept frame would have to stay too (see
    # the module's docstring); the variable-rate encode has none (output_args)
    return [(a, b - DECODE_DELAY) for a, b in _merged(ranges) if b - DECODE_DELAY >= a]


def select_filter(ranges: list[tuple[int, int]]) -> str:
    """``,select=…`` dropping the frames of ``ranges`` (frame numbers of the filter's input),
    or ``""``."""
    if not ranges:
        return ""
    return f",select='not({_sum([f'between(n,{a},{b})' for a, b in ranges])})'"


def _sum(terms: list[str]) -> str:
    """``terms`` added as a balanced tree: FFmpeg's expression parser refuses a flat sum of 100
    terms or more ("Error while parsing expression": a 10-minute screen recording's 2-minute
    chunk has a few hundred ranges), not one nested log2(n) deep."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return f"({_sum(terms[:half])})+({_sum(terms[half:])})"


def output_args(frame_rate: str) -> list[str]:
    """ffmpeg output options: a variable frame rate keeps the frames' own times, without
    B-frames (so that each frame's decode time is its own, see the module's docstring)."""
    return ["-fps_mode", "vfr", "-bf", "0"] if frame_rate == "variable" else []


def _caption_changes(captions_path: Path | None) -> tuple[list[float], list[tuple[float, float]]]:
    """Times (seconds) at which the burned-in captions change, and spans during which they may
    change all the time (animated override tags)."""
    if not captions_path or not Path(captions_path).is_file():
        return [], []
    instants: list[float] = []
    spans: list[tuple[float, float]] = []
    for event in pysubs2.load(str(captions_path)):
        if event.is_comment:
            continue
        start, end = event.start / 1000, event.end / 1000
        instants += [start, end]
        tags = "".join(_TAGS.findall(event.text))
        if _ANIMATED.search(tags):
            spans.append((start, end))
            continue
        at = event.start
        for cs in _KARAOKE.findall(tags):
            at += int(cs) * 10
            instants.append(at / 1000)
    return instants, spans


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
