"""Read and hear the footage: what each segment shows in text and what its presenter says.

Part of the analyze stage, and cheap beside it: the text is read and the speech heard while the
stage's one decode pass runs.

- :class:`ScreenReader` is a consumer of that pass: it gets full-size grey frames two times a
  second and hands one to a :class:`~include.core.ports.TextReader` (Tesseract by default), in a
  thread of its own, whenever the screen changed since the last frame read — once the picture
  has settled (not mid-transition), or after a second of continuous change (typing). A screen
  that stays the same is read once, however long it is shown.
- :func:`read_screens` then gives every segment the read that shows its screen at its keyframe
  time (and, for long segments where the picture moves, near its end) and turns the lines into
  its ``screen``: ``headline``, the ``lines`` kept (without the chrome), what is ``new`` against
  the previous segment, salient ``numbers`` and ``terms``, and the ``boxes`` of every line read
  (the chrome too: where the screen has text); text repeated on most segments (a nav bar) is
  the chrome, kept once with the product's name.
- :class:`Hearing` transcribes the source's audio with a
  :class:`~include.core.ports.Transcriber` (faster-whisper) in a thread started before the pass;
  :meth:`Hearing.attach` gives each segment the words spoken inside it (an unsure word that
  nearly matches a word on its screen written as the screen writes it: "Ludgerly" → "Ledgerly"),
  grouped into sentences; a sentence the recogniser is unsure of (a word under 30 % probability
  that is not on screen, a fragment) is kept for the record but not used as narration, so a
  misheard presenter is never put into the script.
"""

from __future__ import annotations

import difflib
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from include.core import media, screen_text
from include.core.errors import FatalError
from include.core.ports import TextReader, Transcriber
from include.core.text import SPOKEN_FILLERS

LONG_SEGMENT_SECONDS = 6.0  # longer segments that move get a second frame read near their end
MOVING = 0.02  # motion (fraction of the picture changing per frame) that counts as moving
MAX_LINES = 60  # lines kept per segment in segments.json
MAX_BOXES = 400  # boxes of text kept per segment (every line read, chrome included)
# A screen with fewer lines than the one before, on which at least this share of the lines
# before still stand (same text, same place: a dialog opened over the page, which stays dimmed
# around it and is barely read), keeps the boxes of the lines before too.
BEHIND_SHARE = 0.1
MIN_WORD, MIN_MEAN = 0.3, 0.7  # probabilities a heard sentence needs to be narrated
# An unsure heard word (under UNSURE_WORD) this similar to a word shown on screen, with the same
# first letter and not merely an inflection of it, is that word, written as the screen writes
# it: tiny.en hears the product "Ledgerly" as "Ludgerly" (0.33; similarity 0.875), and the
# narration would say the wrong name. "listed" / "listen" (0.83) stays as heard.
SHOWN_SIMILARITY, UNSURE_WORD = 0.85, 0.6
_INFLECTIONS = ("s", "es", "ed", "d", "ing", "er", "ers")
# tiny.en writes a presenter's "um" as one of these, squeezed into a few tens of milliseconds
# ("invoices, um, newest first" → "invoices. I'm newest first." with "I'm" lasting 40 ms); said
# for real they last 150 ms or more. Shorter than FILLER_MAX_SECONDS, they are fillers.
FILLER_LOOKALIKES = frozenset({"i'm", "im", "ah", "oh", "hm"})
FILLER_MAX_SECONDS = 0.08

