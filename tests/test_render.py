"""Render stage: final.mp4 from a real EDL (edit.run on hand-written inputs) and the sample clip."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from include.core.errors import FatalError, RetryableError
from include.core.media import ffprobe
from include.core.options import Settings
from include.stages import caption_track, edit, loudness, render

WIDTH, HEIGHT = 640, 360
# The sample clip's five 4 s shots: s01 testsrc2 (moving), s02/s03 static, s04/s05 moving.
SEGMENTS = [
    ("s01", 0.0, 4.0, [[0.0, 2.0]]),
    ("s02", 4.0, 8.0, [[4.0, 5.2], [6.8, 8.0]]),
    ("s03", 8.0, 12.0, [[8.0, 9.2], [10.8, 12.0]]),
    ("s04", 12.0, 16.0, [[12.0, 16.0]]),
    ("s05", 16.0, 20.0, [[16.0, 20.0]]),
]
KEPT_TOTAL = 14.8
# Fit (no picture data in these segments: all footage is action and plays at 1x; a segment lasts
# at least its narration + 0.4 s): s01 2.0 s of footage for 3.0 s (hold 1.0 s at 2.0-3.0), s02
# 2.4 s for 2.4 s, s04 4.0 s for 2.4 s (all of it plays), s05 4.0 s for 3.8 s.
VOICE = [("s01", 0.0, 2.6), ("s02", 3.0, 5.0), ("s04", 5.4, 7.4), ("s05", 7.8, 11.2)]
VOICE_DURATION = 11.2
FIT_DURATION = 13.4
TEXT = "Here is the dashboard overview, with charts and numbers."


def spread_words(start: float, end: float) -> list[dict]:
    words = TEXT.split()
    step = (end - start) / len(words)
    return [
        {
            "word": w,
            "start": round(start + i * step, 3),
            "end": round(start + (i + 1) * step, 3),
        }
        for i, w in enumerate(words)
    ]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample_clip) -> dict[str, Path]:
    """The sample clip plus hand-written analyze/script/voiceover/ingest outputs and a voice wav."""
    folder = tmp_path_factory.mktemp("render_inputs")
    docs = {
        "segments": {
            "duration": 20.0,
            "segments": [
                {"id": sid, "start": a, "end": b, "kept": kept}
                for sid, a, b, kept in SEGMENTS
            ],
        },
        "script": {"segments": [{"id": sid, "text": TEXT} for sid, _, _ in VOICE]},
        "voiceover": {
            "duration": VOICE_DURATION,
            "gap": 0.4,
            "segments": [
                {
                    "id": sid,
                    "text": TEXT,
                    "start": a,
                    "end": b,
                    "words": spread_words(a, b),
                }
                for sid, a, b in VOICE
            ],
        },
        "source": {
            "duration": 20.0,
            "width": WIDTH,
            "height": HEIGHT,
            "fps": 30.0,
            "has_audio": True,
        },
    }
    paths = {"video": sample_clip[0]}
    for name, doc in docs.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    # Real (peaky) speech, padded with silence to the voiceover's duration.
    speech = folder / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(speech), TEXT + " " + TEXT], check=True
    )
    paths["voice"] = folder / "voiceover.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(speech),
            "-af",
            "apad",
            "-t",
            str(VOICE_DURATION),
            "-ar",
            "22050",
            "-ac",
            "1",
            "-c:a",
            "pcm_s16le",
            str(paths["voice"]),
        ],
        check=True,
    )
    return paths


def media(captions: Path, voice: Path, music: Path | None = None) -> dict:
    """The files the EDL names, as render.run takes them."""
    return {
        "captions.ass": captions,
        "voiceover.wav": voice,
        **({str(music): music} if music else {}),
    }


def edit_and_render(
    inputs: dict,
    folder: Path,
    sync_mode: str,
    *,
    settings: dict | None = None,
    **render_kwargs,
) -> dict:
    """edit.run then render.run into ``folder``; returns the EDL, the result and the paths."""
    settings = Settings(
        width=WIDTH, height=HEIGHT, sync_mode=sync_mode,
        **{"animate": "off", **(settings or {})},  # graphics: tests/test_animate.py
    )
    edit.run(
        inputs["segments"],
        inputs["script"],
        inputs["voiceover"],
        inputs["source"],
        settings,
        folder / "edit",
    )
    result = render.run(
        inputs["video"],
        folder / "edit" / "edl.json",
        folder / "render",
        files=media(folder / "edit" / "captions.ass", inputs["voice"]),
        **render_kwargs,
    )
    return {
        "edl": json.loads((folder / "edit" / "edl.json").read_text()),
        "result": result,
        "final": folder / "render" / "final.mp4",
        "folder": folder,
    }


@pytest.fixture(scope="module")
def rendered(inputs, tmp_path_factory) -> dict[str, dict]:
    """One render per sync mode (progress reports recorded for fit)."""
    renders = {}
    for sync_mode in ("fit", "trim", "pad"):
        reports: list[tuple[float, str]] = []
        renders[sync_mode] = edit_and_render(
            inputs,
            tmp_path_factory.mktemp(sync_mode),
            sync_mode,
            progress=lambda percent, speed, reports=reports: reports.append(
                (percent, speed)
            ),
        )
        renders[sync_mode]["progress"] = reports
    return renders


def frame(path: Path, seconds: float) -> np.ndarray:
    """The grey-level frame at ``seconds`` as a (height, width) float array."""
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-ss",
            f"{seconds:.3f}",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(HEIGHT, WIDTH).astype(float)


def top_level_boxes(path: Path) -> list[str]:
    """The MP4 top-level box types in file order."""
    boxes = []
    with open(path, "rb") as fh:
        while header := fh.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0] - 8
            boxes.append(kind.decode("latin-1"))
            fh.seek(size - 8, 1)
    return boxes


TOP = slice(0, int(HEIGHT * 0.7))  # above the captions
BOTTOM = slice(int(HEIGHT * 0.75), int(HEIGHT * 0.95))  # the caption band


@pytest.mark.parametrize("sync_mode", ["fit", "trim", "pad"])
def test_final_mp4_matches_the_delivery_spec(rendered, sync_mode):
    run = rendered[sync_mode]
    duration = run["edl"]["output"]["duration"]
    assert (
        duration
        == {"fit": FIT_DURATION, "trim": VOICE_DURATION, "pad": KEPT_TOTAL}[sync_mode]
    )
    info = ffprobe(run["final"])
    (video,) = [s for s in info["streams"] if s["codec_type"] == "video"]
    (audio,) = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert (video["codec_name"], video["pix_fmt"], video["width"], video["height"]) == (
        "h264",
        "yuv420p",
        WIDTH,
        HEIGHT,
    )
    assert (
        video.get("color_space") == "bt709" and video.get("color_primaries") == "bt709"
    )
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == (
        "aac",
        "48000",
        2,
    )
    assert abs(float(info["format"]["duration"]) - duration) <= 0.25
    boxes = top_level_boxes(run["final"])
    assert boxes.index("moov") < boxes.index("mdat"), (
        "faststart: moov must come before mdat"
    )
    assert run["result"] == {
        "duration": pytest.approx(duration, abs=0.25),
        "width": WIDTH,
        "height": HEIGHT,
        "bytes": run["final"].stat().st_size,
        "video_codec": "h264",
        "audio_codec": "aac",
        "original_audio": "drop",
        "music": False,
        "loudness": run["result"]["loudness"],
    }
    assert [p.name for p in run["final"].parent.iterdir()] == ["final.mp4"]


@pytest.mark.parametrize("sync_mode", ["fit", "trim", "pad"])
def test_final_loudness_is_minus_14_lufs_with_headroom(rendered, sync_mode):
    measured = loudness.measure(rendered[sync_mode]["final"])
    assert abs(measured.integrated - -14.0) <= 1.0, measured
    assert measured.true_peak <= -1.0, measured
    plan = rendered[sync_mode]["result"]["loudness"]["voice"]
    assert plan["measured"]["integrated"] < -17, "the test voice needs a real gain"


def audio_level(path: Path, start: float, end: float) -> float:
    """RMS level (dBFS) of ``path``'s audio between ``start`` and ``end`` seconds."""
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-ss",
            str(start),
            "-to",
            str(end),
            "-i",
            str(path),
            "-vn",
            "-ac",
            "1",
            "-f",
            "f32le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    samples = np.frombuffer(raw, np.float32)
    return 10 * np.log10(np.mean(samples.astype(float) ** 2) + 1e-12)


