"""script stage: speech cleaning, word budgets, the offline writer and review validation."""

from __future__ import annotations

import json
import random

import pytest

from include.core.errors import FatalError
from include.core.options import Settings
from include.providers import llm
from include.providers.narrator import assert_no_filler
from include.stages import script
from include.stages.script import (
    clean_for_speech,
    fit_to_budget,
    validate_review,
    word_budget,
)


def _segment(number: int, start: float, end: float, kept: float, **features) -> dict:
    base = {
        "id": f"s{number:02d}",
        "start": start,
        "end": end,
        "keyframe": f"keyframes/s{number:02d}.jpg",
        "static_ratio": 0.0,
        "silent_ratio": 0.0,
        "motion": 0.05,
        "brightness": 0.5,
        "colorfulness": 0.3,
        "dominant_color": "blue",
        "edge_density": 0.05,
        "kept": [[start, start + kept]],
        "kept_duration": kept,
    }
    return {**base, **features}


def _line(text: str, x: int, y: int, height: int = 18, width: int = 220) -> dict:
    return {"text": text, "box": [x, y, width, height], "height": height, "conf": 91.0}


SCREENS = {  # what OCR and speech recognition found, per segment
    1: {"screen": {"headline": "Sprint 14 board", "lines": [],
                   "terms": ["To do", "In progress", "Done", "Two-factor login"]},
        "speech": {"text": "Um, so this is the board for sprint fourteen."}},
    2: {"screen": {"headline": "Velocity report", "terms": ["Completed points", "86"],
                   "lines": [_line("Completed points", 100, 300), _line("86", 100, 330, 40, 60),
                             _line("Cycle time", 500, 300), _line("3.2 days", 500, 330, 40)]}},
    3: {"screen": {"headline": "Velocity report", "new": ["Export as CSV"],
                   "terms": ["Export as CSV"], "lines": []}},
    4: {"screen": {"headline": "Integrations", "lines": [],
                   "terms": ["Slack", "GitHub", "Google Calendar", "Not connected"]}},
    5: {},  # nothing readable, nothing said
}


ANALYSIS = {
    "duration": 44.0,
    "product_name": "Orbit",
    "fps": 30.0,
    "width": 1280,
    "height": 720,
    "has_audio": True,
    "cuts": [],
    "static_spans": [],
    "silences": [],
    "segments": [
        _segment(1, 0.0, 7.0, 6.5, motion=0.5),
        _segment(
            2,
            4.0,
            8.0,
            4.0,
            static_ratio=1.0,
            edge_density=0.3,
            dominant_color="white",
            brightness=0.9,
        ),
        _segment(3, 8.0, 12.0, 2.4, static_ratio=0.8, silent_ratio=0.9),
        _segment(4, 12.0, 32.0, 20.0, motion=0.15, dominant_color="red", brightness=0.1),
        _segment(5, 32.0, 44.0, 9.5, silent_ratio=1.0, dominant_color="green"),
    ],
}
for _seg in ANALYSIS["segments"]:
    _seg.update(SCREENS[int(_seg["id"][1:])])


@pytest.fixture
def segments_path(tmp_path):
    path = tmp_path / "segments.json"
    path.write_text(json.dumps(ANALYSIS))
    return path


def _run(segments_path, out_dir, **options):
    result = script.run(segments_path, out_dir, writer=llm.get_script_writer("offline"), **options)
    return result, json.loads((out_dir / "script.json").read_text())


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<p>Open the <b>dashboard</b></p>", "Open the dashboard"),
        ("<script>alert(1)</script>Safe text", "Safe text"),
        ("Fish &amp; chips", "Fish & chips"),
        ("**Bold** and __strong__ with `code`", "Bold and strong with code"),
        ("## Heading one", "Heading one"),
        ("Read [the guide](https://example.com/guide) now", "Read the guide now"),
        ("Visit https://example.com/a?b=1 or www.example.org today", "Visit or today"),
        ("Ship it 🚀🎉!", "Ship it!"),
        ("Family 👨‍👩‍👧 flag 🇩🇪 keycap 1️⃣ heart ❤️ done", "Family flag keycap 1 heart done"),
        ("bell\x07 and\ttab\nnewline", "bell and tab newline"),
        ("  lots   of\n\n space  ", "lots of space"),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_clean_for_speech(raw, clean):
    assert clean_for_speech(raw) == clean
    assert clean_for_speech(clean) == clean