# ---- when the screen is read (see ScreenReader)
READS_PER_SECOND = 2  # grey frames the decode pass hands over per second (the keyframe samples)
READ_MAX_WIDTH = 1920  # wider sources are scaled down to this (Tesseract's best size for UI text)
THUMB_FACTOR = 4  # change is judged on 1/4-size thumbnails (a typed word still shows)
CHANGE_LEVEL = 20  # a thumbnail pixel changed if it moved more than this (encoder noise is less)
# A moving mouse pointer changes ~0.04 % of the thumbnail, a typed word ~0.06 %, a toast ~1 %.
STABLE_FRACTION = 0.0005  # at most this fraction changed since the previous frame: settled
NEW_FRACTION = 0.0005  # more than this changed since the last frame read: worth reading again
MAX_WAIT_SECONDS = (1.0, 8.0)  # a screen that keeps changing (typing, scrolling, camera footage)
# is read after the first wait, then after twice as long each time, up to the second
MAX_PENDING = 4  # frames waiting for the reader; more holds the decode back
# When the change since the last read covers less than this fraction of the picture (typed text,
# a toast, a menu), only the changed boxes are read again (padded, widened to the lines read
# there before); the lines elsewhere carry over from the last read.
PARTIAL_MAX = 0.3
# A frame that changed JUMP_RATIO times more from the one before than the screen's median step
# over the last JUMP_HISTORY frames (and more than JUMP_MIN) shows a new page: its wait starts
# again from the first. The shared screen recording's slides (green → blue panels, nearly one
# grey) change 2–7 % of the thumbnail while its clock, chart and terminal tick 0.6–1.3 % a step;
# camera footage, where every step is large, keeps its doubling waits.
JUMP_RATIO, JUMP_MIN, JUMP_HISTORY = 2.0, 0.015, 6
PARTIAL_PAD = 6  # thumbnail pixels around each changed blob


@dataclass(frozen=True)
class Read:
    """The lines read on the frame at ``time`` (seconds), boxes in the source's pixels; the
    screen it shows began to appear at ``since`` (the first frame that differed from the read
    before)."""

    time: float
    since: float
    lines: list[dict]


