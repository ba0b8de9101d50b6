"""Chunked render vs the single pass on a generated screen-like recording (issue #13).

    python benchmarks/chunks.py [--minutes 4] [--chunk-seconds 60] [--size 1280x720]

The source is a testsrc-based "screen": a static page (boxes, a clock in drawtext that changes
every second, a moving pointer) at 30 fps; the EDL plays it as clips of 8-14 s at 1x or 1.5x,
some held, with karaoke captions every 3 s and a generated voice, output 1280x720 x264
veryfast CRF 23 — the shape of the pipeline's screen-recording jobs. Measured one after the
other in this process (wall and user+sys CPU of ffmpeg and Python): the single pass
(``render.run``), every chunk (``render_chunks.render_chunk``) and the join
(``render_chunks.join``). Prints and writes ``benchmarks/chunks.json``: Σ chunk CPU ÷ single CPU,
join time, and the speed-up k media workers would give, from the measured per-chunk wall times
(longest-first onto k workers, then the join, plus Airflow's per-task start cost), and the same
from CPU seconds (which the machine's load does not skew).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from include.core.edl import AudioPlan, CaptionTrack, Clip, Edl, Narration, Output, Source  # noqa: E402
from include.core.media import FFMPEG  # noqa: E402
from include.stages import caption_track, render, render_chunks  # noqa: E402

HERE = Path(__file__).resolve().parent
FPS = 30
TASK_START_S = 1.3  # Airflow's cost to start one task under the scheduler (../shared notes: 1.1-1.4)


def cpu_seconds() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn):
    start, cpu = time.perf_counter(), cpu_seconds()
    value = fn()
    return value, round(time.perf_counter() - start, 2), round(cpu_seconds() - cpu, 2)


def make_source(path: Path, seconds: float, size: str) -> None:
    w, h = (int(v) for v in size.split("x"))
    page = (f"color=c=0xf3f4f6:size={size}:rate={FPS}:duration={seconds},"
            f"drawbox=x=0:y=0:w=iw:h=ih/12:color=0x1e3a5f:t=fill,"
            f"drawbox=x=iw/20:y=ih/6:w=iw/4:h=ih*2/3:color=0xe5e7eb:t=fill,"
            f"drawbox=x=iw/3:y=ih/6:w=iw/2:h=ih/5:color=0xffffff:t=fill,"
            f"drawbox=x=iw/3:y=ih/2:w=iw/2:h=ih/4:color=0xdbeafe:t=fill,"
            f"drawtext=text='%{{eif\\:t\\:d}} s':x=w/3+20:y=h/6+20:fontsize={h // 14}:"
            f"fontcolor=0x111827,"
            f"drawtext=text='Row %{{eif\\:mod(t*3\\,97)\\:d}}':x=w/3+20:y=h/2+20:"
            f"fontsize={h // 20}:fontcolor=0x1e40af,"
            f"drawbox=x='mod(t*90\\,{w - 40})':y='{h // 3}+mod(t*40\\,{h // 2})':w=16:h=22:"
            f"color=black:t=fill")
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", page,
                    "-f", "lavfi", "-i", f"anoisesrc=a=0.02:d={seconds}:r=48000",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "250", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(path)], check=True)


def make_edl(source_seconds: float, width: int, height: int) -> Edl:
    clips, out, src, k = [], 0.0, 0.0, 0
    while src < source_seconds - 1:
        length = min(8 + (k * 3) % 7, source_seconds - src)
        speed = 1.5 if k % 3 == 1 else 1.0
        hold = 1.0 if k % 4 == 3 else 0.0
        played = round(length / speed + hold, 3)
        clips.append(Clip(f"s{k:02d}", round(src, 3), round(src + length, 3), speed, hold,
                          round(out, 3), round(out + played, 3)))
        out, src, k = round(out + played, 3), src + length, k + 1
    duration = out
    words = "Open the report then filter the rows by status and export".split()
    events = []
    for n, t in enumerate(range(0, int(duration) - 3, 3)):
        spoken = words[n % 4: n % 4 + 5]
        events.append({"start": float(t), "end": t + 2.5, "text": " ".join(spoken),
                       "words": [{"word": w, "start": t + 0.5 * i, "end": t + 0.5 * (i + 1)}
                                 for i, w in enumerate(spoken)]})
    return Edl(sync_mode="fit", output=Output(width, height, FPS, duration),
               source=Source(source_seconds, True, width, height), clips=tuple(clips),
               narration=(Narration("s00", 0.0, duration, 0.0, duration),),
               audio=AudioPlan(voiceover="voiceover.wav"),
               captions=CaptionTrack(file="captions.ass", events=tuple(events)))


def schedule(walls: list[float], workers: int) -> float:
    """The makespan of the chunks on ``workers`` media workers, longest first."""
    loads = [0.0] * workers
    for wall in sorted(walls, reverse=True):
        loads[loads.index(min(loads))] += wall + TASK_START_S
    return max(loads)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--chunk-seconds", type=float, default=60.0)
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="vp-bench-chunks-"))
    try:
        source = work / "screen.mp4"
        seconds = args.minutes * 60
        make_source(source, seconds, args.size)
        edl = make_edl(seconds, width, height)
        edl.write(work / "edl.json")
        caption_track.write_ass(list(edl.captions.events), work / "captions.ass", "karaoke",
                                width, height)
        subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"aevalsrc='0.3*sin(2*PI*180*t)*(0.6+0.4*sin(2*PI*3*t))*gt(sin(2*PI*0.4*t)\\,-0.3)'"
                        f":s=22050:d={edl.output.duration}", "-ac", "1", str(work / "voiceover.wav")],
                       check=True)
        files = {"captions.ass": work / "captions.ass", "voiceover.wav": work / "voiceover.wav"}
        load_before = os.getloadavg()
        _, single_wall, single_cpu = timed(lambda: render.run(
            source, work / "edl.json", work / "single", files=files))
        chunks = render_chunks.plan(edl, args.chunk_seconds)
        per_chunk = []
        for chunk in chunks:
            _, wall, cpu = timed(lambda chunk=chunk: render_chunks.render_chunk(
                source, work / "edl.json", work / "chunks", chunk, files=files))
            per_chunk.append({"index": chunk["index"], "seconds": round(
                chunk["end"] - chunk["start"], 2), "wall_s": wall, "cpu_s": cpu})
        paths = [work / "chunks" / render_chunks.chunk_name(c["index"]) for c in chunks]
        _, join_wall, join_cpu = timed(lambda: render_chunks.join(
            source, work / "edl.json", paths, work / "joined", files=files))
        load_after = os.getloadavg()
        ssim = subprocess.run(
            [FFMPEG, "-i", str(work / "joined" / "final.mp4"), "-i", str(work / "single" / "final.mp4"),
             "-lavfi", "ssim", "-f", "null", "-"], capture_output=True, text=True).stderr
        ssim_all = float(ssim.rsplit("All:", 1)[1].split()[0])
        chunk_cpu = round(sum(c["cpu_s"] for c in per_chunk), 2)
        walls = [c["wall_s"] for c in per_chunk]
        # the single pass under Airflow: one task start; chunked: chunk_plan (beside animate,
        # so not counted), the chunks on k workers, then the join task's start and run
        speedups = {k: round((single_wall + TASK_START_S)
                             / (schedule(walls, k) + TASK_START_S + join_wall), 2)
                    for k in (1, 2, 3, 4, len(chunks))}
        # the same from CPU seconds (each task given the same cores; load does not skew these)
        cpus = [c["cpu_s"] for c in per_chunk]
        speedups_cpu = {k: round((single_cpu + TASK_START_S)
                                 / (schedule(cpus, k) + TASK_START_S + join_cpu), 2)
                        for k in (1, 2, 3, 4, len(chunks))}
        results = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cores": os.cpu_count(),
            "load_average_before": [round(v, 1) for v in load_before],
            "load_average_after": [round(v, 1) for v in load_after],
            "job": f"{args.minutes:g} min generated screen recording {args.size} {FPS} fps → "
                   f"{edl.output.duration:.0f} s final ({len(edl.clips)} clips, 1x/1.5x, holds, "
                   f"karaoke captions), x264 veryfast CRF 23",
            "chunk_seconds": args.chunk_seconds,
            "chunks": per_chunk,
            "single_wall_s": single_wall,
            "single_cpu_s": single_cpu,
            "sum_chunk_cpu_s": chunk_cpu,
            "sum_chunk_cpu_vs_single": round(chunk_cpu / single_cpu, 3),
            "join_wall_s": join_wall,
            "join_cpu_s": join_cpu,
            "chunked_total_cpu_vs_single": round((chunk_cpu + join_cpu) / single_cpu, 3),
            "ssim_joined_vs_single": ssim_all,
            "expected_speedup_k_workers": speedups,
            "expected_speedup_k_workers_from_cpu": speedups_cpu,
            "task_start_s_assumed": TASK_START_S,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (HERE / "chunks.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
