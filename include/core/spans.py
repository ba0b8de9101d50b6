"""Spans of time, ``(start, end)`` in seconds, and the one dead-air rule.

Analyze finds frozen and silent stretches; both analyze (for each segment's default ``kept``)
and edit (with the run's limits) turn them into dead air through :func:`dead_air`, and cut it
out of a segment with :func:`keep`.
"""

from __future__ import annotations

Span = tuple[float, float]

DEAD_AIR_MIN_SECONDS = 1.0  # frozen + silent longer than this is dead air ...
DEAD_AIR_MARGIN = 0.25  # ... less this much at both ends
MIN_KEPT_SECONDS = 1.0  # a segment always keeps at least this much of its start


def intersect(a: list[Span], b: list[Span]) -> list[Span]:
    """Intersection of two lists of sorted, non-overlapping spans."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(span: Span, holes: list[Span]) -> list[Span]:
    """``span`` minus the sorted ``holes``."""
    pieces, cursor = [], span[0]
    for start, end in holes:
        if end <= cursor or start >= span[1]:
            continue
        if start > cursor:
            pieces.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < span[1]:
        pieces.append((cursor, span[1]))
    return pieces


def overlap(spans: list[Span], span: Span) -> float:
    """Seconds of ``spans`` that fall inside ``span``."""
    return sum(max(0.0, min(b, span[1]) - max(a, span[0])) for a, b in spans)


def dead_air(frozen: list[Span], silences: list[Span], *,
             min_seconds: float = DEAD_AIR_MIN_SECONDS,
             margin: float = DEAD_AIR_MARGIN) -> list[Span]:
    """Stretches both frozen and silent for longer than ``min_seconds``, less ``margin`` at both
    ends (a source without audio passes ``[(0, duration)]`` as its silences)."""
    return [
        (start + margin, end - margin)
        for start, end in intersect([tuple(x) for x in frozen], [tuple(x) for x in silences])
        if end - start > min_seconds
    ]


def keep(span: Span, dead: list[Span], min_kept: float = MIN_KEPT_SECONDS) -> list[Span]:
    """``span`` less the dead air; its first ``min_kept`` seconds if that leaves too little."""
    pieces = subtract(span, dead)
    if sum(b - a for a, b in pieces) < min_kept:
        pieces = [(span[0], min(span[1], span[0] + min_kept))]
    return pieces
