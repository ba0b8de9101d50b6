"""metadata stage: YouTube limits on adversarial input, chapters from the final timeline."""

from __future__ import annotations

import json

import pytest

from include.stages import metadata
from include.stages.metadata import chapter_title, chapters_for, timestamp
from include.stages.settings import Settings

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
    return {
        "version": 1,
        "output": {"width": 1280, "height": 720, "fps": 30, "duration": duration},
        "narration": narration,
    }


def _run(tmp_path, script, edl, **settings):
    (tmp_path / "script.json").write_text(json.dumps(script))
    (tmp_path / "edl.json").write_text(json.dumps(edl))
    out = tmp_path / "out"
    result = metadata.run(
        tmp_path / "script.json", tmp_path / "edl.json", Settings(**settings), out
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
    assert {"acme", "dashboard", "tour", "reports"} <= set(meta["tags"])
    assert meta["tags"][0] == "acme dashboard tour"
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
    ("duration", "starts"),
    [
        (65.0, [0.0, 5.0, 10.5, 15.0, 21.0, 26.0]),  # dense narration: merged
        (65.0, [0.0, 60.0]),  # sparse narration: split to reach three chapters
        (65.0, [0.0]),
        (30.0, [0.0, 12.0, 25.0]),  # the shortest video with chapters
        (31.7, [0.0, 4.0, 29.0]),
        (3725.0, [float(t) for t in range(0, 3720, 7)]),
    ],
)
def test_chapters_are_valid_for_youtube(duration, starts):
    texts = {f"s{n:02d}": TEXTS[n % len(TEXTS)] for n in range(1, len(starts) + 1)}
    _assert_valid_chapters(
        chapters_for(_edl(duration, starts)["narration"], texts, duration), duration
    )


def test_limits_hold_on_adversarial_input(tmp_path):
    hostile_title = "<script>alert('x')</script> " + "Ünïcödé <b>bold</b> title " * 12
    huge = ["word " * 150 + "<i>markup</i> 🚀 https://spam.example/" for _ in range(200)]
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
