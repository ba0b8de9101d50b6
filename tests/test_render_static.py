"""Rendering only what changes: frozen spans (analyze's ``frozen_spans``, on the EDL's clips as
``Clip.frozen``) are shown as one held frame instead of being scaled (and, at a clip's end,
decoded) frame by frame; the picture must be the plain path's.

The source is generated: colour bars with a white square that glides across during 0.5-1.5 s
and 4.0-4.6 s and a small 6x6 "pointer" that creeps during 2.2-3.2 s; still otherwise, over a
sine tone. analyze runs on it for real; the EDL is built by hand (two 1x clips, the second held
at its end, with ducked source audio) and gets its frozen spans from edit's own rule.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from include.core.edl import AudioPlan, CaptionTrack, Clip, Edl, Narration, Output, Source
from include.core.media import ffprobe
from include.stages import analyze, caption_track, edit, render, render_chunks
from tests import conftest

W, H, FPS = 640, 360, 30
SECONDS = 6.0
SQUARE = "if(between(t,0.5,1.5),40+(t-0.5)*400,if(lt(t,0.5),40,if(lt(t,4),440,"\
         "if(lt(t,4.6),440-(t-4)*500,140))))"
POINTER = (2.2, 3.2)  # the pointer creeps 2 px a frame from x=300 to x=360 at y=40
CAPTION = {"start": 0.4, "end": 5.6, "text": "Nothing moves here",
           "words": [{"word": w, "start": 0.4 + 1.3 * i, "end": 1.7 + 1.3 * i}
                     for i, w in enumerate("Nothing moves here now".split())]}
# the EDL: clip 0 = source 0-3.4, clip 1 = source 3.4-6.0 then held 1 s
OUT = SECONDS + 1.0


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("static_media")
    source = folder / "screen.mp4"
    pointer_x = f"if(between(t,{POINTER[0]},{POINTER[1]}),300+(t-{POINTER[0]})*60,"\
                f"if(lt(t,{POINTER[0]}),300,360))"
    run(["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"smptehdbars=size={W}x{H}:rate={FPS}:duration={SECONDS}",
         "-f", "lavfi", "-i", f"color=c=white:size=60x60:rate={FPS}:duration={SECONDS}",
         "-f", "lavfi", "-i", f"color=c=black:size=6x6:rate={FPS}:duration={SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
         "-filter_complex",
         f"[0:v][1:v]overlay=x='{SQUARE}':y=150[a];[a][2:v]overlay=x='{pointer_x}':y=40[v]",
         "-map", "[v]", "-map", "3:a", "-c:v", "libx264", "-g", "300", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(source)])
    voice = folder / "voiceover.wav"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=220:sample_rate=22050:duration={OUT - 0.5}",
         "-ac", "1", "-c:a", "pcm_s16le", str(voice)])
    captions = folder / "captions.ass"
    caption_track.write_ass([CAPTION], captions, "karaoke", W, H)
    analyze.run(source, folder / "analyze")
    import json

    analysis = json.loads((folder / "analyze" / "segments.json").read_text())
    return {"folder": folder, "source": source, "voice": voice, "captions": captions,
            "analysis": analysis}


def base_edl() -> Edl:
    clips = (Clip("s0", 0.0, 3.4, 1.0, 0.0, 0.0, 3.4),
             Clip("s1", 3.4, SECONDS, 1.0, 1.0, 3.4, OUT))
    return Edl(
        sync_mode="pad",
        output=Output(W, H, FPS, OUT),
        source=Source(SECONDS, True, W, H),
        clips=clips,
        narration=(Narration("s0", 0.0, OUT - 0.5, 0.0, OUT - 0.5),),
        audio=AudioPlan(voiceover="voiceover.wav", original="duck"),
        captions=CaptionTrack(file="captions.ass", events=(CAPTION,)),
    )


def files(media) -> dict[str, Path]:
    return {"captions.ass": media["captions"], "voiceover.wav": media["voice"]}


def render_edl(media, edl: Edl, name: str, frame_rate: str = "constant", **encode) -> Path:
    """The EDL rendered; at a constant frame rate unless asked (the held-frame tests compare
    frame by frame; the variable rate has its own tests below)."""
    folder = media["folder"] / name
    folder.mkdir()
    edl.write(folder / "edl.json")
    render.run(media["source"], folder / "edl.json", folder / "out", files=files(media),
               frame_rate=frame_rate, **encode)
    return folder / "out" / "final.mp4"


@pytest.fixture(scope="module")
def frozen_edl(media) -> Edl:
    edl = base_edl()
    return replace(edl, clips=tuple(edit._with_frozen(list(edl.clips), media["analysis"])))


@pytest.fixture(scope="module")
def renders(media, frozen_edl) -> dict:
    return {"frozen": render_edl(media, frozen_edl, "frozen"),
            "plain": render_edl(media, base_edl(), "plain")}


def gray_frames(path: Path) -> np.ndarray:
    return conftest.gray_frames(path, W, H)


def audio_samples(path: Path) -> np.ndarray:
    return conftest.audio_samples(path)


def ssim_per_frame(a: Path, b: Path, stats: Path) -> list[float]:
    run(["ffmpeg", "-v", "error", "-i", str(a), "-i", str(b), "-lavfi",
         f"[0:v][1:v]ssim=stats_file={stats}", "-f", "null", "-"])
    return [float(m) for m in re.findall(r"All:([0-9.]+)", stats.read_text())]


def frame_count(path: Path) -> int:
    video = next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")
    return int(video["nb_frames"])


# ------------------------------------------------------------------------------ the analysis


def test_analyze_finds_the_frozen_spans_and_not_the_motion(media):
    frozen = media["analysis"]["frozen_spans"]
    assert frozen, "the still stretches of the source are not found"
    moving = [(0.5, 1.5), POINTER, (4.0, 4.6)]
    for a, b in frozen:
        for m0, m1 in moving:  # no frozen span overlaps a stretch where something moves
            assert b <= m0 + 1 / FPS + 1e-6 or a >= m1 - 1 / FPS - 1e-6, (a, b, m0, m1)
    covered = sum(b - a for a, b in frozen)
    assert covered >= 2.5, frozen  # 0-0.5, 1.5-2.2, 3.2-4.0, 4.6-6.0 are still


def test_the_edl_carries_frozen_spans_with_a_margin_and_old_files_load(media, frozen_edl,
                                                                      tmp_path):
    spans = [s for c in frozen_edl.clips for s in c.frozen]
    assert spans
    for (a, b), clip in ((s, c) for c in frozen_edl.clips for s in c.frozen):
        assert clip.src_start <= a < b <= clip.src_end
        # a margin inside analyze's span at each end where something moves (not at the
        # source's own start or end)
        assert any((fa + edit.FROZEN_MARGIN - 1e-6 <= a or fa == 0.0)
                   and (b <= fb - edit.FROZEN_MARGIN + 1e-6 or fb >= SECONDS - 1e-3)
                   and fa <= a and b <= fb
                   for fa, fb in media["analysis"]["frozen_spans"])
    frozen_edl.write(tmp_path / "edl.json")
    assert Edl.load(tmp_path / "edl.json") == frozen_edl
    old = frozen_edl.as_dict()
    for clip in old["clips"]:
        del clip["frozen"]  # an edl.json from before frozen spans
    assert Edl.from_dict(old).clips == base_edl().clips


def test_frozen_spans_are_held_not_scaled_frame_by_frame(frozen_edl):
    pieces = render.video_clips(frozen_edl)
    assert [p.frames for p in pieces] == [c.frames for c in render._timed_clips(
        frozen_edl.clips, FPS)]
    held = sum(b - a + 1 for p in pieces for a, b in p.held)
    tail = sum(p.hold * FPS for p in pieces) - FPS * 1.0  # beyond the EDL's own 1 s hold
    assert held + tail >= 1.5 * FPS, (pieces, held, tail)
    assert pieces[-1].src_end < SECONDS  # the last clip ends frozen: not decoded to its end


# ------------------------------------------------------------------ same frames as the plain path


def test_same_frame_count_duration_and_frames_as_the_plain_path(renders, tmp_path):
    n = round(OUT * FPS)
    assert frame_count(renders["frozen"]) == frame_count(renders["plain"]) == n
    durations = [float(ffprobe(p)["format"]["duration"]) for p in renders.values()]
    assert abs(durations[0] - durations[1]) < 1e-3 and abs(durations[0] - OUT) < 0.05
    ssim = ssim_per_frame(renders["frozen"], renders["plain"], tmp_path / "ssim.log")
    assert len(ssim) == n
    assert np.mean(ssim) >= 0.99 and min(ssim) >= 0.99, (np.mean(ssim), min(ssim))


def test_span_boundaries_match_the_plain_path(renders, frozen_edl, tmp_path):
    ssim = ssim_per_frame(renders["frozen"], renders["plain"], tmp_path / "ssim.log")
    for clip in render.video_clips(frozen_edl):
        base = round(clip.out_start * FPS)
        for a, b in clip.held:
            for edge in (base + a, base + b):  # the first held frame and the last
                around = ssim[max(0, edge - 4): edge + 5]
                assert min(around) >= 0.99, (edge, around)


def test_audio_is_unchanged(renders):
    frozen, plain = (audio_samples(renders[k]) for k in ("frozen", "plain"))
    assert len(frozen) == len(plain)
    assert np.max(np.abs(frozen - plain)) < 1e-4


def test_motion_inside_a_changing_span_still_moves(renders):
    """The pointer creeps during 2.2-3.2 s (analyze marks it changing): it must move in the
    output as in the plain path, frame by frame. Freezing that span fails this test."""
    frames = gray_frames(renders["frozen"])
    plain = gray_frames(renders["plain"])
    band = (slice(30, 56), slice(290, 380))  # the pointer's row
    steps = [k for k in range(round(2.3 * FPS), round(3.1 * FPS))
             if np.abs(frames[k][band].astype(int) - frames[k - 1][band]).max() > 40]
    assert len(steps) >= 20, steps  # it moves on (nearly) every frame
    assert np.abs(frames[75][band].astype(int) - plain[75][band]).max() <= 30


def test_freezing_a_moving_span_would_be_caught(media, tmp_path):
    """The check above is not vacuous: the same EDL with the pointer's span forced frozen
    renders a pointer that does not move."""
    edl = base_edl()
    forced = replace(edl, clips=(replace(edl.clips[0], frozen=((1.6, 3.35),)), edl.clips[1]))
    frames = gray_frames(render_edl(media, forced, "forced"))
    band = (slice(30, 56), slice(290, 380))
    steps = [k for k in range(round(2.3 * FPS), round(3.1 * FPS))
             if np.abs(frames[k][band].astype(int) - frames[k - 1][band]).max() > 40]
    assert len(steps) <= 1, steps


# ------------------------------------------------------------------------ the chunked render


def test_chunks_cut_inside_frozen_spans_give_the_single_pass_frames(media, frozen_edl,
                                                                    renders, tmp_path):
    pieces = render.video_clips(frozen_edl)
    cuts = []
    for clip in pieces:  # cut in the middle of every held range and of the final hold
        base = round(clip.out_start * FPS)
        cuts += [base + (a + b) // 2 for a, b in clip.held]
    cuts.append(round(OUT * FPS) - 15)
    edges = [0, *sorted(set(cuts)), round(OUT * FPS)]
    chunks = [{"index": k, "start": a / FPS, "end": b / FPS, "start_frame": a, "end_frame": b}
              for k, (a, b) in enumerate(zip(edges, edges[1:]))]
    assert len(chunks) >= 3
    frozen_edl.write(tmp_path / "edl.json")
    parts = [render_chunks.render_chunk(media["source"], tmp_path / "edl.json",
                                        tmp_path / "chunks", c, files=files(media),
                                        frame_rate="constant")
             for c in chunks]
    render_chunks.join(media["source"], tmp_path / "edl.json",
                       [tmp_path / "chunks" / p["file"] for p in parts], tmp_path / "joined",
                       files=files(media))
    joined = tmp_path / "joined" / "final.mp4"
    assert frame_count(joined) == round(OUT * FPS)
    ssim = ssim_per_frame(joined, renders["frozen"], tmp_path / "ssim.log")
    assert min(ssim) >= 0.99, min(ssim)
    for edge in edges[1:-1]:
        assert min(ssim[edge - 3: edge + 3]) >= 0.99


# ------------------------------------------------------------- variable frame rate (the default)
# Losslessly encoded (x264 CRF 0) so that a frame the variable-rate render shows is bit for bit
# the frame the constant-rate render shows: any frame left out that should have been encoded (a
# caption's next karaoke word, the end of a hold) is a difference.


def framemd5(path: Path, fps: int | None = None) -> list[str]:
    """The md5 of every frame of ``path``'s picture; with ``fps``, as shown at that rate."""
    rate = ["-vf", f"fps={fps}"] if fps else []
    out = run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", *rate, "-f", "framemd5",
               "-"]).stdout.decode()
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines()
            if line and not line.startswith("#")]


