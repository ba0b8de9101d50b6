"""Focus events: where the picture of a screen recording changes, and why — from the pixels alone.

Part of the analyze stage. Its decode pass feeds :class:`FocusDetector` small gray frames
(``FOCUS_WIDTH`` wide, ``FOCUS_FPS`` a second) chunk by chunk; :meth:`FocusDetector.events` then
says where something happened on screen, as ``{"start", "end", "box": [x, y, w, h], "kind"}``
with the box in source pixels. :func:`assign` hands each segment the events inside it.

How a change is found, per step from frame ``i - 1`` to frame ``i``:

* a pixel *changed* if its gray level moved by more than ``CHANGED_LEVELS``, and the change
  *lasts*: the frame ``PERSIST_STEPS`` after still differs there from the frame
  ``PERSIST_STEPS`` before. A mouse pointer gliding over the page (or a click's fading ring)
  leaves nothing behind, so it never counts; typed text, an opened menu, a dialog or a toast
  stay, so they do.
* changed pixels are grouped into connected regions (after a small dilation, so the letters of
  a word are one region); a region the size of a pointer or a text caret is dropped.
* regions are followed over time: a region near the recent activity of an open event (within
  ``GAP_SECONDS``) extends it, else it starts a new one; then events of the same place that
  follow each other closely (a toast appearing and going, two words typed into one field) join.

Each event gets a ``kind``: ``page`` (most of the picture changed: a new page), ``scroll`` (the
region's content moved vertically), ``typing`` (a line-high region that grew step by step),
``toast`` (a small box that appeared at once near the top or bottom edge), ``dialog`` (a large
box that appeared at once), ``menu`` (a smaller one) or ``change``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

FOCUS_WIDTH = 480  # gray frames this wide (the height keeps the source's aspect)
FOCUS_FPS = 5
CHANGED_LEVELS = 16  # gray levels a pixel must move to count as changed
PERSIST_STEPS = 3  # the change must still be there this many frames later (0.6 s)
MIN_PIXELS = 6  # changed pixels a region needs
GAP_SECONDS = 1.0  # quiet time that ends an event
JOIN_SECONDS = 3.0  # events of the same place this close in time become one
POINTER_SIZE = 0.045  # of the frame height: regions no larger than this both ways are a pointer
PAGE_AREA = 0.6  # a change over this fraction of the picture is a new page ...
# ... and so are this many changes at once, over this fraction of the picture and its width
SCATTERED, SCATTERED_AREA, SCATTERED_WIDTH = 4, 0.1, 0.5
LINE_HEIGHT = 0.1  # of the frame height: typing happens in a region at most this tall
DIALOG_AREA = 0.08  # a box appearing at once over this fraction of the picture is a dialog
TOAST_AREA = 0.06  # a box appearing at once near an edge, at most this large, is a toast
EDGE = 0.2  # "near the top or bottom edge": within this fraction of the height
SCROLL_MIN_AREA = 0.02  # regions this large are checked for vertical motion


@dataclass
class _Observation:
    step: int  # frame index i: the change appeared between frame i - 1 and frame i
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in focus-frame pixels
    pixels: int
    shifted: bool = False  # the region's content moved vertically (a scroll)
    page: bool = False  # the whole page changed


@dataclass
class _Event:
    observations: list[_Observation] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.observations[0].step

    @property
    def last(self) -> int:
        return self.observations[-1].step

    @property
    def box(self) -> tuple[int, int, int, int]:
        return _union(o.box for o in self.observations)

    def recent_box(self, step: int, window: int) -> tuple[int, int, int, int]:
        return _union(o.box for o in self.observations if o.step >= step - window)


def focus_size(width: int, height: int) -> tuple[int, int]:
    """The focus frames' size for a ``width`` x ``height`` source (even, at most the source)."""
    w = min(FOCUS_WIDTH, max(2, width - width % 2))
    h = max(2, round(w * height / max(1, width) / 2) * 2)
    return w, h


