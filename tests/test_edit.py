"""Edit stage: EDL invariants per sync mode, fit-mode speed-ups and holds, captions."""

from __future__ import annotations

import json
import random
import re
import statistics
from pathlib import Path

import pysubs2
import pytest

from include.core.edl import Edl
from include.core.errors import FatalError
from include.core.options import Settings
from include.stages import caption_track, edit

# Five 4 s shots like the sample clip; s02/s03 lose their frozen, silent middles.
SEGMENTS = [
    ("s01", 0.0, 4.0, [[0.0, 4.0]]),
    ("s02", 4.0, 8.0, [[4.0, 5.2], [6.8, 8.0]]),
    ("s03", 8.0, 12.0, [[8.0, 9.2], [10.8, 12.0]]),
    ("s04", 12.0, 16.0, [[12.0, 16.0]]),
    ("s05", 16.0, 20.0, [[16.0, 20.0]]),
]
KEPT_TOTAL = 16.8
TEXT = "Here is the dashboard overview, with all the charts and numbers for the whole team today."
# (segment, voice start, voice end); 0.4 s gaps. Slots: s01 3.4 s (4.0 s of footage -> 1.176x),
# s02 3.0 s (2.4 s -> hold 0.6 s), s04 2.6 s (4.0 s > 1.25 x 2.6 -> 1.25x, trimmed),
# s05 2.0 s (-> 1.25x, trimmed). s03 has no narration.
VOICE = [("s01", 0.0, 3.0), ("s02", 3.4, 6.0), ("s04", 6.4, 8.6), ("s05", 9.0, 11.0)]
VOICE_DURATION = 11.0


def spread_words(text: str, start: float, end: float) -> list[dict]:
    """Word timings spread evenly over ``[start, end]`` (like the 'estimated' timing)."""
    words = text.split()
    step = (end - start) / len(words)
    return [
        {"word": w, "start": round(start + i * step, 3), "end": round(start + (i + 1) * step, 3)}
        for i, w in enumerate(words)
    ]


