"""metadata stage: YouTube limits on adversarial input, chapters from the final timeline."""

from __future__ import annotations

import json

import pytest

from include.core.edl import Edl
from include.providers.llm import get_script_writer
from include.stages import metadata
from include.stages.metadata import chapter_title, chapters_for, timestamp
from tests.fakes.edl import edl_document

TEXTS = [
    "Welcome to this quick tour of the Acme dashboard.",
    "Next, we open the settings page.",
    "Take a moment to read the billing summary.",
    "The reports screen shows monthly revenue charts.",
    "Moving on, this part shows the team invitations.",
    "Finally, we export the dashboard reports.",
]


def _script(texts=TEXTS, title="Acme dashboard tour") -> dict:
    return {
        "title": title,
        "language": "en",
        "words_per_minute": 150,
        "writer": "offline",
        "segments": [
            {
                "id": f"s{n:02d}",
                "start": 0.0,
                "end": 1.0,
                "kept_duration": 1.0,
                "word_budget": 50,
                "text": text,
            }
            for n, text in enumerate(texts, 1)
        ],
    }


def _edl(duration: float, starts: list[float]) -> dict:
    """An EDL whose narration segments s01, s02, … start at ``starts`` (final time)."""
    ends = starts[1:] + [duration]
    narration = [
        {
            "segment_id": f"s{n:02d}",
            "voice_start": start,
            "voice_end": end,
            "out_start": start,
            "out_end": end,
        }
        for n, (start, end) in enumerate(zip(starts, ends), 1)
    ]
    return edl_document(duration=duration, narration=narration)


def _segments(count: int, screens: dict | None = None, product: str = "") -> dict:
    """segments.json for ``count`` segments; ``screens`` maps a segment number to its screen."""
    return {"product_name": product, "segments": [
        {"id": f"s{n:02d}", **({"screen": screens[n]} if screens and n in screens else {})}
        for n in range(1, count + 1)]}


def _run(tmp_path, script, edl, analysis=None, **options):
    analysis = analysis or _segments(len(script["segments"]))
    for name, doc in (("script", script), ("edl", edl), ("segments", analysis)):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    out = tmp_path / "out"
    result = metadata.run(
        tmp_path / "script.json", tmp_path / "edl.json", tmp_path / "segments.json", out,
        writer=get_script_writer("offline"), **options
    )
    return result, json.loads((out / "metadata.json").read_text())


def _assert_youtube_limits(meta: dict) -> None:
    assert 0 < len(meta["title"]) <= 100 and not set("<>") & set(meta["title"])
    assert len(meta["description"].encode("utf-8")) <= 5000 and not set("<>") & set(
        meta["description"]
    )
    assert len(meta["tags"]) == len(set(meta["tags"]))
    assert all(0 < len(tag) <= 30 and "," not in tag for tag in meta["tags"])
    assert len(",".join(f'"{t}"' if " " in t else t for t in meta["tags"])) <= 500


def _assert_valid_chapters(chapters: list[dict], duration: float) -> None:
    starts = [ch["start"] for ch in chapters]
    assert len(chapters) >= 3 and starts[0] == 0.0
    assert starts == sorted(starts) and all(s < duration for s in starts)
    assert all(b - a >= 10 for a, b in zip(starts, starts[1:] + [duration]))
    assert all(1 <= len(ch["title"].split()) <= 6 for ch in chapters)


def test_metadata_for_a_normal_video(tmp_path):
    starts = [0.0, 9.2, 17.5, 29.0, 41.3, 52.0]
    result, meta = _run(tmp_path, _script(), _edl(65.0, starts), privacy="unlisted")

    assert meta["title"] == "Acme dashboard tour"
    assert (meta["category_id"], meta["language"], meta["privacy"]) == ("28", "en", "unlisted")
    _assert_youtube_limits(meta)
    _assert_valid_chapters(meta["chapters"], 65.0)
    assert meta["chapters"][0]["title"] == "Tour of the Acme dashboard"
    for chapter in meta["chapters"]:
        assert f"\n{timestamp(chapter['start'])} {chapter['title']}" in meta["description"]
    assert meta["description"].startswith("Welcome to this quick tour")
    assert {"acme dashboard", "monthly revenue charts", "team invitations"} <= set(
        meta["tags"])
    assert not {"moment", "closely", "layout", "finish", "view"} & set(
        w for tag in meta["tags"] for w in tag.split())
    assert result == {
        "title": meta["title"],
        "chapters": len(meta["chapters"]),
        "tags": len(meta["tags"]),
        "description_bytes": len(meta["description"].encode("utf-8")),
    }


def test_short_video_has_no_chapters(tmp_path):
    _, meta = _run(tmp_path, _script(), _edl(25.0, [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]))
    assert meta["chapters"] == []
    assert "0:00" not in meta["description"]


