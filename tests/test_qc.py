"""QC stage: a good render passes; injected faults (a silent voice, captions shifted 500 ms, a black
tail, captions outside the title-safe area, a wrong duration) fail with their reason.

The good render is real: the sample clip, a Piper voiceover aligned by faster-whisper, the edit
and the render stages. Every fault is injected into a copy of what the stages wrote (the voice
track, the EDL's caption times, the final file's last seconds), the way a broken stage would
produce it, and the same QC runs on it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from include.core.edl import Edl
from include.core.options import Settings
from include.stages import caption_track as captions
from include.stages import edit, qc, render

WIDTH, HEIGHT = 640, 360
SEGMENTS = [
    ("s01", 0.0, 4.0, [[0.0, 4.0]]),
    ("s02", 4.0, 8.0, [[4.0, 8.0]]),
    ("s04", 12.0, 16.0, [[12.0, 16.0]]),
    ("s05", 16.0, 20.0, [[16.0, 20.0]]),
]
SCRIPT = {
    "s01": "Here is the dashboard with revenue and open invoices.",
    "s02": "The invoice list shows what each customer owes.",
    "s04": "Reports compare this month with the last one.",
    "s05": "Settings keep your company details in one place.",
}


def _asr():
    from include.providers.asr import WhisperTranscriber

    if not WhisperTranscriber.available():
        pytest.skip(WhisperTranscriber.requirement)
    return WhisperTranscriber()


def _tts():
    from include.providers.tts import get_tts

    for name in ("piper", "espeak"):
        try:
            return get_tts(name)
        except Exception:  # noqa: BLE001 - the next voice
            continue
    pytest.skip("no offline voice installed")


@pytest.fixture(scope="module")
def good(tmp_path_factory, sample_clip) -> dict:
    """A real render of four narrated segments, and its QC."""
    from include.stages import voiceover

    folder = tmp_path_factory.mktemp("qc_good")
    asr = _asr()
    paths = {
        "segments": folder / "segments.json",
        "script": folder / "script.json",
        "source": folder / "source.json",
    }
    paths["segments"].write_text(json.dumps({"duration": 20.0, "segments": [
        {"id": sid, "start": a, "end": b, "kept": kept} for sid, a, b, kept in SEGMENTS]}))
    paths["script"].write_text(json.dumps({"segments": [
        {"id": sid, "start": a, "end": b, "kept_duration": b - a, "word_budget": 20,
         "text": SCRIPT[sid]} for sid, a, b, _ in SEGMENTS]}))
    paths["source"].write_text(json.dumps({"duration": 20.0, "width": WIDTH, "height": HEIGHT,
                                           "fps": 30.0, "has_audio": True}))
    voiceover.run(paths["script"], folder / "voiceover", tts=_tts(), voice="en-us", aligner=asr)
    settings = Settings(width=WIDTH, height=HEIGHT, caption_style="clean", animate="off")
    edit.run(paths["segments"], paths["script"], folder / "voiceover" / "voiceover.json",
             paths["source"], settings, folder / "edit")
    paths.update(video=sample_clip[0], edl=folder / "edit" / "edl.json",
                 ass=folder / "edit" / "captions.ass", voice=folder / "voiceover" / "voiceover.wav")
    final = _render(paths, folder / "render")
    report = qc.run(final, paths["edl"], folder / "qc", transcriber=asr,
                    captions_path=paths["ass"], script_path=paths["script"])
    return {"paths": paths, "final": final, "report": report, "folder": folder, "asr": asr}


def _render(paths: dict, out: Path, *, edl: Path | None = None, ass: Path | None = None,
            voice: Path | None = None) -> Path:
    render.run(paths["video"], edl or paths["edl"], out, files={
        "captions.ass": ass or paths["ass"], "voiceover.wav": voice or paths["voice"]})
    return out / "final.mp4"


def _qc(good: dict, final: Path, folder: Path, *, edl: Path | None = None,
        ass: Path | None = None) -> dict:
    return qc.run(final, edl or good["paths"]["edl"], folder, transcriber=good["asr"],
                  captions_path=ass or good["paths"]["ass"], script_path=good["paths"]["script"])


def test_a_good_render_passes(good):
    report = good["report"]
    assert report["passed"], report["failures"]
    checks = report["checks"]
    assert {name for name, c in checks.items() if c["status"] == "pass"} >= {
        "duration", "loudness", "black_ends", "words", "caption_onsets", "captions_vs_script",
        "title_safe"}, {n: c["status"] for n, c in checks.items()}
    assert checks["words"]["word_error"] <= 0.2
    assert checks["caption_onsets"]["median_ms"] <= 80
    assert -15.5 <= checks["loudness"]["integrated_lufs"] <= -12.5
    assert checks["title_safe"]["events"] >= 4
    # the written document is the returned one
    written = json.loads((good["folder"] / "qc" / "qc.json").read_text())
    assert written["passed"] and written["final_sha256"] == report["final_sha256"]
    assert report["cost"]["asr_seconds"] is not None


def test_a_silent_voice_fails(good, tmp_path):
    silent = tmp_path / "voiceover.wav"
    duration = Edl.load(good["paths"]["edl"]).output.duration
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono",
                    "-t", str(duration), "-c:a", "pcm_s16le", str(silent)], check=True)
    final = _render(good["paths"], tmp_path / "render", voice=silent)
    report = _qc(good, final, tmp_path / "qc")
    assert not report["passed"]
    assert report["checks"]["loudness"]["status"] == "fail"
    assert report["checks"]["words"]["status"] == "fail"
    assert "silent" in report["summary"] and report["summary"].startswith("QC failed: ")


def _shifted_edl(edl_path: Path, out: Path, shift: float) -> tuple[Path, Path]:
    """The EDL with every caption (and its words) ``shift`` s later, and its ASS."""
    doc = json.loads(edl_path.read_text())
    duration = doc["output"]["duration"]
    events = []
    for e in doc["captions"]["events"]:
        start, end = min(e["start"] + shift, duration - 0.02), min(e["end"] + shift, duration)
        if events and start < events[-1]["end"]:
            events[-1]["end"] = start
        words = [{**w, "start": min(w["start"] + shift, end), "end": min(w["end"] + shift, end)}
                 for w in e["words"]]
        events.append({**e, "start": start, "end": end, "words": words})
    doc["captions"]["events"] = events
    out.mkdir(parents=True, exist_ok=True)
    Edl.from_dict(doc).write(out / "edl.json")
    captions.write_ass(events, out / "captions.ass", doc["captions"]["style"],
                       doc["output"]["width"], doc["output"]["height"])
    return out / "edl.json", out / "captions.ass"


def test_captions_shifted_500_ms_fail(good, tmp_path):
    edl, ass = _shifted_edl(good["paths"]["edl"], tmp_path / "edit", 0.5)
    final = _render(good["paths"], tmp_path / "render", edl=edl, ass=ass)
    report = _qc(good, final, tmp_path / "qc", edl=edl, ass=ass)
    onsets = report["checks"]["caption_onsets"]
    assert onsets["status"] == "fail", onsets
    assert 400 <= onsets["median_ms"] <= 600 and onsets["mean_signed_ms"] > 0
    assert "late" in report["summary"]
    assert report["checks"]["words"]["status"] == "pass"  # the voice itself is fine


def test_a_black_tail_fails(good, tmp_path):
    duration = Edl.load(good["paths"]["edl"]).output.duration
    final = tmp_path / "final.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(good["final"]), "-vf",
                    f"drawbox=c=black:t=fill:enable='gte(t,{duration - 1.5})'",
                    "-c:a", "copy", "-c:v", "libx264", "-preset", "ultrafast", str(final)],
                   check=True)
    report = _qc(good, final, tmp_path / "qc")
    black = report["checks"]["black_ends"]
    assert black["status"] == "fail" and 1.3 <= black["black_end_s"] <= 1.7, black
    assert black["black_start_s"] == 0
    assert "black for 1.5 s at the end" in report["summary"]


def test_a_frozen_silent_tail_fails_as_dead_air(good, tmp_path):
    """2.5 s of the last frame and silence appended: the end is dead air."""
    final = tmp_path / "final.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(good["final"]), "-vf",
                    "tpad=stop_mode=clone:stop_duration=2.5", "-af", "apad=pad_dur=2.5",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(final)],
                   check=True)
    report = _qc(good, final, tmp_path / "qc")
    assert report["checks"]["frozen_ends"]["status"] == "fail", report["checks"]["frozen_ends"]
    assert report["checks"]["duration"]["status"] == "fail"  # and it is longer than planned
    assert "frozen and silent" in report["summary"]


def test_captions_outside_the_title_safe_area_fail(good, tmp_path):
    """The same captions with no bottom margin: drawn into the outer 5 % of the frame."""
    ass = tmp_path / "captions.ass"
    subs = captions.pysubs2.load(str(good["paths"]["ass"]))
    for style in subs.styles.values():
        style.marginv = 0
    subs.save(str(ass))
    report = qc.run(good["final"], good["paths"]["edl"], tmp_path / "qc", transcriber=None,
                    captions_path=ass)
    safe = report["checks"]["title_safe"]
    assert safe["status"] == "fail" and safe["outside_count"] == safe["events"], safe
    assert report["checks"]["words"]["status"] == "skip"  # no recogniser: said, not failed
    good_boxes = captions.caption_boxes(good["paths"]["ass"], WIDTH, HEIGHT)
    assert all(b["box"][1] + b["box"][3] <= HEIGHT * 0.95 for b in good_boxes)


def test_caption_boxes_match_the_burned_in_pixels(good, tmp_path):
    """The layout QC computes from the ASS (caption_track.caption_boxes) covers the caption
    pixels libass draws."""
    import numpy as np

    subs = captions.pysubs2.load(str(good["paths"]["ass"]))
    event = max(subs.events, key=lambda e: len(e.plaintext))
    at = (event.start + event.end) / 2000
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=black:s={WIDTH}x{HEIGHT}:d=30",
         "-vf", f"subtitles={good['paths']['ass']}:fontsdir={render.FONTS_DIR}", "-ss", str(at),
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True).stdout
    picture = np.frombuffer(raw, np.uint8).reshape(HEIGHT, WIDTH)
    rows, cols = np.nonzero(picture > 60)
    box = next(b["box"] for b in captions.caption_boxes(good["paths"]["ass"], WIDTH, HEIGHT)
               if abs(b["start"] - event.start / 1000) < 0.01)
    x, y, w, h = box
    assert x - 4 <= cols.min() and cols.max() <= x + w + 4, (box, cols.min(), cols.max())
    assert y - 4 <= rows.min() and rows.max() <= y + h + 4, (box, rows.min(), rows.max())
    assert (cols.max() - cols.min()) >= 0.7 * w  # not a loose guess either


def test_drift_from_the_edit_or_the_clips(good):
    edl = Edl.load(good["paths"]["edl"])
    rows = qc.segment_drift(edl)
    assert [r["segment_id"] for r in rows] == ["s01", "s02", "s04", "s05"]
    assert all(abs(r["drift"]) <= 0.01 for r in rows), rows  # fit: each voice over its footage
    doc = edl.as_dict()
    doc["sync_mode"] = "fit"
    doc["pacing"] = []  # no drift report from the edit: QC computes it from the clips
    # s02's footage starts a whole slot (s01's) before its narration
    clips = doc["clips"]
    first_s02 = next(i for i, c in enumerate(clips) if c["segment_id"] == "s02")
    clips[first_s02 - 1]["segment_id"] = "s02"
    moved = Edl.from_dict(doc)
    check = qc._drift_check(moved)
    assert check["status"] == "fail" and "s02" in check["message"], check


def test_word_error_rate():
    assert qc.word_error(["a", "b", "c", "d"], ["a", "b", "c", "d"]) == 0
    assert qc.word_error(["a", "b", "c", "d"], ["a", "x", "c"]) == 0.5
    assert qc.word_error(["a", "b"], []) == 1.0


def test_qc_costs_little_next_to_the_render(good):
    """Reported, not timed here: the figures are in qc.json (cost)."""
    cost = good["report"]["cost"]
    assert set(cost) >= {"scan_seconds", "asr_seconds", "total_seconds", "total_over_duration"}
    assert cost["total_seconds"] >= cost["scan_seconds"] > 0


def test_qc_keeps_the_final_file(good, tmp_path):
    copy = tmp_path / "final.mp4"
    shutil.copy(good["final"], copy)
    qc.run(copy, good["paths"]["edl"], tmp_path / "qc", transcriber=None)
    assert copy.read_bytes() == good["final"].read_bytes()


def test_a_still_silent_outro_card_is_no_dead_end_but_dead_footage_before_it_is():
    """The ends QC judges are the footage's: an outro card stands still in silence by design."""
    scan = {"duration": 20.0, "black": [], "frozen": [[17.0, 20.0]], "silent": [[17.0, 20.0]]}
    assert qc._ends_checks(scan, 20.0)["frozen_ends"]["status"] == "fail"  # no card: dead tail
    assert qc._ends_checks(scan, 20.0, (2.5, 3.0))["frozen_ends"]["status"] == "pass"
    dead = {"duration": 20.0, "black": [], "frozen": [[14.0, 20.0]], "silent": [[14.0, 20.0]]}
    check = qc._ends_checks(dead, 20.0, (2.5, 3.0))["frozen_ends"]  # a pause before the card
    assert check["status"] == "warn" and check["dead"]["end_s"] == 3.0, check
    assert qc._ends_checks(dead, 20.0, (2.5, 0.0))["frozen_ends"]["status"] == "fail"  # no outro


def test_word_error_over_a_handful_of_words_warns_and_over_a_script_fails():
    few = [(w, 0.0) for w in "here is the test".split()]
    assert qc._words_check(few, [("here's", 0.0), ("test", 0.0)])["status"] == "warn"
    many = [(w, 0.0) for w in "here is the dashboard with revenue invoices and three overdue bills".split()]
    assert qc._words_check(many, [("hello", 0.0)])["status"] == "fail"
    assert qc._words_check(many, many)["status"] == "pass"
