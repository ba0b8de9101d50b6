"""The voiceover stage's time and its captions' onset error on the Ledgerly tour (issue #13).

    python benchmarks/voiceover.py [WORK] [--rounds N] [--compare] [--repeat N]

Records the tour (``include/product_tour.py``) and runs ingest → analyze → script into ``WORK``
once (kept: a second run, or one from another checkout, speaks the same script); then, per
round, the voiceover stage with the default provider (Piper) and the Whisper aligner, timed in
wall and process CPU seconds, then edit and render, and QC's caption check
(:func:`include.stages.qc.caption_sync`: caption onsets against a second recognition, of the
final video's audio) and, independent of any recogniser, the onsets of the words after a pause
against the first loud frame in the samples. ``--compare`` also aligns each segment's own audio
with Whisper and gives how far the voiceover's word onsets are from those. ``--repeat N`` speaks
the script N times over (a longer video's narration) and stops after the voiceover. Prints JSON;
never asserts a time.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from include.core.edl import Edl  # noqa: E402
from include.core.options import Settings  # noqa: E402
from include.providers.asr import WhisperTranscriber  # noqa: E402
from include.providers.llm import get_script_writer  # noqa: E402
from include.providers.ocr import TesseractReader  # noqa: E402
from include.providers.tts import get_tts  # noqa: E402
from include.stages import analyze, edit, ingest, qc, render, script, voiceover  # noqa: E402

SETTINGS = Settings(animate="off")


def prepare(work: Path) -> None:
    """The tour, ingested, analysed and scripted under ``work`` (skipped when already there)."""
    if (work / "script" / "script.json").is_file():
        return
    from include.product_tour import make_product_tour

    work.mkdir(parents=True, exist_ok=True)
    clip = work / "tour.mp4"
    make_product_tour(clip)
    with open(clip, "rb") as fh:
        ingest.run(fh, clip.name, SETTINGS, work / "ingest")
    info = json.loads((work / "ingest" / "source.json").read_text())
    analyze.run(source_of(work), work / "analyze", source_info=info, reader=TesseractReader(),
                transcriber=WhisperTranscriber())
    script.run(work / "analyze" / "segments.json", work / "script",
               writer=get_script_writer("offline"))


def source_of(work: Path) -> Path:
    return next(p for p in (work / "ingest").glob("source.*") if p.suffix != ".json")


def compare_with_whisper(out: Path, asr: WhisperTranscriber) -> dict:
    """Onset differences (ms) between the voiceover's words and Whisper's alignment of each
    segment's own audio (the former ``"aligned"`` timing)."""
    doc = json.loads((out / "voiceover.json").read_text())
    with wave.open(str(out / "voiceover.wav"), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    diffs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seg in doc["segments"]:
            if not seg["text"].strip():
                continue
            part = samples[round(seg["start"] * rate):round(seg["end"] * rate)]
            path = Path(tmp) / f"{seg['id']}.wav"
            voiceover.write_wav_atomic(path, part, rate)
            aligned = asr.align(path, seg["text"])
            for mine, theirs in zip(seg["words"], aligned):
                diffs.append((mine["start"] - seg["start"] - theirs["start"]) * 1000)
    absolute = sorted(abs(d) for d in diffs)
    return {"words": len(diffs), "median_abs_ms": round(statistics.median(absolute), 1),
            "p90_abs_ms": round(absolute[int(0.9 * (len(absolute) - 1))], 1),
            "mean_signed_ms": round(statistics.fmean(diffs), 1)}


def option(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def repeated(work: Path, times: int) -> Path:
    """The script spoken ``times`` over, as its own script.json."""
    doc = json.loads((work / "script" / "script.json").read_text())
    doc["segments"] = [{**seg, "id": f"{seg['id']}-{n}"} for n in range(times)
                       for seg in doc["segments"]]
    path = work / f"script-x{times}" / "script.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def pause_onsets(out: Path, *, quiet_s: float = 0.1, below_db: float = 45.0) -> dict:
    """Onset error (ms) of the words that follow a pause, against the sound itself: in each
    segment's audio the first loud 10 ms frame after every run of at least ``quiet_s`` of frames
    more than ``below_db`` under the segment's loud level (its 95th percentile), paired with the
    nearest word start within 250 ms. Independent of any recogniser."""
    doc = json.loads((out / "voiceover.json").read_text())
    with wave.open(str(out / "voiceover.wav"), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
    hop, win = round(0.005 * rate), round(0.010 * rate)
    errors = []
    for seg in doc["segments"]:
        part = samples[round(seg["start"] * rate):round(seg["end"] * rate)]
        if len(part) < win or not seg["words"]:
            continue
        level = np.array([20 * np.log10(np.sqrt(np.mean(part[i:i + win] ** 2)) + 1.0)
                          for i in range(0, len(part) - win, hop)])
        loud = level > np.percentile(level, 95) - below_db
        quiet_run = 0
        starts = np.array([w["start"] - seg["start"] for w in seg["words"]])
        for index, is_loud in enumerate(loud):
            if not is_loud:
                quiet_run += 1
                continue
            if quiet_run * hop >= quiet_s * rate:
                onset = (index * hop) / rate
                nearest = starts[np.argmin(np.abs(starts - onset))]
                if abs(nearest - onset) <= 0.25:
                    errors.append((nearest - onset) * 1000)
            quiet_run = 0
    absolute = sorted(abs(e) for e in errors)
    return {"onsets": len(errors), "median_abs_ms": round(statistics.median(absolute), 1),
            "p90_abs_ms": round(absolute[int(0.9 * (len(absolute) - 1))], 1),
            "mean_signed_ms": round(statistics.fmean(errors), 1)} if errors else {"onsets": 0}


def main() -> None:
    rounds, repeat = option("--rounds", 1), option("--repeat", 0)
    values = {str(rounds) if "--rounds" in sys.argv else None,
              str(repeat) if "--repeat" in sys.argv else None}
    args = [a for a in sys.argv[1:] if not a.startswith("--") and a not in values]
    work = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="voiceover-bench-"))
    prepare(work)
    script_path = repeated(work, repeat) if repeat else work / "script" / "script.json"
    asr = WhisperTranscriber()
    tts = get_tts(SETTINGS.tts_provider)
    tts.sample_rate  # the voice loaded before the clock starts (once per process, as in a worker)
    runs = []
    for round_ in range(rounds):
        out = work / f"voiceover-{ROOT.name}-{round_}"
        wall, cpu = time.monotonic(), time.process_time()
        spoken = voiceover.run(script_path, out, tts=tts, voice=SETTINGS.voice, aligner=asr)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        run = {"voiceover_wall_s": round(wall, 2), "voiceover_cpu_s": round(cpu, 2),
               "voice_seconds": spoken["duration"], "segments": spoken["segments"],
               "timing": spoken["timing"], "onset_after_pauses": pause_onsets(out)}
        if repeat:
            runs.append(run)
            print(json.dumps(run), file=sys.stderr, flush=True)
            continue
        cut, final = work / f"edit-{ROOT.name}-{round_}", work / f"render-{ROOT.name}-{round_}"
        edit.run(work / "analyze" / "segments.json", work / "script" / "script.json",
                 out / "voiceover.json", work / "ingest" / "source.json", SETTINGS, cut)
        render.run(source_of(work), cut / "edl.json", final,
                   files={"captions.ass": cut / "captions.ass",
                          "voiceover.wav": out / "voiceover.wav"})
        sync = qc.caption_sync(final / "final.mp4", Edl.load(cut / "edl.json"), asr)
        run["caption_onset"] = {k: v for k, v in sync.items() if k != "errors_ms"}
        if "--compare" in sys.argv:
            run["onset_vs_whisper_alignment"] = compare_with_whisper(out, asr)
        runs.append(run)
        print(json.dumps(run), file=sys.stderr, flush=True)
    print(json.dumps({"work": str(work), "root": str(ROOT), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
