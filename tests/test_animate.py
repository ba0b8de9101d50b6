"""Motion graphics: the edit lays out intro/outro cards and lower thirds, animate draws them with
MoviePy, render plays them inside its one ffmpeg pass — judged on the final video's frames."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dataclasses import replace

from include.core.edl import Edl, ZoomMove
from include.core.errors import FatalError
from include.core.media import ffprobe, picture_end
from include.core.options import Settings
from include.stages import animate, caption_track, edit, metadata, render
from tests.conftest import audio_rms_db
from tests.fakes.edl import clip, edl_document

W, H, FPS = 1280, 720, 30
PRODUCT = "Ledgerly"
# The sample clip's shots (cuts at 4/8/12/16 s); s02 and s04 show the same page.
SEGMENTS = [
    ("s01", 0.0, 4.0, "Dashboard"),
    ("s02", 4.0, 8.0, "Invoices"),
    ("s03", 8.0, 12.0, ""),
    ("s04", 12.0, 16.0, "Invoices"),
    ("s05", 16.0, 20.0, "Reports"),
]
# The Invoices page has text where the bottom-left lower third would go (source pixels): its
# lower third goes to the bottom-right.
INVOICES_TEXT = [[40, 215 + 14 * k, 260, 10] for k in range(4)]
VOICE = [("s01", 0.0, 3.4), ("s02", 3.8, 7.0), ("s04", 7.4, 9.6), ("s05", 10.0, 14.0)]
VOICE_DURATION = 14.0
TEXT = "Here is the page with its numbers."
SHOTS = Path("/work/wt/shots")


def words(start: float, end: float) -> list[dict]:
    tokens = TEXT.split()
    step = (end - start) / len(tokens)
    return [{"word": w, "start": round(start + i * step, 3),
             "end": round(start + (i + 0.8) * step, 3)} for i, w in enumerate(tokens)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample_clip) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("animate_inputs")
    docs = {
        "segments": {"duration": 20.0, "product_name": PRODUCT, "width": 640, "height": 360,
                     "segments": [
            {"id": sid, "start": a, "end": b, "kept": [[a, b]], "screen": {
                "headline": head, "boxes": INVOICES_TEXT if head == "Invoices" else []}}
            for sid, a, b, head in SEGMENTS]},
        "script": {"title": f"{PRODUCT}: Dashboard, Invoices and Reports",
                   "segments": [{"id": sid, "text": TEXT} for sid, _, _ in VOICE]},
        "voiceover": {"duration": VOICE_DURATION, "segments": [
            {"id": sid, "text": TEXT, "start": a, "end": b, "words": words(a, b)}
            for sid, a, b in VOICE]},
        "source": {"duration": 20.0, "width": 640, "height": 360, "fps": 30.0,
                   "has_audio": True},
    }
    paths = {"video": sample_clip[0]}
    for name, doc in docs.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    # A voice that is loud from its first sample: a tone over each narration span.
    parts = "+".join(f"between(t\\,{a}\\,{b})" for _, a, b in VOICE)
    paths["voice"] = folder / "voiceover.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"aevalsrc=0.3*sin(2*PI*440*t)*({parts}):s=22050:d={VOICE_DURATION}",
                    "-c:a", "pcm_s16le", str(paths["voice"])], check=True)
    return paths


def make_video(inputs: dict, folder: Path, **options) -> dict:
    """edit → animate → render, as the DAG runs them."""
    settings = Settings(width=W, height=H, fps=FPS, caption_style=options.pop("style", "bold"),
                        outro_url="ledgerly.app/start", **options)
    edit.run(inputs["segments"], inputs["script"], inputs["voiceover"], inputs["source"],
             settings, folder / "edit")
    made = animate.run(inputs["segments"], inputs["script"], settings, folder / "animate")
    files = {"captions.ass": folder / "edit" / "captions.ass", "voiceover.wav": inputs["voice"],
             **{p.name: p for p in (folder / "animate").iterdir()}}
    rendered = render.run(inputs["video"], folder / "edit" / "edl.json", folder / "render",
                          files=files)
    return {"edl": Edl.load(folder / "edit" / "edl.json"), "animate": made,
            "manifest": json.loads((folder / "animate" / "animate.json").read_text()),
            "final": folder / "render" / "final.mp4", "render": rendered, "folder": folder}


@pytest.fixture(scope="module")
def videos(inputs, tmp_path_factory) -> dict[str, dict]:
    return {"auto": make_video(inputs, tmp_path_factory.mktemp("auto")),
            "off": make_video(inputs, tmp_path_factory.mktemp("off"), animate="off")}


def rgb_frame(path: Path, seconds: float, size: tuple[int, int] = (W, H)) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(size[1], size[0], 3).astype(float)


def save_shot(frame: np.ndarray, name: str) -> None:
    """Keep a screenshot of a card for people to look at (a no-op where the folder is absent)."""
    if SHOTS.is_dir():
        from PIL import Image

        Image.fromarray(frame.astype(np.uint8)).save(SHOTS / f"animate-{name}.png")


def read_lines(frame: np.ndarray) -> list[dict]:
    """The text lines on a whole RGB frame (the TextReader of the analyze stage)."""
    from include.providers.ocr import TesseractReader

    if not TesseractReader.available():
        pytest.skip("Tesseract is not installed")
    return [line.as_dict() for line in TesseractReader().read(frame[..., ::-1].astype(np.uint8))]


def read_text(frame: np.ndarray) -> str:
    """What OCR reads on a card: light type on a dark ground reads best inverted."""
    inverted = np.repeat((255 - frame.mean(axis=2, keepdims=True)), 3, axis=2)
    return " ".join(line["text"] for image in (frame, inverted) for line in read_lines(image))


# ---------------------------------------------------------------- the layout (edit, no media)


def body_edl(duration: float = 65.0, starts=(0.0, 25.0, 45.0), style: str = "karaoke",
             size: tuple[int, int] = (W, H)) -> Edl:
    bounds = list(starts) + [duration]
    clips = [clip(f"s{i + 1:02d}", a, b, a) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    doc = edl_document(clips, narration=[
        {"segment_id": c["segment_id"], "voice_start": c["out_start"],
         "voice_end": c["out_end"] - 1, "out_start": c["out_start"], "out_end": c["out_end"] - 1}
        for c in clips], events=[
        {"start": 1.0, "end": 2.0, "text": "Hello there", "words": [
            {"word": "Hello", "start": 1.0, "end": 1.4}, {"word": "there", "start": 1.5,
                                                         "end": 2.0}]}])
    doc["output"].update(width=size[0], height=size[1])
    doc["captions"]["style"] = style
    return Edl.from_dict(doc)


def analysis(*headlines: str) -> dict:
    return {"product_name": PRODUCT, "segments": [
        {"id": f"s{i + 1:02d}", "screen": {"headline": h}} for i, h in enumerate(headlines)]}


def test_auto_lays_out_intro_lower_thirds_and_outro_and_moves_everything_back():
    body = body_edl()
    edl = animate.lay_out(body, Settings(outro_url="ledgerly.app"), analysis(
        "Dashboard", "Dashboard", "Reports"), {"title": f"{PRODUCT}: Dashboard and Reports"})
    intro, outro = edl.cards
    assert (intro.kind, intro.out_start, intro.out_end) == ("intro", 0.0, animate.INTRO_SECONDS)
    assert (intro.title, intro.kicker) == ("Dashboard and Reports", PRODUCT)
    assert (outro.kind, outro.out_end) == ("outro", edl.output.duration)
    assert (outro.title, outro.subtitle) == ("Thanks for watching", "ledgerly.app")
    assert edl.output.duration == pytest.approx(65.0 + animate.INTRO_SECONDS
                                                + animate.OUTRO_SECONDS)
    shift = animate.INTRO_SECONDS
    assert edl.body_start == shift and edl.body_end == pytest.approx(65.0 + shift)
    assert [c.out_start for c in edl.clips] == [s + shift for s in (0.0, 25.0, 45.0)]
    assert edl.audio.voice_offset == shift
    assert all(n.out_start == n.voice_start + shift for n in edl.narration)
    event = edl.captions.events[0]
    assert (event["start"], event["words"][1]["start"]) == (1.0 + shift, 1.5 + shift)
    # one lower third per new page: s02 repeats the page of s01
    assert [(o.segment_id, o.title) for o in edl.overlays] == [
        ("s01", "Dashboard"), ("s03", "Reports")]
    assert edl.overlays[0].out_start == pytest.approx(shift + animate.LOWER_THIRD_DELAY)
    assert all(o.out_length == pytest.approx(animate.LOWER_THIRD_SECONDS) for o in edl.overlays)
    assert Edl.from_dict(json.loads(json.dumps(edl.as_dict()))) == edl


def test_minimal_is_the_intro_only_and_off_changes_nothing():
    body = body_edl()
    minimal = animate.lay_out(body, Settings(animate="minimal"), analysis("A", "B", "C"), {})
    assert [c.kind for c in minimal.cards] == ["intro"] and minimal.overlays == ()
    assert minimal.body_end == minimal.output.duration == pytest.approx(
        65.0 + animate.INTRO_SECONDS)
    assert minimal.cards[0].title == PRODUCT  # no title: the product is the title
    assert animate.lay_out(body, Settings(animate="off"), analysis("A"), {}) is body


def test_a_product_name_page_or_a_late_page_gets_no_lower_third():
    # the product's own name is not a section; a page whose footage is too short to hold a
    # lower third before the video ends gets none
    body = body_edl(duration=26.0, starts=(0.0, 10.0, 24.5))
    edl = animate.lay_out(body, Settings(), analysis(PRODUCT, "Invoices", "Reports"), {})
    assert [o.title for o in edl.overlays] == ["Invoices"]


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280)])
def test_animate_draws_before_the_edit_every_graphic_the_layout_names(size):
    """animate runs beside voiceover and edit, from the analysis and the script alone: each
    page's lower third once, in the box the layout puts it in. A looped tour (the same pages
    again and again) names each page once, the first time it is shown."""
    heads = ("Dashboard", "Invoices", "", "Reports", PRODUCT) * 3
    settings = Settings(width=size[0], height=size[1], caption_style="karaoke")
    body = body_edl(duration=150.0, starts=tuple(10.0 * i for i in range(len(heads))),
                    size=size)
    script = {"title": "A tour of Ledgerly"}
    edl = animate.lay_out(body, settings, analysis(*heads), script)
    cards, overlays = animate.graphics(settings, analysis(*heads), script)
    assert [o.title for o in overlays] == ["Dashboard", "Invoices", "Reports"]
    assert [c.kind for c in cards] == [c.kind for c in edl.cards] == ["intro", "outro"]
    assert [(c.file, c.title, c.kicker, c.subtitle) for c in cards] == [
        (c.file, c.title, c.kicker, c.subtitle) for c in edl.cards]
    drawn = {o.file: o for o in overlays}
    assert [o.title for o in edl.overlays] == ["Dashboard", "Invoices", "Reports"]
    assert [o.segment_id for o in edl.overlays] == ["s01", "s02", "s04"]
    assert {o.file for o in edl.overlays} == set(drawn)
    for o in edl.overlays:
        d = drawn[o.file]
        assert (o.title, o.kicker, o.x, o.y, o.width, o.height) == (
            d.title, d.kicker, d.x, d.y, d.width, d.height)
        assert o.out_length == pytest.approx(d.out_length, abs=0.002)
    assert animate.graphics(settings.model_copy(update={"animate": "minimal"}),
                            analysis(*heads), script)[1] == []


@pytest.mark.parametrize("style", caption_track.STYLES)
@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (1920, 1080)])
def test_lower_thirds_sit_in_the_frame_above_the_caption_band(style, size):
    edl = animate.lay_out(body_edl(style=style, size=size), Settings(), analysis("A", "B"), {})
    top = caption_track.safe_top(style, *size)
    for o in edl.overlays:
        assert o.y + o.height < top and o.x + o.width <= size[0]
        assert o.x % 2 == 0 and o.y % 2 == 0, "overlay on yuv420p would move it to even"
        assert o.y + o.height > size[1] * 0.55, "a lower third belongs in the lower part"


def test_the_edl_refuses_graphics_that_break_the_timeline():
    doc = animate.lay_out(body_edl(), Settings(), analysis("A", "B"), {}).as_dict()
    bad_intro = json.loads(json.dumps(doc))
    bad_intro["cards"][0]["out_start"] = 0.5
    with pytest.raises(FatalError, match="intro card does not start at 0"):
        Edl.from_dict(bad_intro)
    outside = json.loads(json.dumps(doc))
    outside["overlays"][0]["x"] = W - 10
    with pytest.raises(FatalError, match="outside the frame"):
        Edl.from_dict(outside)
    over_intro = json.loads(json.dumps(doc))
    over_intro["overlays"][0]["out_start"] = 1.0
    with pytest.raises(FatalError, match="outside the footage"):
        Edl.from_dict(over_intro)


def test_chapters_start_at_zero_and_follow_the_pages_in_final_time():
    edl = animate.lay_out(body_edl(), Settings(), analysis("Dashboard", "Invoices", "Reports"),
                          {})
    titles = {"s01": "Dashboard", "s02": "Invoices", "s03": "Reports"}
    chapters = metadata.chapters_for(edl.narration, titles, edl.output.duration)
    assert chapters == [{"start": 0.0, "title": "Dashboard"},
                        {"start": float(math.floor(25.0 + animate.INTRO_SECONDS)),
                         "title": "Invoices"},
                        {"start": float(math.floor(45.0 + animate.INTRO_SECONDS)),
                         "title": "Reports"}]


# ------------------------------------------------- where a lower third goes (clear of the text)

# Text boxes [x, y, w, h] of made-up pages, in the pixels of a 1280x720 source.
TABLE = [[270, 200 + 45 * k, 900, 16] for k in range(11)]  # rows from x 270 to 1170, y 200-666
SIDEBAR = [[24, 90 + 44 * k, 120, 16] for k in range(5)]  # nav items, y 90-282
TOP_BAR = [[20, 18, 120, 20], [1000, 18, 220, 20]]  # logo; help and user at the right
TITLE = [[255, 90, 200, 28], [1000, 95, 240, 20]]  # page title; buttons at the right


def screens(*pages, size=(1280, 720)) -> dict:
    """An analysis whose segments show ``pages``: (headline, text boxes in source pixels)."""
    return {"product_name": PRODUCT, "width": size[0], "height": size[1], "segments": [
        {"id": f"s{i + 1:02d}", "screen": {"headline": h, "boxes": boxes}}
        for i, (h, boxes) in enumerate(pages)]}


def covered(box, text, scale=1.0) -> float:
    """The area of ``text`` (source boxes, shown ``scale`` times as large, unpadded) under
    ``box`` (output pixels)."""
    x, y, w, h = box
    area = 0.0
    for tx, ty, tw, th in text:
        tx, ty, tw, th = (v * scale for v in (tx, ty, tw, th))
        area += max(0.0, min(x + w, tx + tw) - max(x, tx)) * max(0.0, min(y + h, ty + th)
                                                                   - max(y, ty))
    return area


def test_a_lower_third_moves_off_text_at_the_bottom_left():
    """A table under the bottom-left corner: the lower third goes where the page has no text
    (bottom-right of a page whose table ends left of it), still above the caption band; a page
    without text keeps the bottom-left; animate draws exactly what the edit lays out."""
    left_table = [[80, 380 + 40 * k, 600, 16] for k in range(5)]  # x 80-680, y 380-556
    analysis = screens(("Invoices", [*TOP_BAR, *left_table]), ("Reports", []))
    settings = Settings(caption_style="karaoke")
    edl = animate.lay_out(body_edl(), settings, analysis, {})
    invoices, reports = edl.overlays
    standard = animate.lower_third_box(W, H, "karaoke")
    assert (reports.x, reports.y, reports.height) == standard[:2] + standard[3:]
    assert invoices.x > W / 2 and invoices.y == reports.y, "bottom-right"
    assert invoices.x + invoices.width <= W - W * caption_track.SAFE_MARGIN
    assert covered((invoices.x, invoices.y, invoices.width, invoices.height), left_table) == 0
    assert invoices.y + invoices.height < caption_track.safe_top("karaoke", W, H)
    assert covered((reports.x, reports.y, reports.width, reports.height), left_table) > 0
    _, drawn = animate.graphics(settings, analysis, {})
    assert {o.file: (o.x, o.y, o.width, o.height) for o in drawn} == {
        o.file: (o.x, o.y, o.width, o.height) for o in edl.overlays}


def test_a_dense_page_gets_a_small_lower_third_in_its_free_corner_or_none():
    """A table across the page and text in every corner: the full-size lower third covers text
    wherever it goes, the small one fits in the empty sidebar below the nav (the Ledgerly
    tour's Invoices page); a page with text everywhere gets no lower third at all."""
    busy = [*TOP_BAR, *SIDEBAR, *TITLE, *TABLE]
    everywhere = busy + [[24, 300 + 30 * k, 180, 16] for k in range(12)]  # a full sidebar
    analysis = screens(("Invoices", busy), ("Customers", everywhere), ("Reports", []))
    settings = Settings(caption_style="bold")
    edl = animate.lay_out(body_edl(style="bold"), settings, analysis, {})
    assert [o.title for o in edl.overlays] == ["Invoices", "Reports"]
    small, full = edl.overlays
    assert small.height == pytest.approx(full.height * animate.LOWER_THIRD_SMALL, abs=2)
    assert small.x == full.x and small.y + small.height == full.y + full.height  # bottom-left
    assert covered((small.x, small.y, small.width, small.height), busy) == 0
    assert small.x + small.width < 270, "left of the table"
    for corner, scale, box in animate.lower_third_candidates("Invoices", PRODUCT, animate.Frame(
            W, H, "bold", "pad", (W, H))):
        if scale == 1.0:
            assert covered(box, busy) > 0, corner
    _, drawn = animate.graphics(settings, analysis, {})
    assert [o.title for o in drawn] == ["Invoices", "Reports"]
    assert {o.file for o in drawn} == {o.file for o in edl.overlays}


@pytest.mark.parametrize("style", caption_track.STYLES)
@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (1920, 1080)])
def test_no_place_a_lower_third_may_take_meets_the_caption_band(style, size):
    frame = animate.Frame(size[0], size[1], style, "crop" if size[0] < size[1] else "pad",
                          (1280, 720))
    top = caption_track.safe_top(style, *size)
    for headline in ("Invoices", "A much longer headline that needs the widest box of all"):
        for corner, _scale, (x, y, w, h) in animate.lower_third_candidates(headline, PRODUCT,
                                                                             frame):
            assert y + h < top, (corner, y + h, top)
            assert x >= size[0] * caption_track.SAFE_MARGIN - 1
            assert x + w <= size[0] * (1 - caption_track.SAFE_MARGIN)
            assert y >= size[1] * caption_track.SAFE_MARGIN
            assert x % 2 == y % 2 == w % 2 == h % 2 == 0
            assert w <= animate.lower_third_box(*size, style)[2]