@pytest.mark.parametrize(
    ("kept", "wpm", "budget"),
    [(2.7, 150, 6), (4.0, 150, 10), (2.4, 150, 6), (0.1, 150, 2), (0.0, 240, 2), (20.0, 60, 20)],
)
def test_word_budget(kept, wpm, budget):
    assert word_budget(kept, wpm) == budget


def test_fit_to_budget_prefers_sentence_then_word_boundaries():
    text = "Open the settings. Then pick a theme you like."
    assert fit_to_budget(text, 20) == text
    assert fit_to_budget(text, 6) == "Open the settings."
    assert (
        fit_to_budget("Open the settings page, then pick a theme.", 4) == "Open the settings page."
    )
    assert fit_to_budget("One two three four", 0) == "One two."


def _names_something_visible(text: str, segment: dict) -> bool:
    screen = segment.get("screen") or {}
    seen = [screen.get("headline") or "", *screen.get("terms", []), *screen.get("new", [])]
    return any(term and term.lower() in text.lower() for term in seen)


def test_run_writes_script_within_budgets(segments_path, tmp_path):
    out = tmp_path / "out"
    result, doc = _run(segments_path, out, title_hint="Acme **Dashboard** 🚀")

    assert doc["title"] == "Acme Dashboard"
    assert (doc["language"], doc["words_per_minute"], doc["writer"]) == ("en", 150, "offline")
    assert [seg["id"] for seg in doc["segments"]] == [s["id"] for s in ANALYSIS["segments"]]
    for seg, source in zip(doc["segments"], ANALYSIS["segments"]):
        assert set(seg) == {"id", "start", "end", "kept_duration", "word_budget", "text"}
        assert seg["word_budget"] == word_budget(source["kept_duration"], 150)
        assert len(seg["text"].split()) <= seg["word_budget"]
        assert clean_for_speech(seg["text"]) == seg["text"]
        assert_no_filler(seg["text"])
        if source.get("screen"):
            assert _names_something_visible(seg["text"], source), seg["text"]
    texts = {seg["id"]: seg["text"] for seg in doc["segments"]}
    assert "Sprint 14 board" in texts["s01"] and "Orbit" in texts["s01"]
    assert "Um" not in texts["s01"].split() and "sprint fourteen" in texts["s01"]
    assert "86" in texts["s02"] and "completed points" in texts["s02"].lower()
    assert "Export as CSV" in texts["s03"], "what appeared on the same page is named"
    assert texts["s05"] == "", "nothing to read or hear: silence, not filler"
    assert result == {
        "segments": 5,
        "words": sum(len(t.split()) for t in texts.values()),
        "writer": "offline",
    }
    assert [p.name for p in out.iterdir()] == ["script.json"]


def test_run_is_deterministic_and_derives_a_title(segments_path, tmp_path):
    _, first = _run(segments_path, tmp_path / "a")
    _, doc = _run(segments_path, tmp_path / "b")
    # the same script, except its revision: every run of the stage gets a fresh one
    assert first.pop("revision") != doc.pop("revision")
    assert first == doc
    assert doc["title"] == "Orbit: Sprint 14 board, Velocity report and Integrations"
    assert script.derived_title({"duration": 44.0, "segments": []}) == "A 44-second walkthrough"
    writer = llm.get_script_writer("offline")
    for out in ("c", "d"):  # byte for byte, given the revision
        script.run(segments_path, tmp_path / out, writer=writer, revision="r1", run_id="run")
    assert (tmp_path / "c" / "script.json").read_bytes() == (tmp_path / "d" / "script.json").read_bytes()