class FocusDetector:
    """Gray ``focus_size`` frames at ``FOCUS_FPS``, chunk by chunk, in; focus events out.

    Keeps only the last ``2 * PERSIST_STEPS + 2`` frames and the events, so memory stays flat.
    """

    def __init__(self, width: int, height: int, fps: float = FOCUS_FPS) -> None:
        self.source_size = (int(width), int(height))
        self.size = focus_size(width, height)
        self.fps = float(fps)
        self.frames = 0
        self._window: list[np.ndarray] = []  # the last frames, oldest first
        self._first_index = 0  # index of self._window[0]
        self._open: list[_Event] = []
        self._closed: list[_Event] = []
        w, h = self.size
        self._pointer = max(2, round(POINTER_SIZE * h))
        self._kernel = np.ones((3, 5), np.uint8)  # joins the letters of a word
        self._finished = False

    @property
    def frame_bytes(self) -> int:
        return self.size[0] * self.size[1]

    def add(self, chunk: np.ndarray) -> None:
        """Consume ``(n, frame_bytes)`` uint8 frames that follow the previous chunk."""
        w, h = self.size
        for frame in chunk.reshape(-1, h, w):
            self._window.append(frame.copy())
            self.frames += 1
            # step i can be judged once frame i + PERSIST_STEPS is in
            self._step(self.frames - 1 - PERSIST_STEPS)
            self._trim()

    def finish(self) -> None:
        """Judge the last steps (the frames after them repeat the last frame)."""
        if self._finished or not self.frames:
            return
        self._finished = True
        for i in range(max(1, self.frames - PERSIST_STEPS), self.frames):
            self._step(i)
        self._close_before(self.frames + 10**9)

    def _frame(self, index: int) -> np.ndarray:
        index = min(max(index, 0), self.frames - 1)
        return self._window[index - self._first_index]

    def _trim(self) -> None:
        keep = 2 * PERSIST_STEPS + 2
        while len(self._window) > keep:
            self._window.pop(0)
            self._first_index += 1

    def _step(self, i: int) -> None:
        if i < 1:
            return
        before, now, later = self._frame(i - 1), self._frame(i), self._frame(i + PERSIST_STEPS)
        changed = cv2.absdiff(now, before) > CHANGED_LEVELS
        self._close_before(i)
        if not changed.any():
            return
        # settled: still different from before later on, and what appeared now is what stays,
        # from the next frame on (a pointer passing over a region that changes later is not),
        # and what was there well before is gone too (where a pointer just left, it was not)
        long_before = self._frame(i - 1 - PERSIST_STEPS)
        settled = (changed & (cv2.absdiff(later, before) > CHANGED_LEVELS)
                   & (cv2.absdiff(later, long_before) > CHANGED_LEVELS)
                   & (cv2.absdiff(later, now) <= CHANGED_LEVELS)
                   & (cv2.absdiff(self._frame(i + 1), now) <= CHANGED_LEVELS))
        w, h = self.size
        found = []
        regions = [r for r in self._regions(changed.astype(np.uint8), i)
                   if _area(r.box) >= SCROLL_MIN_AREA * w * h / 4]
        if regions:
            # the large changes together moved up or down: a scroll (settled or not)
            box = _union(r.box for r in regions)
            if _area(box) >= SCROLL_MIN_AREA * w * h and _moved_vertically(before, now, box):
                found.append(_Observation(i, box, sum(r.pixels for r in regions), shifted=True))
                settled[box[1]:box[3], box[0]:box[2]] = False
        found += self._regions(settled.astype(np.uint8), i)
        union = _union(o.box for o in found) if found else (0, 0, 0, 0)
        if found and not any(o.shifted for o in found) and (_is_page(union, self.size) or (
                _clusters([o.box for o in found]) >= SCATTERED and _area(union) >= SCATTERED_AREA * w * h
                and union[2] - union[0] >= SCATTERED_WIDTH * w)):
            # a new page: one change, however many places it touched
            found = [_Observation(i, union, sum(o.pixels for o in found), page=True)]
            self._close_before(10**12)  # whatever was going on, that page is gone
        for obs in found:
            self._observe(obs)

    def _regions(self, mask: np.ndarray, i: int) -> list[_Observation]:
        """The connected regions of changed pixels, less noise and text carets."""
        if not mask.any():
            return []
        # only the rectangle around the changes (a typed letter is a few pixels, not a frame)
        rx, ry, rw, rh = cv2.boundingRect(mask)
        fh, fw = mask.shape
        ox, oy = max(0, rx - 3), max(0, ry - 2)
        roi = mask[oy:min(fh, ry + rh + 2), ox:min(fw, rx + rw + 3)]
        grown = cv2.dilate(roi, self._kernel)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
        pixels = np.bincount(labels[roi > 0], minlength=count)
        found = []
        for label in range(1, count):
            x, y, bw, bh, _ = stats[label]
            x, y = x + ox, y + oy
            x0, y0, x1, y1 = x + 2, y + 1, x + bw - 2, y + bh - 1  # undo the dilation's growth
            if pixels[label] < MIN_PIXELS or x1 - x0 < 2:
                continue  # noise, or a caret blinking
            found.append(_Observation(i, (int(x0), int(y0), int(max(x1, x0 + 1)),
                                          int(max(y1, y0 + 1))), int(pixels[label])))
        return found

    def _observe(self, obs: _Observation) -> None:
        w, _ = self.size
        margin_x, margin_y = round(0.04 * w), round(0.015 * w)
        window = round(GAP_SECONDS * self.fps)
        near = []
        for event in self._open:
            x0, y0, x1, y1 = event.recent_box(obs.step, window)
            grown = (x0 - margin_x, y0 - margin_y, x1 + margin_x, y1 + margin_y)
            last = event.observations[-1]
            recent = _area((x0, y0, x1, y1))
            opened = _area(obs.box) >= max(2 * recent, 0.5 * DIALOG_AREA * w * self.size[1])
            if (_intersects(grown, obs.box) and last.page == obs.page
                    and last.shifted == obs.shifted and not opened):
                near.append(event)
        if not near:
            self._open.append(_Event([obs]))
            return
        target = near[0]
        for other in near[1:]:
            target.observations = sorted(target.observations + other.observations,
                                         key=lambda o: o.step)
            self._open.remove(other)
        target.observations.append(obs)

    def _close_before(self, step: int) -> None:
        gap = round(GAP_SECONDS * self.fps)
        still_open = []
        for event in self._open:
            (self._closed if event.last < step - gap else still_open).append(event)
        self._open = still_open

    # ---- the result

    def events(self) -> list[dict]:
        """All focus events, in time order, as segments.json ``focus`` entries (source pixels)."""
        self.finish()
        merged = _absorb_into_scrolls([
            e for e in _join(sorted(self._closed, key=lambda e: e.first), self.fps, self.size)
            if not self._pointer_only(e)], self.fps)
        out = []
        for event in merged:
            box = event.box
            out.append({
                "start": round(event.first / self.fps, 3),
                "end": round((event.last + 1) / self.fps, 3),
                "box": self._to_source(box),
                "kind": _kind(event, self.size),
            })
        return out

    def _pointer_only(self, event: _Event) -> bool:
        """A pointer that stopped or left, a click's mark: too small to be anything else (a short
        word that appears is wider)."""
        steps = len({o.step for o in event.observations})
        x0, y0, x1, y1 = event.box
        return _is_pointer(event.box, self._pointer) or (
            steps <= 2 and _is_pointer(event.box, 2 * self._pointer) and x1 - x0 < 2.5 * (y1 - y0))

    def _to_source(self, box: tuple[int, int, int, int]) -> list[int]:
        (sw, sh), (w, h) = self.source_size, self.size
        fx, fy = sw / w, sh / h
        x0, y0 = max(0, int((box[0] - 0.5) * fx)), max(0, int((box[1] - 0.5) * fy))
        x1, y1 = min(sw, int(np.ceil((box[2] + 0.5) * fx))), min(sh, int(np.ceil((box[3] + 0.5) * fy)))
        return [x0, y0, x1 - x0, y1 - y0]


