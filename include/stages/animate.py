"""Animate stage: the motion graphics of a video — an intro card, lower thirds, an outro card.

Two halves, so that rerunning ``animate`` alone stays correct:

* :func:`lay_out` (called by the edit stage) decides **where** the graphics go and what they say,
  as data in the EDL: the intro card (``INTRO_SECONDS``, product and title) is the first thing in
  final time and the footage, the narration and the captions move back by its length; the outro
  card (``OUTRO_SECONDS``, the run's ``outro_text`` and ``outro_url``) follows the footage; a
  lower third (``LOWER_THIRD_SECONDS``, the page's headline) is laid over the footage where a
  segment opens a new page, in the frame's lower third but above the caption band (see
  :func:`include.stages.caption_track.safe_top`), so captions never cover it. The run option
  ``animate`` says which: ``auto`` all three, ``minimal`` the intro only, ``off`` none.
* :func:`run` (the animate task) **draws** them with MoviePy — before the edit, beside the
  voiceover: :func:`graphics` knows from the run's options, the analysis and the reviewed script
  alone what the layout can name (the cards, one lower third per page headline, each file named
  by what it shows: :func:`_lower_third`), since what a clip shows never depends on when; in
  the run's ``brand_color`` and ``brand_font``: the cards as small full-frame H.264 clips, the lower thirds
  as clips with alpha the size of their box (:data:`OVERLAY_CODEC` in :data:`OVERLAY_FORMAT`,
  lossless, the cheapest to overlay of those measured, see benchmarks/README.md), and writes
  ``animate.json`` (each file, its length, box, format and ``still`` span). A clip holds still between its animation in and out (:func:`_still_span`): that part
  is drawn once and stored as one frame lasting until the next (a variable-rate file), so
  neither MoviePy, the encoder nor the render's decoder handle the same picture twice. Play the
  clips from their start, or through ``fps`` first: an input seek (``-ss``) skips a held frame
  that began before the seek point.

The render stage plays the files the EDL names inside its single ffmpeg pass (intro/outro
concatenated, lower thirds overlaid), so the timing always comes from the EDL and the look from
the last animate run.
MoviePy is imported only by :func:`run`; the edit stage does not load it.
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from include.core.edl import Card, Edl, Overlay
from include.core.errors import FatalError
from include.core.files import read_json, write_json
from include.core.options import Settings
from include.stages import camera, caption_track

INTRO_SECONDS = 2.5
OUTRO_SECONDS = 3.0
LOWER_THIRD_SECONDS = 2.5
LOWER_THIRD_DELAY = 0.4  # after the cut to the new page
LOWER_THIRD_GAP = 0.5  # between two lower thirds
MIN_FOOTAGE = 1.0  # seconds of footage a video keeps between its cards
INTRO_FILE, OUTRO_FILE = "intro.mp4", "outro.mp4"
OVERLAY_FORMAT = "mov"  # QuickTime Animation (qtrle, argb): lossless, see benchmarks/README.md
OVERLAY_CODEC = "qtrle"
MAX_HEADLINE_CHARS = 48
DEFAULT_FONT = "DejaVu Sans"
CJK_FALLBACK = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
# Colours of the cards (sRGB): a deep slate ground, white type.
INK = (255, 255, 255)
GROUND_TOP, GROUND_BOTTOM = (12, 18, 32), (22, 30, 48)
PANEL = (15, 23, 42)
PANEL_ALPHA = 0.92

# When the animations of a clip are over (seconds from its start): the lower third's bar opens
# in 0.15 s, its panel by 0.48 s, its text has slid in by 0.67 s; it fades out in its last
# LOWER_THIRD_FADE s. A card's rule grows in 0.5 s, each line fades in 0.48 s and rises 0.6 s
# after its delay (the last line's delay is CARD_LAST_DELAY); cards do not fade out.
LOWER_THIRD_SETTLED = 0.67
LOWER_THIRD_FADE = 0.35
CARD_LAST_DELAY = 0.45
CARD_SETTLED = CARD_LAST_DELAY + 0.6

# Where a lower third goes (:func:`lower_third_place`): the first of CORNERS, in this order, where
# its panel lies over at most CLEAR_TEXT of its area of the page's text (the lines analyze read,
# segments.json ``screen.boxes``); else the first such corner for the panel at
# LOWER_THIRD_SMALL of its size; else the page gets no lower third (the narration names it).
# Measured on the Ledgerly tour and product_tour_45s.mp4 (README, "Motion graphics"): a clear
# corner covers 0 %; the first corner that covers any text covers >= 4 % of its panel (a table's
# column under it), a stray OCR box of an icon ~1 %.
CORNERS = ("bottom-left", "bottom-right", "top-right", "top-left")
CLEAR_TEXT = 0.02
LOWER_THIRD_SMALL = 0.6
TEXT_PAD = 0.005  # of the frame's height, kept clear around every line of text
# Advances of DejaVu Sans Bold (the default font), in 1/1000 em, for " " to "~": the panel is
# as wide as its text (the box is sized to it, at most 62 % of the frame), from this table, not
# from the font file, so that the edit and animate (other workers) always agree on the box.
_ADVANCES = (
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696,
    696, 696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734,
    830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812,
    774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716,
    712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652,
    582, 712, 365, 712, 838)
PANEL_SLACK = 1.02  # the estimate's margin over DejaVu's own width (another brand font)


# ------------------------------------------------------------------------------ planning (edit)


def lay_out(edl: Edl, settings: Settings, analysis: dict, script: dict) -> Edl:
    """``edl`` (footage from final time 0) with the run's cards and lower thirds laid out.

    The intro shifts the clips, the narration (``audio.voice_offset``) and the caption events by
    its length; the outro adds its length at the end. ``animate`` off returns ``edl`` unchanged.
    """
    mode = settings.animate
    if mode == "off":
        return edl
    product = _product(analysis)
    offset = INTRO_SECONDS
    body = edl.output.duration
    drawn = _cards(settings, product, script)
    outro = OUTRO_SECONDS if len(drawn) > 1 else 0.0
    duration = round(offset + body + outro, 3)
    cards = [drawn[0]]
    if outro:
        cards.append(replace(drawn[1], out_start=round(offset + body, 3), out_end=duration))
    clips = tuple(replace(c, out_start=round(c.out_start + offset, 3),
                          out_end=round(c.out_end + offset, 3),
                          zoom=tuple(replace(m, out_start=round(m.out_start + offset, 3),
                                             out_end=round(m.out_end + offset, 3))
                                     for m in c.zoom)) for c in edl.clips)
    pacing = tuple(replace(p, footage_start=round(p.footage_start + offset, 3),
                           narration_start=round(p.narration_start + offset, 3))
                   for p in edl.pacing)
    narration = tuple(replace(n, out_start=round(n.out_start + offset, 3),
                              out_end=round(n.out_end + offset, 3)) for n in edl.narration)
    shifted = replace(
        edl,
        output=replace(edl.output, duration=duration),
        clips=clips,
        pacing=pacing,
        narration=narration,
        audio=replace(edl.audio, voice_offset=round(edl.audio.voice_offset + offset, 3)),
        captions=replace(edl.captions, events=tuple(_shift_event(e, offset)
                                                    for e in edl.captions.events)),
        cards=tuple(cards),
    )
    if mode == "auto":
        shifted = replace(shifted, overlays=tuple(lower_thirds(shifted, analysis, product)))
    return shifted


def _product(analysis: dict) -> str:
    return " ".join(str(analysis.get("product_name") or "").split())


def _cards(settings: Settings, product: str, script: dict) -> list[Card]:
    """The intro card (final time 0 to ``INTRO_SECONDS``) and, with ``animate`` auto, the outro
    (``OUTRO_SECONDS`` long; :func:`lay_out` moves it after the footage)."""
    intro_title, kicker = _intro_text(product, str(script.get("title") or settings.title_hint))
    cards = [Card("intro", INTRO_FILE, 0.0, INTRO_SECONDS, title=intro_title, kicker=kicker)]
    if settings.animate == "auto":
        cards.append(Card("outro", OUTRO_FILE, 0.0, OUTRO_SECONDS,
                          title=settings.outro_text.strip() or "Thanks for watching",
                          subtitle=settings.outro_url, kicker=product))
    return cards


def _headlines(analysis: dict) -> dict[str, str]:
    """Each segment's page headline (segments.json ``screen.headline``), whitespace folded."""
    return {str(s.get("id")): " ".join(str((s.get("screen") or {}).get("headline") or "").split())
            for s in analysis.get("segments") or []}


