"""metadata stage: title, description, tags and chapters for the final video.

Limits follow YouTube's: a title of at most 100 characters without ``<``/``>``, a description of
at most 5000 UTF-8 bytes without ``<``/``>``, tags of at most 30 characters each and 500 in all
(a tag with a space counts its quotes), and chapters only when at least three of at least 10 s
fit (so none below 30 s). Chapter times are whole seconds, as the description lists them.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from include.core import screen_text
from include.core.edl import Edl, Narration
from include.core.files import read_json, write_json
from include.core.keyphrases import FILLER as FILLERS
from include.core.keyphrases import keyphrases
from include.core.ports import ScriptWriter
from include.stages.script import clean_for_speech

CATEGORY_SCIENCE_TECH = "28"
MAX_TITLE_CHARS = 100
MAX_DESCRIPTION_BYTES = 5000
MAX_SUMMARY_CHARS = 1000
MAX_TAG_CHARS = 30
MAX_TAGS_CHARS = 500
MAX_TAGS = 15
MIN_CHAPTER = 10  # seconds
MIN_CHAPTERS = 3
MAX_CHAPTER_WORDS = 6

# English function words plus the words of stock narration ("take a moment", "moving on"),
# which make neither chapter titles nor tags.
STOPWORDS = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just let lets let's me
    more most my no nor not now of off on once only or other our out over own same she should so
    some such than that that's the their them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you
    your yours one next first last final finally quick quickly take moment look notice here's
    there's it's we'll you'll see watch part moving move things thing stand stands shows show
    brings starts start starting welcome begin wrap thanks watching time little while okay ok well
    """.split()
)

#: the words of stock narration ("take a moment", "moving on", "let's wrap up"): never in a tag
STOCK_NARRATION = frozenset(
    "moment notice watch watching wrap stand stands brings begin starts starting moving final"
    .split())

_CLAUSE_BREAK = re.compile(r"[.!?;:,]+\s*")
_TAG_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def run(
    script_path: Path,
    edl_path: Path,
    segments_path: Path,
    out_dir: Path,
    *,
    writer: ScriptWriter,
    title_hint: str = "",
    privacy: str = "private",
) -> dict:
    """Write ``metadata.json`` from the (reviewed) script, the footage and the final timeline.

    The title is the script's (the title hint, else built from the product and its pages); the
    description walks through the pages in order; tags are the product, the pages and the key
    phrases of the text on screen, the presenter's words and the title; chapters start on the
    pages' headlines in final time. A cloud ``writer`` may draft the title, summary and tags
    instead; they pass the same limits. Returns ``{"title", "chapters", "tags",
    "description_bytes"}`` plus ``"usage"`` when a provider was paid.
    """
    script = read_json(script_path, "script.json")
    analysis = read_json(segments_path, "segments.json")
    edl = Edl.load(edl_path)
    duration = edl.output.duration
    texts = {seg["id"]: seg.get("text", "") for seg in script.get("segments", [])}
    language = script.get("language") or "en"
    footage = Footage.of(analysis)
    copy = writer.describe(script, {"title_hint": title_hint, "language": language,
                                    "product_name": footage.product})

    chapters = chapters_for(edl.narration, footage.chapter_titles(texts), duration)
    if copy:
        title = clean_title(copy["title"] or script.get("title") or title_hint)
        description = build_description(title, [copy["summary"]], chapters)
        tags = limit_tags([_plain(tag.replace(",", " ")).lower() for tag in copy["tags"]])
    else:
        title = clean_title(script.get("title") or title_hint)
        description = build_description(title, footage.walkthrough(texts) or list(texts.values()),
                                         chapters)
        tags = build_tags(title, footage.tag_texts() + list(texts.values()),
                          first=footage.names(), labels=footage.terms,
                          said=list(footage.speech) + list(texts.values()), shown=footage.shown)
    metadata = {
        "title": title,
        "description": description,
        "tags": tags,
        "category_id": CATEGORY_SCIENCE_TECH,
        "language": language,
        "privacy": privacy,
        "chapters": chapters,
    }
    write_json(Path(out_dir) / "metadata.json", metadata)
    return {
        "title": title,
        "chapters": len(chapters),
        "tags": len(metadata["tags"]),
        "description_bytes": len(metadata["description"].encode("utf-8")),
        **writer.usage.entry(),
    }


