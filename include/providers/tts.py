"""Text-to-speech providers: speak one text into one WAV file.

A provider is a :class:`TTS` subclass registered in :data:`TTS_PROVIDERS`. Providers that need
an SDK or a service (ElevenLabs, OpenAI, …) import it inside :meth:`TTS.synthesize` and report
from :meth:`TTS.available` whether it is installed, so adding one is one class plus one registry
line. The voiceover stage normalises whatever WAV a provider writes to mono 16-bit PCM at the
provider's ``sample_rate``.
"""

from __future__ import annotations

import functools
import re
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from include.stages import media
from include.stages.errors import FatalError


@dataclass(frozen=True)
class SynthResult:
    """What a provider knows about the audio it wrote.

    ``words`` are exact word timings ``[{"word", "start", "end"}]`` in seconds from the start of
    the file, or ``None`` when the provider cannot tell (the voiceover stage then estimates them).
    """

    words: list[dict] | None = None


class TTS(ABC):
    """Speaks text with a named voice."""

    name: ClassVar[str]
    sample_rate: ClassVar[int]  # Hz; the voiceover is normalised to this rate
    requirement: ClassVar[str] = ""  # what :meth:`available` checks, for error messages

    @classmethod
    def available(cls) -> bool:
        """Whether the provider's dependencies are installed (without importing them)."""
        return True

    @abstractmethod
    def synthesize(self, text: str, voice: str, out_wav: Path) -> SynthResult:
        """Speak non-empty ``text`` with ``voice`` into the WAV file ``out_wav``.

        An unknown voice is a FatalError; a busy or flaky service is a RetryableError.
        """


class EspeakTTS(TTS):
    """The local espeak-ng synthesiser (22050 Hz mono 16-bit, no word timings)."""

    name = "espeak"
    sample_rate = 22050
    requirement = "the espeak-ng binary (apt-get install espeak-ng)"
    binary = "espeak-ng"
    words_per_minute = 160
    timeout = 300.0

    @classmethod
    def available(cls) -> bool:
        return shutil.which(cls.binary) is not None

    def synthesize(self, text: str, voice: str, out_wav: Path) -> SynthResult:
        self.check_voice(voice)
        # The text goes through stdin, never through a shell or the argument list.
        media.run(
            [
                self.binary,
                "-v",
                voice,
                "-s",
                str(self.words_per_minute),
                "-b",
                "1",  # UTF-8 input
                "-w",
                str(out_wav),
                "--stdin",
            ],
            input=text.encode("utf-8"),
            timeout=self.timeout,
            what=self.binary,
        )
        if not Path(out_wav).is_file():
            raise FatalError(f"{self.binary} wrote no audio for the text {text[:40]!r}.")
        return SynthResult()

    def check_voice(self, voice: str) -> None:
        """FatalError unless ``voice`` (before any ``+variant``) is an installed espeak-ng voice."""
        base = voice.split("+", 1)[0].lower()
        if base not in espeak_voices(self.binary):
            raise FatalError(
                f"unknown espeak-ng voice {voice!r}; pick one from 'espeak-ng --voices' "
                "(for example en-us, en, de)."
            )


_OTHER_LANGUAGE = re.compile(r"\(([^\s()]+) \d+\)")


@functools.cache
def espeak_voices(binary: str) -> frozenset[str]:
    """Every name espeak-ng accepts for ``-v`` (languages, voice names, files), lower-case.

    Asks ``<binary> --voices`` once per process.
    """
    listing = media.run([binary, "--voices"], timeout=30, what=binary).stdout.decode(
        "utf-8", "replace"
    )
    names: set[str] = set()
    for line in listing.splitlines()[1:]:  # skip the header row
        columns = line.split()
        if len(columns) < 5:
            continue
        _priority, language, _age_gender, voice_name, voice_file, *others = columns
        names.update(name.lower() for name in (language, voice_name, voice_file))
        names.update(name.lower() for name in _OTHER_LANGUAGE.findall(" ".join(others)))
    return frozenset(names)


TTS_PROVIDERS: dict[str, type[TTS]] = {
    EspeakTTS.name: EspeakTTS,
}

AVAILABLE_TTS: dict[str, type[TTS]] = {
    name: cls for name, cls in TTS_PROVIDERS.items() if cls.available()
}


def get_tts(name: str) -> TTS:
    """The TTS provider registered as ``name``; unknown or not installed is a FatalError."""
    cls = TTS_PROVIDERS.get(name)
    if cls is None:
        raise FatalError(
            f"unknown TTS provider {name!r}; choose one of: {', '.join(sorted(TTS_PROVIDERS))}."
        )
    if not cls.available():
        raise FatalError(
            f"TTS provider {name!r} is not available on this worker: it needs {cls.requirement}."
        )
    return cls()
