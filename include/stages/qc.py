"""Quality checks on a rendered video, as a viewer would notice them: the ``qc`` stage.

:func:`run` checks ``final.mp4`` against the edit that planned it and writes ``qc.json``:

- **words**: the narration heard in the final audio (an independent speech-recognition pass
  through the :class:`~include.core.ports.Transcriber` port) against the caption words, as a word
  error rate; and the captions against the script they were made from (no recognition needed);
- **caption onsets**: how far each caption word's onset is from the moment it is heard
  (:func:`caption_sync`), median and 90th percentile;
- **drift**: per narrated segment, narration start against the start of the footage it describes
  (read from the EDL when the edit wrote it, computed from the clips otherwise);
- **loudness**: integrated LUFS and true peak (ebur128) of the final mix;
- **black / frozen / dead** picture at the start and the end (blackdetect, freezedetect,
  silencedetect);
- **title-safe captions**: every caption's box, laid out from the burned-in ASS (style margins,
  font metrics, wrapping: :func:`include.stages.caption_track.caption_boxes`) at the output
  size, inside the inner 90 % of the frame;
- **duration**: the final file against the EDL's planned duration.

Cost: ONE ffmpeg pass (one thread) decodes the final file once for every picture and sound
measure; beside it, the recogniser decodes the sound track itself (16 kHz mono) and hears it.
``qc.json`` reports both timings.

Every threshold is in :data:`LIMITS` with the reason for its value. A check is ``pass``, ``warn``
(reported, does not block) or ``fail``; the video passes when no check fails. The stage itself
never raises on a failed check — whoever runs it (the Airflow ``qc`` task) decides what a failure
does (``on_qc_fail``).

:func:`pages_named`: which of the pages still on screen in the final video the narration names
(used by the demo and the benchmarks).
"""

from __future__ import annotations

import bisect
import concurrent.futures
import hashlib
import math
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from include.core import media
from include.core.edl import Edl
from include.core.errors import FatalError
from include.core.files import read_json, write_json
from include.core.ports import Transcriber
from include.stages import caption_track

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)


@dataclass(frozen=True)
class Limit:
    value: float
    reason: str


LIMITS: dict[str, Limit] = {
    "word_error": Limit(0.35, "the tiny.en recogniser mishears about one word in eight of clean "
                        "synthetic narration; above 35 % the audio no longer says what the "
                        "captions show (a missing, truncated or wrong voice track)"),
    "caption_mismatch": Limit(0.05, "captions are made from the script's words; more than 5 % "
                              "different words means captions and narration came apart"),
    "onset_median_ms": Limit(120.0, "about 4 frames at 30 fps: captions earlier or later than "
                             "that read as out of sync"),
    "onset_p90_ms": Limit(300.0, "a few words may be placed loosely (recogniser jitter); if one "
                          "word in ten is 0.3 s off, the captions visibly lag or lead"),
    "onset_window_s": Limit(3.0, "a caption word is paired only with the same word heard "
                            "within 3 s of it: narration that repeats (a looped recording, a "
                            "line said on every page) is not paired with its repetition; "
                            "captions further off than that are reported as not near their "
                            "sound"),
    "onset_min_matched": Limit(0.5, "onset errors mean something only when at least half the "
                               "caption words were heard (otherwise the word check speaks)"),
    "drift_fail_s": Limit(1.0, "narration a second away from the footage it describes talks "
                          "about a screen that is not there"),
    "drift_goal_s": Limit(0.25, "the pacing goal (issue #14): within a quarter second the voice "
                          "and the action feel simultaneous; beyond it QC warns"),
    "loudness_lufs": Limit(-14.0, "the delivery target (YouTube and most platforms normalise "
                           "to -14 LUFS)"),
    "loudness_tolerance_lu": Limit(1.5, "the render plans the mix to within 0.2 LU; 1.5 LU off "
                                   "means the mix lost or doubled a track"),
    "true_peak_dbtp": Limit(-1.0, "the delivery spec: above -1 dBTP a platform's lossy "
                            "re-encode clips"),
    "black_s": Limit(0.5, "half a second of black at either end reads as a broken video (and "
                     "is the poster frame players show)"),
    "dead_s": Limit(1.5, "a picture both frozen and silent this long at either end is dead air "
                    "the edit should have cut"),
    "frozen_warn_s": Limit(3.0, "a still picture this long at the very start or end may be a "
                           "stalled render; a static screen can be meant, so it only warns"),
    "title_safe_margin": Limit(0.05, "title-safe is the inner 90 % of the frame (SMPTE RP "
                               "2046-1): TV overscan and player controls cover the outer 5 %"),
    "duration_s": Limit(0.15, "a few frames: more means the render dropped or added footage, "
                        "and the voice ends early or late"),
}


