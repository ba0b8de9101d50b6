"""OCR noise never becomes narration: an icon read as "oo", a glyph in front of a label, a lone
letter, and a date taken for a label with its figure.

The 12 s cut of the Ledgerly tour narrated "It shows oo." (two sidebar icons read as "oo") and
"Overview for June is 2026." when the presenter's sentence was not usable. The screen below is
what Tesseract read on that dashboard.
"""

from __future__ import annotations

import re

import pytest

from include.core import screen_text
from include.providers.narrator import OfflineScriptWriter, assert_no_filler, figures, narrate
from include.stages.footage_text import Read, read_screens


def _line(text: str, x: int, y: int, w: int, h: float) -> dict:
    return {"text": text, "box": [x, y, w, int(round(h))], "height": h, "conf": 93.0}


DASHBOARD = [
    _line("oo", 26, 86, 16, 7.3),
    _line("Dashboard", 255, 87, 179, 23.3),
    _line("oo", 26, 95, 16, 7.3),
    _line("Overview for June 2026", 253, 129, 175, 11.3),
    _line("Revenue this month", 275, 187, 148, 10.7),
    _line("Open invoices", 614, 187, 104, 12.0),
    _line("Overdue", 900, 187, 70, 12.0),
    _line("$48,210", 275, 210, 120, 22.0),
    _line("Cc Recent activity", 275, 300, 140, 12.0),
    _line("Due Jun 21", 700, 330, 80, 10.0),
    _line("x", 1200, 20, 8, 8.0),
]


@pytest.mark.parametrize("word, noise", [
    ("oo", True), ("Cc", True), ("x", True), ("Q", True), ("ooo", True), ("Wwxz", True),
    ("AI", False), ("CRM", False), ("OK", False), ("Go", False), ("do", False), ("a", False),
    ("Draft", False), ("Sky", False), ("INV-1041", False), ("Jun9", False), ("設定", False),
])
def test_noise_words(word, noise):
    assert screen_text.noise_word(word) is noise


def test_terms_drop_noise_lines_and_the_glyph_in_front_of_a_label():
    terms = screen_text.terms(DASHBOARD, exclude=["Dashboard"])
    assert "oo" not in terms and "x" not in terms
    assert "Recent activity" in terms and "Cc Recent activity" not in terms
    assert {"Revenue this month", "Open invoices", "Overdue"} <= set(terms)
    assert screen_text.terms([_line("To do", 0, 0, 40, 12)]) == ["To do"]  # short real words stay


def test_a_date_is_not_a_figure():
    assert figures(DASHBOARD) == [("Revenue this month", "$48,210")]
    assert figures([_line("Overdue 3 invoices", 0, 0, 100, 12)]) == [("Overdue", "3 invoices")]


def test_a_table_header_over_its_column_is_not_a_figure():
    """The Ledgerly invoice list narrated "AMOUNT is $2,450.00": a column header over the first
    of the amounts below it (set a little larger than the header), taken for a KPI card."""
    table = [_line("AMOUNT", 1003, 213, 69, 10.7), _line("$2,450.00", 989, 256, 83, 14.0),
             _line("$1,850.00", 989, 301, 83, 14.7), _line("$2,100.00", 989, 346, 83, 14.0)]
    assert figures(table) == []
    assert figures(table[:2]) == [("AMOUNT", "$2,450.00")]  # one figure under a label: a card
    assert figures(DASHBOARD + table) == [("Revenue this month", "$48,210")]


def _segment(screen: dict, speech: str = "") -> dict:
    return {"id": "s01", "start": 0.0, "end": 6.5, "word_budget": 13, "screen": screen,
            "speech": {"text": speech} if speech else None}


def _noise_words(text: str) -> list[str]:
    """The noise read on DASHBOARD, as it would come out in a sentence."""
    return re.findall(r"\b(?:oo|Cc|x)\b", text)


def test_a_screen_without_a_usable_presenter_sentence_is_narrated_without_noise():
    # the screen as segments.json recorded it before: the noise still in its terms
    screen = {"headline": "Dashboard", "lines": DASHBOARD, "new": ["oo", "x"],
              "terms": ["oo", "Overview for June 2026", "Revenue this month", "x"]}
    for turn in range(6):
        text = narrate(_segment(screen), None, index=0, product="Ledgerly", turn=turn)
        assert text and not _noise_words(text), text
        assert not re.search(r"\bis 2026|\bJun is\b", text), text  # a date is no figure
        assert_no_filler(text)
    # a later segment that shows only the noise as new says nothing about it
    later = {"headline": "Dashboard", "lines": DASHBOARD, "new": ["oo", "Cc"], "terms": ["oo"]}
    text = narrate(_segment(later), _segment(screen), index=1, product="Ledgerly", turn=0)
    assert not _noise_words(text), text


