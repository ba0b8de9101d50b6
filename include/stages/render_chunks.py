"""Chunked render: a long EDL rendered as video chunks on several workers, then joined.

The single pass of :mod:`include.stages.render` stays the render of every video up to
``chunk_seconds`` (a run option). Above it:

* :func:`plan` (in the edit task, which knows the final timeline) cuts the final video into
  about equal chunks at frame boundaries — at a clip boundary near the ideal cut when there is
  one, else inside a clip — never inside an intro/outro card or a lower third, and returns small
  dicts ``{index, start, end, start_frame, end_frame}`` (``[]``: one pass).
* :func:`render_chunk` (one mapped Airflow task per chunk) renders the chunk's frames of the
  *same* filter graph as the single pass, video only: only the clips (or the parts of clips) in
  the chunk are decoded; the footage's timestamps are shifted to footage time before the camera
  moves (``zoompan`` reads ``it``) and the lower thirds, and to final time before the burned-in
  captions (``subtitles`` renders at the frame's timestamp), so zooms and captions continue
  across a join. Same x264 settings as the single pass; every chunk starts on an IDR frame.
* :func:`join` concatenates the chunk files by stream copy (concat demuxer, each file's exact
  duration given) and muxes the whole video's audio — voice, beds, loudness planned once on the
  whole voice, exactly the single pass's audio graph — in one pass into ``final.mp4`` (temp name,
  renamed). Nothing is re-encoded at a join, and the audio has no join at all.

No Airflow import here (the tasks are in ``dags/video_pipeline.py``).
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

from include.core.edl import Edl, Overlay
from include.core.errors import FatalError
from include.core.files import temp_sibling, write_text
from include.core.media import FFMPEG, ffprobe, picture_end, user_input_args
from include.stages import render, still_frames
from include.stages.render import (
    FONTS_DIR,
    ProgressCallback,
    TimedClip,
    _filter_value,
    _num,
)

MAX_CHUNKS = 32  # more would be a fan-out of tiny tasks: the chunks get longer instead
MIN_CHUNK_SECONDS = 1.0  # no chunk shorter than this (a cut that would make one is dropped)
SNAP = 0.25  # a clip boundary within this fraction of a chunk from the ideal cut is preferred
OVERLAY_MARGIN = 0.5  # seconds after a lower third's end in which no cut is made


def plan(edl: Edl, chunk_seconds: float, *, slots: int = 1,
         max_chunks: int = MAX_CHUNKS) -> list[dict]:
    """The chunks of ``edl``'s final video for chunks of about ``chunk_seconds``; ``[]`` when
    the video is not longer than that (or ``chunk_seconds`` is 0): it renders in one pass.

    ``slots`` is how many chunks the media workers render at once: the count is rounded up to a
    multiple of it, so the last wave keeps every slot busy (a 10-minute tour at 120 s made five
    chunks, the fifth rendered alone on two slots; six of 100 s take two slots three equal
    waves)."""
    fps = edl.output.fps
    total = round(edl.output.duration * fps)
    if chunk_seconds <= 0 or total <= round(chunk_seconds * fps):
        return []
    count = math.ceil(total / (chunk_seconds * fps))
    slots = max(1, slots)
    count = min(max_chunks, math.ceil(count / slots) * slots)
    allowed = _allowed_cuts(edl)
    clip_cuts = sorted({round(c.out_start * fps) for c in edl.clips} & allowed)
    min_frames = max(1, round(MIN_CHUNK_SECONDS * fps))
    cuts = [0]
    for i in range(1, count):
        ideal = total * i / count
        window = SNAP * total / count
        near = [f for f in clip_cuts if abs(f - ideal) <= window]
        pool = near or sorted(allowed)
        if not pool:
            continue
        cut = min(pool, key=lambda f: (abs(f - ideal), f))
        if cut - cuts[-1] >= min_frames and total - cut >= min_frames:
            cuts.append(cut)
    cuts.append(total)
    if len(cuts) <= 2:
        return []
    return [{"index": k, "start": round(a / fps, 3), "end": round(b / fps, 3),
             "start_frame": a, "end_frame": b}
            for k, (a, b) in enumerate(zip(cuts, cuts[1:]))]


def _allowed_cuts(edl: Edl) -> set[int]:
    """The frames a chunk may start at: inside the footage (not at or inside a card), not while
    a lower third is on screen (nor just after it)."""
    fps = edl.output.fps
    first, last = round(edl.body_start * fps), round(edl.body_end * fps)
    allowed = set(range(first + 1, last))
    for o in edl.overlays:
        allowed -= set(range(round(o.out_start * fps), round((o.out_end + OVERLAY_MARGIN) * fps) + 1))
    return allowed


def chunk_name(index: int) -> str:
    return f"chunk_{index:03d}.mp4"


def render_chunk(
    source_path: Path,
    edl_path: Path,
    out_dir: Path,
    chunk: dict,
    *,
    files: dict[str, Path],
    preset: str = "veryfast",
    crf: int = 23,
    frame_rate: str = "variable",
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> dict:
    """Render chunk ``chunk`` (a :func:`plan` entry) of the EDL to ``out_dir/chunk_NNN.mp4``,
    video only; ``files`` as for :func:`include.stages.render.run` (captions, graphics).
    Errors as there; no partial file is left behind. Returns ``{"file", "index", "frames",
    "start", "end", "bytes"}``."""
    for path, what in ((source_path, "source video"), (edl_path, "edl.json")):
        if not Path(path).is_file():
            raise FatalError(f"The {what} {path} is missing; re-run the stage that writes it.")
    edl = Edl.load(edl_path)
    start, end = int(chunk["start_frame"]), int(chunk["end_frame"])
    total = round(edl.output.duration * edl.output.fps)
    if not 0 <= start < end <= total:
        raise FatalError(f"render chunk {chunk} is outside the video's {total} frames; "
                         "re-run the edit stage.")
    captions_path = render._named_file(files, edl.captions.file, "captions file")
    graphics = {name: render._named_file(files, name, "motion-graphics clip")
                for name in edl.graphics_files()}
    out = Path(out_dir) / chunk_name(int(chunk["index"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = temp_sibling(out)
    video = render._video_stream(source_path)
    cmd = build_chunk_command(edl, source_path, captions_path, partial, start, end,
                              matrix=video.get("color_space"), preset=preset, crf=crf,
                              graphics=graphics, seek_limit=render.seek_limit(video),
                              frame_rate=frame_rate)
    seconds = (end - start) / edl.output.fps
    try:
        render._run_ffmpeg(cmd, seconds, timeout or max(600.0, 10.0 * seconds), progress)
        frames = frames_shown(partial, edl.output.fps)
        if frames != end - start:
            raise FatalError(f"render chunk {chunk['index']} lasts {frames} frames instead of "
                             f"{end - start}")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return {"file": out.name, "index": int(chunk["index"]), "frames": end - start,
            "start": chunk["start"], "end": chunk["end"], "bytes": out.stat().st_size}


def build_chunk_command(
    edl: Edl,
    source_path: Path,
    captions_path: Path,
    output_path: Path,
    start: int,
    end: int,
    *,
    matrix: str | None = None,
    preset: str = "veryfast",
    crf: int = 23,
    graphics: dict[str, Path] | None = None,
    seek_limit: int = render.MAX_SEEK_INPUTS,
    frame_rate: str = "constant",
) -> list[str]:
    """The ffmpeg command rendering final frames ``[start, end)`` of ``edl``, video only, with
    the single pass's filters and encoder settings (the same clips, frozen spans held: see
    :func:`include.stages.render.video_clips`; the parts of them in the chunk)."""
    out = edl.output
    fps = out.fps
    first, last = round(edl.body_start * fps), round(edl.body_end * fps)
    foot_start, foot_end = max(start, first), min(end, last)
    if foot_start >= foot_end:
        raise FatalError("a render chunk must hold footage (chunks are never cut at a card)")
    pieces = _pieces(render.video_clips(edl), foot_start, foot_end, fps)
    # the frame chain of the single pass (scale and pad per piece, or camera moves in footage
    # time after the concat)
    per_piece, after_concat = render.frame_chains(edl, matrix)
    inputs, graph = _piece_chains(pieces, source_path, fps, seek_limit, per_piece)
    shift = foot_start - first  # footage frames before this chunk
    body = ("".join(f"[p{k}]" for k in range(len(pieces)))
            + f"concat=n={len(pieces)}:v=1:a=0,{_shift(shift, fps)}{after_concat}setsar=1,"
            "setpts=PTS-STARTPTS")
    cards = tuple(c for c in edl.cards
                  if (c.kind == "intro" and start == 0) or (c.kind == "outro" and end == round(
                      out.duration * fps)))
    sub = replace(edl, cards=cards, overlays=())
    body_start = sub.body_start  # the footage's start in the chunk's graphics timeline
    overlays = tuple(
        _shifted(o, edl.body_start - body_start + shift / fps) for o in edl.overlays
        if round(o.out_start * fps) < foot_end and round(o.out_end * fps) > foot_start)
    sub = replace(sub, overlays=overlays)
    first_graphic = inputs.count("-i")
    inputs += render._graphic_inputs(sub, graphics or {})
    subtitles = (f"subtitles=filename={_filter_value(captions_path)}:"
                 f"fontsdir={_filter_value(FONTS_DIR)}")
    drop = (still_frames.select_filter(still_frames.repeated(
        edl, render.video_clips(edl), captions_path, start, end))
        if frame_rate == "variable" else "")
    # the repeated frames leave before the captions are drawn on them (as in the single pass)
    tail = (f"{drop[1:]}," if drop else "") + (
        f"{_shift(start, fps)}{subtitles},format=yuv420p,setpts=PTS-STARTPTS[v]")
    graph += render._with_graphics(sub, body, tail, first_graphic)
    return [
        FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        *inputs,
        "-filter_complex", ";".join(graph),
        "-map", "[v]", "-an", "-map_metadata", "-1", *still_frames.output_args(frame_rate),
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv",
        "-t", _num((end - start) / fps),
        "-progress", "pipe:1", "-nostats",
        str(output_path),
    ]


def _shift(frames: int, fps: int) -> str:
    """A ``setpts`` moving the stream ``frames`` frames later (exact in any time base), or ''."""
    return f"setpts=PTS+round({frames}/({fps}*TB))," if frames else ""


def _shifted(overlay: Overlay, seconds: float) -> Overlay:
    return replace(overlay, out_start=overlay.out_start - seconds,
                   out_end=overlay.out_end - seconds)


def _pieces(clips: list[TimedClip], start: int, end: int, fps: int) -> list[dict]:
    """The clips' parts in final frames ``[start, end)``: each a source span to seek, the frames
    to skip after it (a chunk starting in a clip's hold) and the frames to keep."""
    pieces, position = [], round(clips[0].out_start * fps) if clips else 0
    for clip in clips:
        a, b = position, position + clip.frames
        position = b
        lo, hi = max(a, start), min(b, end)
        if lo >= hi:
            continue
        offset, keep = lo - a, hi - lo
        play = (clip.src_end - clip.src_start) / clip.speed
        # start in the clip: seek there; in (or near) its hold: seek 1 s before the hold and skip
        seek = min(offset / fps, max(0.0, play - 1.0)) if offset else 0.0
        skip = offset - round(seek * fps)
        pieces.append({"clip": clip, "src_start": clip.src_start + seek * clip.speed,
                       "skip": skip, "keep": keep, "whole": offset == 0 and keep == clip.frames,
                       "first": offset - skip})  # the clip frame the seek lands on
    return pieces


def _piece_chains(pieces: list[dict], source_path: Path, fps: int,
                  seek_limit: int, per_piece: str = "") -> tuple[list[str], list[str]]:
    """Inputs and chains ``[p<k>]``: one seeked input per piece, or (more pieces than
    ``seek_limit``) one input seeked to the chunk's source window, split and trimmed."""
    inputs: list[str] = []
    graph: list[str] = []
    seek = len(pieces) <= seek_limit
    if seek:
        for p in pieces:
            inputs += ["-ss", _num(p["src_start"]), "-t", _num(p["clip"].src_end - p["src_start"]),
                       *user_input_args(source_path)]
    else:
        low = min(p["src_start"] for p in pieces)
        high = max(p["clip"].src_end for p in pieces)
        inputs += ["-ss", _num(low), "-t", _num(high - low), *user_input_args(source_path)]
        graph.append(f"[0:v]split={len(pieces)}" + "".join(f"[s{k}]" for k in range(len(pieces))))
    for k, p in enumerate(pieces):
        clip = p["clip"]
        head = f"[{k}:v]" if seek else (
            f"[s{k}]trim=start={_num(p['src_start'] - low)}:end={_num(clip.src_end - low)},")
        skip, keep = p["skip"], p["keep"]
        cut = (f"trim=end_frame={keep}" if not skip
               else f"trim=start_frame={skip}:end_frame={skip + keep},setpts=PTS-STARTPTS")
        drop, refill = (render._held_chain(clip.held, p["first"], fps) if per_piece
                        else ("", ""))
        graph.append(
            f"{head}setpts=(PTS-STARTPTS)/{_num(clip.speed)},fps={fps},{drop}{per_piece}{refill}"
            f"tpad=stop_mode=clone:stop_duration={_num(clip.hold + 2 / fps)},{cut}[p{k}]")
    return inputs, graph


def frames_shown(path: Path, fps: int) -> int:
    """How many frames at ``fps`` the picture of ``path`` lasts (with a variable frame rate a
    stored frame may last several: :func:`include.core.media.picture_end`)."""
    return round(picture_end(path) * fps)


def join(
    source_path: Path,
    edl_path: Path,
    chunk_paths: list[Path],
    out_dir: Path,
    *,
    files: dict[str, Path],
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> dict:
    """``out_dir/final.mp4`` from the chunk files (in order, stream copy) and the whole video's
    audio, planned and mixed as in the single pass. Returns render.run's result plus
    ``"chunks"`` (their number)."""
    for path, what in ((source_path, "source video"), (edl_path, "edl.json")):
        if not Path(path).is_file():
            raise FatalError(f"The {what} {path} is missing; re-run the stage that writes it.")
    for path in chunk_paths:
        if not Path(path).is_file():
            raise FatalError(f"The render chunk {path} is missing; re-run render_chunk.")
    edl = Edl.load(edl_path)
    fps, duration = edl.output.fps, edl.output.duration
    voiceover_path = render._named_file(files, edl.audio.voiceover, "voiceover audio")
    music_path = (render._named_file(files, edl.audio.music, "music bed")
                  if edl.audio.music else None)
    final = Path(out_dir) / "final.mp4"
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = temp_sibling(final)
    listing = final.parent / ".chunks.ffconcat"
    frames = [frames_shown(p, fps) for p in chunk_paths]
    if sum(frames) != round(duration * fps):
        raise FatalError(f"the render chunks hold {sum(frames)} frames, the EDL "
                         f"{round(duration * fps)}; re-run render_chunk.")
    write_text(listing, "ffconcat version 1.0\n" + "".join(
        f"file {_concat_path(p)}\nduration {_num(n / fps)}\n"
        for p, n in zip(chunk_paths, frames)))
    video = render._video_stream(source_path)
    seek = len(render._timed_clips(edl.clips, fps)) <= render.seek_limit(video)
    mix = render._plan_mix(edl, source_path, voiceover_path, music_path, seek)
    clips = render._timed_clips(edl.clips, fps) if mix.bed_gain_db is not None else []
    inputs, voice_index = render._inputs(clips, seek, source_path, voiceover_path, music_path)
    video_index = inputs.count("-i")
    inputs += ["-f", "concat", "-safe", "0", "-protocol_whitelist", "file",
               "-i", f"file:{listing}"]
    cmd = [
        FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        *inputs,
        "-filter_complex", ";".join(render._audio_graph(edl, clips, seek, voice_index, mix)),
        "-map", f"{video_index}:v:0", "-map", "[a]", "-map_metadata", "-1",
        "-c:v", "copy",
        *render.AUDIO_CODEC, "-ar", str(render.AUDIO_RATE), "-ac", "2",
        "-movflags", "+faststart", "-t", _num(duration),
        "-progress", "pipe:1", "-nostats",
        str(partial),
    ]
    try:
        render._run_ffmpeg(cmd, duration, timeout or max(600.0, 2.0 * duration), progress)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
        listing.unlink(missing_ok=True)
    info = ffprobe(final)
    v = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), {})
    a = next((s for s in info.get("streams", []) if s.get("codec_type") == "audio"), {})
    return {
        "duration": round(float(info.get("format", {}).get("duration") or 0.0), 3),
        "width": v.get("width"),
        "height": v.get("height"),
        "bytes": final.stat().st_size,
        "video_codec": v.get("codec_name"),
        "audio_codec": a.get("codec_name"),
        "original_audio": "drop" if mix.bed_gain_db is None else "duck",
        "music": mix.music_gain_db is not None,
        "loudness": mix.to_dict(),
        "chunks": len(chunk_paths),
    }


def _concat_path(path: Path) -> str:
    """A quoted absolute path for an ffconcat ``file`` line."""
    text = os.path.abspath(path).replace("'", "'\\''")
    return f"'file:{text}'"
