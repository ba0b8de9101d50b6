"""Captions stage: SRT and WebVTT sidecar files from the caption events of the EDL.

The burned-in ASS captions and these sidecars come from the same ``captions.events`` in
``edl.json``, so a player's subtitles and the picture agree to the millisecond. Texts are plain:
WebVTT escapes ``&``, ``<`` and ``>``; SRT has no escaping, so ``<`` and ``>`` (which players read
as tags) become look-alike angle brackets.
"""

from __future__ import annotations

from pathlib import Path

from include.core.errors import FatalError
from include.core.files import read_json, write_text
from include.stages.settings import Settings


def run(edl_path: Path, settings: Settings, out_dir: Path) -> dict:
    """Write ``out_dir/captions.srt`` and ``out_dir/captions.vtt``; return the event count.

    ``settings`` is accepted for the uniform stage signature. An EDL without caption events
    writes valid, empty files; a malformed event list is a ``FatalError``.
    Returns ``{"events": n, "files": ["captions.srt", "captions.vtt"]}``.
    """
    edl = read_json(edl_path, "edl.json")
    try:
        cues = [
            (round(float(e["start"]) * 1000), round(float(e["end"]) * 1000),
             " ".join(str(e["text"]).split()))
            for e in (edl.get("captions") or {}).get("events") or []
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise FatalError(
            f"edl.json has a malformed caption event (bad or missing {exc}); re-run the edit stage."
        ) from exc
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
