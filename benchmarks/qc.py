"""What the QC stage costs next to the render it checks (issue #14).

    python benchmarks/qc.py [SECONDS]

Generates a 1280x720 sample clip (default 30 s), narrates every 5 s shot with Piper (aligned by
faster-whisper), edits and renders it, then runs the QC stage twice (the first run includes
loading the recognition model) and a bare decode of final.mp4 as the baseline. Prints JSON:
seconds of each, and the ratios QC / render, QC / video duration, scan / bare decode — all
measured in this run on this machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from include.core.media import FFMPEG  # noqa: E402
from include.core.options import Settings  # noqa: E402
from include.providers.asr import WhisperTranscriber  # noqa: E402
from include.providers.tts import get_tts  # noqa: E402
from include.sample_media import make_sample  # noqa: E402
from include.stages import edit, qc, render, voiceover  # noqa: E402

LINES = ["Here is the dashboard with this month's revenue.", "The invoice list shows who owes what.",
         "A dialog creates a new invoice for a customer.", "The toast confirms that it was sent.",
         "Reports compare this month with the last one.", "Settings keep the company details."]


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    work = Path(tempfile.mkdtemp(prefix="qc-bench-"))
    shots = int(seconds // 5)
    clip = work / "clip.mp4"
    make_sample(clip, seconds=seconds, size="1280x720", shots=shots)
    step = seconds / shots
    segs = [(f"s{i + 1:02d}", i * step, (i + 1) * step) for i in range(shots)]
    (work / "segments.json").write_text(json.dumps({"duration": seconds, "segments": [
        {"id": s, "start": a, "end": b, "kept": [[a, b]]} for s, a, b in segs]}))
    (work / "script.json").write_text(json.dumps({"segments": [
        {"id": s, "start": a, "end": b, "kept_duration": b - a, "word_budget": 20,
         "text": LINES[i % len(LINES)]} for i, (s, a, b) in enumerate(segs)]}))
    (work / "source.json").write_text(json.dumps({"duration": seconds, "width": 1280,
                                                  "height": 720, "fps": 30, "has_audio": True}))
    asr = WhisperTranscriber()
    voiceover.run(work / "script.json", work / "voiceover", tts=get_tts("piper"), aligner=asr)
    edit.run(work / "segments.json", work / "script.json", work / "voiceover" / "voiceover.json",
             work / "source.json", Settings(animate="off"), work / "edit")  # footage only
    t0 = time.monotonic()
    render.run(clip, work / "edit" / "edl.json", work / "render", files={
        "captions.ass": work / "edit" / "captions.ass",
        "voiceover.wav": work / "voiceover" / "voiceover.wav"})
    render_s = time.monotonic() - t0
    final = work / "render" / "final.mp4"
    t0 = time.monotonic()
    subprocess.run([FFMPEG, "-v", "error", "-i", str(final), "-f", "null", "-"], check=True)
    decode_s = time.monotonic() - t0
    runs = []
    for k in range(2):
        report = qc.run(final, work / "edit" / "edl.json", work / f"qc{k}", transcriber=asr,
                        captions_path=work / "edit" / "captions.ass",
                        script_path=work / "script.json")
        runs.append(report)
    warm = runs[1]["cost"]
    print(json.dumps({
        "video_seconds": warm["video_seconds"], "render_seconds": round(render_s, 2),
        "bare_decode_seconds": round(decode_s, 2),
        "qc_cold": runs[0]["cost"], "qc_warm": warm,
        "qc_over_render": round(warm["total_seconds"] / render_s, 3),
        "qc_over_duration": warm["total_over_duration"],
        "asr_over_duration": round(warm["asr_seconds"] / warm["video_seconds"], 3),
        "scan_over_bare_decode": round(warm["scan_seconds"] / decode_s, 2),
        "passed": runs[1]["passed"], "failures": runs[1]["failures"],
        "figures": {k: {f: v for f, v in c.items() if f in (
            "status", "word_error", "median_ms", "p90_ms", "integrated_lufs", "true_peak_dbtp",
            "worst_s", "off_s", "outside_count")} for k, c in runs[1]["checks"].items()},
    }, indent=1))


if __name__ == "__main__":
    main()
