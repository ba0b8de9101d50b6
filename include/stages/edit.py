"""Edit stage: lay the kept footage against the voiceover and write ``edl.json`` + ``captions.ass``.

The edit decision list (EDL, format in docs/ARTIFACTS.md) says which source spans play, at which
speed, and how long each clip's last frame is held, in final-time order. Three sync modes:

- ``fit``: the footage's action decides the timing, the narration follows it. Each narrated
  segment's footage is split into *action* (a new picture — a cut, each change between frozen
  stretches — and ``ACTION_SECONDS`` of reading time after it, any stretch where the picture
  moves, the segment's ``focus`` events other than typing and cursor, up to ``FOCUS_MAX_SECONDS``
  each), *typing* (a ``typing`` focus event
  past its first second) and *idle* (the rest of its kept footage: a frozen screen, cursor-only
  motion). Action plays at 1x, typing at up to ``MAX_TYPING_SPEED``, idle at up to
  ``MAX_IDLE_SPEED``; the presenter's own speech plays at 1x when the run keeps the source's
  audio (``original_audio: duck``). The segment lasts as long as its narration plus
  ``NARRATION_GAP``: idle (then typing) slows down towards 1x to fill a longer narration and
  the last frame holds when even 1x is too short; a shorter narration leaves the footage playing
  (idle at full speed, an idle stretch longer than ``IDLE_MAX_OUT`` on screen cut in its middle).
  Each narration starts on its segment's first frame. A page change in a segment's last
  ``SNAP_SECONDS`` whose picture runs into the next narrated segment moves to that segment.
  Segments without narration are dropped. Without frozen-stretch data (``static_spans``) all
  kept footage counts as action.
- ``trim``: all kept footage plays continuously at 1x and is cut where the voice ends (the last
  frame holds if the footage is shorter than the voice).
- ``pad``: all kept footage plays at 1x; if the voice is longer the last frame holds until it ends.

In ``trim`` and ``pad`` the voice plays continuously from final time 0 (final time = voice
time); in ``fit`` each narration segment's voice span is placed at its ``out_start``. Every mode
writes the drift report (``pacing``): per narrated segment, where its narration starts against
its first frame and how much of its action made it into the video. The intro card (option
``animate``, see :mod:`include.stages.animate`) then moves the footage, the voice and the
captions back by its length; the outro follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from include.core import spans
from include.core.edl import (
    TOLERANCE,
    AudioPlan,
    CaptionTrack,
    Clip,
    Edl,
    Narration,
    Output,
    Pacing,
    Source,
)
from include.core.errors import FatalError
from include.core.files import read_json
from include.core.options import Settings
from include.stages import animate, camera, caption_track

MIN_PIECE = 0.1  # seconds; shorter footage pieces become a hold on the piece before them
# Frozen spans (analyze's ``frozen_spans``: every frame the same picture) the render may show as
# one held frame: this much of each end stays decoded, so motion at a boundary never freezes ...
FROZEN_MARGIN = 0.1
MIN_FROZEN_OUT = 0.5  # ... and a span must fill this many final seconds to be worth it
VOICE_OFFSET = 0.0
TOAST_MARGIN = 0.01  # a caption this close (of the frame width) to a toast moves away from it

# ---- fit: pacing by content
ACTION_SECONDS = 2.5  # a new picture plays this long at 1x (time to take it in)
MAX_IDLE_SPEED = 4.0  # a frozen screen or cursor-only motion plays at most this fast ...
IDLE_MAX_OUT = 1.0  # ... and, when the narration does not need it, shows at most this long
FOCUS_MAX_SECONDS = 4.0  # a focus event plays at 1x for at most this long (then it is idle)
MAX_TYPING_SPEED = 2.0  # typing past its first second plays at most this fast
TYPING_LEAD = 1.0  # the first second of typing and ...
TYPING_TAIL = 0.5  # ... the typed result (this long either side of its end) play at 1x
NARRATION_GAP = 0.4  # quiet after a narration before the next one (the voiceover's own gap)
SNAP_SECONDS = 3.0  # a page change this close to a segment's end opens the next segment
ACTION, TYPING, SPEECH, IDLE = "action", "typing", "speech", "idle"


@dataclass(frozen=True)
class _Piece:
    """One clip before rounding: exact source span, playback speed and hold."""

    segment_id: str
    src_start: float
    src_end: float
    speed: float = 1.0
    hold: float = 0.0

    @property
    def out_length(self) -> float:
        return (self.src_end - self.src_start) / self.speed + self.hold


@dataclass(frozen=True)
class _Stretch:
    """A stretch of a segment's footage and what it shows (ACTION, TYPING, SPEECH or IDLE)."""

    start: float
    end: float
    kind: str

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class _Paced:
    """One segment's plan in fit mode: its pieces and how they were paced."""

    pieces: list[_Piece]
    stretches: list[_Stretch]
    idle_speed: float
    hold: float