def test_the_text_boxes_are_mapped_from_the_source_to_the_output():
    """A 1920x1080 source in a 1280x720 video, and the centre of it in a 9:16 short: the text
    at the source's bottom-left is where the bottom-left lower third would be in the first
    (it moves), outside the short's view in the second (it stays)."""
    text = [[120, 640 + 40 * k, 480, 24] for k in range(5)]  # source x 120-600, y 640-824
    analysis = screens(("Invoices", text), size=(1920, 1080))
    wide = animate.lay_out(body_edl(), Settings(), analysis, {}).overlays[0]
    assert wide.x > 1280 / 2
    assert covered((wide.x, wide.y, wide.width, wide.height), text, scale=1280 / 1920) == 0
    short = Settings(aspect="9:16")
    cards, drawn = animate.graphics(short, analysis, {})
    frame = animate.Frame.of(short, analysis)
    assert frame[:2] == (720, 1280) and frame.framing == "crop"
    assert drawn[0].x < 720 / 2, "the short shows x 656-1264 of the source: no text at its left"


def test_no_lower_third_over_a_camera_move_onto_text_under_it():
    """The edit drops a lower third while the clip zooms onto a region (a dialog's field) that
    would lie under it; the same page without the move keeps it."""
    field = [[250, 380, 400, 60]]  # the field typed in, in a dialog in the middle of the page
    analysis = screens(("New invoice", []))
    analysis["segments"][0]["focus"] = [{"kind": "typing", "start": 1.0, "end": 3.0,
                                         "box": field[0]}]
    body = body_edl(duration=20.0, starts=(0.0,))
    kept = animate.lay_out(body, Settings(), analysis, {})
    assert [o.title for o in kept.overlays] == ["New invoice"]
    # zoomed 2x onto [220, 180, 640, 360]: the field fills the lower left of the picture
    zoomed = replace(body, clips=(replace(body.clips[0], zoom=(
        ZoomMove(1.0, 6.0, (220, 180, 640, 360)),)),))
    assert animate.lay_out(zoomed, Settings(), analysis, {}).overlays == ()
    # a move that is over before the lower third is shown, or only begins to zoom in as it
    # fades out, does not matter
    fading = animate.LOWER_THIRD_DELAY + animate.LOWER_THIRD_SECONDS - animate.LOWER_THIRD_FADE
    for move in (ZoomMove(0.0, 0.2, (220, 180, 640, 360)),  # footage time, before the intro
                 ZoomMove(fading - 0.1, 12.0, (220, 180, 640, 360))):
        other = replace(body, clips=(replace(body.clips[0], zoom=(move,)),))
        assert [o.title for o in animate.lay_out(other, Settings(), analysis, {}).overlays] == [
            "New invoice"], move


