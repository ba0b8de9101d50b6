"""Benchmarks: analyze and render against their speed limits, PySceneDetect and MoviePy, peak RSS.

    python benchmarks/run.py [--rounds 3] [--moviepy-seconds 20] [--rss-minutes 10]

``make bench`` sets up PySceneDetect in its own venv (``benchmarks/.venv-scenedetect``) and runs
this.

Writes ``benchmarks/results.json`` and prints a Markdown table (also written into
``benchmarks/README.md`` between the ``bench-table`` markers). Inputs: the reference clips in
``../shared/media`` when present, else generated clips with known cuts. Timings are medians of
alternating runs in the same process, so the machine's load hits both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from include.core.media import FFMPEG, duration_of  # noqa: E402
from include.providers.asr import WhisperTranscriber  # noqa: E402
from include.providers.llm import get_script_writer  # noqa: E402
from include.providers.ocr import TesseractReader  # noqa: E402
from include.providers.tts import get_tts  # noqa: E402
from include.sample_media import make_sample  # noqa: E402
from include.stages import (  # noqa: E402
    analyze,
    edit,
    footage_text,
    ingest,
    metadata,
    publish,
    render,
    script,
    sidecar,
    thumbnail,
    voiceover,
)
from include.core.options import Settings  # noqa: E402

HERE = Path(__file__).resolve().parent
# the reference clips; VIDEO_BENCH_MEDIA names another folder, else ../shared/media beside the
# main checkout or beside a worktree's folder
SHARED = Path(os.environ.get("VIDEO_BENCH_MEDIA") or next(
    (p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()),
    ROOT.parent / "shared") / "media")
SCENEDETECT_PY = HERE / ".venv-scenedetect" / "bin" / "python"
TOLERANCE_FRAMES = 2
STAGES = ("ingest", "analyze", "script", "voiceover", "edit", "render", "thumbnail", "captions",
          "metadata", "publish")
# animate off: the render is compared with a hand-written command without graphics; the animate
# step (benchmarks/animate.py) lays them out on the same job.
SETTINGS = Settings(tenant="bench", title_hint="Job monitor dashboard", sync_mode="pad",
                    animate="off")


# ------------------------------------------------------------------ the pipeline, stage by stage


def ingested(work: Path) -> Path:
    """The source file the ingest stage stored under ``work/ingest/``."""
    return next(p for p in (work / "ingest").glob("source.*") if p.suffix != ".json")


def run_stage(name: str, work: Path, source: Path | None = None) -> dict:
    """Run one pure stage on the artifacts of the previous ones under ``work/<stage>/``."""
    out = work / name
    source_file = None if name == "ingest" else ingested(work)
    if name == "ingest":
        with open(source, "rb") as fh:
            return ingest.run(fh, source.name, SETTINGS, out)
    if name == "analyze":
        info = json.loads((work / "ingest" / "source.json").read_text())
        return analyze.run(source_file, out, source_info=info, reader=TesseractReader(),
                           transcriber=WhisperTranscriber())
    if name == "script":
        return script.run(work / "analyze" / "segments.json", out,
                          writer=get_script_writer("offline"))
    if name == "voiceover":
        return voiceover.run(work / "script" / "script.json", out,
                             tts=get_tts(SETTINGS.tts_provider), voice=SETTINGS.voice,
                             aligner=WhisperTranscriber())
    if name == "edit":
        return edit.run(work / "analyze" / "segments.json", work / "script" / "script.json",
                        work / "voiceover" / "voiceover.json", work / "ingest" / "source.json",
                        SETTINGS, out)
    if name == "render":
        return render.run(source_file, work / "edit" / "edl.json", out, files={
            "captions.ass": work / "edit" / "captions.ass",
            "voiceover.wav": work / "voiceover" / "voiceover.wav"}, preset=SETTINGS.video_preset)
    if name == "thumbnail":
        title = json.loads((work / "script" / "script.json").read_text()).get("title", "")
        return thumbnail.run(source_file, work / "edit" / "edl.json", SETTINGS, out, title=title)
    if name == "captions":
        return sidecar.run(work / "edit" / "edl.json", out)
    if name == "metadata":
        return metadata.run(work / "script" / "script.json", work / "edit" / "edl.json",
                            work / "analyze" / "segments.json", out,
                            writer=get_script_writer("offline"))
    if name == "publish":
        return publish.run(work / "render" / "final.mp4", work / "metadata" / "metadata.json",
                           SETTINGS, out, video_id="bench", outbox_root=work / "outbox")
    raise ValueError(f"unknown stage {name}")


def prepare_job(source: Path, work: Path) -> None:
    """Run the stages up to and including edit: a job ready to render (no timing)."""
    for name in STAGES[: STAGES.index("edit") + 1]:
        run_stage(name, work, source)


# --------------------------------------------------------------------------- measuring


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children (ffmpeg) so far."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    start, cpu = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - start, cpu_seconds() - cpu


def alternate(rounds: int, **fns) -> dict[str, float]:
    """Median wall time of each function, run in turn ``rounds`` times, and its median CPU time
    as ``<name>_cpu`` (steadier than wall time when the machine is shared)."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(timed(fn))
    out = {}
    for name, values in samples.items():
        out[name] = round(statistics.median(v[0] for v in values), 3)
        out[f"{name}_cpu"] = round(statistics.median(v[1] for v in values), 3)
    return out