def test_ducked_original_audio_plays_under_the_voice(inputs, rendered, tmp_path):
    # pad: the voice ends at 11.2 s, the footage (and its tone) goes on to 14.8 s
    run = edit_and_render(inputs, tmp_path, "pad", settings={"original_audio": "duck"})
    assert run["edl"]["audio"]["original"] == "duck"
    assert run["result"]["original_audio"] == "duck"
    measured = loudness.measure(run["final"])
    assert abs(measured.integrated - -14.0) <= 1.0 and measured.true_peak <= -1.0, (
        measured
    )
    assert audio_level(rendered["pad"]["final"], 11.8, 14.6) < -80  # dropped: silence
    bed = audio_level(run["final"], 11.8, 14.6)
    assert -40 < bed < -20, bed  # the source's tone, about 12 LU under the voice
    assert abs(run["result"]["duration"] - KEPT_TOTAL) <= 0.25


def test_music_bed_is_looped_under_the_voice(inputs, rendered, tmp_path):
    music = tmp_path / "music.m4a"  # 3 s of chords, looped over the 13.4 s video
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=f=330:duration=3,aformat=channel_layouts=stereo",
            "-c:a",
            "aac",
            str(music),
        ],
        check=True,
    )
    settings = Settings(width=WIDTH, height=HEIGHT, sync_mode="fit", music=str(music),
                        animate="off")
    edit.run(
        inputs["segments"],
        inputs["script"],
        inputs["voiceover"],
        inputs["source"],
        settings,
        tmp_path / "edit",
    )
    edl = tmp_path / "edit" / "edl.json"
    with pytest.raises(FatalError, match="music"):
        render.run(
            inputs["video"],
            edl,
            tmp_path / "render",
            files=media(tmp_path / "edit" / "captions.ass", inputs["voice"]),
        )
    result = render.run(
        inputs["video"],
        edl,
        tmp_path / "render",
        files=media(tmp_path / "edit" / "captions.ass", inputs["voice"], music),
    )
    final = tmp_path / "render" / "final.mp4"
    assert result["music"] and result["original_audio"] == "drop"
    measured = loudness.measure(final)
    assert abs(measured.integrated - -14.0) <= 1.0 and measured.true_peak <= -1.0, (
        measured
    )
    # the voice (speech, then padding) is quiet at 10-11 s; the music goes on, at a bed's level
    # (at least 4 dB under the -14 LUFS mix; the quiet stretches of the 13.4 s fit edit weigh
    # in the mix's loudness fit)
    assert audio_level(rendered["fit"]["final"], 10.0, 11.0) < -80
    assert -45 < audio_level(final, 10.0, 11.0) < -18


