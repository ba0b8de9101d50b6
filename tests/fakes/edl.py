"""Small, valid edl.json documents for the tests of the EDL's consumers."""

from __future__ import annotations


def clip(segment_id: str, src_start: float, src_end: float, out_start: float,
         speed: float = 1.0, hold: float = 0.0) -> dict:
    out_end = round(out_start + (src_end - src_start) / speed + hold, 3)
    return {"segment_id": segment_id, "src_start": src_start, "src_end": src_end,
            "speed": speed, "hold": hold, "out_start": out_start, "out_end": out_end}


def edl_document(clips: list[dict] | None = None, *, duration: float | None = None,
                 narration: list[dict] | None = None, events: list[dict] | None = None,
                 source_duration: float | None = None) -> dict:
    """An EDL with ``clips`` (default: one clip over ``duration``), ``narration`` and caption
    ``events``; the source is as long as needed."""
    if clips is None:
        clips = [clip("s01", 0.0, float(duration), 0.0)]
    duration = clips[-1]["out_end"] if clips else float(duration or 0)
    return {
        "version": 1, "sync_mode": "fit",
        "output": {"width": 1280, "height": 720, "fps": 30, "duration": duration},
        "source": {"duration": source_duration or max([duration] + [c["src_end"] for c in clips]),
                   "has_audio": False},
        "clips": clips,
        "narration": narration or [],
        "captions": {"file": "captions.ass", "events": events or []},
    }