def _segments(analysis: dict) -> dict[str, dict]:
    return {str(s.get("id")): s for s in analysis.get("segments") or []}


class Frame(NamedTuple):
    """The picture a lower third is laid on: the output's size, framing (``pad``/``crop``) and
    caption style, and the source's size (the pixels of segments.json's text boxes)."""

    width: int
    height: int
    caption_style: str
    framing: str
    source: tuple[int, int]

    @classmethod
    def of(cls, settings: Settings, analysis: dict) -> "Frame":
        width, height = settings.output_size
        return cls(width, height, settings.caption_style,
                   "crop" if settings.aspect == "9:16" else "pad", _source_size(analysis))

    @classmethod
    def of_edl(cls, edl: Edl, analysis: dict) -> "Frame":
        return cls(edl.output.width, edl.output.height, edl.captions.style, edl.output.framing,
                   _source_size(analysis))


def _source_size(analysis: dict) -> tuple[int, int]:
    return int(analysis.get("width") or 0), int(analysis.get("height") or 0)


def _lower_third(headline: str, product: str, box: tuple[int, int, int, int],
                 segment_id: str = "", start: float = 0.0) -> Overlay:
    """The lower third of ``headline``; its file is named by what it shows (the same headline,
    product and box: the same file), so animate can draw it before the edit has timed it."""
    import hashlib

    title = _shorten(headline, MAX_HEADLINE_CHARS)
    x, y, width, height = box
    digest = hashlib.sha256(
        f"{title}\n{product}\n{x},{y},{width}x{height}".encode()).hexdigest()[:12]
    return Overlay("lower_third", f"lower-third-{digest}.{OVERLAY_FORMAT}", segment_id,
                   start, round(start + LOWER_THIRD_SECONDS, 3), x, y, width, height,
                   title=title, kicker=product)