def test_vertical_short_from_the_same_edl(inputs, tmp_path):
    run = edit_and_render(inputs, tmp_path, "fit", settings={"aspect": "9:16"})
    assert run["edl"]["output"] | {"duration": 0} == {
        "width": HEIGHT,
        "height": WIDTH,
        "fps": 30,
        "duration": 0,
        "aspect": "9:16",
        "framing": "crop",
    }
    (video,) = [
        s for s in ffprobe(run["final"])["streams"] if s["codec_type"] == "video"
    ]
    assert (video["width"], video["height"]) == (HEIGHT, WIDTH)
    assert abs(run["result"]["duration"] - FIT_DURATION) <= 0.25


def test_fit_holds_and_speed_ups_show_in_edl_and_video(rendered):
    run = rendered["fit"]
    clips = {c["segment_id"]: c for c in run["edl"]["clips"]}
    assert clips["s01"]["hold"] == pytest.approx(1.0) and clips["s01"]["out_end"] == 3.0
    assert clips["s04"]["speed"] == 1.0 and clips["s04"]["src_end"] == 16.0
    assert clips["s05"]["speed"] == 1.0 and clips["s05"]["out_start"] == 9.4
    assert [n["out_start"] for n in run["edl"]["narration"]] == [0.0, 3.0, 5.4, 9.4]
    # testsrc2 moves while it plays and freezes during the hold (2.0-3.0 s)
    assert (
        np.abs(frame(run["final"], 0.5)[TOP] - frame(run["final"], 1.5)[TOP]).mean() > 2
    )
    assert (
        np.abs(frame(run["final"], 2.2)[TOP] - frame(run["final"], 2.9)[TOP]).mean()
        < 0.5
    )