def test_a_derived_title_lists_pages_not_the_views_of_a_page():
    def analysis(*headlines):
        return {"product_name": "Ledgerly",
                "segments": [{"screen": {"headline": h}} for h in headlines]}

    # "New invoice" is a dialog over Invoices, not a page of its own
    assert script.derived_title(analysis("Dashboard", "Invoices", "New invoice", "Customers",
                                         "Reports")) == \
        "Ledgerly: Dashboard, Invoices, Customers and Reports"
    # a shared generic word does not make two pages one; at most four are listed
    assert script.derived_title(analysis("New invoice", "New customer", "Billing", "Audit log",
                                         "Team")) == \
        "Ledgerly: New invoice, New customer, Billing and Audit log"
    # numbered headings are listed by what they name: every "Step" is not one page
    steps = analysis("Step 2: Analyse", "Step 4: Voiceover", "Step 5: Render", "Step 2: Analyse",
                     "Step 6: Upload")
    steps["product_name"] = "Render Farm Job Monitor"
    assert script.derived_title(steps) == \
        "Render Farm Job Monitor: Analyse, Voiceover, Render and Upload"


@pytest.mark.parametrize("seed", range(30))
def test_offline_writer_never_says_stock_filler_and_stays_in_budget(seed):
    rng = random.Random(seed)
    writer = llm.get_script_writer("offline")
    vocabulary = ["Invoices", "Revenue this month $48,210", "Customers", "Open", "Paid",
                  "Export", "Settings", "Team members", "3.2 days", "17", "Q3 report",
                  "New invoice", "Northwind", "Draft", "Overdue"]
    segments = []
    for n in range(rng.randint(1, 8)):
        budget = rng.randint(2, 30)
        screen = {}
        if rng.random() < 0.8:
            screen = {"headline": rng.choice(vocabulary + [""]),
                      "terms": rng.sample(vocabulary, rng.randint(0, 5)),
                      "new": rng.sample(vocabulary, rng.randint(0, 2)),
                      "lines": [_line(t, rng.randint(0, 900), rng.randint(0, 600),
                                      rng.choice([14, 18, 40]))
                                for t in rng.sample(vocabulary, rng.randint(0, 6))]}
        speech = {"text": rng.choice(["", "Um, we open the invoices.", "uh so I click export",
                                      "And now the customers list."])}
        segments.append(_segment(n + 1, n * 4.0, n * 4.0 + 4, 3.0, word_budget=budget,
                                 screen=screen, speech=speech, motion=rng.random() / 5))
    texts = writer.write(segments, {"title_hint": "", "product_name": rng.choice(["", "Ledgerly"])})
    assert len(texts) == len(segments)
    for text, seg in zip(texts, segments):
        assert len(text.split()) <= seg["word_budget"], (text, seg["word_budget"])
        assert_no_filler(text)
        if seg["screen"].get("headline") and seg["word_budget"] >= 4 and not text:
            pytest.fail(f"segment with a headline got no narration: {seg}")


def test_stock_filler_is_recognised():
    for sentence in ("Here's more.", "Take a moment to look.", "Notice the layout.",
                     "Moving on.", "Next up.", "That's all.", "One last look"):
        with pytest.raises(ValueError):
            assert_no_filler(f"This is the Backlog. {sentence}")
    assert_no_filler("Next, the Backlog page. We are moving on to the invoices.")


def test_run_enforces_budget_and_cleaning_for_any_writer(segments_path, tmp_path):
    class Rambler(llm.ScriptWriter):
        name = "rambler"

        def write(self, segments, context):
            return [
                "**Look** at https://x.io this 🚀 " + "very " * 80 + "long text." for _ in segments
            ]

    result = script.run(segments_path, tmp_path, writer=Rambler())
    doc = json.loads((tmp_path / "script.json").read_text())
    assert result["writer"] == doc["writer"] == "rambler"
    for seg in doc["segments"]:
        assert len(seg["text"].split()) == seg["word_budget"]
        assert " ".join(["Look", "at", "this", "very"][: seg["word_budget"]]) in seg["text"]
        assert "*" not in seg["text"] and "x.io" not in seg["text"]