def _norm(word: str) -> str:
    tokens = _TOKEN.findall(word.lower().replace("’", "'"))
    return "".join(tokens)


def _words(text: str) -> list[str]:
    return [w for w in (_norm(t) for t in text.split()) if w]


# --------------------------------------------------------------------------- the stage


def run(final_path: Path, edl_path: Path, out_dir: Path, *, transcriber: Transcriber | None,
        captions_path: Path | None = None, script_path: Path | None = None) -> dict:
    """Check ``final_path`` against ``edl_path``; write ``out_dir/qc.json`` and return it.

    ``captions_path`` is the burned-in ASS (the title-safe check lays it out; without it that
    check is skipped), ``script_path`` the narrated script (captions against script). Without a
    ``transcriber`` the word and onset checks are skipped (and say so).
    """
    started = time.monotonic()
    final_path, out_dir = Path(final_path), Path(out_dir)
    if not final_path.is_file():
        raise FatalError(f"final.mp4 {final_path} is missing; re-run the render stage.")
    edl = Edl.load(Path(edl_path))
    checks: dict[str, dict] = {}
    info = probe_final(final_path)
    heard, asr_seconds = None, None
    if transcriber is None:
        scan = scan_final(final_path, info=info)
    else:
        # The recogniser hears the sound while ffmpeg scans the picture and meters the sound,
        # each on one core. It reads the final file's sound track itself (decoded in-process
        # to 16 kHz mono: 0.05 CPU-s for 17 s against 0.12 for a separate ffmpeg pass writing
        # a WAV, the same samples to one least significant bit).
        def hear() -> tuple[list, float]:
            t0 = time.monotonic()
            words = [(w["word"], float(w["start"])) for w in transcriber.onsets(final_path)]
            return words, time.monotonic() - t0

        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="qc-asr") as pool:
            hearing = pool.submit(hear)
            scan = scan_final(final_path, info=info)
            heard, asr_seconds = hearing.result()
    captions = [(w["word"], float(w["start"])) for e in edl.captions.events for w in e["words"]]

    checks["duration"] = _duration_check(scan["duration"], edl.output.duration)
    checks["loudness"] = _loudness_check(scan["integrated"], scan["true_peak"])
    checks.update(_ends_checks(scan, edl.output.duration,
                               (edl.body_start, edl.output.duration - edl.body_end)))
    checks["words"] = _words_check(captions, heard)
    checks["caption_onsets"] = _onsets_check(captions, heard, checks["words"])
    if script_path is not None:
        checks["captions_vs_script"] = _script_check(edl, read_json(script_path, "script.json"))
    checks["drift"] = _drift_check(edl)
    checks["title_safe"] = _title_safe_check(captions_path, edl)

    failures = [c["message"] for c in checks.values() if c["status"] == "fail"]
    warnings = [c["message"] for c in checks.values() if c["status"] == "warn"]
    total = time.monotonic() - started
    report = {
        "passed": not failures,
        "failures": failures,
        "warnings": warnings,
        "summary": summary_sentence(failures),
        "final_sha256": _sha256(final_path),
        "planned_duration": edl.output.duration,
        "checks": checks,
        "limits": {k: {"value": v.value, "reason": v.reason} for k, v in LIMITS.items()},
        "cost": {
            "video_seconds": round(scan["duration"], 3),
            "scan_seconds": round(scan["seconds"], 3),
            "asr_seconds": None if asr_seconds is None else round(asr_seconds, 3),
            "total_seconds": round(total, 3),
            "total_over_duration": round(total / max(scan["duration"], 1e-3), 3),
        },
    }
    write_json(out_dir / "qc.json", report)
    return report


