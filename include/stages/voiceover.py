"""voiceover stage: speak the script, one segment at a time, into one WAV with word timings.

Each segment is synthesised separately by a ready speech provider
(:class:`include.core.ports.SpeechSynthesizer`), normalised to mono 16-bit PCM at the provider's
sample rate and concatenated with ``gap`` seconds of silence in between. Segment spans come from
sample counts, so they are exact in voice time. Local engines (espeak-ng, Piper) are given the text
with its numbers, amounts, versions and abbreviations in words
(:func:`include.core.spoken.speakable`: "$48,210" → "forty eight thousand two hundred ten
dollars"); cloud voices read them well themselves, and the script, captions and alignment keep
the written form. Word timings are the provider's when it has them
(``"exact"``: ElevenLabs, and Piper from its own phoneme durations; a local engine's are for the
words it was given, moved onto the written ones by :func:`written_words`), else the text is
aligned to the synthesised audio by speech recognition (``"aligned"``: espeak, OpenAI, a Piper
model without durations), else spread over the segment's audible speech by syllable weight
(``"estimated"``).

Billed (cloud) providers speak several segments at once (``concurrency``) and their audio
is cached per (provider, model, voice, text): a rerun after editing one segment pays only for it.
"""

from __future__ import annotations

import json
import re
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from include.core import media
from include.core.errors import FatalError
from include.core.files import atomic_write, read_json, write_json
from include.core.ports import FileCache, SpeechSynthesizer, SynthResult, Transcriber
from include.core.spoken import speakable, written_words
from include.core.usage import Usage

EMPTY_SEGMENT_SECONDS = 0.5  # silence that stands in for a segment without text
SPEECH_LEVEL = 0.02  # fraction of the segment's peak that counts as speech, not silence
SILENCE_FLOOR = 64  # absolute sample level below which audio is always silence
SENTENCE_PAUSE, CLAUSE_PAUSE = 1.0, 0.5  # extra syllable weight of a pause after a word

_VOWEL_GROUPS = re.compile(r"[aeiouyàáâäèéêëìíîïòóôöùúûü]+", re.IGNORECASE)


def run(
    script_path: Path,
    out_dir: Path,
    *,
    tts: SpeechSynthesizer,
    voice: str = "",
    gap: float = 0.4,
    cache: FileCache | None = None,
    aligner: Transcriber | None = None,
) -> dict:
    """Write ``voiceover.wav`` and ``voiceover.json`` for the script at ``script_path``.

    ``tts`` is a ready speech provider; ``voice`` the run's voice (the provider's own configured
    voice wins, see ``voice_for``); ``cache`` keeps billed audio between runs. Word timings are
    the provider's when it knows them, else ``aligner`` (speech recognition) aligns each
    segment's text to its audio, else they are estimated. Returns ``{"duration", "segments",
    "provider", "voice", "characters", "timing"}`` plus ``"usage"`` for a billed provider.
    """
    segments = _script_segments(read_json(script_path, "script.json"))
    if gap < 0:
        raise FatalError(f"the gap between segments must not be negative (got {gap}).")
    provider = tts.name
    voice = tts.voice_for(voice)
    usage = Usage(provider, tts.model)
    rate = tts.sample_rate
    audio, voice_segments = _assemble(
        segments, _synthesize(segments, tts, voice, cache, usage, aligner), rate, gap
    )

    out_dir = Path(out_dir)
    write_wav_atomic(out_dir / "voiceover.wav", audio, rate)
    duration = round(len(audio) / rate, 3)
    write_json(
        out_dir / "voiceover.json",
        {
            "provider": provider,
            "voice": voice,
            "sample_rate": rate,
            "duration": duration,
            "gap": gap,
            "segments": voice_segments,
        },
    )
    return {
        "duration": duration,
        "segments": len(voice_segments),
        "provider": provider,
        "voice": voice,
        "characters": sum(len(seg["text"]) for seg in segments),
        "timing": sorted({seg["timing"] for seg in voice_segments}),
        **usage.entry(),
    }


