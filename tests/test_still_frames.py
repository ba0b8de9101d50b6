"""Which final frames a variable-rate render leaves out (include/stages/still_frames.py): the
settled part of a card, a lower third at rest over held footage, never the frames before a kept
one that x264's decode times need."""

from __future__ import annotations

from include.core.edl import Edl
from include.stages import animate, render, still_frames
from tests.fakes.edl import clip, edl_document

FPS = 30


def _edl(overlay_start: float | None = None) -> Edl:
    """An intro (0-2.5 s), 2 s of footage held 4 s (2.5-8.5 s), an outro (8.5-11.5 s); with
    ``overlay_start`` a lower third over the hold."""
    doc = edl_document([clip("s01", 0.0, 2.0, animate.INTRO_SECONDS, hold=4.0)])
    end = doc["clips"][0]["out_end"]
    doc["output"]["duration"] = end + animate.OUTRO_SECONDS
    doc["cards"] = [
        {"kind": "intro", "file": "intro.mp4", "out_start": 0.0,
         "out_end": animate.INTRO_SECONDS, "title": "Intro"},
        {"kind": "outro", "file": "outro.mp4", "out_start": end,
         "out_end": end + animate.OUTRO_SECONDS, "title": "Thanks"},
    ]
    if overlay_start is not None:
        doc["overlays"] = [{
            "kind": "lower_third", "file": "lt.mov", "segment_id": "s01",
            "out_start": overlay_start, "out_end": overlay_start + animate.LOWER_THIRD_SECONDS,
            "x": 78, "y": 436, "width": 512, "height": 108, "title": "Section"}]
    return Edl.from_dict(doc)


def _left_out(edl: Edl) -> set[int]:
    ranges = still_frames.repeated(edl, render.video_clips(edl), None)
    return {f for a, b in ranges for f in range(a, b + 1)}


def test_a_settled_card_is_left_out_and_its_animation_is_not():
    edl = _edl()
    out = _left_out(edl)
    # the intro's frames up to its first still one (at 1.05 s) are encoded; after it, all but
    # the one a second (2 s) and the two before it and before the footage (at 2.5 s)
    assert not out & set(range(0, 33)), "the intro's animation is encoded"
    assert set(range(33, 75)) - {58, 59, 60, 73, 74} <= out
    settled = 33
    outro = round(edl.cards[1].out_start * FPS)
    assert not out & set(range(outro, outro + settled)), "the outro's animation is encoded"
    assert len(out & set(range(outro + settled, round(edl.output.duration * FPS)))) > 40


def test_a_lower_third_at_rest_over_held_footage_is_left_out():
    start = 5.0
    with_overlay = _left_out(_edl(start))
    first, rest = round(start * FPS), round((start + animate.LOWER_THIRD_SETTLED) * FPS)
    fade = round((start + animate.LOWER_THIRD_SECONDS - animate.LOWER_THIRD_FADE) * FPS)
    assert not with_overlay & set(range(first, rest + 1)), "its entrance is encoded"
    assert not with_overlay & set(range(fade, round((start + 2.5) * FPS))), "its fade is encoded"
    assert len(with_overlay & set(range(rest + 2, fade - 2))) >= (fade - rest) // 2


def test_the_frames_before_every_kept_frame_after_a_gap_are_kept():
    edl = _edl(5.0)
    total = round(edl.output.duration * FPS)
    out = _left_out(edl)
    assert out, "something is left out"
    for a, b in still_frames.repeated(edl, render.video_clips(edl), None):
        # x264 stamps a frame with the decode time of the frame 2 before it
        assert b + still_frames.DECODE_DELAY + 1 < total
        assert not out & set(range(b + 1, b + 2 + still_frames.DECODE_DELAY))


def test_ffmpeg_takes_the_select_of_hundreds_of_ranges_and_drops_exactly_them():
    """A 10-minute screen recording's 2-minute chunk held a few hundred ranges: as a flat sum
    FFmpeg refused the expression at 100 terms ("Invalid argument", "Cannot allocate memory";
    the e2e bench's chunked render failed on it)."""
    import subprocess

    ranges = [(3 * i, 3 * i + 1) for i in range(400)]
    graph = "null" + still_frames.select_filter(ranges)
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=d=50:s=32x32:r=30", "-vf", graph,
         "-fps_mode", "vfr", "-f", "framemd5", "-"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    shown = [line for line in done.stdout.splitlines() if line.startswith("0,")]
    assert len(shown) == 1500 - 800