def peak_rss_mb(cmd: list[str]) -> float:
    """Peak of the summed RSS of ``cmd`` and all its children (ffmpeg included), in MB."""
    import psutil

    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed with {proc.returncode}")
    return round(peak / 2**20, 1)


def bare_decode(path: Path) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
                   check=True)


# --------------------------------------------------------------------------- cut detection


def f1(found: list[int], truth: list[int], tolerance: int = TOLERANCE_FRAMES) -> dict:
    """Precision/recall/F1 with one-to-one matching within ``tolerance`` frames."""
    unmatched = list(truth)
    hits = 0
    for frame in sorted(found):
        match = next((t for t in unmatched if abs(t - frame) <= tolerance), None)
        if match is not None:
            unmatched.remove(match)
            hits += 1
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth) if truth else 1.0
    score = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"f1": round(score, 3), "found": hits, "of": len(truth),
            "false": len(found) - hits, "missed": sorted(unmatched)}


def analyze_cuts(path: Path, fps: float) -> tuple[list[int], list[int], float]:
    """(hard-cut frames, dissolve frames, seconds) of one analyze run."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        analyze.run(path, Path(tmp))
        seconds = time.perf_counter() - start
        cuts = json.loads((Path(tmp) / "segments.json").read_text())["cuts"]
    hard = [round(c["time"] * fps) for c in cuts if c["kind"] == "hard"]
    dissolves = [round(c["time"] * fps) for c in cuts if c["kind"] == "dissolve"]
    return hard, dissolves, seconds


def pyscenedetect_cuts(path: Path) -> tuple[list[int], float] | None:
    """PySceneDetect's default ContentDetector in its own venv: (cut frames, seconds)."""
    if not SCENEDETECT_PY.exists():
        return None
    code = (
        "import json,sys,time\n"
        "from scenedetect import detect, ContentDetector\n"
        "t=time.perf_counter(); scenes=detect(sys.argv[1], ContentDetector())\n"
        "print(json.dumps({'cuts':[s[0].get_frames() for s in scenes[1:]],"
        "'seconds':time.perf_counter()-t}))\n"
    )
    proc = subprocess.run([str(SCENEDETECT_PY), "-c", code, str(path)], check=True,
                          capture_output=True, text=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["cuts"], result["seconds"]


def cut_inputs(work: Path) -> dict:
    """The synthetic-cuts and screen clips with their ground truth (generated if not shared)."""
    truth_file = SHARED / "ground_truth.json"
    if truth_file.exists() and (SHARED / "synthetic_cuts_60s.mp4").exists():
        truth = json.loads(truth_file.read_text())
        synthetic = truth["synthetic_cuts_60s.mp4"]
        screen = truth["screen_60s.mp4"]
        return {
            "synthetic": {"path": SHARED / "synthetic_cuts_60s.mp4", "fps": synthetic["fps"],
                          "cuts": synthetic["hard_cut_frames"],
                          "subtle": synthetic["subtle_cut_frames"],
                          "dissolves": [(d["start_frame"], d["end_frame"])
                                        for d in synthetic["gradual_transitions"]],
                          "origin": "../shared/media/synthetic_cuts_60s.mp4"},
            "screen": {"path": SHARED / "screen_60s.mp4", "fps": screen["fps"],
                       "cuts": screen["slide_change_frames_approx"],
                       "origin": "../shared/media/screen_60s.mp4"},
        }
    path = work / "generated_cuts_60s.mp4"
    sample = make_sample(path, seconds=60, size="1920x1080", shots=5)
    generated = {"path": path, "fps": 30, "cuts": [round(t * 30) for t in sample.cuts],
                 "subtle": [], "dissolves": [], "origin": "generated (include.sample_media)"}
    return {"synthetic": generated, "screen": generated}


def bench_analyze(inputs: dict, rounds: int) -> dict:
    synthetic, screen = inputs["synthetic"], inputs["screen"]
    decode = alternate(rounds, decode=lambda: bare_decode(synthetic["path"]),
                       analyze=lambda: analyze_cuts(synthetic["path"], synthetic["fps"]))
    hard, dissolves, _ = analyze_cuts(synthetic["path"], synthetic["fps"])
    ours = f1(hard, synthetic["cuts"])
    windows = [(a - 5, b + 5) for a, b in synthetic["dissolves"]]  # frames, with some slack
    screen_hard, _, _ = analyze_cuts(screen["path"], screen["fps"])
    screen_score = f1(screen_hard, screen["cuts"], tolerance=3)
    result = {
        "bare_decode_s": decode["decode"],
        "analyze_s": decode["analyze"],
        "analyze_vs_decode": round(decode["analyze"] / decode["decode"], 3),
        "analyze_f1_synthetic": ours["f1"],
        "analyze_synthetic": ours,
        "subtle_cut_found": all(any(abs(f - s) <= TOLERANCE_FRAMES for f in hard)
                                for s in synthetic["subtle"]),
        "dissolves_reported": [sum(a <= f <= b for f in dissolves) for a, b in windows],
        "cuts_inside_dissolves": sum(a <= f <= b for f in hard for a, b in windows),
        "screen_changes_found": screen_score["found"],
        "screen_changes_total": screen_score["of"],
        "screen_false_changes": screen_score["false"],
    }
    detected = pyscenedetect_cuts(synthetic["path"])
    if detected is not None:
        cuts, seconds = detected
        screen_cuts, _ = pyscenedetect_cuts(screen["path"])
        theirs_screen = f1(screen_cuts, screen["cuts"], tolerance=3)
        result.update({
            "pyscenedetect_f1_synthetic": f1(cuts, synthetic["cuts"])["f1"],
            "pyscenedetect_s_synthetic": round(seconds, 3),
            "pyscenedetect_screen_changes_found": theirs_screen["found"],
            "pyscenedetect_screen_false_changes": theirs_screen["false"],
        })
    return result


# --------------------------------------------------------------------------- reading and hearing


def footage_input(work: Path) -> tuple[Path, str]:
    """The product tour to read and hear: the shared one, else the generated Ledgerly tour."""
    if (SHARED / "product_tour_45s.mp4").exists():
        return SHARED / "product_tour_45s.mp4", "../shared/media/product_tour_45s.mp4"
    from include.product_tour import make_product_tour

    path = work / "ledgerly_tour.mp4"
    make_product_tour(path)
    return path, "generated (include.product_tour, 1920x1080)"


def bench_footage(work: Path, rounds: int) -> dict:
    """analyze with OCR (and with OCR + speech recognition) against a bare decode of the same
    product recording, alternating; speech recognition ÷ the audio's duration."""
    path, origin = footage_input(work)
    duration = duration_of(path)
    reader, transcriber = TesseractReader(), WhisperTranscriber()
    last: dict = {}

    def analyze_with(**providers):
        with tempfile.TemporaryDirectory() as tmp:
            last.update(analyze.run(path, Path(tmp), reader=reader, **providers))

    analyze_with(transcriber=transcriber)  # warm: the models load once per process
    samples = alternate(rounds, decode=lambda: bare_decode(path),
                        ocr=lambda: analyze_with(),
                        ocr_asr=lambda: analyze_with(transcriber=transcriber))
    heard = []
    for _ in range(rounds):  # speech recognition alone, as the stage runs it
        heard.append(timed(lambda: footage_text.transcribe_source(path, transcriber))[0])
    return {
        "footage_clip": origin,
        "footage_decode_s": samples["decode"],
        "footage_analyze_ocr_s": samples["ocr"],
        "footage_analyze_ocr_vs_decode": round(samples["ocr"] / samples["decode"], 3),
        "footage_analyze_ocr_vs_decode_cpu": round(samples["ocr_cpu"] / samples["decode_cpu"], 3),
        "footage_analyze_ocr_asr_s": samples["ocr_asr"],
        "footage_analyze_ocr_asr_vs_decode": round(samples["ocr_asr"] / samples["decode"], 3),
        "footage_reads": last.get("reads"),
        "footage_asr_vs_audio": round(statistics.median(heard) / duration, 3),
        "footage_asr_beside_decode_vs_audio": round(last.get("heard", 0.0) / duration, 3),
    }


# --------------------------------------------------------------------------- render vs references


def hand_written_command(work: Path, output: Path) -> list[str]:
    """The same job as one hand-written ffmpeg pass: select the EDL's spans, hold the last frame
    to the voice's end, scale/pad, burn the ASS, the voice at the same planned gain and limiter,
    the same encoder settings. (Only for ``pad``-mode EDLs: 1x clips, one final hold.)"""
    edl = json.loads((work / "edit" / "edl.json").read_text())
    out = edl["output"]
    spans = "+".join(f"between(t,{c['src_start']},{c['src_end'] - 0.001})" for c in edl["clips"])
    hold = edl["clips"][-1]["hold"]
    plan = render.loudness.plan_voice(work / "voiceover" / "voiceover.wav")
    source = ingested(work)
    return [
        FFMPEG, "-v", "error", "-nostdin", "-y", "-i", str(source),
        "-i", str(work / "voiceover" / "voiceover.wav"),
        "-filter_complex",
        f"[0:v]select='{spans}',setpts=N/FRAME_RATE/TB,tpad=stop_mode=clone:stop_duration={hold},"
        f"scale={out['width']}:{out['height']}:force_original_aspect_ratio=decrease,"
        f"pad={out['width']}:{out['height']}:(ow-iw)/2:(oh-ih)/2,setsar=1,"
        f"subtitles={work / 'edit' / 'captions.ass'}:fontsdir=/usr/share/fonts,format=yuv420p[v];"
        f"[1:a]{render.loudness.stereo_chain()},"
        f"{render.loudness.gain_filters(plan.gain_db)},apad[a]",
        "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", SETTINGS.video_preset,
        "-crf", "23", "-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709",
        "-color_trc", "bt709", "-c:a", "aac", "-aac_coder", "fast", "-b:a", "128k", "-ar", "48000", "-ac", "2",
        "-movflags", "+faststart", "-t", str(out["duration"]), str(output),
    ]


def moviepy_composite(work: Path, output: Path) -> None:
    """The same job as a MoviePy 2 composite: subclips, a frozen last frame, TextClip captions,
    the voice at the planned gain, the same encoder settings, threads=2."""
    from moviepy import (
        AudioFileClip,
        CompositeAudioClip,
        CompositeVideoClip,
        TextClip,
        VideoFileClip,
        concatenate_videoclips,
    )
    from moviepy.audio.fx import MultiplyVolume

    edl = json.loads((work / "edit" / "edl.json").read_text())
    width, height = edl["output"]["width"], edl["output"]["height"]
    source = ingested(work)
    plan = render.loudness.plan_voice(work / "voiceover" / "voiceover.wav")
    video = VideoFileClip(str(source), audio=False)
    pieces = []
    for clip in edl["clips"]:  # MoviePy's video may end a frame before the container does
        piece = video.subclipped(clip["src_start"], min(clip["src_end"], video.duration))
        pieces.append(piece)
        if clip["hold"] > 0:
            pieces.append(piece.to_ImageClip(piece.duration - 0.05).with_duration(clip["hold"]))
    base = concatenate_videoclips(pieces).resized(new_size=(width, height))
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
    captions = [
        TextClip(font=font, text=e["text"], font_size=round(height * 0.06), color="white",
                 stroke_color="black", stroke_width=2, method="label")
        .with_start(e["start"]).with_duration(e["end"] - e["start"])
        .with_position(("center", round(height * 0.82)))
        for e in edl["captions"]["events"]
    ]
    duration = edl["output"]["duration"]
    voice = AudioFileClip(str(work / "voiceover" / "voiceover.wav")).with_effects(
        [MultiplyVolume(10 ** (plan.gain_db / 20))])
    final = CompositeVideoClip([base, *captions], size=(width, height)).with_duration(duration)
    final = final.with_audio(CompositeAudioClip([voice]).with_duration(duration))  # silence after
    final.write_videofile(str(output), fps=edl["output"]["fps"], codec="libx264",
                          preset=SETTINGS.video_preset, ffmpeg_params=["-crf", "23"],
                          audio_codec="aac", audio_bitrate="128k", threads=2, logger=None)
    video.close()


def trimmed(source: Path, seconds: float, out: Path) -> Path:
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(source), "-t", str(seconds),
                    "-c", "copy", str(out)], check=True)
    return out