def graphics(settings: Settings, analysis: dict, script: dict) -> tuple[list[Card], list[Overlay]]:
    """Everything :func:`lay_out` can place, untimed: the cards, and one lower third per page
    headline (the edit keeps those that fit). Needs no EDL — only the run's options, the
    analysis and the (reviewed) script — so animate draws them while the voice is synthesised."""
    if settings.animate == "off":
        return [], []
    product = _product(analysis)
    overlays: dict[str, Overlay] = {}
    if settings.animate == "auto":
        frame = Frame.of(settings, analysis)
        segments = _segments(analysis)
        for segment_id, headline in _headlines(analysis).items():
            if headline and headline.lower() != product.lower():
                # placed on this segment's screen: any segment may be the first to show its page
                box = lower_third_place(headline, product, segments.get(segment_id, {}), frame)
                if box is not None:
                    overlay = _lower_third(headline, product, box)
                    overlays.setdefault(overlay.file, overlay)
    return _cards(settings, product, script), list(overlays.values())


def _intro_text(product: str, title: str) -> tuple[str, str]:
    """(title, kicker) of the intro card: "Orbit: Backlog and Reports" → ("Backlog and
    Reports", "Orbit"); a title that is only the product → (product, "")."""
    title = " ".join(title.split())
    if product and title.lower().startswith(product.lower() + ":"):
        title = title[len(product) + 1:].strip()
    if not title or title.lower() == product.lower():
        return product or "Product tour", ""
    return title, product


def _shift_event(event: dict, offset: float) -> dict:
    return {**event, "start": round(event["start"] + offset, 3),
            "end": round(event["end"] + offset, 3),
            "words": [{**w, "start": round(w["start"] + offset, 3),
                       "end": round(w["end"] + offset, 3)} for w in event.get("words", [])]}


def lower_thirds(edl: Edl, analysis: dict, product: str) -> list[Overlay]:
    """A lower third where a clip first opens a page (a headline in segments.json
    ``screen.headline`` not named before: coming back to a page does not name it again),
    ``LOWER_THIRD_DELAY`` after the cut, when it fits before the footage ends without touching
    the previous one, in the place :func:`lower_third_place` finds clear of the page's text (a
    page with none gets no lower third), and not while a camera move of the clip zooms onto
    text under it."""
    headlines = _headlines(analysis)
    segments = _segments(analysis)
    frame = Frame.of_edl(edl, analysis)
    overlays: list[Overlay] = []
    shown, previous_end = {product.lower()}, -math.inf
    for clip in edl.clips:
        headline = headlines.get(clip.segment_id, "")
        if not headline or headline.lower() in shown:
            continue  # a page the viewer was already told the name of (coming back to it)
        shown.add(headline.lower())
        start = round(max(clip.out_start + LOWER_THIRD_DELAY, previous_end + LOWER_THIRD_GAP), 3)
        end = round(start + LOWER_THIRD_SECONDS, 3)
        if end > edl.body_end or start > clip.out_start + 2 * LOWER_THIRD_SECONDS:
            continue
        segment = segments.get(clip.segment_id, {})
        box = lower_third_place(headline, product, segment, frame)
        if box is None:
            continue  # no place on this page is clear of its text
        # the moves zoomed in (half their easing done) while it is shown (before its fade)
        zoomed = [m.box for m in clip.zoom if m.out_start + camera.EASE / 2 < end
                  - LOWER_THIRD_FADE and start < m.out_end - camera.EASE / 2]
        if any(text_under(box, text_boxes(segment, frame, view, action=True)) > CLEAR_TEXT
               for view in zoomed):
            continue  # the camera zooms onto text or action that the lower third would cover
        overlays.append(_lower_third(headline, product, box, clip.segment_id, start))
        previous_end = end
    return overlays


def lower_third_place(headline: str, product: str, segment: dict,
                      frame: Frame) -> tuple[int, int, int, int] | None:
    """``(x, y, width, height)`` of the lower third of ``headline`` on ``segment``'s screen, or
    ``None``: the first candidate of :func:`lower_third_candidates` (the corners in CORNERS
    order at full size, then at LOWER_THIRD_SMALL) whose box lies over at most CLEAR_TEXT of
    its area of the segment's text (:func:`text_boxes`, unzoomed). Decided from the analysis
    alone, so animate and the edit name the same box (and so the same file)."""
    text = text_boxes(segment, frame)
    for _corner, _scale, box in lower_third_candidates(headline, product, frame):
        if text_under(box, text) <= CLEAR_TEXT:
            return box
    return None


