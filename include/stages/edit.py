"""Edit stage: lay the kept footage against the voiceover and write ``edl.json`` + ``captions.ass``.

The edit decision list (EDL, format in docs/ARTIFACTS.md) says which source spans play, at which
speed, and how long each clip's last frame is held, in final-time order. Three sync modes:

- ``fit``: the final timeline is the voice timeline. Narration segment *i* owns the slot from its
  voice start to the next segment's voice start (the last slot ends with the voice; the first one
  starts at 0) and fills it with its own segment's kept footage: footage up to 1.25x the slot is
  sped up to fit exactly, longer footage plays at 1.25x and is trimmed, shorter footage plays
  whole and its last frame holds. Segments without narration are dropped.
- ``trim``: all kept footage plays continuously at 1x and is cut where the voice ends (the last
  frame holds if the footage is shorter than the voice).
- ``pad``: all kept footage plays at 1x; if the voice is longer the last frame holds until it ends.

The voice always starts at final time 0, so final time = voice time (``voice_offset`` 0).
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
    Source,
)
from include.core.errors import FatalError
from include.core.files import read_json
from include.core.options import Settings
from include.stages import caption_track

MAX_SPEEDUP = 1.25
MIN_PIECE = 0.1  # seconds; shorter footage pieces become a hold on the piece before them
VOICE_OFFSET = 0.0


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

    if settings.sync_mode == "fit":
        duration = voice_duration
        pieces = _plan_fit(narration, kept, duration)
    else:
        all_spans = [(sid, a, b) for sid, spans in kept.items() for a, b in spans]
        footage = round(sum(b - a for _, a, b in all_spans), 3)
        duration = voice_duration if settings.sync_mode == "trim" else max(footage, voice_duration)
        pieces = _fill(all_spans, duration, speed=1.0)
    clips = _quantize(_merge(_absorb_slivers(pieces)), duration, source_duration)

    events = caption_track.build_events(voiceover, duration, VOICE_OFFSET)
    width, height = settings.output_size
    has_audio = bool(source.get("has_audio"))
    edl = Edl(
        sync_mode=settings.sync_mode,
        output=Output(width=width, height=height, fps=settings.fps, duration=duration,
                      aspect=settings.aspect,
                      framing="crop" if settings.aspect == "9:16" else "pad"),
        source=Source(duration=source_duration, has_audio=has_audio),
        clips=tuple(clips),
        narration=tuple(
            Narration(
                segment_id=n["id"],
                voice_start=n["start"],
                voice_end=n["end"],
                out_start=round(min(n["start"] + VOICE_OFFSET, duration), 3),
                out_end=round(min(n["end"] + VOICE_OFFSET, duration), 3),
            )
            for n in narration
        ),
        audio=AudioPlan(voiceover="voiceover.wav", voice_offset=VOICE_OFFSET,
                        original=settings.original_audio if has_audio else "drop",
                        music=settings.music),
        captions=CaptionTrack(file="captions.ass", style=settings.caption_style,
                              events=tuple(events)),
    )
    edl.check()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    caption_track.write_ass(events, out_dir / edl.captions.file, settings.caption_style, width, height)
    edl.write(out_dir / "edl.json")
    return {"duration": duration, "clips": len(clips), "sync_mode": settings.sync_mode}


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


def _plan_fit(narration: list[dict], kept: dict, duration: float) -> list[_Piece]:
    """Fill each narration slot with that segment's footage (speed-up, trim or hold)."""
    pieces: list[_Piece] = []
    for i, segment in enumerate(narration):
        slot_start = 0.0 if i == 0 else segment["start"]
        slot_end = narration[i + 1]["start"] if i + 1 < len(narration) else duration
        slot = slot_end - slot_start
        if slot <= 0:
            continue
        spans = [(segment["id"], a, b) for a, b in kept[segment["id"]]]
        footage = sum(b - a for _, a, b in spans)
        # Fit exactly with a speed-up of at most 1.25x (rounded down so it never needs more
        # footage than there is); longer footage plays at 1.25x and is trimmed.
        speed = min(MAX_SPEEDUP, math.floor(footage / slot * 1e4) / 1e4) if footage > slot else 1.0
        pieces += _fill(spans, slot, speed)
    return pieces


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


def _absorb_slivers(pieces: list[_Piece]) -> list[_Piece]:
    """Replace footage pieces shorter than ``MIN_PIECE`` by a hold on the piece before them.

    A few frames of footage are not worth a cut (and an input in the render).
    """
    result: list[_Piece] = []
    for piece in pieces:
        if result and piece.src_end - piece.src_start < MIN_PIECE:
            result[-1] = replace(result[-1], hold=result[-1].hold + piece.out_length)
        else:
            result.append(piece)
    return result


def _merge(pieces: list[_Piece]) -> list[_Piece]:
    """Join pieces that continue each other in the source at the same speed (fewer cuts)."""
    result: list[_Piece] = []
    for piece in pieces:
        previous = result[-1] if result else None
        if (
            previous is not None
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