def bench_render(source: Path, work: Path, rounds: int) -> dict:
    job = work / "render-job"
    prepare_job(source, job)
    hand_out = work / "hand.mp4"
    times = alternate(
        rounds,
        render=lambda: run_stage("render", job),
        hand=lambda: subprocess.run(hand_written_command(job, hand_out), check=True),
    )
    return {
        "render_s": times["render"],
        "hand_written_ffmpeg_s": times["hand"],
        "render_vs_ffmpeg": round(times["render"] / times["hand"], 3),
        "render_cpu_s": times["render_cpu"],
        "hand_written_ffmpeg_cpu_s": times["hand_cpu"],
        "render_vs_ffmpeg_cpu": round(times["render_cpu"] / times["hand_cpu"], 3),
        "render_output_s": duration_of(job / "render" / "final.mp4"),
        "hand_written_output_s": duration_of(hand_out),
    }


def bench_moviepy(source: Path, work: Path, moviepy_seconds: float) -> dict:
    short = work / "moviepy-job"
    prepare_job(trimmed(source, moviepy_seconds, work / "short.mp4"), short)
    short_render, _ = timed(lambda: run_stage("render", short))
    moviepy_s, _ = timed(lambda: moviepy_composite(short, work / "moviepy.mp4"))
    return {
        "moviepy_clip_s": moviepy_seconds,
        "moviepy_output_s": duration_of(work / "moviepy.mp4"),
        "moviepy_s": round(moviepy_s, 3),
        "render_short_s": round(short_render, 3),
        "moviepy_vs_render": round(moviepy_s / short_render, 2),
    }


