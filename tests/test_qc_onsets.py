"""QC's caption onsets on narration that repeats: a caption word is measured against the same word
heard near it, never against its repetition one loop earlier or later.

The inputs are word timings as the recogniser reports them (no audio): the same sentences said
every ``period`` seconds, heard with a few tens of milliseconds of jitter, some words misheard
and some not heard at all — a looped screen recording's narration. Pure, fast, no model.
"""

from __future__ import annotations

import random
import statistics

import pytest

from include.stages import qc

LINES = [
    "This is the Ledgerly dashboard with revenue and open invoices.",
    "Here are all our invoices, newest first.",
    "A new invoice for Globex Corporation.",
    "The customer list scrolls to the last one.",
    "Reports compare this month with the last one.",
]
WORD_SECONDS = 0.35


def looped(period: float, loops: int, *, shift: float = 0.0, seed: int = 1, missed: float = 0.05,
           misheard: float = 0.05) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """``(captions, heard)``: the LINES spread over ``period`` s, said ``loops`` times; captions
    ``shift`` s after the sound."""
    rnd = random.Random(seed)
    captions, heard = [], []
    for loop in range(loops):
        for i, line in enumerate(LINES):
            t = loop * period + i * period / len(LINES) + 0.5
            for word in line.split():
                captions.append((word, round(t + shift, 3)))
                r = rnd.random()
                if r >= missed:
                    said = "uh" if r < missed + misheard else word.lower().strip(".,")
                    heard.append((said, round(t + rnd.uniform(-0.03, 0.03), 3)))
                t += WORD_SECONDS
    return captions, heard


def test_a_looped_narration_in_sync_measures_near_zero():
    # the 10-minute bench case: a 40 s tour narrated 15 times
    captions, heard = looped(40.0, 15)
    errors = qc.onset_errors(captions, heard)
    median, p90 = qc._percentiles(errors)
    assert median <= 30 and p90 <= 40, (median, p90)
    assert len(errors) >= 0.85 * len(captions)  # nearly every heard word is paired


@pytest.mark.parametrize("shift", [0.4, -0.25, 1.5])
def test_a_looped_narration_shifted_measures_the_shift(shift):
    captions, heard = looped(40.0, 15, shift=shift)
    errors = qc.onset_errors(captions, heard)
    assert statistics.median(errors) == pytest.approx(shift * 1000, abs=30)
    assert len(errors) >= 0.85 * len(captions)


def test_a_sentence_said_every_few_seconds_is_paired_with_its_own_saying():
    # the same sentence every 4 s: its repetitions are 4 s away, outside the 3 s window
    sentence = "Open the invoices page".split()
    captions, heard = [], []
    for k in range(30):
        for n, word in enumerate(sentence):
            t = 4.0 * k + 0.3 * n
            captions.append((word, t + 0.2))
            heard.append((word.lower(), t))
    errors = qc.onset_errors(captions, heard)
    assert len(errors) == len(captions)
    assert all(e == pytest.approx(200, abs=1) for e in errors), errors


def test_same_word_nearby_pairs_with_the_nearest():
    # "the" twice within the window: each caption goes to its own, not to the other
    captions = [("the", 1.0), ("invoice", 1.3), ("the", 2.0), ("report", 2.3)]
    heard = [("the", 1.05), ("invoice", 1.35), ("the", 2.05), ("report", 2.35)]
    assert qc.onset_errors(captions, heard) == pytest.approx([-50, -50, -50, -50])
    # the first "the" not heard: the second caption "the" still pairs with the heard one near it
    assert qc.onset_errors(captions, heard[1:]) == pytest.approx([-50, -50, -50])


def test_captions_far_from_their_sound_fail_rather_than_go_unmeasured():
    # every caption 6 s after its word: nothing within the window, but the words were heard
    captions, heard = looped(40.0, 2, shift=6.0, missed=0.0, misheard=0.0)
    words = qc._words_check(captions, heard)
    assert words["status"] == "pass"
    check = qc._onsets_check(captions, heard, words)
    assert check["status"] == "fail", check
    assert "within 3 s" in check["message"]
    # without the words heard, there is nothing to say about timing
    assert qc._onsets_check(captions, [], {"status": "fail"})["status"] == "skip"


def test_onsets_check_on_a_looped_narration_passes():
    captions, heard = looped(40.0, 15, seed=3)
    check = qc._onsets_check(captions, heard, qc._words_check(captions, heard))
    assert check["status"] == "pass", check["message"]
    assert abs(check["mean_signed_ms"]) <= 10


def test_a_handful_of_words_warns_on_recogniser_jitter_but_fails_a_shifted_track():
    """"Welcome to the studio test." as Piper times it and tiny.en hears it: five words, each
    ±0.2 s off where the recogniser puts its boundaries, say nothing certain about sync (warn);
    the same five words half a second late are out of sync (fail)."""
    captions = [("Welcome", 2.558), ("to", 2.964), ("the", 3.092), ("studio", 3.208),
                ("test.", 3.847)]
    heard = [("welcome", 2.56), ("to", 2.77), ("the", 3.07), ("studio", 3.39), ("test", 3.61)]
    check = qc._onsets_check(captions, heard)
    assert check["status"] == "warn" and "too few to judge" in check["message"], check
    late = [(w, t + 0.5) for w, t in captions]
    assert qc._onsets_check(late, heard)["status"] == "fail"
    # over enough words the same jitter is judged, not waved through
    many_caps, many_heard = looped(40.0, 1, shift=0.2)
    assert qc._onsets_check(many_caps, many_heard)["status"] == "fail"


def test_a_video_without_captions_skips_the_timing_check():
    """A source with nothing to narrate (camera-like test footage, no text, no speech) gives a
    silent video without captions: QC skipped the check instead of crashing on no onsets."""
    from include.stages import qc

    check = qc._onsets_check([], [("music", 1.0)], {"status": "pass"})
    assert check["status"] == "skip" and check["words"] == 0