def lower_third_candidates(headline: str, product: str, frame: Frame):
    """``(corner, scale, box)`` of every place a lower third may take, in the order they are
    tried: each corner of CORNERS at full size, then at LOWER_THIRD_SMALL. The box is as wide as
    the panel (:func:`_panel_width`, at most that of :func:`lower_third_box`), at the captions'
    side margin, its bottom a small gap above the caption band or its top at the safe margin."""
    width, height = frame.width, frame.height
    unit = min(width, height)
    margin = math.ceil(width * caption_track.SAFE_MARGIN)
    top = math.ceil(height * caption_track.SAFE_MARGIN)
    bottom = caption_track.safe_top(frame.caption_style, width, height) - _even(unit * 0.025)
    widest = _even(min(width * 0.62, width - 2 * margin))
    title = _shorten(headline, MAX_HEADLINE_CHARS)
    for scale in (1.0, LOWER_THIRD_SMALL):
        box_h = _even(unit * 0.15 * scale)
        box_w = min(widest, _even(_panel_width(title, product, box_h) + 1))
        xs = {"left": margin + margin % 2, "right": _even(width - margin - box_w)}
        ys = {"bottom": _even(max(0, bottom - box_h)), "top": top + top % 2}
        for corner in CORNERS:
            vertical, side = corner.split("-")
            yield corner, scale, (xs[side], ys[vertical], box_w, box_h)


def _panel_width(title: str, kicker: str, box_h: int) -> int:
    """The width :func:`_lower_third_clip` gives the panel of ``title`` and ``kicker`` in a box
    ``box_h`` high (its bar, padding and the wider of the two texts), estimated from DejaVu
    Sans Bold's advances with PANEL_SLACK to spare."""
    bar, pad = max(4, round(box_h * 0.07)), round(box_h * 0.24)
    head = _advance(title, round(box_h * 0.36))
    kick = _advance(kicker.upper(), round(box_h * 0.17), tracking=0.14) if kicker else 0.0
    return math.ceil((bar + 2 * pad + max(head, kick) + 2) * PANEL_SLACK)


def _advance(text: str, size: int, tracking: float = 0.0) -> float:
    """The width of ``text`` in pixels at font ``size`` (DejaVu Sans Bold; other characters as
    wide as a capital, wide CJK ones a full em)."""
    def em(ch: str) -> int:
        code = ord(ch)
        if 32 <= code <= 126:
            return _ADVANCES[code - 32]
        return 1000 if code > 0x2E7F else 850
    return (sum(em(ch) for ch in text) / 1000 + tracking * max(0, len(text) - 1)) * size


def text_boxes(segment: dict, frame: Frame, view: tuple[int, int, int, int] | None = None, *,
               action: bool = False) -> list[tuple[float, ...]]:
    """``(x0, y0, x1, y1)`` in output pixels of every line of text on ``segment``'s screen
    (segments.json ``screen.boxes``, source pixels; an analysis from before those were stored:
    the boxes of ``screen.lines``), padded by TEXT_PAD of the frame's height, as the output
    shows the source unzoomed or, with ``view`` (a camera move's source box), zoomed. With
    ``action`` also the regions the camera zooms onto (the segment's ``focus`` events of the
    kinds in :data:`include.stages.camera.ZOOM_KINDS`: a field typed in, a dialog, a menu, a
    toast), whose text may be too faint to read (a placeholder) or not there yet."""
    screen = segment.get("screen") or {}
    boxes = screen.get("boxes")
    if boxes is None:
        boxes = [line.get("box") for line in screen.get("lines") or []]
    if action:
        boxes = list(boxes) + [event.get("box") for event in segment.get("focus") or []
                               if event.get("kind") in camera.ZOOM_KINDS]
    if not boxes or not all(frame.source):
        return []
    pad = frame.height * TEXT_PAD
    return [(x0 - pad, y0 - pad, x1 + pad, y1 + pad)
            for x0, y0, x1, y1 in (output_box(box, frame, view) for box in boxes
                                   if box and len(box) == 4)]