def bench_graphics(source: Path, work: Path, rounds: int) -> dict:
    """Motion graphics on the render job (see benchmarks/animate.py)."""
    from benchmarks.animate import bench_animate

    job = work / "animate-job"
    prepare_job(source, job)
    return bench_animate(job, ingested(job), SETTINGS, rounds, alternate, timed)


# ------------------------------------------------------------------ auto-zoom


def zoom_source(work: Path) -> tuple[Path, str]:
    """The product tour of ../shared/media, else a generated Ledgerly tour."""
    shared = SHARED / "product_tour_45s.mp4"
    if shared.exists():
        return shared, str(shared)
    from include.product_tour import make_product_tour

    out = work / "ledgerly_tour.mp4"
    make_product_tour(out, size=(1920, 1080), voice=False)
    return out, "generated Ledgerly tour 1920x1080 (include/product_tour.py)"


def bench_zoom(work: Path, rounds: int) -> dict:
    """Focus events and camera moves on a product tour; render with zoom ÷ without, and analyze
    with the focus detector ÷ without, alternating in the same run."""
    source, origin = zoom_source(work)
    job = work / "zoom-job"
    for name in ("ingest", "analyze", "script", "voiceover"):
        run_stage(name, job, source)
    source_file = ingested(job)
    segments = json.loads((job / "analyze" / "segments.json").read_text())["segments"]
    events = [e for s in segments for e in s.get("focus", [])]
    for mode in ("auto", "off"):
        settings = Settings(**{**SETTINGS.to_dict(), "zoom": mode})
        edit.run(job / "analyze" / "segments.json", job / "script" / "script.json",
                 job / "voiceover" / "voiceover.json", job / "ingest" / "source.json",
                 settings, job / f"edit-{mode}")
    moves = [m for c in json.loads((job / "edit-auto" / "edl.json").read_text())["clips"]
             for m in c["zoom"]]

    def render_with(mode: str) -> None:
        render.run(source_file, job / f"edit-{mode}" / "edl.json", job / f"render-{mode}", files={
            "captions.ass": job / f"edit-{mode}" / "captions.ass",
            "voiceover.wav": job / "voiceover" / "voiceover.wav"}, preset=SETTINGS.video_preset)

    def analyze_with(focus_on: bool) -> None:
        detector = analyze.focus.FocusDetector
        if not focus_on:
            analyze.focus.FocusDetector = lambda *a, **k: None  # type: ignore[assignment]
        try:
            with tempfile.TemporaryDirectory() as tmp:
                analyze.run(source_file, Path(tmp))
        finally:
            analyze.focus.FocusDetector = detector

    renders = alternate(rounds, zoom=lambda: render_with("auto"), plain=lambda: render_with("off"))
    analyses = alternate(rounds, focus=lambda: analyze_with(True),
                         nofocus=lambda: analyze_with(False))
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    return {
        "zoom_source": origin,
        "zoom_focus_events": len(events),
        "zoom_focus_kinds": kinds,
        "zoom_moves": len(moves),
        "zoom_move_list": moves,
        "render_zoom_s": renders["zoom"],
        "render_nozoom_s": renders["plain"],
        "render_zoom_vs_plain": round(renders["zoom"] / renders["plain"], 3),
        "render_zoom_vs_plain_cpu": round(renders["zoom_cpu"] / renders["plain_cpu"], 3),
        "analyze_focus_s": analyses["focus"],
        "analyze_nofocus_s": analyses["nofocus"],
        "analyze_focus_vs_nofocus": round(analyses["focus"] / analyses["nofocus"], 3),
        "analyze_focus_vs_nofocus_cpu": round(analyses["focus_cpu"] / analyses["nofocus_cpu"], 3),
    }


