"""The offline script writer: narration built from what each segment shows and says.

Every sentence names something that is in the footage — the page's headline, a figure read off
the screen with its label, the labels on the page, what appeared since the previous segment, or
the presenter's own words — and nothing is invented. A segment with nothing readable or audible
gets a short bridge that says what changed (it leaves a named page), or no narration at all. There is no stock filler: :data:`BANNED` lists sentences that could narrate any video, and
:func:`assert_no_filler` is what the tests hold every output to.

Sentences are chosen to fit the segment's word budget, in priority order: say where we are
(page headline), then the presenter's point (their transcript, fillers dropped, in the
narrator's "we"), then the figures on screen, then what is listed or new. Variants rotate with
the segment index so neighbouring segments do not read alike, and the same input always reads
the same.
"""

from __future__ import annotations

import re
import zlib
from typing import ClassVar

from include.core.screen_text import is_noise, strip_noise
from include.core.text import SPOKEN_FILLERS, word_count
from include.core.usage import Usage

#: sentences that could narrate any video; none of them may ever come out (case-insensitive,
#: punctuation-insensitive match on whole sentences and on sentence starts)
BANNED = (
    "here's more", "here is more", "take a moment to look", "notice the layout", "look closely",
    "moving on", "next up", "that's all", "that is all", "one last look", "let's take a look",
    "as you can see", "and so on", "stay tuned", "without further ado", "let's dive in",
    "let's get started", "check this out", "pretty cool", "here we go",
)

#: words that already say what kind of place a headline is ("Velocity report", "Sprint board")
PLACE_WORDS = frozenset({"page", "board", "report", "view", "dashboard", "settings", "screen",
                         "list", "tab", "panel", "overview", "editor", "inbox", "calendar"})
_LEADING_FILLERS = re.compile(r"^(?:(?:so|okay|ok|alright|right|well|now|and)\s*,?\s+)+",
                              re.IGNORECASE)
_WORD = re.compile(r"\S+")
_NUMERIC = re.compile(r"^[~≈]?[$€£¥]?\s?\d[\d,.\u202f ]*\s?(%|k|K|M|B|x|ms|s|h)?$")
_LABEL_VALUE = re.compile(
    r"^(?P<label>[A-Za-z][A-Za-z ’'&/-]{2,40}?)[\s:]+(?P<value>[$€£¥]?\s?\d[\d,.]*\s?"
    r"(?:%|k|K|M|B|x)?(?:\s(?:days?|hours?|minutes?|points?|pts|users?|items?|tickets?|bugs?|"
    r"tasks?|issues?|invoices?|orders?|customers?))?)$")
_UNIT_VALUE = re.compile(r"^[$€£¥]?\s?\d[\d,.]*\s?(?:%|k|K|M|B|x)?(?:\s[a-z]{2,12})?$")



def _sentence_key(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower().replace("’", "'")).split())


def assert_no_filler(text: str) -> None:
    """Raise ``ValueError`` if ``text`` contains a sentence from :data:`BANNED`."""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        key = _sentence_key(sentence)
        for banned in BANNED:
            if key == banned or key.startswith(banned + " ") or f" {banned} " in f" {key} " and (
                    len(key.split()) <= len(banned.split()) + 1):
                raise ValueError(f"stock filler {banned!r} in {text!r}")


class OfflineScriptWriter:
    """Implements :class:`include.core.ports.ScriptWriter` with no model and no network."""

    name: ClassVar[str] = "offline"
    requirement: ClassVar[str] = ""

    def __init__(self, config=None, usage: Usage | None = None) -> None:
        self.config = config
        self.usage = usage or Usage(self.name, "")

    @classmethod
    def available(cls) -> bool:
        return True

    def describe(self, script: dict, context: dict) -> dict | None:
        return None  # the metadata stage derives title, description and tags from the footage

    def write(self, segments: list[dict], context: dict) -> list[str]:
        product = str(context.get("product_name") or "").strip()
        seed = zlib.crc32(str(context.get("title_hint") or product).encode("utf-8"))
        hint = str(context.get("title_hint") or "").strip().rstrip(".!?;:,")
        texts, previous, said = [], None, set()
        for index, segment in enumerate(segments):
            texts.append(narrate(segment, previous, index=index, product=product,
                                 turn=seed + index,
                                 hint=hint if index == 0 else "", said=said))
            previous = segment
        return texts


# --------------------------------------------------------------------------- one segment