def summary_sentence(failures: list[str]) -> str:
    """One sentence for a run that failed QC (empty when it passed)."""
    if not failures:
        return ""
    return "QC failed: " + "; ".join(f.rstrip(".") for f in failures) + "."


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(status: str, message: str = "", **values) -> dict:
    return {"status": status, "message": message, **values}


# --------------------------------------------------------------------------- one ffmpeg pass

_BLACK = re.compile(r"black_start:\s*([0-9.]+)\s+black_end:\s*([0-9.]+)")
_FREEZE_START = re.compile(r"freeze_start:\s*([0-9.]+)")
_FREEZE_END = re.compile(r"freeze_end:\s*([0-9.]+)")
_SILENCE_START = re.compile(r"silence_start:\s*(-?[0-9.]+)")
_SILENCE_END = re.compile(r"silence_end:\s*([0-9.]+)")
_INTEGRATED = re.compile(r"I:\s+(-?inf|-?[0-9.]+) LUFS")
_TRUE_PEAK = re.compile(r"Peak:\s+(-?inf|-?[0-9.]+) dBFS")


def scan_command(final_path: Path) -> list[str]:
    """The one ffmpeg run of QC: the picture (downscaled) through blackdetect and freezedetect,
    the sound through ebur128 (true peak) and silencedetect (the recogniser decodes its own
    16 kHz audio, see :func:`run`)."""
    graph = [
        # fps: a variable-frame-rate render stores a still picture once (one long frame);
        # freezedetect compares neighbouring frames, so it needs them repeated at a fixed rate
        "[0:v]scale=w=320:h=-2:flags=fast_bilinear,fps=30,"
        "blackdetect=d=0.1:pix_th=0.10:pic_th=0.98,freezedetect=n=-60dB:d=0.5[v]",
        "[0:a]silencedetect=n=-50dB:d=0.5,ebur128=peak=true:framelog=verbose[m]",
    ]
    # One decoding thread and one filter thread: the recogniser runs beside the scan on the
    # other core, and ffmpeg's frame threads cost CPU of their own (a 17.5 s 720p final:
    # 0.83-0.88 CPU-s on one thread against 1.01 on the default, the same spans and figures).
    return [media.FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-threads", "1",
            "-filter_complex_threads", "1",
            *media.user_input_args(final_path), "-filter_complex", ";".join(graph),
            "-map", "[v]", "-map", "[m]", "-f", "null", "-"]


def probe_final(final_path: Path) -> dict:
    """ffprobe of ``final_path``; a video without a sound track is a FatalError."""
    info = media.ffprobe(final_path)
    if not any(s.get("codec_type") == "audio" for s in info.get("streams", [])):
        raise FatalError("final.mp4 has no audio track; re-run the render stage.")
    return info


def scan_final(final_path: Path, *, info: dict | None = None) -> dict:
    """``{"duration", "integrated", "true_peak", "black", "frozen", "silent", "seconds"}``:
    spans are ``[start, end]`` lists in seconds (an open span ends at the duration)."""
    info = info or probe_final(final_path)
    duration = float(info.get("format", {}).get("duration") or 0.0)
    t0 = time.monotonic()
    proc = media.run_tool(scan_command(final_path), timeout=max(600.0, 4 * duration),
                     what="ffmpeg (QC scan)")
    seconds = time.monotonic() - t0
    text = proc.stderr.decode("utf-8", "replace")
    summary = text[text.rfind("Summary:"):]
    integrated, peak = _INTEGRATED.search(summary), _TRUE_PEAK.search(summary)
    level = float(integrated[1]) if integrated else -70.0
    top = float(peak[1]) if peak else None
    return {
        "duration": duration,
        "integrated": -70.0 if math.isnan(level) or level < -70 else level,
        "true_peak": top if top is not None and math.isfinite(top) else None,
        # blackdetect ends a black run still going at the end on the last frame's start
        "black": [[float(a), duration if float(b) >= duration - 0.1 else float(b)]
                  for a, b in _BLACK.findall(text)],
        "frozen": _spans(_FREEZE_START.findall(text), _FREEZE_END.findall(text), duration),
        "silent": _spans(_SILENCE_START.findall(text), _SILENCE_END.findall(text), duration),
        "seconds": seconds,
    }