@pytest.mark.parametrize(
    ("duration", "starts", "some"),
    [
        (65.0, [0.0, 5.0, 10.5, 15.0, 21.0, 26.0], True),  # dense narration: merged
        (65.0, [0.0, 25.0, 45.0], True),
        (65.0, [0.0, 25.0, 60.0], False),  # the third page is too short: two chapters, so none
        (30.0, [0.0, 10.0, 20.0], True),  # the shortest video with chapters
        (30.0, [0.0, 12.0, 25.0], False),  # 0:00 and 0:10 would both be the first page
        (31.7, [0.0, 4.0, 29.0], False),  # only one page lasts 10 s
        (3725.0, [float(t) for t in range(0, 3720, 7)], True),
    ],
)
def test_chapters_are_valid_for_youtube(duration, starts, some):
    texts = {f"s{n:02d}": chapter_title(TEXTS[n % len(TEXTS)]) or f"Page {n}"
             for n in range(1, len(starts) + 1)}
    chapters = chapters_for(Edl.from_dict(_edl(duration, starts)).narration, texts, duration)
    if some:
        _assert_valid_chapters(chapters, duration)
    else:
        assert chapters == []


def test_chapters_are_never_named_part_n():
    # one narrated segment: three chapters would all carry the same name, so there are none
    edl = Edl.from_dict(_edl(65.0, [0.0]))
    assert chapters_for(edl.narration, {"s01": "Invoices"}, 65.0) == []


SCREENS = {
    1: {"headline": "Sprint 14 board", "terms": ["To do", "In progress", "Two-factor login"]},
    2: {"headline": "Sprint 14 board", "terms": ["Slack notifications"]},
    3: {"headline": "Backlog", "terms": ["Move to sprint", "Sprint 15", "Story points"]},
    4: {"headline": "Velocity report", "terms": ["Completed points", "Cycle time", "Open bugs"]},
    5: {"headline": "Integrations", "terms": ["Google Calendar", "GitHub", "Slack"]},
    6: {"headline": "Integrations", "terms": ["Google Calendar connected"]},
}
TOUR_TEXTS = [
    "This is the Sprint 14 board in Orbit.",
    "Slack notifications sit in the To do column.",
    "In the backlog we filter for billing tickets.",
    "Completed points are 86 and cycle time is 3.2 days.",
    "Finally we connect Google Calendar on the integrations page.",
    "Google Calendar is now connected.",
]


def test_metadata_comes_from_the_footage(tmp_path):
    analysis = _segments(6, SCREENS, product="Orbit")
    analysis["segments"][2]["speech"] = {"text": "In the backlog I filter for billing tickets."}
    script = _script(TOUR_TEXTS, title="Orbit: Sprint 14 board, Backlog and Velocity report")
    _, meta = _run(tmp_path, script, _edl(65.0, [0.0, 8.0, 14.0, 30.0, 44.0, 55.0]), analysis)

    assert [c["title"] for c in meta["chapters"]] == [
        "Sprint 14 board", "Backlog", "Velocity report", "Integrations"]
    _assert_valid_chapters(meta["chapters"], 65.0)
    body = meta["description"].split("\n\nChapters:")[0]
    assert body.startswith(
        "A walkthrough of Orbit: Sprint 14 board, Backlog, Velocity report and Integrations.")
    positions = [body.index(f"\n\n{page}:") for page in
                 ("Sprint 14 board", "Backlog", "Velocity report", "Integrations")]
    assert positions == sorted(positions), "the description walks the pages in order"
    assert meta["tags"][:6] == ["orbit", "orbit tutorial", "sprint 14 board", "backlog",
                                "velocity report", "integrations"]
    footage = " ".join([*TOUR_TEXTS, *(t for sc in SCREENS.values() for t in sc["terms"]),
                        "In the backlog I filter for billing tickets."]).lower()
    found = [tag for tag in meta["tags"] if tag in footage]
    assert len(found) >= 0.7 * len(meta["tags"]), meta["tags"]
    _assert_youtube_limits(meta)


