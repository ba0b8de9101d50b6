"""The EDL's caption track: caption events from the voiceover word timings, and the ASS file
the render burns in.

Not a DAG task (the ``captions`` task is :mod:`include.stages.sidecar`). Used by the edit stage: :func:`build_events` groups the spoken words into short caption events in
final time, :func:`write_ass` renders them with one of the three style presets (``clean``,
``bold``, ``karaoke``) for the render stage to burn in with ffmpeg's ``subtitles`` filter.

Where each caption lands on the frame, laid out as libass lays it out: :func:`caption_boxes_for`
from the events and the style (the edit stage, keeping captions clear of toasts) and
:func:`caption_boxes` from an ASS file (the qc stage's title-safe check reads the
``captions.ass`` that was burned in). Both lay out the same pysubs2 objects; the events' are
built in memory by the code that :func:`write_ass` writes out.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pysubs2

from include.core.errors import FatalError
from include.core.files import write_text

MIN_WORDS = 2
MAX_WORDS = 8
MAX_CHARS = 42  # one comfortable caption line
LINGER = 0.3  # seconds a caption stays after its last word when the next one leaves room
BREAK_AFTER = tuple(".,;:!?…。，、；：！？")
FONT = "DejaVu Sans"  # the render passes fontsdir, so CJK glyphs fall back to WenQuanYi/Noto
SAFE_MARGIN = 0.06  # fraction of the frame kept clear at the sides and the bottom (>= 5 %)
STYLES = ("clean", "bold", "karaoke")
LINE_HEIGHT = 1.17  # DejaVu Sans ascent + descent, in font sizes (libass's line spacing)
WIDEST_ADVANCE = 0.66  # a generous mean advance of bold DejaVu Sans, in font sizes
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts")  # where the layout finds FONT


def build_events(voiceover: dict, duration: float, voice_offset: float = 0.0) -> list[dict]:
    """Group the voiceover words into caption events in final time.

    ``voiceover`` is the voiceover.json document; a word's final time is its voice time plus
    ``voice_offset``. Events hold 2-8 words (a narration segment of a single word joins a
    neighbour), break preferably after punctuation and before a line grows past ~42 characters,
    never span two narration segments otherwise, and are returned in order, non-overlapping and
    clamped to ``[0, duration]``::

        {"start": 0.0, "end": 1.2, "text": "Here is the",
         "words": [{"word": "Here", "start": 0.0, "end": 0.21}, ...]}
    """
    chunks: list[list[dict]] = []
    for segment in voiceover.get("segments", []):
        words = _segment_words(segment, voice_offset)
        chunks.extend(_chunk(words))
    chunks = _merge_single_words(chunks)

    events: list[dict] = []
    previous_end = 0.0
    for index, chunk in enumerate(chunks):
        start = max(chunk[0]["start"], previous_end)
        end = max(chunk[-1]["end"], start)
        next_start = chunks[index + 1][0]["start"] if index + 1 < len(chunks) else math.inf
        end = max(end, min(end + LINGER, next_start))
        start, end = _clamp(start, 0.0, duration), _clamp(end, 0.0, duration)
        if end - start < 0.01:  # entirely outside the video
            continue
        events.append(
            {
                "start": round(start, 3),
                "end": round(end, 3),
                "text": _join([w["word"] for w in chunk]),
                "words": [
                    {
                        "word": w["word"],
                        "start": round(_clamp(w["start"], start, end), 3),
                        "end": round(_clamp(w["end"], start, end), 3),
                    }
                    for w in chunk
                ],
            }
        )
        previous_end = end
    return events


def write_ass(events: list[dict], path: Path, style: str, width: int, height: int) -> None:
    """Write ``events`` as an ASS file at ``path`` (atomically) with the ``style`` preset.

    ``PlayResX``/``PlayResY`` equal the output size, so sizes and margins are in output pixels.
    For ``karaoke`` every word carries a ``\\k`` tag; the durations (centiseconds) come from the
    word timings and add up to the event's duration. An event with ``"top": True`` stands at the
    top of the picture (``\\an8``), at the same margin as the bottom.
    """
    write_text(Path(path), _ssa_file(events, style, width, height).to_string("ass"))


def _ssa_file(events: list[dict], style: str, width: int, height: int) -> pysubs2.SSAFile:
    """The ASS document of ``events`` in memory: what :func:`write_ass` writes and what
    :func:`caption_boxes_for` lays out."""
    if style not in STYLES:
        raise FatalError(f"caption style {style!r} is not one of: {', '.join(STYLES)}.")
    subs = pysubs2.SSAFile()
    subs.info.update(
        {"PlayResX": str(width), "PlayResY": str(height), "WrapStyle": "0",
         "ScaledBorderAndShadow": "yes"}
    )
    subs.styles = {"Default": _style(style, width, height)}
    for event in events:
        start_cs, end_cs = _centiseconds(event["start"]), _centiseconds(event["end"])
        if style == "karaoke":
            text = _karaoke_text(event["words"], start_cs, end_cs)
        else:
            text = _ass_escape(event["text"])
        if event.get("top"):  # clear of a toast in the caption band (see the edit stage)
            text = "{\\an8}" + text
        subs.append(pysubs2.SSAEvent(start=start_cs * 10, end=end_cs * 10, text=text))
    return subs


def safe_top(style: str, width: int, height: int) -> int:
    """The highest output row a caption of ``style`` can reach: two lines of text (a caption
    holds at most ``MAX_CHARS`` characters; three where the frame is too narrow for that in
    two) with their outline or box, above the bottom margin. Graphics stay above it."""
    preset = _style(style, width, height)
    line = preset.fontsize * LINE_HEIGHT + 2 * preset.outline
    room = width - preset.marginl - preset.marginr
    lines = max(2, math.ceil(MAX_CHARS * WIDEST_ADVANCE * preset.fontsize / room))
    return math.floor(height - preset.marginv - lines * line)


def caption_boxes(ass_path: Path, width: int, height: int) -> list[dict]:
    """Where each caption of the ASS file ``ass_path`` lands on a ``width`` x ``height`` frame,
    laid out as libass does for our styles: the style's margins and alignment (an ``\\an``
    override and ``\\pos`` too), the text measured with the style's font (ASS font size =
    ascent + descent), smart-wrapped into balanced lines inside the margins (a word wider than
    that overflows), the outline or box padding around it. Returns ``{"start", "text",
    "box": [x, y, w, h]}`` in output pixels, one per event in the file's order."""
    return _layout(pysubs2.load(str(ass_path)), width, height)