def _spans(starts: list[str], ends: list[str], duration: float) -> list[list[float]]:
    spans = []
    for k, start in enumerate(starts):
        end = float(ends[k]) if k < len(ends) else duration
        spans.append([max(0.0, float(start)), min(end, duration)])
    return spans


# --------------------------------------------------------------------------- checks


def _duration_check(actual: float, planned: float) -> dict:
    off = actual - planned
    limit = LIMITS["duration_s"].value
    values = dict(actual=round(actual, 3), planned=planned, off_s=round(off, 3), limit_s=limit)
    if abs(off) > limit:
        return _check("fail", f"final.mp4 lasts {actual:.2f} s, the edit planned {planned:.2f} s",
                      **values)
    return _check("pass", **values)


def _loudness_check(integrated: float, true_peak: float | None) -> dict:
    target, tol = LIMITS["loudness_lufs"].value, LIMITS["loudness_tolerance_lu"].value
    ceiling = LIMITS["true_peak_dbtp"].value
    values = dict(integrated_lufs=round(integrated, 1),
                  true_peak_dbtp=None if true_peak is None else round(true_peak, 1),
                  target_lufs=target, tolerance_lu=tol, ceiling_dbtp=ceiling)
    if integrated <= -69.9:
        return _check("fail", "the final audio is silent", **values)
    if abs(integrated - target) > tol:
        return _check("fail", f"the final audio measures {integrated:.1f} LUFS instead of "
                      f"{target:g} ± {tol:g}", **values)
    # ebur128 reports the true peak to 0.1 dB: allow that rounding
    if true_peak is not None and true_peak > ceiling + 0.05:
        return _check("fail", f"the final audio peaks at {true_peak:.1f} dBTP, above "
                      f"{ceiling:g} dBTP", **values)
    return _check("pass", **values)


def _at_start(spans: list[list[float]], slack: float = 0.1) -> float:
    """Length of the span touching the start (0 if none)."""
    return max((b - a for a, b in spans if a <= slack), default=0.0)


def _at_end(spans: list[list[float]], duration: float, slack: float = 0.15) -> float:
    return max((b - a for a, b in spans if b >= duration - slack), default=0.0)


def _overlap_at(frozen: list, silent: list, duration: float, end: bool) -> float:
    """How long the start (or end) of the video is both frozen and silent."""
    touch = (lambda s: s[1] >= duration - 0.15) if end else (lambda s: s[0] <= 0.1)
    f = [s for s in frozen if touch(s)]
    q = [s for s in silent if touch(s)]
    if not f or not q:
        return 0.0
    a = max(max(s[0] for s in f), max(s[0] for s in q)) if end else 0.0
    b = duration if end else min(min(s[1] for s in f), min(s[1] for s in q))
    if not end:
        return max(0.0, b)
    return max(0.0, b - a)


def _inside(spans: list[list[float]], start: float, end: float) -> list[list[float]]:
    """``spans`` clipped to ``[start, end]`` and counted from ``start``."""
    return [[max(a, start) - start, min(b, end) - start] for a, b in spans
            if min(b, end) > max(a, start)]


MIN_JUDGED_WORDS = 10  # a word error over fewer caption words says little (one word is 25 % of 4)


