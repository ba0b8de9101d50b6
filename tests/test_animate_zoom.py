"""Zoom and motion graphics together, end to end on a generated screen recording: analyze (focus
events from the pixels) → edit (camera moves, cards, a lower third) → animate (MoviePy) →
render (one ffmpeg pass), judged on the final video's frames and sound.

The recording (tests/screen_recording.py, 12 s) is rendered small (640x360) to keep this quick;
its one page gets a headline the way the footage-text stage would name it (OCR is tested in
tests/test_footage_text.py), so the edit lays a lower third over it.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from include.core.edl import Edl
from include.core.media import ffprobe, picture_end
from include.core.options import Settings
from include.stages import animate, caption_track, edit, render
from include.stages.focus import iou
from tests.conftest import audio_rms_db
from tests.screen_recording import FPS, H, W

OW, OH = 640, 360
HEADLINE, PRODUCT = "Company profile", "Acme"
VOICE_START, VOICE_END = 0.2, 11.5  # the tone plays over this span of voice time
TEXT = "Type the company name, save the settings and see the toast appear."


@pytest.fixture(scope="module")
def video(screen_recording, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("animate_zoom")
    source, truth = screen_recording["source"], screen_recording["truth"]
    analysis = json.loads(json.dumps(screen_recording["segments"]))  # a copy of our own
    segments_path = folder / "segments.json"
    analysis["product_name"] = PRODUCT
    analysis["segments"][0].setdefault("screen", {})["headline"] = HEADLINE
    segments_path.write_text(json.dumps(analysis))
    words = TEXT.split()
    step = (VOICE_END - VOICE_START) / len(words)
    docs = {
        "script": {"title": f"{PRODUCT}: Settings", "segments": [
            {"id": s["id"], "text": TEXT if k == 0 else ""}
            for k, s in enumerate(analysis["segments"])]},
        "voiceover": {"provider": "espeak", "voice": "en-us", "duration": 12.0, "segments": [
            {"id": analysis["segments"][0]["id"], "text": TEXT, "start": VOICE_START,
             "end": VOICE_END, "timing": "estimated",
             "words": [{"word": w, "start": round(VOICE_START + i * step, 3),
                        "end": round(VOICE_START + (i + 0.8) * step, 3)}
                       for i, w in enumerate(words)]}]},
        "source": {"duration": 12.0, "width": W, "height": H, "fps": FPS, "has_audio": False},
    }
    for name, doc in docs.items():
        (folder / f"{name}.json").write_text(json.dumps(doc))
    voice = folder / "voice.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"aevalsrc=0.3*sin(2*PI*440*t)*between(t\\,{VOICE_START}\\,{VOICE_END})"
                    ":s=22050:d=12", "-c:a", "pcm_s16le", str(voice)], check=True)
    settings = Settings(width=OW, height=OH, sync_mode="pad", zoom="auto", animate="auto",
                        caption_style="bold", dead_air_min_seconds=60,
                        outro_url="acme.example/start")
    work = folder / "edit"
    edit.run(segments_path, folder / "script.json", folder / "voiceover.json",
             folder / "source.json", settings, work)
    animate.run(segments_path, folder / "script.json", settings, folder / "animate")
    files = {"captions.ass": work / "captions.ass", "voiceover.wav": voice,
             **{p.name: p for p in (folder / "animate").iterdir()}}
    render.run(source, work / "edl.json", folder / "render", files=files)
    return {"folder": folder, "source": source, "truth": truth,
            "edl": Edl.load(work / "edl.json"), "final": folder / "render" / "final.mp4",
            "captions": work / "captions.ass", "graphics": folder / "animate"}


def frame(path: Path, seconds: float, size: tuple[int, int] = (OW, OH)) -> np.ndarray:
    """The RGB frame shown at ``seconds`` (scaled to ``size``), float. The render stores a still
    picture once (variable frame rate) and an input seek would skip a frame that started before
    the seek point: the video is played at FPS and the frame picked."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-vf",
         f"fps={FPS},trim=start_frame={math.floor(seconds * FPS + 1e-6)},scale={size[0]}:{size[1]}",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(size[1], size[0], 3).astype(float)


def graphic(path: Path, seconds: float, pix_fmt: str = "rgb24") -> np.ndarray:
    """The frame of a motion-graphics clip shown at ``seconds``. The clips are variable-rate (a
    still part is one long frame), and an input seek (``-ss``) would skip a frame that started
    before the seek point: the clip is played at the video's rate and the frame picked."""
    probe = ffprobe(path)["streams"][0]
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf",
         f"fps={FPS},trim=start_frame={int(seconds * FPS + 1e-6)}", "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(probe["height"], probe["width"], -1).astype(float)


def test_it_opens_on_the_intro_card_then_the_footage(video):
    edl = video["edl"]
    intro = edl.cards[0]
    assert (intro.kind, intro.out_start, intro.out_end) == ("intro", 0.0, animate.INTRO_SECONDS)
    card = video["graphics"] / intro.file
    for t in (0.2, 1.5, intro.out_end - 0.1):
        assert np.abs(frame(video["final"], t) - graphic(card, t)).mean() < 4, t
    # right after the card: the recording's first frames (no zoom while the pointer moves)
    after = frame(video["final"], intro.out_end + 0.2)
    source = frame(video["source"], 0.2)
    band = slice(0, int(OH * 0.6))  # above the lower third and the captions
    assert np.abs(after - source)[band].mean() < 5