def caption_boxes_for(events: list[dict], style: str, width: int, height: int) -> list[dict]:
    """:func:`caption_boxes` of the ASS file :func:`write_ass` would write for ``events`` in
    ``style`` at ``width`` x ``height``, without writing it: one box per event, in order."""
    return _layout(_ssa_file(events, style, width, height), width, height)


def _layout(subs: pysubs2.SSAFile, width: int, height: int) -> list[dict]:
    """The boxes of :func:`caption_boxes` for an ASS document (loaded or built in memory)."""
    play_x = float(subs.info.get("PlayResX") or width)
    play_y = float(subs.info.get("PlayResY") or height)
    sx, sy = width / play_x, height / play_y
    boxes = []
    for event in subs.events:
        if event.is_comment:
            continue
        style = subs.styles.get(event.style) or next(iter(subs.styles.values()))
        text = re.sub(r"\{[^}]*\}", "", event.text).replace("\\N", " ").replace("\\n", " ")
        font = _font(style.fontname, style.bold, style.fontsize * sy)
        size = style.fontsize * sy
        pad = style.outline * sy + (style.shadow * sy if style.borderstyle != 3 else 0)
        left, right = style.marginl * sx, width - style.marginr * sx
        avail = max(1.0, right - left)
        words = text.split()
        space = font.getlength(" ")
        lines = _wrap([font.getlength(w) for w in words], space, avail)
        line_width = max((w for w in lines), default=0.0)
        block_h = len(lines) * size
        # an override tag (``{\\an8}``: a caption moved to the top) wins over the style's
        override = re.search(r"\\an([1-9])", event.text)
        align = int(override[1]) if override else int(style.alignment)
        column = (align - 1) % 3  # 0 left, 1 centre, 2 right
        x = left if column == 0 else right - line_width if column == 2 else (
            left + (avail - line_width) / 2)
        row = (align - 1) // 3  # 0 bottom, 1 middle, 2 top
        y = (height - style.marginv * sy - block_h if row == 0
             else style.marginv * sy if row == 2 else (height - block_h) / 2)
        pos = re.search(r"\\pos\(\s*([-0-9.]+)\s*,\s*([-0-9.]+)\s*\)", event.text)
        if pos:  # an explicit position: the alignment point is there
            px, py = float(pos[1]) * sx, float(pos[2]) * sy
            x = px - (0 if column == 0 else line_width if column == 2 else line_width / 2)
            y = py - (block_h if row == 0 else 0 if row == 2 else block_h / 2)
        boxes.append({"start": round(event.start / 1000, 3), "text": text[:80],
                      "box": [round(x - pad, 1), round(y - pad, 1),
                              round(line_width + 2 * pad, 1), round(block_h + 2 * pad, 1)]})
    return boxes