def output_box(box, frame: Frame, view: tuple[int, int, int, int] | None = None
               ) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` in output pixels of ``box`` (``x, y, width, height`` in source
    pixels) as the output shows the source unzoomed or, with ``view`` (a camera move's source
    box), zoomed."""
    vx, vy, vw, vh = view or camera.view_box(frame.source, (frame.width, frame.height),
                                             frame.framing)
    scale = min(frame.width / vw, frame.height / vh)
    ox, oy = (frame.width - vw * scale) / 2, (frame.height - vh * scale) / 2
    x, y, w, h = (float(v) for v in box)
    return (ox + (x - vx) * scale, oy + (y - vy) * scale,
            ox + (x + w - vx) * scale, oy + (y + h - vy) * scale)


def text_under(box: tuple[int, int, int, int], text: list[tuple[float, ...]]) -> float:
    """The fraction of ``box`` (``x, y, width, height``) that lies over the lines of ``text``
    (:func:`text_boxes`; overlapping lines counted once per line)."""
    x, y, w, h = box
    covered = 0.0
    for x0, y0, x1, y1 in text:
        dx, dy = min(x + w, x1) - max(x, x0), min(y + h, y1) - max(y, y0)
        if dx > 0 and dy > 0:
            covered += dx * dy
    return covered / (w * h) if w and h else 0.0


def lower_third_box(width: int, height: int, caption_style: str) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` of the lower thirds in a ``width`` x ``height`` frame (all
    even): at the captions' side margin, ending a small gap above the band of captions in
    ``caption_style``, so the two never overlap."""
    unit = min(width, height)
    margin = math.ceil(width * caption_track.SAFE_MARGIN)
    box_h = _even(unit * 0.15)
    box_w = _even(min(width * 0.62, width - 2 * margin))
    top = caption_track.safe_top(caption_style, width, height) - _even(unit * 0.025) - box_h
    # even: ffmpeg's overlay on yuv420p rounds x and y down to a multiple of 2
    return margin + margin % 2, _even(max(0, top)), box_w, box_h


def _even(value: float) -> int:
    return int(value) // 2 * 2


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    return (cut[:cut.rfind(" ")] if cut.rfind(" ") > limit // 2 else cut).rstrip(" ,;:-") + "…"


# ------------------------------------------------------------------------------ drawing (animate)


def run(analysis_path: Path, script_path: Path, settings: Settings, out_dir: Path) -> dict:
    """Draw every card and lower third :func:`graphics` names for this run (from
    ``segments.json`` and the reviewed ``script.json``; no EDL needed) into ``out_dir`` and write
    ``out_dir/animate.json``; return ``{"mode", "clips", "seconds"}``. The edit's
    :func:`lay_out` names the same files, timed; a lower third it leaves out is simply unused."""
    began = time.monotonic()
    cards, overlays = graphics(settings, read_json(analysis_path, "segments.json"),
                               read_json(script_path, "script.json"))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    style = Style.of(settings)
    width, height = settings.output_size
    items = []
    for card in cards:
        clip = _card_clip(card, style, width, height)
        _write(clip, out_dir / card.file, settings.fps, alpha=False, still=_still_span(card))
        items.append({"kind": card.kind, "file": card.file, "seconds": card.out_length,
                      "x": 0, "y": 0, "width": width, "height": height, "alpha": False,
                      "codec": "h264", "still": [round(t, 3) for t in _still_span(card)],
                      "text": [t for t in (card.kicker, card.title, card.subtitle) if t]})
    for overlay in overlays:
        clip = _lower_third_clip(overlay, style)
        _write(clip, out_dir / overlay.file, settings.fps, alpha=True,
               still=_still_span(overlay))
        items.append({"kind": overlay.kind, "file": overlay.file, "seconds": overlay.out_length,
                      "x": overlay.x, "y": overlay.y, "width": overlay.width,
                      "height": overlay.height, "alpha": True, "codec": OVERLAY_CODEC,
                      "still": [round(t, 3) for t in _still_span(overlay)],
                      "text": [t for t in (overlay.kicker, overlay.title) if t]})
    seconds = round(time.monotonic() - began, 3)
    write_json(out_dir / "animate.json", {
        "version": 2, "mode": settings.animate, "fps": settings.fps,
        "brand_color": settings.brand_color, "font": style.font(""),
        "items": items, "seconds": seconds,
    })
    return {"mode": settings.animate, "clips": len(items), "seconds": seconds}


class Style:
    """The brand: accent colour, a light tint of it for type on the dark ground, the font."""

    def __init__(self, color: str, font: str) -> None:
        self.accent = _rgb(color)
        self.tint = _readable_tint(self.accent)
        self.family = font.strip() or DEFAULT_FONT

    @classmethod
    def of(cls, settings: Settings) -> "Style":
        return cls(settings.brand_color, settings.brand_font)

    def font(self, text: str, bold: bool = False) -> str:
        """A font file for ``text``: the brand font, or one that has its glyphs (CJK)."""
        return _font_file(self.family, bold, "".join(sorted({c for c in text if ord(c) > 0x2E7F})))


def _rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _readable_tint(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """``rgb`` mixed with white until it reads on the panel (contrast >= 4.5:1, WCAG AA)."""
    ground = _luminance(PANEL)
    for step in range(0, 11):
        mix = step / 10
        tint = tuple(round(c + (255 - c) * mix) for c in rgb)
        if (_luminance(tint) + 0.05) / (ground + 0.05) >= 4.5:
            return tint  # type: ignore[return-value]
    return INK


@functools.lru_cache(maxsize=64)
def _font_file(family: str, bold: bool, wide: str) -> str:
    """fc-match's file for ``family`` (bold), covering the characters ``wide``; a font file
    path is used as is for text without CJK characters."""
    if family.startswith("/") and not wide:
        if not Path(family).is_file():
            raise FatalError(f"brand_font {family} is not a font file on this worker.")
        return family
    pattern = (DEFAULT_FONT if family.startswith("/") else family) + (":bold" if bold else "")
    if wide:
        pattern += ":charset=" + " ".join(f"{ord(c):x}" for c in wide[:64])
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True,
                               text=True, timeout=30).stdout.strip()
        if found and Path(found).is_file():
            return found
    fallback = CJK_FALLBACK if wide else "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
    if Path(fallback).is_file():
        return fallback
    raise FatalError("no font found for the motion graphics; install fonts-dejavu-core and "
                     "fonts-wqy-microhei (the Makefile does).")


def _text_image(text: str, font_path: str, size: int, color: tuple[int, int, int], *,
                tracking: float = 0.0):
    """``text`` as a tight RGBA numpy array (``tracking``: extra letter spacing in ems)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_path, size)
    ascent, descent = font.getmetrics()
    if tracking:
        advances = [font.getlength(ch) + tracking * size for ch in text]
        width = math.ceil(sum(advances) - tracking * size) + 2
    else:
        advances = []
        width = math.ceil(font.getlength(text)) + 2
    image = Image.new("RGBA", (max(width, 2), ascent + descent + 2), (*color, 0))
    draw = ImageDraw.Draw(image)
    if tracking:
        x = 1.0
        for ch, advance in zip(text, advances):
            draw.text((x, 1), ch, font=font, fill=(*color, 255))
            x += advance
    else:
        draw.text((1, 1), text, font=font, fill=(*color, 255))
    return np.asarray(image)


