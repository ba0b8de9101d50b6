"""What stages need from providers, as Protocols: stages are written against these, providers
implement them, and the Airflow layer (``include/pipeline.py``) builds the concrete objects from
Connections, Variables and the run's params and hands them to the stages. Each section belongs to
one kind of provider; keep them small (a Protocol is what a stage calls, no more).

Nothing here imports a provider, an SDK or Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from include.core.errors import FatalError
from include.core.options import ON_REPUBLISH
from include.core.usage import Usage

# --------------------------------------------------------------------------- script writing


@runtime_checkable
class ScriptWriter(Protocol):
    """Writes the narration of a video (one text per analysed segment) and its metadata copy."""

    name: str
    usage: Usage

    def write(self, segments: list[dict], context: dict) -> list[str]:
        """One narration text per segment of ``segments.json`` (each with a ``word_budget``), in
        order. ``context``: ``title_hint``, ``words_per_minute``, ``language``, ``product_name``.
        """
        ...

    def describe(self, script: dict, context: dict) -> dict | None:
        """``{"title", "summary", "tags"}`` for the metadata, or ``None`` to let the metadata
        stage derive them from the footage."""
        ...


# --------------------------------------------------------------------------- reading the footage


@runtime_checkable
class KeyframeDescriber(Protocol):
    """Describes keyframes in a sentence each (a vision model)."""

    usage: Usage

    def describe(self, keyframes: dict[str, Path]) -> dict[str, str]:
        """``{segment_id: description}`` for ``{segment_id: JPEG path}``."""
        ...


@runtime_checkable
class TextReader(Protocol):
    """Reads the text lines of a picture (OCR)."""

    def read(self, image) -> list:
        """Text lines of a numpy image (BGR or grey) or an image file; each line has
        ``as_dict()`` → ``{"text", "box": [x, y, w, h], "height", "conf"}``."""
        ...


@runtime_checkable
class Transcriber(Protocol):
    """Speech recognition with word timings, and alignment of a known text to its audio."""

    def transcribe(self, audio_path: Path, language: str = "en") -> list:
        """Recognised words in order; each has ``text``, ``start``, ``end`` (seconds) and
        ``probability``."""
        ...

    def onsets(self, audio_path: Path) -> list[dict]:
        """``[{"word", "start", "end"}]`` heard in ``audio_path`` (an audio file or a video,
        whose first sound track is heard), with onsets as precise as the recogniser can place
        them (the reference caption timing is checked against)."""
        ...

    def align(self, audio_path: Path, text: str) -> list[dict]:
        """Every word of ``text`` with its ``start``/``end`` in ``audio_path`` (seconds)."""
        ...


# --------------------------------------------------------------------------- speech


@dataclass(frozen=True)
class SynthResult:
    """What a speech provider knows about the audio it wrote.

    ``words`` are exact word timings ``[{"word", "start", "end"}]`` in seconds from the start of
    the file, or ``None`` when the provider cannot tell (the voiceover stage then aligns the text
    to the audio, or estimates).
    """

    words: list[dict] | None = None
    aligned: bool = False  # the words come from aligning the text to the audio, not the provider


@runtime_checkable
class SpeechSynthesizer(Protocol):
    """Speaks text with a named voice into a WAV file."""

    name: str
    billed: bool  # paid per character: cached, counted, spoken concurrently
    sample_rate: int  # Hz; the voiceover is normalised to this rate
    model: str
    concurrency: int

    def voice_for(self, requested: str) -> str: ...

    def cache_key(self, text: str, voice: str) -> str: ...

    def synthesize(self, text: str, voice: str, out_wav: Path) -> SynthResult: ...


class FileCache(Protocol):
    """Where billed audio is kept between runs: named files, fetched or stored whole."""

    def fetch(self, name: str, dest: Path) -> bool:
        """Copy the entry ``name`` to ``dest``; ``False`` when there is none."""
        ...

    def store(self, name: str, path: Path) -> None:
        """Keep ``path`` as the entry ``name``."""
        ...


# --------------------------------------------------------------------------- publishing
# (include/stages/publish.py; built in include/pipeline.py)

# What a publish does when the target already has this video but final.mp4 changed
# (include.core.options.ON_REPUBLISH): update_metadata (default, safe): keep the delivered file,
# update title/description/tags/status, thumbnail and captions; replace: deliver the new file,
# then delete the old delivery; new_video: deliver the new file as a new video.


@dataclass(frozen=True)
class PublishOptions:
    """The run's choices a publisher uses, and nothing else of the run's settings."""

    tenant: str = "default"
    privacy: str = "private"
    publish_at: str = ""  # ISO 8601; YouTube makes the private video public then
    made_for_kids: bool = False
    on_republish: str = "update_metadata"

    def __post_init__(self) -> None:
        if self.on_republish not in ON_REPUBLISH:
            raise FatalError(
                f"on_republish {self.on_republish!r} is not one of: {', '.join(ON_REPUBLISH)}."
            )


class Ledger(Protocol):
    """Small JSON documents that outlive a task try (upload sessions, receipts).

    ``put`` must be atomic: a reader sees the old document or the new one, never half of one.
    """

    def get(self, name: str) -> dict | None: ...

    def put(self, name: str, value: dict) -> None: ...


class Publisher(Protocol):
    """Delivers a finished video to one target (``name``) and returns JSON-able receipts."""

    name: str

    def publish(self, final_path: Path, metadata: dict, options: PublishOptions, video_id: str, *,
                ledger: Ledger, sha256: str, thumbnail: Path | None = None,
                captions: Path | None = None, carry: dict | None = None) -> dict:
        """Deliver the file as a new delivery; persist its receipt through ``ledger`` as soon as
        the target confirms (with ``carry``'s fields in it)."""
        ...

    def update(self, prior: dict, metadata: dict, options: PublishOptions, video_id: str, *,
               ledger: Ledger, thumbnail: Path | None = None,
               captions: Path | None = None) -> dict | None:
        """Re-set metadata, thumbnail and captions of the delivery ``prior`` describes, without
        delivering the file again; ``None`` when that delivery no longer exists."""
        ...

    def retire(self, prior: dict) -> str:
        """Remove the delivery ``prior`` describes (after a ``replace``); say what was done."""
        ...