class ScreenReader:
    """Reads the screen while the decode pass runs: feed it frames with :meth:`add`, get the
    :class:`Read` s with :meth:`finish`.

    It asks the pass for ``filters`` (``READS_PER_SECOND`` grey frames a second at ``width`` x
    ``height``: the source's size, at most ``READ_MAX_WIDTH`` wide). A frame goes to the reader
    when more than ``NEW_FRACTION`` of its thumbnail differs from the last frame read and it
    either matches the frame before it (the picture settled) or the change has lasted
    ``MAX_WAIT_SECONDS`` (doubling while the picture never settles; a new page over a screen
    that keeps ticking — a step far larger than its last ones — starts the wait again). When the
    change covers less than ``PARTIAL_MAX`` of the picture only its boxes are read (the rest of
    the frame blanked) and the other lines carry over. Reading happens in one worker thread
    (Tesseract releases the GIL), so it overlaps the decode; ``seconds`` is the time spent
    reading.
    """

    def __init__(self, reader: TextReader, size: tuple[int, int],
                 per_second: int = READS_PER_SECOND) -> None:
        self.reader = reader
        self.size = (int(size[0]), int(size[1]))
        width, height = self.size
        if width > READ_MAX_WIDTH:
            self.width = READ_MAX_WIDTH
            self.height = max(2, round(height * READ_MAX_WIDTH / width / 2) * 2)
        else:
            self.width, self.height = width, height
        self.per_second = per_second
        self.filters = f"fps={per_second},scale={self.width}:{self.height}:flags=area"
        self.reads: list[tuple[float, float, Future]] = []
        self.partial = 0  # reads of the changed boxes only
        self.seconds = 0.0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr")
        self._slots = threading.Semaphore(MAX_PENDING)
        self._thumb_size = (max(1, self.width // THUMB_FACTOR), max(1, self.height // THUMB_FACTOR))
        self._previous: np.ndarray | None = None  # thumbnail of the frame before
        self._steps: list[float] = []  # the fractions that changed between the last frames
        self._last_read: np.ndarray | None = None  # thumbnail of the last frame read
        self._changed_since: float | None = None  # when the screen began to differ from it
        self._unread: tuple[float, np.ndarray, np.ndarray] | None = None  # newest such frame
        self._wait = MAX_WAIT_SECONDS[0]

    def add(self, frames: np.ndarray, first: int) -> None:
        """Consume ``(n, height, width)`` grey frames; ``first`` is the index of the first."""
        for k, frame in enumerate(frames):
            t = (first + k) / self.per_second
            thumb = cv2.resize(frame, self._thumb_size, interpolation=cv2.INTER_AREA)
            step = _changed(thumb, self._previous) if self._previous is not None else 1.0
            settled = step <= STABLE_FRACTION
            # a new page over a screen that keeps ticking (a clock, a chart, a terminal typing):
            # read it after the first wait, not at the end of a long one of the ticking screen
            ticking = sorted(self._steps)[len(self._steps) // 2] if self._steps else 1.0
            calm = max(JUMP_MIN, JUMP_RATIO * ticking)
            jump = step > calm and bool(self._steps) and self._steps[-1] <= calm  # after calm
            self._previous = thumb
            self._steps = (self._steps + [step])[-JUMP_HISTORY:]
            if self._last_read is not None and _changed(thumb, self._last_read) <= NEW_FRACTION:
                self._changed_since, self._unread = None, None  # still (or again) what was read
                continue
            if jump and self._changed_since is not None:
                self._changed_since, self._wait = t, MAX_WAIT_SECONDS[0]
            if self._changed_since is None:
                self._changed_since = t
            if settled:
                self._wait = MAX_WAIT_SECONDS[0]
                self._submit(t, frame, thumb)
            elif t - self._changed_since >= self._wait:
                self._wait = min(2 * self._wait, MAX_WAIT_SECONDS[1])
                self._submit(t, frame, thumb)
            else:
                self._unread = (t, frame, thumb)

    def finish(self) -> list[Read]:
        """Every read, in time order, once the reader is done (a change still unread at the end
        of the video is read now). Raises what the reader raised."""
        if self._unread is not None:
            self._submit(*self._unread)
        factor = self.size[0] / self.width
        return [Read(t, since, _scaled(future.result(), factor)) for t, since, future in self.reads]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, t: float, frame: np.ndarray, thumb: np.ndarray) -> None:
        boxes = self._changed_boxes(thumb) if self._last_read is not None else None
        previous = self.reads[-1][2] if self.reads and boxes is not None else None
        self._slots.acquire()
        future = self._pool.submit(self._read, frame, boxes, previous, int(np.median(thumb)))
        future.add_done_callback(lambda _done: self._slots.release())
        since = t if self._changed_since is None else self._changed_since
        since = since if self.reads else 0.0  # the first read stands for the start
        self.reads.append((t, since, future))
        self.partial += previous is not None
        self._last_read, self._changed_since, self._unread = thumb, None, None

    def _changed_boxes(self, thumb: np.ndarray) -> list[tuple[int, int, int, int]] | None:
        """``(x0, y0, x1, y1)`` boxes (frame pixels) around what changed since the last read, or
        ``None`` when they cover more than PARTIAL_MAX of the picture (read it all)."""
        mask = (cv2.absdiff(thumb, self._last_read) > CHANGE_LEVEL).astype(np.uint8)
        mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
        count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(mask)
        h, w = thumb.shape
        cover = np.zeros((h, w), bool)
        boxes = []
        for x, y, bw, bh, _area in stats[1:count]:
            x0, y0 = max(0, x - PARTIAL_PAD), max(0, y - PARTIAL_PAD)
            x1, y1 = min(w, x + bw + PARTIAL_PAD), min(h, y + bh + PARTIAL_PAD)
            cover[y0:y1, x0:x1] = True
            boxes.append((x0 * THUMB_FACTOR, y0 * THUMB_FACTOR,
                          min(self.width, x1 * THUMB_FACTOR), min(self.height, y1 * THUMB_FACTOR)))
        if not boxes or cover.mean() > PARTIAL_MAX:
            return None
        return boxes

    def _read(self, frame: np.ndarray, boxes, previous: Future | None, fill: int) -> list[dict]:
        """The frame's lines in its own pixels: all of it, or only ``boxes`` (blanked elsewhere
        with ``fill``) plus the lines of the ``previous`` read outside them."""
        started = time.monotonic()
        if boxes is None or previous is None:
            lines = [line.as_dict() for line in self.reader.read(frame)]
        else:
            before = previous.result()  # already done: the one worker reads in order
            boxes = _widened(boxes, before)
            masked = np.full_like(frame, fill)
            for x0, y0, x1, y1 in boxes:
                masked[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
            fresh = [line.as_dict() for line in self.reader.read(masked)]
            kept = [line for line in before if not any(_overlap(line["box"], b) for b in boxes)]
            lines = sorted(kept + fresh, key=lambda line: (line["box"][1], line["box"][0]))
        self.seconds = round(self.seconds + time.monotonic() - started, 3)
        return lines


def _overlap(box: list[int], region: tuple[int, int, int, int]) -> bool:
    """Whether a line's ``[x, y, w, h]`` box meets an ``(x0, y0, x1, y1)`` region."""
    x, y, w, h = box
    x0, y0, x1, y1 = region
    return x < x1 and x + w > x0 and y < y1 and y + h > y0


def _widened(boxes: list[tuple[int, int, int, int]], lines: list[dict]):
    """Each box grown to take in the whole of every earlier line it meets (a line is read
    whole or not at all)."""
    out = []
    for box in boxes:
        x0, y0, x1, y1 = box
        for line in lines:
            if _overlap(line["box"], box):
                x, y, w, h = line["box"]
                x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x + w), max(y1, y + h)
        out.append((x0, y0, x1, y1))
    return out


def _scaled(lines: list[dict], factor: float) -> list[dict]:
    """Lines with boxes and heights in the source's pixels (the frames read may be smaller)."""
    if factor == 1.0:
        return lines
    return [{**line, "box": [int(round(v * factor)) for v in line["box"]],
             "height": round(line["height"] * factor, 1)} for line in lines]


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of pixels that differ by more than CHANGE_LEVEL between two thumbnails."""
    return np.count_nonzero(cv2.absdiff(a, b) > CHANGE_LEVEL) / a.size


def read_screens(segments: list[dict], reads: list[Read], size: tuple[int, int]) -> dict:
    """Add ``screen`` to every segment from the ``reads`` of a :class:`ScreenReader`; return
    ``{"product_name", "chrome"}`` for the video."""
    width, height = size
    per_segment: list[list[dict]] = []
    for segment in segments:
        chosen: list[Read] = []
        for t in _read_times(segment):
            read = _read_at(reads, t, segment)
            if read is not None and all(read is not c for c in chosen):
                chosen.append(read)
        lines: list[dict] = []
        for read in chosen:
            lines = _union(lines, read.lines)
        per_segment.append(lines)
    chrome = screen_text.chrome(per_segment)
    previous: list[dict] = []
    for segment, lines in zip(segments, per_segment):
        # OCR noise (an icon read as "oo") is no text on screen: not kept, new or a term
        content = [line for line in screen_text.drop_chrome(lines, chrome.lines)
                   if not screen_text.is_noise(line["text"])]
        head = screen_text.headline(lines, (width, height), chrome=chrome.lines) or ""
        fresh = screen_text.new_lines(previous, content) if previous else []
        segment["screen"] = {
            "headline": head,
            "lines": content[:MAX_LINES],
            "new": [line["text"] for line in fresh
                    if float(line.get("conf", 100.0)) >= screen_text.SURE_CONF][:12],
            "numbers": screen_text.numbers(content)[:12],
            "terms": screen_text.terms(content, exclude=[head] if head else [], limit=20),
            # where there is text on the screen (what the lower thirds keep clear of): every
            # line read, the chrome included and ``lines``' cap not applied, and the page a
            # dialog opened over (see _behind)
            "boxes": [[int(v) for v in line["box"]] for line in lines + _behind(previous, content)
                      if not screen_text.is_noise(line["text"])][:MAX_BOXES],
        }
        previous = content
    return {"product_name": chrome.product_name or "",
            "chrome": [line["text"] for line in chrome.lines]}


def _behind(previous: list[dict], content: list[dict]) -> list[dict]:
    """The lines of the ``previous`` screen still behind this one (``content``, chrome dropped
    from both): all of them when this screen has fewer lines and at least ``BEHIND_SHARE`` of
    the previous lines still stand on it (a dialog over the page, whose dimmed text OCR barely
    reads), else none."""
    if not previous or len(content) >= len(previous):
        return []
    # is_chrome: the same text at about the same place
    standing = sum(screen_text.is_chrome(line, content) for line in previous)
    if standing < BEHIND_SHARE * len(previous):
        return []
    return sorted(previous, key=lambda line: (line["box"][1], line["box"][0]))


def _read_times(segment: dict) -> list[float]:
    """Source times to read: the middle of the longest kept span, plus one near the end of a
    long, moving segment (a dialog opened, text was typed)."""
    a, b = max(segment["kept"], key=lambda piece: piece[1] - piece[0])
    times = [round((a + b) / 2, 3)]
    end = float(segment["end"])
    if end - float(segment["start"]) >= LONG_SEGMENT_SECONDS and segment.get("motion", 0) >= MOVING:
        times.append(round(max(times[0] + 1.0, end - 0.5), 3))
    return times


def _read_at(reads: list[Read], t: float, segment: dict) -> Read | None:
    """The read showing the screen at ``t``: the last one whose screen had begun to appear by
    ``t`` (a read just after a cut shows the new screen from the cut on), but never one from
    before the segment when one inside it exists."""
    start, end = float(segment["start"]), float(segment["end"])
    shown = [r for r in reads if r.since <= t + 1e-6] or reads[:1]
    if not shown:
        return None
    if shown[-1].time < start:
        inside = [r for r in reads if start <= r.since and r.time < end]
        if inside:
            return inside[0]
    return shown[-1]


def _union(first: list[dict], second: list[dict]) -> list[dict]:
    """The later frame's lines (what is on screen now), plus the earlier frame's lines whose
    text the later frame no longer shows; a text may stand in several places (a nav item and
    the page title), so lines are never merged by text alone."""
    later = {screen_text.norm(line["text"]) for line in second}
    kept = second + [line for line in first if screen_text.norm(line["text"]) not in later]
    return sorted(kept, key=lambda line: (line["box"][1], line["box"][0]))


def grab_frame(source_path: Path, seconds: float, width: int, height: int) -> np.ndarray:
    """The frame at ``seconds`` as a grey image at the source's own size (one seek; analyze reads
    its frames from the decode pass instead)."""
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


class Hearing:
    """Speech recognition of a source's audio in a thread of its own, started at once (so it
    runs beside the decode pass); :meth:`attach` waits for it. ``seconds`` is the time it took
    (audio extraction and recognition)."""

    def __init__(self, source_path: Path, transcriber: Transcriber) -> None:
        self.seconds = 0.0
        self._words: list[dict] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(Path(source_path), transcriber),
                                        name="asr", daemon=True)
        self._thread.start()

    def _run(self, source_path: Path, transcriber: Transcriber) -> None:
        started = time.monotonic()
        try:
            self._words = transcribe_source(source_path, transcriber)
        except BaseException as exc:  # re-raised by attach() in the caller's thread
            self._error = exc
        finally:
            self.seconds = round(time.monotonic() - started, 3)

    def attach(self, segments: list[dict], shown: Sequence[str] = ()) -> str:
        """Add ``speech`` (``text`` without fillers, ``sentences``, ``words``) to every segment;
        return the whole transcript. ``shown``: text on every screen (see :func:`attach_speech`)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return attach_speech(segments, self._words, shown)

    def close(self) -> None:
        self._thread.join()