def _ends_checks(scan: dict, planned: float, cards: tuple[float, float] = (0.0, 0.0)) -> dict:
    """Black, frozen and dead (frozen + silent) picture where the footage starts and ends.

    ``cards`` are the lengths of the intro and outro cards: a card stands still in silence by
    design (a title, a call to action), so the ends looked at are the footage's own.
    """
    duration = scan["duration"] or planned
    black, frozen, silent = scan["black"], scan["frozen"], scan["silent"]
    if cards[0] > 0 or cards[1] > 0:
        start, end = cards[0], max(cards[0], duration - cards[1])
        black, frozen, silent = (_inside(x, start, end) for x in (black, frozen, silent))
        duration = end - start
    out = {}
    values = dict(black_start_s=round(_at_start(black), 2),
                  black_end_s=round(_at_end(black, duration), 2), limit_s=LIMITS["black_s"].value,
                  spans=[[round(a, 2), round(b, 2)] for a, b in black])
    where = [w for w, v in (("start", values["black_start_s"]), ("end", values["black_end_s"]))
             if v >= LIMITS["black_s"].value]
    if where:
        seconds = max(values[f"black_{w}_s"] for w in where)
        out["black_ends"] = _check("fail", f"the video is black for {seconds:.1f} s at the "
                                   f"{' and the '.join(where)}", **values)
    else:
        out["black_ends"] = _check("pass", **values)

    dead = dict(start_s=round(_overlap_at(frozen, silent, duration, False), 2),
                end_s=round(_overlap_at(frozen, silent, duration, True), 2),
                limit_s=LIMITS["dead_s"].value)
    dead_where = [w for w in ("start", "end") if dead[f"{w}_s"] >= LIMITS["dead_s"].value]
    # a still, silent moment right before the outro card (or after the intro) is a pause
    # between footage and card, not a video that ends dead: it warns
    paused = [w for w in dead_where if cards[0 if w == "start" else 1] > 0]
    dead_where = [w for w in dead_where if w not in paused]
    frozen_vals = dict(start_s=round(_at_start(frozen), 2),
                       end_s=round(_at_end(frozen, duration), 2),
                       warn_s=LIMITS["frozen_warn_s"].value,
                       spans=[[round(a, 2), round(b, 2)] for a, b in frozen])
    if dead_where:
        seconds = max(dead[f"{w}_s"] for w in dead_where)
        out["frozen_ends"] = _check(
            "fail", f"the picture is frozen and silent for {seconds:.1f} s at the "
            f"{' and the '.join(dead_where)}", **frozen_vals, dead=dead)
    elif paused:
        w = paused[0]
        out["frozen_ends"] = _check(
            "warn", f"the footage stands still and silent for {dead[w + '_s']:.1f} s at the {w}, "
            f"next to the {'intro' if w == 'start' else 'outro'} card", **frozen_vals, dead=dead)
    elif max(frozen_vals["start_s"], frozen_vals["end_s"]) >= LIMITS["frozen_warn_s"].value:
        w = "start" if frozen_vals["start_s"] >= frozen_vals["end_s"] else "end"
        out["frozen_ends"] = _check(
            "warn", f"the picture stands still for {frozen_vals[w + '_s']:.1f} s at the {w}",
            **frozen_vals, dead=dead)
    else:
        out["frozen_ends"] = _check("pass", **frozen_vals, dead=dead)
    return out


def word_error(reference: list[str], hypothesis: list[str]) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (ref != hyp))
        previous = current
    return previous[-1] / len(reference)


def _words_check(captions: list[tuple[str, float]], heard: list | None) -> dict:
    if heard is None:
        return _check("skip", "no speech recogniser on this worker: the narration was not heard")
    reference = [w for w in (_norm(c) for c, _ in captions) if w]
    hypothesis = [w for w in (_norm(h) for h, _ in heard) if w]
    wer = word_error(reference, hypothesis)
    limit = LIMITS["word_error"].value
    values = dict(word_error=round(wer, 3), caption_words=len(reference),
                  heard_words=len(hypothesis), limit=limit)
    if reference and not hypothesis:
        return _check("fail", "no narration is heard in final.mp4", **values)
    if wer > limit and len(reference) < MIN_JUDGED_WORDS:
        return _check("warn", f"{wer:.0%} of the {len(reference)} caption words differ from what "
                      "final.mp4 says: too few words to judge", **values)
    if wer > limit:
        return _check("fail", f"{wer:.0%} of the caption words are not what final.mp4 says "
                      f"(limit {limit:.0%})", **values)
    return _check("pass", **values)