def test_fit_plays_each_narration_where_its_footage_starts(inputs, tmp_path):
    # s01's 1 s narration leaves its 2 s of footage playing: s02's narration (voice 1.4-3.4 s)
    # moves to 2.0 s, so 1.0-2.0 s is quiet although the voice file speaks there.
    voiceover = json.loads(inputs["voiceover"].read_text())
    voiceover["segments"] = [
        {"id": sid, "text": TEXT, "start": a, "end": b, "words": spread_words(a, b)}
        for sid, a, b in [("s01", 0.0, 1.0), ("s02", 1.4, 3.4)]
    ]
    voiceover["duration"] = 3.4
    (tmp_path / "in").mkdir()
    placed = dict(inputs, voiceover=tmp_path / "in" / "voiceover.json")
    placed["voiceover"].write_text(json.dumps(voiceover))
    run = edit_and_render(placed, tmp_path, "fit")
    narration = {n["segment_id"]: n for n in run["edl"]["narration"]}
    assert (narration["s02"]["voice_start"], narration["s02"]["out_start"]) == (1.4, 2.0)
    assert run["edl"]["captions"]["events"][-1]["words"][-1]["end"] == pytest.approx(4.0,
                                                                                abs=0.01)
    assert audio_level(run["final"], 1.1, 1.9) < -60
    assert audio_level(run["final"], 2.2, 3.8) > -40
    assert audio_level(inputs["voice"], 1.1, 1.9) > -40  # the voice file itself is not quiet


def test_trim_and_pad_play_the_footage_at_normal_speed(rendered):
    for sync_mode in ("trim", "pad"):
        clips = rendered[sync_mode]["edl"]["clips"]
        assert all(c["speed"] == 1.0 and c["hold"] == 0 for c in clips)
    assert sum(
        c["src_end"] - c["src_start"] for c in rendered["pad"]["edl"]["clips"]
    ) == (pytest.approx(KEPT_TOTAL))


def test_progress_is_reported_up_to_100_percent(rendered):
    reports = rendered["fit"]["progress"]
    percents = [p for p, _ in reports]
    assert reports and percents == sorted(percents) and percents[-1] == 100.0
    assert all(isinstance(speed, str) for _, speed in reports)


def test_captions_are_burned_in(rendered, inputs, tmp_path):
    with_captions = rendered["fit"]
    events = with_captions["edl"]["captions"]["events"]
    t = (events[0]["start"] + events[0]["end"]) / 2
    empty = tmp_path / "empty.ass"
    caption_track.write_ass([], empty, "karaoke", WIDTH, HEIGHT)
    render.run(
        inputs["video"],
        with_captions["folder"] / "edit" / "edl.json",
        tmp_path,
        files=media(empty, inputs["voice"]),
    )
    burned, plain = frame(with_captions["final"], t), frame(tmp_path / "final.mp4", t)
    assert np.abs(burned[BOTTOM] - plain[BOTTOM]).mean() > 5
    assert np.abs(burned[TOP] - plain[TOP]).mean() < 2