def run(
    segments_path: Path,
    script_path: Path,
    voiceover_json_path: Path,
    source_json_path: Path,
    settings: Settings,
    out_dir: Path,
) -> dict:
    """Write ``out_dir/edl.json`` and ``out_dir/captions.ass``; return a small summary.

    Returns ``{"duration": D, "clips": n, "sync_mode": mode}``. Raises ``FatalError`` when the
    inputs disagree (unknown segment ids, an empty voiceover, a segment without footage inside
    the source) or are malformed.
    """
    analysis = read_json(segments_path, "segments.json")
    script = read_json(script_path, "script.json")
    voiceover = read_json(voiceover_json_path, "voiceover.json")
    source = read_json(source_json_path, "source.json")

    source_duration = _positive(source.get("duration"), "source.json duration")
    voice_duration = _positive(voiceover.get("duration"), "voiceover.json duration")
    try:
        kept = _kept_footage(analysis, source_duration, settings)
        narration = _narration(voiceover, voice_duration, script, kept)
    except (KeyError, TypeError, ValueError) as exc:
        raise FatalError(
            f"segments.json or voiceover.json is malformed (bad or missing {exc}); re-run the "
            "analyze and voiceover stages."
        ) from exc

    has_audio = bool(source.get("has_audio"))
    keeps_speech = has_audio and settings.original_audio == "duck"
    if settings.sync_mode == "fit":
        content = _content(analysis, kept, {n["id"] for n in narration}, keeps_speech)
        paced = {n["id"]: _pace(n["id"], content[n["id"]], n["end"] - n["start"] + NARRATION_GAP)
                 for n in narration}
        pieces = [piece for n in narration for piece in paced[n["id"]].pieces]
        duration = round(sum(piece.out_length for piece in pieces), 3)
        merged = _merge(_absorb_slivers(pieces, by_segment=True), by_segment=True)
        clips = _quantize(merged, duration, source_duration)
        starts = _first_clip_starts(clips)
        placed = [{**n, "out_start": starts[n["id"]],
                   "out_end": round(starts[n["id"]] + n["end"] - n["start"], 3)}
                  for n in narration]
        duration = max(duration, max(n["out_end"] for n in placed))
        clips[-1] = replace(clips[-1], out_end=duration,
                            hold=round(clips[-1].hold + duration - clips[-1].out_end, 3))
        pacing = [_fit_report(n, starts[n["id"]], paced[n["id"]]) for n in placed]
    else:
        all_spans = [(sid, a, b) for sid, spans in kept.items() for a, b in spans]
        footage = round(sum(b - a for _, a, b in all_spans), 3)
        duration = voice_duration if settings.sync_mode == "trim" else max(footage, voice_duration)
        pieces = _fill(all_spans, duration, speed=1.0)
        clips = _quantize(_merge(_absorb_slivers(pieces)), duration, source_duration)
        placed = [{**n, "out_start": round(min(n["start"] + VOICE_OFFSET, duration), 3),
                   "out_end": round(min(n["end"] + VOICE_OFFSET, duration), 3)}
                  for n in narration]
        content = _content(analysis, kept, set(), keeps_speech)
        pacing = [_played_report(n, content[n["id"]], clips) for n in placed]

    events = caption_track.build_events(_placed_voiceover(voiceover, placed), duration, 0.0)
    width, height = settings.output_size
    framing = "crop" if settings.aspect == "9:16" else "pad"
    picture = (int(source.get("width") or 0), int(source.get("height") or 0))
    if settings.zoom == "auto" and all(picture) and camera.is_screen_recording(analysis["segments"]):
        clips = camera.plan(clips, analysis["segments"],
                            camera.view_box(picture, (width, height), framing),
                            narration_text={str(s.get("id")): str(s.get("text") or "")
                                            for s in script.get("segments") or []})
    clips = _with_frozen(clips, analysis)
    edl = Edl(
        sync_mode=settings.sync_mode,
        output=Output(width=width, height=height, fps=settings.fps, duration=duration,
                      aspect=settings.aspect, framing=framing),
        source=Source(duration=source_duration, has_audio=has_audio, width=picture[0],
                      height=picture[1]),
        clips=tuple(clips),
        narration=tuple(
            Narration(
                segment_id=n["id"],
                voice_start=n["start"],
                voice_end=n["end"],
                out_start=n["out_start"],
                out_end=n["out_end"],
            )
            for n in placed
        ),
        audio=AudioPlan(voiceover="voiceover.wav", voice_offset=VOICE_OFFSET,
                        original=settings.original_audio if has_audio else "drop",
                        music=settings.music),
        captions=CaptionTrack(file="captions.ass", style=settings.caption_style,
                              events=tuple(events)),
        pacing=tuple(pacing),
    )
    # The intro/outro cards and lower thirds (option animate): the footage, the voice and the
    # captions move back by the intro's length.
    edl = animate.lay_out(edl, settings, analysis, script)
    edl = _captions_clear_of_toasts(edl, analysis)
    edl.check()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    caption_track.write_ass(list(edl.captions.events), out_dir / edl.captions.file,
                            settings.caption_style, width, height)
    edl.write(out_dir / "edl.json")
    return {"duration": edl.output.duration, "clips": len(clips),
            "sync_mode": settings.sync_mode, "zoom_moves": sum(len(c.zoom) for c in clips),
            "cards": len(edl.cards), "overlays": len(edl.overlays)}


