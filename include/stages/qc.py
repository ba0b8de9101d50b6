"""Quality checks on a rendered video, as a viewer would notice them.

:func:`caption_sync`: how far each caption word's onset is from the moment the word is spoken in
``final.mp4``, by an independent speech-recognition pass over the final audio (the mix as it is
published, not the voiceover the captions were timed on). :func:`pages_named`: which of the pages
still on screen in the final video the narration names.
"""

from __future__ import annotations

import difflib
import re
import statistics
import tempfile
from pathlib import Path

from include.core import media
from include.core.edl import Edl
from include.core.ports import Transcriber

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)


def _norm(word: str) -> str:
    tokens = _TOKEN.findall(word.lower().replace("’", "'"))
    return "".join(tokens)


def caption_sync(final_path: Path, edl: Edl, transcriber: Transcriber) -> dict:
    """``{"words", "matched", "median_ms", "p90_ms", "errors_ms"}``: onset error of the caption
    words that the recogniser heard in ``final_path`` (words it did not hear are not counted)."""
    captions = [(w["word"], float(w["start"])) for e in edl.captions.events for w in e["words"]]
    with tempfile.TemporaryDirectory(prefix="qc-") as tmp:
        wav = Path(tmp) / "final.wav"
        media.run_tool([media.FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error",
                   *media.user_input_args(final_path), "-vn", "-ac", "1", "-ar", "16000",
                   "-c:a", "pcm_s16le", str(wav)], timeout=600, what="ffmpeg (audio for QC)")
        heard = [(w["word"], float(w["start"])) for w in transcriber.onsets(wav)]
    a = [_norm(w) for w, _ in captions]
    b = [_norm(w) for w, _ in heard]
    errors = []
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            if a[block.a + k]:
                errors.append(abs(captions[block.a + k][1] - heard[block.b + k][1]) * 1000)
    errors.sort()
    return {
        "words": len(captions),
        "matched": len(errors),
        "median_ms": round(statistics.median(errors), 1) if errors else None,
        "p90_ms": round(errors[min(len(errors) - 1, int(0.9 * len(errors)))], 1) if errors
        else None,
        "errors_ms": [round(e, 1) for e in errors],
    }


def pages_named(edl: Edl, pages: list[dict], narration: str, *, min_seconds: float = 1.0
                ) -> tuple[list[str], list[str]]:
    """``(on screen, named)``: the headings of ``pages`` (``{"start", "end", "heading"}`` in
    source time) shown for at least ``min_seconds`` in the final video, and those of them the
    narration names (a plural or singular form counts)."""
    shown: dict[str, float] = {}
    for clip in edl.clips:
        for page in pages:
            overlap = min(clip.src_end, page["end"]) - max(clip.src_start, page["start"])
            if overlap > 0:
                shown[page["heading"]] = shown.get(page["heading"], 0.0) + overlap / clip.speed
    on_screen = [h for h, seconds in shown.items() if seconds >= min_seconds]
    said = {_norm(w) for w in narration.split()}
    said |= {w.rstrip("s") for w in said}

    def named(heading: str) -> bool:
        words = [_norm(w) for w in heading.split() if _norm(w)]
        return all(w in said or w.rstrip("s") in said for w in words)

    return on_screen, [h for h in on_screen if named(h)]
