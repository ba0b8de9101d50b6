"""Speech recognition and forced alignment with the bundled tiny.en model, no network.

The clip: Piper (deterministic: no noise) speaks each word of a sentence separately and the
words are joined with known gaps, so every word's onset is known to the sample.
"""

from __future__ import annotations

import statistics
import wave
from pathlib import Path

import numpy as np
import pytest

from include.core.errors import FatalError
from include.providers.asr import (
    WhisperTranscriber,
    Word,
    align_words,
    number_words,
    spoken_tokens,
)

SENTENCE = "Open the billing page and export eighty six invoices to a spreadsheet."
GAPS = [0.12, 0.08, 0.15, 0.3, 0.1, 0.09, 0.06, 0.14, 0.11, 0.07, 0.13]


def piper_words_clip(words: list[str], path: Path, gaps: list[float], lead: float = 0.5) -> list[float]:
    """Each word spoken by Piper, trimmed to its sound, joined by ``gaps``; returns onsets (s)."""
    from piper.config import SynthesisConfig

    from include.providers.tts import PiperTTS, piper_voice

    voice = piper_voice(PiperTTS.default_voice)
    rate = voice.config.sample_rate
    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    parts = [np.zeros(int(lead * rate), np.float32)]
    at, onsets = len(parts[0]), []
    for word, gap in zip(words, gaps + [0.5]):
        audio = np.concatenate([c.audio_float_array for c in voice.synthesize(word, syn_config=quiet)])
        loud = np.nonzero(np.abs(audio) > np.abs(audio).max() * 0.01)[0]  # -40 dB of the peak
        audio = audio[loud[0]:loud[-1] + 1]
        onsets.append(at / rate)
        silence = np.zeros(int(gap * rate), np.float32)
        parts += [audio, silence]
        at += len(audio) + len(silence)
    pcm = (np.clip(np.concatenate(parts), -1, 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())
    return onsets


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> tuple[Path, list[float], float]:
    path = tmp_path_factory.mktemp("speech") / "words.wav"
    onsets = piper_words_clip(SENTENCE.split(), path, GAPS)
    with wave.open(str(path)) as wav:
        duration = wav.getnframes() / wav.getframerate()
    return path, onsets, duration


@pytest.fixture(scope="session")
def transcriber() -> WhisperTranscriber:
    return WhisperTranscriber()


def test_model_is_installed_and_loaded_once(transcriber):
    assert WhisperTranscriber.available(), WhisperTranscriber.requirement
    assert transcriber.model is WhisperTranscriber().model  # one model per process


def test_transcribe_finds_the_words_with_plausible_times(transcriber, clip):
    path, onsets, duration = clip
    words = transcriber.transcribe(path)
    assert words and all(isinstance(w, Word) for w in words)
    heard = [t for w in words for t in spoken_tokens(w.text)]
    said = [t for w in SENTENCE.split() for t in spoken_tokens(w)]
    assert len(set(said) & set(heard)) >= 0.8 * len(set(said)), heard
    for w in words:
        assert 0 <= w.start <= w.end <= duration + 0.05 and 0 <= w.probability <= 1
    assert [w.start for w in words] == sorted(w.start for w in words)
    truth = dict(zip((w.strip(".").lower() for w in SENTENCE.split()), onsets))
    for w in words:
        key = w.text.strip(".,").lower()
        if key in truth:
            assert abs(w.start - truth[key]) < 0.35, (w, truth[key])
    assert set(words[0].as_dict()) == {"text", "start", "end", "probability"}


def check_timings(timed: list[dict], words: list[str], duration: float) -> None:
    assert [t["word"] for t in timed] == words
    previous_end = 0.0
    for t in timed:
        assert previous_end <= t["start"] <= t["end"] <= duration, timed
        previous_end = t["end"]


def test_align_times_every_word_near_its_onset(transcriber, clip):
    path, onsets, duration = clip
    timed = transcriber.align(path, SENTENCE)
    check_timings(timed, SENTENCE.split(), duration)
    errors = [abs(t["start"] - onset) for t, onset in zip(timed, onsets)]
    assert statistics.median(errors) <= 0.06, errors
    assert max(errors) <= 0.25, errors


def test_align_digits_and_a_word_that_was_not_spoken(transcriber, clip):
    path, onsets, duration = clip
    text = "Open the billing page and really export 86 invoices to a spreadsheet."
    timed = transcriber.align(path, text)
    check_timings(timed, text.split(), duration)
    by_word = {t["word"]: t for t in timed}
    # "86" is "eighty six": it spans both spoken words
    assert abs(by_word["86"]["start"] - onsets[6]) <= 0.15
    assert by_word["86"]["end"] >= onsets[7]
    # "really" was never said: it sits between its neighbours
    assert by_word["and"]["start"] <= by_word["really"]["start"] <= by_word["export"]["start"]
    assert transcriber.align(path, "   ") == []


def test_bad_inputs_are_fatal_errors(tmp_path, transcriber):
    with pytest.raises(FatalError, match="does not exist"):
        transcriber.transcribe(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF nonsense")
    with pytest.raises(FatalError, match="not readable audio"):
        transcriber.transcribe(junk)
    with pytest.raises(FatalError, match="no model.bin"):
        WhisperTranscriber(str(tmp_path)).transcribe(junk)


def test_align_words_interpolates_and_stays_monotonic():
    heard = [Word("open", 1.0, 1.3, 0.9), Word("the", 1.3, 1.4, 0.9),
             Word("spreadsheet", 3.0, 3.6, 0.9)]
    known = "Open the billing page now spreadsheet".split()
    timed = align_words(known, heard, duration=4.0)
    check_timings(timed, known, 4.0)
    assert timed[0]["start"] == 1.0 and timed[-1]["start"] == 3.0
    assert 1.4 <= timed[2]["start"] < timed[3]["start"] < timed[4]["start"] < 3.0
    # nothing heard at all: the words still get times inside the audio
    timed = align_words(["one", "two", "three"], [], duration=2.0)
    check_timings(timed, ["one", "two", "three"], 2.0)
    # a shift never pushes a word before 0 or past the end
    timed = align_words(["hi"], [Word("hi", 0.01, 0.2, 1.0)], duration=0.2, onset_shift=-0.07)
    assert timed == [{"word": "hi", "start": 0.0, "end": 0.13}]


def test_spoken_tokens():
    assert number_words(86) == ["eighty", "six"]
    assert number_words(1_200) == ["one", "thousand", "two", "hundred"]
    assert spoken_tokens("3.2") == ["three", "point", "two"]
    assert spoken_tokens(".5") == ["point", "five"]
    assert spoken_tokens("30%,") == ["thirty", "percent"]
    assert spoken_tokens("Don’t!") == ["don't"]


def test_snap_onsets_moves_starts_and_ends_onto_the_sound():
    from include.providers.asr import snap_onsets

    rate = 16000
    t = np.arange(int(2.5 * rate)) / rate
    sound = ((0.5 <= t) & (t < 1.0)) | ((1.3 <= t) & (t < 1.8))
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * sound).astype(np.float32)
    words = [{"word": "one", "start": 0.3, "end": 1.2},   # starts in the lead-in, ends in the pause
             {"word": "two", "start": 1.45, "end": 2.2}]  # starts late inside its sound
    snapped = snap_onsets(words, samples, rate)
    assert snapped[0]["start"] == pytest.approx(0.5, abs=0.011)
    assert snapped[0]["end"] == pytest.approx(1.0, abs=0.011)
    assert snapped[1]["start"] == pytest.approx(1.3, abs=0.011)
    assert snapped[1]["end"] == pytest.approx(1.8, abs=0.011)
    forward = snap_onsets(words, samples, rate, backward=False)
    assert forward[0]["start"] == pytest.approx(0.5, abs=0.011) and forward[1]["start"] == 1.45
    assert words[0]["start"] == 0.3  # the input is not changed


def piper_sentence_clip(text: str, path: Path) -> list[float]:
    """``text`` spoken by Piper in one go (deterministic, at the voiceover's pace); returns the
    onsets of the sound after every pause of 150 ms or more (its sentences)."""
    from piper.config import SynthesisConfig

    from include.core.spoken import speakable
    from include.providers.tts import PiperTTS, piper_voice

    quiet = SynthesisConfig(length_scale=PiperTTS.length_scale, noise_scale=0.0, noise_w_scale=0.0)
    with wave.open(str(path), "wb") as wav:
        piper_voice(PiperTTS.default_voice).synthesize_wav(speakable(text), wav, syn_config=quiet)
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), np.int16).astype(np.float64)
    hop = rate // 100
    level = np.sqrt([np.mean(pcm[i:i + hop] ** 2) for i in range(0, len(pcm) - hop, hop)])
    onsets, quiet_hops = [], 100
    for k, loud in enumerate(level > 0.03 * level.max()):
        if loud and quiet_hops >= 15:
            onsets.append(k / 100)
        quiet_hops = 0 if loud else quiet_hops + 1
    return onsets


