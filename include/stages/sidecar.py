"""The ``captions`` task: SRT and WebVTT sidecar files from the caption events of the EDL.

The burned-in ASS captions and these sidecars come from the same ``captions.events`` in
``edl.json``, so a player's subtitles and the picture agree to the millisecond. Texts are plain:
WebVTT escapes ``&``, ``<`` and ``>``; SRT has no escaping, so ``<`` and ``>`` (which players read
as tags) become look-alike angle brackets.
"""

from __future__ import annotations

from pathlib import Path

from include.core.edl import Edl
from include.core.files import write_text


def run(edl_path: Path, out_dir: Path) -> dict:
    """Write ``out_dir/captions.srt`` and ``out_dir/captions.vtt``; return the event count.

    An EDL without caption events writes valid, empty files; a malformed EDL is a
    ``FatalError``.
    Returns ``{"events": n, "files": ["captions.srt", "captions.vtt"]}``.
    """
    cues = [
        (round(e["start"] * 1000), round(e["end"] * 1000), " ".join(e["text"].split()))
        for e in Edl.load(edl_path).captions.events
    ]
    files = {"captions.srt": to_srt(cues), "captions.vtt": to_vtt(cues)}
    for name, text in files.items():
        write_text(Path(out_dir) / name, text)
    return {"events": len(cues), "files": sorted(files)}


def to_srt(cues: list[tuple[int, int, str]]) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line after each."""
    blocks = [
        f"{n}\n{_clock(a, ',')} --> {_clock(b, ',')}\n"
        f"{text.replace('<', '‹').replace('>', '›')}\n"
        for n, (a, b, text) in enumerate(cues, 1)
    ]
    return "\n".join(blocks)


def to_vtt(cues: list[tuple[int, int, str]]) -> str:
    """WebVTT: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues."""
    blocks = ["WEBVTT\n"] + [
        f"{_clock(a, '.')} --> {_clock(b, '.')}\n"
        f"{text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}\n"
        for a, b, text in cues
    ]
    return "\n".join(blocks)


def _clock(ms: int, separator: str) -> str:
    seconds, ms = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{ms:03d}"