def video_duration(path: Path) -> float:
    return float(next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")
                 ["duration"])


@pytest.fixture(scope="module")
def lossless(media, frozen_edl) -> dict:
    encode = {"crf": 0, "preset": "ultrafast"}
    return {mode: render_edl(media, frozen_edl, f"lossless-{mode}", mode, **encode)
            for mode in ("variable", "constant")}


def test_variable_rate_shows_every_frame_of_the_constant_rate(lossless):
    constant = framemd5(lossless["constant"])
    shown = framemd5(lossless["variable"], FPS)
    assert len(constant) == round(OUT * FPS)
    assert shown == constant
    assert abs(video_duration(lossless["variable"]) - video_duration(lossless["constant"])) < 1e-3


def test_variable_rate_stores_only_what_changes(lossless, frozen_edl):
    stored = frame_count(lossless["variable"])
    pieces = render.video_clips(frozen_edl)
    held = sum(b - a + 1 for p in pieces for a, b in p.held) + sum(
        round(p.hold * FPS) for p in pieces)
    # the held frames and holds are left out but for the caption changes and one a second
    assert stored <= round(OUT * FPS) - held // 2, (stored, held)
    # what is stored: every frame that differs from the one before it
    constant = framemd5(lossless["constant"])
    changes = 1 + sum(a != b for a, b in zip(constant, constant[1:]))
    assert changes <= stored