class FramePipe:
    """The focus frames as an extra output of an ffmpeg process, fed to a detector in a thread.

    ``output_args()`` go on the ffmpeg command line, ``pass_fds`` to ``Popen``; call
    :meth:`start` right after starting ffmpeg and :meth:`join` once it has exited.
    """

    def __init__(self, detector: FocusDetector) -> None:
        self.detector = detector
        self._read, self._write = os.pipe()
        self._thread = threading.Thread(target=self._drain, name="focus-frames", daemon=True)
        self._error: BaseException | None = None

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self._write,)

    def output_args(self) -> list[str]:
        w, h = self.detector.size
        return ["-map", "0:v:0",
                "-vf", f"fps={self.detector.fps:g},scale={w}:{h}:flags=area,format=gray",
                "-fps_mode", "passthrough", "-f", "rawvideo", f"pipe:{self._write}"]

    def start(self) -> None:
        os.close(self._write)
        self._thread.start()

    def close(self) -> None:
        """Release the pipe when ffmpeg never started."""
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass

    def _drain(self) -> None:
        size = self.detector.frame_bytes
        try:
            with os.fdopen(self._read, "rb") as stream:
                while chunk := stream.read(size * 16):
                    whole = len(chunk) // size
                    if whole:
                        self.detector.add(np.frombuffer(chunk, np.uint8, whole * size)
                                          .reshape(whole, size))
        except BaseException as exc:  # re-raised in join()
            self._error = exc

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def assign(segments: list[dict], events: list[dict]) -> None:
    """Give every segment its ``focus``: the events that start inside it, clipped to its end."""
    for segment in segments:
        start, end = float(segment["start"]), float(segment["end"])
        segment["focus"] = [
            {**e, "end": round(min(e["end"], end), 3)}
            for e in events if start <= e["start"] < end
        ]


# --------------------------------------------------------------------------- helpers


