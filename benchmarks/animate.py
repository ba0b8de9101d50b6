"""The animate step of benchmarks/run.py: motion graphics cost, and which alpha format ffmpeg
overlays fastest.

- ``animate_s``: ``animate.run`` drawing an intro, an outro and 6 lower thirds at 1280x720
  (MoviePy, both encodes included).
- ``render_animated_vs_plain``: ``render.run`` of the same job with those graphics against
  without (``animate=off``), alternating rounds; the animated video is longer by the two cards,
  so the ratio per second of output is given too.
- ``overlay_<format>_s``: decoding the 6 lower thirds and overlaying them on the plain render
  (``-f null``, no encode) for PNG-in-MOV, ProRes 4444, WebM VP9 with alpha and a PNG sequence,
  less the same pass without overlays.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

from include.core.edl import Edl, Overlay
from include.core.media import FFMPEG, duration_of
from include.core.options import Settings
from include.stages import animate, render

LOWER_THIRDS = 6


def animated_edl(job: Path, settings: Settings) -> Path:
    """The job's EDL (made with animate off) laid out with an intro, an outro and 6 lower
    thirds spread over the footage."""
    plain = Edl.load(job / "edit" / "edl.json")
    analysis = json.loads((job / "analyze" / "segments.json").read_text())
    script = json.loads((job / "script" / "script.json").read_text())
    edl = animate.lay_out(plain, settings, analysis, script)
    # a lower third per page; where the recording has fewer pages than 6, more are spread evenly
    # over the footage (the cost, not the layout, is measured)
    x, y, width, height = animate.lower_third_box(edl)
    step = (edl.body_end - edl.body_start) / LOWER_THIRDS
    overlays = tuple(
        Overlay("lower_third", f"lower-third-{k + 1:02d}.{animate.OVERLAY_FORMAT}", "s01",
                round(edl.body_start + k * step + 0.4, 3),
                round(edl.body_start + k * step + 0.4 + animate.LOWER_THIRD_SECONDS, 3),
                x, y, width, height, title=f"Section {k + 1}: Overview", kicker="Bench")
        for k in range(LOWER_THIRDS))
    edl = replace(edl, overlays=overlays)
    path = job / "edit" / "edl-animated.json"
    edl.write(path)
    return path


def bench_animate(job: Path, source_file: Path, settings: Settings, rounds: int, alternate,
                  timed) -> dict:
    settings = settings.model_copy(update={"animate": "auto", "outro_url": "example.com/start"})
    edl_path = animated_edl(job, settings)
    graphics = job / "animate"
    animate_s, animate_cpu = timed(lambda: animate.run(edl_path, settings, graphics))
    edl = Edl.load(edl_path)
    base = {"captions.ass": job / "edit" / "captions.ass",
            "voiceover.wav": job / "voiceover" / "voiceover.wav"}
    files = {**base, **{p.name: p for p in graphics.iterdir()}}
    plain_out, animated_out = job / "render-plain", job / "render-animated"
    times = alternate(
        rounds,
        plain=lambda: render.run(source_file, job / "edit" / "edl.json", plain_out, files=base,
                                 preset=settings.video_preset),
        animated=lambda: render.run(source_file, edl_path, animated_out, files=files,
                                    preset=settings.video_preset),
    )
    plain_len = duration_of(plain_out / "final.mp4")
    animated_len = duration_of(animated_out / "final.mp4")
    ratio = times["animated"] / times["plain"]
    result = {
        "animate_clips": len(edl.cards) + len(edl.overlays),
        "animate_s": round(animate_s, 3),
        "animate_cpu_s": round(animate_cpu, 3),
        "render_plain_s": times["plain"],
        "render_animated_s": times["animated"],
        "render_animated_vs_plain": round(ratio, 3),
        "render_animated_vs_plain_cpu": round(times["animated_cpu"] / times["plain_cpu"], 3),
        "render_animated_vs_plain_per_output_s": round(ratio * plain_len / animated_len, 3),
        "render_plain_output_s": plain_len,
        "render_animated_output_s": animated_len,
    }
    result.update(overlay_formats(edl, graphics, plain_out / "final.mp4", rounds, alternate))
    return result


def overlay_formats(edl: Edl, graphics: Path, video: Path, rounds: int, alternate) -> dict:
    """Decode + overlay cost of the lower thirds per alpha format (the plain render below)."""
    variants: dict[str, list[list[str]]] = {"png_mov": [], "prores4444": [], "vp9_webm": [],
                                            "png_sequence": []}
    for o in edl.overlays:
        src = graphics / o.file
        stem = graphics / Path(o.file).stem
        prores, webm, pngs = stem.with_suffix(".prores.mov"), stem.with_suffix(".webm"), \
            Path(f"{stem}-png")
        pngs.mkdir(exist_ok=True)
        for args in (["-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le",
                      str(prores)],
                     ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-b:v", "0", "-crf", "30",
                      "-row-mt", "1", str(webm)],
                     [str(pngs / "%04d.png")]):
            subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(src), *args], check=True)
        variants["png_mov"].append(["-i", str(src)])
        variants["prores4444"].append(["-i", str(prores)])
        variants["vp9_webm"].append(["-c:v", "libvpx-vp9", "-i", str(webm)])
        variants["png_sequence"].append(["-framerate", str(edl.output.fps), "-i",
                                         str(pngs / "%04d.png")])

    def command(inputs: list[list[str]]) -> list[str]:
        graph, label = [], "[0:v]"
        for k, o in enumerate(edl.overlays if inputs else []):
            graph += [f"[{k + 1}:v]setpts=PTS-STARTPTS+{o.out_start - edl.body_start}/TB[o{k}]",
                      f"{label}[o{k}]overlay=x={o.x}:y={o.y}:eof_action=pass:repeatlast=0[b{k}]"]
            label = f"[b{k}]"
        filters = ["-filter_complex", ";".join(graph), "-map", label] if graph else []
        return [FFMPEG, "-v", "error", "-nostdin", "-i", str(video),
                *[a for i in inputs for a in i], *filters, "-f", "null", "-"]

    runs = {"none": lambda: subprocess.run(command([]), check=True)}
    for name, inputs in variants.items():
        runs[name] = lambda inputs=inputs: subprocess.run(command(inputs), check=True)
    times = alternate(rounds, **runs)
    sizes = {"png_mov": sum((graphics / o.file).stat().st_size for o in edl.overlays)}
    out = {"overlay_base_s": times["none"]}
    for name in variants:
        out[f"overlay_{name}_s"] = round(max(0.0, times[name] - times["none"]), 3)
        out[f"overlay_{name}_cpu_s"] = round(max(0.0, times[f"{name}_cpu"] - times["none_cpu"]),
                                             3)
    out["overlay_png_mov_bytes"] = sizes["png_mov"]
    return out
