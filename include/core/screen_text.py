"""What the text on screen says: pure functions over OCR lines.

Every function takes lines as the dicts of :meth:`include.providers.ocr.TextLine.as_dict`:
``{"text": str, "box": [x, y, w, h], "height": px, "conf": 0-100}``. No OCR, no Airflow here: the
analyze stage reads frames with a provider and hands the lines to these functions.

- :func:`headline` — the title of a screen (page title, dialog title): large and high up.
- :func:`new_lines` — what appeared since the previous segment (a menu, a toast, typed text).
- :func:`numbers` — the salient numbers/amounts/percentages, as written on screen.
- :func:`chrome` — text repeated on most segments (nav bar, logo) and the product's name.
- :func:`terms` — the meaningful labels/phrases of a segment.
- :func:`is_noise` — an OCR line that is no text (an icon read as "oo", a glyph read as "Cc").
"""

from __future__ import annotations

import difflib
import re
import statistics
from typing import Iterable, NamedTuple, Sequence

_WORD = re.compile(r"[^\W_]+(?:[-'’.][^\W_]+)*", re.UNICODE)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)

#: words that never make a term on their own
STOPWORDS = frozenset(
    """a an and are as at be but by for from has have i if in into is it its me my no not of on or
    our so than that the their then there these this to too up us was we were what when where which
    who will with you your""".split()
)

#: navigation labels that are chrome but never a product name
NAV_WORDS = frozenset(
    """home dashboard board boards backlog reports report settings help search login log sign
    signin logout account profile menu docs documentation pricing blog about contact projects
    project overview admin inbox notifications team teams billing integrations apps new more
    file edit view window tools""".split()
)

_NUMBER = re.compile(
    r"""(?<![\w.-])            # not inside an identifier such as ORB-407 or v1.2
    (?P<cur>[$€£¥]\s?)?
    (?P<num>\d{1,3}(?:[,\u202f ]\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)
    (?P<suffix>\s?(?:%|k|K|M|B|x|×|ms|s|h|GB|MB|KB|TB))?
    (?![\w-])""",
    re.VERBOSE,
)
_UNITS = frozenset(
    """days day hours hour minutes minute mins min seconds second secs sec weeks week months month
    years year points point pts users user items item tickets ticket bugs bug tasks task issues issue
    percent files file calls requests errors orders customers sessions visits views stars""".split()
)


_ASCII_VOWEL = re.compile(r"[aeiouy]", re.IGNORECASE)
#: real words of one or two letters (everything else that short on a screen is an icon read as
#: letters)
SHORT_WORDS = frozenset(
    """a i ad am an as at be by do ex go he hi id if in is it me my no of oh ok on or pm so to tv
    up us we""".split()
)


#: Tesseract's confidence a line needs to be a headline or a term (lines from 60 up are kept for
#: their boxes): the edges of colour bars in camera-like footage, flattened, read as "vill" (70),
#: "Ex" (68), "112" (67), and a video of test patterns was narrated "This is the vill page.";
#: UI titles and labels read at 85–97.
SURE_CONF = 72.0


def noise_word(word: str) -> bool:
    """Whether one OCR token is no word: an icon or a glyph read as letters ("oo", "Cc", "ll",
    a lone letter), the same letter over and over ("ooo"), or Latin letters without a vowel
    ("Wwxz"). An acronym ("AI", "CRM", "MS"), anything with a digit and non-Latin script are
    never noise."""
    letters = "".join(_LETTER.findall(word))
    if not letters or any(c.isdigit() for c in word) or not letters.isascii():
        return False
    if len(letters) >= 2 and letters.isupper() or letters.lower() in SHORT_WORDS:
        return False
    if len(letters) <= 2 or len(set(letters.lower())) == 1:
        return True
    return not _ASCII_VOWEL.search(letters)


def is_noise(text: str) -> bool:
    """Whether an OCR line is noise: it has a noise word (:func:`noise_word`) and no other word
    but stop-words — "oo", "Cc", "| ll", "oo to"."""
    words = _WORD.findall(str(text))
    noise = [noise_word(w) for w in words]
    return any(noise) and all(n or w.lower() in STOPWORDS for w, n in zip(words, noise))


def strip_noise(text: str) -> str:
    """``text`` without the noise words OCR reads in front of a label (an icon: "oo Invoices",
    "Q, Search invoices" → "Invoices", "Search invoices"); empty if nothing else is left."""
    words = str(text).split()
    while words and all(noise_word(w) for w in _WORD.findall(words[0]) or [""]):
        words = words[1:]
    return " ".join(words)


def norm(text: str) -> str:
    """``text`` for comparisons: lower-case words joined by single spaces."""
    return " ".join(_WORD.findall(text.lower()))


def _letters(text: str) -> int:
    return len(_LETTER.findall(text))


def _box(line: dict) -> tuple[float, float, float, float]:
    x, y, w, h = line.get("box") or (0, 0, 0, 0)
    return float(x), float(y), float(w), float(h)


def _height(line: dict) -> float:
    return float(line.get("height") or _box(line)[3])


