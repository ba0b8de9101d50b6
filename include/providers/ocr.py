"""On-screen text: read the text lines of a video frame with Tesseract, offline.

:class:`TesseractReader` runs Tesseract in-process through ``tesserocr`` (its wheel bundles
libtesseract; the English model comes from Debian's ``tesseract-ocr-eng``). On this project's
1080p product tour frames (benchmarks/screen_text.py, 2 shared cores) it needs 0.23–0.32 CPU-s
per frame against 1.26 CPU-s for ``pytesseract`` (a ``tesseract`` subprocess per frame, a PNG
round trip, OpenMP threads fighting over two cores; 0.76 CPU-s with ``OMP_THREAD_LIMIT=1``), so
tesserocr it is.

A frame is read with page segmentation mode 11 ("sparse text"): UI screens are islands of text
(a nav bar, a title, table cells, a toast), and the default mode 3 glues a row of cards into one
line ("Completed points Cycle time Open bugs"). Light-on-dark regions (a purple nav bar, a green
toast, a coloured slide, a terminal) are inverted first, because Tesseract's one global threshold
loses light text; when a large inverted region stays mid-grey (coloured slides, see
``MID_TONE_AREA``) the frame is then flattened to a white background (divided by its local
maximum): on a real screen recording with coloured slides beside a terminal
(``../shared/media/screen_60s.mp4``) the slide titles were read on 0 of 8 frames before, 8 of 8
after. Words are grouped into lines by Tesseract's block/paragraph/line numbers and noise is
dropped (low confidence, lone characters, punctuation soup).
"""

from __future__ import annotations

import os
import re
import statistics
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from include.core.errors import FatalError
from include.providers.cloud import installed

#: where Debian's tesseract-ocr-eng puts its models (tesserocr's bundled library looks elsewhere)
TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)


@dataclass(frozen=True)
class TextLine:
    """One line of text on a frame.

    ``box`` is ``(x, y, w, h)`` in the pixels of the image that was read, ``height`` the median
    height of its words in pixels (a proxy for the font size), ``conf`` Tesseract's mean word
    confidence, 0–100.
    """

    text: str
    box: tuple[int, int, int, int]
    height: float
    conf: float

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "box": [int(v) for v in self.box],
            "height": round(float(self.height), 1),
            "conf": round(float(self.conf), 1),
        }


_ALNUM = re.compile(r"[0-9A-Za-zÀ-ÖØ-öø-ÿ]")


def clean_words(words: list[str]) -> list[str]:
    """The words of one line without noise tokens.

    A token is noise when fewer than half of its characters are letters or digits (``|``,
    ``—=``, ``‘'``); punctuation hanging off a kept word is trimmed, except a closing one that
    belongs to it (``3.2``, ``ORB-407``, ``50%``, ``$1,200``).
    """
    kept: list[str] = []
    for word in words:
        word = word.strip()
        if not word:
            continue
        alnum = len(_ALNUM.findall(word))
        if alnum == 0 or alnum * 2 < len(word):
            continue
        kept.append(word.strip("|¦‘’`~^_=*<>[]{}\\•·"))
    while kept and len(kept[0]) == 1 and not kept[0].isalnum():
        kept.pop(0)
    return [w for w in kept if w]


def is_noise_line(text: str, conf: float, min_conf: float) -> bool:
    """Whether a grouped line is noise: too unsure, or one character (an icon read as ``J``)."""
    if conf < min_conf:
        return True
    letters = _ALNUM.findall(text)
    if len(letters) < 2 and not text.strip().isdigit():
        return True
    return False


#: A frame is flattened (:func:`flatten_background`) only when one of its inverted regions covers
#: at least MID_TONE_AREA of it and a quarter of that region stays darker than MID_TONE_GREY:
#: a large mid-tone panel (the shared screen recording's coloured slides: 130–174). A UI's dark
#: nav bars, buttons and toasts invert to near white (199–242 on the product tours) and are read
#: as before: flattening those frames too read a dialog's dimmed page and put its title
#: ("Invoices") over the dialog's ("New invoice").
MID_TONE_AREA, MID_TONE_GREY = 0.1, 200


