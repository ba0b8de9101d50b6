"""The generated Ledgerly product tour: the clip matches its truth, and generation repeats exactly."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from include.core.errors import FatalError
from include.core.media import ffprobe
from include.product_tour import make_product_tour

ROOT = Path(__file__).resolve().parents[1]
SMALL = (320, 180)  # the 1280x720 tour at a quarter, for the gray frames and the repeat test


@pytest.fixture(scope="module")
def gray(product_tour) -> np.ndarray:
    """Every frame of the tour as 320x180 luma, shape (frames, 180, 320)."""
    path, truth = product_tour
    raw = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(path),
         "-vf", f"scale={SMALL[0]}:{SMALL[1]}:flags=area,format=gray", "-f", "rawvideo", "-"],
        check=True, capture_output=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, SMALL[1], SMALL[0]).astype(np.int16)
    assert len(frames) == truth["frames"]
    return frames


@pytest.fixture(scope="module")
def pcm(product_tour) -> np.ndarray:
    """The tour's audio as 16 kHz mono float samples."""
    raw = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(product_tour[0]),
         "-vn", "-ac", "1", "-ar", "16000", "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout
    return np.frombuffer(raw, "<f4")


def frame_index(t: float, fps: int) -> int:
    return int(round(t * fps))


def small_box(box: list[int], truth: dict, margin: int = 0) -> tuple[slice, slice]:
    """Rows and columns of ``box`` ([x, y, w, h] at the truth's size) in the 320x180 frames."""
    k = SMALL[0] / truth["size"][0]
    x, y, w, h = box
    return (slice(max(0, int(y * k) - margin), int(np.ceil((y + h) * k)) + margin),
            slice(max(0, int(x * k) - margin), int(np.ceil((x + w) * k)) + margin))


def change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def outside(a: np.ndarray, b: np.ndarray, rows: slice, cols: slice) -> float:
    """The largest per-pixel change between ``a`` and ``b`` outside the box ``rows`` x ``cols``."""
    diff = np.abs(a - b)
    diff[rows, cols] = 0
    return float(diff.max())


def rms_db(samples: np.ndarray) -> float:
    return 20 * np.log10(max(1e-10, float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))))


def test_the_clip_matches_its_truth(product_tour):
    path, truth = product_tour
    info = ffprobe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    assert [video["width"], video["height"]] == truth["size"] == [1280, 720]
    assert video["r_frame_rate"] == f"{truth['fps']}/1"
    assert int(video["nb_frames"]) == truth["frames"] == round(truth["duration"] * truth["fps"])
    assert audio["codec_name"] == "aac"
    assert abs(float(info["format"]["duration"]) - truth["duration"]) < 0.1
    assert 35 <= truth["duration"] <= 45
    assert path.stat().st_size < 5_000_000
    head = path.read_bytes()[:200_000]
    assert 0 <= head.find(b"moov") < head.find(b"mdat")  # +faststart: the index comes first