def test_align_is_not_fooled_by_the_prompt_echoed_back(transcriber, tmp_path):
    # With this text as its prompt tiny.en "hears" only the prompt's tail, "It shows oo.", the
    # three words spread over the whole clip: aligned to that, the ten words before were squeezed
    # into the first 0.3 s (captions 400 ms early in QC). Each sentence must start at its sound.
    text = "We start on the Dashboard. Overview for June is 2026. It shows oo."
    path = tmp_path / "sentence.wav"
    onsets = piper_sentence_clip(text, path)
    assert len(onsets) == 3, onsets  # the three sentences, apart
    with wave.open(str(path)) as wav:
        duration = wav.getnframes() / wav.getframerate()
    timed = transcriber.align(path, text)
    check_timings(timed, text.split(), duration)
    firsts = [timed[i]["start"] for i in (0, 5, 10)]  # "We", "Overview", "It"
    assert firsts == pytest.approx(onsets, abs=0.12), (firsts, onsets, timed)
    # and the words of a sentence are spread over it, not stacked on its first frames
    assert timed[4]["start"] - timed[0]["start"] >= 0.5, timed


def test_matched_tokens_counts_what_the_recognition_times():
    from include.providers.asr import matched_tokens

    known = "Overview for June is 2026.".split()  # 2026 is "two thousand twenty six"
    heard = [Word("overview", 0.0, 0.4, 0.9), Word("for", 0.4, 0.6, 0.9),
             Word("June", 0.6, 0.9, 0.9), Word("is", 0.9, 0.9, 0.1),  # zero length: not timed
             Word("2026.", 1.0, 2.0, 0.9)]
    assert matched_tokens(known, heard) == 3 + 4
    assert matched_tokens(known, [Word("It", 0.0, 2.4, 0.0)]) == 0


