"""Camera moves: zoom and pan to where a screen recording's action is, planned from focus events.

Part of the edit stage. :func:`plan` takes the EDL's clips, analyze's segments (their ``focus``
events and OCR ``screen.lines``) and the narration text, and gives every clip its ``zoom``
moves (:class:`~include.core.edl.ZoomMove`, final time, boxes in source pixels):

* only a small region that changes is zoomed — a field being typed in, a dialog, a menu, a toast
  (a plain ``change`` only when the narration names text inside it) — never a new page or a
  scroll; at most ``MAX_ZOOM``, and not at all when ``MIN_ZOOM`` would not fit the region;
* a move starts just before the change, lasts while it changes plus ``LINGER`` (at least
  ``MIN_MOVE``), and is eased in and out over ``EASE`` seconds by the render; moves that follow
  each other closely are joined end to start, so the camera pans from one region to the next;
* the region grows to the whole OCR text lines it touches (text is never cut in half), gets a
  margin, takes the view's aspect (the output's), stays inside the picture and, when it can,
  sits above the caption band.

Pure functions over plain data; the render applies the moves (``zoompan`` in its one pass).
"""

from __future__ import annotations

import re
from dataclasses import replace

from include.core.edl import Clip, ZoomMove

MAX_ZOOM = 2.0
MIN_ZOOM = 1.25  # a region that needs less than this is shown whole: no move
EASE = 0.5  # seconds of easing at each end of a move (the render's)
LEAD = 0.25  # the move starts this long before the change
LINGER = 1.0  # ... and stays this long after it
MIN_MOVE = 2.0  # seconds a move lasts at least (when the clip has room)
PAN_GAP = 1.0  # moves closer than this are joined: the camera pans instead of zooming out
SHARE = 1.5  # overlapping events share a box if it is at most this much larger than either's
MARGIN = 0.12  # of the region's size, at least MARGIN_PX source pixels, around it
MARGIN_PX = 16
CAPTION_BAND = 0.22  # the bottom of the output that burned captions may cover
ZOOM_KINDS = ("typing", "dialog", "menu", "toast")
NEVER_ZOOM = ("page", "scroll")  # shown whole, whatever the narration says
PRIORITY = {"typing": 4, "dialog": 3, "menu": 3, "toast": 2, "change": 1}
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'.,-]*[A-Za-z0-9]|[A-Za-z0-9]")


def view_box(source: tuple[int, int], output: tuple[int, int], framing: str) -> tuple[int, ...]:
    """The source region the output shows unzoomed: the whole picture (``pad``), or its centre
    cut to the output's aspect (``crop``)."""
    sw, sh = source
    if framing != "crop":
        return (0, 0, sw, sh)
    ow, oh = output
    if sw * oh > sh * ow:  # the source is wider: cut the sides
        w = round(sh * ow / oh)
        return ((sw - w) // 2, 0, w, sh)
    h = round(sw * oh / ow)
    return (0, (sh - h) // 2, sw, h)


def plan(
    clips: list[Clip] | tuple[Clip, ...],
    segments: list[dict],
    view: tuple[int, int, int, int],
    *,
    narration_text: dict[str, str] | None = None,
) -> list[Clip]:
    """The clips with their ``zoom`` moves (clips without focus events are returned as they are)."""
    text = {k: _words(v) for k, v in (narration_text or {}).items()}
    planned = []
    for clip in clips:
        windows = []
        action = []  # (src start, src end, region) of every change the clip shows
        # a clip may run on into the next segment (edit joins footage that continues)
        for segment in segments:
            if float(segment["end"]) <= clip.src_start or float(segment["start"]) >= clip.src_end:
                continue
            lines = (segment.get("screen") or {}).get("lines") or []
            said = text.get(str(segment["id"]))
            for event in segment.get("focus") or []:
                if event.get("kind") == "cursor":
                    continue
                action.append((float(event["start"]), float(event["end"]),
                               tuple(int(v) for v in event["box"])))
                window = _window(clip, event)
                if window is None or event.get("kind") in NEVER_ZOOM:
                    continue  # not shown here, or a new page / a scroll: shown whole
                region = _with_lines(tuple(int(v) for v in event["box"]), lines)
                named = _named(region, lines, said)
                if event.get("kind") not in ZOOM_KINDS and not named:
                    continue
                box = _frame(region, view)
                if box is None:
                    continue
                rank = PRIORITY.get(event.get("kind"), 0) + (2 if named else 0)
                windows.append((window[0], window[1], box, region, rank))
        moves = [m for m in _moves(windows, clip, view) if not _crops(m, clip, action)]
        planned.append(replace(clip, zoom=tuple(moves)))
    return planned


def _crops(move: ZoomMove, clip: Clip, action: list) -> bool:
    """Whether ``move`` would cut away a change that happens while it is zoomed in (a menu
    opening beside the field it zooms on, a toast in another corner): then it is not made."""
    def src(t: float) -> float:
        return clip.src_start + (t - clip.out_start) * clip.speed

    a, b = src(move.out_start), src(move.out_end)  # what appears meanwhile stays on screen
    x, y, w, h = move.box
    for start, end, (rx, ry, rw, rh) in action:
        if end <= a or start >= b:
            continue
        if rx < x or ry < y or rx + rw > x + w or ry + rh > y + h:
            return True
    return False


# --------------------------------------------------------------------------- time


def _window(clip: Clip, event: dict) -> tuple[float, float] | None:
    """Where the event plays in the clip's final time, with lead and linger; ``None`` if the
    clip does not show it or has no room for a move."""
    start, end = float(event["start"]), float(event["end"])
    if end <= clip.src_start or start >= clip.src_end:
        return None

    a = max(clip.out_start, clip.out_time(start) - LEAD)
    b = clip.out_end if end >= clip.src_end else min(clip.out_end, clip.out_time(end) + LINGER)
    if b - a < MIN_MOVE:
        b = min(clip.out_end, a + MIN_MOVE)
        a = max(clip.out_start, b - MIN_MOVE)
    if b - a < 2 * EASE + 0.25:
        return None
    return round(a, 3), round(b, 3)


def _moves(windows: list, clip: Clip, view) -> list[ZoomMove]:
    """Non-overlapping moves from the event windows: overlapping events share one box when it is
    not much larger than theirs; else a new event takes over once the earlier move has lasted
    ``MIN_MOVE`` (before that the higher-ranked one wins); close moves abut (a pan)."""
    windows.sort(key=lambda w: (w[0], -w[4]))
    chosen: list[list] = []
    for a, b, box, region, rank in windows:
        if chosen and a < chosen[-1][1]:
            last = chosen[-1]
            both = _frame(_union(last[3], region), view)
            if both is not None and _area(both) <= SHARE * max(_area(last[2]), _area(box)):
                last[1], last[2], last[3] = max(last[1], b), both, _union(last[3], region)
                last[4] = max(last[4], rank)
                continue
            if a - last[0] >= MIN_MOVE:
                last[1] = a  # the action moved on: the earlier move gives way
            elif rank > last[4]:
                chosen[-1] = [a, b, box, region, rank]
                continue
            else:
                a = last[1]
                if b - a < MIN_MOVE:
                    continue
        chosen.append([a, b, box, region, rank])
    for first, second in zip(chosen, chosen[1:]):
        if second[0] - first[1] < PAN_GAP:
            first[1] = second[0]  # pan straight on
    return [ZoomMove(round(a, 3), round(min(b, clip.out_end), 3), box)
            for a, b, box, _, _ in chosen if b - a >= 2 * EASE]


# --------------------------------------------------------------------------- space


def _union(a, b) -> tuple[int, int, int, int]:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def _area(box) -> int:
    return box[2] * box[3]


def _overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _with_lines(region, lines: list[dict]):
    """The region grown to every OCR text line it touches, so no line is cut in half."""
    for line in lines:
        box = line.get("box")
        if box and len(box) == 4 and _overlaps(region, box):
            region = _union(region, tuple(int(v) for v in box))
    return region


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text or "") if len(w) >= 4}