# ------------------------------------------------------------------ render only what changes


def bench_static_step(work: Path, rounds: int) -> dict:
    """Frozen spans held vs the plain path vs the hand-written pass (benchmarks/static.py)."""
    from benchmarks.static import bench_static

    return bench_static(sys.modules[__name__], work, rounds)


# ------------------------------------------------------------------ end to end, real scheduler


def bench_e2e_step(cases: list[str] | None, port: int | None) -> dict:
    """Trigger → published under its own Airflow (see benchmarks/e2e.py)."""
    from benchmarks.e2e import bench_e2e

    return bench_e2e(cases, port)


# ------------------------------------------------------------------ peak RSS on a long source


def bench_rss(work: Path, minutes: int) -> dict:
    """Peak RSS of every stage (own process + ffmpeg children) on a generated 1080p source."""
    minute = work / "one_minute_1080p.mp4"
    make_sample(minute, seconds=60, size="1920x1080")
    long_source = work / f"generated_{minutes}min_1080p.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-stream_loop", str(minutes - 1),
                    "-i", str(minute), "-c", "copy", "-movflags", "+faststart", str(long_source)],
                   check=True)
    job = work / "rss-job"
    peaks = {}
    for name in STAGES:
        cmd = [sys.executable, str(Path(__file__)), "--stage", name, str(job), str(long_source)]
        peaks[name] = peak_rss_mb(cmd)
    return {
        "rss_source": f"generated {duration_of(long_source):.0f} s 1920x1080 30 fps H.264 + AAC",
        "peak_rss_mb_by_stage": peaks,
        "peak_rss_mb": max(peaks.values()),
    }