def onset_errors(captions: list[tuple[str, float]], heard: list[tuple[str, float]],
                 window: float | None = None) -> list[float]:
    """Signed onset errors (ms, caption minus heard) of the caption words matched to heard ones.

    A caption word is paired only with the same word heard within ``window`` seconds of it
    (:data:`LIMITS` ``onset_window_s``), in order: of all such pairings that keep both sequences
    in order, the one with the most pairs, and among those the one nearest in time. Narration
    that repeats (a looped recording, a line said on every page) is never paired with its
    repetition seconds or minutes away. Cost: O(P log P) for the P same-word pairs inside the
    window (a few per caption word), not O(captions x heard).
    """
    window = LIMITS["onset_window_s"].value if window is None else window
    return [(ct - ht) * 1000 for ct, ht in _paired(captions, heard, window)]


def _paired(captions: list[tuple[str, float]], heard: list[tuple[str, float]],
            window: float) -> list[tuple[float, float]]:
    """``(caption time, heard time)`` of the pairs :func:`onset_errors` measures."""
    a = [(_norm(w), float(t)) for w, t in captions]
    b = sorted(((_norm(w), float(t)) for w, t in heard), key=lambda x: x[1])
    b = [x for x in b if x[0]]
    times = [t for _, t in b]
    # every same-word pair within the window: caption k, heard j
    pairs: list[tuple[int, int, float]] = []
    for k, (word, t) in enumerate(a):
        if not word:
            continue
        lo, hi = bisect.bisect_left(times, t - window), bisect.bisect_right(times, t + window)
        pairs.extend((k, j, abs(times[j] - t)) for j in range(lo, hi) if b[j][0] == word)
    if not pairs:
        return []
    # the heaviest chain increasing in both k and j (weighted longest increasing subsequence):
    # each pair weighs 1 plus a bonus for nearness smaller than 1 in total, so the most pairs
    # win and, among equally many, the nearest
    bonus = 1.0 / (len(pairs) + 1)
    order = sorted(range(len(pairs)), key=lambda p: (pairs[p][0], -pairs[p][1]))
    size = len(b)
    tree_val = [0.0] * (size + 1)  # Fenwick tree of prefix maxima over heard index j
    tree_arg = [-1] * (size + 1)
    best_of, back = [0.0] * len(pairs), [-1] * len(pairs)
    for p in order:
        k, j, dt = pairs[p]
        value, arg, i = 0.0, -1, j  # best chain ending at a heard index < j
        while i > 0:
            if tree_val[i] > value:
                value, arg = tree_val[i], tree_arg[i]
            i -= i & -i
        best_of[p] = value + 1.0 + bonus * (1.0 - dt / window if window > 0 else 1.0)
        back[p] = arg
        i = j + 1
        while i <= size:
            if best_of[p] > tree_val[i]:
                tree_val[i], tree_arg[i] = best_of[p], p
            i += i & -i
    p = max(range(len(pairs)), key=best_of.__getitem__)
    chain = []
    while p >= 0:
        chain.append(pairs[p])
        p = back[p]
    return [(a[k][1], times[j]) for k, j, _ in reversed(chain)]


def _percentiles(errors: list[float]) -> tuple[float | None, float | None]:
    absolute = sorted(abs(e) for e in errors)
    if not absolute:
        return None, None
    return (round(statistics.median(absolute), 1),
            round(absolute[min(len(absolute) - 1, int(0.9 * len(absolute)))], 1))