def test_the_truth_is_complete_and_consistent(product_tour):
    _, truth = product_tour
    assert json.loads(json.dumps(truth)) == truth
    pages = truth["pages"]
    assert pages[0]["start"] == 0 and pages[-1]["end"] == truth["duration"]
    assert all(a["end"] == b["start"] for a, b in zip(pages, pages[1:]))
    assert truth["page_changes"] == [p["start"] for p in pages[1:]]
    headings = [p["heading"] for p in pages]
    assert {"Dashboard", "Invoices", "New invoice", "Customers", "Reports"} <= set(headings)
    for page in pages:
        assert page["heading"] in page["terms"] and len(page["terms"]) >= 8
    dashboard = next(p for p in pages if p["name"] == "dashboard")
    assert {"Revenue this month", "$48,210", "Open invoices", "Overdue"} <= set(dashboard["terms"])
    assert truth["chrome"]["product"] == "Ledgerly" and "Ledgerly" in truth["chrome"]["terms"]
    w, h = truth["size"]
    for box in [truth["chrome"]["box"], truth["dialog"]["box"], truth["toast"]["box"], truth["scroll"]["box"],
                *(field["box"] for field in truth["typing"])]:
        x, y, bw, bh = box
        assert 0 <= x < x + bw <= w and 0 <= y < y + bh <= h
    assert [f["text"] for f in truth["typing"]] == ["Northwind Traders", "2,450.00"]
    dialog = truth["dialog"]
    for field in truth["typing"]:
        assert dialog["start"] < field["start"] < field["end"] < dialog["end"]
    assert truth["toast"]["text"] == "Invoice INV-1042 sent"
    assert 1.5 <= truth["toast"]["end"] - truth["toast"]["start"] <= 2.5
    dead = truth["dead_stretch"]
    assert dead["end"] - dead["start"] >= 1.5
    assert any(a <= dead["start"] and dead["end"] <= b for a, b in truth["static"])
    lines = truth["speech"]
    assert truth["voice"].startswith("piper:")  # the lock installs piper-tts and the joe voice
    assert len(lines) >= 5 and all(0 < l["start"] < l["end"] <= truth["duration"] for l in lines)
    assert all(a["end"] + 0.5 < b["start"] for a, b in zip(lines, lines[1:]))  # pauses between lines
    assert not any(l["start"] < dead["end"] and dead["start"] < l["end"] for l in lines)
    assert "Northwind" in " ".join(l["text"] for l in lines)
    filler = truth["filler"]
    line = lines[filler["line"]]
    assert filler["word"] == "um" and " um," in line["text"]
    assert line["start"] < filler["start"] < filler["end"] < line["end"]


def test_pages_change_and_their_still_parts_hold(product_tour, gray):
    _, truth = product_tour
    fps = truth["fps"]
    for t in truth["page_changes"]:
        k = frame_index(t, fps)
        assert change(gray[k - 1], gray[k]) > 3, f"nothing changes at the page change {t}"
        assert change(gray[k], gray[k + 1]) < 0.5  # a cut, not a fade
    for start, end in truth["static"]:
        a, b = frame_index(start, fps), frame_index(end, fps)
        worst = max(change(gray[a], gray[i]) for i in range(a + 1, b))
        assert worst < 0.3, f"the still span {start}-{end} moves ({worst:.2f})"
    # The top bar (product name, search, user) is the same on every page without the dialog.
    rows, cols = small_box(truth["chrome"]["box"], truth)
    plain = [p for p in truth["pages"] if p["name"] != "new-invoice"]
    bars = [gray[frame_index((p["start"] + p["end"]) / 2, fps)][rows, cols] for p in plain]
    assert all(change(bars[0], bar) < 0.5 for bar in bars[1:])


def test_dialog_typing_toast_and_scroll_change_only_their_boxes(product_tour, gray):
    _, truth = product_tour
    fps = truth["fps"]
    dialog = truth["dialog"]
    inside = gray[frame_index((dialog["start"] + dialog["end"]) / 2, fps)]
    rows, cols = small_box(dialog["box"], truth)
    mask = np.zeros(inside.shape, bool)
    mask[rows, cols] = True
    assert inside[mask].mean() > inside[~mask].mean() + 60  # a white card over a dimmed page

    for field in truth["typing"]:
        a, b = frame_index(field["start"], fps), frame_index(field["end"], fps)
        rows, cols = small_box(field["box"], truth, margin=1)
        assert change(gray[a - 1][rows, cols], gray[b][rows, cols]) > 2, f"no text typed into {field['field']}"
        assert outside(gray[a - 1], gray[b], rows, cols) <= 6, f"typing into {field['field']} changes more"

    toast = truth["toast"]
    rows, cols = small_box(toast["box"], truth, margin=6)  # and its shadow
    first, gone = frame_index(toast["start"], fps), frame_index(toast["end"], fps)
    before, shown, after = gray[first - 1], gray[first], gray[gone]
    assert change(before[rows, cols], shown[rows, cols]) > 10
    assert outside(before, shown, rows, cols) <= 6
    assert change(before, after) < 0.3  # it goes away again

    scroll = truth["scroll"]
    rows, cols = small_box(scroll["box"], truth, margin=1)
    a, b = frame_index(scroll["start"], fps), frame_index(scroll["end"], fps)
    steps = [change(gray[i][rows, cols], gray[i + 1][rows, cols]) for i in range(a, b - 1)]
    moving = sum(step > 0.5 for step in steps)
    assert moving > 0.8 * len(steps), "the list does not scroll smoothly"
    assert outside(gray[a], gray[b], rows, cols) <= 6