def test_unknown_or_unavailable_writer_is_fatal(monkeypatch):
    with pytest.raises(FatalError, match=r"unknown script writer 'gpt-9'; choose one of: offline"):
        llm.get_script_writer("gpt-9")

    class NeedsSdk(llm.OfflineScriptWriter):
        requirement = "the 'imaginary' package"

        @classmethod
        def available(cls):
            return False

    monkeypatch.setitem(llm.SCRIPT_WRITERS, "sdk", NeedsSdk)
    with pytest.raises(FatalError, match="needs the 'imaginary' package"):
        llm.get_script_writer("sdk")


def test_bad_segments_file_is_fatal(tmp_path):
    writer = llm.get_script_writer("offline")
    with pytest.raises(FatalError, match=r"segments\.json is missing"):
        script.run(tmp_path / "nope.json", tmp_path, writer=writer)
    empty = tmp_path / "segments.json"
    empty.write_text(json.dumps({"segments": []}))
    with pytest.raises(FatalError, match="no segments"):
        script.run(empty, tmp_path, writer=writer)


@pytest.fixture
def original(segments_path, tmp_path):
    return _run(segments_path, tmp_path / "orig", title_hint="Acme")[1]


def test_review_merges_edits_and_keeps_the_rest(original):
    edited = {"segments": [{"id": "s02", "text": "Click **Save**\nthen\r\nwait 🎉"}]}
    reviewed = validate_review(original, edited, Settings())
    assert reviewed["reviewed"] is True and reviewed["warnings"] == []
    assert reviewed["title"] == original["title"]
    texts = {seg["id"]: seg["text"] for seg in reviewed["segments"]}
    assert texts["s02"] == "Click Save then wait"
    assert all(texts[s["id"]] == s["text"] for s in original["segments"] if s["id"] != "s02")
    # Re-validating the reviewed script (as the gate does) changes nothing.
    assert validate_review(original, reviewed, Settings()) == reviewed


def test_review_flags_over_budget_text(original):
    long_text = " ".join(["word"] * 30)
    reviewed = validate_review(
        original, {"segments": [{"id": "s01", "text": long_text}]}, Settings()
    )
    assert reviewed["segments"][0]["text"] == long_text
    assert (
        len(reviewed["warnings"]) == 1
        and "s01 has 30 words, over its budget of 16" in reviewed["warnings"][0]
    )


@pytest.mark.parametrize(
    ("edited", "message"),
    [
        ([], "must be a JSON object with a 'segments' list"),
        ({"segments": "s01"}, "must be a JSON object with a 'segments' list"),
        ({"segments": [{"text": "hi there"}]}, "must be an object with an 'id'"),
        ({"segments": [{"id": "s99", "text": "hi there"}]}, "unknown segment id 's99'"),
        ({"segments": [{"id": "s01", "text": 5}]}, "s01 text must be a string"),
        ({"segments": [{"id": "s01", "text": "x" * 1001}]}, "longer than 1000 characters"),
        ({"segments": [{"id": "s01", "text": "ring\x07bell"}]}, "control character U\\+0007"),
        ({"segments": [{"id": "s01", "text": "tab\there"}]}, "control character U\\+0009"),
        ({"segments": [{"id": "s01", "text": "🚀 <b></b> https://x.io"}]}, "s01 text is empty"),
        ({"segments": [{"id": "s01", "text": "a b"}, {"id": "s01", "text": "c d"}]}, "twice"),
    ],
)
def test_review_rejects_bad_edits(original, edited, message):
    with pytest.raises(FatalError, match=message):
        validate_review(original, edited, Settings())
