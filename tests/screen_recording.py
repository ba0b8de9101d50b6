"""A small generated screen recording with known focus truth (for the zoom tests).

A static settings page, 1280x720 at 30 fps, 12 s, no audio:

* 0.0-3.0 s  the mouse pointer glides around alone (nothing else changes);
* 3.0-6.0 s  a field gets its focus ring at 3.0 s, then text is typed into it, a letter every 0.12 s;
* 6.5-8.5 s  a dialog is open in the middle;
* 9.0-11.0 s a toast shows at the bottom right.

Drawn with OpenCV into raw frames piped to one libx264 encode.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np

W, H, FPS, DURATION = 1280, 720, 30, 12.0
FIELD = (120, 200, 520, 48)  # x, y, w, h
TEXT = "Northwind Traders Ltd"
TYPE_START, TYPE_STEP = 3.3, 0.12
DIALOG = (440, 220, 400, 260)
DIALOG_SPAN = (6.5, 8.5)
TOAST = (900, 620, 340, 64)
TOAST_SPAN = (9.0, 11.0)
POINTER_SPAN = (0.0, 3.0)


def _page() -> np.ndarray:
    img = np.full((H, W, 3), 246, np.uint8)
    cv2.rectangle(img, (0, 0), (W, 56), (120, 60, 70), -1)
    cv2.putText(img, "Acme settings", (24, 38), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
    cv2.putText(img, "Profile", (120, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (30, 30, 30), 2)
    cv2.putText(img, "Company name", (120, 188), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (80, 80, 80), 1)
    x, y, w, h = FIELD
    cv2.rectangle(img, (x, y), (x + w, y + h), (190, 190, 190), 2)
    for k in range(6):  # rows of static text below
        cv2.putText(img, f"Setting number {k + 1}: enabled", (120, 330 + 52 * k),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.7, (60, 60, 60), 1)
    return img


def _pointer(img: np.ndarray, x: int, y: int) -> None:
    pts = np.array([[0, 0], [0, 20], [5, 15], [9, 23], [12, 22], [8, 14], [14, 14]]) + (x, y)
    cv2.fillPoly(img, [pts.astype(np.int32)], (20, 20, 20))
    cv2.polylines(img, [pts.astype(np.int32)], True, (255, 255, 255), 1)


def _frame(t: float, page: np.ndarray) -> np.ndarray:
    img = page.copy()
    x, y, w, h = FIELD
    if t >= 3.0:
        cv2.rectangle(img, (x - 2, y - 2), (x + w + 2, y + h + 2), (230, 120, 80), 3)
    if t >= TYPE_START:
        n = min(len(TEXT), int((t - TYPE_START) / TYPE_STEP) + 1)
        cv2.putText(img, TEXT[:n], (x + 12, y + 33), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2)
    if DIALOG_SPAN[0] <= t < DIALOG_SPAN[1]:
        dx, dy, dw, dh = DIALOG
        cv2.rectangle(img, (dx, dy), (dx + dw, dy + dh), (255, 255, 255), -1)
        cv2.rectangle(img, (dx, dy), (dx + dw, dy + dh), (150, 150, 150), 2)
        cv2.putText(img, "Save changes?", (dx + 30, dy + 60), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (20, 20, 20), 2)
        cv2.rectangle(img, (dx + 230, dy + 180), (dx + 370, dy + 230), (200, 120, 40), -1)
    if TOAST_SPAN[0] <= t < TOAST_SPAN[1]:
        tx, ty, tw, th = TOAST
        cv2.rectangle(img, (tx, ty), (tx + tw, ty + th), (60, 140, 40), -1)
        cv2.putText(img, "Settings saved", (tx + 20, ty + 42), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
    # the pointer: glides alone first, then rests beside the field, then goes to the corner
    if t < POINTER_SPAN[1]:
        u = t / POINTER_SPAN[1]
        px, py = 700 + 400 * np.sin(2 * np.pi * u), 420 + 180 * np.sin(4 * np.pi * u)
    else:
        px, py = 560, 222  # where it clicked, on the field
    _pointer(img, int(px), int(py))
    return img


def make_screen_recording(out: Path) -> dict:
    """Write the recording to ``out``; return its truth (boxes ``[x, y, w, h]``, seconds)."""
    page = _page()
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{W}x{H}",
           "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20",
           "-pix_fmt", "yuv420p", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for i in range(int(DURATION * FPS)):
        proc.stdin.write(_frame(i / FPS, page).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    typed_end = TYPE_START + TYPE_STEP * (len(TEXT) - 1)
    return {
        "size": [W, H],
        "pointer_only": list(POINTER_SPAN),
        "typing": {"box": [FIELD[0] - 4, FIELD[1] - 4, FIELD[2] + 8, FIELD[3] + 8],
                   "start": 3.0, "end": round(typed_end, 3)},
        "dialog": {"box": list(DIALOG), "start": DIALOG_SPAN[0], "end": DIALOG_SPAN[1]},
        "toast": {"box": list(TOAST), "start": TOAST_SPAN[0], "end": TOAST_SPAN[1]},
    }
