"""metadata stage: title, description, tags and chapters for the final video.

Limits follow YouTube's: a title of at most 100 characters without ``<``/``>``, a description of
at most 5000 UTF-8 bytes without ``<``/``>``, tags of at most 30 characters each and 500 in all
(a tag with a space counts its quotes), and chapters only when at least three of at least 10 s
fit (so none below 30 s). Chapter times are whole seconds, as the description lists them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

from include.core.errors import FatalError
from include.core.files import read_json, write_json
from include.core.usage import Usage
from include.providers.cloud import ProviderConfig
from include.providers.llm import get_script_writer
from include.stages.script import clean_for_speech
from include.stages.settings import Settings

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

# English function words plus the stock phrases of narration ("take a moment", "moving on"),
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

_CLAUSE_BREAK = re.compile(r"[.!?;:,]+\s*")
_TAG_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def run(
    script_path: Path,
    edl_path: Path,
    settings: Settings,
    out_dir: Path,
    *,
    writer: str = "offline",
    config: ProviderConfig | None = None,
) -> dict:
    """Write ``metadata.json`` from the (reviewed) script and the EDL's final timeline.

    A cloud ``writer`` (with its ``config``) drafts the title, summary and tags; they pass the
    same limits as the derived ones. Chapters always come from the timeline. Returns
    ``{"title", "chapters", "tags", "description_bytes"}`` plus ``"usage"`` when a provider was
    paid.
    """
    script = read_json(script_path, "script.json")
    edl = read_json(edl_path, "edl.json")
    try:
        duration = float(edl["output"]["duration"])
    except (KeyError, TypeError, ValueError):
        raise FatalError("edl.json has no output duration; re-run the edit stage.") from None
    texts = {seg["id"]: seg.get("text", "") for seg in script.get("segments", [])}
    language = script.get("language") or "en"
    usage = Usage(writer, config.model if config else "")
    copy = get_script_writer(writer, config, usage).describe(
        script, {"title_hint": settings.title_hint, "language": language}
    )

    chapters = chapters_for(edl.get("narration") or [], texts, duration)
    if copy:
        title = clean_title(copy["title"] or script.get("title") or settings.title_hint)
        description = build_description(title, [copy["summary"]], chapters)
        tags = limit_tags([_plain(tag.replace(",", " ")).lower() for tag in copy["tags"]])
    else:
        title = clean_title(script.get("title") or settings.title_hint)
        description = build_description(title, list(texts.values()), chapters)
        tags = build_tags(title, list(texts.values()))
    metadata = {
        "title": title,
        "description": description,
        "tags": tags,
        "category_id": CATEGORY_SCIENCE_TECH,
        "language": language,
        "privacy": settings.privacy,
        "chapters": chapters,
    }
    write_json(Path(out_dir) / "metadata.json", metadata)
    return {
        "title": title,
        "chapters": len(chapters),
        "tags": len(metadata["tags"]),
        "description_bytes": len(metadata["description"].encode("utf-8")),
        **usage.entry(),
    }


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


def chapters_for(narration: list[dict], texts: dict[str, str], duration: float) -> list[dict]:
    """Chapters in final time: ``[{"start", "title"}]``, first at 0, each >= 10 s, all < duration.

    Boundaries are narration starts (floored to whole seconds), merged greedily so every chapter
    lasts at least 10 s. When that leaves fewer than three on a video of 30 s or more, three
    chapters are laid out near the thirds, snapped to narration starts where they fit. A video
    under 30 s gets none.
    """
    if duration < MIN_CHAPTER * MIN_CHAPTERS:
        return []
    starts = sorted(
        (float(item["out_start"]), str(item["segment_id"]))
        for item in narration
        if 0 <= float(item.get("out_start", -1)) < duration
    )
    candidates = sorted({math.floor(start) for start, _ in starts} | {0})
    bounds = [0]
    for time in candidates[1:]:
        if time - bounds[-1] >= MIN_CHAPTER and duration - time >= MIN_CHAPTER:
            bounds.append(time)
    if len(bounds) < MIN_CHAPTERS:
        bounds = _three_bounds(candidates, duration)

    chapters = []
    for number, bound in enumerate(bounds, 1):
        playing = [seg_id for start, seg_id in starts if math.floor(start) <= bound]
        title = chapter_title(texts.get(playing[-1], "")) if playing else ""
        chapters.append({"start": float(bound), "title": title or f"Part {number}"})
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


def build_description(title: str, texts: list[str], chapters: list[dict]) -> str:
    """Summary paragraph from the script, then the chapter list, within 5000 UTF-8 bytes."""
    summary = truncate_chars(_plain(" ".join(texts)), MAX_SUMMARY_CHARS) or title
    chapter_block = ""
    if chapters:
        lines = [f"{timestamp(ch['start'])} {ch['title']}" for ch in chapters]
        chapter_block = "\n\nChapters:\n" + "\n".join(lines)
    room = MAX_DESCRIPTION_BYTES - len(chapter_block.encode("utf-8"))
    return truncate_bytes(
        truncate_bytes(summary, max(room, 0)) + chapter_block, MAX_DESCRIPTION_BYTES
    )


def build_tags(title: str, texts: list[str]) -> list[str]:
    """Keywords: the title, its words, then the script's most frequent content words.

    At most 15, lower-case, deduplicated, each at most 30 characters and at most 500 characters
    joined by commas (a tag containing a space counts two quote characters, as YouTube does).
    """
    title_words = [w.lower() for w in _TAG_WORD.findall(_plain(title))]
    script_words = [w.lower() for w in _TAG_WORD.findall(_plain(" ".join(texts)))]
    counts = Counter(w for w in script_words if _is_keyword(w))
    frequent = sorted(counts, key=lambda w: -counts[w])  # stable: ties keep first-seen order
    return limit_tags([" ".join(title_words)] + [w for w in title_words if _is_keyword(w)] + frequent)


def limit_tags(candidates: list[str]) -> list[str]:
    """The first candidates that fit YouTube's limits (see :func:`build_tags`), deduplicated."""
    tags: list[str] = []
    used = 0
    for tag in candidates:
        if len(tags) == MAX_TAGS:
            break
        if not tag or tag in tags or len(tag) > MAX_TAG_CHARS:
            continue
        cost = len(tag) + (2 if " " in tag else 0) + (1 if tags else 0)
        if used + cost > MAX_TAGS_CHARS:
            break
        tags.append(tag)
        used += cost
    return tags


def _is_keyword(word: str) -> bool:
    return word not in STOPWORDS and not word.isdigit() and (len(word) >= 3 or not word.isascii())