def test_limits_hold_on_adversarial_input(tmp_path):
    hostile_title = "<script>alert('x')</script> " + "Ünïcödé <b>bold</b> title " * 12
    huge = [f"Topic {i} " + "word " * 150 + "<i>markup</i> 🚀 https://spam.example/"
            for i in range(200)]
    cjk = [
        "日本語のテキストを読み上げます。" * 60,
        "한국어 설명 텍스트 " * 80,
        "中文字幕和说明" * 90,
    ]
    starts = [i * 3.0 for i in range(len(huge) + len(cjk))]
    _, meta = _run(tmp_path, _script(huge + cjk, title=hostile_title), _edl(starts[-1] + 5, starts))

    _assert_youtube_limits(meta)
    assert "script" not in meta["title"] and "alert" not in meta["title"]
    _assert_valid_chapters(meta["chapters"], starts[-1] + 5)
    assert meta["description"].endswith(
        f"{timestamp(meta['chapters'][-1]['start'])} {meta['chapters'][-1]['title']}"
    ), "the chapter list must survive truncation"

    _, cjk_meta = _run(tmp_path, _script(cjk * 20, title="日本語" * 60), _edl(20.0, [0.0]))
    _assert_youtube_limits(cjk_meta)
    assert len(cjk_meta["description"].encode("utf-8")) > 2500, (
        "CJK text should fill the byte budget"
    )


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Next, we open the settings page.", "Open the settings page"),
        ("Here is the next view.", ""),
        ("Moving on, this part shows a different screen.", "Different screen"),
        (
            "Take a moment to read the <b>release notes</b> for version two today.",
            "Read the release notes for version",
        ),
    ],
)
def test_chapter_title(text, title):
    assert chapter_title(text) == title


@pytest.mark.parametrize(
    ("seconds", "stamp"), [(0, "0:00"), (9.9, "0:09"), (65, "1:05"), (3725, "1:02:05")]
)
def test_timestamp(seconds, stamp):
    assert timestamp(seconds) == stamp


def test_a_label_on_screen_is_tagged_whole_not_cut_at_a_generic_word():
    """"Cycle time" on a KPI card is a tag; "cycle" (cut at the generic "time") is not."""
    texts = ["Velocity report", "Completed points", "86", "Cycle time", "3.2 days", "Open bugs",
             "The velocity report shows the cycle time."]
    tags = metadata.build_tags("Orbit velocity report", texts, first=["Orbit"])
    assert "cycle time" in tags
    assert "cycle" not in tags and "time" not in tags
    assert not {"moment", "watch", "wrap"} & set(tags)


def test_tags_are_what_someone_searches_for_not_the_apps_sample_data():
    """The Ledgerly dashboard and invoice list as read on screen: a tag names the product, its
    pages and features, never a table's column header, a customer's company, an invoice
    number, an amount, a date or a word cut out of a label."""
    terms = ["Overview for June 2026", "Revenue this month", "Open invoices", "Overdue",
             "$48,210", "+12.4% vs May", "Recent activity", "Upcoming payments",
             "Acme Corp paid INV-1038", "Globex Corporation", "Today", "Due Jun 21", "Draft",
             "INVOICE", "CUSTOMER", "AMOUNT", "STATUS", "INV-1041", "Wayne Enterprises"]
    speech = ["This is the Ledgerly dashboard, revenue, open invoices, and what's overdue.",
              "Here are all our invoices. Newest first."]
    tags = metadata.build_tags("Ledgerly: Dashboard and Invoices", terms + speech,
                               first=["Ledgerly", "Dashboard", "Invoices"], labels=terms)
    assert tags[:4] == ["ledgerly", "ledgerly tutorial", "dashboard", "invoices"]
    assert {"overdue", "recent activity", "upcoming payments"} <= set(tags)
    for junk in ("amount", "customer", "status", "globex corporation", "wayne enterprises",
                 "acme", "jun", "may", "vs may", "due", "today", "month", "newest"):
        assert junk not in tags, (junk, tags)
    assert not any(any(c.isdigit() for c in t) for t in tags), tags
    # without text on screen (a talking head), single words of the speech still count
    assert "roadmap" in metadata.build_tags("Our roadmap", ["The roadmap for next year."])


def _line(text, x, y, w=120, h=14):
    return {"text": text, "box": [x, y, w, h]}


def test_a_tables_cells_are_sample_data_its_headings_and_a_sidebar_are_not():
    """A customer list as OCR reads it: names, emails and balances in columns on shared rows;
    beside it a sidebar (one column), a section heading over the list, a tab that is also a
    status cell."""
    rows = [("Cyberdyne", "billing@cyberdyne.com", "$2,337.50", "Paid"),
            ("Northwind Traders", "billing@northwind.com", "$825.00", "Sent"),
            ("Oakridge Farms", "billing@oakridge.com", "$4,812.50", "Paid"),
            ("Pied Piper", "billing@piedpiper.com", "$7,700.00", "Overdue")]
    lines = [_line("Dashboard", 20, 90), _line("Invoices", 20, 112), _line("Customers", 20, 134),
             _line("Reports", 20, 156), _line("Top customers", 317, 180, 160, 19),
             _line("Paid", 700, 140, 40), _line("Overdue", 760, 140, 60)]
    for k, (name, email, balance, status) in enumerate(rows):
        y = 222 + 44 * k
        lines += [_line(name, 317, y), _line(email, 633, y + 2, 200),
                  _line(balance, 1052 - 9 * len(balance), y, 9 * len(balance)),
                  _line(status, 1120, y + 1, 50)]
    cells = metadata.table_cells(lines)
    assert {name for name, *_ in rows} <= cells
    assert {"billing@cyberdyne.com", "$825.00"} <= cells
    assert not {"Dashboard", "Invoices", "Customers", "Reports", "Top customers", "Paid",
                "Overdue"} & cells
    assert metadata.table_cells(lines[:7]) == set()  # no table on the screen: nothing is data
    # so a tag never names a customer of the app's sample data
    analysis = {"product_name": "Ledgerly", "segments": [
        {"id": "s01", "screen": {"headline": "Customers", "lines": lines,
                                 "terms": [line["text"] for line in lines]}}]}
    footage = metadata.Footage.of(analysis)
    tags = metadata.build_tags("Ledgerly: Customers", footage.tag_texts(),
                               first=footage.names(), labels=footage.terms)
    assert tags[:3] == ["ledgerly", "ledgerly tutorial", "customers"]
    assert not {"cyberdyne", "northwind traders", "pied piper", "oakridge farms"} & set(tags), tags


