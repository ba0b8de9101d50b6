"""The edit as OpenTimelineIO (include/stages/timeline_export.py): the written files, opened with
OTIO and its FCPXML / FCP 7 XML adapters, put every clip where the EDL says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from include.core.edl import (
    AudioPlan,
    CaptionTrack,
    Clip,
    Edl,
    Narration,
    Output,
    Source,
    ZoomMove,
)
from include.core.options import Settings
from include.stages import edit, timeline_export

otio = pytest.importorskip("opentimelineio")

EDL = Edl(
    sync_mode="fit", output=Output(1280, 720, 30, 9.0), source=Source(20.0, True),
    clips=(Clip("s01", 0.0, 2.0, 1.0, 1.0, 0.0, 3.0),  # 2 s played, then a 1 s hold
           Clip("s02", 4.0, 7.0, 1.25, 0.0, 3.0, 5.4),  # 3 s of source in 2.4 s
           Clip("s03", 10.0, 13.6, 1.0, 0.0, 5.4, 9.0,
                zoom=(ZoomMove(6.0, 8.0, (100, 80, 640, 360)),))),
    narration=(Narration("s01", 0.0, 2.6, 0.0, 2.6), Narration("s02", 3.0, 5.0, 3.0, 5.0),
               Narration("s03", 5.4, 8.8, 5.4, 8.8)),
    audio=AudioPlan(original="duck", music="tenants/t/uploads/bed.mp3"),
    captions=CaptionTrack(events=(
        {"start": 0.1, "end": 1.2, "text": "Here is the dashboard",
         "words": [{"word": "Here", "start": 0.1, "end": 0.3}]},
        {"start": 3.5, "end": 4.6, "text": "and the invoices", "words": []})),
)


def seconds(t) -> float:
    return round(t.to_seconds(), 3)


def picture_rows(timeline) -> list[tuple]:
    track = next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video)
    return [(seconds(c.range_in_parent().start_time), seconds(c.range_in_parent().duration),
             seconds(c.source_range.start_time)) for c in track]


def expected_rows(edl: Edl) -> list[tuple]:
    """(out start, length, source in) per picture item: a clip's played part, then its hold."""
    rows = []
    intro = next((c for c in edl.cards if c.kind == "intro"), None)
    outro = next((c for c in edl.cards if c.kind == "outro"), None)
    if intro:
        rows.append((intro.out_start, round(intro.out_length, 3), 0.0))
    for c in edl.clips:
        played = round(c.out_length - c.hold, 3)
        if played > 0:
            rows.append((c.out_start, played, c.src_start))
        if c.hold > 0:
            rows.append((round(c.out_start + played, 3), c.hold, round(c.src_end - 1 / 30, 3)))
    if outro:
        rows.append((outro.out_start, round(outro.out_length, 3), 0.0))
    return rows


def test_otio_file_has_the_edl_clips_speeds_holds_audio_and_captions(tmp_path):
    result = timeline_export.export(EDL, tmp_path, source_name="source.mp4")
    assert result["files"][0] == "timeline.otio"
    timeline = otio.adapters.read_from_file(str(tmp_path / "timeline.otio"))
    assert picture_rows(timeline) == expected_rows(EDL)
    assert seconds(timeline.duration()) == EDL.output.duration
    picture = timeline.tracks[0]
    kinds = {c.name: [type(e).__name__ for e in c.effects] for c in picture}
    assert kinds["s01 #1 hold"] == ["FreezeFrame"] and kinds["s01 #1"] == []
    warp = next(e for e in picture[2].effects if isinstance(e, otio.schema.LinearTimeWarp))
    assert warp.time_scalar == 1.25
    # the media span of a sped-up clip is its EDL source span
    clip = picture[2]
    assert seconds(clip.source_range.start_time) + seconds(clip.source_range.duration) * \
        warp.time_scalar == pytest.approx(EDL.clips[1].src_end, abs=0.04)
    assert clip.media_reference.target_url == "source.mp4"
    assert clip.metadata["video_pipeline"]["segment_id"] == "s02"
    zoom = next(e for e in picture[3].effects if e.name == "Zoom")
    assert [{k: (list(v) if k == "box" else v) for k, v in m.items()}
            for m in zoom.metadata["video_pipeline"]["zoom"]] == [
        {"out_start": 6.0, "out_end": 8.0, "box": [100, 80, 640, 360]}]
    names = [t.name for t in timeline.tracks]
    assert names == ["Picture", "Original audio", "Voiceover", "Music"]
    voice = timeline.tracks[2][0]
    assert voice.media_reference.target_url == "voiceover.wav"
    assert seconds(voice.range_in_parent().duration) == 9.0
    markers = list(timeline.tracks.markers)
    assert [(m.name, seconds(m.marked_range.start_time), seconds(m.marked_range.duration))
            for m in markers] == [("Here is the dashboard", 0.1, 1.1), ("and the invoices", 3.5, 1.1)]
    assert markers[0].metadata["video_pipeline"]["words"][0]["word"] == "Here"