def hear(source_path: Path, segments: list[dict], transcriber: Transcriber) -> str:
    """:class:`Hearing` without the thread: transcribe, attach, return the transcript."""
    return attach_speech(segments, transcribe_source(source_path, transcriber))


def transcribe_source(source_path: Path, transcriber: Transcriber) -> list[dict]:
    """The words of the source's first audio track (16 kHz mono), with times and probability."""
    with tempfile.TemporaryDirectory(prefix="asr-") as tmp:
        wav = Path(tmp) / "speech.wav"
        media.write_speech_audio(source_path, wav)
        return [{"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3),
                 "probability": round(w.probability, 3)} for w in transcriber.transcribe(wav)]


def attach_speech(segments: list[dict], words: list[dict], shown: Sequence[str] = ()) -> str:
    """Give every segment the ``words`` heard inside it as ``speech``, and the sentences whose
    middle falls inside it (a sentence said across a cut, "Thank you | for watching.", stays
    whole, with the segment that holds most of it); return the transcript. ``shown`` is text on
    every screen, kept out of the segments' own lines (the chrome: the product's name, the nav):
    a heard word is confirmed by, or spelled as, those words too."""
    def middle(items: list[dict]) -> float:
        return (float(items[0]["start"]) + float(items[-1]["end"])) / 2

    def owner(t: float) -> int:
        return next((i for i, s in enumerate(segments) if t < float(s["end"])), len(segments) - 1)

    everywhere = _seen_words({"screen": {"terms": list(shown)}})
    seen = [{**everywhere, **_seen_words(segment)} for segment in segments]
    shown = [_as_shown(w, seen[owner(middle([w]))]) for w in words] if segments else []
    spoken: list[list[list[dict]]] = [[] for _ in segments]
    for sentence in _sentences(shown):
        spoken[owner(middle(sentence))].append(sentence)
    for index, segment in enumerate(segments):
        start, end = float(segment["start"]), float(segment["end"])
        inside = [w for w in shown if start <= middle([w]) < end]
        sentences = [_judge(sentence, seen[index]) for sentence in spoken[index]]
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