def _wrap(text: str, font_path: str, size: int, max_width: int, max_lines: int) -> list[str] | None:
    """``text`` broken into at most ``max_lines`` lines narrower than ``max_width`` pixels
    (CJK text may break between any two characters), or ``None`` if it does not fit."""
    from PIL import ImageFont

    font = ImageFont.truetype(font_path, size)
    wide = any(ord(c) > 0x2E7F for c in text)
    tokens = list(text) if wide else text.split()
    joiner = "" if wide else " "
    lines: list[str] = []
    current = ""
    for token in tokens:
        candidate = current + joiner + token if current else token
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if not current or font.getlength(token) > max_width:
            return None
        lines.append(current)
        current = token
    lines.append(current)
    return lines if len(lines) <= max_lines else None


def _fit(text: str, font_path: str, size: int, max_width: int, max_lines: int):
    """The largest size (from ``size`` down to 45 % of it) at which ``text`` wraps into
    ``max_lines`` lines; the last resort cuts it with an ellipsis."""
    for step in range(12):
        current = round(size * (1 - 0.05 * step))
        lines = _wrap(text, font_path, current, max_width, max_lines)
        if lines:
            return current, lines
    current = round(size * 0.45)
    while len(text) > 1 and not _wrap(text, font_path, current, max_width, max_lines):
        text = text[:-2].rstrip() + "…"
    return current, _wrap(text, font_path, current, max_width, max_lines) or [text]


def _ease(x: float) -> float:
    """Ease-out cubic on [0, 1] (clamped)."""
    x = min(max(x, 0.0), 1.0)
    return 1 - (1 - x) ** 3


@functools.lru_cache(maxsize=2)
def _ground(width: int, height: int, accent: tuple[int, int, int]):
    """The cards' background: a slate vertical gradient with a faint glow of the accent colour
    from the lower right (read-only: the intro and the outro share it)."""
    import numpy as np

    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top, bottom = np.array(GROUND_TOP, np.float32), np.array(GROUND_BOTTOM, np.float32)
    ground = np.broadcast_to(top + (bottom - top) * ys, (height, width, 3)).copy()
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dist = np.hypot((xx - width * 0.95) / width, (yy - height * 1.05) / height)
    glow = np.clip(1.0 - dist / 0.9, 0.0, 1.0) ** 2 * 0.28
    ground += (np.array(accent, np.float32) - ground) * glow[..., None]
    ground = ground.astype(np.uint8)
    ground.flags.writeable = False
    return ground