def _ink(gray: np.ndarray, box) -> float:
    """The fraction of ``box`` (x, y, w, h) of a grey frame that is ink: thin strokes (text,
    dark on light or light on dark) — a plain panel, a margin or the edge of a card has none."""
    import cv2

    kernel = np.ones((9, 9), np.uint8)
    strokes = np.maximum(cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel),
                         cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel))
    x, y, w, h = box
    return float((strokes[y:y + h, x:x + w] > 60).mean())


def test_on_the_ledgerly_tour_no_lower_third_lies_over_text(product_tour, tmp_path):
    """The generated tour (1280x720, the video's own size) read by the analyze stage's OCR: on
    every page the picture under the lower third, through its first seconds on screen, is
    plain — on the dense Invoices and Customers tables too, where the bottom-left panel of
    before lay over the rows. (The dialog is no page: the page dimmed behind it is barely read
    by OCR, so its lower third may lie over that dimmed text.)"""
    from include.providers.ocr import TesseractReader
    from include.stages import analyze, footage_text

    if not TesseractReader.available():
        pytest.skip("Tesseract is not installed")
    clip_path, truth = product_tour
    analyze.run(clip_path, tmp_path, reader=TesseractReader())
    analysis = json.loads((tmp_path / "segments.json").read_text())
    settings = Settings(width=truth["size"][0], height=truth["size"][1])
    frame = animate.Frame.of(settings, analysis)
    product = analysis["product_name"]
    placed, before = {}, {}
    pages = {page["heading"] for page in truth["pages"]}  # not the dialog: see the README
    for seg in analysis["segments"]:
        head = seg["screen"]["headline"]
        if head not in pages or head in placed:
            continue
        box = animate.lower_third_place(head, product, seg, frame)
        _, _, full = next(animate.lower_third_candidates(head, product, frame))
        grays = [footage_text.grab_frame(clip_path, seg["start"] + dt, *truth["size"])
                 for dt in (0.6, 1.6, 2.6)]
        before[head] = max(_ink(g, full) for g in grays)  # the bottom-left, full size
        placed[head] = box and round(max(_ink(g, box) for g in grays), 4)
        before[head] = round(before[head], 4)
    assert {"Dashboard", "Invoices", "Customers", "Reports"} <= set(placed), placed
    assert before["Invoices"] > 0.02 and before["Customers"] > 0.02, before
    assert all(ink is not None and ink < 0.005 for ink in placed.values()), (placed, before)


