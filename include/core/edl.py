"""The edit decision list: what the edit stage decided and every consumer reads.

``edit`` builds an :class:`Edl` and writes ``edl.json`` with :meth:`Edl.as_dict`; render,
thumbnail, the captions sidecar and metadata load it with :meth:`Edl.load`, which checks the
document's shape (a malformed file is a ``FatalError`` naming the edit stage) and its invariants
(:meth:`Edl.check`: clips tile the output, speeds and holds add up, spans lie inside the source,
narration and captions inside the video). The format is described in docs/ARTIFACTS.md.

Files the EDL names (``captions.file``, ``audio.voiceover``, ``audio.music``) are names, not
paths: whoever runs a consumer hands it the matching local files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from include.core.errors import FatalError
from include.core.files import read_json, write_json

VERSION = 1
TOLERANCE = 0.001  # seconds; EDL times are rounded to milliseconds


@dataclass(frozen=True)
class ZoomMove:
    """A camera move: final time ``[out_start, out_end)`` shows the source region ``box``
    (``[x, y, w, h]`` in source pixels, the aspect of the output's view), eased in from the full
    view (or panned from the move just before) and out again (or on to the move just after)."""

    out_start: float
    out_end: float
    box: tuple[int, int, int, int]

    def as_dict(self) -> dict:
        return {"out_start": self.out_start, "out_end": self.out_end, "box": list(self.box)}

    @classmethod
    def from_dict(cls, data: dict) -> "ZoomMove":
        box = tuple(int(v) for v in data["box"])
        if len(box) != 4:
            raise ValueError("zoom box")
        return cls(float(data["out_start"]), float(data["out_end"]), box)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Clip:
    """Source ``[src_start, src_end)`` played at ``speed``, its last frame held ``hold`` s,
    filling final time ``[out_start, out_end)``; ``zoom`` are its camera moves. ``frozen`` are
    source sub-spans ``(start, end)`` inside ``[src_start, src_end]``, in order, in which the
    picture does not change (analyze's ``frozen_spans``, a margin inside): the render may show
    each as one held frame instead of decoding it."""

    segment_id: str
    src_start: float
    src_end: float
    speed: float
    hold: float
    out_start: float
    out_end: float
    zoom: tuple[ZoomMove, ...] = ()
    frozen: tuple[tuple[float, float], ...] = ()

    @property
    def out_length(self) -> float:
        return self.out_end - self.out_start

    def out_time(self, t: float) -> float:
        """The final time at which source time ``t`` (clamped to the clip's span) is shown."""
        return self.out_start + (min(max(t, self.src_start), self.src_end) - self.src_start) / self.speed


@dataclass(frozen=True)
class Narration:
    """Where segment ``segment_id``'s narration plays, in voice time and in final time."""

    segment_id: str
    voice_start: float
    voice_end: float
    out_start: float
    out_end: float


@dataclass(frozen=True)
class Pacing:
    """How one narrated segment's footage and narration line up in the final video (the drift
    report).

    ``footage_start`` is where the segment's first clip starts in final time, ``narration_start``
    where its narration starts; ``drift`` is ``narration_start - footage_start`` (positive: the
    voice comes late). ``action`` is how many source seconds of the segment edit counted as
    action (picture changes and the reading time after them, focus events), ``action_kept`` how
    many of them play in the final video (at any speed); ``idle`` and ``idle_kept`` the same for
    the rest of its kept footage, ``idle_speed`` the fastest speed an idle stretch plays at and
    ``hold`` the seconds its last frame is held for a longer narration.
    """

    segment_id: str
    footage_start: float
    narration_start: float
    drift: float
    action: float
    action_kept: float
    idle: float = 0.0
    idle_kept: float = 0.0
    idle_speed: float = 1.0
    hold: float = 0.0


@dataclass(frozen=True)
class Output:
    width: int
    height: int
    fps: int
    duration: float
    aspect: str = "16:9"
    framing: str = "pad"  # pad: letterbox the whole picture; crop: fill the frame (9:16)


@dataclass(frozen=True)
class Source:
    duration: float
    has_audio: bool
    width: int = 0  # pixels (0: not recorded); zoom boxes lie inside
    height: int = 0


@dataclass(frozen=True)
class AudioPlan:
    voiceover: str = "voiceover.wav"
    voice_offset: float = 0.0
    original: str = "drop"  # drop | duck: the source's own sound under the voice
    music: str = ""  # the music bed the run asked for ("" = none)


@dataclass(frozen=True)
class CaptionTrack:
    file: str = "captions.ass"
    style: str = "karaoke"
    # {"start", "end", "text", "words": [{"word", "start", "end"}]}, "top": True when the caption
    # stands at the top of the picture
    events: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Card:
    """A full-frame motion-graphics clip (``kind`` intro or outro) played instead of footage in
    final time ``[out_start, out_end)``: the intro before the first clip, the outro after the
    last. The animate stage draws ``file`` from ``title``/``subtitle``/``kicker``."""

    kind: str
    file: str
    out_start: float
    out_end: float
    title: str = ""
    subtitle: str = ""
    kicker: str = ""

    @property
    def out_length(self) -> float:
        return self.out_end - self.out_start


@dataclass(frozen=True)
class Overlay:
    """A clip with alpha (``kind`` lower_third) laid over the footage at output pixel
    ``(x, y)``, ``width`` x ``height``, during final time ``[out_start, out_end)``."""

    kind: str
    file: str
    segment_id: str
    out_start: float
    out_end: float
    x: int
    y: int
    width: int
    height: int
    title: str = ""
    kicker: str = ""

    @property
    def out_length(self) -> float:
        return self.out_end - self.out_start


@dataclass(frozen=True)
class Edl:
    sync_mode: str
    output: Output
    source: Source
    clips: tuple[Clip, ...]
    narration: tuple[Narration, ...]
    audio: AudioPlan = field(default_factory=AudioPlan)
    captions: CaptionTrack = field(default_factory=CaptionTrack)
    pacing: tuple[Pacing, ...] = ()
    cards: tuple[Card, ...] = ()  # intro/outro: the clips tile [body_start, body_end] between
    overlays: tuple[Overlay, ...] = ()
    version: int = VERSION

    @property
    def body_start(self) -> float:
        """Where the footage starts in final time: the end of the intro card (0 without one)."""
        return max((c.out_end for c in self.cards if c.kind == "intro"), default=0.0)

    @property
    def body_end(self) -> float:
        """Where the footage ends: the start of the outro card (the duration without one)."""
        return min((c.out_start for c in self.cards if c.kind == "outro"),
                   default=self.output.duration)

    def graphics_files(self) -> list[str]:
        """The names of the animate stage's clips this EDL plays, in final-time order."""
        return [g.file for g in sorted((*self.cards, *self.overlays), key=lambda g: g.out_start)]

    # ---- (de)serialisation

    def as_dict(self) -> dict[str, Any]:
        """The ``edl.json`` document (keys in the documented order)."""
        return {
            "version": self.version,
            "sync_mode": self.sync_mode,
            "output": _plain(self.output),
            "source": _plain(self.source),
            "clips": [_clip_dict(c) for c in self.clips],
            "narration": [_plain(n) for n in self.narration],
            "audio": _plain(self.audio),
            "captions": {"file": self.captions.file, "style": self.captions.style,
                         "events": list(self.captions.events)},
            "pacing": [_plain(p) for p in self.pacing],
            "cards": [_plain(c) for c in self.cards],
            "overlays": [_plain(o) for o in self.overlays],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Edl":
        """Parse and check an ``edl.json`` document; anything wrong is a ``FatalError``."""
        try:
            captions = data.get("captions") or {}
            edl = cls(
                version=int(data.get("version", VERSION)),
                sync_mode=str(data["sync_mode"]),
                output=_build(Output, data["output"]),
                source=_build(Source, data["source"]),
                clips=tuple(_clip(c) for c in data["clips"]),
                narration=tuple(_build(Narration, n) for n in data.get("narration") or []),
                audio=_build(AudioPlan, data.get("audio") or {}),
                captions=CaptionTrack(
                    file=str(captions.get("file", "captions.ass")),
                    style=str(captions.get("style", "karaoke")),
                    events=tuple(_event(e) for e in captions.get("events") or []),
                ),
                pacing=tuple(_build(Pacing, p) for p in data.get("pacing") or []),
                cards=tuple(_build(Card, c) for c in data.get("cards") or []),
                overlays=tuple(_build(Overlay, o) for o in data.get("overlays") or []),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FatalError(
                f"edl.json is not a valid edit decision list (bad or missing {exc}); "
                "re-run the edit stage."
            ) from None
        if edl.version != VERSION:
            raise FatalError(f"edl.json has version {edl.version}, this worker reads {VERSION}; "
                             "re-run the edit stage.")
        edl.check()
        return edl

    @classmethod
    def load(cls, path: Path) -> "Edl":
        return cls.from_dict(read_json(path, "edl.json"))

    def write(self, path: Path) -> Path:
        self.check()
        return write_json(path, self.as_dict())

    # ---- invariants

    def check(self) -> None:
        """Raise ``FatalError`` if the EDL breaks an invariant.

        Clips tile ``[body_start, body_end]`` (``[0, duration]`` without an intro or outro card)
        without gaps or overlaps, each clip's length is
        ``(src_end - src_start) / speed + hold``, source spans lie inside the source, narration
        and caption events lie inside the video and the events are ordered and non-overlapping;
        the intro card starts at 0, the outro card ends the video, overlays lie inside the
        footage and the frame and do not overlap each other.
        """
        duration = self.output.duration
        _require(duration > 0 and self.clips, "the EDL has no clips or a zero duration")
        _require(self.output.width > 0 and self.output.height > 0 and self.output.fps > 0,
                 "the output size or frame rate is not positive")
        self._check_graphics()
        position = self.body_start
        for i, clip in enumerate(self.clips):
            _require(abs(clip.out_start - position) <= TOLERANCE,
                     f"clip {i} starts at {clip.out_start} instead of {position}")
            _require(0.0 <= clip.src_start < clip.src_end <= self.source.duration + TOLERANCE,
                     f"clip {i} source span is outside [0, {self.source.duration}]")
            _require(clip.speed > 0 and clip.hold >= 0, f"clip {i} has a bad speed or hold")
            expected = (clip.src_end - clip.src_start) / clip.speed + clip.hold
            _require(abs(clip.out_length - expected) <= TOLERANCE + 1e-9,
                     f"clip {i} lasts {clip.out_length:.3f} s, expected {expected:.3f} s")
            previous_end = clip.out_start
            for move in clip.zoom:
                x, y, w, h = move.box
                _require(previous_end - TOLERANCE <= move.out_start < move.out_end
                         <= clip.out_end + TOLERANCE,
                         f"clip {i} has a zoom move outside the clip or out of order")
                _require(w > 0 and h > 0 and x >= 0 and y >= 0 and (
                    not self.source.width or (x + w <= self.source.width
                                              and y + h <= self.source.height)),
                         f"clip {i} has a zoom box outside the source picture")
                previous_end = move.out_end
            previous_end = clip.src_start
            for a, b in clip.frozen:
                _require(previous_end - TOLERANCE <= a < b <= clip.src_end + TOLERANCE,
                         f"clip {i} has a frozen span outside its source span or out of order")
                previous_end = b
            position = clip.out_end
        _require(abs(position - self.body_end) <= TOLERANCE,
                 f"clips end at {position} instead of {self.body_end}")
        previous_end = 0.0
        for n in self.narration:
            _require(0.0 <= n.out_start <= n.out_end <= duration,
                     f"narration {n.segment_id} is outside the video")
            _require(n.out_start >= previous_end - TOLERANCE,
                     f"narration {n.segment_id} overlaps the narration before it")
            _require(n.out_end - n.out_start <= n.voice_end - n.voice_start + TOLERANCE,
                     f"narration {n.segment_id} lasts longer in the video than in the voice")
            previous_end = n.out_end
        for p in self.pacing:
            _require(abs(p.drift - (p.narration_start - p.footage_start)) <= TOLERANCE,
                     f"pacing of {p.segment_id}: drift is not narration_start - footage_start")
            _require(0.0 <= p.action_kept <= p.action + TOLERANCE
                     and 0.0 <= p.idle_kept <= p.idle + TOLERANCE and p.hold >= 0,
                     f"pacing of {p.segment_id} keeps more than there is")
        previous_end = 0.0
        for event in self.captions.events:
            _require(previous_end <= event["start"] < event["end"] <= duration,
                     f"caption event at {event['start']} overlaps or is outside the video")
            previous_end = event["end"]


    def _check_graphics(self) -> None:
        duration, out = self.output.duration, self.output
        kinds = [c.kind for c in self.cards]
        _require(set(kinds) <= {"intro", "outro"} and len(set(kinds)) == len(kinds),
                 "cards must be at most one intro and one outro")
        for card in self.cards:
            _require(card.file and card.out_length > 0, f"the {card.kind} card is empty")
            if card.kind == "intro":
                _require(abs(card.out_start) <= TOLERANCE, "the intro card does not start at 0")
            else:
                _require(abs(card.out_end - duration) <= TOLERANCE,
                         "the outro card does not end the video")
        _require(self.body_start < self.body_end, "the cards leave no room for the footage")
        previous_end = self.body_start
        for i, o in enumerate(self.overlays):
            _require(o.kind == "lower_third" and o.file, f"overlay {i} is not a lower third")
            _require(previous_end - TOLERANCE <= o.out_start < o.out_end
                     <= self.body_end + TOLERANCE,
                     f"overlay {i} overlaps another or is outside the footage")
            _require(0 <= o.x and 0 <= o.y and o.width > 0 and o.height > 0
                     and o.x + o.width <= out.width and o.y + o.height <= out.height,
                     f"overlay {i} is outside the frame")
            previous_end = o.out_end


def _require(condition: object, message: str) -> None:
    if not condition:
        raise FatalError(f"edl.json breaks an invariant: {message}; re-run the edit stage.")


def _plain(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _clip_dict(clip: Clip) -> dict:
    out = _plain(clip)
    out["zoom"] = [move.as_dict() for move in clip.zoom]
    out["frozen"] = [[a, b] for a, b in clip.frozen]
    return out


def _clip(data: dict) -> Clip:
    clip = _build(Clip, {k: v for k, v in data.items() if k not in ("zoom", "frozen")})
    moves = data.get("zoom") or []
    frozen = data.get("frozen") or []  # absent before frozen spans were recorded
    if not isinstance(moves, list):
        raise TypeError("zoom list")
    if not isinstance(frozen, list) or any(len(span) != 2 for span in frozen):
        raise TypeError("frozen list")
    return replace(clip, zoom=tuple(ZoomMove.from_dict(m) for m in moves),
                   frozen=tuple((float(a), float(b)) for a, b in frozen))


def _build(cls, data: dict):
    """``cls`` from the document's mapping, each field converted to its declared type."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__.lower()} block")
    kwargs = {}
    for f in fields(cls):
        if f.name in data:
            convert = {"float": float, "int": int, "str": str, "bool": bool}.get(str(f.type))
            kwargs[f.name] = convert(data[f.name]) if convert else data[f.name]
    return cls(**kwargs)


def _event(event: dict) -> dict:
    start, end = float(event["start"]), float(event["end"])
    words = [{"word": str(w["word"]), "start": float(w["start"]), "end": float(w["end"])}
             for w in event.get("words") or []]
    out = {"start": start, "end": end, "text": str(event["text"]), "words": words}
    if event.get("top"):  # shown at the top of the picture (clear of a toast, see edit)
        out["top"] = True
    return out