def _onsets_check(captions: list[tuple[str, float]], heard: list | None,
                  words: dict | None = None) -> dict:
    """``words`` is the words check: when it passed, caption words not heard near their
    captions are captions far out of sync (not a recogniser that heard nothing)."""
    if heard is None:
        return _check("skip", "no speech recogniser on this worker: caption timing not checked")
    if not captions:  # a video without narration (nothing on screen or said to narrate)
        return _check("skip", "the video has no captions: caption timing not checked",
                      words=0, matched=0)
    errors = onset_errors(captions, heard)
    median, p90 = _percentiles(errors)
    matched = len(errors) / len(captions) if captions else 1.0
    values = dict(words=len(captions), matched=len(errors), median_ms=median, p90_ms=p90,
                  mean_signed_ms=round(statistics.fmean(errors), 1) if errors else None,
                  limits_ms=[LIMITS["onset_median_ms"].value, LIMITS["onset_p90_ms"].value])
    if matched < LIMITS["onset_min_matched"].value:
        if words is not None and words.get("status") == "pass":
            # the narration says the caption words, but not near their captions
            return _check("fail", f"only {len(errors)} of {len(captions)} caption words are "
                          f"heard within {LIMITS['onset_window_s'].value:g} s of their "
                          "captions, though the narration says them", **values)
        return _check("skip", f"only {len(errors)} of {len(captions)} caption words were heard: "
                      "caption timing not measured", **values)
    lead = "late" if values["mean_signed_ms"] > 0 else "early"
    if len(errors) < MIN_JUDGED_WORDS and median <= LIMITS["onset_p90_ms"].value:
        # a handful of words: the recogniser's own word boundaries (±0.2 s inside continuous
        # speech) decide the figures; a shift of the whole track beyond the p90 limit still fails
        if median > LIMITS["onset_median_ms"].value or p90 > LIMITS["onset_p90_ms"].value:
            return _check("warn", f"captions {median:.0f} ms {lead} (median), one word in ten "
                          f"{p90:.0f} ms off, over only {len(errors)} heard words: too few to "
                          "judge", **values)
        return _check("pass", **values)
    if median > LIMITS["onset_median_ms"].value:
        return _check("fail", f"captions appear {median:.0f} ms {lead} (median; limit "
                      f"{LIMITS['onset_median_ms'].value:.0f} ms)", **values)
    if p90 > LIMITS["onset_p90_ms"].value:
        return _check("fail", f"one caption word in ten is {p90:.0f} ms or more off its sound "
                      f"(limit {LIMITS['onset_p90_ms'].value:.0f} ms)", **values)
    return _check("pass", **values)


def _script_check(edl: Edl, script: dict) -> dict:
    said = [w for s in script.get("segments") or [] for w in _words(str(s.get("text") or ""))]
    shown = [w for e in edl.captions.events for w in _words(e["text"])]
    mismatch = word_error(said, shown)
    limit = LIMITS["caption_mismatch"].value
    values = dict(mismatch=round(mismatch, 3), script_words=len(said), caption_words=len(shown),
                  limit=limit)
    if mismatch > limit:
        return _check("fail", f"the captions differ from the script in {mismatch:.0%} of its "
                      "words", **values)
    return _check("pass", **values)


# --------------------------------------------------------------------------- drift


def segment_drift(edl: Edl) -> list[dict]:
    """Per narrated segment: ``{"segment_id", "narration_start", "footage_start", "drift"}``
    (seconds, narration minus footage; ``footage_start`` ``None`` when the segment's footage is
    not in the video). The edit's own drift report is used when the EDL carries it
    (``Edl.pacing``: also how much of each segment's action survived), else it is computed from
    the clips."""
    recorded = getattr(edl, "pacing", None) or getattr(edl, "drift", None)
    if recorded:  # the edit's drift report (Edl.pacing)
        return [dict(d) if isinstance(d, dict) else _plain(d) for d in recorded]
    first_clip: dict[str, float] = {}
    for clip in edl.clips:
        first_clip.setdefault(clip.segment_id, clip.out_start)
    rows = []
    for n in edl.narration:
        if n.out_end - n.out_start <= 0:
            continue
        own = getattr(n, "drift", None)
        footage = first_clip.get(n.segment_id)
        drift = own if own is not None else (
            None if footage is None else round(n.out_start - footage, 3))
        rows.append({"segment_id": n.segment_id, "narration_start": n.out_start,
                     "footage_start": footage, "drift": drift})
    return rows


def _plain(obj) -> dict:
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) else dict(vars(obj))


