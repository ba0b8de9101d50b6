"""Edit stage, fit mode: pacing by content (action at 1x, idle sped up or cut, holds) and the
per-segment drift report, on hand-written analyses and on the generated product tour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from include.core.edl import Edl
from include.core.options import Settings
from include.stages import analyze, edit

WORDS = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen".split()


def write_inputs(folder: Path, segments: list[dict], voice: list[tuple[str, float, float]], *,
                 static_spans=None, silences=None, duration: float = 30.0,
                 has_audio: bool = True) -> dict[str, Path]:
    """segments.json (with analyze's frozen and silent stretches), script, voiceover, source."""
    folder.mkdir(parents=True, exist_ok=True)
    analysis = {"duration": duration, "fps": 30.0, "width": 640, "height": 360,
                "has_audio": has_audio, "segments": segments}
    if static_spans is not None:
        analysis.update(static_spans=static_spans, silences=silences or [])
    voiceover_segments = []
    for sid, a, b in voice:
        step = (b - a) / 4
        words = [{"word": WORDS[i], "start": round(a + i * step, 3),
                  "end": round(a + (i + 1) * step, 3)} for i in range(4)]
        voiceover_segments.append({"id": sid, "text": " ".join(WORDS[:4]), "start": a, "end": b,
                                   "words": words})
    docs = {
        "segments": analysis,
        "script": {"segments": [{"id": sid, "text": " ".join(WORDS[:4])} for sid, _, _ in voice]},
        "voiceover": {"duration": voice[-1][2], "gap": 0.4, "segments": voiceover_segments},
        "source": {"duration": duration, "width": 640, "height": 360, "fps": 30.0,
                   "has_audio": has_audio},
    }
    paths = {}
    for name, doc in docs.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    return paths


def run_edit(folder: Path, paths: dict, **settings) -> dict:
    # pacing is measured on the footage's own timeline: no intro card in front of it (the
    # intro's shift of clips, narration and drift report is tested in test_animate)
    settings = Settings(width=640, height=360, **{"animate": "off", **settings})
    edit.run(paths["segments"], paths["script"], paths["voiceover"], paths["source"], settings,
             folder / "edit")
    return Edl.load(folder / "edit" / "edl.json").as_dict()


def on_screen(edl: dict, start: float, end: float) -> float:
    """Final seconds during which source ``[start, end)`` is on screen (holds included)."""
    seconds = 0.0
    for clip in edl["clips"]:
        overlap = min(clip["src_end"], end) - max(clip["src_start"], start)
        if overlap > 0:
            seconds += overlap / clip["speed"]
        if clip["hold"] and start <= clip["src_end"] - 1 / 30 < end:
            seconds += clip["hold"]
    return seconds


def at_1x(edl: dict, start: float, end: float) -> float:
    """Source seconds of ``[start, end)`` that play at normal speed."""
    return sum(max(0.0, min(c["src_end"], end) - max(c["src_start"], start))
               for c in edl["clips"] if c["speed"] == 1.0)


def segment(sid, start, end, kept=None, **extra) -> dict:
    return {"id": sid, "start": start, "end": end, "kept": kept or [[start, end]], **extra}


# One 12 s screen: a page at 0 s, a dialog opens at 6 s; frozen 0-6 and 6-12 (the cursor moves,
# too little to count), the presenter silent 3-5 s.
SCREEN = dict(static_spans=[[0.0, 6.0], [6.0, 12.0]], silences=[[3.0, 5.0]], duration=12.0)


def test_idle_is_sped_up_and_the_new_pictures_play_at_1x(tmp_path):
    paths = write_inputs(tmp_path / "in", [segment("s01", 0.0, 12.0)], [("s01", 0.0, 3.0)],
                         **SCREEN)
    edl = run_edit(tmp_path, paths)
    clips = edl["clips"]
    assert at_1x(edl, 0.0, edit.ACTION_SECONDS) == pytest.approx(edit.ACTION_SECONDS, abs=0.002)
    assert at_1x(edl, 6.0, 6.0 + edit.ACTION_SECONDS) == pytest.approx(edit.ACTION_SECONDS,
                                                                      abs=0.002)
    idle = [c for c in clips if c["speed"] > 1]
    assert idle and all(c["speed"] == edit.MAX_IDLE_SPEED for c in idle)
    assert not any(c["speed"] > edit.MAX_IDLE_SPEED for c in clips)
    # 5 s of action at 1x, 7 s of idle footage at 4x (1.75 s) less the frozen, silent 3.25-4.75 s
    # (dead air): the narration is shorter, so the footage plays on without a hold.
    assert edl["output"]["duration"] == pytest.approx(5.0 + (7.0 - 1.5) / 4, abs=0.01)
    assert all(c["hold"] == 0 for c in clips)
    (report,) = edl["pacing"]
    assert report["drift"] == 0.0 and report["action"] == report["action_kept"] == 5.0
    assert report["idle_speed"] == edit.MAX_IDLE_SPEED


def test_a_longer_narration_slows_idle_then_holds_the_last_frame(tmp_path):
    # 7 s of narration: idle slows towards 1x and the footage covers it
    paths = write_inputs(tmp_path / "a" / "in", [segment("s01", 0.0, 12.0)],
                         [("s01", 0.0, 7.0)], **SCREEN)
    edl = run_edit(tmp_path / "a", paths)
    assert edl["output"]["duration"] == pytest.approx(7.4, abs=0.002)
    speeds = {c["speed"] for c in edl["clips"]}
    assert 1.0 in speeds and any(1.0 < s < edit.MAX_IDLE_SPEED for s in speeds)
    assert all(c["hold"] == 0 for c in edl["clips"])
    # 14 s of narration: all 10.5 s of kept footage at 1x, then its last frame holds
    paths = write_inputs(tmp_path / "b" / "in", [segment("s01", 0.0, 12.0)],
                         [("s01", 0.0, 14.0)], **SCREEN)
    edl = run_edit(tmp_path / "b", paths)
    assert all(c["speed"] == 1.0 for c in edl["clips"])
    assert edl["clips"][-1]["src_end"] == 12.0
    assert edl["clips"][-1]["hold"] == pytest.approx(14.4 - 10.5, abs=0.002)
    assert edl["pacing"][0]["hold"] == pytest.approx(3.9, abs=0.002)


def test_a_long_idle_stretch_is_cut_in_its_middle(tmp_path):
    # 20 s frozen with the presenter talking throughout (no dead air) and a 1 s narration: the
    # idle stretch would show 4.5 s at 4x; it shows IDLE_MAX_OUT, its start and end kept.
    paths = write_inputs(tmp_path / "in", [segment("s01", 0.0, 20.0)], [("s01", 0.0, 1.0)],
                         static_spans=[[0.0, 20.0]], silences=[], duration=20.0)
    edl = run_edit(tmp_path, paths)
    assert edl["output"]["duration"] == pytest.approx(edit.ACTION_SECONDS + edit.IDLE_MAX_OUT,
                                                      abs=0.005)
    assert edl["clips"][-1]["src_end"] == 20.0
    assert edl["pacing"][0]["idle_kept"] == pytest.approx(4.0, abs=0.01)


def test_typing_plays_at_most_2x_and_a_toast_at_1x(tmp_path):
    focus = [{"start": 2.0, "end": 7.0, "kind": "typing", "box": [10, 10, 200, 30]},
             {"start": 8.0, "end": 9.0, "kind": "toast", "box": [400, 300, 200, 40]},
             {"start": 9.5, "end": 11.0, "kind": "cursor", "box": [0, 0, 10, 10]}]
    paths = write_inputs(tmp_path / "in", [segment("s01", 0.0, 12.0, focus=focus)],
                         [("s01", 0.0, 2.0)], static_spans=[[0.0, 12.0]], silences=[],
                         duration=12.0)
    edl = run_edit(tmp_path, paths)
    typing = [c for c in edl["clips"] if c["src_start"] >= 3.0 - 1e-3 and c["src_end"] <= 6.5]
    assert typing and all(c["speed"] == edit.MAX_TYPING_SPEED for c in typing)
    assert at_1x(edl, 2.0, 3.0) == pytest.approx(1.0, abs=0.002)  # the first keystrokes
    assert at_1x(edl, 6.5, 7.5) == pytest.approx(1.0, abs=0.002)  # the typed result
    assert at_1x(edl, 8.0, 8.0 + edit.ACTION_SECONDS) == pytest.approx(edit.ACTION_SECONDS,
                                                                      abs=0.002)
    # the cursor-only event is idle
    assert not at_1x(edl, 10.5, 12.0)
    report = edl["pacing"][0]
    assert report["action"] == report["action_kept"]


def test_kept_presenter_speech_is_never_sped_up(tmp_path):
    words = [{"word": w, "start": a, "end": b, "probability": 0.95}
             for w, a, b in (("So", 3.0, 3.4), ("this", 3.5, 4.0), ("is", 4.2, 4.6),
                             ("it.", 4.9, 5.5))]
    speech = {"sentences": [{"text": "So this is it.", "start": 3.0, "end": 5.5}], "words": words}
    segments = [segment("s01", 0.0, 12.0, speech=speech)]
    voice = [("s01", 0.0, 2.0)]
    paths = write_inputs(tmp_path / "a" / "in", segments, voice, static_spans=[[0.0, 12.0]],
                         silences=[], duration=12.0)
    ducked = run_edit(tmp_path / "a", paths, original_audio="duck")
    assert at_1x(ducked, 3.0, 5.5) == pytest.approx(2.5, abs=0.002)
    dropped = run_edit(tmp_path / "b", paths)  # the source's audio is dropped: just footage
    assert at_1x(dropped, 3.0, 5.5) < 0.01


def test_a_page_change_at_a_segments_end_opens_the_next_segment(tmp_path):
    # s01 0-10 (a page at 0, another at 8.5 that lasts into s02, 10-18): s02's narration starts
    # on the frame where its page appears, not 1.5 s of it later.
    segments = [segment("s01", 0.0, 10.0), segment("s02", 10.0, 18.0)]
    paths = write_inputs(tmp_path / "in", segments, [("s01", 0.0, 2.0), ("s02", 2.4, 5.0)],
                         static_spans=[[0.0, 8.5], [8.5, 18.0]], silences=[], duration=18.0)
    edl = run_edit(tmp_path, paths)
    first = next(c for c in edl["clips"] if c["segment_id"] == "s02")
    assert first["src_start"] == 8.5
    assert max(c["src_end"] for c in edl["clips"] if c["segment_id"] == "s01") <= 8.5
    narration = {n["segment_id"]: n for n in edl["narration"]}
    assert narration["s02"]["out_start"] == first["out_start"]


@pytest.mark.parametrize("sync_mode", ["trim", "pad"])
def test_trim_and_pad_still_play_the_kept_footage_at_1x(tmp_path, sync_mode):
    kept = [[0.0, 3.25], [4.75, 12.0]]
    paths = write_inputs(tmp_path / "in", [segment("s01", 0.0, 12.0, kept)],
                         [("s01", 0.0, 3.0)], **SCREEN)
    edl = run_edit(tmp_path, paths, sync_mode=sync_mode)
    assert all(c["speed"] == 1.0 for c in edl["clips"])
    spans = [[c["src_start"], c["src_end"]] for c in edl["clips"]]
    assert spans == ([[0.0, 3.0]] if sync_mode == "trim" else kept)
    assert [(n["voice_start"], n["out_start"]) for n in edl["narration"]] == [(0.0, 0.0)]
    (report,) = edl["pacing"]
    assert report["drift"] == 0.0
    if sync_mode == "trim":  # the dialog at 6 s is cut away: its action did not survive
        assert report["action_kept"] < report["action"]


# --------------------------------------------------------------------- the generated product tour


@pytest.fixture(scope="module")
def tour_edit(product_tour, tmp_path_factory) -> tuple[dict, dict]:
    """analyze (pictures and silences only) on the generated tour, then a narration of 2-4 s per
    segment as the offline writer and Piper would give, then the edit: (EDL, truth)."""
    clip, truth = product_tour
    folder = tmp_path_factory.mktemp("tour_edit")
    analyze.run(clip, folder / "analyze")
    analysis = json.loads((folder / "analyze" / "segments.json").read_text())
    voice, t = [], 0.0
    for i, seg in enumerate(analysis["segments"]):
        length = 2.0 + (i % 3)  # 2, 3, 4 s
        voice.append((seg["id"], round(t, 3), round(t + length, 3)))
        t += length + 0.4
    paths = write_inputs(folder / "in", analysis["segments"], voice,
                         duration=truth["duration"])
    document = json.loads(paths["segments"].read_text())
    document.update({k: analysis[k] for k in ("static_spans", "silences", "has_audio")})
    paths["segments"].write_text(json.dumps(document))
    # with the defaults' intro and outro cards: the pacing holds in final time around them
    edl = run_edit(folder, paths, animate="auto")
    assert [c["kind"] for c in edl["cards"]] == ["intro", "outro"]
    return {**edl, "_segments": analysis["segments"]}, truth


def test_tour_every_narrated_page_dialog_and_toast_stays_on_screen(tour_edit):
    edl, truth = tour_edit
    for page in truth["pages"]:
        assert on_screen(edl, page["start"], page["end"]) >= 1.5, page
    for name in ("dialog", "toast"):
        event = truth[name]
        assert on_screen(edl, event["start"], event["end"]) >= 1.5, name


def test_tour_each_narration_starts_on_its_own_page(tour_edit):
    edl, truth = tour_edit

    def page_at(t):
        return next(i for i, p in enumerate(truth["pages"]) if p["start"] <= t < p["end"])

    segments = {s["id"]: s for s in edl["_segments"]}
    for n in edl["narration"]:
        first = next(c for c in edl["clips"] if c["segment_id"] == n["segment_id"])
        assert first["out_start"] == n["out_start"]
        assert page_at(first["src_start"] + 0.05) == page_at(
            segments[n["segment_id"]]["start"] + 0.05), (n, first)


def test_tour_drift_is_within_a_quarter_second_and_action_survives(tour_edit):
    edl, _ = tour_edit
    assert len(edl["pacing"]) == len(edl["narration"]) > 3
    for report in edl["pacing"]:
        assert abs(report["drift"]) <= 0.25, report
        assert report["action_kept"] == pytest.approx(report["action"], abs=0.002), report


def test_tour_dead_and_idle_stretches_are_compressed(tour_edit):
    edl, truth = tour_edit
    dead = truth["dead_stretch"]
    assert on_screen(edl, dead["start"], dead["end"]) <= 0.5 * (dead["end"] - dead["start"])
    assert any(c["speed"] > 1.5 for c in edl["clips"])
    voice = max(n["out_end"] for n in edl["narration"])
    intro, outro = (c["out_end"] - c["out_start"] for c in edl["cards"])
    footage = edl["output"]["duration"] - intro - outro
    assert voice <= edl["output"]["duration"] - outro and footage < 0.9 * truth["duration"]


# --------------------------------------------------------------------- the studio's video page


def test_the_video_page_shows_the_drift_report(tmp_path):
    from types import SimpleNamespace

    import jinja2

    from include.studio import videos

    paths = write_inputs(tmp_path / "in", [segment("s01", 0.0, 12.0)], [("s01", 0.0, 3.0)],
                         **SCREEN)
    edl = run_edit(tmp_path, paths, sync_mode="trim")  # trim cuts the dialog at 6 s away
    edl["pacing"].append({**edl["pacing"][0], "segment_id": "s09", "narration_start": 0.4,
                          "drift": 0.4})
    rows = videos.pacing_rows(edl)
    assert [(r["segment"], r["drift_ok"]) for r in rows] == [("s01", True), ("s09", False)]
    assert rows[0]["action_share"] < 100
    assert videos.pacing_rows({"clips": []}) == []
    folder = Path(videos.__file__).parent / "templates"
    page = jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True)
    html = page.get_template("video.html").render(
        base="", user=SimpleNamespace(name="alice", tenant="acme", is_admin=False),
        video={"video_id": "v1", "state": "success", "tenant": "acme", "title": "T",
               "script_mode": "autopilot", "rerun_plan": {}, "stages": [], "artifacts": [],
               "final": None, "metadata": None, "receipt": None, "pacing": rows})
    assert "<h2>Sync</h2>" in html and "+0.40 s" in html and 'class="bad"' in html
    assert f"({rows[0]['action_share']}%)" in html


def test_trim_reports_segments_whose_clip_merged_with_the_one_before(tmp_path):
    # s01 and s02 continue each other in the source: trim plays them as one clip (labelled s01)
    segments = [segment("s01", 0.0, 6.0), segment("s02", 6.0, 12.0)]
    paths = write_inputs(tmp_path / "in", segments, [("s01", 0.0, 3.0), ("s02", 3.4, 9.0)],
                         static_spans=[[0.0, 6.0], [6.0, 12.0]], silences=[], duration=12.0)
    edl = run_edit(tmp_path, paths, sync_mode="trim")
    assert len(edl["clips"]) == 1
    s01, s02 = edl["pacing"]
    assert (s02["footage_start"], s02["narration_start"]) == (6.0, 3.4)
    assert s02["drift"] == pytest.approx(-2.6)
    assert s02["action_kept"] == s02["action"] == edit.ACTION_SECONDS
    assert s01["action_kept"] == s01["action"]