def _named(region, lines: list[dict], said: set[str] | None) -> bool:
    """Whether the narration says a word of the text on screen inside the region."""
    if not said:
        return False
    shown = set()
    for line in lines:
        box = line.get("box")
        if box and len(box) == 4 and _overlaps(region, box):
            shown |= _words(line.get("text", ""))
    return bool(shown & said)


def _frame(region, view) -> tuple[int, int, int, int] | None:
    """A box of the view's aspect around the region (with a margin), at most MAX_ZOOM in, inside
    the view and, when it fits, with the region above the caption band; ``None`` when the
    region is too large to zoom at least MIN_ZOOM."""
    vx, vy, vw, vh = view
    x, y, w, h = region
    pad_x = max(MARGIN_PX, MARGIN * w)
    pad_y = max(MARGIN_PX, MARGIN * h)
    need_w = max(w + 2 * pad_x, (h + 2 * pad_y) * vw / vh, vw / MAX_ZOOM)
    if need_w > vw / MIN_ZOOM:
        return None
    bw = min(vw, round(need_w))
    bh = min(vh, round(bw * vh / vw))
    bx = round(x + w / 2 - bw / 2)
    by = round(y + h / 2 - bh / 2)
    # keep the region above the caption band when it fits there
    usable = (1 - CAPTION_BAND) * bh
    if h + pad_y <= usable and y + h + pad_y > by + usable:
        by = round(y + h + pad_y - usable)
    bx = min(max(bx, vx), vx + vw - bw)
    by = min(max(by, vy), vy + vh - bh)
    return (int(bx), int(by), int(bw), int(bh))


def is_screen_recording(segments: list[dict], *, max_motion: float = 0.05) -> bool:
    """Whether the footage looks like a screen recording: a mostly still picture (camera
    footage moves all over) with focus events in it."""
    length = sum(float(s["end"]) - float(s["start"]) for s in segments) or 1.0
    motion = sum(float(s.get("motion") or 0.0) * (float(s["end"]) - float(s["start"]))
                 for s in segments) / length
    return motion <= max_motion and any(s.get("focus") for s in segments)


def keyframes(moves: list[ZoomMove], view) -> list[list[tuple[float, tuple[int, ...]]]]:
    """The camera path of ``moves`` (final time, in order): chains of ``(time, box)`` keyframes,
    eased between. A chain starts and ends on the view; moves that abut pan from one box to the
    next around their junction."""
    view = tuple(view)
    chains: list[list[ZoomMove]] = []
    for move in sorted(moves, key=lambda m: m.out_start):
        if chains and abs(chains[-1][-1].out_end - move.out_start) <= 0.002:
            chains[-1].append(move)
        else:
            chains.append([move])
    paths = []
    for chain in chains:
        ease = [min(EASE, (m.out_end - m.out_start) / 3) for m in chain]
        first, last = chain[0], chain[-1]
        path = [(first.out_start, view), (first.out_start + ease[0], first.box)]
        for k, (a, b) in enumerate(zip(chain, chain[1:])):
            half = min(ease[k], ease[k + 1]) / 2
            path += [(a.out_end - half, a.box), (b.out_start + half, b.box)]
        path += [(last.out_end - ease[-1], last.box), (last.out_end, view)]
        paths.append([(round(t, 4), tuple(box)) for t, box in path])
    return paths