def invert_dark_regions(gray: np.ndarray, *, factor: int = 4, kernel: int = 5) -> np.ndarray:
    """``gray`` with every large dark region (nav bar, coloured button, toast) inverted and
    contrast-stretched so that all text is dark on light, which Tesseract's binarisation needs.

    Dark regions are found on a 1/``factor`` thumbnail: pixels darker than mid-grey, opened with a
    ``kernel``-sized square so that strokes of dark text on a light page do not count.
    """
    import cv2

    small = cv2.resize(gray, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
    mask = (small < 128).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((kernel, kernel), np.uint8))
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(mask)
    if count <= 1:
        return gray
    out = gray.copy()
    done: list[tuple[int, int, int, int]] = []
    mid_tone = False  # a large panel that inverts to grey, not white (see flatten_background)
    for x, y, w, h, area in sorted(stats[1:].tolist(), key=lambda s: -s[4]):
        if area < 0.5 * w * h:  # a ragged shape (a photo, a chart), not a filled panel
            continue
        if any(a <= x and b <= y and x + w <= c and y + h <= d for a, b, c, d in done):
            continue  # a piece of a panel already inverted (inside a letter's bowl): not twice
        done.append((x, y, x + w, y + h))
        x0, y0, x1, y1 = x * factor, y * factor, (x + w) * factor, (y + h) * factor
        region = cv2.normalize(255 - out[y0:y1, x0:x1], None, 0, 255, cv2.NORM_MINMAX)
        out[y0:y1, x0:x1] = region
        mid_tone = mid_tone or (region.size >= MID_TONE_AREA * gray.size
                                and np.percentile(region, 25) < MID_TONE_GREY)
    return flatten_background(out, factor=factor) if mid_tone else out


def flatten_background(gray: np.ndarray, *, factor: int = 4, kernel: int = 11) -> np.ndarray:
    """``gray`` (dark text on lighter panels) divided by its local background, so that every
    panel is white whatever its tone: an inverted mid-tone slide (green at grey 93 becomes 162)
    would otherwise stay grey beside a white page, and Tesseract's one global threshold then
    takes the whole panel for ink and loses its text.

    The background is the local maximum over ``kernel`` pixels of a 1/``factor`` thumbnail (text
    strokes thinner than about ``kernel * factor`` pixels vanish from it), scaled back up."""
    import cv2

    small = cv2.resize(gray, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
    background = cv2.dilate(small, np.ones((kernel, kernel), np.uint8))
    background = cv2.resize(background, (gray.shape[1], gray.shape[0]),
                            interpolation=cv2.INTER_LINEAR)
    return cv2.divide(gray, np.maximum(background, 1), scale=255)  # saturates at white


def to_gray(image) -> np.ndarray:
    """An 8-bit grey array from a path, a BGR/BGRA array or a grey array."""
    import cv2

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FatalError(f"image {path} does not exist; extract the frame before reading it.")
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise FatalError(f"image {path} is not a readable picture (PNG, JPEG, …).")
        return gray
    array = np.asarray(image)
    if array.dtype != np.uint8:
        if array.dtype.kind == "f" and array.size and float(array.max()) <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[2] == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2GRAY)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2GRAY)
    if array.ndim == 3 and array.shape[2] == 1:
        return array[:, :, 0]
    raise FatalError(f"cannot read text from an array of shape {array.shape}; pass a BGR or grey image.")


def find_tessdata(lang: str) -> str:
    """The tessdata folder holding ``<lang>.traineddata`` (``TESSDATA_PREFIX`` first)."""
    candidates = [os.environ["TESSDATA_PREFIX"]] if os.environ.get("TESSDATA_PREFIX") else []
    candidates += list(TESSDATA_DIRS)
    for folder in candidates:
        if all((Path(folder) / f"{part}.traineddata").is_file() for part in lang.split("+")):
            return folder
    raise FatalError(
        f"no Tesseract model for language {lang!r}; install it (apt-get install tesseract-ocr-eng) "
        "or point TESSDATA_PREFIX at a folder with the .traineddata file."
    )


_APIS: dict[tuple[str, str, int], object] = {}
_API_LOCK = threading.Lock()  # one Tesseract API object is not thread-safe


def _api(tessdata: str, lang: str, psm: int):
    """The process's Tesseract API for (tessdata, lang, psm), created once."""
    key = (tessdata, lang, psm)
    if key not in _APIS:
        import tesserocr

        api = tesserocr.PyTessBaseAPI(path=tessdata, lang=lang, psm=psm)
        _APIS[key] = api
    return _APIS[key]