def test_the_lower_third_appears_at_its_time_and_vanishes(video):
    edl = video["edl"]
    (o,) = edl.overlays
    assert o.title == HEADLINE and o.out_start == pytest.approx(
        edl.body_start + animate.LOWER_THIRD_DELAY)
    # the panel's left part: dark slate while the lower third shows, the light page otherwise
    panel = (slice(o.y + 2, o.y + o.height - 2), slice(o.x + o.width // 20, o.x + o.width // 4))

    def brightness(t: float) -> float:
        return float(frame(video["final"], t)[panel].mean())

    middle = (o.out_start + o.out_end) / 2
    assert brightness(o.out_start - 0.15) > 170, "the lower third shows too early"
    assert brightness(middle) < 80, "the lower third is not shown"
    assert brightness(o.out_end + 0.15) > 170, "the lower third does not vanish"
    # what shows is the lower third's own frame laid on the footage by its alpha
    rgba = graphic(video["graphics"] / o.file, middle - o.out_start, "rgba")
    box = (slice(o.y, o.y + o.height), slice(o.x, o.x + o.width))
    footage = frame(video["source"], middle - edl.body_start)[box]
    alpha = rgba[..., 3:] / 255
    expected = rgba[..., :3] * alpha + footage * (1 - alpha)
    assert np.abs(frame(video["final"], middle)[box] - expected).mean() < 8


def test_a_zoom_happens_in_the_footage_while_typing(video):
    edl, truth = video["edl"], video["truth"]
    moves = [m for c in edl.clips for m in c.zoom]
    assert moves and all(edl.body_start <= m.out_start and m.out_end <= edl.body_end
                         for m in moves)
    x0, y0, w0, h0 = truth["typing"]["box"]
    field = (x0, y0, x0 + w0, y0 + h0)
    typing = next(m for m in moves
                  if iou((m.box[0], m.box[1], m.box[0] + m.box[2], m.box[1] + m.box[3]),
                         field) > 0)
    t_source = 5.2  # fully zoomed onto the field
    final = frame(video["final"], edl.body_start + t_source)
    source = frame(video["source"], t_source, (W, H))
    x, y, w, h = typing.box
    import cv2

    zoomed = cv2.resize(source[y:y + h, x:x + w], (OW, OH), interpolation=cv2.INTER_AREA)
    whole = cv2.resize(source, (OW, OH), interpolation=cv2.INTER_AREA)
    top = slice(0, int(OH * 0.6))
    assert np.abs(final - zoomed)[top].mean() * 3 < np.abs(final - whole)[top].mean()
    assert np.abs(final - zoomed)[top].mean() < 8


def test_the_outro_card_is_last(video):
    edl = video["edl"]
    outro = edl.cards[-1]
    assert outro.kind == "outro" and outro.out_end == edl.output.duration
    card = video["graphics"] / outro.file
    for t in (outro.out_start + 0.1, edl.output.duration - 0.1):
        assert np.abs(frame(video["final"], t) - graphic(card, t - outro.out_start)).mean() < 4, t
    before = frame(video["final"], outro.out_start - 0.2)
    assert np.abs(before - graphic(card, 1.0)).mean() > 30, "the footage runs up to the outro"


def test_duration_and_sync_hold(video):
    edl = video["edl"]
    assert edl.output.duration == pytest.approx(
        12.0 + animate.INTRO_SECONDS + animate.OUTRO_SECONDS, abs=0.002)
    probe = ffprobe(video["final"])
    stream = {s["codec_type"]: s for s in probe["streams"]}
    assert (stream["video"]["width"], stream["video"]["height"]) == (OW, OH)
    assert round(picture_end(video["final"]) * FPS) == round(edl.output.duration * FPS)
    # the MP4's video track (the sum of its decode times) lasts as long too: with B-frames in
    # the variable-rate encode it read 14.17 s for a 16 s video ending on a still outro
    assert float(stream["video"]["duration"]) == pytest.approx(edl.output.duration, abs=1 / FPS)
    assert float(stream["audio"]["duration"]) == pytest.approx(edl.output.duration, abs=0.05)
    # the voice starts VOICE_START after the first footage frame, to within a frame
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video["final"]), "-vn", "-ac", "1",
                          "-ar", "16000", "-f", "s16le", "-"],
                         check=True, capture_output=True).stdout
    samples = np.abs(np.frombuffer(raw, np.int16).astype(float))
    onset = int(np.argmax(samples > 0.1 * samples.max())) / 16000
    assert onset == pytest.approx(edl.body_start + VOICE_START, abs=1 / FPS)
    assert audio_rms_db(video["final"], 0.0, edl.body_start - 0.05) < -50  # silent under the intro
    assert audio_rms_db(video["final"], edl.body_end + 0.2, edl.output.duration) < -50


def test_captions_never_overlap_the_lower_third(video):
    """The video's own captions file, drawn by libass on black at every time the lower third
    shows, stays below it."""
    edl = video["edl"]
    (o,) = edl.overlays
    shown = [e for e in edl.captions.events if e["start"] < o.out_end and o.out_start < e["end"]]
    assert shown, "a caption is on screen while the lower third shows"
    for k in range(6):
        t = o.out_start + (o.out_end - o.out_start) * (k + 0.5) / 6
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
             f"color=black:s={OW}x{OH}:d={edl.output.duration}:r={FPS}", "-ss", f"{t:.3f}",
             "-vf", f"subtitles={video['captions']}:fontsdir=/usr/share/fonts",
             "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            check=True, capture_output=True).stdout
        gray = np.frombuffer(raw, np.uint8).reshape(OH, OW)
        rows = np.nonzero((gray > 24).any(axis=1))[0]
        if rows.size:
            assert rows.min() >= o.y + o.height, (t, rows.min(), o.y + o.height)
    assert o.y + o.height < caption_track.safe_top(edl.captions.style, OW, OH)
