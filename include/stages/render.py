"""Render stage: one ffmpeg run from the EDL to ``final.mp4``.

Video: every EDL clip is its own input seeked with ``-ss``/``-t`` (only the kept spans are
decoded), retimed with ``setpts`` for its speed, made constant-rate with ``fps``, padded with
``tpad`` (clone) for its hold and cut with ``trim`` to its exact frame count, so the clips land on
the EDL's final-time boundaries without drift. Each clip is scaled and padded to the output size
(letterboxed for 16:9, centre-cropped for a 9:16 short) before its hold, so a held frame is scaled
once; a clip's frozen spans (``Clip.frozen``, from analyze) are held too: dropped right after the
decode and refilled with their first frame (not decoded at all when they run to the clip's end,
see :func:`video_clips`). The clips are concatenated (with camera moves, ``zoompan`` scales after
the concat instead), the frames that repeat the one before left out (variable frame rate, see
:mod:`include.stages.still_frames`), the captions burned in with ``subtitles`` and converted to yuv420p. Every seeked input holds a decoder (its reference
frames and thread buffers: ~40 MB at 1080p), so above ``seek_limit`` clips — at most
``MAX_SEEK_INPUTS``, fewer for large sources, keeping decoders within ``DECODER_BUDGET_BYTES`` —
one input is split and trimmed per clip instead (that decodes the whole source, and buffers the
frames of clips that come earlier in the source than in the output).
Audio: the voiceover with a fixed gain and a limiter planned beforehand on the voice alone
(:mod:`include.stages.loudness`: -14 LUFS integrated, true peak <= -1 dBTP), padded with silence /
trimmed to the output duration. With ``audio.original = "duck"`` the source's own audio follows
the clips (``atempo`` for speed, silence for holds), sits 12 LU under the voice and is pushed
down further by ``sidechaincompress`` while the voice speaks; a music bed (``audio.music``) is
looped and ducked the same way. 48 kHz stereo AAC.
Output: H.264 (the x264 preset the run chose) with BT.709 tags and ``+faststart``, written to a
temp name and renamed.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import threading
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable

from include.core.edl import TOLERANCE, Clip, Edl
from include.core.errors import FatalError, RetryableError
from include.core.files import temp_sibling
from include.core.media import (
    FFMPEG,
    MUSIC_FORMATS,
    VOICE_FORMATS,
    ffprobe,
    last_error_line,
    require_binary,
    user_input_args,
)
from include.stages import camera, loudness, still_frames

MAX_SEEK_INPUTS = 40  # more clips than this: one input + split/trim instead of one input each
DECODER_BUDGET_BYTES = 200 * 2**20  # memory the seeked inputs' decoders may take together
DECODER_BYTES_PER_PIXEL = 20  # one H.264 decoder (references, threads), measured at 1080p
FONTS_DIR = "/usr/share/fonts"
AUDIO_RATE = loudness.AUDIO_RATE
AUDIO_BITRATE = "128k"
# FFmpeg's native AAC with its "fast" coder: 2.4x less CPU than 5.1's default "twoloop" (6.3 s vs
# 15.2 s for 6.6 min of narration). FFmpeg once made it the default for that reason: twoloop
# "at higher bitrates sounds worse than the fast coder and needs quite a lot more CPU" (2018).
AUDIO_CODEC = ("-c:a", "aac", "-aac_coder", "fast", "-b:a", AUDIO_BITRATE)
# Ducking: the bed is compressed 10:1 above about -30 dBFS of voice (12-14 dB down under speech).
DUCK = "sidechaincompress=threshold=0.03:ratio=10:attack=10:release=400"
BT601_MATRICES = ("bt470bg", "smpte170m", "bt601")

ProgressCallback = Callable[[float, str], None]


def run(
    source_path: Path,
    edl_path: Path,
    out_dir: Path,
    *,
    files: dict[str, Path],
    preset: str = "veryfast",
    crf: int = 23,
    frame_rate: str = "variable",
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> dict:
    """Render ``out_dir/final.mp4`` from the EDL; return its probed properties.

    ``files`` maps the names the EDL gives its files to local paths: its captions file
    (``captions.file``), voiceover (``audio.voiceover``) and, when it asks for one, the music bed
    (``audio.music``, looped and ducked under the voice); a named file that is missing is a
    ``FatalError``.

    The output geometry comes from the EDL's ``output`` block; ``preset`` is the x264 preset;
    ``frame_rate`` ``variable`` stores a frame that repeats the one before it once (see
    :mod:`include.stages.still_frames`), ``constant`` every frame. ``progress(percent, speed)``
    is called as ffmpeg reports progress. ``timeout`` defaults to ``max(600, 10 x duration)``
    seconds; exceeding it is a ``RetryableError``, an ffmpeg failure a ``FatalError``. No partial
    file is left behind.

    Returns ``{"duration", "width", "height", "bytes", "video_codec", "audio_codec",
    "original_audio", "music", "loudness"}`` (the last: the :class:`MixPlan`).
    """
    for path, what in ((source_path, "source video"), (edl_path, "edl.json")):
        if not Path(path).is_file():
            raise FatalError(f"The {what} {path} is missing; re-run the stage that writes it.")
    edl = Edl.load(edl_path)
    captions_path = _named_file(files, edl.captions.file, "captions file")
    voiceover_path = _named_file(files, edl.audio.voiceover, "voiceover audio")
    music_path = _named_file(files, edl.audio.music, "music bed") if edl.audio.music else None
    duration = edl.output.duration
    final = Path(out_dir) / "final.mp4"
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = temp_sibling(final)
    video = _video_stream(source_path)
    seek = len(_timed_clips(edl.clips, edl.output.fps)) <= seek_limit(video)
    mix = _plan_mix(edl, source_path, voiceover_path, music_path, seek)
    graphics = {name: _named_file(files, name, "motion-graphics clip")
                for name in edl.graphics_files()}
    cmd = build_command(
        edl, source_path, captions_path, voiceover_path, partial, mix=mix, seek_inputs=seek,
        matrix=video.get("color_space"), music_path=music_path, preset=preset,
        crf=crf, graphics=graphics, frame_rate=frame_rate,
    )
    try:
        _run_ffmpeg(cmd, duration, timeout or max(600.0, 10.0 * duration), progress)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)

    info = ffprobe(final)
    video = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), {})
    audio = next((s for s in info.get("streams", []) if s.get("codec_type") == "audio"), {})
    return {
        "duration": round(float(info.get("format", {}).get("duration") or 0.0), 3),
        "width": video.get("width"),
        "height": video.get("height"),
        "bytes": final.stat().st_size,
        "video_codec": video.get("codec_name"),
        "audio_codec": audio.get("codec_name"),
        "original_audio": "drop" if mix.bed_gain_db is None else "duck",
        "music": mix.music_gain_db is not None,
        "loudness": mix.to_dict(),
    }


@dataclass(frozen=True)
class MixPlan:
    """The fixed gains of the audio graph (see :mod:`include.stages.loudness`).

    ``bed_gain_db`` is ``None`` when the source's audio is dropped, ``music_gain_db`` when there
    is no music; ``mix_gain_db`` corrects the voice + ducked beds mix to the target, ``mix`` is
    that mix's measurement.
    """

    voice: loudness.VoicePlan
    bed_gain_db: float | None = None
    music_gain_db: float | None = None
    mix_gain_db: float = 0.0
    mix: loudness.Measurement | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _named_file(files: dict[str, Path], name: str, what: str) -> Path:
    path = files.get(name)
    if path is None or not Path(path).is_file():
        raise FatalError(f"edl.json names the {what} {name!r} but the file is missing; re-run "
                         "the stage that writes it.")
    return Path(path)


def _plan_mix(edl: Edl, source_path: Path, voiceover_path: Path,
              music_path: Path | None, seek_inputs: bool) -> MixPlan:
    """Measure the voice (and the mix with its ducked beds, audio only) before the video pass."""
    voice = loudness.plan_voice(voiceover_path)
    bed = loudness.bed_gain(source_path) if _ducks(edl) else None
    music = loudness.bed_gain(music_path) if music_path else None
    if bed is None and music is None:
        return MixPlan(voice)
    clips = _timed_clips(edl.clips, edl.output.fps)
    inputs, voice_index = _inputs(clips, seek_inputs, source_path, voiceover_path, music_path)

    def measure_mix(gain: float) -> loudness.Measurement:
        mix = MixPlan(voice, bed, music, gain)
        graph = _audio_graph(edl, clips, seek_inputs, voice_index, mix)
        return loudness.measure_command([
            FFMPEG, "-hide_banner", "-nostdin", "-nostats", *inputs,
            "-filter_complex", ";".join(graph) + ";[a]ebur128[m]",
            "-map", "[m]", "-f", "null", "-",
        ])

    gain, result = loudness.fit_gain(measure_mix, 0.0)
    return MixPlan(voice, bed, music, gain, result)


def build_command(
    edl: Edl,
    source_path: Path,
    captions_path: Path,
    voiceover_path: Path,
    output_path: Path,
    *,
    mix: MixPlan,
    seek_inputs: bool = True,
    matrix: str | None = None,
    music_path: Path | None = None,
    preset: str = "veryfast",
    crf: int = 23,
    graphics: dict[str, Path] | None = None,
    frame_rate: str = "constant",
) -> list[str]:
    """The complete ffmpeg command line that renders ``edl`` to ``output_path``.

    ``mix`` holds the audio gains planned by :func:`_plan_mix`; ``seek_inputs`` chooses one
    seeked input per clip (else one split input); ``matrix`` is the source's colour matrix
    (see :func:`_to_bt709`); ``graphics`` maps the EDL's card and overlay files to local paths
    (see :func:`_with_graphics`). The clips' frozen spans are held frames (see
    :func:`video_clips`); with ``frame_rate`` ``variable`` the frames that repeat the one
    before them are not encoded (:mod:`include.stages.still_frames`).
    """
    out = edl.output
    fps, duration = out.fps, out.duration
    clips = _timed_clips(edl.clips, fps)
    pieces = video_clips(edl)
    inputs, voice_index = _inputs(clips, seek_inputs, source_path, voiceover_path, music_path)
    first_piece = 0
    if seek_inputs and any(p.src_end != c.src_end for p, c in zip(pieces, clips)):
        # the picture decodes less of some clips than their sound plays: its own seeked inputs
        # (a clip's input then gives only its sound, when that is ducked under the voice)
        ducked = mix.bed_gain_db is not None
        inputs, voice_index = _inputs(clips if ducked else [], True, source_path,
                                      voiceover_path, music_path)
        first_piece = inputs.count("-i")
        inputs += _seeked_inputs(pieces, source_path)
    first_graphic = inputs.count("-i")
    inputs += _graphic_inputs(edl, graphics or {})
    graph: list[str] = []
    if not seek_inputs:
        graph.append(f"[0:v]split={len(pieces)}" + "".join(f"[s{k}]" for k in range(len(pieces))))
    per_piece, after_concat = frame_chains(edl, matrix)
    for k, clip in enumerate(pieces):
        if seek_inputs:
            head = f"[{first_piece + k}:v]"
        else:
            head = f"[s{k}]trim=start={_num(clip.src_start)}:end={_num(clip.src_end)},"
        drop, refill = _held_chain(clip.held, 0, fps) if per_piece else ("", "")
        # tpad clones two spare frames beyond the hold so that trim can always cut the exact
        # frame count, whatever the rounding of the source span to frames.
        graph.append(
            f"{head}setpts=(PTS-STARTPTS)/{_num(clip.speed)},fps={fps},{drop}{per_piece}{refill}"
            f"tpad=stop_mode=clone:stop_duration={_num(clip.hold + 2 / fps)},"
            f"trim=end_frame={clip.frames}[v{k}]"
        )
    subtitles = (
        f"subtitles=filename={_filter_value(captions_path)}:fontsdir={_filter_value(FONTS_DIR)}"
    )
    body = ("".join(f"[v{k}]" for k in range(len(pieces)))
            + f"concat=n={len(pieces)}:v=1:a=0,{after_concat}setsar=1")
    drop = (still_frames.select_filter(still_frames.repeated(edl, pieces, captions_path))
            if frame_rate == "variable" else "")
    # the repeated frames leave before the captions are drawn on them (the subtitles filter
    # draws at each frame's time: the frames kept are the same)
    graph += _with_graphics(edl, body, f"{drop[1:]},{subtitles},format=yuv420p[v]" if drop
                            else f"{subtitles},format=yuv420p[v]", first_graphic)
    graph += _audio_graph(edl, clips, seek_inputs, voice_index, mix)
    return [
        FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        *inputs,
        "-filter_complex", ";".join(graph),
        "-map", "[v]", "-map", "[a]", "-map_metadata", "-1", *still_frames.output_args(frame_rate),
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv",
        *AUDIO_CODEC, "-ar", str(AUDIO_RATE), "-ac", "2",
        "-movflags", "+faststart", "-t", _num(duration),
        "-progress", "pipe:1", "-nostats",
        str(output_path),
    ]


def frame_chains(edl: Edl, matrix: str | None) -> tuple[str, str]:
    """The picture chain, as ``(per piece, after the concat)``, each ``""`` or ending in a comma.

    Without camera moves the scale and pad (or crop, for a 9:16 short) run on each piece before
    its hold is padded on, so a held frame is scaled once; with moves ``zoompan`` (it reads the
    frame times of the whole footage) runs after the concat and does the scaling.
    """
    out = edl.output
    width, height = out.width, out.height
    # camera moves are in final time; the zoompan runs on the footage, which starts at body_start
    moves = [replace(move, out_start=move.out_start - edl.body_start,
                     out_end=move.out_end - edl.body_start)
             for clip in edl.clips for move in clip.zoom]
    if moves and edl.source.width and edl.source.height:  # camera moves: zoompan does the scaling
        return "", _zoomed_frame(edl, moves, matrix) + ","
    if out.framing == "crop":  # fill the frame, cut the sides (a 9:16 short)
        return (f"scale={width}:{height}:force_original_aspect_ratio=increase"
                f"{_to_bt709(matrix)},crop={width}:{height},"), ""
    return (f"scale={width}:{height}:force_original_aspect_ratio=decrease:"  # letterboxed
            f"force_divisible_by=2{_to_bt709(matrix)},"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,"), ""


def video_clips(edl: Edl) -> list[TimedClip]:
    """The clips as their picture is decoded: each frozen span (``Clip.frozen``) shown as its
    first frame.

    A frozen span that runs to the end of the clip's footage is not decoded at all: the clip's
    source span ends one frame into it and the rest is the clip's hold (one frame, scaled once,
    cloned). A frozen span inside the clip becomes ``held`` frames: they are dropped right after
    they are decoded (before the scale) and refilled with the frame before them. Spans shorter
    than ``MIN_FROZEN_FRAMES`` output frames are left alone. The frame counts are the clips'.
    """
    fps = edl.output.fps
    pieces = []
    for clip in _timed_clips(edl.clips, fps):
        step = clip.speed / fps  # source seconds per output frame
        played = clip.frames - round(clip.hold * fps)
        held: list[tuple[int, int]] = []
        for a, b in clip.frozen:
            first = max(0, math.ceil((a - clip.src_start) / step - 1e-6))  # shown at a or later
            last = min(played - 1, math.floor((b - clip.src_start) / step + 1e-6))
            if last - first < MIN_FROZEN_FRAMES or (held and first <= held[-1][1]):
                continue
            if last >= played - 1:  # to the end of the footage: stop decoding one frame in
                end = min(clip.src_end, clip.src_start + (first + 1) * step)
                clip = replace(clip, src_end=round(end, 6), hold=(clip.frames - first - 1) / fps)
                break
            held.append((first + 1, last))
        pieces.append(replace(clip, held=tuple(held), frozen=()))
    return pieces


MIN_FROZEN_FRAMES = 8  # a frozen span shorter than this many output frames is decoded as usual


def _held_chain(held: tuple[tuple[int, int], ...], base: int, fps: int) -> tuple[str, str]:
    """``(drop, refill)`` filters around the scale for the ``held`` frames of a clip (clip frame
    numbers) in a chain whose first frame is clip frame ``base``: ``select`` drops them, ``fps``
    then repeats the frame before each gap. The chain's first frame is never dropped."""
    ranges = [(max(1, a - base), b - base) for a, b in held if b - base >= 1]
    if not ranges:
        return "", ""
    test = "+".join(f"between(n,{a},{b})" for a, b in ranges)
    return f"select='not({test})',", f"fps={fps},"


