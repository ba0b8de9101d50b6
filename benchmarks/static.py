"""Rendering only what changes (issue #13): the render of a screen recording with its frozen
spans held, against the same render without them and against the hand-written single ffmpeg
pass of the same job.

Called by ``benchmarks/run.py --only static``. The job: the product tour of ``../shared/media``
(``product_tour_45s.mp4``, 1920x1080, mostly still pages with typing, a menu and a toast) when
present, else a generated Ledgerly tour (``include/product_tour.py``), through ingest, analyze
(OCR + ASR), script, voiceover and edit (sync_mode pad, zoom off: the hand-written pass has no
camera moves), then rendered 1280x720 x264 veryfast CRF 23. (``screen_60s.mp4`` is not used: its
dashboard animates all the time, so analyze finds no frozen span and there is nothing to hold.)

Four renders alternate ``rounds`` times in this process, medians of wall and CPU (user + sys of
Python and ffmpeg): ``render.run`` on the EDL as shipped (frozen spans held, variable frame rate:
a frame that repeats the one before it is not encoded, see include/stages/still_frames.py), the
same at a constant frame rate (``frame_rate=constant``: every frame encoded), ``render.run`` on
the same EDL without ``frozen`` at a constant rate (the path before either) and
``run.hand_written_command``. Then SSIM (ffmpeg ``ssim``, both sides played at the output's
rate) of each render against the hand-written pass and against each other, and the frames
stored, the frames shown and the duration of every output. Nothing here asserts a time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from include.core.edl import Edl
from include.core.media import FFMPEG, duration_of, ffprobe, picture_end
from include.core.options import Settings


def source_for(shared: Path, work: Path) -> tuple[Path, str]:
    tour = shared / "product_tour_45s.mp4"
    if tour.exists():
        return tour, "../shared/media/product_tour_45s.mp4"
    from include.product_tour import make_product_tour

    out = work / "ledgerly_tour.mp4"
    make_product_tour(out, size=(1920, 1080))
    return out, "generated Ledgerly tour 1920x1080 (include/product_tour.py)"


def ssim(a: Path, b: Path, fps: int = 30) -> float:
    """Mean SSIM of the pictures as shown at ``fps`` (a variable-rate file stores a still once)."""
    err = subprocess.run([FFMPEG, "-v", "info", "-nostdin", "-i", str(a), "-i", str(b),
                          "-lavfi", f"[0:v]fps={fps}[a];[1:v]fps={fps}[b];[a][b]ssim",
                          "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    return float(re.findall(r"All:([0-9.]+)", err)[-1])


def frames_of(path: Path) -> int:
    video = next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")
    return int(video.get("nb_frames") or 0)


def bench_static(bench, work: Path, rounds: int) -> dict:
    """``bench`` is benchmarks/run.py (its stages, ``alternate`` and hand-written pass)."""
    from include.stages import render

    source, origin = source_for(bench.SHARED, work)
    job = work / "static-job"
    settings = Settings(**{**bench.SETTINGS.to_dict(), "zoom": "off"})
    saved, bench.SETTINGS = bench.SETTINGS, settings
    try:
        bench.prepare_job(source, job)
    finally:
        bench.SETTINGS = saved
    edl = Edl.load(job / "edit" / "edl.json")
    plain = edl.as_dict()
    plain["clips"] = [{**c, "frozen": []} for c in plain["clips"]]
    (job / "edit" / "edl_plain.json").write_text(json.dumps(plain))
    analysis = json.loads((job / "analyze" / "segments.json").read_text())
    files = {"captions.ass": job / "edit" / "captions.ass",
             "voiceover.wav": job / "voiceover" / "voiceover.wav"}
    src = bench.ingested(job)
    outs = {"held": job / "held" / "final.mp4", "held_cfr": job / "held_cfr" / "final.mp4",
            "plain": job / "plain" / "final.mp4", "hand": job / "hand.mp4"}

    def ours(name: str, edl_file: str, frame_rate: str) -> None:
        render.run(src, job / "edit" / edl_file, outs[name].parent, files=files,
                   preset=settings.video_preset, frame_rate=frame_rate)

    load_before = os.getloadavg()
    times = bench.alternate(
        rounds,
        held=lambda: ours("held", "edl.json", "variable"),
        held_cfr=lambda: ours("held_cfr", "edl.json", "constant"),
        plain=lambda: ours("plain", "edl_plain.json", "constant"),
        hand=lambda: subprocess.run(bench.hand_written_command(job, outs["hand"]), check=True),
    )
    load_after = os.getloadavg()
    fps = edl.output.fps
    pieces = render.video_clips(edl)
    held_frames = sum(b - a + 1 for p in pieces for a, b in p.held)
    tail_frames = sum(round(p.hold * fps) - round(c.hold * fps)
                      for p, c in zip(pieces, render._timed_clips(edl.clips, fps)))
    return {
        "static_source": origin,
        "static_frozen_spans": len(analysis.get("frozen_spans") or []),
        "static_frozen_seconds": round(sum(b - a for a, b in analysis.get("frozen_spans") or []),
                                       3),
        "static_output_frames_held": held_frames + tail_frames,
        "static_output_frames": round(edl.output.duration * fps),
        "static_clips": len(edl.clips),
        **{f"static_render_{k}_s": times[k] for k in ("held", "held_cfr", "plain")},
        "static_hand_s": times["hand"],
        **{f"static_render_{k}_cpu_s": times[f"{k}_cpu"] for k in ("held", "held_cfr", "plain")},
        "static_hand_cpu_s": times["hand_cpu"],
        **{f"static_{k}_vs_hand": round(times[k] / times["hand"], 3)
           for k in ("held", "held_cfr", "plain")},
        **{f"static_{k}_vs_hand_cpu": round(times[f"{k}_cpu"] / times["hand_cpu"], 3)
           for k in ("held", "held_cfr", "plain")},
        **{f"static_ssim_{k}_vs_hand": round(ssim(outs[k], outs["hand"], fps), 5)
           for k in ("held", "held_cfr", "plain")},
        "static_ssim_held_vs_plain": round(ssim(outs["held"], outs["plain"], fps), 5),
        "static_frames": {k: frames_of(p) for k, p in outs.items()},
        "static_frames_shown": {k: round(picture_end(p) * fps) for k, p in outs.items()},
        "static_durations": {k: duration_of(p) for k, p in outs.items()},
        "static_load": [round(v, 2) for v in (*load_before, *load_after)],
        "static_rounds": rounds,
    }


def rows(r: dict) -> list[tuple[str, str, str]]:
    """Table rows for benchmarks/README.md (measure, result, goal)."""
    if "static_held_vs_hand" not in r:
        return []
    return [
        (f"render only what changes ÷ hand-written ffmpeg pass ({r['static_source']}, "
         f"{r['static_output_frames_held']} of {r['static_output_frames']} output frames held; "
         f"frozen spans held and a variable frame rate, as shipped; wall / CPU, load "
         f"{r['static_load'][0]:.1f}-{r['static_load'][3]:.1f})",
         f"{r['static_held_vs_hand']:.2f} / {r['static_held_vs_hand_cpu']:.2f} "
         f"({r['static_render_held_s']:.1f} s vs {r['static_hand_s']:.1f} s; CPU "
         f"{r['static_render_held_cpu_s']:.1f} vs {r['static_hand_cpu_s']:.1f} s); held at a "
         f"constant rate: {r['static_held_cfr_vs_hand']:.2f} / "
         f"{r['static_held_cfr_vs_hand_cpu']:.2f}; neither: {r['static_plain_vs_hand']:.2f} / "
         f"{r['static_plain_vs_hand_cpu']:.2f}", "≤ 0.70"),
        ("… SSIM against the hand-written pass (shipped; held at a constant rate; neither); "
         "shipped against neither; frames stored (shipped / constant rate / neither / hand); "
         "frames shown",
         f"{r['static_ssim_held_vs_hand']:.4f} ({r['static_ssim_held_cfr_vs_hand']:.4f}; "
         f"{r['static_ssim_plain_vs_hand']:.4f}); {r['static_ssim_held_vs_plain']:.4f}; "
         + " / ".join(str(v) for v in r["static_frames"].values()) + "; "
         + " / ".join(str(v) for v in r["static_frames_shown"].values()),
         "≥ 0.99, shown equal"),
    ]