def _captions_clear_of_toasts(edl: Edl, analysis: dict) -> Edl:
    """The EDL with the captions shown while a toast (analyze's ``focus`` events of kind
    ``toast``: "Invoice INV-1042 sent") stands in the caption band, and that would cover it
    (their boxes as libass lays them out, ``TOAST_MARGIN`` of the width apart), moved to the top of the
    picture (``"top": True`` on the event), unless a lower third stands there or the camera
    moves meanwhile (it frames what it zooms onto clear of the bottom band): a notification is
    what that moment of the video is about, a caption over it hides it."""
    frame = animate.Frame.of_edl(edl, analysis)
    if not all(frame.source) or not edl.captions.events:
        return edl
    band = caption_track.safe_top(edl.captions.style, frame.width, frame.height)
    focus = {str(s.get("id")): s.get("focus") or [] for s in analysis.get("segments") or []}
    toasts = [(clip.out_time(float(e["start"])), clip.out_time(float(e["end"])),  # final time
               animate.output_box(e["box"], frame))
              for clip in edl.clips for e in focus.get(clip.segment_id, [])
              if e.get("kind") == "toast" and animate.output_box(e["box"], frame)[3] > band
              and float(e["start"]) < clip.src_end and float(e["end"]) > clip.src_start]
    if not toasts:
        return edl
    # where each caption stands at the bottom, laid out as libass lays it out (as QC checks it)
    boxes = [b["box"] for b in caption_track.caption_boxes_for(
        list(edl.captions.events), edl.captions.style, frame.width, frame.height)]
    margin = TOAST_MARGIN * frame.width
    # the camera frames its moves clear of the caption band at the bottom (camera.plan)
    keep = [(o.out_start, o.out_end) for o in edl.overlays if o.y + o.height / 2 < frame.height / 2]
    keep += [(m.out_start, m.out_end) for clip in edl.clips for m in clip.zoom]

    def overlaps(a: float, b: float, spans: list[tuple[float, float]]) -> bool:
        return any(a < e and s < b for s, e in spans)

    def covers_toast(event: dict, box: list[float]) -> bool:
        x, y, w, h = box
        return any(event["start"] < t1 and t0 < event["end"]
                   and x - margin < bx1 and bx0 < x + w + margin and y - margin < by1
                   for t0, t1, (bx0, _by0, bx1, by1) in toasts)

    events = tuple({**e, "top": True} if covers_toast(e, box)
                   and not overlaps(e["start"], e["end"], keep) else e
                   for e, box in zip(edl.captions.events, boxes, strict=True))
    return replace(edl, captions=replace(edl.captions, events=events))