def headline(
    lines: Sequence[dict],
    frame_size: tuple[int, int],
    *,
    chrome: Sequence[dict] = (),
) -> str | None:
    """The screen's title: the largest real text, the top-most of the near-largest.

    ``frame_size`` is ``(width, height)`` of the frame the boxes are in. Real text has at least
    three letters and more letters than digits ("3.2 days" in a KPI card is a number, not a title),
    is not one of the ``chrome`` lines (found by :func:`chrome`; the same text elsewhere, like a
    page title repeating its nav item, still counts), and is at most eight words long
    (longer lines are body text), read with at least ``SURE_CONF`` confidence. ``None`` when
    there is nothing that looks like a title.
    """
    _width, frame_h = frame_size
    candidates = []
    for line in lines:
        text = str(line.get("text", "")).strip()
        key = norm(text)
        if not key or is_chrome(line, chrome):
            continue
        letters = _letters(text)
        digits = sum(c.isdigit() for c in text)
        if letters < 3 or digits > letters or len(key.split()) > 8:
            continue
        if key.split() and all(w in STOPWORDS for w in key.split()):
            continue
        if "@" in text or "://" in text or text.lower().startswith("www."):
            continue  # an address in a table row, not a title
        if float(line.get("conf", 100.0)) < SURE_CONF:
            continue
        candidates.append(line)
    if not candidates:
        return None
    tallest = max(_height(line) for line in candidates)
    if frame_h and tallest < 0.012 * frame_h:  # nothing larger than fine print
        return None
    near = [line for line in candidates if _height(line) >= 0.8 * tallest]
    best = min(near, key=lambda line: (_box(line)[1], _box(line)[0]))
    return str(best["text"]).strip()


_NUMBERED = re.compile(r"^[^\W\d_]+\s+\d+\s*[:.\-–—]\s+(?P<name>\S.*)$")


def page_name(headline: str) -> str:
    """What a numbered heading names ("Step 2: Analyse" → "Analyse", "Part 3 – Setup" →
    "Setup"); any other headline as it is ("Sprint 14 board"). Titles and tags list the names:
    every step shares its "Step", which makes the steps look like views of one page."""
    match = _NUMBERED.match(" ".join(headline.split()))
    return match["name"] if match else headline


def _similar(a: str, b: str, threshold: float) -> bool:
    return a == b or difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= threshold


def new_lines(previous: Sequence[dict], current: Sequence[dict], *, threshold: float = 0.85) -> list[dict]:
    """The lines of ``current`` that were not on screen in ``previous``, in ``current``'s order.

    A line counts as already there when a previous line reads the same or nearly so
    (``difflib`` ratio ≥ ``threshold`` on normalised text, which absorbs OCR wobble), so a modal,
    a toast, a menu or text typed further ("bi" → "billing") comes out as new.
    """
    before = [norm(str(line.get("text", ""))) for line in previous]
    before = [b for b in before if b]
    seen: set[str] = set()
    fresh: list[dict] = []
    for line in current:
        key = norm(str(line.get("text", "")))
        if not key or key in seen:
            continue
        seen.add(key)
        if any(_similar(key, old, threshold) for old in before):
            continue
        fresh.append(line)
    return fresh


def numbers(lines: Sequence[dict]) -> list[str]:
    """The salient numbers on screen as written: ``"86"``, ``"3.2 days"``, ``"$1,200"``, ``"45%"``.

    A number is salient when it stands on its own (a KPI: the line is the number, maybe with a
    unit word) or carries a currency or percent sign; numbers inside identifiers (ORB-407,
    v1.2.3) or names ("Sprint 14") are not. Bigger text first, then reading order; no repeats.
    """
    found: list[tuple[float, int, str]] = []
    seen: set[str] = set()
    for order, line in enumerate(lines):
        text = " ".join(str(line.get("text", "")).split())
        if not text:
            continue
        words = text.split()
        for match in _NUMBER.finditer(text):
            value = match.group(0).strip()
            signed = bool(match.group("cur") or (match.group("suffix") or "").strip())
            rest = (text[: match.start()] + " " + text[match.end():]).split()
            after = text[match.end():].split()
            unit = after[0] if after and after[0].lower().strip(".,:;") in _UNITS else ""
            alone = len(rest) == 0 or (len(rest) == 1 and unit and len(words) <= 2)
            if not (signed or alone):
                continue
            shown = f"{value} {unit}".strip() if alone and unit else value
            if shown.lower() in seen:
                continue
            seen.add(shown.lower())
            found.append((-_height(line), order, shown))
    found.sort()
    return [shown for _h, _o, shown in found]


class Chrome(NamedTuple):
    """Text repeated on most segments: ``lines`` (one representative each, reading order) and the
    best guess at the product's name (the logo), or ``None``."""

    lines: list[dict]
    product_name: str | None