def _seen_words(segment: dict) -> dict[str, str]:
    """The words of the segment's text on screen, lower-case → as shown (a capitalised form wins):
    a heard word that is also shown is confirmed whatever the recogniser's confidence ("Orbit",
    "Board")."""
    screen = segment.get("screen") or {}
    texts = [screen.get("headline") or ""] + list(screen.get("terms") or [])
    texts += [line.get("text", "") for line in screen.get("lines") or []]
    seen: dict[str, str] = {}
    for t in texts:
        for raw in str(t).split():
            w = raw.strip(",.:;!?()")
            current = seen.get(w.lower())
            if len(w) > 1 and (current is None or w[:1].isupper() and not current[:1].isupper()):
                seen[w.lower()] = w
    return seen


def _as_shown(word: dict, seen: dict[str, str]) -> dict:
    """``word`` as the screen writes it when the recogniser was unsure of a word it nearly heard
    as one shown (see ``SHOWN_SIMILARITY``), with the heard form kept as ``heard``; else as is."""
    raw = word["word"]
    core = raw.strip(",.:;!?")
    key = core.lower()
    if len(key) < 5 or key in seen or float(word.get("probability", 0.0)) >= UNSURE_WORD:
        return word
    ratio, shown = max(((difflib.SequenceMatcher(None, key, s).ratio(), s) for s in seen
                        if s[:1] == key[:1] and abs(len(s) - len(key)) <= 2
                        and not _inflected(key, s)), default=(0.0, ""))
    if ratio < SHOWN_SIMILARITY:
        return word
    return {**word, "word": raw.replace(core, seen[shown], 1), "heard": raw}