@dataclass(frozen=True)
class Footage:
    """What segments.json says the video shows: the product, each segment's headline and the
    text and speech the description and tags are built from."""

    product: str
    headlines: dict[str, str]  # segment id -> headline ("" when it has none)
    order: tuple[str, ...]  # segment ids in source order
    terms: tuple[str, ...]
    speech: tuple[str, ...]
    shown: tuple[str, ...] = ()  # every line read on screen but a table's cells

    @classmethod
    def of(cls, analysis: dict) -> "Footage":
        segments = analysis.get("segments") or []
        headlines, terms, speech, shown = {}, [], [], []
        for seg in segments:
            screen = seg.get("screen") or {}
            headlines[str(seg.get("id"))] = " ".join(str(screen.get("headline") or "").split())
            cells = table_cells(screen.get("lines") or [])
            terms += [str(t) for t in screen.get("terms") or [] if str(t) not in cells]
            shown += [str(line.get("text", "")) for line in screen.get("lines") or []
                      if str(line.get("text", "")) not in cells]
            said = (seg.get("speech") or {}).get("text")
            if said:
                speech.append(str(said))
        return cls(str(analysis.get("product_name") or "").strip(), headlines,
                   tuple(str(seg.get("id")) for seg in segments), tuple(terms), tuple(speech),
                   tuple(dict.fromkeys(shown)))

    def pages(self) -> list[tuple[str, list[str]]]:
        """``(headline, segment ids)`` for each run of segments on the same page, in order."""
        pages: list[tuple[str, list[str]]] = []
        for seg_id in self.order:
            headline = self.headlines.get(seg_id, "")
            if not headline:
                if pages:
                    pages[-1][1].append(seg_id)
                continue
            if pages and pages[-1][0].lower() == headline.lower():
                pages[-1][1].append(seg_id)
            else:
                pages.append((headline, [seg_id]))
        return pages

    def chapter_titles(self, texts: dict[str, str]) -> dict[str, str]:
        """A chapter title per segment id: its page's headline, else one from its narration."""
        titles = {}
        current = ""
        for seg_id in self.order:
            current = self.headlines.get(seg_id) or current
            titles[seg_id] = _title_case(current) if current else chapter_title(
                texts.get(seg_id, ""))
        return titles

    def walkthrough(self, texts: dict[str, str]) -> list[str]:
        """The description's body: what the video walks through, page by page."""
        pages = self.pages()
        if not pages:
            return []
        names = list(dict.fromkeys(h for h, _ in pages))  # a page shown twice is named once
        lead = (f"A walkthrough of {self.product}: " if self.product else "A walkthrough: ")
        lead += (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]) + "."
        lines = [lead]
        for headline, ids in pages:
            said = " ".join(t for t in (texts.get(i, "") for i in ids) if t).strip()
            first, _, rest = said.partition(". ")
            if (headline.lower() in first.lower() and len(first.split()) <= 6
                    and len(rest.split()) >= 4):
                said = rest  # "Velocity report: On to the Velocity report. …" says it twice
                # (but "Invoices: Here are all our invoices. Newest first." stays whole: the
                # rest alone, "Newest first.", is a fragment)
            if said:
                lines.append(f"{headline}: {said}")
        return lines

    def names(self) -> list[str]:
        """The product and its pages, the first tags."""
        out = [self.product] if self.product else []
        return out + [screen_text.page_name(h) for h, _ in self.pages()]

    def tag_texts(self) -> list[str]:
        return list(self.terms) + list(self.speech)


def table_cells(lines: Sequence[dict]) -> set[str]:
    """The texts of ``lines`` (OCR lines with ``box`` [x, y, w, h]) that are only ever cells of
    a table: a line of a column (≥ 3 lines sharing a left or right edge) with a line of a
    neighbour column on its row, the two columns sharing ≥ 3 rows — a list of customers, their
    emails and balances: the app's sample data, not what the video is about. A single column (a
    sidebar, a form's labels) is no table, a section heading above a list shares no row with
    the list's neighbour, and a text also on screen outside a table (a tab "Paid" beside the
    status cells "Paid") is kept."""
    boxes = [(k, str(line.get("text") or ""), *map(float, line["box"][:4]))
             for k, line in enumerate(lines) if len(line.get("box") or []) >= 4]
    columns: list[list[tuple]] = []
    for edge in (lambda b: b[2], lambda b: b[2] + b[4]):  # left edges, right edges
        group: list[tuple] = []
        for box in sorted(boxes, key=edge):
            if group and edge(box) - edge(group[0]) > COLUMN_SLACK_PX:
                columns.append(group)
                group = []
            group.append(box)
        columns.append(group)
    columns = [c for c in columns if len(c) >= 3]

    def on_row(box: tuple, column: list[tuple]) -> bool:
        return any(abs(box[3] - other[3]) <= ROW_SLACK_PX for other in column)

    flagged: set[int] = set()
    for a, column in enumerate(columns):
        mine = {box[0] for box in column}
        neighbours = [other for b, other in enumerate(columns) if b != a
                      and not mine & {box[0] for box in other}
                      and sum(on_row(box, other) for box in column) >= 3]
        flagged.update(box[0] for box in column
                       if any(on_row(box, other) for other in neighbours))
    cells = {box[1] for box in boxes if box[0] in flagged}
    return cells - {box[1] for box in boxes if box[0] not in flagged}