def test_snap_onsets_moves_a_start_in_the_previous_words_tail_past_the_pause():
    from include.providers.asr import snap_onsets

    rate = 16000
    t = np.arange(int(3.0 * rate)) / rate
    # "invoices" sounds 0.5-1.3, a 0.2 s pause, "newest" 1.5-1.9, a 0.1 s pause, "first" 2.0-2.4
    sound = ((0.5 <= t) & (t < 1.3)) | ((1.5 <= t) & (t < 1.9)) | ((2.0 <= t) & (t < 2.4))
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * sound).astype(np.float32)
    words = [{"word": "invoices.", "start": 0.5, "end": 1.18},
             {"word": "newest", "start": 1.18, "end": 1.85},  # starts in the tail of "invoices"
             {"word": "first.", "start": 2.0, "end": 2.4}]
    snapped = snap_onsets(words, samples, rate)
    assert snapped[1]["start"] == pytest.approx(1.5, abs=0.011)
    assert snapped[0]["start"] == 0.5 and snapped[2]["start"] == pytest.approx(2.0, abs=0.011)
    # a sentence's last word stretched over the pause after it keeps its start: most of its
    # sound is before the pause
    stretched = [{"word": "invoices.", "start": 0.5, "end": 1.6},
                 {"word": "newest", "start": 1.6, "end": 1.85}]
    assert snap_onsets(stretched, samples, rate)[0]["start"] == 0.5