def test_a_word_cut_at_a_dialogs_edge_is_no_tag():
    terms = ["Optional note for the cus", "tomer", "Memo", "Customer", "Draft"]
    tags = metadata.build_tags("Ledgerly: New invoice", terms, first=["Ledgerly", "New invoice"],
                               labels=terms)
    assert "tomer" not in tags and {"memo", "draft", "customer"} <= set(tags), tags


def test_what_is_said_and_shown_is_tagged_and_a_phrase_cut_out_of_a_sentence_is_not():
    """The Ledgerly tour tagged "optional note" (cut out of the memo field's placeholder
    "Optional note for the customer") but not "revenue by month", which the presenter said
    over the chart of that title."""
    terms = ["Optional note for the customer", "Memo", "Due date", "Revenue by month",
             "Top customers"]
    said = ["Every customer is listed with their open balance and last payment.",
            "Finally, reports show revenue by month. May was our best month yet."]
    shown = terms + ["32 customers $21,940 open balance"]
    tags = metadata.build_tags("Ledgerly: Reports", terms + said,
                               first=["Ledgerly", "Customers", "Reports"], labels=terms,
                               said=said, shown=shown)
    assert tags[:6] == ["ledgerly", "ledgerly tutorial", "customers", "reports", "open balance",
                        "revenue by month"], tags
    assert {"revenue by month", "open balance", "due date", "top customers"} <= set(tags), tags
    assert "optional note" not in tags and "best month" not in tags, tags
    assert metadata.said_and_shown(said, shown) == ["open balance", "revenue by month"]


def test_a_misheard_product_name_is_tagged_as_the_product():
    tags = metadata.build_tags("Ledgerly", ["This is the Ludgerly dashboard with its ledger."],
                               first=["Ledgerly", "Dashboard"])
    assert "ludgerly dashboard" not in tags and not any("ludgerly" in t for t in tags), tags
    assert metadata._product_spelled("our ledger", "Ledgerly") == "our ledger"


def test_the_walkthrough_drops_a_repeated_page_name_but_never_leaves_a_fragment():
    footage = metadata.Footage("Ledgerly", {"s1": "Velocity report", "s2": "Invoices"},
                               ("s1", "s2"), (), ())
    lines = footage.walkthrough({
        "s1": "On to the Velocity report. Completed points are 86 this sprint.",
        "s2": "Here are all our invoices. Newest first.",
    })
    assert lines[1] == "Velocity report: Completed points are 86 this sprint."
    assert lines[2] == "Invoices: Here are all our invoices. Newest first."


def test_numbered_headings_are_tagged_by_what_they_name():
    """A job monitor's slides "Step 2: Analyse", "Step 4: Voiceover": nobody searches for
    "step 2: analyse"; the tags name the steps (the chapters keep the headings whole)."""
    analysis = {"product_name": "Render Farm Job Monitor", "segments": [
        {"id": f"s0{i}", "screen": {"headline": h, "lines": [], "terms": []}}
        for i, h in enumerate(["Step 2: Analyse", "Step 4: Voiceover", "Step 5: Render"], 1)]}
    footage = metadata.Footage.of(analysis)
    tags = metadata.build_tags("Render Farm Job Monitor: Analyse, Voiceover and Render",
                               footage.tag_texts(), first=footage.names(), labels=footage.terms)
    # ("render farm job monitor tutorial" would pass YouTube's 30 characters a tag)
    assert tags[:4] == ["render farm job monitor", "analyse", "voiceover", "render"], tags
    assert not any(":" in tag for tag in tags), tags
    assert footage.chapter_titles({})["s02"] == "Step 4: Voiceover"
