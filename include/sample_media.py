"""Generate small clips with known ground truth (cuts, frozen stretches, silences).

Used by the tests, the benchmarks and ``make demo`` so that nothing needs footage from outside
the repository. Pure ffmpeg lavfi sources; deterministic frame content.

    python -m include.sample_media out.mp4 [--seconds 20] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class SampleTruth:
    duration: float
    cuts: list[float] = field(default_factory=list)  # seconds of hard cuts
    frozen: list[tuple[float, float]] = field(default_factory=list)  # static picture spans
    silences: list[tuple[float, float]] = field(default_factory=list)  # silent audio spans
    has_audio: bool = True


# (lavfi video source, is_static) for each shot; sizes are filled in at build time.
_SHOTS = [
    ("testsrc2=size={s}:rate={r}", False),
    ("color=c=0x1e3a5f:size={s}:rate={r},drawbox=x=iw/8:y=ih/6:w=iw*3/4:h=ih/2:color=0xf0f0f0:t=fill,"
     "drawbox=x=iw/8:y=ih*3/4:w=iw/3:h=ih/12:color=0xff9900:t=fill", True),
    ("smptehdbars=size={s}:rate={r}", True),
    ("mandelbrot=size={s}:rate={r}", False),
    ("testsrc=size={s}:rate={r},hue=h=t*40", False),
]


def make_sample(
    out: str | Path,
    *,
    seconds: float = 20.0,
    size: str = "1280x720",
    rate: int = 30,
    audio: bool = True,
    shots: int | None = None,
) -> SampleTruth:
    """Write an H.264/AAC MP4 with ``shots`` equal-length shots and a tone/silence pattern.

    The audio is a 440 Hz tone (speech stand-in) that is silent in the middle of every shot:
    for each shot ``[a, b)`` the stretch ``[a + 0.3 L, a + 0.7 L)`` is silence (L = shot length),
    so silences are long enough (>0.5 s) for detection when a shot is >= 2 s.
    """
    out = Path(out)
    n = shots or min(len(_SHOTS), max(2, int(seconds // 4)))
    shot_len = seconds / n
    inputs: list[str] = []
    labels = []
    truth = SampleTruth(duration=round(seconds, 3), has_audio=audio)
    for i in range(n):
        src, static = _SHOTS[i % len(_SHOTS)]
        src = src.format(s=size, r=rate)
        inputs += ["-f", "lavfi", "-t", f"{shot_len:.3f}", "-i", src]
        labels.append(f"[{i}:v]")
        a = i * shot_len
        if i:
            truth.cuts.append(round(a, 3))
        if static:
            truth.frozen.append((round(a, 3), round(a + shot_len, 3)))
    filters = [f"{''.join(labels)}concat=n={n}:v=1:a=0,format=yuv420p[v]"]
    maps = ["-map", "[v]"]
    if audio:
        # Tone everywhere except the middle 40 % of each shot.
        silent_expr = []
        for i in range(n):
            a = i * shot_len + 0.3 * shot_len
            b = i * shot_len + 0.7 * shot_len
            truth.silences.append((round(a, 3), round(b, 3)))
            silent_expr.append(f"between(t,{a:.3f},{b:.3f})")
        vol = f"volume='if({'+'.join(silent_expr)},0,0.5)':eval=frame"
        inputs += ["-f", "lavfi", "-t", f"{seconds:.3f}", "-i", "sine=f=440:sample_rate=48000"]
        filters.append(f"[{n}:a]{vol},aformat=channel_layouts=stereo[a]")
        maps += ["-map", "[a]"]
    cmd = [
        "ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *inputs,
        "-filter_complex", ";".join(filters), *maps,
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-g", str(rate * 2),
        "-pix_fmt", "yuv420p",
    ]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k"]
    cmd += ["-movflags", "+faststart", "-t", f"{seconds:.3f}", str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True)
    return truth


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--no-audio", action="store_true")
    args = ap.parse_args(argv)
    truth = make_sample(args.out, seconds=args.seconds, size=args.size, audio=not args.no_audio)
    print(json.dumps(asdict(truth)))


if __name__ == "__main__":
    main()