def test_split_fallback_for_many_clips_renders_the_same_picture(
    rendered, inputs, tmp_path, monkeypatch
):
    monkeypatch.setattr(render, "MAX_SEEK_INPUTS", 1)
    seeked = rendered["fit"]
    result = render.run(
        inputs["video"],
        seeked["folder"] / "edit" / "edl.json",
        tmp_path,
        files=media(seeked["folder"] / "edit" / "captions.ass", inputs["voice"]),
    )
    assert abs(result["duration"] - FIT_DURATION) <= 0.25
    for t in (1.0, 2.5, 4.0, 6.0, 9.0):
        difference = np.abs(
            frame(tmp_path / "final.mp4", t) - frame(seeked["final"], t)
        )
        assert difference[TOP].mean() < 2, f"pictures differ at {t} s"


def test_large_sources_get_fewer_seeked_inputs():
    # each seeked input holds an H.264 decoder: ~40 MB at 1080p, so at most 5 of them (200 MiB)
    assert render.seek_limit({"width": 1920, "height": 1080}) == 5
    assert render.seek_limit({"width": 3840, "height": 2160}) == 1
    assert render.seek_limit({"width": 640, "height": 360}) == render.MAX_SEEK_INPUTS


def test_awkward_captions_path_and_cjk_text(rendered, inputs, tmp_path):
    folder = tmp_path / "it's a: [odd], dir; 字幕"
    folder.mkdir()
    words = [
        {"word": w, "start": i * 0.5, "end": i * 0.5 + 0.4}
        for i, w in enumerate(["这是", "我们的", "仪表板", "概览。"])
    ]
    events = caption_track.build_events({"segments": [{"words": words}]}, VOICE_DURATION)
    caption_track.write_ass(events, folder / "captions.ass", "bold", WIDTH, HEIGHT)
    fit = rendered["fit"]
    result = render.run(
        inputs["video"],
        fit["folder"] / "edit" / "edl.json",
        tmp_path / "out",
        files=media(folder / "captions.ass", inputs["voice"]),
    )
    assert abs(result["duration"] - FIT_DURATION) <= 0.25
    cjk, karaoke = frame(tmp_path / "out" / "final.mp4", 1.0), frame(fit["final"], 1.0)
    assert np.abs(cjk[BOTTOM] - karaoke[BOTTOM]).mean() > 5, "the CJK caption is drawn"


def test_a_missing_source_fails_without_leaving_files(rendered, inputs, tmp_path):
    fit = rendered["fit"]["folder"] / "edit"
    with pytest.raises(FatalError, match="missing"):
        render.run(
            tmp_path / "nope.mp4",
            fit / "edl.json",
            tmp_path / "out",
            files=media(fit / "captions.ass", inputs["voice"]),
        )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("broken_input", ["video", "voice"])
def test_a_broken_input_is_fatal_and_leaves_no_files(
    rendered, inputs, tmp_path, broken_input
):
    fit = rendered["fit"]["folder"] / "edit"
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really media" * 100)
    paths = {**inputs, broken_input: broken}
    with pytest.raises(FatalError, match="failed"):
        render.run(
            paths["video"],
            fit / "edl.json",
            tmp_path / "out",
            files=media(fit / "captions.ass", paths["voice"]),
        )
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_an_interrupted_render_removes_its_partial_file(rendered, inputs, tmp_path):
    fit = rendered["fit"]["folder"] / "edit"
    out = tmp_path / "out"

    class Stop(Exception):
        pass

    def stop_once_writing(percent: float, speed: str) -> None:
        if list(out.glob(".final*partial*")) and percent > 10:
            raise Stop

    with pytest.raises(Stop):
        render.run(
            inputs["video"],
            fit / "edl.json",
            out,
            files=media(fit / "captions.ass", inputs["voice"]),
            progress=stop_once_writing,
        )
    assert list(out.iterdir()) == []


def test_a_timeout_is_retryable_and_leaves_no_partial_file(rendered, inputs, tmp_path):
    fit = rendered["fit"]["folder"] / "edit"
    with pytest.raises(RetryableError):
        render.run(
            inputs["video"],
            fit / "edl.json",
            tmp_path / "out",
            files=media(fit / "captions.ass", inputs["voice"]),
            timeout=0.05,
        )
    assert list((tmp_path / "out").iterdir()) == []


