"""Auto-zoom: focus events from the pixels (analyze), camera moves (edit), zoompan (render)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from include.core.edl import Clip, Edl, ZoomMove
from include.core.errors import FatalError
from include.core.options import Settings
from include.stages import analyze, camera, edit, render
from include.stages.focus import iou
from tests.screen_recording import FPS, H, W


def xyxy(box) -> tuple:
    x, y, w, h = box
    return (x, y, x + w, y + h)


@pytest.fixture(scope="module")
def recording(screen_recording, tmp_path_factory) -> dict:
    """The shared generated recording (tests/conftest.py), with a work folder of this module's."""
    return {**screen_recording, "folder": tmp_path_factory.mktemp("zoom")}


def events_of(recording) -> list[dict]:
    return [e for s in recording["segments"]["segments"] for e in s["focus"]]


@pytest.mark.parametrize("what", ["typing", "dialog", "toast"])
def test_focus_events_are_found_where_they_are(recording, what):
    truth = recording["truth"][what]
    found = [e for e in events_of(recording)
             if e["start"] < truth["end"] and truth["start"] < e["end"]
             and iou(xyxy(e["box"]), xyxy(truth["box"])) >= 0.5]
    assert found, (what, events_of(recording))
    assert abs(found[0]["start"] - truth["start"]) <= 0.4
    assert found[0]["kind"] == what


def test_a_pointer_moving_alone_is_no_focus_event(recording):
    start, end = recording["truth"]["pointer_only"]
    assert [e for e in events_of(recording) if e["start"] < end - 0.1] == []


def test_product_tour_typing_and_toast_are_found(product_tour, tmp_path):
    source, truth = product_tour
    analyze.run(source, tmp_path)
    events = [e for s in json.loads((tmp_path / "segments.json").read_text())["segments"]
              for e in s["focus"]]
    for expected in truth["typing"] + [truth["toast"]]:
        assert any(iou(xyxy(e["box"]), xyxy(expected["box"])) >= 0.5
                   and e["start"] < expected["end"] and expected["start"] < e["end"]
                   for e in events), (expected, events)
    scroll = truth["scroll"]
    assert any(e["kind"] == "scroll" and e["start"] < scroll["end"] for e in events), events


# --------------------------------------------------------------------------- the planner

VIEW = (0, 0, 1920, 1080)


def clip(**kw) -> Clip:
    base = dict(segment_id="s01", src_start=0.0, src_end=10.0, speed=1.0, hold=0.0,
                out_start=0.0, out_end=10.0)
    return Clip(**{**base, **kw})


def test_planner_zooms_on_a_small_change_with_the_output_aspect():
    seg = {"id": "s01", "start": 0, "end": 10, "focus": [
        {"start": 2.0, "end": 4.0, "box": [200, 300, 400, 40], "kind": "typing"}]}
    (planned,) = camera.plan([clip()], [seg], VIEW)
    (move,) = planned.zoom
    x, y, w, h = move.box
    assert abs(w / h - 16 / 9) < 0.01 and w >= 960  # at most 2x
    assert x <= 200 and y <= 300 and x + w >= 600 and y + h >= 340
    assert move.out_start <= 2.0 and move.out_end >= 4.0


def test_planner_never_zooms_on_a_page_or_a_scroll_or_a_big_region():
    seg = {"id": "s01", "start": 0, "end": 10, "focus": [
        {"start": 1.0, "end": 1.2, "box": [0, 0, 1900, 1000], "kind": "page"},
        {"start": 3.0, "end": 6.0, "box": [100, 100, 800, 800], "kind": "scroll"},
        {"start": 7.0, "end": 9.0, "box": [100, 100, 1700, 900], "kind": "dialog"}]}
    (planned,) = camera.plan([clip()], [seg], VIEW)
    assert planned.zoom == ()


def test_planner_never_crops_a_change_happening_beside_the_zoomed_one():
    """A field at the top left and, at the same moment, a menu opening mid-screen that no 2x box
    holds with it (product_tour_45s at 16 s): zooming on the field would cut the menu in half."""
    seg = {"id": "s01", "start": 0, "end": 10, "focus": [
        {"start": 3.0, "end": 3.2, "box": [70, 182, 92, 36], "kind": "toast"},
        {"start": 3.0, "end": 3.2, "box": [750, 298, 440, 280], "kind": "menu"},
        {"start": 3.0, "end": 3.2, "box": [1446, 954, 428, 80], "kind": "toast"}]}
    (planned,) = camera.plan([clip()], [seg], VIEW)
    for move in planned.zoom:
        x, y, w, h = move.box
        for event in seg["focus"]:
            ex, ey, ew, eh = event["box"]
            assert x <= ex and y <= ey and ex + ew <= x + w and ey + eh <= y + h, (move, event)
    lone = {"id": "s01", "start": 0, "end": 10, "focus": seg["focus"][:1]}
    assert camera.plan([clip()], [lone], VIEW)[0].zoom  # alone, the field is zoomed on


def test_planner_keeps_whole_text_lines_and_pans_between_close_events():
    line = {"text": "Customer name Northwind Traders", "box": [150, 300, 700, 40]}
    seg = {"id": "s01", "start": 0, "end": 10, "screen": {"lines": [line]}, "focus": [
        {"start": 1.0, "end": 3.0, "box": [500, 300, 100, 40], "kind": "typing"},
        {"start": 3.5, "end": 5.0, "box": [1400, 800, 300, 60], "kind": "toast"}]}
    (planned,) = camera.plan([clip()], [seg], VIEW)
    first, second = planned.zoom
    x, y, w, h = first.box
    assert x <= 150 and x + w >= 850  # the whole line, not only the typed word
    assert first.out_end == second.out_start  # a pan, no zoom out between
    assert second.box[0] + second.box[2] >= 1700 and second.box[1] + second.box[3] >= 860


