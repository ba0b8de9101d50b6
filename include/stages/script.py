"""script stage: narration text per segment, within each segment's word budget.

``run`` asks a script writer (:mod:`include.providers.llm`) for one text per analysed segment,
cleans it for speech and trims it to the segment's word budget; ``validate_review`` checks a
reviewer's edits of that script before they reach the voice.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
import uuid
from datetime import datetime, timezone
from pathlib import Path

from include.core import screen_text
from include.core.errors import FatalError
from include.core.files import read_json, write_json
from include.core.options import Settings
from include.core.ports import ScriptWriter
from include.core.text import word_count

LANGUAGE = "en"
MAX_REVIEW_CHARS = 1000
MAX_TITLE_CHARS = 90  # a derived title; YouTube allows 100
MAX_TITLE_PAGES = 4  # pages a derived title lists
# words two page names share without being the same page ("New invoice", "New customer")
GENERIC_WORDS = {"the", "and", "new", "all", "your", "our", "for", "with", "view", "page", "edit",
                 "detail", "setting", "overview", "my"}

_SCRIPT_BLOCK = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"</?[A-Za-z!][^>]*>")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"\b(?:https?://|ftp://|www\.)\S+", re.IGNORECASE)
_MARKUP_CHARS = re.compile(r"[*`#~_]")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def clean_for_speech(text: str) -> str:
    """Plain, speakable text: no markup, links, URLs, emoji, pictographs or control characters.

    HTML tags are dropped (``<script>``/``<style>`` with their content), entities decoded;
    markdown links keep their label; markdown emphasis, code and heading marks (``* _ ` # ~``)
    go; emoji, symbols, joiners and variation selectors go; whitespace collapses to single
    spaces. Cleaning clean text changes nothing.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _SCRIPT_BLOCK.sub(" ", text)
    text = _HTML_TAG.sub(" ", text)
    text = html.unescape(text)
    text = _MD_LINK.sub(r"\1", text)
    text = _URL.sub(" ", text)
    text = _MARKUP_CHARS.sub(" ", text)
    text = "".join(_speakable(ch) for ch in text)
    text = " ".join(text.split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def _speakable(ch: str) -> str:
    """``ch`` itself, a space for whitespace controls, or ``""`` for pictographs and invisibles."""
    category = unicodedata.category(ch)
    if category == "Cc":
        return " " if ch in "\t\n\r\x0b\x0c" else ""
    # So/Sk: emoji, pictographs, dingbats, skin tones; Cf: joiners, bidi marks; Co/Cs/Cn: private,
    # surrogate, unassigned; Me and variation selectors: keycaps and emoji presentation.
    if category in ("So", "Sk", "Cf", "Co", "Cs", "Cn", "Me"):
        return ""
    if "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef":
        return ""
    return ch


def word_budget(kept_duration: float, wpm: int) -> int:
    """Most words a segment may narrate: ``max(2, floor(kept_duration * wpm / 60))``."""
    return max(2, math.floor(float(kept_duration) * wpm / 60 + 1e-9))


def fit_to_budget(text: str, budget: int) -> str:
    """``text`` cut to at most ``budget`` words (never below two).

    Whole leading sentences are kept when at least one fits; otherwise the first sentence is cut
    at a word boundary and closed with a period.
    """
    budget = max(2, budget)
    if word_count(text) <= budget:
        return text
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if word_count(" ".join(kept + [sentence])) > budget:
            break
        kept.append(sentence)
    if kept:
        return " ".join(kept)
    words = text.split()[:budget]
    return " ".join(words).rstrip(",;:-") + "."


def new_revision() -> str:
    """A fresh script revision id: UTC time and 8 random hex digits, e.g. ``20261201T221500Z-3f2a9c1d``.

    Every run of the script stage makes a new one, so an edit or a decision made against an
    earlier script (an earlier run, or a re-created run with the same run id) never matches.
    """
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def run(
    segments_path: Path,
    out_dir: Path,
    *,
    writer: ScriptWriter,
    title_hint: str = "",
    words_per_minute: int = 150,
    run_id: str = "",
    revision: str | None = None,
) -> dict:
    """Write ``script.json`` for the analysed segments in ``segments_path``.

    ``writer`` is a ready script writer (:class:`include.core.ports.ScriptWriter`). The script
    carries a fresh ``revision`` (:func:`new_revision`, unless given) and the ``run_id`` of the
    run that wrote it: reviews are bound to both (``include/review.py``). Returns
    ``{"segments": n, "words": total, "writer": name}`` plus ``"usage"`` when a provider was paid.
    """
    analysis = read_json(segments_path, "segments.json")
    segments = analysis.get("segments")
    if not isinstance(segments, list) or not segments:
        raise FatalError("segments.json has no segments; re-run the analyze stage.")
    _check_segments(segments)
    wpm = int(words_per_minute)
    budgeted = [dict(seg, word_budget=word_budget(seg["kept_duration"], wpm)) for seg in segments]
    hint = clean_for_speech(title_hint)
    context = {"title_hint": hint, "words_per_minute": wpm, "language": LANGUAGE,
               "product_name": analysis.get("product_name") or ""}
    texts = writer.write(budgeted, context)
    if len(texts) != len(budgeted):
        raise FatalError(
            f"script writer {writer.name!r} returned {len(texts)} texts for {len(budgeted)} "
            "segments."
        )
    script_segments = [
        {
            "id": seg["id"],
            "start": round(float(seg["start"]), 3),
            "end": round(float(seg["end"]), 3),
            "kept_duration": round(float(seg["kept_duration"]), 3),
            "word_budget": seg["word_budget"],
            "text": fit_to_budget(clean_for_speech(text), seg["word_budget"]),
        }
        for seg, text in zip(budgeted, texts)
    ]
    script = {
        "revision": revision or new_revision(),
        "run_id": run_id,
        "title": hint or derived_title(analysis),
        "language": LANGUAGE,
        "words_per_minute": wpm,
        "writer": writer.name,
        "segments": script_segments,
    }
    write_json(Path(out_dir) / "script.json", script)
    words = sum(word_count(seg["text"]) for seg in script_segments)
    return {
        "segments": len(script_segments),
        "words": words,
        "writer": writer.name,
        **writer.usage.entry(),
    }


def _check_segments(segments: list) -> None:
    for number, seg in enumerate(segments, 1):
        missing = [
            key
            for key in ("id", "start", "end", "kept_duration")
            if not isinstance(seg, dict) or key not in seg
        ]
        if missing:
            raise FatalError(
                f"segment {number} in segments.json lacks {', '.join(missing)}; "
                "re-run the analyze stage."
            )


def _part_of(headline: str, pages: list[str]) -> bool:
    """Whether ``headline`` is a view of a page already listed, by a shared word: "New invoice"
    (a dialog over Invoices), "Invoice #1042" after "Invoices" (plurals folded)."""
    def words(text: str) -> set[str]:
        return {w.rstrip("s") for w in re.findall(r"[a-z]{3,}", text.lower())} - GENERIC_WORDS

    mine = words(headline)
    return any(mine & words(page) for page in pages)


def derived_title(analysis: dict) -> str:
    """A title from the footage when there is no title hint: the product and the pages shown
    ("Orbit: Sprint 14 board, Backlog and Velocity report"; numbered headings by what they name:
    "Step 2: Analyse" → "Analyse"), else its length ("A 2-minute walkthrough")."""
    product = str(analysis.get("product_name") or "").strip()
    pages: list[str] = []
    for seg in analysis.get("segments") or []:
        headline = screen_text.page_name(
            " ".join(str((seg.get("screen") or {}).get("headline") or "").split()))
        if headline and headline.lower() not in {p.lower() for p in pages} | {product.lower()} \
                and not _part_of(headline, pages):
            pages.append(headline)
    pages = pages[:MAX_TITLE_PAGES]
    while pages:
        listed = ", ".join(pages[:-1]) + (" and " if len(pages) > 1 else "") + pages[-1]
        title = f"{product}: {listed}" if product else listed
        if len(title) <= MAX_TITLE_CHARS:
            return title
        pages.pop()
    if product:
        return f"A tour of {product}"
    duration = float(analysis.get("duration") or 0.0)
    if duration >= 90:
        return f"A {round(duration / 60)}-minute walkthrough"
    if duration > 0:
        return f"A {round(duration)}-second walkthrough"
    return "A short walkthrough"


def validate_review(original: dict, edited: dict, settings: Settings) -> dict:
    """Check a reviewer's edited script against the original and return the reviewed script.

    ``edited`` must be an object with a ``segments`` list of ``{"id", "text"}``; every id must be
    in ``original``, segments left out keep their original text. A text must be a string of at most
    1000 characters without control characters (newlines become spaces); an empty text leaves the
    segment silent, but a text that :func:`clean_for_speech` empties (only markup, emoji or URLs)
    is refused. Texts over their word budget (from ``settings.words_per_minute``)
    are kept and listed in ``warnings``. Other fields of ``edited`` are ignored.
    """
    if not isinstance(edited, dict) or not isinstance(edited.get("segments"), list):
        raise FatalError("the reviewed script must be a JSON object with a 'segments' list.")
    originals = {seg["id"]: seg for seg in original.get("segments", [])}
    texts: dict[str, str] = {}
    for item in edited["segments"]:
        if not isinstance(item, dict) or "id" not in item:
            raise FatalError("every reviewed segment must be an object with an 'id' and a 'text'.")
        seg_id = item["id"]
        if seg_id not in originals:
            raise FatalError(
                f"the reviewed script has an unknown segment id {seg_id!r}; "
                "edit only existing segments."
            )
        if seg_id in texts:
            raise FatalError(f"the reviewed script lists segment {seg_id!r} twice.")
        texts[seg_id] = _reviewed_text(seg_id, item.get("text"))

    wpm = int(settings.words_per_minute)
    segments, warnings = [], []
    for seg_id, seg in originals.items():
        text = texts.get(seg_id, seg.get("text", ""))
        budget = word_budget(seg["kept_duration"], wpm)
        words = word_count(text)
        if words > budget:
            warnings.append(
                f"segment {seg_id} has {words} words, over its budget of {budget}; "
                "the narration may run past its footage."
            )
        segments.append(dict(seg, text=text))
    return {**original, "segments": segments, "reviewed": True, "warnings": warnings}


def _reviewed_text(seg_id: str, text: object) -> str:
    if not isinstance(text, str):
        raise FatalError(f"segment {seg_id} text must be a string.")
    if len(text) > MAX_REVIEW_CHARS:
        raise FatalError(
            f"segment {seg_id} text is longer than {MAX_REVIEW_CHARS} characters; shorten it."
        )
    text = text.replace("\r\n", "\n").replace("\n", " ")
    bad = next((ch for ch in text if unicodedata.category(ch) == "Cc"), None)
    if bad is not None:
        raise FatalError(
            f"segment {seg_id} text contains the control character U+{ord(bad):04X}; remove it."
        )
    cleaned = clean_for_speech(text)
    if not cleaned and text.strip():  # an empty text is a silent segment; markup alone is not
        raise FatalError(f"segment {seg_id} text is empty once markup, emoji and URLs are removed.")
    return cleaned