def _card_clip(card: Card, style: Style, width: int, height: int):
    """The intro (left-aligned) or outro (centred) card: kicker, accent rule, title, subtitle;
    each slides up a little and fades in, one after the other; the rule grows from its edge
    (its centre on the outro). A MoviePy clip whose frames are the precomputed ground with the
    text sprites blended in (a full-frame MoviePy composite is ~40x slower)."""
    unit = min(width, height)
    duration = card.out_length
    centred = card.kind == "outro"
    margin = round(width * 0.09)
    max_w = width - 2 * margin
    layers = []  # (rgba, delay, x, y)
    kicker = card.kicker.upper()
    title_font = style.font(card.title, bold=True)
    size, lines = _fit(card.title, title_font, round(unit * 0.085), max_w, 3)
    title_imgs = [_text_image(line, title_font, size, INK) for line in lines]
    line_h = round(size * 1.18)
    kicker_img = (_text_image(kicker, style.font(kicker, bold=True), round(unit * 0.032),
                              style.tint, tracking=0.14) if kicker else None)
    sub_img = (_text_image(card.subtitle, style.font(card.subtitle), round(unit * 0.044),
                           style.tint) if card.subtitle else None)
    rule_w, rule_h = round(unit * 0.09), max(2, round(unit * 0.008))
    gap = round(unit * 0.03)
    block = (kicker_img.shape[0] + gap if kicker_img is not None else 0) + rule_h + gap \
        + line_h * len(lines) + (gap + sub_img.shape[0] if sub_img is not None else 0)
    y = (height - block) // 2

    def x_of(img) -> int:
        return (width - img.shape[1]) // 2 if centred else margin

    if kicker_img is not None:
        layers.append((kicker_img, 0.0, x_of(kicker_img), y))
        y += kicker_img.shape[0] + gap
    rule_x = (width - rule_w) // 2 if centred else margin
    rule_y = y
    y += rule_h + gap
    for k, img in enumerate(title_imgs):
        layers.append((img, 0.15 + 0.08 * k, x_of(img), y + k * line_h))
    y += line_h * len(lines)
    if sub_img is not None:
        layers.append((sub_img, CARD_LAST_DELAY, x_of(sub_img), y + gap))

    import numpy as np
    from moviepy import VideoClip

    ground = _ground(width, height, style.accent)
    rule = np.zeros((rule_h, rule_w, 4), np.float32)
    rule[..., :3], rule[..., 3] = style.accent, 255
    rise = round(unit * 0.035)
    sprites = [(img.astype(np.float32), delay, x, top) for img, delay, x, top in layers]
    # everything drawn stays in this box (each sprite from its top to its top + rise): a frame
    # is the ground with only the box blended again (the same pixels as blending the frame)
    boxes = [(rule_x, rule_y, rule_x + rule_w, rule_y + rule_h)] + [
        (x, top, x + img.shape[1], top + rise + img.shape[0]) for img, _, x, top in sprites]
    bx0, by0 = max(0, min(b[0] for b in boxes)), max(0, min(b[1] for b in boxes))
    bx1, by1 = min(width, max(b[2] for b in boxes)), min(height, max(b[3] for b in boxes))
    box_ground = ground[by0:by1, bx0:bx1].astype(np.float32)

    settled, _ = _still_span(card)

    def frame(t: float):
        return drawn(min(t, settled))  # after the last line has risen the card holds still

    @functools.lru_cache(maxsize=1)
    def drawn(t: float):
        box = box_ground.copy()
        shown = round(rule_w * _ease(t / 0.5))
        if shown:
            lo = (rule_w - shown) // 2 if centred else 0
            _blend(box, rule[:, lo:lo + shown], rule_x + lo - bx0, rule_y - by0, 1.0)
        for img, delay, x, top in sprites:
            opacity = _ease((t - delay) / 0.48)
            if opacity > 0:
                _blend(box, img, x - bx0,
                       top + round(rise * (1 - _ease((t - delay) / 0.6))) - by0, opacity)
        out = ground.copy()
        out[by0:by1, bx0:bx1] = box.astype(np.uint8)
        return out

    return VideoClip(frame, duration=duration)