def _union(boxes) -> tuple[int, int, int, int]:
    boxes = list(boxes)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def _intersects(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _area(b) -> int:
    return max(0, b[2] - b[0]) * max(0, b[3] - b[1])


def iou(a, b) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    inter = _area(_inter(a, b))
    union = _area(a) + _area(b) - inter
    return inter / union if union else 0.0


def _is_page(box, size) -> bool:
    return _area(box) >= PAGE_AREA * size[0] * size[1]


def _clusters(boxes: list, margin: int = 2) -> int:
    """How many groups of touching boxes there are (a menu and its items are one)."""
    groups: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes):
        grown = (box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin)
        touching = [g for g in groups if _intersects(g, grown)]
        for g in touching:
            groups.remove(g)
        groups.append(_union(touching + [box]))
    return len(groups)


def _is_page_event(event: _Event, size) -> bool:
    return _is_page(event.box, size) or any(o.page for o in event.observations)


def _is_pointer(box, pointer: int) -> bool:
    return box[2] - box[0] <= pointer and box[3] - box[1] <= pointer


def _same_line(a, b, size) -> bool:
    """Two line-high boxes on the same line, close side by side (words typed into one field)."""
    line = LINE_HEIGHT * size[1]
    ha, hb = a[3] - a[1], b[3] - b[1]
    if ha > line or hb > line:
        return False
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    gap = max(a[0], b[0]) - min(a[2], b[2])
    return overlap >= 0.5 * min(ha, hb) and gap <= 2 * max(ha, hb)


def _join(events: list[_Event], fps: float, size) -> list[_Event]:
    """Join events of the same place that follow each other within ``JOIN_SECONDS``."""
    out: list[_Event] = []
    pages = [e.first for e in events if _is_page_event(e, size)]
    for event in events:
        for previous in reversed(out[-4:]):
            if (event.first - previous.last) / fps > JOIN_SECONDS or any(
                    previous.first < p <= event.first for p in pages):
                continue
            a, b = previous.box, event.box
            if _is_page_event(previous, size) or _is_page_event(event, size):
                continue
            if iou(a, b) >= 0.5 or _same_line(a, b, size):
                previous.observations = sorted(previous.observations + event.observations,
                                               key=lambda o: o.step)
                break
        else:
            out.append(event)
    return out


def _absorb_into_scrolls(events: list[_Event], fps: float) -> list[_Event]:
    """Changes in the band of a scrolling region while it scrolls (its slow start and end, the
    columns beside it) are the scroll's."""
    scrolls = [e for e in events if sum(o.shifted for o in e.observations) >= 2]
    out = []
    for event in events:
        box = event.box
        home = next((s for s in scrolls if s is not event
                     and min(box[3], s.box[3]) - max(box[1], s.box[1]) >= 0.8 * (box[3] - box[1])
                     and s.first - fps <= event.first <= s.last + fps), None)
        if home is None:
            out.append(event)
        else:
            home.observations = sorted(home.observations + event.observations,
                                       key=lambda o: o.step)
    return out


def _inter(a, b) -> tuple[int, int, int, int]:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def _kind(event: _Event, size) -> str:
    w, h = size
    box = event.box
    area = _area(box) / float(w * h)
    shifted = sum(o.shifted for o in event.observations)
    if shifted >= 2 and shifted >= sum(o.page for o in event.observations):
        return "scroll"  # (a slow start of the scroll may look like a new page)
    if area >= PAGE_AREA or any(o.page for o in event.observations):
        return "page"
    steps = sorted({o.step for o in event.observations})
    height = box[3] - box[1]
    first = _area(_union(o.box for o in event.observations if o.step == steps[0]))
    small_steps = {o.step for o in event.observations if _area(o.box) < 0.5 * _area(box)}
    if len(small_steps) >= 3 and height <= LINE_HEIGHT * h:
        return "typing"  # a line grew step by step (a field's focus ring may come first)
    if first >= 0.5 * _area(box):  # appeared at once
        near_edge = box[1] <= EDGE * h or box[3] >= (1 - EDGE) * h
        if area <= TOAST_AREA and near_edge and (box[2] - box[0]) >= 2 * height:
            return "toast"
        return "dialog" if area >= DIALOG_AREA else "menu"
    return "change"


def _moved_vertically(before: np.ndarray, now: np.ndarray, box) -> bool:
    """Whether the content of ``box`` moved up or down (a scroll) between the two frames."""
    x0, y0, x1, y1 = box
    a = before[y0:y1, x0:x1].astype(np.float32)
    b = now[y0:y1, x0:x1].astype(np.float32)
    if a.shape[0] < 8 or a.shape[1] < 8:
        return False
    (dx, dy), response = cv2.phaseCorrelate(a, b)
    if response < 0.1 or abs(dy) < 0.5 or abs(dx) >= 0.5:
        return False
    # the shift must explain the change (a box appearing or going has no shift that does)
    k = int(round(dy))
    if k == 0:
        return False
    if k > 0:
        residual = np.abs(b[k:] - a[:-k]).mean()
    else:
        residual = np.abs(b[:k] - a[-k:]).mean()
    return residual <= 0.75 * np.abs(b - a).mean()
