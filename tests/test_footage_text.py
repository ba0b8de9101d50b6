"""Reading the screen during analyze's one decode pass (include/stages/footage_text.py).

A generated screen recording with known text: a report page with a moving pointer, the same page
with a toast, then another page. The frames read from the decode pass must give the same text as
frames fetched by seeking (the way it was done before), a screen shown for long must be read
once, a pointer must not cause reads, and a consumer of the pass that fails must fail the stage.
"""

from __future__ import annotations

import copy
import subprocess
import threading

import numpy as np
import pytest

from include.core import media
from include.providers.ocr import TesseractReader
from include.stages import analyze, footage_text
from tests.test_ocr import ui_frame

SIZE = (1280, 720)
FPS = 10


@pytest.fixture(scope="module")
def screen_clip(tmp_path_factory):
    """9 s at 10 fps: "Revenue by region" with a moving pointer (0-3 s), the same page with a
    "Report exported" toast (3-5 s), then "Customer list" (5-9 s)."""
    report = ui_frame("Revenue by region", size=SIZE)
    toast = ui_frame("Revenue by region", toast="Report exported", size=SIZE)
    customers = ui_frame("Customer list", table=False, size=SIZE,
                         body="Every customer who paid an invoice this year.")
    path = tmp_path_factory.mktemp("screens") / "screens.mp4"
    proc = subprocess.Popen(
        [media.FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
         "-s", f"{SIZE[0]}x{SIZE[1]}", "-r", str(FPS), "-i", "-", "-c:v", "libx264",
         "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)],
        stdin=subprocess.PIPE)
    for i in range(9 * FPS):
        if i < 3 * FPS:
            frame = report.copy()
            x, y = 700 + 8 * i, 500 - 3 * i  # a pointer-sized dark arrow gliding over the page
            frame[y:y + 16, x:x + 10] = 20
        else:
            frame = toast if i < 5 * FPS else customers
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return path


@pytest.fixture(scope="module")
def reader():
    return TesseractReader()


@pytest.fixture(scope="module")
def analyzed(screen_clip, reader, tmp_path_factory):
    out = tmp_path_factory.mktemp("analyzed")
    result = analyze.run(screen_clip, out, reader=reader)
    return result, analyze_doc(out)


def analyze_doc(out):
    import json

    return json.loads((out / "segments.json").read_text())


def test_each_screen_is_read_once_and_the_pointer_causes_no_read(analyzed):
    result, doc = analyzed
    assert result["reads"] == 3  # the page, the page with its toast, the other page
    heads = [seg["screen"]["headline"] for seg in doc["segments"]]
    assert heads[0] == "Revenue by region" and heads[-1] == "Customer list"


def test_text_from_the_decode_pass_is_the_text_of_a_seeked_frame(analyzed, screen_clip, reader):
    """Reading the frames a seek gives at each segment's reading times (as analyze did before it
    read from its decode pass) yields the same screens."""
    _, doc = analyzed
    segments = copy.deepcopy(doc["segments"])
    reads = []
    for seg in segments:
        for t in footage_text._read_times(seg):
            frame = footage_text.grab_frame(screen_clip, t, *SIZE)
            reads.append(footage_text.Read(t, t, [line.as_dict() for line in reader.read(frame)]))
    reads.sort(key=lambda r: r.time)
    footage = footage_text.read_screens(segments, reads, SIZE)
    assert footage["product_name"] == doc["product_name"]
    for ours, seeked in zip(doc["segments"], segments):
        assert ours["screen"]["headline"] == seeked["screen"]["headline"]
        assert [line["text"] for line in ours["screen"]["lines"]] == \
            [line["text"] for line in seeked["screen"]["lines"]]
        assert ours["screen"]["new"] == seeked["screen"]["new"]


class _CountingReader:
    """A fake TextReader: one line per call, naming the call."""

    def __init__(self):
        self.calls = 0
        self.lock = threading.Lock()

    def read(self, image):
        with self.lock:
            self.calls += 1
            n = self.calls
        return [_Line(f"read {n}")]


class _Line:
    def __init__(self, text):
        self.text = text

    def as_dict(self):
        return {"text": self.text, "box": [10, 10, 100, 20], "height": 20.0, "conf": 90.0}


def _feed(screens, frames):
    for index, frame in enumerate(frames):
        screens.add(frame[None], index)
    return screens.finish()


def test_a_screen_that_keeps_changing_is_read_less_and_less_often():
    fake = _CountingReader()
    screens = footage_text.ScreenReader(fake, (640, 360))
    rng = np.random.default_rng(1)
    still = np.full((360, 640), 240, np.uint8)
    moving = [rng.integers(0, 255, (360, 640), dtype=np.uint8) for _ in range(40)]  # 20 s
    reads = _feed(screens, [still, still, *moving, still, still])
    screens.close()
    # the still start; then 1, 2, 4 and 8 s into the change (each wait doubles, up to 8 s); the
    # still end once it has settled, shown since 21 s (a jump out of the noise: a new page)
    assert [(r.since, r.time) for r in reads] == [
        (0.0, 0.5), (1.0, 2.0), (2.5, 4.5), (5.0, 9.0), (9.5, 17.5), (21.0, 21.5)]
    assert fake.calls == len(reads)


def test_a_new_page_on_a_ticking_screen_is_read_after_the_first_wait():
    """A job monitor whose clock and terminal change a little every frame (it never settles)
    and whose slide changes every 7 s by a few per cent of the picture (green to blue panels
    look alike in grey): each slide is read a second after it appears, not at the end of the
    ticking screen's 8 s wait (the shared recording's slides landed in the wrong segments)."""
    fake = _CountingReader()
    screens = footage_text.ScreenReader(fake, (640, 360))
    rng = np.random.default_rng(3)
    frames = []
    for k in range(56):  # 28 s at 2 frames a second
        frame = np.full((360, 640), 200, np.uint8)
        slide = k // 14  # a new slide at 7, 14 and 21 s
        frame[40:200, 40 + 40 * slide:200 + 40 * slide] = 60  # its title: 6 % of the picture
        frame[300:340, :] = rng.integers(0, 255, (40, 640), dtype=np.uint8)[:, :] * (
            rng.random((40, 640)) < 0.3)  # the ticking terminal line: ~1 % changes a frame
        frames.append(frame)
    reads = _feed(screens, frames)
    screens.close()
    for change in (7.0, 14.0, 21.0):
        assert any(r.since == change and r.time <= change + 1.0 for r in reads), (
            change, [(r.since, r.time) for r in reads])


def test_the_read_for_a_time_is_the_screen_shown_then():
    reads = [footage_text.Read(0.5, 0.0, []), footage_text.Read(8.5, 8.0, []),
             footage_text.Read(31.5, 31.0, [])]
    segment = {"start": 8.0, "end": 21.0}
    assert footage_text._read_at(reads, 8.2, segment) is reads[1]  # the new screen from its cut
    assert footage_text._read_at(reads, 12.0, segment) is reads[1]
    later = {"start": 33.0, "end": 45.0}  # nothing changed since 31 s: the 31.5 s read holds
    assert footage_text._read_at(reads, 36.0, later) is reads[2]
    assert footage_text._read_at(reads, 0.2, {"start": 0.0, "end": 8.0}) is reads[0]


def test_a_failing_consumer_of_the_decode_pass_fails_the_scan(sample_clip, tmp_path):
    def explode(frames, first):
        if first >= 3:
            raise ValueError("consumer broke")

    tap = analyze.FrameTap("fps=2,scale=64:36", 64, 36, explode)
    with pytest.raises(ValueError, match="consumer broke"):
        analyze.scan(sample_clip[0], analyze._analysis_rate(analyze.Fraction(25)), True,
                     tmp_path, 20.0, taps=[tap])


def test_a_tap_gets_every_frame_of_its_output(sample_clip, tmp_path):
    seen = []
    tap = analyze.FrameTap("fps=2,scale=64:36", 64, 36,
                           lambda frames, first: seen.append((first, frames.shape, frames.mean())),
                           pix_fmt="gray", chunk=4)
    analyze.scan(sample_clip[0], analyze._analysis_rate(analyze.Fraction(25)), True,
                 tmp_path, 20.0, taps=[tap])
    firsts = [first for first, _, _ in seen]
    assert firsts == list(range(0, 4 * len(seen), 4))
    assert sum(shape[0] for _, shape, _ in seen) == 40  # 20 s at 2 a second
    assert all(shape[1:] == (36, 64) for _, shape, _ in seen)


def _heard(*words):
    return [{"word": w, "start": a, "end": b, "probability": p} for w, a, b, p in words]


def test_a_filler_misheard_as_a_short_word_is_dropped_and_a_real_one_kept():
    segments = [{"id": "s01", "start": 0.0, "end": 20.0}]
    words = _heard(("Here", 7.04, 7.26, 0.98), ("are", 7.26, 7.42, 0.97),
                   ("invoices.", 7.9, 8.4, 0.97),
                   ("I'm", 9.0, 9.04, 0.9), ("newest", 9.04, 9.28, 0.94),
                   ("first.", 9.3, 9.7, 0.95),
                   ("I'm", 12.0, 12.2, 0.95), ("showing", 12.2, 12.6, 0.95),
                   ("reports.", 12.6, 13.0, 0.9),
                   ("Um,", 14.0, 14.3, 0.8), ("done.", 14.4, 14.8, 0.9))
    footage_text.attach_speech(segments, words)
    said = [s["text"] for s in segments[0]["speech"]["sentences"]]
    assert said == ["Here are invoices.", "Newest first.", "I'm showing reports.", "Done."]


def test_an_unsure_opening_clause_costs_only_itself():
    """The Ledgerly presenter's "Sent. Now let's check on our customers." was heard as "Cent,
    now let's …" with "Cent," at 0.29: the rest is narrated, an unsure word inside is not."""
    segments = [{"id": "s01", "start": 20.0, "end": 30.0}]
    words = _heard(("Cent,", 21.09, 21.34, 0.288), ("now", 21.59, 21.77, 0.94),
                   ("let's", 21.77, 22.01, 0.978), ("check", 22.01, 22.23, 0.998),
                   ("on", 22.23, 22.37, 0.989), ("our", 22.37, 22.71, 0.997),
                   ("customers.", 22.71, 23.03, 0.988),
                   ("Then", 25.0, 25.2, 0.95), ("the", 25.2, 25.3, 0.95),
                   ("flurb", 25.3, 25.6, 0.2), ("shows,", 25.6, 25.9, 0.9),
                   ("totals", 25.9, 26.2, 0.95), ("by", 26.2, 26.3, 0.95),
                   ("month.", 26.3, 26.6, 0.95))
    footage_text.attach_speech(segments, words)
    sentences = segments[0]["speech"]["sentences"]
    assert [(s["text"], s["usable"]) for s in sentences] == [
        ("Now let's check on our customers.", True),
        ("Then the flurb shows, totals by month.", False)]
    assert sentences[0]["start"] == 21.59
    assert segments[0]["speech"]["text"] == "Now let's check on our customers."


def test_every_line_read_is_stored_as_a_box_the_chrome_and_the_lines_past_the_cap_too():
    """``screen.boxes``: where the screen has text (for the lower thirds to keep clear of) —
    every line read, also the chrome (dropped from ``lines``) and the rows of a long table past
    ``lines``' cap, but not OCR noise (an icon read as "oo")."""
    def line(text, x, y):
        return {"text": text, "box": [x, y, 120, 14], "height": 14.0, "conf": 90.0}

    chrome = [line("Ledgerly", 20, 20), line("Dashboard", 20, 90), line("Invoices", 20, 130)]
    rows = [line(f"INV-{1000 + k} Globex", 270, 200 + 9 * k) for k in range(70)]
    pages = [[*chrome, line("Invoices", 255, 90), *rows, line("oo", 20, 600)],
             [*chrome, line("Customers", 255, 90)], [*chrome, line("Reports", 255, 90)]]
    segments = [{"id": f"s0{k + 1}", "start": 4.0 * k, "end": 4.0 * (k + 1),
                 "kept": [[4.0 * k, 4.0 * (k + 1)]]} for k in range(3)]
    reads = [footage_text.Read(4.0 * k + 2.0, 4.0 * k, lines) for k, lines in enumerate(pages)]
    footage_text.read_screens(segments, reads, (1280, 720))
    screen = segments[0]["screen"]
    assert len(screen["lines"]) == footage_text.MAX_LINES < 71
    assert not {"Ledgerly", "Dashboard"} & {x["text"] for x in screen["lines"]}  # chrome
    boxes = screen["boxes"]
    assert len(boxes) == 74  # the 3 chrome lines, the title and the 70 rows; no "oo"
    assert [20, 90, 120, 14] in boxes and [270, 200 + 9 * 69, 120, 14] in boxes
    assert [20, 600, 120, 14] not in boxes
    assert all(isinstance(v, int) for box in boxes for v in box)
    assert segments[1]["screen"]["boxes"] == [[20, 20, 120, 14], [20, 90, 120, 14],
                                              [255, 90, 120, 14], [20, 130, 120, 14]]


def test_the_boxes_of_a_real_read_hold_every_line_kept(analyzed):
    _, doc = analyzed
    for seg in doc["segments"]:
        screen = seg["screen"]
        assert screen["boxes"], seg["id"]
        assert all(line["box"] in screen["boxes"] for line in screen["lines"])


def test_a_dialog_over_a_page_keeps_the_boxes_of_the_page_dimmed_behind_it():
    """OCR barely reads a page dimmed behind a dialog (the tour's New invoice dialog over the
    invoices): when a screen with fewer lines still shows some of the lines before at their
    places, the lines before count as text on it too; a new page, or going back from the
    dialog, does not carry lines over."""
    def line(text, x, y):
        return {"text": text, "box": [x, y, 80, 14], "height": 14.0, "conf": 90.0}

    rows = [line(f"INV-{1000 + k}", 270, 200 + 45 * k) for k in range(10)]
    pills = [line("Sent" if k % 2 else "Paid", 1126, 200 + 45 * k) for k in range(10)]
    dialog = [line("New invoice", 410, 170), line("Customer", 410, 250), *pills[:3]]
    pages = [[line("Invoices", 255, 90), *rows, *pills], dialog,
             [line("Invoices", 255, 90), *rows, *pills], [line("Customers", 255, 90), *rows[:2]],
             [line("Reports", 255, 90)], [line("Settings", 255, 90)]]  # (no line is chrome)
    segments = [{"id": f"s0{k + 1}", "start": 4.0 * k, "end": 4.0 * (k + 1),
                 "kept": [[4.0 * k, 4.0 * (k + 1)]]} for k in range(len(pages))]
    reads = [footage_text.Read(4.0 * k + 2.0, 4.0 * k, lines) for k, lines in enumerate(pages)]
    footage_text.read_screens(segments, reads, (1280, 720))
    boxes = [seg["screen"]["boxes"] for seg in segments]
    assert [270, 200 + 45 * 5, 80, 14] in boxes[1]  # a row behind the dialog
    assert len(boxes[1]) == len(dialog) + 21
    assert [410, 170, 80, 14] not in boxes[2] and len(boxes[2]) == 21  # the dialog is gone
    assert len(boxes[3]) == 3  # a new page: only what it shows


def test_an_unsure_word_the_screen_nearly_shows_is_written_as_shown():
    """tiny.en heard the product on screen, "Ledgerly", as "Ludgerly" at 0.33: the narration
    takes the screen's word (the heard one kept as ``heard``). The product's name stands in the
    chrome, which the segments' lines leave out: the first version looked only at those lines
    and never fired on the 10-minute tour. A word heard for sure, a plural of a word shown
    ("report" / "Reports"), a near miss with another first letter ("Hedgerly") and a word that
    is merely like one shown ("listen" / "listed") stay as heard."""
    segments = [{"id": "s01", "start": 0.0, "end": 30.0,
                 "screen": {"headline": "Reports", "terms": ["Export CSV"],
                            "lines": [{"text": "Customers listed by balance"}]}}]
    words = _heard(("This", 0.5, 0.7, 0.95), ("is", 0.7, 0.8, 0.95),
                   ("Ludgerly.", 0.8, 1.3, 0.326),
                   ("The", 5.0, 5.1, 0.95), ("report", 5.1, 5.4, 0.5), ("shows", 5.4, 5.7, 0.9),
                   ("Hedgerly", 5.7, 6.0, 0.5), ("totals", 6.0, 6.3, 0.9), ("we", 6.3, 6.4, 0.9),
                   ("listen", 6.4, 6.7, 0.5), ("to.", 6.7, 6.9, 0.9),
                   ("Lodgerly", 8.0, 8.4, 0.95), ("again.", 8.4, 8.8, 0.95))
    # the product's name is chrome (on every screen), not in the segment's own lines or terms
    footage_text.attach_speech(segments, words, shown=["GC Ledgerly", "Q Search invoices", "Help"])
    speech = segments[0]["speech"]
    assert [s["text"] for s in speech["sentences"]] == [
        "This is Ledgerly.", "The report shows Hedgerly totals we listen to.", "Lodgerly again."]
    assert speech["sentences"][0]["usable"]  # the screen's word is confirmed
    changed = [w for w in speech["words"] if "heard" in w]
    assert [(w["word"], w["heard"]) for w in changed] == [("Ledgerly.", "Ludgerly.")]


def test_a_sentence_said_across_a_cut_stays_whole_with_the_segment_holding_most_of_it():
    """The shared screen recording's "Thank you for watching." straddles a slide change: it was
    narrated as "Thank you." in one segment and "For watching." in the next."""
    segments = [{"id": "s01", "start": 0.0, "end": 5.5}, {"id": "s02", "start": 5.5, "end": 9.0}]
    words = _heard(("Here", 1.0, 1.3, 0.95), ("it", 1.3, 1.5, 0.95), ("is.", 1.5, 1.9, 0.95),
                   ("Thank", 4.6, 4.9, 0.95), ("you", 4.9, 5.2, 0.95), ("for", 5.6, 5.8, 0.95),
                   ("watching.", 5.8, 6.1, 0.95),
                   ("Bye", 7.5, 7.8, 0.95), ("now.", 7.8, 8.2, 0.95))
    footage_text.attach_speech(segments, words)
    said = [[s["text"] for s in seg["speech"]["sentences"]] for seg in segments]
    assert said == [["Here it is.", "Thank you for watching."], ["Bye now."]]
    assert segments[0]["speech"]["text"] == "Here it is. Thank you for watching."
    # the words stay where they were said (the edit keeps those spans at 1x in both segments)
    assert [w["word"] for w in segments[1]["speech"]["words"]] == [
        "for", "watching.", "Bye", "now."]