def _blend(out, sprite, x: int, y: int, opacity: float) -> None:
    """Lay the RGBA ``sprite`` (float) on ``out`` (float RGB) at ``(x, y)`` with ``opacity``,
    clipped to the frame."""
    h, w = sprite.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, out.shape[1]), min(y + h, out.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    part = sprite[y0 - y:y1 - y, x0 - x:x1 - x]
    alpha = part[..., 3:] * (opacity / 255.0)
    region = out[y0:y1, x0:x1]
    region += (part[..., :3] - region) * alpha


def _lower_third_clip(overlay: Overlay, style: Style):
    """A lower third: a slate panel with an accent bar opening from the left, the kicker
    (product) and the headline sliding in after it, everything fading out at the end.
    The clip is ``overlay.width`` x ``overlay.height`` with alpha; the panel fits the text."""
    import numpy as np
    from moviepy import VideoClip

    w, h = overlay.width, overlay.height
    bar = max(4, round(h * 0.07))
    pad_x = round(h * 0.24)
    kicker = overlay.kicker.upper()
    head_font = style.font(overlay.title, bold=True)
    head_size, lines = _fit(overlay.title, head_font, round(h * 0.36), w - bar - 2 * pad_x, 1)
    head = _text_image(lines[0], head_font, head_size, INK)
    kick = (_text_image(kicker, style.font(kicker, bold=True), round(h * 0.17), style.tint,
                        tracking=0.14) if kicker else None)
    text_w = max(head.shape[1], kick.shape[1] if kick is not None else 0)
    panel_w = min(w, bar + 2 * pad_x + text_w)
    text = np.zeros((h, w, 4), np.float32)
    stack_h = head.shape[0] + (kick.shape[0] + round(h * 0.02) if kick is not None else 0)
    y = (h - stack_h) // 2
    x = bar + pad_x
    for img in ([kick] if kick is not None else []) + [head]:
        ih, iw = img.shape[:2]
        iw = min(iw, w - x)
        text[y:y + ih, x:x + iw] = img[:, :iw]
        y += ih + round(h * 0.02)
    text_rgb, text_a = text[..., :3], text[..., 3:] / 255.0
    text_rgb, text_a = text_rgb.astype(np.float32), text_a.astype(np.float32)
    panel = np.zeros((h, w, 3), np.float32)
    panel[:, :panel_w] = PANEL
    panel[:, :bar] = style.accent
    duration = overlay.out_length
    columns = np.arange(w)[None, :, None]
    settled, fading = _still_span(overlay)

    @functools.lru_cache(maxsize=2)  # the frame and its mask ask for the same t
    def alpha(t: float):
        if settled <= t <= fading:  # every animation is at rest: the one still picture
            t = settled
        fade = min(1.0, (duration - t) / LOWER_THIRD_FADE) if t > fading else 1.0
        bar_a = _ease(t / 0.15)
        opened = bar + (panel_w - bar) * _ease((t - 0.08) / 0.4)
        base = np.where(columns < bar, bar_a, np.where(columns < opened, PANEL_ALPHA, 0.0)
                        ).astype(np.float32)
        shift = round(h * 0.12 * (1 - _ease((t - 0.22) / 0.45)))
        ta = np.roll(text_a, -shift, axis=1) * _ease((t - 0.22) / 0.35)
        ta = np.minimum(ta, columns < opened)
        return base, ta, shift, fade

    def frame(t: float):
        base, ta, shift, _ = alpha(t)
        rgb = np.roll(text_rgb, -shift, axis=1)
        a = base + ta * (1 - base)
        out = (panel * base * (1 - ta) + rgb * ta) / np.maximum(a, 1e-6)
        return np.clip(out, 0, 255).astype(np.uint8)

    def mask(t: float):
        base, ta, _, fade = alpha(t)
        return ((base + ta * (1 - base)) * fade)[..., 0]

    clip = VideoClip(frame, duration=duration)
    return clip.with_mask(VideoClip(mask, is_mask=True, duration=duration))


def _still_span(item) -> tuple[float, float]:
    """``(settled, until)``: between these times (seconds from the clip's start) the clip of
    ``item`` (a Card or an Overlay) is one still picture."""
    if isinstance(item, Card):
        return CARD_SETTLED, item.out_length
    return LOWER_THIRD_SETTLED, item.out_length - LOWER_THIRD_FADE


def _write(clip, path: Path, fps: int, *, alpha: bool,
           still: tuple[float, float] | None = None) -> None:
    """Encode ``clip`` to ``path`` (a temp name, then renamed), exactly its duration's frames
    long: H.264 (BT.709, as the render's output) for the opaque cards, QuickTime Animation with
    alpha for the overlays. Frames inside the clip's ``still`` span (:func:`_still_span`) after its first
    are not drawn nor written: the file is variable-rate, its frame there lasts until the next
    one (the last frame is always written, so the file keeps its length)."""
    import numpy as np

    from include.core.files import temp_sibling
    from include.core.media import FFMPEG

    partial = temp_sibling(path).with_suffix(path.suffix)
    kept = _kept_frames(round(clip.duration * fps), fps, still)
    # written frame N was frame kept[N]: its timestamp, in frames (piecewise: N plus the frames
    # skipped before it)
    jumps = [(n, kept[n] - kept[n - 1] - 1) for n in range(1, len(kept))
             if kept[n] - kept[n - 1] > 1]
    pts = "N" + "".join(f"+gte(N\\,{n})*{skip}" for n, skip in jumps)
    height, width = clip.get_frame(0).shape[:2]
    if alpha:
        encode = ["-c:v", OVERLAY_CODEC, "-pix_fmt", "argb"]
    else:
        encode = ["-c:v", "libx264", "-preset", "veryfast", "-threads", "2", "-crf", "16",
                  "-tune", "animation", "-pix_fmt", "yuv420p", "-colorspace", "bt709",
                  "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
    vf = f"setpts={pts}" + ("" if alpha else ",scale=out_color_matrix=bt709:out_range=tv")
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgba" if alpha else "rgb24",
           "-s", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0",
           "-vf", vf, "-fps_mode", "passthrough", "-an", *encode, "-f", "mov", str(partial)]
    try:
        with subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            try:
                for n in kept:
                    t = n / fps
                    frame = clip.get_frame(t)
                    if alpha:
                        mask = (255 * clip.mask.get_frame(t)).astype(np.uint8)  # as MoviePy writes it
                        frame = np.dstack([frame, mask])
                    proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            error = proc.stderr.read()
            if proc.wait() != 0:
                raise FatalError(f"could not encode the motion-graphics clip {path.name}: "
                                 + error.decode("utf-8", "replace").strip()[-300:])
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
        clip.close()


def _kept_frames(count: int, fps: int, still: tuple[float, float] | None) -> list[int]:
    """The frame numbers of a ``count``-frame clip worth writing: all but those inside the
    ``still`` span after its first, and always the last."""
    if not still:
        return list(range(count))
    settled, until = still
    kept = []
    for n in range(count):
        t = n / fps
        if n == count - 1 or not (settled <= t <= until) or not kept \
                or kept[-1] / fps < settled:
            kept.append(n)
    return kept