def narrate(segment: dict, previous: dict | None, *, index: int, product: str, turn: int,
            hint: str = "", said: set | None = None) -> str:
    """The narration of one segment, within its ``word_budget``; ``hint`` (the run's title
    hint, first segment only) introduces a video whose first screen has no headline. ``said``
    (kept across the segments) holds the figures narrated so far: one still on screen in a
    later segment is not said again."""
    budget = max(2, int(segment.get("word_budget") or 2))
    screen = segment.get("screen") or {}
    headline = _clean_label(screen.get("headline") or "")
    before = _clean_label(((previous or {}).get("screen") or {}).get("headline") or "")
    new_page = bool(headline) and headline.lower() != before.lower()
    speech = presenter_sentence((segment.get("speech") or {}).get("text") or "")
    facts = figures(screen.get("lines") or [])
    if said is not None:
        facts = [f for f in facts if (f[0].lower(), f[1]) not in said]
    listed = _listed_terms(screen, headline, product, facts, speech)
    fresh = [_clean_label(strip_noise(t)) for t in screen.get("new") or []]
    fresh = [t for t in fresh if t and t.lower() != headline.lower() and not _NUMERIC.match(t)
             and not is_noise(t)]

    listed = [t for t in listed if t.lower() not in {f.lower() for f in fresh}]
    names_page = bool(headline) and _names_screen(speech, headline, {}, shortest=2)
    if speech and not names_page and _names_screen(speech, headline, screen):
        # the presenter names what is shown: their sentence is enough when both do not fit
        page = _page_sentences(headline, product, index, turn) if headline else []
        names_page = not page or min(map(word_count, page)) + word_count(speech) > budget

    candidates: list[list[str]] = []  # each: alternative sentences, most informative first
    if (new_page or (headline and index == 0)) and not names_page:
        candidates.append(_page_sentences(headline, product, index, turn))
    elif hint and not headline and not names_page:
        candidates.append(_rotate([f"This video shows {hint}.", f"Here is {hint}."], turn)
                          + [f"{hint}."])
    if speech:
        candidates.append([speech])
    if facts:
        candidates.append(_fact_sentences(facts, turn))
    if fresh and not new_page and not speech:
        candidates.append(_fresh_sentences(fresh, turn))
    if listed and not speech:
        candidates.append(_list_sentences(listed, turn))
    if not candidates:
        return _bridge(segment, previous, before, budget)

    text = _fit(candidates, budget)
    if said is not None:
        said.update((label.lower(), value) for label, value in facts if value in text)
    if not text and fresh and not new_page:  # not even the shortest sentence fits: name the
        text = _fit([[f"{_quote(fresh[0])}."]], budget)  # new thing, else the page, alone
    if not text and headline:
        text = _fit([[f"{headline}."]], budget)
    if not text and (speech or facts or listed):
        text = _truncate(next(iter(c[0] for c in candidates)), budget)
    return text


def _fit(candidates: list[list[str]], budget: int) -> str:
    """As many candidates as fit the budget, in priority order (each at its shortest), then each
    one upgraded to its first alternative that still fits."""
    chosen: list[list[str]] = []
    used = 0
    for options in candidates:
        options = [o for o in options if o]
        if options and used + min(map(word_count, options)) <= budget:
            chosen.append(options)
            used += min(map(word_count, options))
    picks = [min(options, key=word_count) for options in chosen]
    for i, options in enumerate(chosen):
        left = budget - sum(word_count(p) for j, p in enumerate(picks) if j != i)
        picks[i] = next(o for o in options if word_count(o) <= left)
    return " ".join(picks)


def _truncate(sentence: str, budget: int) -> str:
    words = sentence.split()[:budget]
    return " ".join(words).rstrip(",;:-") + ("" if words[-1].endswith((".", "!", "?")) else ".")


def _rotate(options: list[str], turn: int) -> list[str]:
    """``options`` in an order that depends on ``turn``, the shortest kept as a last resort."""
    if len(options) <= 1:
        return options
    k = turn % len(options)
    rotated = options[k:] + options[:k]
    shortest = min(options, key=word_count)
    return rotated + ([shortest] if rotated[-1] != shortest else [])


def _page_sentences(headline: str, product: str, index: int, turn: int) -> list[str]:
    the = _the(headline)
    if index == 0:
        options = [f"This is {the} in {product}." if product else f"This is {the}.",
                   f"Here is {the} in {product}." if product else f"Here is {the}.",
                   f"We start on {the}."]
    else:
        options = [f"Now to {the}.", f"Next, {the}.", f"Here is {the}.", f"On to {the}.",
                   f"This is {the}."]
    short = [f"{product}: {headline}."] if product and index == 0 else []
    return _rotate(options, turn) + short + [f"{headline}."]


