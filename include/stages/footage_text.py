"""Read and hear the footage: what each segment shows in text and what its presenter says.

Part of the analyze stage. :func:`read_screens` takes a full-resolution frame of every segment
(its keyframe time, and for long segments where the picture changes a frame near the end too),
reads it with a :class:`~include.core.ports.TextReader` (Tesseract by default) and turns the
lines into each segment's ``screen``: ``headline``, the ``lines`` kept (without the chrome), what
is ``new`` against the previous segment, salient ``numbers`` and ``terms``; text repeated on most
segments (a nav bar) is the chrome, kept once with the product's name. :func:`hear` transcribes
the source's audio once with a :class:`~include.core.ports.Transcriber` (faster-whisper) and gives
each segment the words spoken inside it, grouped into sentences; a sentence the recogniser is
unsure of (a word under 30 % probability that is not on screen, a fragment) is kept for the
record but not used as narration, so a misheard presenter is never put into the script.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from include.core import media, screen_text
from include.core.errors import FatalError
from include.core.ports import TextReader, Transcriber
from include.core.text import SPOKEN_FILLERS

LONG_SEGMENT_SECONDS = 6.0  # longer segments that move get a second frame read near their end
MOVING = 0.02  # motion (fraction of the picture changing per frame) that counts as moving
MAX_LINES = 60  # lines kept per segment in segments.json
MIN_WORD, MIN_MEAN = 0.3, 0.7  # probabilities a heard sentence needs to be narrated


def read_screens(source_path: Path, segments: list[dict], size: tuple[int, int],
                 reader: TextReader) -> dict:
    """Add ``screen`` to every segment; return ``{"product_name", "chrome"}`` for the video."""
    width, height = size
    per_segment: list[list[dict]] = []
    for segment in segments:
        lines: list[dict] = []
        for t in _read_times(segment):
            frame = grab_frame(source_path, t, width, height)
            lines = _union(lines, [line.as_dict() for line in reader.read(frame)])
        per_segment.append(lines)
    chrome = screen_text.chrome(per_segment)
    previous: list[dict] = []
    for segment, lines in zip(segments, per_segment):
        content = screen_text.drop_chrome(lines, chrome.lines)
        head = screen_text.headline(lines, (width, height), chrome=chrome.lines) or ""
        fresh = screen_text.new_lines(previous, content) if previous else []
        segment["screen"] = {
            "headline": head,
            "lines": content[:MAX_LINES],
            "new": [line["text"] for line in fresh][:12],
            "numbers": screen_text.numbers(content)[:12],
            "terms": screen_text.terms(content, exclude=[head] if head else [], limit=20),
        }
        previous = content
    return {"product_name": chrome.product_name or "",
            "chrome": [line["text"] for line in chrome.lines]}


def _read_times(segment: dict) -> list[float]:
    """Source times to read: the middle of the longest kept span, plus one near the end of a
    long, moving segment (a dialog opened, text was typed)."""
    a, b = max(segment["kept"], key=lambda piece: piece[1] - piece[0])
    times = [round((a + b) / 2, 3)]
    end = float(segment["end"])
    if end - float(segment["start"]) >= LONG_SEGMENT_SECONDS and segment.get("motion", 0) >= MOVING:
        times.append(round(max(times[0] + 1.0, end - 0.5), 3))
    return times


def _union(first: list[dict], second: list[dict]) -> list[dict]:
    """The later frame's lines (what is on screen now), plus the earlier frame's lines whose
    text the later frame no longer shows; a text may stand in several places (a nav item and
    the page title), so lines are never merged by text alone."""
    later = {screen_text.norm(line["text"]) for line in second}
    kept = second + [line for line in first if screen_text.norm(line["text"]) not in later]
    return sorted(kept, key=lambda line: (line["box"][1], line["box"][0]))


def grab_frame(source_path: Path, seconds: float, width: int, height: int) -> np.ndarray:
    """The frame at ``seconds`` as a grey image at the source's own size."""
    proc = media.run_tool(
        [media.FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error",
         "-ss", f"{max(0.0, seconds):.3f}", *media.user_input_args(source_path),
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        timeout=120, what="ffmpeg (frame for OCR)",
    )
    data = np.frombuffer(proc.stdout, np.uint8)
    if data.size < width * height:
        raise FatalError(f"ffmpeg returned no frame at {seconds:.2f} s of the source.")
    return data[: width * height].reshape(height, width)


def hear(source_path: Path, segments: list[dict], transcriber: Transcriber) -> str:
    """Add ``speech`` (``text`` without fillers, ``words``) to every segment; return the whole
    transcript."""
    with tempfile.TemporaryDirectory(prefix="asr-") as tmp:
        wav = Path(tmp) / "speech.wav"
        media.run_tool([media.FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error",
                   *media.user_input_args(source_path), "-vn", "-ac", "1", "-ar", "16000",
                   "-c:a", "pcm_s16le", str(wav)], timeout=600, what="ffmpeg (audio for ASR)")
        words = [{"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3),
                  "probability": round(w.probability, 3)} for w in transcriber.transcribe(wav)]
    for segment in segments:
        start, end = float(segment["start"]), float(segment["end"])
        inside = [w for w in words if start <= (w["start"] + w["end"]) / 2 < end]
        seen = _seen_words(segment)
        sentences = [_judge(sentence, seen) for sentence in _sentences(inside)]
        segment["speech"] = {
            "text": " ".join(s["text"] for s in sentences if s["usable"]),
            "sentences": sentences,
            "words": inside,
        }
    return " ".join(w["word"] for w in words)


def _sentences(words: list[dict]) -> list[list[dict]]:
    """Words grouped into sentences at their closing punctuation (or a pause over 0.8 s)."""
    out: list[list[dict]] = []
    current: list[dict] = []
    for word in words:
        if current and word["start"] - current[-1]["end"] > 0.8:
            out.append(current)
            current = []
        current.append(word)
        if word["word"].endswith((".", "!", "?")):
            out.append(current)
            current = []
    return out + ([current] if current else [])


def _seen_words(segment: dict) -> set[str]:
    """Lower-case words of the segment's text on screen: a heard word that is also shown is
    confirmed whatever the recogniser's confidence ("Orbit", "Board")."""
    screen = segment.get("screen") or {}
    texts = [screen.get("headline") or ""] + list(screen.get("terms") or [])
    texts += [line.get("text", "") for line in screen.get("lines") or []]
    return {w.strip(",.:;!?()").lower() for t in texts for w in str(t).split() if len(w) > 1}


def _judge(words: list[dict], seen: set[str]) -> dict:
    """One heard sentence, fillers dropped, and whether it is trustworthy enough to narrate:
    every word at least ``MIN_WORD`` probable (or shown on screen), ``MIN_MEAN`` on average, and
    no word fragments ("-milling")."""
    kept = [w for w in words if w["word"].lower().strip(",.!?;:") not in SPOKEN_FILLERS]
    probabilities = []
    for w in kept:
        key = w["word"].strip(",.:;!?").lower()
        confirmed = key in seen or any(s.startswith(key) and len(key) >= 5 for s in seen)
        probabilities.append(1.0 if confirmed else float(w.get("probability", 0.0)))
    text = " ".join(w["word"] for w in kept).strip()
    fragment = any(w["word"].startswith("-") or w["word"].endswith("-") for w in kept)
    mean = sum(probabilities) / len(probabilities) if probabilities else 0.0
    usable = bool(kept) and not fragment and min(probabilities) >= MIN_WORD and mean >= MIN_MEAN
    return {"text": text, "start": words[0]["start"], "end": words[-1]["end"],
            "confidence": round(mean, 3), "usable": usable}