def test_zoom_moves_round_trip_and_are_checked():
    moves = (ZoomMove(1.0, 3.0, (0, 0, 960, 540)),)
    doc = {"version": 1, "sync_mode": "pad",
           "output": {"width": 1280, "height": 720, "fps": 30, "duration": 10.0},
           "source": {"duration": 10.0, "has_audio": False, "width": 1920, "height": 1080},
           "clips": [{"segment_id": "s01", "src_start": 0.0, "src_end": 10.0, "speed": 1.0,
                      "hold": 0.0, "out_start": 0.0, "out_end": 10.0,
                      "zoom": [m.as_dict() for m in moves]}]}
    edl = Edl.from_dict(doc)
    assert edl.clips[0].zoom == moves and Edl.from_dict(edl.as_dict()) == edl
    doc["clips"][0]["zoom"][0]["box"] = [1200, 600, 960, 540]  # beyond the picture
    with pytest.raises(FatalError, match="zoom box"):
        Edl.from_dict(doc)
    doc["clips"][0]["zoom"][0] = {"out_start": 9.0, "out_end": 11.0, "box": [0, 0, 960, 540]}
    with pytest.raises(FatalError, match="zoom move"):
        Edl.from_dict(doc)


# --------------------------------------------------------------------------- edit + render


def frame_at(path: Path, seconds: float) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(path), "-frames:v", "1",
         "-vf", f"scale={W}:{H}", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(H, W).astype(np.float32)


def crop_scaled(frame: np.ndarray, box) -> np.ndarray:
    import cv2

    x, y, w, h = box
    return cv2.resize(frame[y:y + h, x:x + w], (W, H), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def rendered(recording) -> dict:
    folder, segments = recording["folder"], recording["segments"]
    text = "Type the company name, save, and see the toast."
    seg = segments["segments"][0]
    docs = {
        "script": {"title": "Settings", "segments": [{"id": seg["id"], "text": text}]},
        "voiceover": {"provider": "espeak", "voice": "en-us", "duration": 12.0, "segments": [
            {"id": seg["id"], "text": text, "start": 0.2, "end": 11.5, "timing": "estimated",
             "words": [{"word": w, "start": 0.2 + i, "end": 0.9 + i}
                       for i, w in enumerate(text.split())]}]},
        "source": {"duration": 12.0, "width": W, "height": H, "fps": FPS, "has_audio": False},
    }
    for name, doc in docs.items():
        (folder / f"{name}.json").write_text(json.dumps(doc))
    voice = folder / "voice.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=f=220:d=12:sample_rate=22050", "-af", "volume=0.3", str(voice)],
                   check=True)
    out = {}
    for zoom in ("auto", "off"):
        settings = Settings(width=W, height=H, sync_mode="pad", zoom=zoom, animate="off", caption_style="clean",
                            dead_air_min_seconds=60)
        work = folder / zoom
        edit.run(recording["segments_path"], folder / "script.json",
                 folder / "voiceover.json", folder / "source.json", settings, work)
        render.run(recording["source"], work / "edl.json", work, files={
            "captions.ass": work / "captions.ass", "voiceover.wav": voice})
        out[zoom] = {"edl": json.loads((work / "edl.json").read_text()),
                     "video": work / "final.mp4"}
    return out


def test_final_frames_during_typing_are_zoomed_onto_the_field(recording, rendered):
    moves = [m for c in rendered["auto"]["edl"]["clips"] for m in c["zoom"]]
    field = xyxy(recording["truth"]["typing"]["box"])
    typing = next(m for m in moves if m["out_start"] <= 4.0 < m["out_end"]
                  and iou(xyxy(m["box"]), field) > 0)
    x, y, w, h = typing["box"]
    assert x <= field[0] and y <= field[1] and x + w >= field[2] and y + h >= field[3]
    t = 5.2  # fully zoomed (eased in by 3.25 s), the text typed so far stays typed
    final = frame_at(rendered["auto"]["video"], t)
    source = frame_at(recording["source"], t)
    top = slice(0, int(H * 0.7))  # above the burned-in captions
    zoomed_error = np.abs(final - crop_scaled(source, typing["box"]))[top].mean()
    whole_error = np.abs(final - source)[top].mean()
    assert zoomed_error < 6 and zoomed_error * 3 < whole_error
    assert rendered["off"]["edl"]["clips"][0]["zoom"] == []


def test_pointer_only_frames_are_not_zoomed(recording, rendered):
    t = 1.5
    final = frame_at(rendered["auto"]["video"], t)
    source = frame_at(recording["source"], t)
    assert np.abs(final - source)[: int(H * 0.7)].mean() < 4


def test_a_clip_that_runs_into_the_next_segment_zooms_on_its_events():
    segments = [{"id": "s01", "start": 0, "end": 5, "focus": []},
                {"id": "s02", "start": 5, "end": 10, "focus": [
                    {"start": 6.0, "end": 8.0, "box": [200, 300, 400, 40], "kind": "typing"}]}]
    (planned,) = camera.plan([clip(segment_id="s01")], segments, VIEW)
    assert len(planned.zoom) == 1 and planned.zoom[0].out_start <= 6.0 < planned.zoom[0].out_end