def write_inputs(
    folder: Path,
    voice=VOICE,
    voice_duration=VOICE_DURATION,
    text=TEXT,
    script_ids=None,
    segments=SEGMENTS,
) -> dict[str, Path]:
    """segments.json, script.json, voiceover.json and source.json as earlier stages write them."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = {
        "segments": {
            "duration": 20.0, "fps": 30.0, "width": 640, "height": 360, "has_audio": True,
            "segments": [
                {"id": sid, "start": a, "end": b, "kept": kept,
                 "kept_duration": round(sum(y - x for x, y in kept), 3)}
                for sid, a, b, kept in segments
            ],
        },
        "script": {
            "title": "Demo", "language": "en", "words_per_minute": 150, "writer": "offline",
            "segments": [{"id": sid, "text": text}
                         for sid in (script_ids or [v[0] for v in voice])],
        },
        "voiceover": {
            "provider": "espeak", "voice": "en-us", "sample_rate": 22050,
            "duration": voice_duration, "gap": 0.4,
            "segments": [
                {"id": sid, "text": text, "start": a, "end": b,
                 "words": spread_words(text, a, b), "timing": "estimated"}
                for sid, a, b in voice
            ],
        },
        "source": {"duration": 20.0, "width": 640, "height": 360, "fps": 30.0,
                   "has_audio": True},
    }
    paths = {}
    for name, doc in docs.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(doc, ensure_ascii=False))
    return paths


def run_edit(folder: Path, sync_mode: str = "fit", style: str = "karaoke", **inputs) -> dict:
    paths = write_inputs(folder / "in", **inputs)
    settings = Settings(width=640, height=360, sync_mode=sync_mode, caption_style=style,
                        animate="off")  # the footage timeline; graphics: tests/test_animate.py
    result = edit.run(paths["segments"], paths["script"], paths["voiceover"], paths["source"],
                      settings, folder / "edit")
    edl = json.loads((folder / "edit" / "edl.json").read_text())
    assert result == {"duration": edl["output"]["duration"], "clips": len(edl["clips"]),
                      "sync_mode": sync_mode, "zoom_moves": 0, "cards": 0, "overlays": 0}
    return edl


def clips_of(edl: dict, segment_id: str) -> list[dict]:
    return [c for c in edl["clips"] if c["segment_id"] == segment_id]


@pytest.mark.parametrize("sync_mode", ["fit", "trim", "pad"])
def test_edl_invariants_hold_in_every_mode(tmp_path, sync_mode):
    edl = run_edit(tmp_path, sync_mode)
    Edl.from_dict(edl).check()
    assert edl["version"] == 1 and edl["sync_mode"] == sync_mode
    assert edl["output"] == {"width": 640, "height": 360, "fps": 30, "aspect": "16:9",
                             "framing": "pad", "duration": edl["output"]["duration"]}
    assert edl["audio"] == {"voiceover": "voiceover.wav", "voice_offset": 0.0, "original": "drop",
                            "music": ""}
    clips = edl["clips"]
    assert clips[0]["out_start"] == 0.0
    assert clips[-1]["out_end"] == edl["output"]["duration"]
    for before, after in zip(clips, clips[1:]):
        assert after["out_start"] == before["out_end"]
        # merged: no two neighbours continue each other in the source at the same speed (in
        # fit, where each narration starts on its segment's first clip, within a segment)
        same = sync_mode != "fit" or before["segment_id"] == after["segment_id"]
        assert not (same and before["hold"] == 0 and before["speed"] == after["speed"]
                    and before["src_end"] == after["src_start"])
    for clip in clips:
        length = (clip["src_end"] - clip["src_start"]) / clip["speed"] + clip["hold"]
        assert clip["out_end"] - clip["out_start"] == pytest.approx(length, abs=0.001)
        assert 0.0 <= clip["src_start"] < clip["src_end"] <= 20.0
    assert [n["segment_id"] for n in edl["narration"]] == [v[0] for v in VOICE]
    for n, (sid, a, b) in zip(edl["narration"], VOICE):
        assert (n["voice_start"], n["voice_end"]) == (a, b)
        if sync_mode == "fit":  # on the segment's first frame, as long as in the voice
            assert n["out_start"] == clips_of(edl, sid)[0]["out_start"]
            assert n["out_end"] - n["out_start"] == pytest.approx(b - a, abs=0.001)
        else:
            assert (n["out_start"], n["out_end"]) == (a, b)
    assert [p["segment_id"] for p in edl["pacing"]] == [v[0] for v in VOICE]
    assert (tmp_path / "edit" / "captions.ass").is_file()
    assert not list((tmp_path / "edit").glob(".*partial*"))


def test_fit_without_picture_data_plays_each_narrated_segment_whole_and_holds(tmp_path):
    # segments.json without static_spans: all kept footage counts as action and plays at 1x;
    # each segment lasts at least its narration plus the 0.4 s gap.
    edl = run_edit(tmp_path, "fit")
    assert not clips_of(edl, "s03"), "a segment without narration is dropped in fit mode"
    assert all(c["speed"] == 1.0 for c in edl["clips"])
    (s01,) = clips_of(edl, "s01")  # 4.0 s of footage, 3.0 s of narration: all of it plays
    assert (s01["src_start"], s01["src_end"], s01["hold"]) == (0.0, 4.0, 0.0)
    s02 = clips_of(edl, "s02")  # 2.4 s of footage, 2.6 s of narration: then a 0.6 s hold
    assert [(c["src_start"], c["src_end"]) for c in s02] == [(4.0, 5.2), (6.8, 8.0)]
    assert [c["hold"] for c in s02] == [0.0, pytest.approx(0.6, abs=0.001)]
    assert [c["out_start"] for c in edl["clips"]] == [0.0, 4.0, 5.2, 7.0, 11.0]
    assert edl["output"]["duration"] == 15.0
    assert [n["out_start"] for n in edl["narration"]] == [0.0, 4.0, 7.0, 11.0]
    for p in edl["pacing"]:
        assert p["drift"] == 0.0 and p["action_kept"] == p["action"] > 0


def test_fit_footage_equal_to_slot_plays_at_normal_speed(tmp_path):
    edl = run_edit(tmp_path, "fit", voice=[("s02", 0.0, 2.0)], voice_duration=2.4)
    assert [(c["src_start"], c["src_end"], c["speed"], c["hold"]) for c in edl["clips"]] == [
        (4.0, 5.2, 1.0, 0.0), (6.8, 8.0, 1.0, 0.0)
    ]


def test_trim_cuts_the_footage_where_the_voice_ends(tmp_path):
    edl = run_edit(tmp_path, "trim")
    assert edl["output"]["duration"] == VOICE_DURATION
    assert all(c["speed"] == 1.0 and c["hold"] == 0 for c in edl["clips"])
    # s01 and the start of s02 continue each other in the source: merged into one clip
    assert (edl["clips"][0]["src_start"], edl["clips"][0]["src_end"]) == (0.0, 5.2)
    assert edl["clips"][-1]["src_end"] == pytest.approx(14.2, abs=0.001)


def test_trim_holds_the_last_frame_when_the_voice_is_longer(tmp_path):
    voice = [("s01", 0.0, 10.0), ("s02", 10.4, 19.5)]
    edl = run_edit(tmp_path, "trim", voice=voice, voice_duration=19.5)
    assert edl["output"]["duration"] == 19.5
    assert edl["clips"][-1]["src_end"] == 20.0
    assert edl["clips"][-1]["hold"] == pytest.approx(19.5 - KEPT_TOTAL, abs=0.001)


@pytest.mark.parametrize(
    ("voice", "voice_duration", "duration", "hold"),
    [
        (VOICE, VOICE_DURATION, KEPT_TOTAL, 0.0),  # footage longer: all of it plays
        ([("s01", 0.0, 10.0), ("s02", 10.4, 19.5)], 19.5, 19.5, 19.5 - KEPT_TOTAL),
    ],
)
def test_pad_plays_all_footage_and_holds_for_a_longer_voice(
    tmp_path, voice, voice_duration, duration, hold
):
    edl = run_edit(tmp_path, "pad", voice=voice, voice_duration=voice_duration)
    assert edl["output"]["duration"] == pytest.approx(duration, abs=0.001)
    played = sum(c["src_end"] - c["src_start"] for c in edl["clips"])
    assert played == pytest.approx(KEPT_TOTAL, abs=0.002)
    assert edl["clips"][-1]["hold"] == pytest.approx(hold, abs=0.001)


def test_inputs_that_disagree_are_fatal(tmp_path):
    with pytest.raises(FatalError, match="s09"):
        run_edit(tmp_path / "a", script_ids=["s01", "s02", "s04", "s05", "s09"])
    with pytest.raises(FatalError, match="no narration"):
        run_edit(tmp_path / "b", voice=[])
    with pytest.raises(FatalError, match="script.json does not have"):
        run_edit(tmp_path / "c", script_ids=["s01", "s02"])
    with pytest.raises(FatalError, match="voiceover.json duration"):
        run_edit(tmp_path / "d", voice_duration=0)
    with pytest.raises(FatalError, match="outside the 5.0 s voiceover"):
        run_edit(tmp_path / "e", voice_duration=5.0)


def test_malformed_inputs_are_fatal(tmp_path):
    paths = write_inputs(tmp_path / "in")
    voiceover = json.loads(paths["voiceover"].read_text())
    del voiceover["segments"][0]["start"]
    paths["voiceover"].write_text(json.dumps(voiceover))
    with pytest.raises(FatalError, match="malformed"):
        edit.run(paths["segments"], paths["script"], paths["voiceover"], paths["source"],
                 Settings(animate="off"), tmp_path / "edit")
    with pytest.raises(FatalError, match="missing"):
        edit.run(tmp_path / "none.json", paths["script"], paths["voiceover"], paths["source"],
                 Settings(animate="off"), tmp_path / "edit")


def test_check_edl_rejects_a_gap(tmp_path):
    edl = run_edit(tmp_path, "fit")
    edl["clips"][1]["out_start"] += 0.05
    with pytest.raises(FatalError, match="starts at"):
        Edl.from_dict(edl)


@pytest.mark.parametrize("seed", range(40))
def test_invariants_hold_for_random_layouts(tmp_path, seed):
    rng = random.Random(seed)
    segments, start = [], 0.0
    for i in range(rng.randint(1, 5)):  # 1.5-4 s shots inside the 20 s source
        end = round(start + rng.uniform(1.5, 4.0), 3)
        cut = round(rng.uniform(start + 0.2, end), 3)
        resume = round(min(end, cut + rng.uniform(0.0, 1.5)), 3)
        kept = [[start, cut]] + ([[resume, end]] if end - resume > 0.01 else [])
        segments.append((f"s{i:02d}", start, end, kept))
        start = end
    voice, t = [], 0.0
    for sid, *_ in rng.sample(segments, rng.randint(1, len(segments))):
        length = rng.uniform(0.3, 7.0)
        voice.append((sid, round(t, 3), round(t + length, 3)))
        t += length + rng.choice([0.0, 0.4, 0.731])
    for sync_mode in ("fit", "trim", "pad"):
        edl = run_edit(tmp_path / sync_mode, sync_mode, voice=voice,
                       voice_duration=round(voice[-1][2], 3), segments=segments)
        Edl.from_dict(edl).check()


def test_slivers_of_footage_become_holds(tmp_path):
    # A 5.25 s voice trims the footage after s01 (4 s) and s02's first 1.2 s span: the 0.05 s
    # sliver of its second span becomes a 0.05 s hold instead.
    edl = run_edit(tmp_path, "trim", voice=[("s01", 0.0, 5.0)], voice_duration=5.25)
    assert [(c["src_start"], c["src_end"], c["speed"], c["hold"]) for c in edl["clips"]] == [
        (0.0, 5.2, 1.0, 0.05)
    ]


# --- captions -------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["clean", "bold", "karaoke"])
def test_caption_events_are_short_ordered_and_inside_the_video(tmp_path, style):
    edl = run_edit(tmp_path, "pad", style=style)
    events = edl["captions"]["events"]
    assert edl["captions"]["file"] == "captions.ass" and edl["captions"]["style"] == style
    assert len(events) >= 4
    spoken = [w["word"] for e in events for w in e["words"]]
    assert spoken == TEXT.split() * len(VOICE)
    previous_end = 0.0
    for event in events:
        assert 2 <= len(event["words"]) <= 8
        assert len(event["text"]) <= 50
        assert event["text"] == " ".join(w["word"] for w in event["words"])
        assert previous_end <= event["start"] < event["end"] <= edl["output"]["duration"]
        previous_end = event["end"]
    # breaks prefer punctuation
    assert any(e["text"].endswith("overview,") for e in events)

    subs = pysubs2.load(str(tmp_path / "edit" / "captions.ass"))
    assert subs.info["PlayResX"] == "640" and subs.info["PlayResY"] == "360"
    font = subs.styles["Default"]
    assert font.fontname == "DejaVu Sans"
    assert font.marginv >= 0.05 * 360 and min(font.marginl, font.marginr) >= 0.05 * 640
    assert len(subs) == len(events)


def test_one_word_remainder_joins_the_previous_event():
    text = "One two three four five six seven eight nine"  # 8 + 1 words
    voiceover = {"segments": [{"id": "s01", "words": spread_words(text, 0.0, 4.5)}]}
    events = caption_track.build_events(voiceover, 5.0)
    assert [len(e["words"]) for e in events] == [7, 2]
    single = {"segments": [{"id": "s01", "words": spread_words("Hello there friends", 0, 1)},
                           {"id": "s02", "words": spread_words("Bye", 1.5, 2.0)}]}
    assert [e["text"] for e in caption_track.build_events(single, 3.0)] == [
        "Hello there friends Bye"
    ]


def test_events_are_clamped_to_the_video():
    voiceover = {"segments": [{"id": "s01", "words": spread_words(TEXT, 0.0, 6.0)}]}
    events = caption_track.build_events(voiceover, 3.0)
    assert events and events[-1]["end"] <= 3.0
    assert all(w["end"] <= 3.0 for e in events for w in e["words"])


def test_karaoke_durations_add_up_to_each_event(tmp_path):
    run_edit(tmp_path, "fit", style="karaoke")
    subs = pysubs2.load(str(tmp_path / "edit" / "captions.ass"))
    assert len(subs) > 0
    for line in subs:
        ks = [int(k) for k in re.findall(r"\\k(\d+)", line.text)]
        assert len(ks) == len(re.sub(r"\{[^}]*\}", "", line.text).split())
        assert abs(sum(ks) - (line.end - line.start) / 10) <= 2


def test_cjk_captions_do_not_crash(tmp_path):
    words = ["这是", "我们的", "仪表板", "概览。", "数据", "图表"]
    voiceover = {"segments": [{"id": "s01", "words": [
        {"word": w, "start": i * 0.5, "end": i * 0.5 + 0.45} for i, w in enumerate(words)]}]}
    events = caption_track.build_events(voiceover, 3.0)
    assert [e["text"] for e in events] == ["这是我们的仪表板概览。", "数据图表"]
    for style in caption_track.STYLES:
        caption_track.write_ass(events, tmp_path / f"{style}.ass", style, 640, 360)
        assert "仪表板" in (tmp_path / f"{style}.ass").read_text(encoding="utf-8")


@pytest.mark.parametrize("style", caption_track.STYLES)
def test_caption_boxes_in_memory_equal_those_read_back_from_the_written_ass(tmp_path, style):
    """caption_boxes_for (the edit's toast check) lays out exactly what write_ass writes and
    caption_boxes reads back (QC's title-safe check): a short caption, one that wraps to two
    lines on a 9:16 frame, and one at the top."""
    width, height = 360, 640
    voiceover = {"segments": [
        {"id": "s01", "words": spread_words("Here is the dashboard.", 0.0, 1.5)},
        {"id": "s02", "words": spread_words("Revenue this quarter grew across every region", 2.0,
                                            5.0)},
        {"id": "s03", "words": spread_words("Invoice sent to the customer.", 5.5, 7.5)},
    ]}
    events = caption_track.build_events(voiceover, 8.0)
    assert len(events) == 3
    events[2] = {**events[2], "top": True}
    ass = tmp_path / "captions.ass"
    caption_track.write_ass(events, ass, style, width, height)

    in_memory = caption_track.caption_boxes_for(events, style, width, height)
    assert in_memory == caption_track.caption_boxes(ass, width, height)
    assert [b["start"] for b in in_memory] == [e["start"] for e in events]
    one_line, wrapped, _top = (b["box"][3] for b in in_memory)
    line = caption_track._style(style, width, height).fontsize
    assert wrapped - one_line == pytest.approx(line, abs=0.2)  # two lines against one
    # the caption moved to the top ({\an8}) stands at the top margin, as libass draws it
    top = in_memory[2]["box"]
    bottom = caption_track.caption_boxes_for([{**events[2], "top": False}], style, width,
                                             height)[0]["box"]
    assert top[1] + top[3] < height / 2 < bottom[1]
    assert top[1] == pytest.approx(height - bottom[1] - bottom[3], abs=1.0)  # the same margin


def test_karaoke_onsets_match_the_word_timings(tmp_path):
    edl = run_edit(tmp_path, "fit", style="karaoke")
    subs = pysubs2.load(str(tmp_path / "edit" / "captions.ass"))
    events = edl["captions"]["events"]
    assert len(subs) == len(events)
    for line, event in zip(subs, events):
        onset = line.start / 1000
        for k, word in zip(re.findall(r"\\k(\d+)", line.text), event["words"]):
            assert abs(onset - word["start"]) <= 0.011, (event["text"], word)
            onset += int(k) / 100


def test_median_caption_onset_is_within_80_ms_of_its_word(tmp_path):
    edl = run_edit(tmp_path, "fit")
    voiceover = json.loads((tmp_path / "in" / "voiceover.json").read_text())
    shift = {n["segment_id"]: n["out_start"] - n["voice_start"] for n in edl["narration"]}
    words = [{**w, "start": w["start"] + shift[segment["id"]]}
             for segment in voiceover["segments"] for w in segment["words"]]
    lags, index = [], 0
    for event in edl["captions"]["events"]:  # the events hold every word, in order
        assert event["words"][0]["word"] == words[index]["word"]
        lags.append(abs(event["start"] - words[index]["start"]))
        index += len(event["words"])
    assert index == len(words)
    assert statistics.median(lags) <= 0.08


UNCUT = [(sid, a, b, [[a, b]]) for sid, a, b, _ in SEGMENTS]  # kept as analyze would not cut


@pytest.mark.parametrize(
    ("config", "s02_gap"),
    [
        ({}, (5.25, 6.75)),  # analyze's defaults: > 1 s of dead air, 0.25 s margins
        ({"dead_air_margin_seconds": 0.4}, (5.4, 6.6)),
        ({"dead_air_min_seconds": 3.0}, None),  # 2 s of dead air is too short to cut
    ],
)
def test_dead_air_cuts_follow_the_settings(tmp_path, config, s02_gap):
    """s02 (4-8 s) is frozen throughout and silent 5-7 s: that silence is its dead air."""
    paths = write_inputs(tmp_path / "in", segments=UNCUT)
    analysis = json.loads(paths["segments"].read_text())
    analysis.update({"static_spans": [[4.0, 8.0]], "silences": [[1.0, 1.5], [5.0, 7.0]]})
    paths["segments"].write_text(json.dumps(analysis))
    settings = Settings(width=640, height=360, sync_mode="pad", animate="off", **config)
    edit.run(paths["segments"], paths["script"], paths["voiceover"], paths["source"], settings,
             tmp_path / "edit")
    clips = json.loads((tmp_path / "edit" / "edl.json").read_text())["clips"]
    spans = [(c["src_start"], c["src_end"]) for c in clips]
    if s02_gap is None:
        assert spans == [(0.0, 20.0)]
    else:
        assert spans == [(0.0, s02_gap[0]), (s02_gap[1], 20.0)]


def test_without_audio_a_frozen_stretch_is_dead_air(tmp_path):
    paths = write_inputs(tmp_path / "in", segments=UNCUT)
    analysis = json.loads(paths["segments"].read_text())
    analysis.update({"has_audio": False, "static_spans": [[4.0, 12.0]], "silences": []})
    paths["segments"].write_text(json.dumps(analysis))
    edit.run(paths["segments"], paths["script"], paths["voiceover"], paths["source"],
             Settings(width=640, height=360, sync_mode="pad", animate="off"), tmp_path / "edit")
    clips = json.loads((tmp_path / "edit" / "edl.json").read_text())["clips"]
    # s02 and s03 (4-12 s) are frozen: each keeps its first second, the minimum
    assert [(c["src_start"], c["src_end"]) for c in clips] == [(0.0, 5.0), (8.0, 9.0), (12.0, 20.0)]


def test_dead_air_settings_are_validated():
    with pytest.raises(FatalError, match="dead_air_min_seconds"):
        Settings.from_mapping({"dead_air_min_seconds": 0.4, "dead_air_margin_seconds": 0.25})


def _edit_with_toasts(folder: Path, zoom: str, box=(440, 310, 184, 34)) -> Edl:
    paths = write_inputs(folder / "in")
    doc = json.loads(paths["segments"].read_text())
    by_id = {s["id"]: s for s in doc["segments"]}
    by_id["s04"]["focus"] = [{"start": 12.5, "end": 13.5, "box": list(box), "kind": "toast"}]
    by_id["s01"]["focus"] = [{"start": 0.5, "end": 3.5, "box": [440, 10, 184, 34],
                              "kind": "toast"}]
    paths["segments"].write_text(json.dumps(doc))
    settings = Settings(width=640, height=360, sync_mode="fit", caption_style="karaoke",
                        animate="off", zoom=zoom)
    edit.run(paths["segments"], paths["script"], paths["voiceover"], paths["source"], settings,
             folder / "edit")
    return Edl.load(folder / "edit" / "edl.json")


def test_captions_move_to_the_top_while_a_toast_stands_in_their_band(tmp_path):
    """The Ledgerly tour's caption covered "Invoice INV-1042 sent" (a toast at the bottom right):
    the captions shown meanwhile stand at the top; a toast at the top moves nothing."""
    edl = _edit_with_toasts(tmp_path, zoom="off")
    clip = next(c for c in edl.clips if c.segment_id == "s04" and c.src_start <= 12.5 < c.src_end)
    toast = (clip.out_start + (12.5 - clip.src_start) / clip.speed,
             clip.out_start + (13.5 - clip.src_start) / clip.speed)
    events = list(edl.captions.events)
    moved = [e for e in events if e.get("top")]
    assert moved and all(e["start"] < toast[1] and toast[0] < e["end"] for e in moved)
    assert all(not (e["start"] < toast[1] and toast[0] < e["end"]) for e in events
               if not e.get("top"))
    subs = pysubs2.load(str(tmp_path / "edit" / "captions.ass"))
    assert [e.text.startswith("{\\an8}") for e in subs] == [bool(e.get("top")) for e in events]


def test_captions_stay_at_the_bottom_beside_a_toast_they_do_not_reach(tmp_path):
    """A toast in the caption band's corner, right of where the captions end (the style's right
    margin is 39 of 640 px): the captions shown meanwhile keep their place at the bottom, clear
    of the page's headline at the top."""
    edl = _edit_with_toasts(tmp_path, zoom="off", box=(604, 318, 32, 30))
    clip = next(c for c in edl.clips if c.segment_id == "s04" and c.src_start <= 12.5 < c.src_end)
    toast = (clip.out_start + (12.5 - clip.src_start) / clip.speed,
             clip.out_start + (13.5 - clip.src_start) / clip.speed)
    during = [e for e in edl.captions.events if e["start"] < toast[1] and toast[0] < e["end"]]
    assert during and not any(e.get("top") for e in edl.captions.events)
    boxes = caption_track.caption_boxes(tmp_path / "edit" / "captions.ass", 640, 360)
    assert max(x + w for x, _y, w, _h in (b["box"] for b in boxes)) < 604


def test_a_camera_move_onto_the_toast_keeps_the_captions_at_the_bottom(tmp_path):
    """The camera zooms onto a toast framed clear of the caption band: nothing moves."""
    edl = _edit_with_toasts(tmp_path, zoom="auto")
    assert any(c.zoom for c in edl.clips if c.segment_id == "s04")
    assert not any(e.get("top") for e in edl.captions.events)