def test_filter_values_are_escaped_for_the_graph():
    assert render._filter_value("/a b/it's:x[1],y;z") == (
        "/a b/it\\\\\\'s\\\\:x\\[1\\]\\,y\\;z"
    )


@pytest.mark.parametrize("style", caption_track.STYLES)
@pytest.mark.parametrize("size", [(WIDTH, HEIGHT), (HEIGHT, WIDTH)])
def test_captions_stay_inside_the_safe_area(tmp_path, style, size):
    width, height = size
    words = (
        "Internationalization dashboards summarise extraordinarily complicated numbers "
        "quickly"
    ).split()
    events = caption_track.build_events(
        {
            "segments": [
                {
                    "words": [
                        {"word": w, "start": i * 0.1, "end": i * 0.1 + 0.1}
                        for i, w in enumerate(words)
                    ]
                }
            ]
        },
        2.0,
    )
    ass = tmp_path / "long.ass"
    caption_track.write_ass(events, ass, style, width, height)
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"color=black:s={width}x{height}:d=1",
            "-vf",
            f"subtitles={ass}:fontsdir={render.FONTS_DIR}",
            "-ss",
            "0.95",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    picture = np.frombuffer(raw, np.uint8).reshape(height, width)
    rows, cols = np.nonzero(picture > 40)
    assert len(rows), "the caption is drawn"
    margin_x, margin_y = 0.04 * width, 0.04 * height
    assert margin_x <= cols.min() and cols.max() <= width - margin_x, (
        cols.min(),
        cols.max(),
    )
    assert rows.max() <= height - margin_y and rows.min() >= height / 2, (
        rows.min(),
        rows.max(),
    )


def test_the_placed_voice_is_every_span_at_its_place_sample_for_sample(tmp_path):
    """The voice's spans concatenated with silence up to each next one (the render's graph) are
    the same samples as each span delayed to its place and all of them mixed (the reference,
    which costs spans x duration): on 30 spans of a 3-tone voice, nothing moves by a sample."""
    from include.core.edl import Edl
    from include.stages import loudness
    from tests.fakes.edl import clip, edl_document

    voice = tmp_path / "voice.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "aevalsrc=0.2*sin(2*PI*(220+110*mod(floor(t)\\,3))*t):s=22050:d=60",
                    "-c:a", "pcm_s16le", str(voice)], check=True)
    narration = [{"segment_id": f"s{k:02d}", "voice_start": 2.0 * k, "voice_end": 2.0 * k + 1.3,
                  "out_start": round(0.7 + 2.35 * k, 3), "out_end": round(2.0 + 2.35 * k, 3)}
                 for k in range(30)]
    doc = edl_document([clip("s01", 0.0, 75.0, 0.0)], narration=narration)
    edl = Edl.from_dict(doc)
    voice_in = f"[0:a]{loudness.stereo_chain()}"
    graph = render._placed_voice(edl, voice_in)
    assert any("concat=n=30" in chain for chain in graph) and not any("amix" in c for c in graph)
    rate = render.AUDIO_RATE
    reference = [voice_in + ",asplit=30" + "".join(f"[r{k}]" for k in range(30))]
    reference += [f"[r{k}]atrim=start={n['voice_start']}:end={n['voice_start'] + 1.3},"
                  f"asetpts=PTS-STARTPTS,adelay=delays={round(n['out_start'] * rate)}S:all=1"
                  f"[p{k}]" for k, n in enumerate(narration)]
    reference.append("".join(f"[p{k}]" for k in range(30))
                     + "amix=inputs=30:normalize=0:duration=longest[voice_placed]")

    def samples(chains: list[str]) -> np.ndarray:
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(voice), "-filter_complex",
             ";".join(chains) + f";[voice_placed]apad,atrim=end_sample={75 * rate}[a]", "-map", "[a]",
             "-f", "f32le", "-"], check=True, capture_output=True).stdout
        return np.frombuffer(raw, np.float32)

    ours, theirs = samples(graph), samples(reference)
    assert len(ours) == len(theirs) == 75 * rate * 2
    assert np.abs(ours - theirs).max() < 1e-4