# ---------------------------------------------------------------- drawing (animate, MoviePy)


def test_animate_writes_small_clips_and_a_manifest(videos):
    made, edl = videos["auto"], videos["auto"]["edl"]
    folder = made["folder"] / "animate"
    manifest = made["manifest"]
    # drawn from the analysis and the script, before the edit: one lower third per page, named
    # by what it shows — the names the edit's layout uses
    assert [i["file"] for i in manifest["items"]] == [
        "intro.mp4", "outro.mp4", *(o.file for o in edl.overlays)]
    assert all(re.fullmatch(r"lower-third-[0-9a-f]{12}\.mov", o.file) for o in edl.overlays)
    assert [i["text"][-1] for i in manifest["items"][2:]] == ["Dashboard", "Invoices", "Reports"]
    for item in manifest["items"]:
        planned = next(g for g in (*edl.cards, *edl.overlays) if g.file == item["file"])
        assert item["seconds"] == pytest.approx(planned.out_length, abs=0.002)
        if item["alpha"]:
            assert (item["x"], item["y"]) == (planned.x, planned.y)
        probe = ffprobe(folder / item["file"])
        stream = probe["streams"][0]
        # variable-rate (the still part is one frame), exactly as long as planned
        assert float(probe["format"]["duration"]) == pytest.approx(planned.out_length,
                                                                   abs=0.001)
        assert int(stream["nb_frames"]) < round(planned.out_length * FPS)
        assert _played_frames(folder / item["file"]) == round(planned.out_length * FPS)
        assert (stream["width"], stream["height"]) == (item["width"], item["height"])
        assert (stream["codec_name"], stream["pix_fmt"]) == (
            ("qtrle", "argb") if item["alpha"] else ("h264", "yuv420p"))
    # a lower third fades in from nothing and out to nothing, and is opaque in between
    clip_path = folder / edl.overlays[0].file
    last = round(animate.LOWER_THIRD_SECONDS * FPS) - 1
    alpha = [_alpha(clip_path, n) for n in (0, last // 2, last)]
    assert alpha[0].max() <= 40 and alpha[2].max() <= 40 and alpha[1].max() >= 230


def _frames(path: Path, width: int, height: int, channels: int) -> np.ndarray:
    """Every frame of a (variable-rate) clip at the video's rate, (n, height, width, channels)
    uint8: RGBA for 4 channels, else RGB."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"fps={FPS}", "-f", "rawvideo",
         "-pix_fmt", "rgba" if channels == 4 else "rgb24", "-"],
        check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, channels)


def _played_frames(path: Path) -> int:
    """How many frames a (variable-rate) clip plays at the video's rate."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"fps={FPS},scale=4:4", "-f",
         "rawvideo", "-pix_fmt", "gray", "-"], check=True, capture_output=True).stdout
    return len(raw) // 16