@pytest.mark.parametrize("adapter", ["fcp_xml", "fcpx_xml"])
def test_editor_xml_puts_the_clips_where_the_edl_does(tmp_path, adapter):
    result = timeline_export.export(EDL, tmp_path)
    assert result["adapters"][adapter] == "ok", result
    file = tmp_path / timeline_export.ADAPTER_FILES[adapter]
    timeline = otio.adapters.read_from_file(str(file), adapter_name=adapter)
    assert picture_rows(timeline) == expected_rows(EDL)
    audio = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio]
    assert len(audio) == 3  # original sound, voiceover, music
    if adapter == "fcp_xml":  # sequence markers
        assert [m.name for m in timeline.tracks.markers] == ["Here is the dashboard",
                                                             "and the invoices"]
    else:  # clip markers, in the clip they start in
        picture = next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video)
        assert [m.name for m in picture[0].markers] == ["Here is the dashboard"]
        assert [m.name for m in picture[2].markers] == ["and the invoices"]


def test_a_real_edit_round_trips(tmp_path):
    """edit.run's EDL (holds, speed-ups, trims from the fit planner) exported and read back."""
    docs = {
        "segments": {"duration": 20.0, "segments": [
            {"id": "s01", "start": 0.0, "end": 4.0, "kept": [[0.0, 2.0]]},
            {"id": "s02", "start": 4.0, "end": 8.0, "kept": [[4.0, 5.2], [6.8, 8.0]]},
            {"id": "s04", "start": 12.0, "end": 16.0, "kept": [[12.0, 16.0]]}]},
        "script": {"segments": [{"id": s, "text": "Some words here."} for s in ("s01", "s02", "s04")]},
        "voiceover": {"duration": 8.0, "segments": [
            {"id": "s01", "start": 0.0, "end": 2.6, "words": [{"word": "Some", "start": 0.1, "end": 0.5}]},
            {"id": "s02", "start": 3.0, "end": 5.0, "words": []},
            {"id": "s04", "start": 5.4, "end": 7.4, "words": []}]},
        "source": {"duration": 20.0, "has_audio": False},
    }
    paths = {}
    for name, doc in docs.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    edit.run(paths["segments"], paths["script"], paths["voiceover"], paths["source"],
             Settings(), tmp_path / "edit")
    edl = Edl.load(tmp_path / "edit" / "edl.json")
    timeline_export.export(edl, tmp_path / "edit")
    timeline = otio.adapters.read_from_file(str(Path(tmp_path / "edit" / "timeline.otio")))
    assert picture_rows(timeline) == expected_rows(edl)
    picture = next(iter(timeline.tracks))
    assert edl.cards and picture[0].name == "intro"  # animate=auto: the intro card opens it
    assert picture[0].media_reference.target_url == "intro.mp4"
    assert [t.name for t in timeline.tracks] == ["Picture", "Voiceover"]  # no sound to duck