def test_snap_onsets_moves_a_start_after_a_stop_closure_onto_the_first_syllable():
    from include.providers.asr import snap_onsets

    rate = 16000
    t = np.arange(int(3.5 * rate)) / rate
    # "and" 0.5-0.9, a 0.1 s pause, "ex" 1.0-1.1, a 30 ms closure, "port" 1.13-1.5, a 0.3 s
    # pause, "to" 1.8-1.9, a 40 ms gap, "a" 1.94-2.0, a pause, "sheet" 2.3-2.8
    spans = [(0.5, 0.9), (1.0, 1.1), (1.13, 1.5), (1.8, 1.9), (1.94, 2.0), (2.3, 2.8)]
    sound = np.zeros_like(t, dtype=bool)
    for a, b in spans:
        sound |= (a <= t) & (t < b)
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * sound).astype(np.float32)
    for start in (1.115, 1.2):  # in the closure, or on "port"
        words = [{"word": "and", "start": 0.5, "end": 0.9},
                 {"word": "export", "start": start, "end": 1.5}]
        assert snap_onsets(words, samples, rate)[1]["start"] == pytest.approx(1.0, abs=0.011)
        assert snap_onsets(words, samples, rate, backward=False)[1]["start"] >= 1.11
    # a short sound before the gap that is the previous word's own stays that word's: "to"
    # heard early (in the pause before its sound), "a" after the gap keeps its start
    words = [{"word": "to", "start": 1.6, "end": 1.9}, {"word": "a", "start": 1.94, "end": 2.0},
             {"word": "sheet", "start": 2.3, "end": 2.8}]
    snapped = snap_onsets(words, samples, rate)
    assert snapped[1]["start"] == pytest.approx(1.94, abs=0.011)
    assert snapped[0]["start"] == pytest.approx(1.8, abs=0.011)


def test_onsets_hear_a_videos_sound_track_as_its_audio(transcriber, clip, tmp_path):
    """QC hears final.mp4 itself (no WAV pass): the words and onsets heard in an H.264 + AAC
    file (48 kHz stereo, as the render writes it, after a video-only stream) are those of the
    audio it carries, and sit on the words' known onsets."""
    import subprocess

    path, onsets, duration = clip
    video = tmp_path / "final.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=gray:s=320x180:r=30:d={duration:.3f}", "-i", str(path),
                    "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-b:a", "160k", "-ar", "48000", "-ac", "2", str(video)],
                   check=True)
    from_wav = transcriber.onsets(path)
    from_video = transcriber.onsets(video)
    assert [w["word"] for w in from_video] == [w["word"] for w in from_wav]
    assert len(from_video) >= len(SENTENCE.split()) - 2, from_video
    assert max(abs(a["start"] - b["start"]) for a, b in zip(from_video, from_wav)) <= 0.05
    heard = [w["start"] for w in from_video]
    errors = [min(abs(h - onset) for h in heard) for onset in onsets]
    assert statistics.median(errors) <= 0.06, errors
    silent = tmp_path / "silent.mp4"  # a video without a sound track is not audio
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=320x180:r=30:d=1", "-c:v", "libx264", "-preset", "ultrafast",
                    str(silent)], check=True)
    with pytest.raises(FatalError, match="not readable audio"):
        transcriber.onsets(silent)