def _rgba(path: Path, n: int, width: int, height: int) -> np.ndarray:
    """Frame ``n`` (at the video's rate) of an alpha clip as a (height, width, 4) float array."""
    return _frames(path, width, height, 4)[n].astype(float)


def _alpha(path: Path, n: int) -> np.ndarray:
    """The alpha plane of frame ``n`` (at the video's rate)."""
    path = Path(path)
    probe = ffprobe(path)["streams"][0]
    return _frames(path, probe["width"], probe["height"], 4)[n][..., 3].ravel()


def test_the_still_part_is_stored_once_and_plays_as_drawn(videos):
    """The clips skip the frames of their still span; played at the video's rate, every frame
    is the one MoviePy draws at that time (lossless for the lower thirds)."""
    made = videos["auto"]
    folder, style = made["folder"] / "animate", animate.Style("#2563EB", "")
    o = made["edl"].overlays[0]
    clip = animate._lower_third_clip(o, style)
    played = _frames(folder / o.file, o.width, o.height, 4).astype(int)
    for n in range(len(played)):
        drawn = np.dstack([clip.get_frame(n / FPS),
                           (255 * clip.mask.get_frame(n / FPS)).astype(np.uint8)])
        assert np.abs(played[n] - drawn).max() <= 1, f"lower third frame {n}"
    settled, until = animate._still_span(o)
    stored = int(ffprobe(folder / o.file)["streams"][0]["nb_frames"])
    assert stored <= len(played) - (until - settled) * FPS + 2
    intro = made["edl"].cards[0]
    clip = animate._card_clip(intro, style, W, H)
    last = round(intro.out_length * FPS) - 1
    for n in (0, 10, 31, 32, 40, last):  # H.264 (CRF 16): near, not exact
        played = rgb_frame(folder / intro.file, max(0.0, n - 0.25) / FPS)  # frame n shows
        assert np.abs(played - clip.get_frame(n / FPS)).mean() < 1.5, f"intro frame {n}"