def _inflected(a: str, b: str) -> bool:
    """One word is the other with an ending ("report" / "reports", "create" / "created")."""
    short, long = sorted((a, b), key=len)
    return any(long == short + end or long == short.rstrip("e") + end for end in _INFLECTIONS)


def _is_filler(word: dict) -> bool:
    """A filler ("um"), or a filler that the recogniser wrote as a short word ("I'm" in 40 ms)."""
    key = word["word"].lower().replace("’", "'").strip(",.!?;:")
    if key in SPOKEN_FILLERS:
        return True
    return key in FILLER_LOOKALIKES and word["end"] - word["start"] < FILLER_MAX_SECONDS


def _judge(words: list[dict], seen: set[str]) -> dict:
    """One heard sentence, fillers (also when misheard as a short word) dropped, and whether it
    is trustworthy enough to narrate: every word at least ``MIN_WORD`` probable (or shown on
    screen), ``MIN_MEAN`` on average, and no word fragments ("-milling")."""
    kept = [w for w in words if not _is_filler(w)]
    probabilities = []
    for w in kept:
        key = w["word"].strip(",.:;!?").lower()
        confirmed = key in seen or any(s.startswith(key) and len(key) >= 5 for s in seen)
        probabilities.append(1.0 if confirmed else float(w.get("probability", 0.0)))
    text = " ".join(w["word"] for w in kept).strip()
    if text and kept[0] is not words[0]:  # "I'm newest first." → "Newest first."
        text = text[0].upper() + text[1:]
    fragment = any(w["word"].startswith("-") or w["word"].endswith("-") for w in kept)
    mean = sum(probabilities) / len(probabilities) if probabilities else 0.0
    usable = bool(kept) and not fragment and min(probabilities) >= MIN_WORD and mean >= MIN_MEAN
    if kept and not usable and not fragment:
        # an unsure opening clause before a comma ("Cent, now let's check on our customers.":
        # a short "Sent." run into the next sentence) costs the sentence only that clause
        comma = next((i for i, w in enumerate(kept[:2]) if w["word"].endswith(",")), None)
        rest = probabilities[comma + 1:] if comma is not None else []
        if (comma is not None and min(probabilities[:comma + 1]) < MIN_WORD and len(rest) >= 3
                and min(rest) >= MIN_WORD and sum(rest) / len(rest) >= MIN_MEAN):
            text = " ".join(w["word"] for w in kept[comma + 1:])
            return {"text": text[0].upper() + text[1:], "start": kept[comma + 1]["start"],
                    "end": words[-1]["end"], "confidence": round(sum(rest) / len(rest), 3),
                    "usable": True}
    return {"text": text, "start": words[0]["start"], "end": words[-1]["end"],
            "confidence": round(mean, 3), "usable": usable}
