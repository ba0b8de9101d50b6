"""Chunked render (include/stages/render_chunks.py) against the single pass of the same EDL.

The source is generated: a moving test pattern over a dark caption band, with full-white flash
frames at known times, and a voiceover of beeps at the same times (the EDL plays the footage at
1x from 0, so a flash and its beep land on the same final time). Two EDLs: plain clips cut at
clip boundaries, and one with intro/outro cards, a lower third, a camera move across a join cut
inside a clip; a join inside a clip's hold is rendered from hand-made chunks.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from include.core.edl import (
    AudioPlan,
    CaptionTrack,
    Card,
    Clip,
    Edl,
    Narration,
    Output,
    Overlay,
    Source,
    ZoomMove,
)
from include.core.media import ffprobe
from include.stages import caption_track, render, render_chunks
from tests import conftest

W, H, FPS = 640, 360, 30
SECONDS = 12.0
FLASHES = [1.0, 3.0, 5.5, 269 / FPS, 10.5]  # 3.0 s and frame 269 sit at the plain EDL's joins
BAND = slice(int(H * 0.72), int(H * 0.97))  # the caption band (dark in the source)
CAPTION = {"start": 2.0, "end": 4.4, "text": "Across the join we go",
           "words": [{"word": w, "start": 2.0 + 0.48 * i, "end": 2.48 + 0.48 * i}
                     for i, w in enumerate("Across the join we go".split())]}


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("chunk_media")
    flash = "+".join(f"between(n,{round(t * FPS)},{round(t * FPS)})" for t in FLASHES)
    source = folder / "flash.mp4"
    run(["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={W}x{int(H * 0.7)}:rate={FPS}:duration={SECONDS}",
         "-f", "lavfi", "-i", f"color=c=0x101010:size={W}x{H - int(H * 0.7)}:rate={FPS}:"
         f"duration={SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=48000:duration={SECONDS}",
         "-filter_complex", f"[0:v][1:v]vstack,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:"
         f"enable='{flash}'[v]",
         "-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(source)])
    beeps = "+".join(f"between(t,{t:.4f},{t + 0.1:.4f})" for t in FLASHES)
    voice = folder / "voiceover.wav"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"aevalsrc='0.5*sin(2*PI*1000*t)*({beeps})':s=22050:d={SECONDS}",
         "-ac", "1", "-c:a", "pcm_s16le", str(voice)])
    captions = folder / "captions.ass"
    caption_track.write_ass([CAPTION], captions, "karaoke", W, H)
    card = folder / "intro.mp4"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"color=c=0x2563eb:size={W}x{H}:rate={FPS}:duration=1.5,drawbox=x=iw/4:y=ih/3:w=iw/2:"
         "h=ih/3:color=white:t=fill", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(card)])
    outro = folder / "outro.mp4"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"color=c=0x0f172a:size={W}x{H}:rate={FPS}:duration=1.5", "-c:v", "libx264",
         "-pix_fmt", "yuv420p", str(outro)])
    lower = folder / "lower_third.mov"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"color=c=0xff9900@0.8:size=240x48:rate={FPS}:duration=2,format=rgba",
         "-c:v", "png", str(lower)])
    return {"source": source, "voice": voice, "captions": captions, "intro": card,
            "outro": outro, "lower": lower, "folder": folder}


def plain_edl() -> Edl:
    clips = tuple(Clip(f"s{k}", a, a + 3.0, 1.0, 0.0, a, a + 3.0)
                  for k, a in enumerate((0.0, 3.0, 6.0, 9.0)))
    return Edl(
        sync_mode="fit",
        output=Output(W, H, FPS, SECONDS),
        source=Source(SECONDS, True, W, H),
        clips=clips,
        narration=(Narration("s0", 0.0, SECONDS, 0.0, SECONDS),),
        audio=AudioPlan(voiceover="voiceover.wav"),
        captions=CaptionTrack(file="captions.ass", events=(CAPTION,)),
    )


def graphics_edl() -> Edl:
    """Intro card 0-1, footage 1-11 (one clip 1-8 from source 0-7 with a zoom move 2.5-5.5,
    one 8-11 from source 7-9 held 1 s), a lower third 8.5-10, outro 11-12."""
    zoom = ZoomMove(2.5, 5.5, (160, 90, 320, 180))
    clips = (Clip("s0", 0.0, 7.0, 1.0, 0.0, 1.0, 8.0, (zoom,)),
             Clip("s1", 7.0, 9.0, 1.0, 1.0, 8.0, 11.0))
    return Edl(
        sync_mode="fit",
        output=Output(W, H, FPS, SECONDS),
        source=Source(SECONDS, True, W, H),
        clips=clips,
        narration=(Narration("s0", 0.0, SECONDS, 0.0, SECONDS),),
        audio=AudioPlan(voiceover="voiceover.wav", original="duck"),
        captions=CaptionTrack(file="captions.ass", events=(CAPTION,)),
        cards=(Card("intro", "intro.mp4", 0.0, 1.0), Card("outro", "outro.mp4", 11.0, 12.0)),
        overlays=(Overlay("lower_third", "lower_third.mov", "s1", 8.5, 10.0, 20, 20, 240, 48),),
    )


def files(media) -> dict[str, Path]:
    return {"captions.ass": media["captions"], "voiceover.wav": media["voice"],
            "intro.mp4": media["intro"], "outro.mp4": media["outro"],
            "lower_third.mov": media["lower"]}


def render_both(media, edl: Edl, name: str, chunk_seconds: float) -> dict:
    folder = media["folder"] / name
    folder.mkdir()
    edl.write(folder / "edl.json")
    single = render.run(media["source"], folder / "edl.json", folder / "single",
                        files=files(media))
    chunks = render_chunks.plan(edl, chunk_seconds)
    parts = [render_chunks.render_chunk(media["source"], folder / "edl.json", folder / "chunks",
                                        chunk, files=files(media)) for chunk in chunks]
    joined = render_chunks.join(media["source"], folder / "edl.json",
                                [folder / "chunks" / p["file"] for p in parts],
                                folder / "joined", files=files(media))
    return {"chunks": chunks, "parts": parts, "single": single, "joined": joined,
            "single_mp4": folder / "single" / "final.mp4",
            "joined_mp4": folder / "joined" / "final.mp4", "folder": folder}


@pytest.fixture(scope="module")
def plain(media):
    return render_both(media, plain_edl(), "plain", 4.0)


@pytest.fixture(scope="module")
def graphics(media):
    return render_both(media, graphics_edl(), "graphics", 4.0)


def stream(path: Path, kind: str) -> dict:
    return next(s for s in ffprobe(path)["streams"] if s["codec_type"] == kind)


def gray_frames(path: Path) -> np.ndarray:
    return conftest.gray_frames(path, W, H)


def audio_samples(path: Path) -> np.ndarray:
    return conftest.audio_samples(path)


def flash_times(frames: np.ndarray) -> list[float]:
    return [k / FPS for k in np.flatnonzero(frames[:, : int(H * 0.6)].mean(axis=(1, 2)) > 235)]


def beep_onsets(samples: np.ndarray, rate: int = 48000) -> list[float]:
    block = rate // 200  # 5 ms envelope
    env = np.abs(samples[: len(samples) // block * block]).reshape(-1, block).max(axis=1)
    loud = env > 0.5 * env.max()
    starts = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    onsets, last = [], -1.0
    for s in starts:
        t = s * block / rate
        if t - last > 0.3:
            onsets.append(t)
        last = t
    return onsets


def shown(path: Path) -> int:
    """The frames ``path`` shows at FPS (a still picture is stored once: variable frame rate)."""
    return render_chunks.frames_shown(path, FPS)


def ssim_per_frame(a: Path, b: Path, stats: Path) -> list[float]:
    """SSIM of every frame shown at FPS."""
    run(["ffmpeg", "-v", "error", "-i", str(a), "-i", str(b), "-lavfi",
         f"[0:v]fps={FPS}[a];[1:v]fps={FPS}[b];[a][b]ssim=stats_file={stats}", "-f", "null", "-"])
    return [float(m) for m in re.findall(r"All:([0-9.]+)", stats.read_text())]


# ------------------------------------------------------------------------------------- plan


def test_short_videos_are_not_chunked():
    edl = plain_edl()
    assert render_chunks.plan(edl, 0) == []
    assert render_chunks.plan(edl, 120) == []
    assert render_chunks.plan(edl, SECONDS) == []


def test_plan_cuts_at_clip_boundaries_near_the_ideal_cut():
    chunks = render_chunks.plan(plain_edl(), 4.0)
    assert [(c["start_frame"], c["end_frame"]) for c in chunks] == [(0, 90), (90, 270), (270, 360)]
    assert [c["index"] for c in chunks] == [0, 1, 2]
    assert chunks[1]["start"] == 3.0 and chunks[-1]["end"] == SECONDS


def test_plan_fills_every_slot():
    # 12 s at about 4 s: three chunks; two slots render them as four, so none waits alone
    assert len(render_chunks.plan(plain_edl(), 4.0, slots=1)) == 3
    chunks = render_chunks.plan(plain_edl(), 4.0, slots=2)
    assert len(chunks) == 4 and chunks[0]["start_frame"] == 0 and chunks[-1]["end_frame"] == 360
    assert all(a["end_frame"] == b["start_frame"] for a, b in zip(chunks, chunks[1:]))
    assert len(render_chunks.plan(plain_edl(), 4.0, slots=3)) == 3
    assert render_chunks.plan(plain_edl(), 120, slots=4) == []  # short videos stay one pass


def test_plan_never_cuts_a_card_or_a_lower_third():
    edl = graphics_edl()
    chunks = render_chunks.plan(edl, 4.0)
    cuts = [c["start_frame"] for c in chunks[1:]]
    assert len(chunks) == 3 and chunks[-1]["end_frame"] == 360
    for cut in cuts:
        assert 30 < cut < 330  # not at or in the cards
        assert not 255 <= cut <= 300 + 15  # the lower third 8.5-10 s (and its margin)
    assert 240 in cuts  # the clip boundary at 8 s is near the ideal 8 s
    assert render_chunks.plan(edl, 1.0, max_chunks=4)[-1]["end_frame"] == 360
    assert len(render_chunks.plan(edl, 0.5)) <= render_chunks.MAX_CHUNKS


# ------------------------------------------------------------------------- chunked = single


@pytest.mark.parametrize("which", ["plain", "graphics"])
def test_chunked_render_equals_the_single_pass(request, which):
    r = request.getfixturevalue(which)
    assert len(r["chunks"]) == 3 and r["joined"]["chunks"] == 3
    single, joined = r["single_mp4"], r["joined_mp4"]
    sv, jv = stream(single, "video"), stream(joined, "video")
    assert shown(joined) == shown(single) == round(SECONDS * FPS)
    assert (jv["codec_name"], jv["pix_fmt"], jv["width"], jv["height"]) == (
        "h264", "yuv420p", W, H)
    assert jv.get("color_space") == sv.get("color_space") == "bt709"
    assert abs(r["joined"]["duration"] - r["single"]["duration"]) <= 1 / FPS
    assert abs(float(jv["duration"]) - float(sv["duration"])) <= 1 / FPS
    sa, ja = stream(single, "audio"), stream(joined, "audio")
    assert abs(float(ja["duration"]) - float(sa["duration"])) <= 0.025
    assert r["joined"]["loudness"] == r["single"]["loudness"]  # planned once, the same plan
    # every chunk starts on an IDR frame and holds exactly its frames
    for chunk, part in zip(r["chunks"], r["parts"]):
        path = r["folder"] / "chunks" / part["file"]
        assert shown(path) == chunk["end_frame"] - chunk["start_frame"]
        assert not any(s["codec_type"] == "audio" for s in ffprobe(path)["streams"])
        first = run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_frames",
                     "-read_intervals", "%+#1", "-show_entries", "frame=key_frame,pict_type",
                     "-of", "csv=p=0", str(path)]).stdout.decode().split()[0]
        assert first.startswith("1,I"), first


@pytest.mark.parametrize("which", ["plain", "graphics"])
def test_the_picture_is_the_same_across_every_join(request, which, tmp_path):
    r = request.getfixturevalue(which)
    ssim = ssim_per_frame(r["joined_mp4"], r["single_mp4"], tmp_path / "ssim.log")
    assert len(ssim) == round(SECONDS * FPS)
    assert np.mean(ssim) >= 0.98, np.mean(ssim)
    for chunk in r["chunks"][1:]:
        around = ssim[chunk["start_frame"] - 15: chunk["start_frame"] + 15]
        assert min(around) >= 0.98, (chunk, around)


def test_a_join_inside_a_hold_is_frame_exact(media, graphics, tmp_path):
    edl_path = graphics["folder"] / "edl.json"
    cuts = [0, 120, 318, 360]  # 318: 10.6 s, in the hold 10-11 s of the last clip
    chunks = [{"index": k, "start": a / FPS, "end": b / FPS, "start_frame": a, "end_frame": b}
              for k, (a, b) in enumerate(zip(cuts, cuts[1:]))]
    parts = [render_chunks.render_chunk(media["source"], edl_path, tmp_path / "chunks", c,
                                        files=files(media)) for c in chunks]
    render_chunks.join(media["source"], edl_path, [tmp_path / "chunks" / p["file"] for p in parts],
                       tmp_path, files=files(media))
    ssim = ssim_per_frame(tmp_path / "final.mp4", graphics["single_mp4"], tmp_path / "ssim.log")
    assert len(ssim) == 360 and min(ssim[300:330]) >= 0.98, ssim[300:330]


def test_one_windowed_input_for_many_clips_renders_the_same_picture(media, plain, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setattr(render, "MAX_SEEK_INPUTS", 1)  # chunk 1 (two clips): one input, split
    edl_path = plain["folder"] / "edl.json"
    parts = [render_chunks.render_chunk(media["source"], edl_path, tmp_path / "chunks", c,
                                        files=files(media)) for c in plain["chunks"]]
    render_chunks.join(media["source"], edl_path, [tmp_path / "chunks" / p["file"] for p in parts],
                       tmp_path, files=files(media))
    ssim = ssim_per_frame(tmp_path / "final.mp4", plain["single_mp4"], tmp_path / "ssim.log")
    assert len(ssim) == 360 and min(ssim) >= 0.98, min(ssim)


def test_flash_and_beep_stay_in_sync_across_the_joins(plain):
    for key in ("single_mp4", "joined_mp4"):
        flashes = flash_times(gray_frames(plain[key]))
        beeps = beep_onsets(audio_samples(plain[key]))
        assert len(flashes) == len(FLASHES) and len(beeps) == len(FLASHES), (key, flashes, beeps)
        for f, b in zip(flashes, beeps):
            assert abs(f - b) <= 1 / FPS + 0.006, (key, f, b)
    assert flash_times(gray_frames(plain["joined_mp4"])) == flash_times(
        gray_frames(plain["single_mp4"]))


def test_no_audio_gap_at_the_joins(plain):
    samples = audio_samples(plain["joined_mp4"])
    single = audio_samples(plain["single_mp4"])
    assert abs(len(samples) - len(single)) <= 1024
    n = min(len(samples), len(single))
    assert np.max(np.abs(samples[:n] - single[:n])) < 1e-3  # the same mix, sample for sample


def test_ducked_bed_has_no_gap_at_the_joins(graphics):
    samples = audio_samples(graphics["joined_mp4"])
    for chunk in graphics["chunks"][1:]:
        at = round(chunk["start"] * 48000)
        block = samples[at - 2400: at + 2400].reshape(-1, 240)  # 5 ms blocks around the join
        assert (np.abs(block).max(axis=1) > 1e-3).all(), chunk  # the 300 Hz bed never drops out


def test_captions_are_burned_on_both_sides_of_a_join(plain):
    frames = gray_frames(plain["joined_mp4"])
    join = plain["chunks"][1]["start_frame"]  # 3.0 s, inside the caption 2.0-4.4 s
    for k in (join - 2, join - 1, join + 1, join + 2):
        assert frames[k][BAND].max() > 200, k  # white caption text in the dark band
    assert frames[round(5.5 * FPS) + 3][BAND].max() < 100  # no caption after 4.4 s


def test_a_missing_chunk_or_a_wrong_frame_count_fails_the_join(plain, tmp_path):
    from include.core.errors import FatalError

    parts = [plain["folder"] / "chunks" / p["file"] for p in plain["parts"]]
    with pytest.raises(FatalError, match="frames"):
        render_chunks.join(plain["folder"] / "../flash.mp4", plain["folder"] / "edl.json",
                           parts[:2], tmp_path, files=files_of(plain))
    assert not (tmp_path / "final.mp4").exists()
    with pytest.raises(FatalError, match="missing"):
        render_chunks.join(plain["folder"] / "../flash.mp4", plain["folder"] / "edl.json",
                           [*parts[:2], tmp_path / "nope.mp4"], tmp_path, files=files_of(plain))


def files_of(r) -> dict[str, Path]:
    folder = r["folder"].parent
    return {"captions.ass": folder / "captions.ass", "voiceover.wav": folder / "voiceover.wav"}


def test_a_chunk_outside_the_video_is_fatal(plain, tmp_path):
    from include.core.errors import FatalError

    with pytest.raises(FatalError, match="outside"):
        render_chunks.render_chunk(plain["folder"] / "../flash.mp4", plain["folder"] / "edl.json",
                                   tmp_path, {"index": 9, "start": 11, "end": 13,
                                              "start_frame": 330, "end_frame": 390},
                                   files=files_of(plain))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ in the DAG


def test_dag_test_maps_render_chunks_for_a_long_video(airflow_db, sample_clip):
    """chunk_seconds 4 on the 20 s sample: edit plans several chunks, one mapped render_chunk
    renders each, render joins them into a final.mp4 of the EDL's exact frame count."""
    import hashlib
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    from include.core.keys import artifact_key, video_prefix
    from include.stages.ingest import video_id_for
    from include.storage import ArtifactStore
    from tests.conftest import ROOT

    clip, _ = sample_clip
    tenant = "chunked"
    store = ArtifactStore()
    vid = video_id_for(tenant, hashlib.sha256(clip.read_bytes()).hexdigest())
    shutil.rmtree(store.path(video_prefix(tenant, vid)).path, ignore_errors=True)
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("video_pipeline")
    # the sample has no text on screen and no words said: the title hint is all there is to
    # narrate (without any narration the final is silent, and QC rightly stops it)
    dagrun = dag.test(run_conf={"tenant": tenant, "source": str(clip), "chunk_seconds": 4.0,
                                "animate": "off", "title_hint": "a chunked render"})
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in dagrun.get_task_instances()}
    assert str(dagrun.state) == "success", states
    chunks = sorted(i for (t, i), s in states.items() if t == "render_chunk" and s == "success")
    assert len(chunks) > 1 and chunks == list(range(len(chunks))), states
    edl = Edl.from_dict(store.get_json(artifact_key(tenant, vid, "edit", "edl.json")))
    final = Path(store.path(artifact_key(tenant, vid, "render", "final.mp4")).path)
    video = stream(final, "video")
    assert render_chunks.frames_shown(final, edl.output.fps) == round(
        edl.output.duration * edl.output.fps)
    assert abs(float(stream(final, "audio")["duration"]) - edl.output.duration) <= 0.05
    assert states[("qc", -1)] == "success" and states[("publish", -1)] == "success"