def test_cjk_text_gets_a_font_with_its_glyphs():
    style = animate.Style("#2563EB", "")
    latin, cjk = style.font("Invoices", bold=True), style.font("发票概览", bold=True)
    assert "DejaVu" in latin and "wqy" in cjk.lower()
    ink = animate._text_image("发票概览", cjk, 40, (255, 255, 255))[..., 3]
    assert ink.mean() > 20  # the glyphs are drawn, not empty boxes of a Latin font
    # a CJK lower third draws without error and fits its box
    overlay = animate.Overlay("lower_third", "x.mov", "s01", 0.0, 2.5, 0, 0, 792, 108,
                              title="发票概览 Invoices", kicker=PRODUCT)
    frame = animate._lower_third_clip(overlay, style).get_frame(1.2)
    assert frame.shape == (108, 792, 3)


def test_brand_colour_is_used_and_readable():
    style = animate.Style("#101010", "")  # a near-black brand colour
    assert style.accent == (16, 16, 16)
    ground = animate._luminance(animate.PANEL)
    assert (animate._luminance(style.tint) + 0.05) / (ground + 0.05) >= 4.5


# ---------------------------------------------------------------- the final video (render)


def test_the_video_opens_on_the_intro_card(videos):
    made = videos["auto"]
    intro = made["edl"].cards[0]
    final = rgb_frame(made["final"], 1.8)
    card = rgb_frame(made["folder"] / "animate" / intro.file, 1.8)
    assert np.abs(final - card).mean() < 4, "the first seconds are the intro card"
    save_shot(final, "intro")
    text = read_text(final)
    assert "Dashboard" in text and "Reports" in text, text
    # the kicker (the product, letter-spaced in the brand tint) is drawn above the title
    tint = np.array(animate.Style("#2563EB", "").tint, float)
    near = (np.abs(final - tint).max(axis=2) < 40).nonzero()
    assert near[0].size > 300 and near[0].max() < H / 2 and near[1].min() < W * 0.12