def _seeked_inputs(pieces: list[TimedClip], source_path: Path) -> list[str]:
    """One input per piece, seeked to its source span (only that span is decoded)."""
    inputs: list[str] = []
    for piece in pieces:
        inputs += ["-ss", _num(piece.src_start), "-t", _num(piece.src_end - piece.src_start),
                   *user_input_args(source_path)]
    return inputs


def _graphic_inputs(edl: Edl, graphics: dict[str, Path]) -> list[str]:
    """One input per card, then per overlay (the order :func:`_with_graphics` numbers them)."""
    inputs: list[str] = []
    for item in (*edl.cards, *edl.overlays):
        path = graphics.get(item.file)
        if path is None:
            raise FatalError(f"edl.json names the motion-graphics clip {item.file!r} but it was "
                             "not given; re-run the animate stage.")
        inputs += user_input_args(path)
    return inputs


def _with_graphics(edl: Edl, body: str, tail: str, first_input: int) -> list[str]:
    """Filter chains from the footage chain ``body`` to ``tail`` with the EDL's motion graphics.

    Each lower third (an alpha clip, cut to its EDL span) is shifted to its time in the footage
    with ``setpts`` and laid on it with ``overlay`` (``eof_action=pass``: the footage runs on when it ends); the
    intro and outro cards are brought to the output's size, rate and exact frame count and
    concatenated around the footage. All in the same graph: nothing is encoded twice. Without
    graphics this is just ``body,tail``.
    """
    if not edl.cards and not edl.overlays:
        return [f"{body},{tail}"]
    out, fps = edl.output, edl.output.fps
    index = first_input + len(edl.cards)
    chains, label = [f"{body}[gb0]"], "[gb0]"
    for k, overlay in enumerate(edl.overlays):
        at = _num(overlay.out_start - edl.body_start)
        chains += [
            # trimmed to its span: the EDL says when it leaves (the frames that repeat after
            # it are left out of a variable-rate encode on that word, see still_frames)
            f"[{index + k}:v]trim=duration={_num(overlay.out_length)},"
            f"scale=out_color_matrix=bt709:out_range=tv,format=yuva420p,"
            f"setpts=PTS-STARTPTS+{at}/TB[go{k}]",
            f"{label}[go{k}]overlay=x={overlay.x}:y={overlay.y}:eof_action=pass:"
            f"repeatlast=0[gb{k + 1}]",
        ]
        label = f"[gb{k + 1}]"
    parts = {"body": label}
    for k, card in enumerate(edl.cards):
        frames = round(card.out_end * fps) - round(card.out_start * fps)
        chains.append(
            f"[{first_input + k}:v]fps={fps},scale={out.width}:{out.height},setsar=1,"
            f"tpad=stop_mode=clone:stop_duration={_num(2 / fps)},trim=end_frame={frames},"
            f"setpts=PTS-STARTPTS[g{card.kind}]")
        parts[card.kind] = f"[g{card.kind}]"
    order = [parts[p] for p in ("intro", "body", "outro") if p in parts]
    if len(order) == 1:
        return chains + [f"{order[0]}null,{tail}"]
    return chains + ["".join(order) + f"concat=n={len(order)}:v=1:a=0,{tail}"]


