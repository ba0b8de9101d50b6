"""voiceover stage: real espeak-ng synthesis, exact spans, estimated word timings, providers."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from include.core.errors import FatalError
from include.core.options import Settings
from include.providers import tts
from include.stages import voiceover
from include.stages.script import validate_review


def speak(script_path, out_dir, *, provider="espeak", config=None, voice="en-us", **kwargs):
    """voiceover.run with the provider built as the DAG builds it."""
    return voiceover.run(script_path, out_dir, tts=tts.get_tts(provider, config), voice=voice,
                         **kwargs)


GAP = 0.4
TOLERANCE = 0.001  # seconds: the JSON rounds to milliseconds

SCRIPT = {
    "title": "Acme",
    "language": "en",
    "words_per_minute": 150,
    "writer": "offline",
    "segments": [
        {
            "id": "s01",
            "start": 0.0,
            "end": 4.0,
            "kept_duration": 4.0,
            "word_budget": 10,
            "text": "Welcome to this quick tour of Acme.",
        },
        {
            "id": "s02",
            "start": 4.0,
            "end": 8.0,
            "kept_duration": 4.0,
            "word_budget": 10,
            "text": "Take a moment to read the settings.",
        },
        {"id": "s03", "start": 8.0, "end": 9.0, "kept_duration": 1.0, "word_budget": 2, "text": ""},
        {
            "id": "s04",
            "start": 9.0,
            "end": 14.0,
            "kept_duration": 5.0,
            "word_budget": 12,
            "text": "Thanks for watching, and see you next time.",
        },
    ],
}


def _write_script(path, script=SCRIPT):
    path.write_text(json.dumps(script))
    return path


def _run(tmp_path, name, script=SCRIPT, **kwargs):
    out = tmp_path / name
    result = speak(_write_script(tmp_path / f"{name}.json", script), out, **kwargs
    )
    return result, json.loads((out / "voiceover.json").read_text()), out / "voiceover.wav"


def test_espeak_voiceover_spans_and_words(tmp_path):
    result, doc, wav_path = _run(tmp_path, "vo")

    with wave.open(str(wav_path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        wav_seconds = wav.getnframes() / wav.getframerate()
    assert (doc["provider"], doc["voice"], doc["sample_rate"], doc["gap"]) == (
        "espeak",
        "en-us",
        22050,
        GAP,
    )
    assert doc["duration"] == pytest.approx(wav_seconds, abs=TOLERANCE)
    assert result == {
        "duration": doc["duration"],
        "segments": 4,
        "provider": "espeak",
        "voice": "en-us",
        "characters": sum(len(seg["text"]) for seg in SCRIPT["segments"]),
        "timing": ["estimated"],
    }

    segments = doc["segments"]
    assert [seg["id"] for seg in segments] == ["s01", "s02", "s03", "s04"]
    assert segments[0]["start"] == 0.0
    assert segments[-1]["end"] == pytest.approx(wav_seconds, abs=TOLERANCE)
    for before, after in zip(segments, segments[1:]):
        assert after["start"] - before["end"] == pytest.approx(GAP, abs=TOLERANCE)
    spoken = sum(seg["end"] - seg["start"] for seg in segments)
    assert spoken + GAP * (len(segments) - 1) == pytest.approx(wav_seconds, abs=TOLERANCE)

    for seg, source in zip(segments, SCRIPT["segments"]):
        assert seg["end"] > seg["start"]
        assert seg["timing"] == "estimated"
        assert [w["word"] for w in seg["words"]] == source["text"].split()
        times = [t for w in seg["words"] for t in (w["start"], w["end"])]
        assert times == sorted(times)
        if times:
            assert seg["start"] <= times[0] and times[-1] <= seg["end"]
            assert times[0] > seg["start"], "leading silence should be trimmed"
    empty = segments[2]
    assert empty["words"] == [] and empty["end"] - empty["start"] == pytest.approx(
        0.5, abs=TOLERANCE
    )


def test_edited_text_changes_the_audio_length(tmp_path):
    _, before, _ = _run(tmp_path, "before")
    edited = validate_review(
        SCRIPT,
        {
            "segments": [
                {
                    "id": "s02",
                    "text": "Take a moment to read the settings, then scroll down to the "
                    "advanced options and change the color theme.",
                }
            ]
        },
        Settings(),
    )
    _, after, _ = _run(tmp_path, "after", script=edited)

    def length(doc, seg_id):
        seg = next(s for s in doc["segments"] if s["id"] == seg_id)
        return seg["end"] - seg["start"]

    assert length(after, "s02") > length(before, "s02") + 1.0
    assert length(after, "s01") == pytest.approx(length(before, "s01"), abs=TOLERANCE)
    assert after["duration"] > before["duration"]


def test_unknown_voice_and_provider_are_fatal(tmp_path):
    script_path = _write_script(tmp_path / "script.json")
    with pytest.raises(FatalError, match="unknown espeak-ng voice 'xx-nowhere'"):
        speak(script_path, tmp_path / "a", voice="xx-nowhere")
    with pytest.raises(FatalError, match=r"unknown TTS provider 'nope'; choose one of: espeak"):
        speak(script_path, tmp_path / "b", provider="nope")
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())


def test_espeak_accepts_aliases_and_variants():
    espeak = tts.get_tts("espeak")
    for voice in ("en-us", "EN-US", "en", "de", "en-us+f3"):
        espeak.check_voice(voice)
    assert "espeak" in tts.AVAILABLE_TTS


class _StereoTTS(tts.TTS):
    """A fake provider: 44.1 kHz stereo tone with exact word timings, for a 16 kHz voiceover."""

    name = "stereo"
    sample_rate = 16000

    def synthesize(self, text, voice, out_wav):
        words = text.split()
        seconds = 0.25 * len(words)
        tone = (
            8000 * np.sin(np.linspace(0, 2 * np.pi * 440 * seconds, int(44100 * seconds)))
        ).astype("<i2")
        with wave.open(str(out_wav), "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(44100)
            wav.writeframes(np.repeat(tone, 2).tobytes())
        return tts.SynthResult(
            words=[
                {"word": w, "start": 0.25 * i, "end": 0.25 * (i + 1)} for i, w in enumerate(words)
            ]
        )


def test_provider_audio_is_normalised_and_exact_words_are_kept(tmp_path, monkeypatch):
    monkeypatch.setitem(tts.TTS_PROVIDERS, "stereo", _StereoTTS)
    _, doc, wav_path = _run(tmp_path, "fake", provider="stereo", gap=0.5)

    with wave.open(str(wav_path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
    first, second = doc["segments"][:2]
    assert first["timing"] == "exact"
    assert first["end"] == pytest.approx(0.25 * 7, abs=0.002)
    assert second["start"] == pytest.approx(first["end"] + 0.5, abs=TOLERANCE)
    assert second["words"][1] == {
        "word": "a",
        "start": second["start"] + 0.25,
        "end": second["start"] + 0.5,
    }


def test_unavailable_provider_is_fatal(monkeypatch):
    class Missing(_StereoTTS):
        requirement = "a cloud account"

        @classmethod
        def available(cls):
            return False

    monkeypatch.setitem(tts.TTS_PROVIDERS, "missing", Missing)
    with pytest.raises(FatalError, match="not available on this worker: it needs a cloud account"):
        tts.get_tts("missing")


def test_estimated_words_cover_only_the_audible_speech():
    rate = 1000
    samples = np.zeros(3 * rate, dtype=np.int16)
    samples[500:2500] = 5000
    words = voiceover.estimate_words("cat dog, pig", samples, rate, offset=10.0)
    assert words[0]["start"] == pytest.approx(10.5) and words[-1]["end"] == pytest.approx(12.5)
    assert [w["word"] for w in words] == ["cat", "dog,", "pig"]
    durations = [w["end"] - w["start"] for w in words]
    assert durations[1] > durations[0], "a comma adds a pause after its word"


def test_words_are_aligned_to_the_audio_by_speech_recognition(tmp_path):
    from include.providers.asr import WhisperTranscriber

    script = {**SCRIPT, "segments": [
        {**SCRIPT["segments"][0], "text": "Revenue this month is forty eight thousand dollars."},
        {**SCRIPT["segments"][1], "text": "Open the invoices page and export the report."},
    ]}
    result, doc, wav_path = _run(tmp_path, "aligned", script=script,
                                 aligner=WhisperTranscriber())
    assert result["timing"] == ["aligned"]
    samples = voiceover.load_pcm(wav_path, doc["sample_rate"])
    for seg, source in zip(doc["segments"], script["segments"]):
        assert seg["timing"] == "aligned"
        assert [w["word"] for w in seg["words"]] == source["text"].split()
        starts = [w["start"] for w in seg["words"]]
        assert starts == sorted(starts) and seg["start"] <= starts[0] < seg["end"]
        # the first word starts where the segment's audio becomes audible (within 100 ms)
        first = round(seg["start"] * doc["sample_rate"])
        last = round(seg["end"] * doc["sample_rate"])
        onset, _ = voiceover.speech_span(samples[first:last])
        assert abs(starts[0] - (seg["start"] + onset / doc["sample_rate"])) <= 0.1


class _ListeningTTS(_StereoTTS):
    """A fake local provider that keeps the texts it was asked to speak (no word timings)."""

    name = "listening"
    heard: list[str] = []

    def synthesize(self, text, voice, out_wav):
        type(self).heard.append(text)
        super().synthesize(text, voice, out_wav)
        return tts.SynthResult()


def test_a_local_voice_is_given_numbers_in_words_and_the_script_keeps_them_written(
        tmp_path, monkeypatch):
    monkeypatch.setitem(tts.TTS_PROVIDERS, "listening", _ListeningTTS)
    monkeypatch.setattr(_ListeningTTS, "heard", [])
    script = {**SCRIPT, "segments": [
        {**SCRIPT["segments"][0], "text": "Revenue is $48,210, up 3 % since v2.1."},
    ]}
    _, doc, _ = _run(tmp_path, "numbers", script=script, provider="listening")
    assert _ListeningTTS.heard == [
        "Revenue is forty eight thousand two hundred ten dollars, up three percent since "
        "version two point one."]
    segment = doc["segments"][0]
    assert segment["text"] == "Revenue is $48,210, up 3 % since v2.1."
    assert [w["word"] for w in segment["words"]] == segment["text"].split()

