"""Piper's exact word timings (issue #13): from its own phoneme durations, checked on its audio.

The pure parts (phonemes → words, spoken words → written ones, the ONNX patch) on hand-made
input; then the real voice: its words are monotonic, start at the speech's onset and end at its
end (measured from the samples), pauses fall in silence, and faster-whisper hears the words
starting where Piper says they do.
"""

from __future__ import annotations

import json
import os
import statistics

import numpy as np
import pytest

from include.core.errors import FatalError
from include.core.spoken import speakable, written_words
from include.providers import piper_timing, tts
from include.stages import voiceover

needs_piper = pytest.mark.skipif(not tts.PiperTTS.available(), reason="piper-tts is not installed")

PARAGRAPH = ("Open the invoices page, then filter by status. Overdue invoices show first; the "
             "oldest one is from Northwind, for $1,200.")


# --- phonemes → words ---------------------------------------------------------------------------

def test_phoneme_words_span_sounding_phonemes_only():
    # ^ h ˈ ɛ l o , ␠ w ˈ ɜ l d . $   (lengths in samples)
    phonemes = ["^", "h", "ˈ", "ɛ", "l", "o", ",", " ", "w", "ˈ", "ɜ", "l", "d", ".", "$"]
    lengths = [100, 10, 5, 20, 10, 30, 200, 15, 10, 5, 20, 10, 10, 300, 50]
    words = piper_timing.phoneme_words(phonemes, lengths, offset=1000)
    assert [(start, end) for start, end, _ in words] == [(1100, 1175), (1390, 1445)]
    assert [p[2] for p in words[1][2]] == ["w", "ˈ", "ɜ", "l", "d", "."]
    # a run of punctuation only (espeak's "—") is no word
    assert piper_timing.phoneme_words(["a", " ", ";", " ", "b"], [1, 1, 1, 1, 1]) == [
        (0, 1, [(0, 1, "a")]), (4, 5, [(4, 5, "b")])]


def test_words_for_text_one_to_one_and_unmatchable():
    spans = [(0, 2205, []), (4410, 6615, [])]
    assert piper_timing.words_for_text("Hello world.", spans, lambda t: [], 22050) == [
        {"word": "Hello", "start": 0.0, "end": 0.1}, {"word": "world.", "start": 0.2, "end": 0.3}]
    # three words, two phoneme words, and a phonemizer that never joins: no timings at all
    assert piper_timing.words_for_text(
        "a b c", spans, lambda t: [[ch for ch in " ".join(t.split())]], 22050) is None


def test_written_words_take_the_span_of_what_they_are_said_as():
    text = "The total is $1,200 for INV-1042."
    said = speakable(text).split()
    assert said[3:8] == ["one", "thousand", "two", "hundred", "dollars"]
    spoken = [{"word": w, "start": float(i), "end": i + 0.5} for i, w in enumerate(said)]
    words = written_words(text, spoken)
    assert [w["word"] for w in words] == text.split()
    assert words[3] == {"word": "$1,200", "start": 3.0, "end": 7.5}
    assert words[4] == {"word": "for", "start": 8.0, "end": 8.5}
    assert written_words(text, spoken[:-1]) is None  # a word missing: not guessed


# --- the ONNX patch -----------------------------------------------------------------------------

def _message(*fields: tuple[int, bytes]) -> bytes:
    out = b""
    for number, payload in fields:
        out += bytes([number << 3 | 2]) + piper_timing._encode_varint(len(payload)) + payload
    return out


def _node(op: str, output: str) -> bytes:
    return _message((2, output.encode()), (4, op.encode()))


def test_alignment_model_adds_the_ceil_output_once():
    graph = _message((1, _node("Relu", "r")), (1, _node("Ceil", "w_ceil")),
                     (12, _message((1, b"output"))))
    model = b"\x08\x07" + _message((7, graph))  # ir_version 7, then the graph
    patched = piper_timing.alignment_model(model)
    assert patched is not None and patched.startswith(b"\x08\x07")
    outputs = [piper_timing._strings(patched, s, e, 1)
               for n, _, s, e in piper_timing._fields(patched, *_graph_span(patched)) if n == 12]
    assert outputs == [["output"], ["w_ceil"]]
    assert piper_timing.alignment_model(patched) is None  # already an output: load as it is
    no_ceil = b"\x08\x07" + _message((7, _message((1, _node("Relu", "r")))))
    assert piper_timing.alignment_model(no_ceil) is None


def _graph_span(model: bytes) -> tuple[int, int]:
    return next((s, e) for n, _, s, e in piper_timing._fields(model) if n == 7)


@needs_piper
def test_the_piper_voice_gives_durations():
    voice = tts.piper_voice(tts.PiperTTS.default_voice)
    assert len(voice.session.get_outputs()) == 2
    chunk = next(iter(voice.synthesize("Hello there.", include_alignments=True)))
    assert chunk.phoneme_alignments is not None
    assert sum(a.num_samples for a in chunk.phoneme_alignments) == len(chunk.audio_float_array)


