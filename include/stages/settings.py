"""Run settings: the DAG Params, validated once, passed to every stage.

The same enums feed the Airflow trigger form (``dags/video_pipeline.py``) and the validation here,
so the form, the REST API and the stages cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import datetime

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
LLM_PROVIDERS = ("offline", "openai", "anthropic")
VISION_PROVIDERS = ("none", "openai", "anthropic")
TTS_PROVIDERS = ("espeak", "piper", "openai", "elevenlabs")
# Per-provider model and voice params, each defaulting to the Airflow Variable of its name.
PROVIDER_CHOICES = (
    "openai_model", "anthropic_model", "openai_tts_model", "openai_voice",
    "elevenlabs_model", "elevenlabs_voice", "piper_voice",
)
PRIVACY = ("private", "unlisted", "public")
ASPECTS = ("16:9", "9:16")
ORIGINAL_AUDIO = ("drop", "duck")
VIDEO_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


@dataclass(frozen=True)
class Settings:
    tenant: str = "default"
    source: str = ""
    title_hint: str = ""
    script_mode: str = "autopilot"
    voice: str = "en-us"
    caption_style: str = "karaoke"
    sync_mode: str = "fit"
    publish_target: str = "outbox"
    privacy: str = "private"
    publish_at: str = ""  # ISO 8601 time at which YouTube makes a private video public
    made_for_kids: bool = False
    on_republish: str = "update_metadata"  # include.core.ports.ON_REPUBLISH (checked there)
    llm_provider: str = "offline"
    vision_provider: str = "none"
    tts_provider: str = "espeak"
    openai_model: str = ""
    anthropic_model: str = ""
    openai_tts_model: str = ""
    openai_voice: str = ""
    elevenlabs_model: str = ""
    elevenlabs_voice: str = ""
    piper_voice: str = ""
    aspect: str = "16:9"
    original_audio: str = "drop"
    video_preset: str = "veryfast"
    thumbnail_title: bool = True
    dead_air_min_seconds: float = 1.0
    dead_air_margin_seconds: float = 0.25
    music: str = ""  # a music bed: absolute path on the workers or tenants/<tenant>/uploads/...
    words_per_minute: int = 150
    width: int = 1280
    height: int = 720
    fps: int = 30

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the video: ``width`` x ``height``, turned upright for a 9:16 short."""
        if self.aspect == "9:16":
            return min(self.width, self.height), max(self.width, self.height)
        return self.width, self.height

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_mapping(cls, conf: dict) -> "Settings":
        """Build from params/conf; unknown keys are ignored, bad values are a FatalError."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in (conf or {}).items() if k in names and v is not None}
        s = cls(**values)
        s.validate()
        return s

    def validate(self) -> None:
        def bad(msg: str) -> None:
            raise FatalError(msg)

        if not isinstance(self.tenant, str) or not TENANT_RE.match(self.tenant):
            bad(
                f"tenant {self.tenant!r} is not valid: use 1-63 lowercase letters, digits, '-' or '_'."
            )
        for name, allowed in (
            ("script_mode", SCRIPT_MODES),
            ("caption_style", CAPTION_STYLES),
            ("sync_mode", SYNC_MODES),
            ("publish_target", PUBLISH_TARGETS),
            ("privacy", PRIVACY),
            ("llm_provider", LLM_PROVIDERS),
            ("vision_provider", VISION_PROVIDERS),
            ("tts_provider", TTS_PROVIDERS),
            ("aspect", ASPECTS),
            ("original_audio", ORIGINAL_AUDIO),
            ("video_preset", VIDEO_PRESETS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                bad(f"{name} {value!r} is not one of: {', '.join(allowed)}.")
        if not VOICE_RE.match(str(self.voice)):
            bad(f"voice {self.voice!r} is not a valid voice name.")
        for name in PROVIDER_CHOICES:
            if not MODEL_RE.match(str(getattr(self, name))):
                bad(f"{name} {getattr(self, name)!r} is not a valid model or voice name.")
        if self.publish_at:
            try:
                datetime.fromisoformat(str(self.publish_at).replace("Z", "+00:00"))
            except ValueError:
                bad(f"publish_at {self.publish_at!r} is not an ISO 8601 time (2026-12-24T09:00:00Z).")
            if self.privacy != "private":
                bad("publish_at needs privacy 'private': YouTube makes the video public at that time.")
        if len(self.title_hint or "") > 200:
            bad("title_hint is longer than 200 characters.")
        if not (60 <= int(self.words_per_minute) <= 240):
            bad("words_per_minute must be between 60 and 240.")
        if not (160 <= int(self.width) <= 3840 and 160 <= int(self.height) <= 3840):
            bad("output size must be between 160 and 3840 pixels per side.")
        if int(self.width) % 2 or int(self.height) % 2:
            bad("output width and height must be even numbers.")
        if not (1 <= int(self.fps) <= 60):
            bad("fps must be between 1 and 60.")
        if not (0.0 <= float(self.dead_air_margin_seconds) <= 2.0):
            bad("dead_air_margin_seconds must be between 0 and 2.")
        if not (2 * float(self.dead_air_margin_seconds) < float(self.dead_air_min_seconds) <= 60):
            bad("dead_air_min_seconds must be more than twice the margin and at most 60.")
        music = str(self.music)
        if music and (".." in music.split("/") or not (
                music.startswith("/") or music.startswith(f"tenants/{self.tenant}/"))):
            bad("music must be an absolute path on the workers or a key under "
                f"tenants/{self.tenant}/.")
        if re.search(r"(^|/)uploads/[^/]+/parts/", music):
            bad("music must be a finished file, not one part of an unfinished upload.")