def _plain(text: str) -> str:
    """Speech-clean text without the angle brackets YouTube rejects."""
    return " ".join(clean_for_speech(text).replace("<", " ").replace(">", " ").split())


def clean_title(text: str) -> str:
    """A title of at most 100 characters without ``<``/``>``, cut at a word boundary if possible."""
    return truncate_chars(_plain(text), MAX_TITLE_CHARS) or "Untitled video"


def truncate_chars(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, at the last space if one is in the second half."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:-")


def truncate_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def timestamp(seconds: float) -> str:
    """YouTube chapter timestamp: ``m:ss``, or ``h:mm:ss`` from one hour on."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def chapters_for(narration: Sequence[Narration], titles: dict[str, str],
                 duration: float) -> list[dict]:
    """Chapters in final time: ``[{"start", "title"}]``, first at 0, each >= 10 s, all < duration.

    ``titles`` names each segment's chapter (its page's headline, see :class:`Footage`).
    Boundaries are the narration starts where the title changes (floored to whole seconds),
    merged greedily so every chapter lasts at least 10 s. When that leaves fewer than three on a
    video of 30 s or more, three chapters are laid out near the thirds, snapped to narration
    starts where they fit — unless that would name two neighbours alike. Chapters are never
    named "Part N": without enough distinct titles there are none, as below 30 s.
    """
    if duration < MIN_CHAPTER * MIN_CHAPTERS:
        return []
    starts, last_title = [], None
    for n in sorted(narration, key=lambda n: n.out_start):
        title = titles.get(n.segment_id, "")
        if 0 <= n.out_start < duration and title and title != last_title:
            starts.append((n.out_start, n.segment_id))
            last_title = title
    candidates = sorted({math.floor(start) for start, _ in starts} | {0})
    bounds = [0]
    for time in candidates[1:]:
        if time - bounds[-1] >= MIN_CHAPTER and duration - time >= MIN_CHAPTER:
            bounds.append(time)
    if len(bounds) < MIN_CHAPTERS:
        bounds = _three_bounds(candidates, duration)

    chapters = []
    for bound in bounds:
        # the first chapter (0:00) is the first page's, also when an intro card plays before it
        playing = [seg_id for start, seg_id in starts if math.floor(start) <= bound] or [
            seg_id for _, seg_id in starts[:1]]
        title = titles.get(playing[-1], "") if playing else ""
        if not title or (chapters and chapters[-1]["title"] == title):
            return []
        chapters.append({"start": float(bound), "title": truncate_chars(title, MAX_TAG_CHARS * 3)})
    return chapters


def _three_bounds(candidates: list[int], duration: float) -> list[int]:
    """Starts of three chapters of >= 10 s each, near the thirds, preferring narration starts."""
    latest_second = math.floor(duration - 2 * MIN_CHAPTER)
    second = _nearest(candidates, duration / 3, MIN_CHAPTER, latest_second)
    third = _nearest(
        candidates, 2 * duration / 3, second + MIN_CHAPTER, math.floor(duration - MIN_CHAPTER)
    )
    return [0, second, third]


def _nearest(candidates: list[int], target: float, low: int, high: int) -> int:
    """The candidate in ``[low, high]`` closest to ``target``, else ``target`` clamped to it."""
    inside = [c for c in candidates if low <= c <= high]
    if inside:
        return min(inside, key=lambda c: (abs(c - target), c))
    return min(max(math.floor(target), low), high)


def chapter_title(text: str) -> str:
    """A 2-6 word chapter title from narration text, or ``""``.

    The first clause that keeps at least two words once leading and trailing stopwords are
    dropped, e.g. "Next, we open the settings page." gives "Open the settings page".
    """
    for clause in _CLAUSE_BREAK.split(_plain(text)):
        words = clause.split()
        while words and words[0].lower() in STOPWORDS:
            words = words[1:]
        words = words[:MAX_CHAPTER_WORDS]
        while words and words[-1].lower() in STOPWORDS:
            words = words[:-1]
        if len(words) >= 2:
            phrase = " ".join(words)
            return phrase[0].upper() + phrase[1:]
    return ""


def build_description(title: str, paragraphs: list[str], chapters: list[dict]) -> str:
    """The paragraphs (each cleaned; a summary, then what each page shows), then the chapter
    list, within 5000 UTF-8 bytes."""
    body = "\n\n".join(p for p in (_plain(p) for p in paragraphs) if p)
    summary = truncate_chars(body, MAX_SUMMARY_CHARS * 2) or title
    chapter_block = ""
    if chapters:
        lines = [f"{timestamp(ch['start'])} {ch['title']}" for ch in chapters]
        chapter_block = "\n\nChapters:\n" + "\n".join(lines)
    room = MAX_DESCRIPTION_BYTES - len(chapter_block.encode("utf-8"))
    return truncate_bytes(
        truncate_bytes(summary, max(room, 0)) + chapter_block, MAX_DESCRIPTION_BYTES
    )


def build_tags(title: str, texts: list[str], *, first: Sequence[str] = (),
               labels: Sequence[str] = (), said: Sequence[str] = (),
               shown: Sequence[str] = ()) -> list[str]:
    """Search tags: ``first`` (the product, "<product> tutorial", its pages), then what is both
    ``said`` (the presenter's words, the narration) and ``shown`` (lines on screen): "revenue by
    month", "open balance"; then the key phrases of ``texts`` (the text on screen, the
    presenter's words, the narration) and the title that someone could search for: no sample
    data (column headers, customers' companies, ids, amounts, dates) and, when the screen has
    ``labels`` (its terms), a single word only if it is one of them whole ("Overdue", a status;
    not "month" from "Revenue this month"), several words only if they are a label whole or
    were said ("Due date"; not "optional note" cut out of "Optional note for the customer").

    At most 15, lower-case, deduplicated, each at most 30 characters and at most 500 characters
    joined by commas (a tag containing a space counts two quote characters, as YouTube does);
    never a stop-word, a filler or a bare number.
    """
    named = [_plain(name).lower() for name in first if _is_tag(_plain(name).lower())]
    # "<product> tutorial": what people type to find a walkthrough of a product
    guide = [f"{named[0]} tutorial"] if named and len(named[0]) + 9 <= MAX_TAG_CHARS else []
    # keyphrases() drops function words and filler itself; excluding the chapter-title
    # STOPWORDS here too would cut on-screen labels apart ("Cycle time" → a tag "cycle")
    texts = [_product_spelled(t, first[0] if first else "") for t in texts
             if not _sample_data(t)]
    phrases = [p.lower() for p in keyphrases([title, *texts], top=MAX_TAGS * 3,
                                              exclude=FILLERS | STOCK_NARRATION)]
    whole = {" ".join(label.lower().split()) for label in labels}
    spoken = " ".join(" ".join(_TAG_WORD.findall(t.lower())) for t in said)
    both = said_and_shown(said, shown)
    # a single word that ends a longer word on screen is that word cut at an edge ("tomer" of
    # "customer", read where a dialog's placeholder was clipped)
    longer = {w for t in texts for w in re.findall(r"[a-z]{5,}", t.lower())}
    return limit_tags(named[:1] + guide + named[1:] + both
                      + [p for p in phrases if _is_tag(p) and _searchable(p)
                         and (not whole or p in whole
                              or " " in p and re.search(rf"\b{re.escape(p)}\b", spoken))
                         and not (" " not in p and any(w != p and w.endswith(p) and
                                                       len(w) >= len(p) + 2 for w in longer))])


def said_and_shown(said: Sequence[str], shown: Sequence[str]) -> list[str]:
    """Phrases of two or three words that were said and stand on screen too ("open invoices",
    "revenue by month"): what the video is about in the words of both, longest first."""
    lines = [" ".join(_TAG_WORD.findall(line.lower())) for line in shown]
    screen = " | ".join(line for line in lines if line)
    found: list[str] = []
    for text in said:
        for clause in _CLAUSE_BREAK.split(text.lower()):
            words = _TAG_WORD.findall(clause)
            for n in (3, 2):
                for i in range(len(words) - n + 1):
                    gram = words[i:i + n]
                    phrase = " ".join(gram)
                    if (gram[0] in STOPWORDS or gram[-1] in STOPWORDS
                            or any(w in FILLERS or w in STOCK_NARRATION for w in gram)
                            or not _searchable(phrase) or phrase in found
                            or any(phrase in longer for longer in found)):
                        continue
                    if re.search(rf"\b{re.escape(phrase)}\b", screen):
                        found.append(phrase)
    return found


# Words that make a phrase on screen a cell of sample data, not a topic: calendar words ("Due
# Jun 21", "vs May"), comparison glue; a word with a digit is an id, an amount or a date
# ("INV-1038", "$4,600.00").
CALENDAR = frozenset(
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july "
    "august september october november december mon tue wed thu fri sat sun monday tuesday "
    "wednesday thursday friday saturday sunday today yesterday tomorrow".split())
GLUE = frozenset({"vs", "via", "per", "paid", "sent", "viewed"})


COLUMN_SLACK_PX = 4  # lines of one table column start (or end) within this many pixels
ROW_SLACK_PX = 6  # cells of one table row sit within this many pixels of each other
COMPANY = frozenset({"corp", "corporation", "inc", "ltd", "llc", "gmbh", "enterprises", "co"})


def _sample_data(text: str) -> bool:
    """A text on screen that is the app's sample data, not what it is about: a table's column
    header ("AMOUNT", "CUSTOMER": one capitalised word longer than an acronym), a ranked list's
    entry ("1. Stark Logistics") or a customer's company ("Globex Corporation", "Acme Corp paid
    INV-1038"); a table's other cells: :func:`table_cells`."""
    words = text.split()
    if len(words) == 1 and len(text) > 4 and text.isupper():
        return True
    if re.match(r"\d+[.)] ", text):  # a ranked list's entry: "1. Stark Logistics"
        return True
    return any(w.strip(".,").lower() in COMPANY for w in words)


def _product_spelled(text: str, product: str) -> str:
    """``text`` with a misheard or misread product name spelled as the product ("the Ludgerly
    dashboard" → "the Ledgerly dashboard"): a word of five letters or more, as long as the
    product's one-word name give or take a letter, that is nearly it."""
    name = product.strip()
    if len(name) < 5 or " " in name:
        return text

    def fix(match: re.Match) -> str:
        word = match.group(0)
        if len(word) < 5 or abs(len(word) - len(name)) > 1:
            return word  # "ledger" is a word of its own, not a misspelt "Ledgerly"
        near = difflib.SequenceMatcher(None, word.lower(), name.lower()).ratio() >= 0.75
        return name if near else word

    return re.sub(r"[A-Za-z]+", fix, text)


def _searchable(phrase: str) -> bool:
    """Whether a phrase read on screen or heard could be what someone searches for: no word
    with a digit, no calendar word, no comparison glue, not a word of three letters or less
    ("due", "jun")."""
    words = phrase.split()
    return (not any(any(c.isdigit() for c in w) or w in CALENDAR or w in GLUE for w in words)
            and not (len(words) == 1 and len(words[0]) <= 3))


def _is_tag(phrase: str) -> bool:
    words = phrase.split()
    return bool(words) and not all(w in STOPWORDS or w in FILLERS or w.isdigit() for w in words)


def limit_tags(candidates: list[str]) -> list[str]:
    """The first candidates that fit YouTube's limits (see :func:`build_tags`), deduplicated."""
    tags: list[str] = []
    stems: set[str] = set()
    used = 0
    for tag in candidates:
        if len(tags) == MAX_TAGS:
            break
        stem = " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in tag.split())
        if not tag or stem in stems or len(tag) > MAX_TAG_CHARS:
            continue  # "invoice" after "invoices" says nothing new
        cost = len(tag) + (2 if " " in tag else 0) + (1 if tags else 0)
        if used + cost > MAX_TAGS_CHARS:
            break
        tags.append(tag)
        stems.add(stem)
        used += cost
    return tags


def _title_case(text: str) -> str:
    return text[:1].upper() + text[1:]