# --------------------------------------------------------------------------- report


def machine() -> dict:
    import psutil

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    ffmpeg = subprocess.run([FFMPEG, "-version"], capture_output=True, text=True).stdout
    return {"cpu": cpu, "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "ffmpeg": ffmpeg.split("\n", 1)[0],
            "os": platform.platform()}


def table(r: dict) -> str:
    def row(what, value, goal):
        return f"| {what} | {value} | {goal} |"

    lines = ["| measure | result | goal |", "|---|---|---|",
             row("render ÷ hand-written ffmpeg pass (same job, same encoder settings)",
                 f"{r['render_vs_ffmpeg']:.2f} ({r['render_s']:.1f} s vs "
                 f"{r['hand_written_ffmpeg_s']:.1f} s)", "≤ 1.10"),
             row("… the same in CPU time (user + sys, ours incl. Python and the loudness probe)",
                 f"{r['render_vs_ffmpeg_cpu']:.2f} ({r['render_cpu_s']:.1f} s vs "
                 f"{r['hand_written_ffmpeg_cpu_s']:.1f} s)", "—"),
             row(f"MoviePy 2 composite ÷ render ({r['moviepy_clip_s']:.0f} s clip)",
                 f"{r['moviepy_vs_render']:.1f}× ({r['moviepy_s']:.1f} s vs "
                 f"{r['render_short_s']:.1f} s)", "≥ 6×"),
             row("analyze ÷ bare ffmpeg decode",
                 f"{r['analyze_vs_decode']:.2f} ({r['analyze_s']:.1f} s vs "
                 f"{r['bare_decode_s']:.1f} s)", "≤ 1.3")]
    if "footage_analyze_ocr_vs_decode" in r:
        lines += [
            row(f"analyze with OCR ÷ bare decode ({r['footage_clip']}, "
                f"{r['footage_reads']} frames read)",
                f"{r['footage_analyze_ocr_vs_decode']:.2f} ({r['footage_analyze_ocr_s']:.1f} s vs "
                f"{r['footage_decode_s']:.1f} s; CPU "
                f"{r['footage_analyze_ocr_vs_decode_cpu']:.2f})", "≤ 1.5"),
            row("… with speech recognition too (beside the decode)",
                f"{r['footage_analyze_ocr_asr_vs_decode']:.2f} "
                f"({r['footage_analyze_ocr_asr_s']:.1f} s)", "—"),
            row("speech recognition ÷ audio duration (alone; beside the decode)",
                f"{r['footage_asr_vs_audio']:.3f}; {r['footage_asr_beside_decode_vs_audio']:.3f}",
                "≤ 0.15"),
        ]
    lines += [
             row("hard-cut F1 (±2 frames), synthetic clip: analyze",
                 f"{r['analyze_f1_synthetic']:.2f}", "≥ 0.95"),
             row("subtle cut found / dissolve reported (times)",
                 f"{r['subtle_cut_found']} / {r['dissolves_reported']}", "True / [1]"),
             row("screen recording: slide changes found, false changes",
                 f"{r['screen_changes_found']} of {r['screen_changes_total']}, "
                 f"{r['screen_false_changes']}", "8 of 8, 0")]
    if "pyscenedetect_f1_synthetic" in r:
        lines += [
            row("PySceneDetect ContentDetector (defaults): hard-cut F1, synthetic clip",
                f"{r['pyscenedetect_f1_synthetic']:.2f} ({r['pyscenedetect_s_synthetic']:.1f} s)",
                "—"),
            row("PySceneDetect: slide changes found, false changes",
                f"{r['pyscenedetect_screen_changes_found']} of {r['screen_changes_total']}, "
                f"{r['pyscenedetect_screen_false_changes']}", "—"),
        ]
    if "animate_s" in r:
        lines += [
            row(f"animate: intro + outro + {r['animate_clips'] - 2} lower thirds at 1280x720 "
                "(MoviePy, encodes included; CPU s, wall s at load "
                f"{r.get('animate_load', '?')})",
                f"CPU {r['animate_cpu_s']:.1f} s (wall {r['animate_s']:.1f} s)", "≤ 10 s"),
            row("render with those graphics ÷ without (same job, same run; CPU, wall)",
                f"CPU {r['render_animated_vs_plain_cpu']:.2f} ({r['render_animated_cpu_s']:.1f} s "
                f"vs {r['render_plain_cpu_s']:.1f} s); wall {r['render_animated_vs_plain']:.2f}; "
                f"per output second {r['render_animated_vs_plain_per_output_s']:.2f}", "≤ 1.10"),
            row("decode + overlay of the 6 lower thirds (CPU s over the bare pass): "
                + ", ".join(OVERLAY_FORMS.values()),
                " / ".join(f"{r[f'overlay_{k}_cpu_s']:.2f}" for k in OVERLAY_FORMS)
                + " s CPU", "smallest wins"),
        ]
    if "render_zoom_vs_plain" in r:
        lines += [
            row(f"auto-zoom on {r['zoom_source'].rsplit('/', 1)[-1]}: focus events, camera moves",
                f"{r['zoom_focus_events']} ({', '.join(f'{k} {v}' for k, v in r['zoom_focus_kinds'].items())}), "
                f"{r['zoom_moves']}", "—"),
            row("render with zoom ÷ without (same EDL otherwise; wall / CPU)",
                f"{r['render_zoom_vs_plain']:.2f} / {r['render_zoom_vs_plain_cpu']:.2f} "
                f"({r['render_zoom_s']:.1f} s vs {r['render_nozoom_s']:.1f} s)", "≤ 1.15"),
            row("analyze with the focus detector ÷ without (wall / CPU)",
                f"{r['analyze_focus_vs_nofocus']:.2f} / {r['analyze_focus_vs_nofocus_cpu']:.2f} "
                f"({r['analyze_focus_s']:.1f} s vs {r['analyze_nofocus_s']:.1f} s)", "—"),
        ]
    if "static_held_vs_hand" in r:
        from benchmarks.static import rows as static_rows

        lines += [row(*x) for x in static_rows(r)]
    if "e2e" in r:
        from benchmarks.e2e import rows as e2e_rows

        lines += [row(*x) for x in e2e_rows(r["e2e"])]
    lines.append(row(f"peak RSS of any stage ({r['rss_source']})",
                     f"{r['peak_rss_mb']:.0f} MB ("
                     + ", ".join(f"{k} {v:.0f}" for k, v in r["peak_rss_mb_by_stage"].items())
                     + ")", "≤ 400 MB"))
    return "\n".join(lines)