def _fact_sentences(facts: list[tuple[str, str]], turn: int) -> list[str]:
    phrases = [f"{label.lower() if not _is_proper(label) else label} {_verb(label)} {value}"
               for label, value in facts[:3]]
    out = []
    for n in range(len(phrases), 0, -1):
        joined = _join(phrases[:n])
        out.append(_capital(joined) + ".")
    return out


def _fresh_sentences(fresh: list[str], turn: int) -> list[str]:
    first = fresh[0]
    options = [f"{_quote(first)} appears on screen.", f"Now the screen shows {_quote(first)}.",
               f"Now: {_quote(first)}."]
    if len(fresh) > 1:
        options.insert(0, f"New on screen: {_join([_quote(t) for t in fresh[:3]])}.")
    return _rotate(options, turn)


def _list_sentences(terms: list[str], turn: int) -> list[str]:
    out = []
    for n in (4, 3, 2, 1):
        if len(terms) >= n:
            names = _join(terms[:n])
            out += [f"It shows {names}.", f"On screen: {names}."] if n > 1 else [f"It shows {names}."]
    first, *rest = out or [""]
    return _rotate([first] + rest[:1], turn) + rest[1:]


def _bridge(segment: dict, previous: dict | None, before: str, budget: int) -> str:
    """A segment with nothing to read or hear: when it leaves a named page for a screen that
    moves (a new view being loaded or scrolled), say which page it leaves; otherwise silence."""
    moving = float(segment.get("motion") or 0.0) >= 0.15
    if previous is None or not before or not moving:
        return ""
    return _fit([[f"We leave {_the(before)}."]], budget)


# --------------------------------------------------------------------------- what is on screen


def figures(lines: list[dict], limit: int = 3) -> list[tuple[str, str]]:
    """``(label, value)`` pairs read off the screen: "Revenue this month $48,210" on one line,
    or a number with its label on the line just above it (a KPI card)."""
    pairs: list[tuple[str, str]] = []
    ordered = reading_order(lines)
    for i, line in enumerate(ordered):
        text = " ".join(str(line.get("text", "")).split())
        match = _LABEL_VALUE.match(text)
        if match and _is_date(match["label"], match["value"]):
            continue  # "Due Jun 21", "Overview for June 2026": a date, not a label and a figure
        if match and not any(c.isdigit() for c in match["label"]):
            if match["label"][:1].islower():  # "total 10044": a terminal's or a log's line
                continue
            pairs.append((match["label"].strip(" :"), match["value"].strip()))
            continue
        if not _UNIT_VALUE.match(text):
            continue
        label = _label_above(line, ordered[:i], bigger=True)
        if (label and (len(label.split()) > 1 or len(label) >= 5)  # not a chart axis ("Jul")
                and not _is_date(label, text) and not _in_column(line, ordered[i + 1:])):
            pairs.append((label, text))
    seen, out = set(), []
    for label, value in pairs:
        if label.lower() not in seen:
            seen.add(label.lower())
            out.append((label, value))
    return out[:limit]


_MONTHS = frozenset(
    """jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june
    july august september october november december""".split())
_YEAR = re.compile(r"^(?:19|20)\d\d$")


def _is_date(label: str, value: str) -> bool:
    """Whether a label and the number after it are a date ("Jun 21", "Overview for June 2026",
    "Since 2019"): the label ends on a month, or the number is a bare year."""
    words = label.strip(" :").split()
    return bool(words) and words[-1].lower().strip(".,") in _MONTHS or bool(
        _YEAR.match(value.strip()))


def reading_order(lines: list[dict]) -> list[dict]:
    """Lines in rows (tops within half a line height), each row left to right."""
    rows: list[list[dict]] = []
    for line in sorted(lines, key=lambda ln: (ln.get("box") or [0, 0, 0, 0])[1]):
        y, h = (line.get("box") or [0, 0, 0, 0])[1], (line.get("box") or [0, 0, 0, 1])[3]
        if rows and abs(y - (rows[-1][0].get("box") or [0, 0, 0, 0])[1]) <= max(h, 1) / 2:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda ln: ln["box"][0])]


def _in_column(value_line: dict, below: list[dict]) -> bool:
    """Whether another figure sits just below ``value_line`` in its column: a table's cell under
    its header ("AMOUNT" over "$2,450.00" over "$1,850.00"), not a KPI card's figure."""
    x, y, w, h = value_line.get("box") or (0, 0, 0, 0)
    for line in below:
        lx, ly, lw, lh = line.get("box") or (0, 0, 0, 0)
        text = " ".join(str(line.get("text", "")).split())
        gap = ly - (y + h)
        if (0 <= gap <= 3.5 * max(h, lh) and min(x + w, lx + lw) - max(x, lx) > 0
                and _UNIT_VALUE.match(text)):
            return True
    return False


