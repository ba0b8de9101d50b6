"""Script writers: turn analysed segments into one narration text per segment.

A provider is a :class:`ScriptWriter` subclass registered in :data:`SCRIPT_WRITERS`, built from a
:class:`~include.providers.cloud.ProviderConfig`. Providers that need an SDK (OpenAI, Anthropic)
import it when built and report whether it is installed from :meth:`ScriptWriter.available`, so
adding one is one class plus one registry line.

The built-in ``offline`` writer (:mod:`include.providers.narrator`) needs nothing: it narrates
what each segment shows and says (text read off the screen, the presenter's words). The
``openai`` and ``anthropic`` writers get the same text in their prompt and
ask a chat model (:mod:`include.providers.chat`) for JSON, re-ask once when a text overruns its
word budget, and also write the metadata copy (:meth:`ScriptWriter.describe`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel

from include.core.errors import RetryableError
from include.core.text import word_count
from include.core.usage import Usage
from include.providers.chat import ChatClient, chat_client
from include.providers.cloud import ProviderConfig, installed
from include.providers.narrator import OfflineScriptWriter
from include.providers.registry import available, lookup

# Feature thresholds (analysis features are ratios in [0, 1]).
STILL_RATIO = 0.6  # static_ratio above which the screen counts as a still
TEXT_EDGES = 0.12  # edge_density above which the screen counts as text-heavy
MOTION_HIGH = 0.3
QUIET_RATIO = 0.6  # silent_ratio above which the segment counts as quiet


class ScriptWriter(ABC):
    """Writes the narration of a video, one text per analysed segment."""

    name: ClassVar[str]
    requirement: ClassVar[str] = ""  # what :meth:`available` checks, for error messages

    def __init__(self, config: ProviderConfig | None = None, usage: Usage | None = None) -> None:
        self.config = config or ProviderConfig()
        self.usage = usage or Usage(self.name, self.config.model)

    @classmethod
    def available(cls) -> bool:
        """Whether the provider's optional dependencies are installed (without importing them)."""
        return True

    def describe(self, script: dict, context: dict) -> dict | None:
        """``{"title", "summary", "tags"}`` for the metadata of ``script``, or ``None`` when the
        metadata stage should derive them itself. ``context`` has ``title_hint`` and ``language``.
        """
        return None

    @abstractmethod
    def write(self, segments: list[dict], context: dict) -> list[str]:
        """Return one narration text per segment, in order.

        ``segments`` are the analysis segments of ``segments.json``, each with an added
        ``word_budget``; ``context`` has ``title_hint``, ``words_per_minute`` and ``language``.
        Texts should stay within their segment's word budget (the script stage enforces it).
        """



class SegmentText(BaseModel):
    id: str
    text: str


class ScriptAnswer(BaseModel):
    segments: list[SegmentText]


class MetadataAnswer(BaseModel):
    title: str
    summary: str
    tags: list[str]


SCRIPT_SYSTEM = (
    "You write voice-over narration for screen recordings and product videos. Plain spoken "
    "English sentences only: no markup, emoji, URLs, stage directions or speaker labels. Every "
    "segment's narration must be speakable within its footage, so it must not exceed its word "
    "budget; say what is on screen and why it matters, and keep the segments flowing as one story. "
    "Name what the segment shows (its headline, the figures and labels read off the screen, what "
    "the presenter says) and never invent anything that is not listed for it. No filler that could "
    "narrate any video ('Here's more', 'Notice the layout', 'Moving on')."
)
METADATA_SYSTEM = (
    "You write YouTube metadata for a narrated video: a clear title of at most 90 characters "
    "without angle brackets, a one-paragraph summary of at most 600 characters, and 5 to 12 "
    "short lower-case search tags. No emoji, no hashtags, no URLs."
)


class LLMScriptWriter(ScriptWriter):
    """Narration and metadata copy from a chat model; ``name`` is also the chat provider."""

    module: ClassVar[str]

    def __init__(self, config: ProviderConfig | None = None, usage: Usage | None = None) -> None:
        super().__init__(config, usage)
        self.chat: ChatClient = chat_client(self.name, self.config, self.usage)

    @classmethod
    def available(cls) -> bool:
        return installed(cls.module)

    def write(self, segments: list[dict], context: dict) -> list[str]:
        request = prompt = script_prompt(segments, context)
        texts: dict[str, str] = {}
        for _attempt in range(2):  # one re-ask for missing or over-budget texts
            answer = self.chat.ask(SCRIPT_SYSTEM, prompt, ScriptAnswer)
            texts = {item.id: item.text for item in answer.segments}
            problems = _script_problems(segments, texts)
            if not problems:
                break
            prompt = (
                f"{request}\n\nYour previous answer had problems:\n- "
                + "\n- ".join(problems)
                + "\nWrite the whole answer again and fix them."
            )
        missing = [seg["id"] for seg in segments if not texts.get(seg["id"], "").strip()]
        if missing:
            raise RetryableError(
                f"{self.chat.service} model {self.config.model} left segment(s) "
                f"{', '.join(missing)} without narration twice."
            )
        # Still over budget after the re-ask: the script stage trims to the budget.
        return [texts[seg["id"]] for seg in segments]

    def describe(self, script: dict, context: dict) -> dict:
        narration = " ".join(seg.get("text", "") for seg in script.get("segments", []))
        prompt = json.dumps(
            {
                "title_hint": context.get("title_hint", ""),
                "language": context.get("language", "en"),
                "narration": narration,
            },
            ensure_ascii=False,
        )
        return self.chat.ask(METADATA_SYSTEM, prompt, MetadataAnswer).model_dump()