def _wrap(widths: list[float], space: float, avail: float) -> list[float]:
    """Line widths of libass's smart wrapping (WrapStyle 0): as many lines as the text needs at
    ``avail``, balanced (a line breaks once it reaches the total over the number of lines)."""
    if not widths:
        return []
    total = sum(widths) + space * (len(widths) - 1)
    count = max(1, math.ceil(total / avail))
    target = total / count
    lines: list[float] = []
    current: float | None = None
    for w in widths:
        if current is None:
            current = w
        elif current + space + w > avail or (current >= target and len(lines) < count - 1):
            lines.append(current)
            current = w
        else:
            current += space + w
    lines.append(current or 0.0)
    return lines


_FONTS: dict[tuple[str, bool, int], object] = {}


def _font(name: str, bold: bool, size: float):
    """A PIL font sized so that ascent + descent = ``size`` (ASS's font size)."""
    from PIL import ImageFont

    key = (name, bool(bold), int(round(size * 10)))
    if key in _FONTS:
        return _FONTS[key]
    file = (name.replace(" ", "") + ("-Bold" if bold else "") + ".ttf")
    path = next((Path(d) / file for d in FONT_DIRS if (Path(d) / file).is_file()), None)
    if path is None:
        path = next((Path(d) / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
                     for d in FONT_DIRS
                     if (Path(d) / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")).is_file()),
                    None)
    if path is None:
        raise FatalError(f"the caption font {name!r} is not installed (apt-get install "
                         "fonts-dejavu-core).")
    probe = ImageFont.truetype(str(path), 100)
    ascent, descent = probe.getmetrics()
    font = ImageFont.truetype(str(path), max(1, round(size * 100 / (ascent + descent))))
    _FONTS[key] = font
    return font


def _karaoke_durations(words: list[dict], start_cs: int, end_cs: int) -> list[int]:
    """Per-word ``\\k`` durations (centiseconds) that add up to ``end_cs - start_cs``.

    A word lasts from its own start to the next word's start (the pause after a word belongs to
    it); the last word lasts until the event ends.
    """
    bounds = [start_cs]
    for word in words[1:]:
        bounds.append(min(max(_centiseconds(word["start"]), bounds[-1]), end_cs))
    bounds.append(end_cs)
    return [b - a for a, b in zip(bounds, bounds[1:])]


def _segment_words(segment: dict, voice_offset: float) -> list[dict]:
    """The non-empty words of one voiceover segment in final time, with monotonic timings."""
    words = []
    previous_start = 0.0
    for word in segment.get("words") or []:
        text = str(word.get("word", "")).strip()
        if not text:
            continue
        start = max(float(word["start"]) + voice_offset, previous_start)
        end = max(float(word["end"]) + voice_offset, start)
        words.append({"word": text, "start": start, "end": end})
        previous_start = start
    return words


def _chunk(words: list[dict]) -> list[list[dict]]:
    """Greedy split of one segment's words: break after punctuation, at 8 words or 42 chars."""
    chunks: list[list[dict]] = []
    current: list[dict] = []
    for word in words:
        too_long = len(_join([w["word"] for w in current + [word]])) > MAX_CHARS
        if current and (len(current) == MAX_WORDS or too_long):
            chunks.append(current)
            current = []
        current.append(word)
        if len(current) >= MIN_WORDS and word["word"].endswith(BREAK_AFTER):
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


def _merge_single_words(chunks: list[list[dict]]) -> list[list[dict]]:
    """Give every one-word chunk a partner word from its neighbour (previous one first).

    If the neighbour is full (8 words) one of its words moves over instead, so every chunk ends
    up with 2-8 words (only a voiceover with a single word in total keeps a one-word event).
    """
    result: list[list[dict]] = []
    for chunk in chunks:
        if len(chunk) == 1 and result:
            previous = result[-1]
            if len(previous) < MAX_WORDS:
                previous.extend(chunk)
            else:
                result.append([previous.pop(), *chunk])
        else:
            result.append(list(chunk))
    if len(result) > 1 and len(result[0]) == 1:
        first, second = result[0], result[1]
        if len(second) < MAX_WORDS:
            result[:2] = [first + second]
        else:
            first.append(second.pop(0))
    return result


def _join(words: list[str]) -> str:
    """Join words with spaces, except between two CJK characters (those take no spaces)."""
    text = words[0] if words else ""
    for left, right in zip(words, words[1:]):
        text += _separator(left, right) + right
    return text


def _separator(left: str, right: str) -> str:
    return "" if _is_cjk(left[-1]) and _is_cjk(right[0]) else " "


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x9FFF  # CJK ideographs
        or 0xAC00 <= code <= 0xD7AF  # Hangul
        or 0xF900 <= code <= 0xFAFF
        or 0x3000 <= code <= 0x303F  # CJK punctuation
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
    )


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _centiseconds(seconds: float) -> int:
    return int(round(seconds * 100))


def _ass_escape(text: str) -> str:
    """Neutralise the characters ASS treats as markup (override blocks and backslash codes)."""
    return text.replace("\\", "/").replace("{", "(").replace("}", ")").replace("\n", " ")


def _karaoke_text(words: list[dict], start_cs: int, end_cs: int) -> str:
    """``{\\kNN}word`` for every word; the separator after a word belongs to its syllable."""
    durations = _karaoke_durations(words, start_cs, end_cs)
    parts = []
    for index, (word, cs) in enumerate(zip(words, durations)):
        after = _separator(word["word"], words[index + 1]["word"]) if index + 1 < len(words) else ""
        parts.append(f"{{\\k{cs}}}{_ass_escape(word['word'])}{after}")
    return "".join(parts)


def _style(style: str, width: int, height: int) -> pysubs2.SSAStyle:
    """The ``style`` preset scaled to the output size, with >= 5 % safe margins.

    Sizes follow the short side of the frame, so a 9:16 short gets the same type as its 16:9 twin.
    """
    unit = min(width, height)
    white = pysubs2.Color(255, 255, 255)
    black = pysubs2.Color(0, 0, 0)
    common = dict(
        fontname=FONT,
        alignment=pysubs2.Alignment.BOTTOM_CENTER,
        marginl=math.ceil(width * SAFE_MARGIN),
        marginr=math.ceil(width * SAFE_MARGIN),
        marginv=math.ceil(height * SAFE_MARGIN),
        outlinecolor=black,
        backcolor=pysubs2.Color(0, 0, 0, 128),
    )
    if style == "clean":
        return pysubs2.SSAStyle(
            fontsize=round(unit * 0.055), primarycolor=white, secondarycolor=white,
            outline=max(1.0, round(unit * 0.003, 1)), shadow=round(unit * 0.0015, 1),
            **common,
        )
    if style == "bold":
        # BorderStyle 3 draws an opaque box in the outline colour; ``outline`` is its padding.
        padding = round(unit * 0.012, 1)
        common["outlinecolor"] = pysubs2.Color(0, 0, 0, 64)
        common["marginv"] += math.ceil(padding)  # keep the box itself inside the safe area
        return pysubs2.SSAStyle(
            fontsize=round(unit * 0.07), bold=True, primarycolor=white, secondarycolor=white,
            borderstyle=3, outline=padding, shadow=0.0, **common,
        )
    # karaoke: words turn from white (secondary, not yet spoken) to yellow (primary) as spoken.
    return pysubs2.SSAStyle(
        fontsize=round(unit * 0.06), bold=True, primarycolor=pysubs2.Color(255, 214, 0),
        secondarycolor=white, outline=max(1.0, round(unit * 0.004, 1)),
        shadow=round(unit * 0.0015, 1), **common,
    )