def test_lower_thirds_appear_at_their_times_and_vanish(videos):
    made, plain = videos["auto"], videos["off"]
    shift = made["edl"].body_start
    # laid where the analysis has no text: the Invoices page's at the bottom-right
    assert [(o.title, o.x > W / 2) for o in made["edl"].overlays] == [
        ("Dashboard", False), ("Invoices", True), ("Reports", False)]
    for k, o in enumerate(made["edl"].overlays):
        box = (slice(o.y, o.y + o.height), slice(o.x, o.x + o.width))

        def difference(t: float) -> float:
            # the same footage frame without graphics: the "off" video is shift seconds earlier
            return np.abs(rgb_frame(made["final"], t)[box] - rgb_frame(plain["final"],
                                                                       t - shift)[box]).mean()

        middle = (o.out_start + o.out_end) / 2
        assert difference(o.out_start - 0.15) < 3, f"lower third {k} shows too early"
        assert difference(middle) > 25, f"lower third {k} is not shown at {middle}"
        assert difference(o.out_end + 0.15) < 3, f"lower third {k} does not vanish"
        # the picture there is the lower third's frame laid on the footage by its alpha
        frame = rgb_frame(made["final"], middle)
        rgba = _rgba(made["folder"] / "animate" / o.file, round((middle - o.out_start) * FPS),
                     o.width, o.height)
        alpha = rgba[..., 3:] / 255
        expected = rgba[..., :3] * alpha + rgb_frame(plain["final"], middle - shift)[box] * (
            1 - alpha)
        assert np.abs(frame[box] - expected).mean() < 6, f"lower third {k} is not its clip"
        if k == 0:  # and it reads as its headline, where it was planned
            save_shot(frame, "lower-third")
            found = [line["box"] for line in read_lines(frame) if o.title in line["text"]]
            assert found, f"lower third {k} does not read {o.title}"
            x, y, w, h = found[0]
            assert o.x <= x and x + w <= o.x + o.width and o.y <= y and y + h <= o.y + o.height
    # outside the graphics the footage is the same picture
    assert np.abs(rgb_frame(made["final"], shift + 0.2)
                  - rgb_frame(plain["final"], 0.2)).mean() < 3


def test_the_outro_card_ends_the_video(videos):
    made = videos["auto"]
    outro = made["edl"].cards[-1]
    t = made["edl"].output.duration - 0.2
    final = rgb_frame(made["final"], t)
    card = rgb_frame(made["folder"] / "animate" / outro.file, t - outro.out_start)
    assert np.abs(final - card).mean() < 4
    save_shot(final, "outro")
    text = read_text(final)
    assert "Thanks for watching" in text and "ledgerly.app/start" in text