def _synthesize(
    segments: list[dict], tts: SpeechSynthesizer, voice: str, cache: FileCache | None,
    usage: Usage, aligner: Transcriber | None = None,
) -> list[tuple[np.ndarray, SynthResult]]:
    """Each segment's samples (normalised to the provider's rate) and what the provider knew."""
    rate = tts.sample_rate
    with tempfile.TemporaryDirectory(prefix="voiceover-") as tmp:

        def speak(numbered: tuple[int, dict]) -> tuple[np.ndarray, SynthResult]:
            number, seg = numbered
            text = seg["text"].strip()
            if not text:
                silence = np.zeros(round(EMPTY_SEGMENT_SECONDS * rate), dtype=np.int16)
                return silence, SynthResult()
            raw = Path(tmp) / f"{number:04d}.wav"
            if tts.billed:
                samples, result = _billed(tts, text, voice, raw, cache, usage)
            else:  # a local engine reads "$48,210" as "dollar forty-eight…": say it in words
                result = tts.synthesize(speakable(text), voice, raw)
                samples = load_pcm(raw, rate)
                if result.words is not None:  # timings of the spoken words: give them the text's
                    result = SynthResult(words=_exact(written_words(text, result.words),
                                                      len(samples) / rate))
            if result.words is None and aligner is not None:
                words = _aligned(aligner, samples, rate, text, raw)
                result = SynthResult(words=words, aligned=words is not None)
            return samples, result

        workers = tts.concurrency if tts.billed else 1
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tts") as pool:
            return list(pool.map(speak, enumerate(segments)))


def _exact(words: list[dict] | None, duration: float) -> list[dict] | None:
    """A provider's word timings clamped into the audio (``None`` stays ``None``: aligned)."""
    if not words:
        return None
    out, previous = [], 0.0
    for w in words:
        start = min(max(float(w["start"]), previous), duration)
        end = min(max(float(w["end"]), start), duration)
        out.append({"word": w["word"], "start": round(start, 3), "end": round(end, 3)})
        previous = start
    return out


def _aligned(aligner: Transcriber, samples: np.ndarray, rate: int, text: str,
             raw: Path) -> list[dict] | None:
    """Word timings of ``text`` aligned to its audio by speech recognition (``None`` when the
    aligner returns nothing usable, so the words are estimated instead)."""
    wav = raw.with_suffix(".aligned.wav")
    write_wav_atomic(wav, samples, rate)
    words = aligner.align(wav, text)
    if not words or len(words) != len(text.split()):
        return None
    duration = len(samples) / rate
    return [{"word": w["word"], "start": round(min(max(0.0, w["start"]), duration), 3),
             "end": round(min(max(w["start"], w["end"]), duration), 3)} for w in words]


def _billed(
    tts: SpeechSynthesizer, text: str, voice: str, raw: Path, cache: FileCache | None, usage: Usage
) -> tuple[np.ndarray, SynthResult]:
    """A billed segment from the cache, else from the provider (then cached); usage counted."""
    key = tts.cache_key(text, voice)
    words_file = raw.with_suffix(".words.json")
    hit = cache is not None and cache.fetch(f"{key}.wav", raw) and cache.fetch(
        f"{key}.json", words_file
    )
    if hit:
        samples = load_pcm(raw, tts.sample_rate)
        usage.add(cached=1, audio_seconds=len(samples) / tts.sample_rate)
        return samples, SynthResult(words=json.loads(words_file.read_text())["words"])
    result = tts.synthesize(text, voice, raw)
    samples = load_pcm(raw, tts.sample_rate)
    usage.add(requests=1, characters=len(text), audio_seconds=len(samples) / tts.sample_rate)
    if cache is not None:
        write_json(words_file, {"words": result.words})
        cache.store(f"{key}.wav", raw)
        cache.store(f"{key}.json", words_file)
    return samples, result


def _assemble(
    segments: list[dict], spoken: list[tuple[np.ndarray, SynthResult]], rate: int, gap: float
) -> tuple[np.ndarray, list[dict]]:
    """The concatenated voice (``gap`` s of silence between segments) and its segment entries."""
    gap_samples = round(gap * rate)
    chunks: list[np.ndarray] = []
    voice_segments = []
    offset = 0
    for number, (seg, (samples, result)) in enumerate(zip(segments, spoken)):
        if number:
            chunks.append(np.zeros(gap_samples, dtype=np.int16))
            offset += gap_samples
        start = offset / rate
        if result.words is None:
            words, timing = estimate_words(seg["text"], samples, rate, start), "estimated"
        else:
            words = _shift_words(result.words, start)
            timing = "aligned" if result.aligned else "exact"
        voice_segments.append(
            {
                "id": seg["id"],
                "text": seg["text"],
                "start": round(start, 3),
                "end": round((offset + len(samples)) / rate, 3),
                "words": words,
                "timing": timing,
            }
        )
        chunks.append(samples)
        offset += len(samples)
    return np.concatenate(chunks), voice_segments


