"""Loudness planning: measure the voice, fit a gain through the limiter, stay under the ceiling."""

from __future__ import annotations

import subprocess

import pytest

from include.stages import loudness


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Quiet, peaky espeak-ng speech (mono 22.05 kHz) about -25 LUFS."""
    folder = tmp_path_factory.mktemp("loudness")
    raw, quiet = folder / "raw.wav", folder / "quiet.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw),
                    "Measure first, then limit, then normalise. Peaky speech is hard."], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(raw), "-af", "volume=-6dB", "-ar", "22050",
                    "-ac", "1", str(quiet)], check=True)
    return quiet


def test_the_planned_voice_measures_the_target_under_the_ceiling(speech):
    plan = loudness.plan_voice(speech)
    assert plan.measured.integrated < -20 and plan.gain_db > 5
    assert abs(plan.result.integrated - loudness.TARGET_LUFS) <= loudness.TOLERANCE_LU
    chain = f"{loudness.stereo_chain()},{loudness.gain_filters(plan.gain_db, plan.ceiling_db)}"
    rendered = loudness.measure(speech, chain)
    assert abs(rendered.integrated - loudness.TARGET_LUFS) <= loudness.TOLERANCE_LU
    assert rendered.true_peak <= -1.5, "the limiter leaves headroom under -1 dBTP"


def test_fit_gain_corrects_for_what_the_limiter_takes_off():
    calls = []

    def limited(gain: float) -> loudness.Measurement:  # loses a third of every dB above -20
        calls.append(gain)
        level = -30.0 + gain
        return loudness.Measurement(level - max(0.0, level + 20) / 3, None)

    gain, result = loudness.fit_gain(limited, 16.0)
    assert abs(result.integrated - loudness.TARGET_LUFS) <= loudness.TOLERANCE_LU
    assert len(calls) <= loudness.MAX_PASSES and gain > 16.0


def test_a_silent_voice_gets_no_gain(tmp_path):
    silent = tmp_path / "silent.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono",
                    "-t", "2", str(silent)], check=True)
    plan = loudness.plan_voice(silent)
    assert plan.gain_db == 0.0 and not plan.measured.audible
    assert loudness.bed_gain(silent) == 0.0
