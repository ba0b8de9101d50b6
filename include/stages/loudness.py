"""Loudness planning for the render: measure the small voiceover first, fix the gains in the pass.

The render must stay one ffmpeg pass, and single-pass ``loudnorm`` falls back to dynamic mode on
peaky speech (it lands well short of the target). So the voice is measured on its own — a few
milliseconds of work per minute of speech — through exactly the chain the render will apply
(48 kHz stereo, a gain, a look-ahead limiter), and the gain is corrected until the limited voice
measures -14 LUFS integrated. The render then applies that gain and limiter as plain filters.
When the source's audio is ducked under the voice, the render measures its audio graph alone
(no video: cheap) the same way and corrects the gain of the mix.

The limiter's ceiling is a sample peak below -1 dBTP, leaving room for inter-sample peaks and
the AAC encoder's overshoot, so the final file's true peak stays at or under -1 dBTP.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from include.core import media
from include.core.errors import FatalError

TARGET_LUFS = -14.0
CEILING_DBFS = -2.0  # the limiter's sample-peak ceiling
TOLERANCE_LU = 0.2  # stop correcting once the limited voice measures this close to the target
MAX_PASSES = 4
AUDIO_RATE = 48000
BED_BELOW_VOICE_LU = 12.0  # a ducked original sits this far under the voice before ducking
SILENCE_LUFS = -70.0  # ebur128's absolute gate: what it reports for silence

_INTEGRATED = re.compile(r"I:\s+(-?inf|-?[0-9.]+) LUFS")
_TRUE_PEAK = re.compile(r"Peak:\s+(-?inf|-?[0-9.]+) dBFS")


@dataclass(frozen=True)
class Measurement:
    integrated: float  # LUFS (-70 for silence: nothing passed the absolute gate)
    true_peak: float | None  # dBTP; None when not measured

    @property
    def audible(self) -> bool:
        return self.integrated > SILENCE_LUFS


@dataclass(frozen=True)
class VoicePlan:
    """Gain (dB) and limiter ceiling (dBFS) that bring the voice to the target loudness."""

    gain_db: float
    ceiling_db: float
    measured: Measurement  # the voice as it comes, before the gain
    result: Measurement  # the voice after gain and limiter

    def to_dict(self) -> dict:
        return asdict(self)


def stereo_chain() -> str:
    """Filters every track passes before loudness: 48 kHz, stereo (as the render mixes it)."""
    return f"aresample={AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"


def limiter(ceiling_db: float = CEILING_DBFS) -> str:
    """A look-ahead limiter at ``ceiling_db`` without auto-levelling (it must not change loudness
    by itself), with its delay compensated so the voice stays in sync with the picture."""
    return (
        f"alimiter=limit={10 ** (ceiling_db / 20):.5f}:attack=5:release=50"
        ":level=disabled:latency=enabled"
    )


def gain_filters(gain_db: float, ceiling_db: float = CEILING_DBFS) -> str:
    """A fixed gain, then the limiter: the loudness filters the render applies."""
    return f"volume={gain_db:.2f}dB,{limiter(ceiling_db)}"


def measure(path: Path, filters: str = "", *, true_peak: bool = True,
            formats: str = media.MUSIC_FORMATS) -> Measurement:
    """Integrated loudness and true peak of ``path``'s first audio track after ``filters``.

    Without ``true_peak`` (which oversamples 4x: about half the cost) only the loudness is taken.
    ``formats``: the demuxers ``path`` may be opened with (the voice: ``media.VOICE_FORMATS``).
    """
    meter = "ebur128=peak=true" if true_peak else "ebur128"
    chain = ",".join(part for part in (filters, meter) if part)
    return measure_command(
        [media.FFMPEG, "-hide_banner", "-nostdin", "-nostats",
         *media.user_input_args(path, formats), "-vn",
         "-map", "0:a:0", "-af", chain, "-f", "null", "-"]
    )


def measure_command(cmd: list[str]) -> Measurement:
    """Run an ffmpeg command whose audio ends in ``ebur128`` (``peak=true`` for the true peak);
    parse its summary."""
    proc = media.run_tool(cmd, timeout=600, what="ffmpeg (loudness measurement)")
    text = proc.stderr.decode("utf-8", "replace")
    summary = text[text.rfind("Summary:"):]
    integrated, peak = _INTEGRATED.search(summary), _TRUE_PEAK.search(summary)
    if not integrated:
        raise FatalError("could not measure the loudness of the audio.")
    level = float(integrated[1])  # "-inf" for digital silence
    top = float(peak[1]) if peak else None
    return Measurement(SILENCE_LUFS if math.isnan(level) else max(level, SILENCE_LUFS),
                       top if top is not None and math.isfinite(top) else None)


def fit_gain(measure_with: Callable[[float], Measurement], gain: float,
             target: float = TARGET_LUFS) -> tuple[float, Measurement]:
    """Correct ``gain`` (dB) until ``measure_with(gain)`` is within 0.2 LU of ``target``.

    ``measure_with`` measures the limited signal. The limiter takes a share of every gain step
    off the peaks, so adding the deficit converges slowly (a 10-minute voice: -15.3, -14.6,
    -14.3, -14.2 LUFS, four passes of 1.3 s); from the second pass on the step is the deficit
    over the measured slope (a secant step), which lands in one more. Returns the last gain
    measured and its measurement.
    """
    previous: tuple[float, float] | None = None
    for attempt in range(MAX_PASSES):
        gain = round(gain, 2)
        result = measure_with(gain)
        if not result.audible or abs(result.integrated - target) <= TOLERANCE_LU:
            break
        if attempt == MAX_PASSES - 1:
            break  # no pass left to measure another gain
        step = target - result.integrated
        if previous is not None and gain != previous[0]:
            slope = (result.integrated - previous[1]) / (gain - previous[0])
            if 0.2 <= slope <= 1.5:  # a limiter's bend, not noise
                step /= slope
        previous = (gain, result.integrated)
        gain += step
    return gain, result


def plan_voice(voice_path: Path, target: float = TARGET_LUFS,
               ceiling_db: float = CEILING_DBFS) -> VoicePlan:
    """Measure the voice, then fit the gain through the limiter until it hits ``target``.

    Only the first measurement takes the true peak (the limiter bounds it afterwards). A silent
    voiceover gets no gain.
    """
    base = stereo_chain()
    measured = measure(voice_path, base, formats=media.VOICE_FORMATS)
    if not measured.audible:
        return VoicePlan(0.0, ceiling_db, measured, measured)
    gain, result = fit_gain(
        lambda g: measure(voice_path, f"{base},{gain_filters(g, ceiling_db)}", true_peak=False,
                          formats=media.VOICE_FORMATS),
        target - measured.integrated, target,
    )
    return VoicePlan(gain, ceiling_db, measured, result)


def bed_gain(source_path: Path, target: float = TARGET_LUFS) -> float:
    """Gain (dB) that puts the source's own audio ``BED_BELOW_VOICE_LU`` under the voice target
    (0 dB for a silent track)."""
    level = measure(source_path, stereo_chain(), true_peak=False)
    if not level.audible:
        return 0.0
    return round(target - BED_BELOW_VOICE_LU - level.integrated, 2)