def script_prompt(segments: list[dict], context: dict) -> str:
    """The script request: title hint, pace, and per segment its timing, budget and context."""
    items = [
        {
            "id": seg["id"],
            "start": seg["start"],
            "end": seg["end"],
            "seconds_of_footage": seg["kept_duration"],
            "word_budget": seg["word_budget"],
            "on_screen": on_screen_context(seg),
        }
        for seg in segments
    ]
    return (
        f"Title hint: {context.get('title_hint') or '(none)'}\n"
        f"Product: {context.get('product_name') or '(unknown)'}\n"
        f"Language: {context.get('language', 'en')}; speaking pace: "
        f"{context.get('words_per_minute', 150)} words per minute.\n"
        "Write one narration text per segment, in order, each within its word_budget.\n"
        'Answer as JSON: {"segments": [{"id": "...", "text": "..."}]} with every id below.\n'
        f"Segments:\n{json.dumps(items, ensure_ascii=False, indent=1)}"
    )


def on_screen_context(segment: dict) -> str:
    """What the analysis knows about a segment, as a short text for the model: the text read off
    the screen (headline, figures, labels, what is new), the presenter's words, and the look."""
    screen = segment.get("screen") or {}
    facts = []
    if screen.get("headline"):
        facts.append(f"headline: {screen['headline']}")
    if screen.get("new"):
        facts.append("new on screen: " + "; ".join(screen["new"][:6]))
    if screen.get("terms"):
        facts.append("on screen: " + "; ".join(screen["terms"][:12]))
    if screen.get("numbers"):
        facts.append("figures: " + "; ".join(screen["numbers"][:6]))
    speech = (segment.get("speech") or {}).get("text")
    if speech:
        facts.append(f"the presenter says: {speech}")
    if segment.get("description"):
        facts.append(str(segment["description"]))
    if float(segment.get("static_ratio") or 0.0) >= STILL_RATIO:
        facts.append("mostly a still screen")
    elif float(segment.get("motion") or 0.0) >= MOTION_HIGH:
        facts.append("lots of movement")
    if not screen and float(segment.get("edge_density") or 0.0) >= TEXT_EDGES:
        facts.append("text-heavy")
    if float(segment.get("silent_ratio") or 0.0) >= QUIET_RATIO and not speech:
        facts.append("no sound of its own")
    return "; ".join(facts)


def _script_problems(segments: list[dict], texts: dict[str, str]) -> list[str]:
    problems = []
    for seg in segments:
        text = texts.get(seg["id"], "")
        if not text.strip():
            problems.append(f"segment {seg['id']} is missing or empty.")
        elif word_count(text) > seg["word_budget"]:
            problems.append(
                f"segment {seg['id']} has {word_count(text)} words; "
                f"its budget is {seg['word_budget']}."
            )
    unknown = sorted(set(texts) - {seg["id"] for seg in segments})
    if unknown:
        problems.append(f"unknown segment ids {', '.join(unknown)}: use only the ids given.")
    return problems


class OpenAIScriptWriter(LLMScriptWriter):
    name = "openai"
    module = "openai"
    requirement = "the openai package"


class AnthropicScriptWriter(LLMScriptWriter):
    name = "anthropic"
    module = "anthropic"
    requirement = "the anthropic package"


SCRIPT_WRITERS: dict[str, type[ScriptWriter]] = {
    OfflineScriptWriter.name: OfflineScriptWriter,
    OpenAIScriptWriter.name: OpenAIScriptWriter,
    AnthropicScriptWriter.name: AnthropicScriptWriter,
}

AVAILABLE_SCRIPT_WRITERS: dict[str, type[ScriptWriter]] = available(SCRIPT_WRITERS)


def get_script_writer(
    name: str, config: ProviderConfig | None = None, usage: Usage | None = None
) -> ScriptWriter:
    """The script writer registered as ``name``; unknown or not installed is a FatalError."""
    return lookup(SCRIPT_WRITERS, name, "script writer")(config, usage)