def test_the_karaoke_words_light_up_inside_held_frames(lossless, frozen_edl):
    """Not vacuous: the caption changes during held frames (its words light up one by one), so
    the check above fails if the render leaves out a frame where a word lights up."""
    constant = framemd5(lossless["constant"])
    pieces = render.video_clips(frozen_edl)
    held = {round(p.out_start * FPS) + k for p in pieces for a, b in p.held
            for k in range(a, b + 1)}
    held |= {round(p.out_start * FPS) + k for p in pieces
             for k in range(p.frames - round(p.hold * FPS), p.frames)}
    lit = [k for k in held if constant[k] != constant[k - 1]]
    assert lit, "no caption change falls on a held frame"


def test_variable_rate_chunks_join_to_the_single_pass(media, frozen_edl, lossless, tmp_path):
    n = round(OUT * FPS)
    edges = [0, n // 3, n // 2 + 7, n]
    chunks = [{"index": k, "start": a / FPS, "end": b / FPS, "start_frame": a, "end_frame": b}
              for k, (a, b) in enumerate(zip(edges, edges[1:]))]
    frozen_edl.write(tmp_path / "edl.json")
    joined = {}
    for mode in ("variable", "constant"):
        parts = [render_chunks.render_chunk(media["source"], tmp_path / "edl.json",
                                            tmp_path / mode, c, files=files(media), crf=0,
                                            preset="ultrafast", frame_rate=mode)
                 for c in chunks]
        render_chunks.join(media["source"], tmp_path / "edl.json",
                           [tmp_path / mode / p["file"] for p in parts], tmp_path / f"{mode}-out",
                           files=files(media))
        joined[mode] = tmp_path / f"{mode}-out" / "final.mp4"
    # a chunk that starts inside held frames decodes its first frame where the single pass
    # repeats an earlier one (the same picture within the source's coding noise: the SSIM test
    # of the chunks above), so the variable-rate chunks are compared with the constant-rate
    # chunks of the same plan
    shown = framemd5(joined["variable"], FPS)
    assert len(shown) == n and shown == framemd5(joined["constant"])
    assert frame_count(joined["variable"]) < n
    assert abs(video_duration(joined["variable"]) - OUT) < 1e-3