class TesseractReader:
    """Reads the text lines of a frame.

    ``min_conf`` drops lines Tesseract is unsure of; frames are scaled so that their width is
    near ``target_width`` (1920: 4K frames are halved, 720p ones enlarged 1.5×, because
    Tesseract reads UI fonts best at about 1080p sizes); boxes are given in the caller's pixels.
    """

    requirement: ClassVar[str] = (
        "the tesserocr package and Tesseract's English model "
        "(pip install tesserocr; apt-get install tesseract-ocr tesseract-ocr-eng)"
    )

    def __init__(
        self,
        lang: str = "eng",
        *,
        psm: int = 11,
        min_conf: float = 60.0,
        target_width: int = 1920,
        max_upscale: float = 2.0,
        min_word_px: int = 8,
    ) -> None:
        self.lang = lang
        self.psm = psm
        self.min_conf = min_conf
        self.target_width = target_width
        self.max_upscale = max_upscale
        self.min_word_px = min_word_px  # words shorter than this (at the working scale) are specks

    @classmethod
    def available(cls) -> bool:
        """Whether tesserocr and an English Tesseract model are installed (nothing is loaded)."""
        if not installed("tesserocr"):
            return False
        try:
            find_tessdata("eng")
        except FatalError:
            return False
        return True

    def scale_for(self, width: int) -> float:
        if width <= 0:
            return 1.0
        return min(self.max_upscale, self.target_width / width)

    def read(self, image) -> list[TextLine]:
        """The text lines of ``image`` (a path, or a numpy BGR/BGRA/grey array), top to bottom."""
        import cv2
        from PIL import Image

        if not installed("tesserocr"):
            raise FatalError(f"on-screen text reading needs {self.requirement}.")
        gray = to_gray(image)
        height, width = gray.shape[:2]
        if height < 8 or width < 8:
            return []
        scale = self.scale_for(width)
        if abs(scale - 1.0) > 0.05:
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation)
        else:
            scale = 1.0
        prepared = invert_dark_regions(gray)
        tessdata = find_tessdata(self.lang)
        with _API_LOCK:
            api = _api(tessdata, self.lang, self.psm)
            api.SetImage(Image.fromarray(prepared))
            api.Recognize()
            tsv = api.GetTSVText(0)
        return self.lines_from_tsv(tsv, scale)

    def lines_from_tsv(self, tsv: str, scale: float = 1.0) -> list[TextLine]:
        """Group Tesseract's TSV word rows into cleaned :class:`TextLine` s."""
        groups: dict[tuple[int, int, int], list[tuple[str, int, int, int, int, float]]] = {}
        for row in tsv.splitlines():
            cols = row.split("\t")
            if len(cols) < 12 or cols[0] != "5":  # level 5 = a word
                continue
            text = cols[11].strip()
            try:
                conf = float(cols[10])
                left, top, w, h = (int(v) for v in cols[6:10])
                key = (int(cols[2]), int(cols[3]), int(cols[4]))
            except ValueError:
                continue
            if not text or conf < 0 or h < self.min_word_px:
                continue
            groups.setdefault(key, []).append((text, left, top, w, h, conf))
        lines: list[TextLine] = []
        for words in groups.values():
            kept = [w for w in words if clean_words([w[0]])]
            if not kept:
                continue
            text = " ".join(clean_words([w[0] for w in kept]))
            conf = statistics.fmean(w[5] for w in kept)
            if not text or is_noise_line(text, conf, self.min_conf):
                continue
            x0 = min(w[1] for w in kept)
            y0 = min(w[2] for w in kept)
            x1 = max(w[1] + w[3] for w in kept)
            y1 = max(w[2] + w[4] for w in kept)
            box = tuple(int(round(v / scale)) for v in (x0, y0, x1 - x0, y1 - y0))
            height = statistics.median(w[4] for w in kept) / scale
            lines.append(TextLine(text=text, box=box, height=float(height), conf=float(conf)))
        return reading_order(lines)


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    """``lines`` top to bottom, and left to right within a row (lines whose vertical centres lie
    within half a line height of the row's first line)."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda line: line.box[1] + line.box[3] / 2):
        centre = line.box[1] + line.box[3] / 2
        if rows:
            first = rows[-1][0]
            if abs(centre - (first.box[1] + first.box[3] / 2)) <= max(first.height, line.height) / 2:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda line: line.box[0])]