def _with_frozen(clips: list[Clip], analysis: dict) -> list[Clip]:
    """The clips with the frozen sub-spans of their source span (``Clip.frozen``).

    From analyze's ``frozen_spans`` (every sample of every frame within a few levels of the
    span's first frame — stricter than ``static_spans``, which let a pointer or a typed letter
    pass; none from an older segments.json), each less ``FROZEN_MARGIN`` at both ends (not at
    the start or the end of the source: nothing moves beyond them); kept when it fills
    ``MIN_FROZEN_OUT`` of final time.
    """
    found = analysis.get("frozen_spans")
    if not found:
        return clips
    end = float(analysis.get("duration") or 0.0)

    frozen = sorted((a if a <= 0.0 else a + FROZEN_MARGIN,
                     b if end and b >= end - 1e-3 else b - FROZEN_MARGIN)
                    for a, b in ((float(a), float(b)) for a, b in found))
    frozen = [(a, b) for a, b in frozen if b > a]
    result = []
    for clip in clips:
        inside = spans.intersect(frozen, [(clip.src_start, clip.src_end)])
        kept = tuple((round(a, 3), round(b, 3)) for a, b in inside
                     if (b - a) / clip.speed >= MIN_FROZEN_OUT)
        result.append(replace(clip, frozen=kept) if kept else clip)
    return result


