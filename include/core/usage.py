"""What a stage spent at its providers: requests, tokens, characters, seconds of audio.

A stage hands a :class:`Usage` to its providers, which count into it (from several threads when
they work concurrently), and puts ``usage.to_dict()`` into its result as ``"usage"``.
:func:`summarize` adds up the stage results of one run.
"""

from __future__ import annotations

import threading
from collections import Counter

COUNTERS = ("requests", "input_tokens", "output_tokens", "characters", "audio_seconds", "cached")


class Usage:
    """Thread-safe counters for one provider in one stage."""

    def __init__(self, provider: str = "", model: str = "") -> None:
        self.provider, self.model = provider, model
        self._counts: Counter = Counter()
        self._lock = threading.Lock()

    def add(self, **counts: float) -> None:
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown usage counters: {', '.join(sorted(unknown))}")
        with self._lock:
            self._counts.update(counts)

    def to_dict(self) -> dict:
        with self._lock:
            counts = {k: round(v, 3) for k, v in self._counts.items() if v}
        return {"provider": self.provider, "model": self.model, **counts}

    def entry(self) -> dict:
        """``{"usage": …}`` to merge into a stage result, or ``{}`` when nothing was counted."""
        usage = self.to_dict()
        return {"usage": usage} if set(usage) & set(COUNTERS) else {}


def summarize(stage_results: dict[str, dict]) -> dict:
    """Per-stage usage (from each result's ``"usage"``) and the totals of every counter."""
    stages = {
        stage: result["usage"]
        for stage, result in stage_results.items()
        if isinstance(result, dict) and isinstance(result.get("usage"), dict)
    }
    total: Counter = Counter()
    for usage in stages.values():
        total.update({k: v for k, v in usage.items() if k in COUNTERS})
    return {"stages": stages, "total": {k: round(v, 3) for k, v in total.items()}}