def _label_above(value_line: dict, above: list[dict], bigger: bool = False) -> str:
    """The label just above a figure; with ``bigger``, only one set smaller than the figure (a
    KPI card: "Completed points" over a large "86"), not a table header over a cell."""
    x, y, w, h = value_line.get("box") or (0, 0, 0, 0)
    best, best_gap = "", None
    for line in above:
        lx, ly, lw, lh = line.get("box") or (0, 0, 0, 0)
        text = " ".join(str(line.get("text", "")).split())
        if not text or any(c.isdigit() for c in text) or len(text.split()) > 5:
            continue
        if bigger and float(value_line.get("height") or h) < 1.3 * float(line.get("height") or lh):
            continue
        gap = y - (ly + lh)
        overlap = min(x + w, lx + lw) - max(x, lx)
        if 0 <= gap <= 3.5 * max(h, lh) and overlap > 0 and (best_gap is None or gap < best_gap):
            best, best_gap = text, gap
    return best


def _names_screen(speech: str, headline: str, screen: dict, shortest: int = 4) -> bool:
    """Whether the presenter's sentence names the headline or a label on screen (every word of
    it that has at least ``shortest`` characters, plural or not)."""
    said = {w.strip(",.!?;:").lower() for w in speech.split()}
    for term in [headline, *(screen.get("terms") or [])]:
        words = [w.lower() for w in str(term).split() if len(w) >= shortest]
        if words and all(w in said or w.rstrip("s") in said for w in words):
            return True
    return False


def _listed_terms(screen: dict, headline: str, product: str, facts, speech: str) -> list[str]:
    skip = {headline.lower(), product.lower()} | {label.lower() for label, _ in facts}
    out = []
    for term in screen.get("terms") or []:
        term = _clean_label(strip_noise(term))
        if (not term or term.lower() in skip or _NUMERIC.match(term) or is_noise(term)
                or term[:1].islower()  # a log's or a terminal's text ("encoded, q"), typed input
                or any(c.isdigit() for c in term) and len(term) < 4
                or len(term.split()) > 4 or term.lower() in speech.lower()):
            continue
        out.append(term)
    return out[:4]


# --------------------------------------------------------------------------- the presenter


def presenter_sentence(transcript: str) -> str:
    """The presenter's words as narration: fillers and false starts dropped, "I" → "we"."""
    words = [w for w in _WORD.findall(transcript)
             if w.lower().strip(",.!?;:") not in SPOKEN_FILLERS]
    text = " ".join(words).strip(" ,")
    text = _LEADING_FILLERS.sub("", text).strip(" ,")
    if not text:
        return ""
    swaps = {"i": "we", "i'm": "we're", "i’m": "we're", "i've": "we've", "i'll": "we'll",
             "my": "our", "me": "us", "i'd": "we'd"}
    out = [swaps.get(w.lower(), w) if w.lower() in swaps else w for w in text.split()]
    text = " ".join(_capital(s) for s in re.split(r"(?<=[.!?])\s+", " ".join(out)))
    return text if text.endswith((".", "!", "?")) else text + "."


# --------------------------------------------------------------------------- wording


def _clean_label(text: str) -> str:
    return " ".join(str(text).split()).strip(" .,:;|-–—")


def _is_proper(label: str) -> bool:
    return any(w[:1].isupper() for w in label.split()[1:]) or label.isupper()


def _verb(label: str) -> str:
    last = label.split()[-1].lower()
    return "are" if last.endswith("s") and not last.endswith("ss") and last not in (
        "this", "status", "revenue") else "is"


def _the(headline: str) -> str:
    """``headline`` as a noun phrase: "the Velocity report", "the Backlog page"; a numbered or
    titled heading stays as it is ("Step 4: Voiceover", "Part 2")."""
    words = headline.split()
    if words[0].lower() in ("the", "a", "an", "your", "our", "my") or words[0][:1].isdigit():
        return headline
    if ":" in headline or len(words) == 2 and words[1].isdigit():
        return headline
    if len(words) == 1 and words[0].lower() not in PLACE_WORDS:
        return f"the {headline} page"
    return f"the {headline}"


def _quote(text: str) -> str:
    return f"“{text}”"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


__all__ = ["OfflineScriptWriter", "BANNED", "assert_no_filler", "figures",
           "narrate", "presenter_sentence"]
