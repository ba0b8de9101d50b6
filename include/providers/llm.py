"""Script writers: turn analysed segments into one narration text per segment.

A provider is a :class:`ScriptWriter` subclass registered in :data:`SCRIPT_WRITERS`, built from a
:class:`~include.providers.cloud.ProviderConfig`. Providers that need an SDK (OpenAI, Anthropic)
import it when built and report whether it is installed from :meth:`ScriptWriter.available`, so
adding one is one class plus one registry line.

The built-in ``offline`` writer needs nothing: it describes each segment from its analysis
features with deterministic, varied English sentences. The ``openai`` and ``anthropic`` writers
ask a chat model (:mod:`include.providers.chat`) for JSON, re-ask once when a text overruns its
word budget, and also write the metadata copy (:meth:`ScriptWriter.describe`).
"""

from __future__ import annotations

import json
import re
import zlib
from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel

from include.core.errors import RetryableError
from include.core.usage import Usage
from include.providers.chat import ChatClient, chat_client
from include.providers.cloud import ProviderConfig, installed
from include.providers.registry import available, lookup

# Feature thresholds (analysis features are ratios in [0, 1]).
STILL_RATIO = 0.6  # static_ratio above which the screen counts as a still
TEXT_EDGES = 0.12  # edge_density above which the screen counts as text-heavy
MOTION_HIGH = 0.3
MOTION_SOME = 0.1
QUIET_RATIO = 0.6  # silent_ratio above which the segment counts as quiet
DARK, BRIGHT = 0.3, 0.7  # brightness bounds
LONG_SHOT, SHORT_SHOT = 12.0, 3.0  # seconds


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


def word_count(text: str) -> int:
    """Words as the word budget counts them: whitespace-separated tokens."""
    return len(text.split())


class OfflineScriptWriter(ScriptWriter):
    """Deterministic narration built from each segment's analysis features and the title hint.

    Each segment gets a lead sentence for its place in the video (intro, middle, outro) and then
    as many observations (still or moving screen, text, color, pace, sound) as its word budget
    holds. Sentences are never cut: a sentence that does not fit is replaced by a shorter variant
    or left out, and every lead has a two-word fallback. Variants rotate with the segment index and
    a checksum of the title, so neighbouring segments differ and the same input reads the same.
    """

    name = "offline"

    def write(self, segments: list[dict], context: dict) -> list[str]:
        title = str(context.get("title_hint") or "").strip().rstrip(".!?;:,")
        seed = zlib.crc32(title.encode("utf-8"))
        last = len(segments) - 1
        return [
            self._narrate(segment, _role(index, last), title, seed + index)
            for index, segment in enumerate(segments)
        ]

    def _narrate(self, segment: dict, role: str, title: str, turn: int) -> str:
        budget = int(segment["word_budget"])
        observations = _observations(segment, role)
        # The intro lead introduces the title; other leads leave room for the shortest first
        # observation when they can stay >= 2 words.
        room = 0 if role == "intro" else min(word_count(option) for option in observations[0])
        lead_budget = budget - room if budget - room >= 2 else budget
        sentences = [_first_fitting(
            _rotate(_leads(role, title), turn) + _rotate(_TERSE[role], turn), lead_budget)]
        left = budget - word_count(sentences[0])
        for options in observations:
            sentence = _first_fitting(_rotate(options, turn), left)
            if sentence:
                sentences.append(sentence)
                left -= word_count(sentence)
        return " ".join(sentences)


def _role(index: int, last: int) -> str:
    if index == 0:
        return "intro"
    return "outro" if index == last else "middle"


def _rotate(options: list[str], turn: int) -> list[str]:
    """The options starting at variant ``turn`` (mod their count), wrapping around."""
    if not options:
        return []
    start = turn % len(options)
    return options[start:] + options[:start]


def _first_fitting(options: list[str], budget: int) -> str:
    """The first option with at most ``budget`` words, or ``""``."""
    return next((option for option in options if word_count(option) <= budget), "")


# Two-word fallbacks so that every segment (budget >= 2) has a lead.
_TERSE = {
    "intro": ["Let's begin."],
    "middle": ["Moving on.", "Next up.", "Here's more."],
    "outro": ["That's all."],
}


def _in_sentence(title: str) -> str:
    """The title as it reads inside a sentence: "A tour of X" → "a tour of X"."""
    first, _, rest = title.partition(" ")
    if first in ("A", "An", "The") and rest:
        return f"{first.lower()} {rest}"
    return title


