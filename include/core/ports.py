"""What stages need from providers, as Protocols: stages are written against these, providers
implement them, and the Airflow layer (``include/pipeline.py``) builds the concrete objects from
Connections, Variables and the run's params and hands them to the stages.

Nothing here imports a provider, an SDK or Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

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