def _positive(value: object, what: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0.0
    if not number > 0:
        raise FatalError(f"{what} must be a positive number of seconds, got {value!r}.")
    return round(number, 3)


def _kept_footage(
    analysis: dict, source_duration: float, settings: Settings
) -> dict[str, list[tuple[float, float]]]:
    """Kept spans per segment id, in source order, clipped to the source duration.

    Dead air is cut with the settings' minimum length and margins when segments.json lists its
    frozen spans and silences (analyze always does); otherwise each segment's ``kept`` is used.
    """
    segments = sorted(analysis.get("segments") or [], key=lambda s: float(s["start"]))
    if not segments:
        raise FatalError("segments.json has no segments; re-run the analyze stage.")
    dead_air = _dead_air(analysis, source_duration, settings)
    kept: dict[str, list[tuple[float, float]]] = {}
    for segment in segments:
        spans = []
        pieces = (segment.get("kept") or []) if dead_air is None else _keep(segment, dead_air)
        for a, b in pieces:
            a, b = max(0.0, float(a)), min(float(b), source_duration)
            if b - a > TOLERANCE:
                spans.append((a, b))
        if not spans:
            raise FatalError(
                f"segment {segment['id']} in segments.json keeps no footage inside the "
                f"{source_duration} s source; re-run the analyze stage on this source."
            )
        kept[str(segment["id"])] = sorted(spans)
    return kept


def _dead_air(analysis: dict, source_duration: float, settings: Settings) -> list | None:
    """Stretches both frozen and silent (the whole source counts as silent without audio) longer
    than ``settings.dead_air_min_seconds``, less ``settings.dead_air_margin_seconds`` each side;
    ``None`` when segments.json does not say where its frozen and silent stretches are.

    The same rule as analyze's (:func:`include.core.spans.dead_air`), with the limits from the
    settings instead of the defaults.
    """
    frozen, silences = analysis.get("static_spans"), analysis.get("silences")
    if frozen is None or silences is None:
        return None
    quiet = silences if analysis.get("has_audio", True) else [(0.0, source_duration)]
    return spans.dead_air(frozen, quiet, min_seconds=settings.dead_air_min_seconds,
                          margin=settings.dead_air_margin_seconds)


def _keep(segment: dict, dead_air: list) -> list:
    """The segment less the dead air (see :func:`include.core.spans.keep`)."""
    return spans.keep((float(segment["start"]), float(segment["end"])), dead_air)


def _narration(voiceover: dict, duration: float, script: dict, kept: dict) -> list[dict]:
    """The voiceover segments in voice order, checked against the script and the analysis."""
    script_ids = [str(s.get("id")) for s in script.get("segments") or []]
    unknown = [sid for sid in script_ids if sid not in kept]
    if unknown:
        raise FatalError(
            f"script.json refers to segment(s) {', '.join(unknown)} that segments.json does not "
            "have; re-run the script stage after the analyze stage."
        )
    narration = []
    for segment in voiceover.get("segments") or []:
        sid = str(segment.get("id"))
        if sid not in script_ids:
            raise FatalError(
                f"voiceover.json narrates segment {sid} which script.json does not have; "
                "re-run the voiceover stage."
            )
        start, end = float(segment["start"]), float(segment["end"])
        if not 0.0 <= start <= end <= duration + TOLERANCE:
            raise FatalError(
                f"voiceover segment {sid} spans {start}-{end} s, outside the {duration} s "
                "voiceover; re-run the voiceover stage."
            )
        narration.append({"id": sid, "start": round(start, 3), "end": round(min(end, duration), 3)})
    if not narration:
        raise FatalError("voiceover.json has no narration segments; there is nothing to edit to.")
    if any(b["start"] < a["start"] for a, b in zip(narration, narration[1:])):
        raise FatalError("voiceover.json segments are not in voice-time order.")
    return narration


def _content(analysis: dict, kept: dict, narrated: set[str], keeps_speech: bool
             ) -> dict[str, list[_Stretch]]:
    """Each segment's footage as action, typing, speech and idle stretches, in source order.

    Action, typing and (when the source's audio plays) speech stretches are kept even where the
    dead-air rule cut the footage. With ``narrated`` ids, a page change in the last
    ``SNAP_SECONDS`` of a narrated segment whose picture lasts into the next narrated segment
    moves to that segment (with the footage from it on).
    """
    segments = sorted(analysis["segments"], key=lambda s: float(s["start"]))
    static = analysis.get("static_spans")
    static = None if static is None else sorted((float(a), float(b)) for a, b in static)
    ranges = {str(s["id"]): (float(s["start"]), float(s["end"])) for s in segments}
    all_kept = sorted(span for spans_ in kept.values() for span in spans_)
    if static is not None:
        for before, after in zip(segments, segments[1:]):
            first, second = str(before["id"]), str(after["id"])
            if first not in narrated or second not in narrated:
                continue
            (a0, b0), (a1, b1) = ranges[first], ranges[second]
            if abs(b0 - a1) > TOLERANCE:
                continue
            changes = [a for a, b in static
                       if max(a0 + ACTION_SECONDS, b0 - SNAP_SECONDS) <= a < b0 - MIN_PIECE
                       and b > b0 + MIN_PIECE]  # no change at b0: the picture runs on
            if changes:
                ranges[first], ranges[second] = (a0, changes[-1]), (changes[-1], b1)
    content = {}
    for segment in segments:
        sid = str(segment["id"])
        span = ranges[sid]
        own = spans.intersect(all_kept, [span]) if sid in narrated else kept[sid]
        content[sid] = _classify(span, own, static, segment, keeps_speech)
    return content


def _classify(span: tuple[float, float], kept: list, static: list | None, segment: dict,
              keeps_speech: bool) -> list[_Stretch]:
    """The stretches of one segment (``span``) with its kept footage ``kept``."""
    start, end = span
    if static is None:
        return [_Stretch(a, b, ACTION) for a, b in kept]
    windows = [(start, start + ACTION_SECONDS)]
    for a, b in spans.subtract(span, static):  # the picture moves
        windows.append((a, b + ACTION_SECONDS))
    windows += [(a, a + ACTION_SECONDS) for a, _ in static if start < a < end]  # a new picture
    typing = []
    for event in segment.get("focus") or []:
        a, b, kind = float(event["start"]), float(event["end"]), str(event.get("kind", ""))
        if kind == "cursor" or b <= a:
            continue
        if kind == "typing":
            windows += [(a, a + TYPING_LEAD), (b - TYPING_TAIL, b + TYPING_TAIL)]
            typing.append((a + TYPING_LEAD, b - TYPING_TAIL))
        else:  # a menu, dialog, toast or scroll: while it changes, at least ACTION_SECONDS
            windows.append((a, a + max(ACTION_SECONDS, min(b - a, FOCUS_MAX_SECONDS))))
    talk = []
    if keeps_speech:
        talk = _spoken_runs((segment.get("speech") or {}).get("words") or [])
    action = _union(windows, span)
    typing = _minus(_union(typing, span), action)
    talk = _minus(_union(talk, span), action + typing)
    idle = _minus(_union(kept, span), action + typing + talk)
    stretches = ([_Stretch(a, b, ACTION) for a, b in action]
                 + [_Stretch(a, b, TYPING) for a, b in typing]
                 + [_Stretch(a, b, SPEECH) for a, b in talk]
                 + [_Stretch(a, b, IDLE) for a, b in idle])
    return sorted((s for s in stretches if s.length > 1e-6), key=lambda s: s.start)


def _spoken_runs(words: list[dict], pause: float = 0.8) -> list[tuple[float, float]]:
    """The spans the presenter speaks in: the words heard inside the segment, joined across
    pauses up to ``pause`` (analyze's sentences break at longer ones: footage_text._sentences,
    not imported here — it would load OpenCV into the edit task). From the words, not the
    sentences: a sentence said across a cut belongs to one segment, its words to both."""
    runs: list[list[float]] = []
    for w in sorted(words, key=lambda w: float(w["start"])):
        a, b = float(w["start"]), float(w["end"])
        if runs and a - runs[-1][1] <= pause:
            runs[-1][1] = max(runs[-1][1], b)
        else:
            runs.append([a, b])
    return [(a, b) for a, b in runs]


def _union(pieces: list, span: tuple[float, float]) -> list[tuple[float, float]]:
    """The sorted union of ``pieces``, clipped to ``span``."""
    result: list[list[float]] = []
    for a, b in sorted((max(span[0], float(a)), min(span[1], float(b))) for a, b in pieces):
        if b - a <= 1e-6:
            continue
        if result and a <= result[-1][1] + 1e-6:
            result[-1][1] = max(result[-1][1], b)
        else:
            result.append([a, b])
    return [(a, b) for a, b in result]


def _minus(pieces: list, holes: list) -> list[tuple[float, float]]:
    """``pieces`` (sorted, disjoint) less ``holes``."""
    holes = _union(holes, (-math.inf, math.inf))
    return [part for piece in pieces for part in spans.subtract(piece, holes)]


def _speed_of(kind: str, idle_speed: float) -> float:
    if kind == IDLE:
        return idle_speed
    if kind == TYPING:
        return min(idle_speed, MAX_TYPING_SPEED)
    return 1.0


def _played(stretches: list[_Stretch], idle_speed: float) -> float:
    """Final seconds the stretches take with idle footage at ``idle_speed``."""
    return sum(s.length / _speed_of(s.kind, idle_speed) for s in stretches)


def _pace(segment_id: str, stretches: list[_Stretch], target: float) -> _Paced:
    """Play one segment's stretches for at least ``target`` seconds (its narration and gap).

    Idle and typing slow down from their top speed towards 1x until the segment is as long as
    its narration; then the last frame holds. If even the top speed is longer, the idle
    stretches shown longest lose their middles (down to ``IDLE_MAX_OUT`` each) while the
    segment is still longer than the narration.
    """
    fastest = _played(stretches, MAX_IDLE_SPEED)
    slowest = _played(stretches, 1.0)
    hold = 0.0
    if fastest >= target or not any(s.kind in (IDLE, TYPING) for s in stretches):
        speed = MAX_IDLE_SPEED if fastest >= target else 1.0
        hold = max(0.0, target - slowest) if fastest < target else 0.0
    elif slowest <= target:
        speed, hold = 1.0, target - slowest
    else:
        low, high = 1.0, MAX_IDLE_SPEED  # played(low) > target >= played(high)
        for _ in range(50):
            middle = (low + high) / 2
            low, high = (middle, high) if _played(stretches, middle) > target else (low, middle)
        speed = math.floor(high * 1e4) / 1e4 if high < MAX_IDLE_SPEED else high
        speed = max(1.0, speed)
    pieces = []
    excess = _played(stretches, speed) - target if speed == MAX_IDLE_SPEED else 0.0
    cuts = {}
    for i in sorted((i for i, s in enumerate(stretches) if s.kind == IDLE),
                    key=lambda i: -stretches[i].length):
        shown = stretches[i].length / speed
        cut = min(max(0.0, excess), max(0.0, shown - IDLE_MAX_OUT))
        if cut > MIN_PIECE:
            cuts[i] = cut
            excess -= cut
    for i, s in enumerate(stretches):
        rate = _speed_of(s.kind, speed)
        if i in cuts:
            half = (s.length - cuts[i] * rate) / 2
            pieces += [_Piece(segment_id, s.start, s.start + half, rate),
                       _Piece(segment_id, s.end - half, s.end, rate)]
        else:
            pieces.append(_Piece(segment_id, s.start, s.end, rate))
    if hold > 0:
        pieces[-1] = replace(pieces[-1], hold=hold)
    return _Paced(pieces=pieces, stretches=stretches, idle_speed=speed, hold=round(hold, 3))


def _first_clip_starts(clips: list[Clip]) -> dict[str, float]:
    """Where each segment's first clip starts in final time."""
    starts: dict[str, float] = {}
    for clip in clips:
        starts.setdefault(clip.segment_id, clip.out_start)
    return starts


def _seconds(stretches: list[_Stretch], kinds: tuple[str, ...]) -> float:
    return sum(s.length for s in stretches if s.kind in kinds)


def _covered(stretches: list[_Stretch], kinds: tuple[str, ...], played: list) -> float:
    """Source seconds of the stretches of ``kinds`` that the ``played`` spans show."""
    spans_ = _union(played, (-math.inf, math.inf))
    return sum(spans.overlap(spans_, (s.start, s.end)) for s in stretches if s.kind in kinds)


def _fit_report(narration: dict, footage_start: float, paced: _Paced) -> Pacing:
    played = [(p.src_start, p.src_end) for p in paced.pieces]
    return _report(narration, footage_start, paced.stretches, played,
                   idle_speed=paced.idle_speed, hold=paced.hold)


def _played_report(narration: dict, stretches: list[_Stretch], clips: list[Clip]) -> Pacing:
    """The drift report of a trim or pad edit: its footage plays in source order at 1x, and one
    clip may run across segments (clips that continue each other are merged)."""
    played = [(c.src_start, c.src_end) for c in clips]
    first = stretches[0].start if stretches else 0.0
    last = stretches[-1].end if stretches else 0.0
    # where the segment's first kept frame plays (the video's end if it was cut away)
    start = next((c.out_start + max(0.0, first - c.src_start) / c.speed
                  for c in clips if c.src_end > first + 1e-6), clips[-1].out_end)
    hold = sum(c.hold for c in clips if first < c.src_end <= last + 1e-6)
    return _report(narration, start, stretches, played, idle_speed=1.0, hold=round(hold, 3))


def _report(narration: dict, footage_start: float, stretches: list[_Stretch], played: list,
            *, idle_speed: float, hold: float) -> Pacing:
    action_kinds = (ACTION, TYPING)
    return Pacing(
        segment_id=narration["id"],
        footage_start=round(footage_start, 3),
        narration_start=narration["out_start"],
        drift=round(narration["out_start"] - footage_start, 3),
        action=round(_seconds(stretches, action_kinds), 3),
        action_kept=round(min(_covered(stretches, action_kinds, played),
                              _seconds(stretches, action_kinds)), 3),
        idle=round(_seconds(stretches, (IDLE, SPEECH)), 3),
        idle_kept=round(min(_covered(stretches, (IDLE, SPEECH), played),
                            _seconds(stretches, (IDLE, SPEECH))), 3),
        idle_speed=round(idle_speed, 4),
        hold=hold,
    )


def _placed_voiceover(voiceover: dict, placed: list[dict]) -> dict:
    """The voiceover document with each segment's times moved to where it plays in the video."""
    shift = {n["id"]: n["out_start"] - n["start"] for n in placed}
    segments = []
    for segment in voiceover.get("segments") or []:
        delta = shift.get(str(segment.get("id")), 0.0)
        words = [{**w, "start": float(w["start"]) + delta, "end": float(w["end"]) + delta}
                 for w in segment.get("words") or []]
        segments.append({**segment, "start": float(segment["start"]) + delta,
                         "end": float(segment["end"]) + delta, "words": words})
    return {**voiceover, "segments": segments}


def _fill(spans: list[tuple[str, float, float]], length: float, speed: float) -> list[_Piece]:
    """Play ``spans`` in order at ``speed`` for ``length`` seconds of final time.

    Footage beyond ``length`` is trimmed; if the footage runs out first, its last frame holds.
    """
    pieces: list[_Piece] = []
    needed = length * speed  # source seconds
    for segment_id, a, b in spans:
        if needed <= 1e-9:
            break
        take = min(b - a, needed)
        pieces.append(_Piece(segment_id, a, a + take, speed))
        needed -= take
    if needed > 1e-9:
        pieces[-1] = replace(pieces[-1], hold=needed / speed)
    return pieces


def _absorb_slivers(pieces: list[_Piece], by_segment: bool = False) -> list[_Piece]:
    """Replace footage pieces shorter than ``MIN_PIECE`` by a hold on the piece before them
    (of the same segment, with ``by_segment``).

    A few frames of footage are not worth a cut (and an input in the render).
    """
    result: list[_Piece] = []
    for piece in pieces:
        if (result and piece.src_end - piece.src_start < MIN_PIECE
                and not (by_segment and result[-1].segment_id != piece.segment_id)):
            result[-1] = replace(result[-1], hold=result[-1].hold + piece.out_length)
        else:
            result.append(piece)
    return result


def _merge(pieces: list[_Piece], by_segment: bool = False) -> list[_Piece]:
    """Join pieces that continue each other in the source at the same speed (fewer cuts; only
    pieces of the same segment with ``by_segment``)."""
    result: list[_Piece] = []
    for piece in pieces:
        previous = result[-1] if result else None
        if (
            previous is not None
            and not (by_segment and previous.segment_id != piece.segment_id)
            and previous.hold == 0
            and previous.speed == piece.speed
            and abs(previous.src_end - piece.src_start) < 1e-6
        ):
            result[-1] = replace(previous, src_end=piece.src_end, hold=piece.hold)
        else:
            result.append(piece)
    return result


def _quantize(pieces: list[_Piece], duration: float, source_duration: float) -> list[Clip]:
    """Round the pieces to milliseconds, keeping them tiled over ``[0, duration]``.

    Final-time boundaries are rounded from the exact running total (so rounding never drifts and
    the last clip ends exactly at ``duration``); each clip's source end and hold are then derived
    from its rounded length so that ``out_length = src_length / speed + hold`` within 1 ms.
    """
    clips = []
    exact_position = 0.0
    out_start = 0.0
    for i, piece in enumerate(pieces):
        exact_position += piece.out_length
        out_end = duration if i == len(pieces) - 1 else round(exact_position, 3)
        out_length = out_end - out_start
        src_start = round(piece.src_start, 3)
        play = max(0.0, out_length - piece.hold)
        src_end = min(round(src_start + play * piece.speed, 3), source_duration)
        hold = max(0.0, round(out_length - (src_end - src_start) / piece.speed, 3))
        clips.append(Clip(
            segment_id=piece.segment_id,
            src_start=src_start,
            src_end=src_end,
            speed=piece.speed,
            hold=hold,
            out_start=round(out_start, 3),
            out_end=round(out_end, 3),
        ))
        out_start = out_end
    return clips