def _leads(role: str, title: str) -> list[str]:
    title = _in_sentence(title)
    if role == "intro":
        if title:
            return [
                f"This walkthrough of {title} starts with an overview of the main screen.",
                f"Welcome to this quick tour of {title}.",
                f"Welcome to {title}.",
                f"Let's take a look at {title}, starting with the first screen.",
            ]
        return [
            "This walkthrough starts with an overview of the main screen.",
            "Welcome to this quick tour.",
            "Let's start with the first screen.",
        ]
    if role == "middle":
        named = [f"Next, we move on to another part of {title}."] if title else []
        return named + [
            "Here is the next view.",
            "Now let's look at the next section.",
            "Moving on, this part shows a different screen.",
            "The next step brings up a new view.",
        ]
    named = [f"To wrap up, here is the final view of {title}."] if title else []
    return named + [
        "That brings us to the end of this walkthrough.",
        "Finally, one last look before we finish.",
    ]


def _observations(segment: dict, role: str) -> list[list[str]]:
    """Sentence slots for a segment, most telling first; each slot lists variants.

    The first slot (what the screen shows) is never empty.
    """
    slots = [_screen_sentences(segment)]
    if role == "outro":
        slots.append(["Thanks for watching, and see you next time.", "Thanks for watching."])
    slots += [_look_sentences(segment), _pace_sentences(segment)]
    if float(segment.get("silent_ratio") or 0.0) >= QUIET_RATIO:
        slots.append(
            ["This part is quiet, so the pictures speak for themselves.", "There is no sound here."]
        )
    return [slot for slot in slots if slot]


def _screen_sentences(segment: dict) -> list[str]:
    still = float(segment.get("static_ratio") or 0.0) >= STILL_RATIO
    texty = float(segment.get("edge_density") or 0.0) >= TEXT_EDGES
    motion = float(segment.get("motion") or 0.0)
    if still and texty:
        return [
            "This screen is full of text, so take a moment to read it.",
            "Take a moment to read the text on this screen.",
            "Pause here and read the details.",
        ]
    if still:
        return [
            "The picture holds still here, so take a moment to read the details.",
            "Take a moment to look at what is on screen.",
            "Take a moment to look.",
            "Look closely at this screen.",
            "Study this view.",
        ]
    if motion >= MOTION_HIGH:
        return [
            "There is a lot of movement here, so watch closely as things change.",
            "Watch closely, the view changes quickly.",
            "Things move quickly here.",
        ]
    if texty:
        return ["This view is packed with detail and text.", "Notice the detailed layout."]
    if motion >= MOTION_SOME:
        return ["The view shifts gently as we go.", "Watch how the screen changes."]
    return ["Notice how the layout is arranged.", "Notice the layout.", "See how it is laid out."]


def _look_sentences(segment: dict) -> list[str]:
    color = str(segment.get("dominant_color") or "").strip().lower()
    if not re.fullmatch(r"[a-z]+(?: [a-z]+)?", color):
        return []
    brightness = float(segment.get("brightness") or 0.5)
    tone = "dark " if brightness < DARK else "bright " if brightness > BRIGHT else ""
    return [
        f"The {tone}design here is dominated by {color}.",
        f"Notice the {tone}{color} color scheme.",
        f"{color.capitalize()} tones stand out here.",
    ]


def _pace_sentences(segment: dict) -> list[str]:
    length = float(segment.get("end", 0.0)) - float(segment.get("start", 0.0))
    if length >= LONG_SHOT:
        return ["We will stay on this part for a little while.", "Take your time with this one."]
    if 0 < length <= SHORT_SHOT:
        return ["This one goes by quickly.", "Keep an eye out, this is brief."]
    return []


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
    "budget; say what is on screen and why it matters, and keep the segments flowing as one story."
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
        f"Language: {context.get('language', 'en')}; speaking pace: "
        f"{context.get('words_per_minute', 150)} words per minute.\n"
        "Write one narration text per segment, in order, each within its word_budget.\n"
        'Answer as JSON: {"segments": [{"id": "...", "text": "..."}]} with every id below.\n'
        f"Segments:\n{json.dumps(items, ensure_ascii=False, indent=1)}"
    )


def on_screen_context(segment: dict) -> str:
    """What the analysis knows about a segment's picture, as a short phrase for the model."""
    facts = [str(segment["description"])] if segment.get("description") else []
    if float(segment.get("static_ratio") or 0.0) >= STILL_RATIO:
        facts.append("mostly a still screen")
    elif float(segment.get("motion") or 0.0) >= MOTION_HIGH:
        facts.append("lots of movement")
    if float(segment.get("edge_density") or 0.0) >= TEXT_EDGES:
        facts.append("text-heavy")
    if segment.get("dominant_color"):
        facts.append(f"mostly {segment['dominant_color']}")
    if float(segment.get("silent_ratio") or 0.0) >= QUIET_RATIO:
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