def chrome(lines_per_segment: Sequence[Sequence[dict]], *, share: float = 0.6) -> Chrome:
    """The lines that appear (same text, about the same place) on at least ``share`` of the
    segments — a nav bar, a logo, a footer — and the product name among them.

    Needs two segments or more (one screen has no repeats to tell chrome from content). The
    product name is the largest chrome line that is not a navigation word ("Board", "Settings"),
    preferring the top-left: that is where logos sit.
    """
    segments = [list(seg) for seg in lines_per_segment]
    if len(segments) < 2:
        return Chrome([], None)
    needed = max(2, int(share * len(segments) + 0.999))
    # One cluster per (text, place): a line joins a cluster of the same text whose first line's
    # centre is within two line heights (OCR boxes wobble by a few pixels between frames).
    clusters: list[tuple[str, dict, set[int]]] = []
    for index, seg in enumerate(segments):
        for line in seg:
            key = _chrome_key(str(line.get("text", "")))
            if not key:
                continue
            home = next((c for c in clusters if c[0] == key and _same_place(c[1], line)), None)
            if home is None:
                clusters.append((key, line, {index}))
            else:
                home[2].add(index)
    repeated = [line for key, line, where in clusters if len(where) >= needed]
    # Text repeated down a table ("Connected" on each row) is one chrome line, not one per row.
    unique: dict[str, dict] = {}
    for line in sorted(repeated, key=lambda line: (_box(line)[1], _box(line)[0])):
        unique.setdefault(_chrome_key(str(line["text"])), line)
    lines = list(unique.values())
    names = [
        line for line in lines
        if _letters(str(line["text"])) >= 2
        and not all(w in NAV_WORDS or w in STOPWORDS for w in norm(str(line["text"])).split())
    ]
    product = None
    if names:
        best = max(names, key=lambda line: (round(_height(line) / 2), -_box(line)[0] - _box(line)[1]))
        product = _logo_text(str(best["text"]))
    return Chrome(lines, product)


def _chrome_key(text: str) -> str:
    """What identifies a chrome line across frames: its words without a glyph OCR reads in
    front of a logo on some frames and not on others ("GC Ledgerly", "Ledgerly")."""
    return norm(_logo_text(text))


def _logo_text(text: str) -> str:
    """A logo line without the glyph OCR reads in front of it ("Cc Ledgerly" → "Ledgerly")."""
    words = text.split()
    while len(words) > 1 and len(words[0]) <= 2:
        words = words[1:]
    return " ".join(words)


def _centre(line: dict) -> tuple[float, float]:
    x, y, w, h = _box(line)
    return x + w / 2, y + h / 2


def _same_place(a: dict, b: dict) -> bool:
    """Whether two lines sit at about the same place (centres within two line heights)."""
    (ax, ay), (bx, by) = _centre(a), _centre(b)
    reach = 2 * max(_height(a), _height(b), 10.0)
    return abs(ax - bx) <= reach and abs(ay - by) <= reach


def is_chrome(line: dict, chrome_lines: Sequence[dict]) -> bool:
    """Whether ``line`` is one of ``chrome_lines``: same text at about the same place (the page
    title "Backlog" is not the nav bar's "Backlog")."""
    key = _chrome_key(str(line.get("text", "")))
    return any(
        key == _chrome_key(str(c.get("text", ""))) and _same_place(line, c) for c in chrome_lines
    )


def drop_chrome(lines: Sequence[dict], chrome_lines: Sequence[dict]) -> list[dict]:
    """``lines`` without the chrome (see :func:`is_chrome`)."""
    return [line for line in lines if not is_chrome(line, chrome_lines)]


def terms(lines: Sequence[dict], *, exclude: Iterable[str] = (), limit: int | None = None) -> list[str]:
    """The meaningful labels and phrases of one segment, in reading order, without repeats.

    On a UI a line of OCR is one label ("Move to sprint", "Google Calendar"), so terms are the
    cleaned line texts (without an icon read as letters in front, :func:`strip_noise`); dropped
    are OCR noise (:func:`is_noise`: "oo", "Cc"), lines without two letters, lines made only of
    stop-words, those in ``exclude`` (e.g. the chrome), lines read with less than ``SURE_CONF``
    confidence and long body-text lines (over eight words), whose words are for
    :func:`include.core.keyphrases.keyphrases`. Repeated labels (a table column's "Story",
    "Bug") rank as they first appear.
    """
    skip = {norm(t) for t in exclude}
    out: list[str] = []
    seen: set[str] = set()
    for line in lines:
        text = strip_noise(" ".join(str(line.get("text", "")).split())).strip(" .,:;|-–—")
        key = norm(text)
        if not key or key in skip or key in seen or is_noise(text):
            continue
        if float(line.get("conf", 100.0)) < SURE_CONF:
            continue
        words = key.split()
        if _letters(text) < 2 and not any(c.isdigit() for c in text):
            continue
        if all(w in STOPWORDS for w in words) or len(words) > 8:
            continue
        seen.add(key)
        out.append(text)
    return out[:limit] if limit else out


def median_height(lines: Sequence[dict]) -> float:
    """The median text height of ``lines`` in pixels (0 for none); body-text size of a screen."""
    heights = [_height(line) for line in lines if _height(line) > 0]
    return statistics.median(heights) if heights else 0.0