def detect(path: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """ffmpeg's freezedetect and silencedetect spans over the whole clip."""
    stderr = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path),
         "-vf", "freezedetect=n=0.003:d=1.5", "-af", "silencedetect=n=-45dB:d=1.5", "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr

    def spans(kind: str) -> list[tuple[float, float]]:
        starts = [float(v) for v in re.findall(rf"{kind}_start: ([0-9.]+)", stderr)]
        ends = [float(v) for v in re.findall(rf"{kind}_end: ([0-9.]+)", stderr)]
        ends += [float("inf")] * (len(starts) - len(ends))
        return list(zip(starts, ends))

    return spans("freeze"), spans("silence")


def test_the_dead_stretch_is_frozen_and_silent(product_tour):
    path, truth = product_tour
    dead = truth["dead_stretch"]
    freezes, silences = detect(path)
    slack = 1.5 / truth["fps"]
    assert any(a <= dead["start"] + slack and dead["end"] - slack <= b for a, b in freezes), freezes
    assert any(a <= dead["start"] + slack and dead["end"] - slack <= b for a, b in silences), silences


def test_speech_is_heard_where_the_truth_says_and_nowhere_else(product_tour, pcm):
    _, truth = product_tour
    rate = 16000

    def level(a: float, b: float) -> float:
        return rms_db(pcm[int(a * rate): int(b * rate)])

    for line in truth["speech"]:
        assert level(line["start"], line["end"]) > -35, line
    filler = truth["filler"]
    assert level(filler["start"], filler["end"]) > -40
    edges = [0.0] + [v for l in truth["speech"] for v in (l["start"], l["end"])] + [truth["duration"]]
    for a, b in zip(edges[::2], edges[1::2]):  # the pauses around the lines
        if b - a > 0.4:
            quiet = level(a + 0.1, b - 0.1)
            assert -75 < quiet < -50, f"{a}-{b}: {quiet:.1f} dBFS (a quiet noise floor, not speech or digital silence)"


def test_the_same_inputs_give_the_same_clip(tmp_path):
    api = tmp_path / "api.mp4"
    truth = make_product_tour(api, size=SMALL, voice=False)
    cli = tmp_path / "cli.mp4"
    subprocess.run(
        [sys.executable, "-m", "include.product_tour", str(cli), "--size", "320x180", "--no-voice"],
        check=True, cwd=ROOT, capture_output=True,
    )
    assert json.loads(cli.with_suffix(".json").read_text()) == truth
    assert truth["speech"] == [] and truth["voice"] is None

    def frame_hashes(path: Path) -> list[str]:
        out = subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
            check=True, capture_output=True, text=True,
        ).stdout
        return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if not line.startswith("#")]

    hashes = frame_hashes(api)
    assert len(hashes) == truth["frames"] and len(set(hashes)) > 100
    assert frame_hashes(cli) == hashes
    assert hashlib.sha256(api.read_bytes()).digest() == hashlib.sha256(cli.read_bytes()).digest()


@pytest.mark.parametrize("size", [(321, 180), (100, 60)])
def test_a_bad_size_is_a_clear_error(tmp_path, size):
    with pytest.raises(FatalError, match="even and at least"):
        make_product_tour(tmp_path / "x.mp4", size=size, voice=False)