def _zoomed_frame(edl: Edl, moves: list, matrix: str | None) -> str:
    """The picture chain with the EDL's camera moves: the view (the whole source, or its centre
    for a 9:16 short), then ``zoompan`` — the box of each final-time frame (eased between the
    keyframes of :func:`include.stages.camera.keyframes`) scaled to the output picture — then
    the letterbox. Captions come after, so they are never zoomed."""
    out, source = edl.output, (edl.source.width, edl.source.height)
    view = camera.view_box(source, (out.width, out.height), out.framing)
    vx, vy, vw, vh = view
    if out.framing == "crop":
        head, (fw, fh) = f"crop={vw}:{vh}:{vx}:{vy},", (out.width, out.height)
    else:
        head = ""
        scale = min(out.width / vw, out.height / vh)
        fw, fh = (min(out.width, 2 * round(vw * scale / 2)),
                  min(out.height, 2 * round(vh * scale / 2)))
    paths = camera.keyframes(moves, view)
    bx = _path_expression(paths, 0, view)
    by = _path_expression(paths, 1, view)
    bw = _path_expression(paths, 2, view)
    chain = (f"{head}zoompan=z='{vw}/({bw})':x='{bx}-{vx}':y='{by}-{vy}':d=1:"
             f"s={fw}x{fh}:fps={out.fps}")
    if _to_bt709(matrix):
        chain += f",scale={fw}:{fh}{_to_bt709(matrix)}"
    if (fw, fh) != (out.width, out.height):
        chain += f",pad={out.width}:{out.height}:(ow-iw)/2:(oh-ih)/2"
    return chain


