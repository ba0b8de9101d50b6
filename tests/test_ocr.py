"""On-screen text: Tesseract reads generated UI frames with known text; screen_text analyses it.

Frames are drawn with Pillow (DejaVu fonts): a dark nav bar with a logo and nav items, a page
title, a table with amounts and percentages, a toast on one frame, and noise (a lone glyph,
specks, a separator bar) that must not come out as text.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from include.core import screen_text
from include.core.errors import FatalError
from include.providers.ocr import TesseractReader, TextLine

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
NAV = ["Overview", "Invoices", "Customers", "Settings"]
TABLE = [
    ("Region", "Revenue", "Growth"),
    ("North", "$1,200", "12%"),
    ("South", "$860", "4.5%"),
    ("West", "$2,450", "31%"),
]


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(BOLD if bold else FONT, size)


def ui_frame(title: str, *, table: bool = True, toast: str | None = None, body: str | None = None,
             size=(1920, 1080)) -> np.ndarray:
    """A BGR frame of a made-up web app ("Ledgerly") at 1080p, scaled to ``size``."""
    image = Image.new("RGB", (1920, 1080), (248, 248, 244))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 1920, 72], fill=(58, 40, 104))  # nav bar: light text on dark
    draw.text((36, 18), "Ledgerly", font=font(30, bold=True), fill=(255, 255, 255))
    for i, item in enumerate(NAV):
        draw.text((260 + i * 170, 24), item, font=font(20), fill=(230, 230, 240))
    draw.text((56, 120), title, font=font(48, bold=True), fill=(30, 30, 30))
    if table:
        for r, row in enumerate(TABLE):
            y = 230 + r * 62
            draw.rectangle([56, y - 14, 1300, y + 46], fill=(255, 255, 255), outline=(225, 225, 225))
            for c, cell in enumerate(row):
                draw.text((76 + c * 420, y), cell, font=font(24, bold=(r == 0)), fill=(25, 25, 25))
    if body:
        draw.text((56, 560), body, font=font(24), fill=(40, 40, 40))
    if toast:
        draw.rounded_rectangle([1400, 950, 1880, 1030], radius=12, fill=(27, 127, 75))
        draw.text((1430, 972), toast, font=font(26), fill=(255, 255, 255))
    # noise: a lone glyph, a separator bar, specks
    draw.text((1700, 300), "•", font=font(28), fill=(90, 90, 90))
    draw.rectangle([1600, 420, 1604, 520], fill=(120, 120, 120))
    rng = np.random.default_rng(7)
    for x, y in rng.integers([1500, 620], [1880, 900], size=(40, 2)):
        draw.ellipse([x, y, x + 3, y + 3], fill=(70, 70, 70))
    frame = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    if size != (1920, 1080):
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return frame


@pytest.fixture(scope="module")
def reader() -> TesseractReader:
    return TesseractReader()


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [
        ui_frame("Revenue by region"),
        ui_frame("Revenue by region", toast="Report exported"),
        ui_frame("Customer list", table=False, body="Every customer who paid an invoice this year."),
        ui_frame("Team settings", table=False),
    ]


@pytest.fixture(scope="module")
def read(reader, frames) -> list[list[dict]]:
    return [[line.as_dict() for line in reader.read(frame)] for frame in frames]


def texts(lines: list[dict]) -> list[str]:
    return [line["text"] for line in lines]


def test_reader_is_installed():
    assert TesseractReader.available(), TesseractReader.requirement


def test_reads_title_table_and_nav_bar(read):
    lines = read[0]
    found = texts(lines)
    assert "Revenue by region" in found
    for word in ["Ledgerly", *NAV]:  # light on dark: the nav bar is inverted before reading
        assert word in found, (word, found)
    for row in TABLE:
        for cell in row:
            assert cell in found, (cell, found)
    title = next(line for line in lines if line["text"] == "Revenue by region")
    x, y, w, h = title["box"]
    assert 46 <= x <= 66 and 115 <= y <= 140 and 450 <= w <= 700 and 30 <= h <= 60
    assert title["height"] > 1.5 * next(l for l in lines if l["text"] == "North")["height"]
    assert all(0 <= line["conf"] <= 100 for line in lines)
    # reading order: the nav bar first, left to right, then the title
    assert found.index("Ledgerly") < found.index("Overview") < found.index("Settings")
    assert found.index("Settings") < found.index("Revenue by region") < found.index("North")


def test_noise_is_dropped(read):
    for lines in read:
        for line in lines:
            letters = sum(c.isalnum() for c in line["text"])
            assert letters >= 2, line
            assert line["conf"] >= 60, line
        assert not any(set(line["text"]) <= set("•|·.-_'") for line in lines)


def test_toast_on_green_is_read(read):
    assert "Report exported" in texts(read[1])


def test_path_and_small_frames_give_boxes_in_the_callers_pixels(reader, tmp_path):
    small = ui_frame("Revenue by region", size=(960, 540))  # upscaled 2x inside, boxes halved back
    path = tmp_path / "small.png"
    cv2.imwrite(str(path), small)
    lines = reader.read(path)
    assert all(isinstance(line, TextLine) for line in lines)
    title = next(line for line in lines if line.text == "Revenue by region")
    x, y, w, _h = title.box
    assert 20 <= x <= 36 and 55 <= y <= 72 and 220 <= w <= 350
    assert reader.read(np.full((4, 4), 255, np.uint8)) == []


def test_bad_input_is_a_fatal_error(reader, tmp_path):
    with pytest.raises(FatalError, match="does not exist"):
        reader.read(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    with pytest.raises(FatalError, match="not a readable picture"):
        reader.read(tmp_path / "junk.png")


def test_headline_chrome_numbers_new_lines_and_terms(read):
    chrome = screen_text.chrome(read)
    chrome_texts = set(texts(chrome.lines))
    assert {"Ledgerly", *NAV} <= chrome_texts
    assert "Revenue by region" not in chrome_texts  # on 2 of 4 frames only: below 60 %
    assert chrome.product_name == "Ledgerly"

    assert screen_text.headline(read[0], (1920, 1080), chrome=chrome.lines) == "Revenue by region"
    assert screen_text.headline(read[2], (1920, 1080), chrome=chrome.lines) == "Customer list"

    amounts = screen_text.numbers(read[0])
    assert {"$1,200", "$860", "$2,450", "12%", "4.5%", "31%"} <= set(amounts)

    fresh = texts(screen_text.new_lines(read[0], read[1]))
    assert fresh == ["Report exported"]

    terms = screen_text.terms(screen_text.drop_chrome(read[0], chrome.lines))
    assert terms[0] == "Revenue by region"
    assert {"Region", "Revenue", "Growth", "North"} <= set(terms)
    assert not set(terms) & set(NAV)


# --- screen_text on hand-made lines (no OCR) -------------------------------------------------

def line(text, x, y, w, h, height=None, conf=95.0):
    return {"text": text, "box": [x, y, w, h], "height": height or h, "conf": conf}


def test_headline_prefers_top_most_title_over_big_numbers():
    lines = [
        line("Acme", 20, 10, 80, 22),
        line("Velocity report", 56, 120, 450, 46),
        line("3.2 days", 540, 260, 250, 47),
        line("86", 80, 260, 60, 48),
        line("Completed points", 80, 230, 260, 24),
    ]
    assert screen_text.headline(lines, (1920, 1080)) == "Velocity report"
    assert screen_text.headline([line("86", 80, 260, 60, 48)], (1920, 1080)) is None
    assert screen_text.headline([], (1920, 1080)) is None


def test_chrome_needs_repeats_at_the_same_place():
    nav = [line("Orbit", 36, 18, 90, 30), line("Board", 170, 24, 70, 20)]
    segments = [
        nav + [line("Backlog", 56, 120, 250, 48)],
        nav + [line("Board", 56, 120, 200, 48)],  # same text as a nav item, elsewhere
        nav + [line("Integrations", 56, 120, 350, 48)],
    ]
    chrome = screen_text.chrome(segments)
    assert texts(chrome.lines) == ["Orbit", "Board"]
    assert chrome.product_name == "Orbit"
    kept = screen_text.drop_chrome(segments[1], chrome.lines)
    assert texts(kept) == ["Board"] and kept[0]["box"][1] == 120
    assert screen_text.chrome([nav]) == ([], None)  # one segment: nothing to compare


def test_a_logo_read_with_and_without_its_glyph_is_one_chrome_line():
    """At 1080p Tesseract reads the Ledgerly logo's icon as "GC" on some frames and not on
    others; the logo is still chrome, the product is "Ledgerly" and no page is titled by it
    (the 60 s tour's first page was headlined "GC Ledgerly", the product was the avatar's
    "Maya Singh MS")."""
    avatar = line("Maya Singh MS", 1700, 40, 150, 18)
    pages = ["Dashboard", "Invoices", "Customers", "Reports"]
    segments = [[line("GC Ledgerly" if k % 2 == 0 else "Ledgerly", 26 if k % 2 == 0 else 90,
                      17 if k % 2 == 0 else 29, 208 if k % 2 == 0 else 144,
                      50 if k % 2 == 0 else 29), avatar,
                 line(page, 382, 131, 267, 34)] for k, page in enumerate(pages)]
    chrome = screen_text.chrome(segments)
    assert chrome.product_name == "Ledgerly"
    assert [screen_text.headline(seg, (1920, 1080), chrome=chrome.lines)
            for seg in segments] == pages


def test_new_lines_sees_typing_and_ignores_ocr_wobble():
    before = [line("Backlog", 56, 120, 250, 48), line("Search tickets", 60, 200, 200, 20),
              line("bi", 60, 240, 30, 20)]
    after = [line("Backlog", 56, 121, 250, 48), line("Search tlckets", 60, 200, 200, 20),
             line("billing", 60, 240, 90, 20), line("Move to sprint", 900, 300, 200, 20)]
    assert texts(screen_text.new_lines(before, after)) == ["billing", "Move to sprint"]
    assert texts(screen_text.new_lines([], after[:1])) == ["Backlog"]


def test_numbers_skip_identifiers_and_names():
    lines = [line("ORB-407", 0, 0, 10, 20), line("Sprint 14", 0, 30, 10, 20),
             line("86", 0, 60, 10, 40), line("3.2 days", 0, 120, 10, 46),
             line("Churn fell to 4% this month", 0, 200, 10, 20), line("v1.2.3", 0, 240, 10, 20)]
    assert screen_text.numbers(lines) == ["3.2 days", "86", "4%"]


def test_terms_drop_stopwords_and_long_body_text():
    lines = [line("To do", 0, 0, 1, 20), line("of the", 0, 30, 1, 20), line("x", 0, 60, 1, 20),
             line("Slack notifications", 0, 90, 1, 20), line("slack notifications", 0, 95, 1, 20),
             line("This is a long paragraph of body text that goes on and on", 0, 120, 1, 20)]
    assert screen_text.terms(lines) == ["To do", "Slack notifications"]
    assert screen_text.terms(lines, exclude={"to do"}) == ["Slack notifications"]


def slide_frame(fill: tuple[int, int, int]) -> np.ndarray:
    """A job-monitor screen like a real recording's (../shared/media/screen_60s.mp4): a light app
    bar, a mid-tone slide panel with white text, a dark terminal with light text under it."""
    image = Image.new("RGB", (1920, 1080), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 1920, 56], fill=(220, 220, 220))
    draw.text((30, 14), "Render Farm Job Monitor", font=font(26), fill=(30, 30, 30))
    draw.rectangle([0, 56, 1200, 720], fill=fill)
    draw.text((340, 360), "Step 2: Analyse", font=font(64), fill=(255, 255, 255))
    draw.text((400, 460), "Scene detection and loudness", font=font(28), fill=(225, 235, 225))
    draw.rectangle([1200, 56, 1920, 720], fill=(24, 30, 44))
    draw.rectangle([0, 720, 1920, 1080], fill=(0, 0, 0))
    mono = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", 18)
    draw.text((10, 740), "root@vm:/tmp/media-scout# uname -srm", font=mono, fill=(230, 230, 230))
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


@pytest.mark.parametrize("fill", [(46, 139, 87), (31, 111, 168), (106, 59, 150), (181, 120, 20)],
                         ids=["green", "blue", "purple", "orange"])
def test_white_text_on_a_mid_tone_panel_beside_a_dark_terminal_is_read(reader, fill):
    """Inverted, such a panel is mid-grey beside a white page: Tesseract's one global threshold
    took it all for ink and the slide's title was lost (8 of 8 slides of the shared screen
    recording); each panel is now flattened to white first."""
    found = [line.text for line in reader.read(slide_frame(fill))]
    assert "Step 2: Analyse" in found, found
    assert "Scene detection and loudness" in found, found
    assert "Render Farm Job Monitor" in found, found
    assert any("uname -srm" in text for text in found), found




def test_colour_bars_give_no_headline_and_no_terms(reader, tmp_path):
    """Camera-like footage has no text: the flattened edges of the test sample's colour bars
    read as "vill" (70), "Ex" (68), "112" (67) — a run on it was narrated "This is the vill
    page." and "It shows Ex." and failed QC. Such unsure lines are kept for their boxes, but
    they are no headline, no term and nothing new on screen."""
    import json

    from include.sample_media import make_sample
    from include.stages import analyze

    clip = tmp_path / "sample.mp4"
    make_sample(clip, seconds=20, size="640x360")
    analyze.run(clip, tmp_path / "out", reader=reader)
    segments = json.loads((tmp_path / "out" / "segments.json").read_text())["segments"]
    for segment in segments:
        screen = segment["screen"]
        said = [screen["headline"], *screen["terms"], *screen["new"]]
        assert not [t for t in said if sum(c.isalpha() for c in t) >= 2], (segment["id"], screen)