def test_durations_hold_and_the_voice_starts_after_the_intro(videos):
    made, plain = videos["auto"], videos["off"]
    edl = made["edl"]
    assert edl.output.duration == pytest.approx(
        plain["edl"].output.duration + animate.INTRO_SECONDS + animate.OUTRO_SECONDS, abs=0.002)
    probe = ffprobe(made["final"])
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
    assert round(picture_end(made["final"]) * FPS) == round(edl.output.duration * FPS)
    assert float(audio["duration"]) == pytest.approx(edl.output.duration, abs=0.05)
    first = edl.narration[0]
    assert first.out_start == pytest.approx(animate.INTRO_SECONDS)
    # silent under the intro card (the voice tone starts with its narration), loud right after
    assert audio_rms_db(made["final"], 0.0, first.out_start - 0.05) < -50
    assert audio_rms_db(made["final"], first.out_start + 0.05, first.out_start + 0.5) > -30
    # the voice is where it was relative to the footage: same level a narration later
    assert audio_rms_db(made["final"], first.out_start + 0.2, first.out_start + 1.0) == \
        pytest.approx(audio_rms_db(plain["final"], 0.2, 1.0), abs=1.5)
    assert audio_rms_db(made["final"], edl.body_end + 0.2, edl.output.duration) < -50
    assert made["edl"].captions.events[0]["start"] >= edl.body_start


@pytest.mark.parametrize("style", caption_track.STYLES)
def test_captions_never_overlap_a_lower_third(videos, tmp_path, style):
    """The caption band is measured as libass draws it: the longest caption (every word wide)
    on a black frame, and the real captions of the video while a lower third shows."""
    edl = videos["auto"]["edl"]
    o = edl.overlays[0]
    widest = "W" * 6 + " " + "MMMMM " * 5 + "WWWWW"
    widest = widest[:caption_track.MAX_CHARS]
    events = [{"start": 0.0, "end": 1.0, "text": widest, "words": [
        {"word": w, "start": 0.0, "end": 1.0} for w in widest.split()]}]
    events += [e for e in edl.captions.events if e["start"] < o.out_end and o.out_start < e["end"]]
    ass = tmp_path / "c.ass"
    # event i shown during [2i, 2i + 1] s
    caption_track.write_ass([{**e, "start": 2.0 * i, "end": 2.0 * i + 1.0,
                         "words": [{**w, "start": 2.0 * i, "end": 2.0 * i + 1.0}
                                   for w in e["words"]]} for i, e in enumerate(events)],
                       ass, style, W, H)
    for i in range(len(events)):
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=black:s={W}x{H}:d=60:r=10",
             "-ss", f"{2.0 * i + 0.5:.1f}", "-vf", f"subtitles={ass}:fontsdir=/usr/share/fonts",
             "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            check=True, capture_output=True).stdout
        gray = np.frombuffer(raw, np.uint8).reshape(H, W)
        rows = np.nonzero((gray > 24).any(axis=1))[0]
        assert rows.size, "the caption was drawn"
        assert rows.min() >= o.y + o.height, (style, i, rows.min(), o.y + o.height)


def test_rerunning_animate_alone_changes_the_look_not_the_timing(videos, inputs, tmp_path):
    made = videos["auto"]
    again = animate.run(inputs["segments"], inputs["script"],
                        Settings(width=W, height=H, caption_style="bold", brand_color="#E11D48"),
                        tmp_path)
    manifest = json.loads((tmp_path / "animate.json").read_text())
    assert again["clips"] == len(made["manifest"]["items"])
    assert [(i["file"], i["seconds"], i["x"], i["y"]) for i in manifest["items"]] == [
        (i["file"], i["seconds"], i["x"], i["y"]) for i in made["manifest"]["items"]]
    o = made["edl"].overlays[0]
    old = rgb_frame(made["folder"] / "animate" / o.file, 1.2, (o.width, o.height))
    new = rgb_frame(tmp_path / o.file, 1.2, (o.width, o.height))
    bar = (slice(o.height // 2, o.height // 2 + 1), slice(0, 3))
    assert new[bar].mean(axis=(0, 1)) == pytest.approx((225, 29, 72), abs=12)
    assert old[bar].mean(axis=(0, 1)) == pytest.approx((37, 99, 235), abs=12)


def test_render_refuses_an_edl_whose_graphics_are_missing(videos, inputs, tmp_path):
    made = videos["auto"]
    files = {"captions.ass": made["folder"] / "edit" / "captions.ass",
             "voiceover.wav": inputs["voice"]}
    with pytest.raises(FatalError, match="intro.mp4"):
        render.run(inputs["video"], made["folder"] / "edit" / "edl.json", tmp_path, files=files)
    assert not list(tmp_path.iterdir())