def test_read_screens_keeps_no_noise_line():
    # two segments (chrome needs repeats): the dashboard, then the same icons over another page
    other = [line for line in DASHBOARD if line["text"] in ("oo", "x")] + [
        _line("Invoices", 255, 87, 150, 23.3), _line("New invoice", 900, 87, 100, 12.0)]
    segments = [{"id": "s01", "start": 0.0, "end": 6.5, "kept": [[0.0, 6.5]]},
                {"id": "s02", "start": 6.5, "end": 12.0, "kept": [[6.5, 12.0]]}]
    read_screens(segments, [Read(3.0, 0.0, DASHBOARD), Read(9.0, 6.5, other)], (1280, 720))
    for segment in segments:
        screen = segment["screen"]
        shown = [line["text"] for line in screen["lines"]] + screen["new"] + screen["terms"]
        assert not [t for t in shown if screen_text.is_noise(t)], shown
    assert segments[0]["screen"]["headline"] == "Dashboard"
    assert "Recent activity" in segments[0]["screen"]["terms"]


def test_the_offline_writer_on_the_dashboard_says_no_noise():
    screen = {"headline": "Dashboard", "lines": DASHBOARD, "new": [],
              "terms": screen_text.terms(DASHBOARD, exclude=["Dashboard"])}
    texts = OfflineScriptWriter().write([_segment(screen)], {"product_name": "Ledgerly"})
    assert texts[0] and not _noise_words(texts[0]), texts
    assert "$48,210" in texts[0]


def test_a_numbered_heading_takes_no_article_and_a_terminal_line_is_no_figure():
    """The shared screen recording (job-monitor slides over a terminal) was narrated "On to the
    Step 4: Voiceover." and "Total is 10044." (``ls -l``'s first line) in two segments running."""
    terminal = [_line("Step 4: Voiceover", 323, 370, 558, 50.0),
                _line("TTS segments 18/18", 456, 459, 286, 24.0),
                _line("total 10044", 0, 800, 140, 15.0)]
    screen = {"headline": "Step 4: Voiceover", "lines": terminal, "new": [], "terms": []}
    before = _segment({"headline": "Step 3: Script", "lines": [], "new": [], "terms": []})
    for turn in range(5):
        text = narrate(_segment(screen), before, index=1, product="Render Farm", turn=turn)
        assert "Step 4: Voiceover" in text and "the Step" not in text, text
        assert "10044" not in text, text
    assert figures([_line("total 10044", 0, 800, 140, 15.0)]) == []
    assert figures([_line("Total 10044", 0, 800, 140, 15.0)]) == [("Total", "10044")]


def test_a_figure_still_on_screen_in_the_next_segment_is_said_once():
    kpi = [_line("Velocity report", 56, 124, 401, 45.5), _line("Completed points", 83, 229, 210, 24.0),
           _line("86", 85, 265, 69, 40.0)]
    segments = [_segment({"headline": "Velocity report", "lines": kpi, "new": [], "terms": []}),
                _segment({"headline": "Velocity report", "lines": kpi, "new": [], "terms": []})]
    first, second = OfflineScriptWriter().write(segments, {"product_name": "Orbit"})
    assert "86" in first and "86" not in second, (first, second)
    changed = [dict(line, text="91") if line["text"] == "86" else line for line in kpi]
    segments[1]["screen"]["lines"] = changed  # a new value is news: said again
    first, second = OfflineScriptWriter().write(segments, {"product_name": "Orbit"})
    assert "86" in first and "91" in second, (first, second)


def test_a_logs_lower_case_lines_are_not_listed_as_what_the_screen_shows():
    """The job monitor's render slide over scrolling log lines ("frame batch 2400 encoded,
    q=22.1", cut by OCR to "encoded, q") was narrated "It shows encoded, q."."""
    lines = [_line("Step 5: Render", 366, 370, 473, 50.0), _line("encoded, q", 1502, 550, 131, 16.5),
             _line("encoded, q=22", 1502, 646, 154, 18.0), _line("Export CSV", 40, 900, 120, 16.0)]
    screen = {"headline": "Step 5: Render", "lines": lines, "new": [],
              "terms": ["encoded, q", "encoded, q=22", "Export CSV"]}
    before = _segment({"headline": "Step 4: Voiceover", "lines": [], "new": [], "terms": []})
    for turn in range(4):
        text = narrate(_segment(screen), before, index=3, product="Render Farm", turn=turn)
        assert "encoded" not in text and "Step 5: Render" in text, text
