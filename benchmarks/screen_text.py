"""On-screen text benchmark, printed as one JSON object (figures, no assertions).

- seconds per 1080p frame for :class:`TesseractReader` (tesserocr, in-process), wall and CPU, and
  for ``pytesseract`` (a tesseract subprocess per frame) when it is importable, with Tesseract's
  OpenMP threads left alone and limited to one;
- on ``../shared/media/product_tour_45s.mp4`` (when present): headings right per span (the
  headline of each span's frames after dropping the chrome), on-screen terms found, the chrome
  and product name. Without the shared clip, generated UI frames are timed only.

Usage: ``python benchmarks/screen_text.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from include.core import (
    media,  # noqa: E402
    screen_text,  # noqa: E402
)
from include.providers.ocr import TesseractReader, find_tessdata  # noqa: E402

SHARED = next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()),
              ROOT.parent / "shared")
TOUR = SHARED / "media" / "product_tour_45s.mp4"
TRUTH = SHARED / "media" / "product_tour_truth.json"


def frame_at(video: Path, seconds: float, out: Path) -> Path:
    media.run_tool([media.FFMPEG, "-v", "error", "-y", "-ss", f"{seconds:.3f}", "-i", str(video),
               "-frames:v", "1", str(out)], what="ffmpeg")
    return out


def generated_frames(folder: Path) -> list[Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    import cv2
    from test_ocr import ui_frame  # the tests' UI frame generator

    paths = []
    for i, title in enumerate(["Revenue by region", "Customer list", "Team settings"]):
        path = folder / f"gen{i}.png"
        cv2.imwrite(str(path), ui_frame(title, table=i == 0, toast="Saved" if i == 2 else None))
        paths.append(path)
    return paths


def time_reader(read, paths: list[Path], rounds: int) -> dict:
    walls, cpus = [], []
    for _ in range(rounds):
        for path in paths:
            wall, cpu = time.perf_counter(), time.process_time()
            read(path)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return {"wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(cpus), 3)}


def time_pytesseract(paths: list[Path], rounds: int, omp: str | None) -> dict:
    """pytesseract in a child process (so OMP_THREAD_LIMIT applies); children's CPU counted."""
    code = (
        "import sys, time, statistics, cv2, pytesseract\n"
        "from PIL import Image\n"
        "walls = []\n"
        f"for _ in range({rounds}):\n"
        "    for p in sys.argv[1:]:\n"
        "        t = time.perf_counter()\n"
        "        g = cv2.imread(p, cv2.IMREAD_GRAYSCALE)\n"
        "        pytesseract.image_to_data(Image.fromarray(g), lang='eng', config='--psm 11',\n"
        "                                  output_type=pytesseract.Output.DICT)\n"
        "        walls.append(time.perf_counter() - t)\n"
        "print(statistics.median(walls))\n"
    )
    env = dict(os.environ, TESSDATA_PREFIX=find_tessdata("eng"))
    if omp:
        env["OMP_THREAD_LIMIT"] = omp
    before = os.times()
    proc = subprocess.run([sys.executable, "-c", code, *map(str, paths)], env=env,
                          capture_output=True, text=True, check=True)
    after = os.times()
    cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    return {"wall_s": round(float(proc.stdout.strip()), 3),
            "cpu_s": round(cpu / (rounds * len(paths)), 3)}


def tour_quality(reader: TesseractReader, folder: Path) -> dict:
    truth = json.loads(TRUTH.read_text())["product_tour_45s.mp4"]
    spans = truth["spans"]
    per_span = []
    for index, span in enumerate(spans):
        length = span["end"] - span["start"]
        times = [span["start"] + length * f for f in (0.2, 0.5, 0.8)]
        per_span.append([
            [line.as_dict() for line in reader.read(frame_at(TOUR, t, folder / f"s{index}_{t:.2f}.png"))]
            for t in times
        ])
    middles = [frames[1] for frames in per_span]
    chrome = screen_text.chrome(middles)
    right = frames_right = frames_total = 0
    terms_found = terms_total = 0
    rows = []
    for span, frames in zip(spans, per_span):
        heads = [screen_text.headline(f, (1920, 1080), chrome=chrome.lines) for f in frames]
        frames_right += sum(h == span["heading"] for h in heads)
        frames_total += len(heads)
        right += heads[1] == span["heading"]
        terms = screen_text.terms(screen_text.drop_chrome(frames[1], chrome.lines))
        found = [t for t in span["terms"]
                 if any(t.lower() in x.lower() for x in terms) or t == chrome.product_name]
        terms_found += len(found)
        terms_total += len(span["terms"])
        rows.append({"span": [span["start"], span["end"]], "truth": span["heading"], "got": heads[1],
                     "missing_terms": [t for t in span["terms"] if t not in found]})
    return {
        "headings_right": f"{right}/{len(spans)}",
        "headings_right_all_frames": f"{frames_right}/{frames_total}",
        "terms_found": f"{terms_found}/{terms_total}",
        "chrome": [line["text"] for line in chrome.lines],
        "product_name": chrome.product_name,
        "spans": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reader = TesseractReader()
    out: dict = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if TOUR.is_file():
            paths = [frame_at(TOUR, t, folder / f"t{t}.png") for t in (4, 12, 18, 26, 34, 41)]
            out["frames"] = "product_tour_45s.mp4 at 4 12 18 26 34 41 s (1920x1080)"
        else:
            paths = generated_frames(folder)
            out["frames"] = "generated 1920x1080 UI frames (tests/test_ocr.py)"
        reader.read(paths[0])  # warm: the model loads once per process
        out["tesserocr"] = time_reader(reader.read, paths, args.rounds)
        try:
            import pytesseract  # noqa: F401
        except ImportError:
            out["pytesseract"] = "not installed"
        else:
            out["pytesseract"] = time_pytesseract(paths, args.rounds, None)
            out["pytesseract_omp1"] = time_pytesseract(paths, args.rounds, "1")
        if TOUR.is_file() and TRUTH.is_file():
            out["product_tour"] = tour_quality(reader, folder)
    out["load_avg"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
