"""The edit as an OpenTimelineIO timeline, for finishing in an editor: ``edit/timeline.otio``.

:func:`build_timeline` is a pure function of the :class:`~include.core.edl.Edl`:

- track **Picture** (video): one clip per EDL clip, referencing the source file, its
  ``source_range`` starting at ``src_start`` and lasting the clip's played time in the
  timeline; a speed other than 1x is a ``LinearTimeWarp`` (``time_scalar`` = speed, so the media
  span is ``src_start`` … ``src_end``); a hold is a clip of its own on the last frame with a
  ``FreezeFrame``; zoom moves (when the edit planned them) are an ``Effect`` named ``Zoom`` whose
  metadata carries the moves (``{out_start, out_end, box}`` in source pixels). Every clip's
  ``metadata["video_pipeline"]`` is its EDL entry.
- track **Original audio** (when the EDL ducks it): the same spans of the source's sound, holds
  as gaps.
- track **Voiceover**: ``voiceover.wav`` from ``audio.voice_offset``; track **Music** (when the
  run has one): the bed over the whole video.
- **captions** as timeline markers (on the tracks' stack: the marker's range is the caption's,
  its name the text, the word timings in its metadata).

Media references are the file names the EDL and the store use (``source.mp4``,
``voiceover.wav``): relink them to the downloaded artifacts in the editor.

:func:`export` writes the ``.otio`` and, through the OTIO adapter plugins, ``timeline.fcpxml``
(Final Cut Pro X, ``otio-fcpx-xml-adapter``) and ``timeline.xml`` (Final Cut Pro 7 XML, which
Premiere Pro and DaVinci Resolve import; ``otio-fcp-adapter``). An adapter that is not installed
or cannot express the timeline is reported, not fatal: the ``.otio`` is the hand-off. What the
adapters (1.0.0) keep: every clip's source in/out and place, the audio tracks; the FCP 7 XML the
caption markers (sequence markers), the FCPXML them as clip markers (it has no timeline markers).
Neither writes OTIO's time effects: speed and holds are in the ``.otio`` only (the XML clips
have the right place and length; re-apply the speed in the editor).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

from include.core.edl import Edl
from include.core.errors import FatalError

log = logging.getLogger(__name__)

OTIO_FILE = "timeline.otio"
ADAPTER_FILES = {"fcpx_xml": "timeline.fcpxml", "fcp_xml": "timeline.xml"}
META = "video_pipeline"


def _otio():
    try:
        import opentimelineio as otio
    except ImportError:  # pragma: no cover - in the lock
        raise FatalError("the timeline export needs opentimelineio (pip install "
                         "opentimelineio).") from None
    return otio


def _range(otio, start: float, duration: float, rate: float):
    return otio.opentime.TimeRange(otio.opentime.from_seconds(start, rate),
                                   otio.opentime.from_seconds(duration, rate))


def build_timeline(edl: Edl, *, source_name: str = "source.mp4", name: str = "video_pipeline"):
    """The EDL as an ``otio.schema.Timeline`` (see the module docstring)."""
    otio = _otio()
    rate = float(edl.output.fps)
    source_ref = lambda: otio.schema.ExternalReference(  # noqa: E731 - one per clip
        target_url=source_name, available_range=_range(otio, 0.0, edl.source.duration, rate))
    picture = otio.schema.Track(name="Picture", kind=otio.schema.TrackKind.Video)
    original = otio.schema.Track(name="Original audio", kind=otio.schema.TrackKind.Audio)
    frame = 1.0 / rate
    entries = edl.as_dict()["clips"]  # plain JSON, as in edl.json
    cards = {c.kind: c for c in edl.cards}

    def card(kind: str) -> None:  # the animate stage's intro/outro clip, played instead of footage
        c = cards.get(kind)
        if c is None or c.out_length <= 1e-6:
            return
        picture.append(otio.schema.Clip(
            name=kind, source_range=_range(otio, 0.0, c.out_length, rate),
            media_reference=otio.schema.ExternalReference(
                target_url=c.file, available_range=_range(otio, 0.0, c.out_length, rate)),
            metadata={META: {"card": kind, "title": c.title, "subtitle": c.subtitle}}))
        original.append(otio.schema.Gap(source_range=_range(otio, 0.0, c.out_length, rate)))

    card("intro")
    for k, clip in enumerate(edl.clips):
        played = clip.out_length - clip.hold
        entry = entries[k]
        if played > 1e-6:
            item = otio.schema.Clip(
                name=f"{clip.segment_id} #{k + 1}", media_reference=source_ref(),
                source_range=_range(otio, clip.src_start, played, rate),
                metadata={META: entry})
            if abs(clip.speed - 1.0) > 1e-6:
                item.effects.append(otio.schema.LinearTimeWarp(name="Speed",
                                                               time_scalar=clip.speed))
            zoom = list(getattr(clip, "zoom", None) or [])
            if zoom:
                item.effects.append(otio.schema.Effect(
                    name="Zoom", effect_name="Zoom",
                    metadata={META: {"zoom": entry.get("zoom") or []}}))
            picture.append(item)
            original.append(otio.schema.Clip(
                name=f"{clip.segment_id} #{k + 1} sound", media_reference=source_ref(),
                source_range=_range(otio, clip.src_start, played, rate),
                effects=[otio.schema.LinearTimeWarp(name="Speed", time_scalar=clip.speed)]
                if abs(clip.speed - 1.0) > 1e-6 else [], metadata={META: entry}))
        if clip.hold > 1e-6:
            last = max(clip.src_start, clip.src_end - frame)
            picture.append(otio.schema.Clip(
                name=f"{clip.segment_id} #{k + 1} hold", media_reference=source_ref(),
                source_range=_range(otio, last, clip.hold, rate),
                effects=[otio.schema.FreezeFrame(name="Hold")],
                metadata={META: {**entry, "hold_of": k}}))
            original.append(otio.schema.Gap(source_range=_range(otio, 0.0, clip.hold, rate)))

    card("outro")
    graphics = otio.schema.Track(name="Graphics", kind=otio.schema.TrackKind.Video)
    at = 0.0
    for o in sorted(edl.overlays, key=lambda o: o.out_start):  # lower thirds, with alpha
        if o.out_start > at + 1e-6:
            graphics.append(otio.schema.Gap(source_range=_range(otio, 0.0, o.out_start - at, rate)))
        graphics.append(otio.schema.Clip(
            name=f"{o.kind} {o.segment_id}", source_range=_range(otio, 0.0, o.out_length, rate),
            media_reference=otio.schema.ExternalReference(
                target_url=o.file, available_range=_range(otio, 0.0, o.out_length, rate)),
            metadata={META: {"overlay": o.kind, "title": o.title,
                             "box": [o.x, o.y, o.width, o.height]}}))
        at = o.out_end

    captions = []
    for event in edl.captions.events:
        captions.append(otio.schema.Marker(
            name=event["text"], color=otio.schema.MarkerColor.YELLOW,
            marked_range=_range(otio, event["start"], event["end"] - event["start"], rate),
            metadata={META: {"caption": True, "words": list(event["words"])}}))

    duration = edl.output.duration
    voice = otio.schema.Track(name="Voiceover", kind=otio.schema.TrackKind.Audio)
    offset = edl.audio.voice_offset
    if offset > 0:
        voice.append(otio.schema.Gap(source_range=_range(otio, 0.0, offset, rate)))
    voice.append(otio.schema.Clip(
        name="voiceover", source_range=_range(otio, 0.0, max(0.0, duration - offset), rate),
        media_reference=otio.schema.ExternalReference(
            target_url=edl.audio.voiceover,
            available_range=_range(otio, 0.0, max(0.0, duration - offset), rate)),
        metadata={META: {"narration": [asdict(n) for n in edl.narration]}}))

    stack = otio.schema.Stack(name="tracks")
    stack.markers.extend(captions)  # timeline markers: Premiere/FCP 7 XML keeps them
    stack.append(picture)
    if len(graphics):
        stack.append(graphics)
    if edl.audio.original == "duck" and edl.source.has_audio:
        stack.append(original)
    stack.append(voice)
    if edl.audio.music:
        music = otio.schema.Track(name="Music", kind=otio.schema.TrackKind.Audio)
        music.append(otio.schema.Clip(
            name="music", source_range=_range(otio, 0.0, duration, rate),
            media_reference=otio.schema.ExternalReference(
                target_url=edl.audio.music.rsplit("/", 1)[-1],
                available_range=_range(otio, 0.0, duration, rate)),
            metadata={META: {"looped": True, "ducked": True}}))
        stack.append(music)
    timeline = otio.schema.Timeline(name=name, global_start_time=otio.opentime.RationalTime(0, rate))
    timeline.tracks = stack
    timeline.metadata[META] = {"sync_mode": edl.sync_mode, "output": asdict(edl.output),
                               "edl_version": edl.version}
    return timeline


def export(edl: Edl, out_dir: Path, *, source_name: str = "source.mp4",
           name: str = "video_pipeline") -> dict:
    """Write ``timeline.otio`` (and the FCPXML / FCP 7 XML the adapters can make) to
    ``out_dir``; return ``{"files": [...], "adapters": {adapter: "ok" | why not}}``."""
    otio = _otio()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timeline = build_timeline(edl, source_name=source_name, name=name)
    otio.adapters.write_to_file(timeline, str(out_dir / OTIO_FILE), adapter_name="otio_json")
    files, adapters = [OTIO_FILE], {}
    available = {a.name for a in otio.plugins.ActiveManifest().adapters}
    for adapter, file in ADAPTER_FILES.items():
        if adapter not in available:
            adapters[adapter] = "adapter not installed"
            continue
        try:
            otio.adapters.write_to_file(
                _clip_markers(otio, timeline) if adapter == "fcpx_xml" else timeline,
                str(out_dir / file), adapter_name=adapter)
        except Exception as exc:  # noqa: BLE001 - a plugin's own errors; the .otio still stands
            (out_dir / file).unlink(missing_ok=True)
            adapters[adapter] = f"failed: {type(exc).__name__}: {exc}"[:300]
            log.warning("timeline export through %s failed: %s", adapter, exc)
            continue
        files.append(file)
        adapters[adapter] = "ok"
    return {"files": files, "adapters": adapters}


def _clip_markers(otio, timeline):
    """A copy of ``timeline`` whose caption markers sit on the picture clips they start in
    (FCPXML keeps markers on clips only), in each clip's media time."""
    copy = timeline.clone()
    picture = copy.tracks[0]
    for marker in list(copy.tracks.markers):
        start = marker.marked_range.start_time
        for item in picture:
            span = item.range_in_parent()
            if isinstance(item, otio.schema.Clip) and span.start_time <= start < span.end_time_exclusive():
                local = item.source_range.start_time + (start - span.start_time)
                item.markers.append(otio.schema.Marker(
                    name=marker.name, marked_range=otio.opentime.TimeRange(
                        local, marker.marked_range.duration), metadata=marker.metadata))
                break
    return copy