# the lower thirds' forms benchmarks/animate.py measures, as the table names them
OVERLAY_FORMS = {
    "qtrle_vfr": "QuickTime Animation, still part stored once (shipped)",
    "qtrle_vfr_itsoffset": "the same placed by -itsoffset",
    "qtrle_vfr_full_frame": "the same padded to full frame",
    "qtrle": "QuickTime Animation 30 fps",
    "png_mov": "PNG-in-MOV 30 fps (before)",
    "png_mov_vfr": "PNG-in-MOV still once",
    "png_mov_15fps": "PNG-in-MOV 15 fps",
    "prores4444": "ProRes 4444",
    "vp9_webm": "VP9 WebM (libvpx decoder)",
    "vp9_webm_vfr": "VP9 WebM still once",
}


def write_table(markdown: str, marker: str = "bench-table") -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if start not in text:
        return
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{start}\n{markdown}\n{end}{tail}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", nargs=3, metavar=("NAME", "WORK", "SOURCE"),
                    help="run one stage (used for the RSS measurement)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--moviepy-seconds", type=float, default=20.0)
    ap.add_argument("--rss-minutes", type=int, default=10)
    ap.add_argument("--only", nargs="+",
                    choices=["analyze", "footage", "render", "moviepy", "rss", "zoom", "animate",
                             "e2e", "static"],
                    help="re-measure only these steps; other figures stay from results.json")
    ap.add_argument("--e2e-cases", nargs="+", choices=["clip12", "screen60", "screen600"],
                    help="the e2e step's runs (default: all three; see benchmarks/e2e.py)")
    ap.add_argument("--e2e-port", type=int,
                    help="the e2e step's own Airflow port (default BENCH_AIRFLOW_PORT or 18130)")
    args = ap.parse_args(argv)
    if args.stage:
        name, work, source = args.stage
        run_stage(name, Path(work), Path(source))
        return

    work = Path(tempfile.mkdtemp(prefix="vp-bench-"))
    try:
        results: dict = {"machine": machine()}
        chosen = [n for n in ("analyze", "render", "moviepy", "animate")
                  if not args.only or n in args.only]
        # the cut/screen clips only for the steps that use them (e2e generates its own)
        inputs = cut_inputs(work) if chosen else {}
        if inputs:
            results["inputs"] = {
                "cuts": str(inputs["synthetic"]["origin"]),
                "screen": str(inputs["screen"]["origin"]),
                "render_job": f"{inputs['screen']['origin']}: analyze → script → espeak-ng "
                              f"voiceover → edit (sync_mode pad) → render 1280x720, x264 "
                              f"{SETTINGS.video_preset} CRF 23, AAC 128k",
                "moviepy_job": f"the same job on the first {args.moviepy_seconds:.0f} s",
                "rounds": args.rounds,
            }
        steps = {
            "analyze": lambda: bench_analyze(inputs, args.rounds),
            "footage": lambda: bench_footage(work, args.rounds),
            "render": lambda: bench_render(inputs["screen"]["path"], work, args.rounds),
            "moviepy": lambda: bench_moviepy(inputs["screen"]["path"], work, args.moviepy_seconds),
            "rss": lambda: bench_rss(work, args.rss_minutes),
            "animate": lambda: bench_graphics(inputs["screen"]["path"], work, args.rounds),
            "zoom": lambda: bench_zoom(work, args.rounds),
            "e2e": lambda: bench_e2e_step(args.e2e_cases, args.e2e_port),
            "static": lambda: bench_static_step(work, args.rounds),
        }
        if args.only:  # re-measure some steps, keep the other figures of the last full run
            results = {**json.loads((HERE / "results.json").read_text()), **results}
        for name, step in steps.items():
            if not args.only or name in args.only:
                results.update(step())
                print(json.dumps(results, indent=1), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    markdown = table(results)
    write_table(markdown)
    print(markdown)
    if "e2e" in results:
        from benchmarks.e2e import markdown as e2e_markdown

        per_task = e2e_markdown(results["e2e"])
        write_table(per_task, "e2e-table")
        print(per_task)


if __name__ == "__main__":
    main()