def _path_expression(paths: list, index: int, view: tuple) -> str:
    """An ffmpeg expression of the input time ``it`` for one coordinate of the camera box: the
    view's value, plus on every keyframe interval the smoothstep-eased way from one to the next."""
    base = view[index]
    terms = []
    for path in paths:
        for (ta, a), (tb, b) in zip(path, path[1:]):
            if tb - ta <= 1e-6:
                continue
            da, db = a[index] - base, b[index] - base
            if da == 0 and db == 0:
                continue
            u = f"(it-{_num(ta)})/{_num(tb - ta)}"
            value = f"{da}" if da == db else f"({da}+{db - da}*{u}*{u}*(3-2*{u}))"
            terms.append(f"gte(it,{_num(ta)})*lt(it,{_num(tb)})*{value}")
    return f"{base}" + "".join(f"+{t}" for t in terms)


def seek_limit(video: dict) -> int:
    """How many seeked inputs (one decoder each) a source of this frame size may have."""
    pixels = int(video.get("width") or 1920) * int(video.get("height") or 1080)
    return max(1, min(MAX_SEEK_INPUTS,
                      DECODER_BUDGET_BYTES // (pixels * DECODER_BYTES_PER_PIXEL)))


def _video_stream(source_path: Path) -> dict:
    streams = ffprobe(source_path).get("streams", [])
    return next((s for s in streams if s.get("codec_type") == "video"), {})


def _inputs(clips: list[TimedClip], seek_inputs: bool, source_path: Path, voiceover_path: Path,
            music_path: Path | None = None) -> tuple[list[str], int]:
    """Input options and the voice's input index: one seeked input per clip (or the whole
    source), the voice, then the music (looped) if any, right after the voice."""
    inputs: list[str] = []
    if not seek_inputs:
        inputs = user_input_args(source_path)
    else:
        inputs = _seeked_inputs(clips, source_path)
    voice_index = inputs.count("-i")
    inputs += user_input_args(voiceover_path, VOICE_FORMATS)
    if music_path:
        inputs += ["-stream_loop", "-1", *user_input_args(music_path, MUSIC_FORMATS)]
    return inputs, voice_index


def _audio_graph(edl: Edl, clips: list[TimedClip], seek_inputs: bool, voice_index: int,
                 mix: MixPlan) -> list[str]:
    """Filter-graph chains ending in ``[a]``: the voice, over the planned beds (the source's
    audio following the clips, the music looped), both ducked under the voice."""
    duration = edl.output.duration
    voice_in = (f"[{voice_index}:a]{loudness.stereo_chain()},"
                f"{loudness.gain_filters(mix.voice.gain_db, mix.voice.ceiling_db)}")
    graph = _placed_voice(edl, voice_in)
    voice = f"[voice_placed]apad,atrim=end={_num(duration)}" if graph else (
        f"{voice_in},{_delay(edl.audio.voice_offset)}apad,atrim=end={_num(duration)}")
    if mix.bed_gain_db is None and mix.music_gain_db is None:
        return [*graph, f"{voice}[a]"]
    beds = []
    if mix.bed_gain_db is not None:
        fps = edl.output.fps
        if not seek_inputs:
            graph.append(
                f"[0:a]asplit={len(clips)}" + "".join(f"[t{k}]" for k in range(len(clips))))
        graph += [_clip_audio(k, clip, fps, seek_inputs) for k, clip in enumerate(clips)]
        graph.append("".join(f"[a{k}]" for k in range(len(clips)))
                     + f"concat=n={len(clips)}:v=0:a=1,volume={mix.bed_gain_db:.2f}dB"
                     + (f",{_delay(edl.body_start)}apad,atrim=end={_num(duration)}"
                        if edl.cards else "") + "[orig]")
        beds.append("[orig]")
    if mix.music_gain_db is not None:
        graph.append(f"[{voice_index + 1}:a]{loudness.stereo_chain()},"
                     f"volume={mix.music_gain_db:.2f}dB,atrim=end={_num(duration)}[music]")
        beds.append("[music]")
    graph += [
        "".join(beds) + "amix=inputs=2:normalize=0:duration=first[bed]" if len(beds) == 2
        else f"{beds[0]}anull[bed]",
        f"{voice},asplit[voice][key]",
        f"[bed][key]{DUCK}[ducked]",
        "[voice][ducked]amix=inputs=2:normalize=0:duration=first,"
        f"{loudness.gain_filters(mix.mix_gain_db)}[a]",
    ]
    return graph


def _delay(seconds: float) -> str:
    """An ``adelay`` (all channels) of ``seconds`` and a comma, or nothing for 0."""
    ms = round(seconds * 1000)
    return f"adelay=delays={ms}:all=1," if ms > 0 else ""


def _placed_voice(edl: Edl, voice_in: str) -> list[str]:
    """Chains ending in ``[voice_placed]`` that play each narration segment's voice span at its
    ``out_start``, or ``[]`` when the voice plays continuously (every segment at its voice time
    plus ``audio.voice_offset``).

    The spans follow each other in final time, so they are concatenated, each padded with
    silence to the sample where the next one starts: the work is the voice's length once. (Each
    span delayed to its place and all of them mixed costs spans × video length: 3.1 s against
    0.5 s for the 90 spans of an 8.5-minute video.) Spans that overlap are mixed instead."""
    offset = edl.audio.voice_offset
    narration = sorted((n for n in edl.narration if n.out_end > n.out_start),
                       key=lambda n: n.out_start)
    if not narration or all(abs(n.out_start - n.voice_start - offset) <= TOLERANCE
                            for n in narration):
        return []
    graph = [voice_in + f",asplit={len(narration)}"
             + "".join(f"[vs{k}]" for k in range(len(narration)))]
    rate = AUDIO_RATE
    starts = [round(n.out_start * rate) for n in narration]
    in_order = all(n.out_end <= nxt.out_start + TOLERANCE
                   for n, nxt in zip(narration, narration[1:]))
    for k, n in enumerate(narration):
        end = n.voice_start + (n.out_end - n.out_start)
        chain = f"[vs{k}]atrim=start={_num(n.voice_start)}:end={_num(end)},asetpts=PTS-STARTPTS"
        if not in_order:
            chain += f",adelay=delays={starts[k]}S:all=1"
        elif k + 1 < len(narration):
            gap = starts[k + 1] - starts[k]  # this span and the silence up to the next one
            chain += f",apad=whole_len={gap},atrim=end_sample={gap}"
        graph.append(f"{chain}[vp{k}]")
    pieces = "".join(f"[vp{k}]" for k in range(len(narration)))
    if not in_order:
        graph.append(pieces + f"amix=inputs={len(narration)}:normalize=0:duration=longest"
                     "[voice_placed]" if len(narration) > 1 else "[vp0]anull[voice_placed]")
    else:
        lead = f"adelay=delays={starts[0]}S:all=1," if starts[0] else ""
        graph.append(pieces + f"concat=n={len(narration)}:v=0:a=1,{lead}anull[voice_placed]"
                     if len(narration) > 1 else f"[vp0]{lead}anull[voice_placed]")
    return graph


def _ducks(edl: Edl) -> bool:
    """Whether the EDL asks for the source's audio under the voice (and the source has some)."""
    return edl.audio.original == "duck" and edl.source.has_audio


def _clip_audio(k: int, clip: TimedClip, fps: float, seek_inputs: bool) -> str:
    """Clip ``k``'s source audio, retimed like its picture and exactly as long (holds silent)."""
    head = f"[{k}:a]" if seek_inputs else (
        f"[t{k}]atrim=start={_num(clip.src_start)}:end={_num(clip.src_end)},")
    tempo = f"atempo={_num(clip.speed)}," if clip.speed != 1 else ""
    return (f"{head}asetpts=PTS-STARTPTS,{tempo}{loudness.stereo_chain()},"
            f"apad,atrim=end={_num(clip.frames / fps)}[a{k}]")


def _to_bt709(matrix: str | None) -> str:
    """Extra ``scale`` options converting a source tagged with an SD (BT.601) ``matrix`` to BT.709.

    Untagged sources are taken as BT.709 already and pass through unconverted: a matrix
    conversion at this point costs more than the rest of the filter graph together.
    """
    if matrix in BT601_MATRICES:
        return ":in_color_matrix=bt601:out_color_matrix=bt709"
    return ""


@dataclass(frozen=True)
class TimedClip(Clip):
    """An EDL clip with its exact number of output frames; ``held`` (see :func:`video_clips`)
    are ranges ``(first, last)`` of its frames shown as the frame before ``first``."""

    frames: int = 0
    held: tuple[tuple[int, int], ...] = ()


def _timed_clips(clips: tuple[Clip, ...], fps: float) -> list[TimedClip]:
    """The clips with their exact output frame count; clips shorter than half a frame vanish.

    Frame boundaries are rounded from the final-time boundaries, so the counts add up to
    ``round(duration * fps)`` and the picture never drifts from the voice.
    """
    timed = []
    for clip in clips:
        frames = round(clip.out_end * fps) - round(clip.out_start * fps)
        if frames > 0:
            plain = {f.name: getattr(clip, f.name) for f in fields(clip)}
            timed.append(TimedClip(**plain, frames=frames))
    return timed


def _num(value: float) -> str:
    """A float for the command line: fixed point, no exponent, trailing zeros dropped."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _filter_value(value: str | os.PathLike) -> str:
    """Escape a path for use as an option value inside an ``-filter_complex`` graph.

    Two levels (see ffmpeg-filters "Notes on filtergraph escaping"): inside the filter's option
    string ``\\``, ``'`` and ``:`` are special; in the graph description ``\\``, ``'``, ``[``,
    ``]``, ``,`` and ``;`` are.
    """
    option_level = _backslash_escape(str(value), "\\':")
    return _backslash_escape(option_level, "\\'[],;")


def _backslash_escape(text: str, special: str) -> str:
    return "".join("\\" + ch if ch in special else ch for ch in text)


def _run_ffmpeg(
    cmd: list[str], duration: float, timeout: float, progress: ProgressCallback | None
) -> None:
    """Run ffmpeg, feed its ``-progress`` output to ``progress``, map failures to stage errors.

    stderr goes to a temp file (no pipe to fill up while we read stdout); a timer kills ffmpeg
    when ``timeout`` passes.
    """
    require_binary(cmd[0])
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True
        )

        def kill() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            _follow_progress(proc.stdout, duration, progress)
            returncode = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if timed_out.is_set():
            raise RetryableError(f"ffmpeg render did not finish within {timeout:.0f} s")
        if returncode != 0:
            stderr.seek(0)
            raise FatalError(f"ffmpeg render failed: {last_error_line(stderr.read())}")


def _follow_progress(lines, duration: float, progress: ProgressCallback | None) -> None:
    """Parse ``key=value`` blocks of ``-progress`` output; report at each ``progress=`` line."""
    out_time_us = 0
    speed = ""
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key == "out_time_us" and value.lstrip("-").isdigit():
            out_time_us = max(0, int(value))
        elif key == "speed":
            speed = value.strip()
        elif key == "progress" and progress is not None:
            percent = 100.0 if value == "end" else min(100.0, out_time_us / 1e4 / duration)
            progress(round(percent, 1), speed)