@needs_piper
def test_the_piper_voice_runs_on_the_tasks_threads_without_spinning(monkeypatch):
    """What keeps the voice cheap on a shared worker (issue #13): VIDEO_TASK_THREADS intra-op
    threads (scripts/cluster.sh: 1), else at most 2, and no spinning."""
    from include.core.media import inference_threads

    monkeypatch.setenv("VIDEO_TASK_THREADS", "1")
    tts.piper_voice.cache_clear()
    try:
        options = tts.piper_voice(tts.PiperTTS.default_voice).session.get_session_options()
        assert options.intra_op_num_threads == 1
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    finally:
        tts.piper_voice.cache_clear()
    monkeypatch.delenv("VIDEO_TASK_THREADS")
    assert inference_threads() == max(1, min(2, os.cpu_count() or 1))
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("VIDEO_TASK_THREADS", bad)
        with pytest.raises(FatalError, match="VIDEO_TASK_THREADS"):
            inference_threads()


# --- the real voice -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    """The PARAGRAPH and a joined-words sentence through the voiceover stage, no aligner."""
    folder = tmp_path_factory.mktemp("piper-timing")
    texts = [PARAGRAPH, "It works out of the box for INV-1042 at 10:30 — e.g. in Q4."]
    (folder / "script.json").write_text(json.dumps(
        {"segments": [{"id": f"s{i}", "text": t} for i, t in enumerate(texts)]}))
    result = voiceover.run(folder / "script.json", folder / "out", tts=tts.get_tts("piper"))
    doc = json.loads((folder / "out" / "voiceover.json").read_text())
    samples = voiceover.load_pcm(folder / "out" / "voiceover.wav", doc["sample_rate"])
    return result, doc, samples, folder


def _db(samples: np.ndarray, rate: int, start: float, end: float) -> float:
    part = samples[round(start * rate):round(end * rate)].astype(float)
    return 20 * np.log10(np.sqrt(np.mean(part**2)) + 1.0)


@needs_piper
def test_piper_words_are_exact_monotonic_and_cover_the_speech(spoken):
    result, doc, samples, _ = spoken
    rate = doc["sample_rate"]
    assert result["timing"] == ["exact"]
    for seg in doc["segments"]:
        words = seg["words"]
        assert [w["word"] for w in words] == seg["text"].split()
        for a, b in zip(words, words[1:]):
            assert a["start"] <= a["end"] <= b["start"] <= b["end"]
        part = samples[round(seg["start"] * rate):round(seg["end"] * rate)]
        onset, offset = voiceover.speech_span(part)
        # within a frame at 30 fps of where the samples become audible (Piper's durations are in
        # 256-sample frames, 12 ms)
        assert abs(words[0]["start"] - (seg["start"] + onset / rate)) <= 0.033
        # the last word ends with its last phoneme (and the pad after it): a fading final
        # consonant drops under the speech level a little earlier
        assert -0.03 <= words[-1]["end"] - (seg["start"] + offset / rate) <= 0.1


@needs_piper
def test_pauses_fall_in_silence_and_words_start_on_sound(spoken):
    _, doc, samples, _ = spoken
    rate = doc["sample_rate"]
    checked = 0
    for seg in doc["segments"][:1]:  # the paragraph ("e.g." in the other is no pause)
        words = seg["words"]
        speech = _db(samples, rate, words[0]["start"], words[-1]["end"])
        for a, b in zip(words, words[1:]):
            if not a["word"].endswith((",", ".", ";")):  # a pause the text asks for
                continue
            assert b["start"] - a["end"] >= 0.1, (a, b)
            checked += 1
            pause = _db(samples, rate, a["end"], b["start"])
            assert pause <= speech - 25, (a, b)
            # the next word's first 50 ms rise out of the pause (an "f" is quiet, not silent)
            assert _db(samples, rate, b["start"], b["start"] + 0.05) >= pause + 15, b
    assert checked >= 4  # the paragraph's commas, full stop and semicolon


@needs_piper
def test_joined_and_expanded_words_keep_their_order_and_share_the_time(spoken):
    _, doc, _, _ = spoken
    words = {w["word"]: w for w in doc["segments"][1]["words"]}
    # espeak-ng says "of the" as one word and INV-1042 as four: each still gets its own span
    assert (words["out"]["end"] <= words["of"]["start"] < words["the"]["start"]
            < words["box"]["start"])
    assert words["INV-1042"]["end"] - words["INV-1042"]["start"] > 0.8  # "I N V one thousand…"
    assert words["10:30"]["end"] > words["10:30"]["start"]
    assert words["Q4."]["end"] - words["Q4."]["start"] > 0.2  # "Q four"


@needs_piper
def test_whisper_hears_the_words_where_piper_says_they_start(spoken):
    from include.providers.asr import WhisperTranscriber

    _, doc, samples, folder = spoken
    rate = doc["sample_rate"]
    seg = doc["segments"][0]
    wav = folder / "paragraph.wav"
    voiceover.write_wav_atomic(wav, samples[round(seg["start"] * rate):round(seg["end"] * rate)],
                               rate)
    heard = WhisperTranscriber().align(wav, seg["text"])
    diffs = [abs(mine["start"] - seg["start"] - theirs["start"])
             for mine, theirs in zip(seg["words"], heard)]
    assert len(diffs) == len(seg["words"]) == 20
    assert statistics.median(diffs) <= 0.06
    assert sum(d <= 0.1 for d in diffs) >= 0.7 * len(diffs)
