"""The animate step of benchmarks/run.py: motion graphics cost, and which alpha form ffmpeg
overlays cheapest.

- ``animate_s`` / ``animate_cpu_s``: ``animate.run`` drawing an intro, an outro and 6 lower
  thirds at 1280x720 (MoviePy, both encodes included).
- ``render_animated_vs_plain(_cpu)``: ``render.run`` of the same job with those graphics
  against without (``animate=off``), alternating rounds; the animated video is longer by the two
  cards, so the ratio per second of output is given too.
- ``overlay_<form>_cpu_s``: decoding the 6 lower thirds and overlaying them on the plain render
  (``-f null``, no encode), less the same pass without overlays, for the shipped form (QuickTime
  Animation with alpha, its still part stored as one frame), the same placed with ``-itsoffset``
  or padded to full frame, and the other forms made from it (QuickTime Animation, PNG-in-MOV and
  VP9 WebM at 30 fps and with the still part once, PNG-in-MOV at 15 fps, ProRes 4444); VP9 is
  decoded by libvpx (``-c:v libvpx-vp9`` before ``-i``: the native decoder drops the alpha).
  ``overlay_<form>_encode_cpu_s``: making the 6 files of a form from the shipped ones.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

from include.core.edl import Edl, Overlay
from include.core.media import FFMPEG, duration_of
from include.core.options import Settings
from include.stages import animate, render

LOWER_THIRDS = 6


def animated_edl(job: Path, settings: Settings) -> tuple[Path, Path]:
    """The job's EDL (made with animate off) laid out with an intro, an outro and 6 lower
    thirds spread over the footage, and the analysis animate draws them from (its pages'
    headlines: one per lower third)."""
    plain = Edl.load(job / "edit" / "edl.json")
    analysis = json.loads((job / "analyze" / "segments.json").read_text())
    script = json.loads((job / "script" / "script.json").read_text())
    edl = animate.lay_out(plain, settings, analysis, script)
    # a lower third per page; where the recording has fewer pages than 6, more are spread evenly
    # over the footage (the cost, not the layout, is measured)
    box = animate.lower_third_box(edl.output.width, edl.output.height, edl.captions.style)
    step = (edl.body_end - edl.body_start) / LOWER_THIRDS
    titles = [f"Section {k + 1}: Overview" for k in range(LOWER_THIRDS)]
    product = str(analysis.get("product_name") or "").strip()
    overlays = tuple(animate._lower_third(title, product, box, "s01",
                                          round(edl.body_start + k * step + 0.4, 3))
                     for k, title in enumerate(titles))
    edl = replace(edl, overlays=overlays)
    path = job / "edit" / "edl-animated.json"
    edl.write(path)
    drawn = {**analysis, "segments": [{"id": f"bench{k}", "screen": {"headline": title}}
                                      for k, title in enumerate(titles)]}
    analysis_path = job / "edit" / "segments-animated.json"
    analysis_path.write_text(json.dumps(drawn))
    return path, analysis_path


def bench_animate(job: Path, source_file: Path, settings: Settings, rounds: int, alternate,
                  timed) -> dict:
    settings = settings.model_copy(update={"animate": "auto", "outro_url": "example.com/start"})
    edl_path, analysis_path = animated_edl(job, settings)
    graphics = job / "animate"
    load = [os.getloadavg()[0]]
    animate_s, animate_cpu = timed(lambda: animate.run(
        analysis_path, job / "script" / "script.json", settings, graphics))
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
    load.append(os.getloadavg()[0])
    plain_len = duration_of(plain_out / "final.mp4")
    animated_len = duration_of(animated_out / "final.mp4")
    ratio = times["animated"] / times["plain"]
    result = {
        "animate_load": " / ".join(f"{v:.0f}" for v in load),
        "animate_job": f"benchmarks/animate.py on the render job ({plain_len:.0f} s after the "
                       f"edit, sync_mode {Edl.load(job / 'edit' / 'edl.json').sync_mode}), "
                       f"{rounds} rounds, load average {load[0]:.0f} at the start, "
                       f"{load[1]:.0f} after the renders",
        "animate_clips": len(edl.cards) + len(edl.overlays),
        "animate_s": round(animate_s, 3),
        "animate_cpu_s": round(animate_cpu, 3),
        "render_plain_s": times["plain"],
        "render_animated_s": times["animated"],
        "render_animated_vs_plain": round(ratio, 3),
        "render_plain_cpu_s": times["plain_cpu"],
        "render_animated_cpu_s": times["animated_cpu"],
        "render_animated_vs_plain_cpu": round(times["animated_cpu"] / times["plain_cpu"], 3),
        "render_animated_vs_plain_cpu_per_output_s": round(
            times["animated_cpu"] / times["plain_cpu"] * plain_len / animated_len, 3),
        "render_animated_vs_plain_per_output_s": round(ratio * plain_len / animated_len, 3),
        "render_plain_output_s": plain_len,
        "render_animated_output_s": animated_len,
    }
    result.update(overlay_formats(edl, graphics, plain_out / "final.mp4", rounds, alternate,
                                  timed))
    return result


# The lower thirds in other forms, made from the shipped file (QuickTime Animation with alpha,
# variable-rate: one frame for the still part): (ffmpeg output options, suffix, decoder).
VP9 = ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-b:v", "0", "-crf", "20", "-deadline",
       "good", "-cpu-used", "4", "-row-mt", "1", "-auto-alt-ref", "0"]
CFR = ["-vf", "fps={fps}"]
VFR = ["-fps_mode", "passthrough"]
BT709 = "scale=out_color_matrix=bt709:out_range=tv,format=yuva420p"
FORMATS: dict[str, tuple[list[str], str, list[str]]] = {
    "qtrle_vfr": ([], "", []),  # as shipped
    "qtrle": ([*CFR, "-c:v", "qtrle", "-pix_fmt", "argb"], ".mov", []),
    "png_mov": ([*CFR, "-c:v", "png", "-pix_fmt", "rgba"], ".mov", []),
    "png_mov_vfr": ([*VFR, "-c:v", "png", "-pix_fmt", "rgba"], ".mov", []),
    "png_mov_15fps": (["-vf", "fps=15", "-c:v", "png", "-pix_fmt", "rgba"], ".mov", []),
    "prores4444": ([*CFR, "-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt",
                    "yuva444p10le"], ".mov", []),
    # the native vp9 decoder drops the alpha plane: libvpx must decode it
    "vp9_webm": ([*CFR, *VP9], ".webm", ["-c:v", "libvpx-vp9"]),
    "vp9_webm_vfr": ([*VFR, *VP9], ".webm", ["-c:v", "libvpx-vp9"]),
    # the same frames padded to the full picture, overlaid at 0,0
    "qtrle_vfr_full_frame": ([*VFR, "-vf", "pad={width}:{height}:{x}:{y}:color=black@0",
                              "-c:v", "qtrle", "-pix_fmt", "argb"], ".full.mov", []),
}


def overlay_formats(edl: Edl, graphics: Path, video: Path, rounds: int, alternate,
                    timed) -> dict:
    """Decode + overlay cost of the lower thirds per alpha form (the plain render below, ``-f
    null``, no encode), less the same pass without them; plus the shipped form placed with
    ``-itsoffset`` on the input instead of ``setpts`` (``qtrle_vfr_itsoffset``). Also what
    encoding each form from the shipped file costs (``overlay_<form>_encode_cpu_s``, all 6,
    including a decode of the shipped file each)."""
    out: dict = {}
    variants: dict[str, list[tuple[list[str], Overlay]]] = {}
    for name, (args, suffix, decoder) in FORMATS.items():
        variants[name] = []

        def encode() -> None:
            for o in edl.overlays:
                target = graphics / (Path(o.file).stem + f".{name}{suffix}")
                filled = [a.format(fps=edl.output.fps, width=edl.output.width,
                                   height=edl.output.height, x=o.x, y=o.y) for a in args]
                subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(graphics / o.file),
                                *filled, str(target)], check=True)

        if args:
            out[f"overlay_{name}_encode_cpu_s"] = round(timed(encode)[1], 3)
        for o in edl.overlays:
            path = graphics / (Path(o.file).stem + f".{name}{suffix}") if args else \
                graphics / o.file
            if name.endswith("full_frame"):
                o = replace(o, x=0, y=0)
            variants[name].append(([*decoder, "-i", str(path)], o))
    variants["qtrle_vfr_itsoffset"] = [
        (["-itsoffset", f"{o.out_start - edl.body_start:.3f}", "-i", str(graphics / o.file)], o)
        for o in edl.overlays]

    def command(name: str) -> list[str]:
        graph, label, inputs = [], "[0:v]", variants.get(name, [])
        for k, (_, o) in enumerate(inputs):
            convert = "format=yuva420p" if name.startswith("vp9") else BT709
            shift = "" if name.endswith("itsoffset") else \
                f",setpts=PTS-STARTPTS+{o.out_start - edl.body_start}/TB"
            graph += [f"[{k + 1}:v]{convert}{shift}[o{k}]",
                      f"{label}[o{k}]overlay=x={o.x}:y={o.y}:eof_action=pass:repeatlast=0[b{k}]"]
            label = f"[b{k}]"
        filters = ["-filter_complex", ";".join(graph), "-map", label] if graph else []
        return [FFMPEG, "-v", "error", "-nostdin", "-i", str(video),
                *[a for args, _ in inputs for a in args], *filters, "-f", "null", "-"]

    runs = {name: (lambda name=name: subprocess.run(command(name), check=True))
            for name in ("none", *variants)}
    times = alternate(rounds, **runs)
    out["overlay_base_s"] = times["none"]
    out["overlay_base_cpu_s"] = times["none_cpu"]
    for name in variants:
        out[f"overlay_{name}_s"] = round(max(0.0, times[name] - times["none"]), 3)
        out[f"overlay_{name}_cpu_s"] = round(max(0.0, times[f"{name}_cpu"] - times["none_cpu"]),
                                             3)
    out["overlay_bytes"] = sum((graphics / o.file).stat().st_size for o in edl.overlays)
    return out