def _drift_check(edl: Edl) -> dict:
    rows = segment_drift(edl)
    drifts = [abs(r["drift"]) for r in rows if isinstance(r.get("drift"), (int, float))]
    worst = max(drifts, default=0.0)
    missing = [r["segment_id"] for r in rows if r.get("drift") is None]
    values = dict(segments=rows, worst_s=round(worst, 3), fail_s=LIMITS["drift_fail_s"].value,
                  goal_s=LIMITS["drift_goal_s"].value, sync_mode=edl.sync_mode)
    worst_id = next((r["segment_id"] for r in rows if isinstance(r.get("drift"), (int, float))
                     and abs(r["drift"]) == worst), "")
    # fit promises each narration over its own footage; trim and pad play the footage straight
    # through, so there a large drift is the mode's nature, not a fault.
    if worst > LIMITS["drift_fail_s"].value and edl.sync_mode == "fit":
        return _check("fail", f"the narration of {worst_id} starts {worst:.1f} s away from its "
                      "footage", **values)
    if worst > LIMITS["drift_goal_s"].value:
        return _check("warn", f"the narration of {worst_id} starts {worst:.2f} s away from its "
                      "footage", **values)
    if missing:
        return _check("warn", f"narrated segment(s) {', '.join(missing)} have no footage in the "
                      "video", **values)
    return _check("pass", **values)


# --------------------------------------------------------------------------- title safe


def _title_safe_check(ass_path: Path | None, edl: Edl) -> dict:
    width, height = edl.output.width, edl.output.height
    margin = LIMITS["title_safe_margin"].value
    safe = [width * margin, height * margin, width * (1 - margin), height * (1 - margin)]
    if ass_path is None or not Path(ass_path).is_file():
        return _check("skip", "the captions file was not given: title-safe area not checked")
    boxes = caption_track.caption_boxes(Path(ass_path), width, height)
    outside = []
    for b in boxes:
        x, y, w, h = b["box"]
        over = max(safe[0] - x, safe[1] - y, x + w - safe[2], y + h - safe[3])
        if over > 0.5:
            outside.append({**b, "over_px": round(over, 1)})
    values = dict(safe_area=[round(v, 1) for v in safe], events=len(boxes),
                  outside=outside[:5], outside_count=len(outside),
                  lowest_caption_bottom=max((b["box"][1] + b["box"][3] for b in boxes),
                                            default=None))
    if outside:
        worst = max(outside, key=lambda b: b["over_px"])
        return _check("fail", f"{len(outside)} caption(s) leave the title-safe area (the one at "
                      f"{worst['start']:.1f} s by {worst['over_px']:.0f} px)", **values)
    return _check("pass", **values)


# --------------------------------------------------------------------------- used elsewhere


def caption_sync(final_path: Path, edl: Edl, transcriber: Transcriber) -> dict:
    """``{"words", "matched", "median_ms", "p90_ms", "errors_ms"}``: onset error of the caption
    words that the recogniser heard in ``final_path`` (words it did not hear are not counted)."""
    captions = [(w["word"], float(w["start"])) for e in edl.captions.events for w in e["words"]]
    heard = [(w["word"], float(w["start"])) for w in transcriber.onsets(Path(final_path))]
    errors = sorted(abs(e) for e in onset_errors(captions, heard))
    median, p90 = _percentiles(errors)
    return {"words": len(captions), "matched": len(errors), "median_ms": median, "p90_ms": p90,
            "errors_ms": [round(e, 1) for e in errors]}


def pages_named(edl: Edl, pages: list[dict], narration: str, *, min_seconds: float = 1.0
                ) -> tuple[list[str], list[str]]:
    """``(on screen, named)``: the headings of ``pages`` (``{"start", "end", "heading"}`` in
    source time) shown for at least ``min_seconds`` in the final video, and those of them the
    narration names (a plural or singular form counts)."""
    shown: dict[str, float] = {}
    for clip in edl.clips:
        for page in pages:
            overlap = min(clip.src_end, page["end"]) - max(clip.src_start, page["start"])
            if overlap > 0:
                shown[page["heading"]] = shown.get(page["heading"], 0.0) + overlap / clip.speed
    on_screen = [h for h, seconds in shown.items() if seconds >= min_seconds]
    said = {_norm(w) for w in narration.split()}
    said |= {w.rstrip("s") for w in said}

    def named(heading: str) -> bool:
        words = [_norm(w) for w in heading.split() if _norm(w)]
        return all(w in said or w.rstrip("s") in said for w in words)

    return on_screen, [h for h in on_screen if named(h)]