def _script_segments(script: dict) -> list[dict]:
    segments = script.get("segments")
    if not isinstance(segments, list) or not segments:
        raise FatalError("script.json has no segments; re-run the script stage.")
    for number, seg in enumerate(segments, 1):
        if not isinstance(seg, dict) or "id" not in seg or not isinstance(seg.get("text"), str):
            raise FatalError(f"segment {number} in script.json needs an 'id' and a text string.")
    return segments


def load_pcm(path: Path, rate: int) -> np.ndarray:
    """An audio file's samples as mono 16-bit PCM at ``rate`` (converted by ffmpeg if needed)."""
    samples = _read_pcm16(path, rate)
    if samples is None:
        normalised = path.with_name(f"{path.stem}.norm.wav")
        media.run_tool(
            [
                media.FFMPEG,
                "-v",
                "error",
                "-y",
                *media.user_input_args(path, media.VOICE_FORMATS),
                "-ac",
                "1",
                "-ar",
                str(rate),
                "-c:a",
                "pcm_s16le",
                str(normalised),
            ],
            timeout=300,
            what="ffmpeg (voice normalisation)",
        )
        samples = _read_pcm16(normalised, rate)
    if samples is None or not len(samples):
        raise FatalError(f"the voice audio {path.name} is empty or unreadable.")
    return samples


def _read_pcm16(path: Path, rate: int) -> np.ndarray | None:
    """Samples of a mono 16-bit PCM WAV at ``rate``; ``None`` for any other format."""
    try:
        with wave.open(str(path), "rb") as wav:
            if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, rate):
                return None
            return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    except (wave.Error, EOFError):
        return None


def write_wav_atomic(path: Path, samples: np.ndarray, rate: int) -> None:
    """Write mono 16-bit PCM ``samples`` to ``path`` via a temp sibling and ``os.replace``."""
    with atomic_write(path) as tmp, wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())


def speech_span(samples: np.ndarray) -> tuple[int, int]:
    """First and one-past-last sample index of audible speech (the whole clip if all silent)."""
    level = np.abs(samples.astype(np.int32))
    threshold = max(SILENCE_FLOOR, SPEECH_LEVEL * int(level.max(initial=0)))
    loud = np.flatnonzero(level > threshold)
    if not len(loud):
        return 0, len(samples)
    return int(loud[0]), int(loud[-1]) + 1


def word_weights(tokens: list[str]) -> list[float]:
    """Relative speaking time per token: syllables (vowel groups, digits) plus punctuation pauses.

    The last token gets no pause: the silence after it is trimmed before spreading.
    """
    weights = []
    for index, token in enumerate(tokens):
        weight = float(syllables(token))
        if index < len(tokens) - 1:
            if token.endswith((".", "!", "?")):
                weight += SENTENCE_PAUSE
            elif token.endswith((",", ";", ":")):
                weight += CLAUSE_PAUSE
        weights.append(weight)
    return weights


def syllables(token: str) -> int:
    """Rough syllable count: vowel groups (less a silent final e) plus one per digit, >= 1."""
    word = token.lower().strip(".,;:!?\"'()")
    count = len(_VOWEL_GROUPS.findall(word))
    if count > 1 and word.endswith("e") and not word.endswith(("le", "ee")):
        count -= 1
    return max(1, count + sum(ch.isdigit() for ch in word))


def estimate_words(text: str, samples: np.ndarray, rate: int, offset: float) -> list[dict]:
    """Word timings in voice time for a segment starting at ``offset``.

    The audible part of ``samples`` (leading and trailing silence trimmed) is shared among the
    words of ``text`` in proportion to :func:`word_weights`.
    """
    tokens = text.split()
    if not tokens:
        return []
    first, last = speech_span(samples)
    start = offset + first / rate
    span = (last - first) / rate
    weights = word_weights(tokens)
    total = sum(weights)
    words = []
    for token, weight in zip(tokens, weights):
        end = start + span * weight / total
        words.append({"word": token, "start": round(start, 3), "end": round(end, 3)})
        start = end
    return words


def _shift_words(words: list[dict], offset: float) -> list[dict]:
    """Provider word timings (file time) moved to voice time."""
    return [
        {
            "word": w["word"],
            "start": round(offset + w["start"], 3),
            "end": round(offset + w["end"], 3),
        }
        for w in words
    ]
