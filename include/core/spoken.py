"""Text as a voice should say it: numbers, money, percentages, versions and abbreviations in words.

A synthesiser reading "$48,210" says "dollar forty-eight thousand…", "v2.1" "vee two point one",
"5-7 days" "five dash seven days", "vs" "vee ess". :func:`speakable` rewrites such tokens before
synthesis (the script, the captions and the alignment keep the written form):

- money ``$48,210`` → "forty eight thousand two hundred ten dollars", ``$1,850.50`` → "… dollars
  and fifty cents", ``$1.2M`` → "one point two million dollars" (``$ € £``);
- percentages ``3 %`` / ``+12.4%`` → "three percent" / "plus twelve point four percent";
- versions ``v2.1`` → "version two point one"; ranges ``5-7`` → "five to seven";
- ordinals ``15th`` → "fifteenth"; counts with a suffix ``50k`` → "fifty thousand";
- dates ``Jul 15, 2026`` → "July fifteenth, twenty twenty six" (a year is read as a year after a
  month, a quarter or "in/since/by/until/from/of");
- ``#12`` → "number twelve", ``&`` → "and", ``vs`` → "versus", ``e.g.`` → "for example",
  ``i.e.`` → "that is", ``etc.`` → "and so on";
- any other number in words (``2,450.00`` → "two thousand four hundred fifty", ``3.2`` → "three
  point two"); identifiers stay as written (``INV-1042``, ``ORB-407``, ``10:30``).
"""

from __future__ import annotations

import re

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
               "£": ("pound", "pounds", "penny", "pence")}
_SCALES = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "mn": "million",
           "b": "billion", "B": "billion", "bn": "billion", "thousand": "thousand",
           "million": "million", "billion": "billion"}
_MONTHS = {"jan": "January", "feb": "February", "mar": "March", "apr": "April", "jun": "June",
           "jul": "July", "aug": "August", "sep": "September", "sept": "September",
           "oct": "October", "nov": "November", "dec": "December"}
_MONTH_NAMES = ("january|february|march|april|may|june|july|august|september|october|november|"
                "december")

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_NOT_IN_WORD = r"(?<![\w.,\-/:#])"  # a number that is not the tail of an identifier or a time
_NOT_BEFORE = r"(?![\w\-/:]|[.,]\d)"


def number_words(n: int) -> list[str]:
    """``n`` (0 ≤ n < 10^12) spelt out in English words, without "and"."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            return number_words(n // size) + [name] + (number_words(n % size) if n % size else [])
    return [str(n)]


def say_number(written: str) -> str:
    """``"48,210"`` → "forty eight thousand two hundred ten", ``"3.25"`` → "three point two five",
    ``"2,450.00"`` → "two thousand four hundred fifty" (a fraction of zeros is not said)."""
    whole, _, fraction = written.replace(",", "").partition(".")
    if len(whole) > 12:
        return " ".join(_ONES[int(d)] for d in whole)
    words = number_words(int(whole or "0"))
    if fraction.strip("0"):
        words += ["point"] + [_ONES[int(d)] for d in fraction]
    return " ".join(words)


def say_ordinal(n: int) -> str:
    """``15`` → "fifteenth", ``21`` → "twenty first"."""
    words = number_words(n)
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def say_year(year: int) -> str:
    """``2026`` → "twenty twenty six", ``2000`` → "two thousand", ``1999`` → "nineteen ninety
    nine", ``2005`` → "two thousand five"."""
    if 2000 <= year <= 2009:
        return " ".join(number_words(year))
    high, low = divmod(year, 100)
    if low == 0:
        return " ".join(number_words(high) + ["hundred"])
    tail = number_words(low) if low >= 10 else ["oh", _ONES[low]]
    return " ".join(number_words(high) + tail)


def _money(match: re.Match) -> str:
    symbol, amount, scale = match["cur"], match["amount"], match["scale"]
    one, many, sub_one, sub_many = _CURRENCIES[symbol]
    if scale:
        return f"{say_number(amount)} {_SCALES[scale]} {many}"
    whole, _, cents = amount.replace(",", "").partition(".")
    unit = one if whole == "1" else many
    said = f"{say_number(whole)} {unit}"
    if cents.strip("0") and len(cents) == 2:
        value = int(cents)
        small = f"{' '.join(number_words(value))} {sub_one if value == 1 else sub_many}"
        said = small if whole.strip("0") == "" else f"{said} and {small}"
    elif cents.strip("0"):
        said = f"{say_number(amount)} {many}"
    return said


def _percent(match: re.Match) -> str:
    sign = {"+": "plus ", "-": "minus ", "−": "minus "}.get(match["sign"] or "", "")
    return f"{sign}{say_number(match['n'])} percent"


def _date(match: re.Match) -> str:
    month = _MONTHS.get(match["month"].lower().rstrip("."), match["month"])
    said = month
    if match["day"]:
        said += " " + say_ordinal(int(match["day"]))
    if match["year"]:
        said += (match["sep"] or " ") + say_year(int(match["year"]))
    return said


_RULES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"(?i)\be\.g\.(?=\s|$)"), "for example"),
    (re.compile(r"(?i)\bi\.e\.(?=\s|$)"), "that is"),
    (re.compile(r"(?i)\betc\.(?=\s|$)"), "and so on"),
    (re.compile(r"(?i)\bvs\b\.?"), "versus"),
    (re.compile(r"\s&\s"), " and "),
    (re.compile(rf"(?P<cur>[$€£])\s?(?P<amount>{_NUMBER})"
                r"(?:\s?(?P<scale>thousand|million|billion|bn|mn|[kKmMbB])(?![\w]))?"),
     _money),
    (re.compile(rf"(?<![\w.,])(?P<sign>[+\-−])?(?P<n>{_NUMBER})\s?%"), _percent),
    (re.compile(r"(?i)\b(?P<month>jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.?"
                r"(?:\s(?P<day>[0-3]?\d)(?:st|nd|rd|th)?)?(?:(?P<sep>,?\s)(?P<year>(?:19|20)\d\d))?"
                r"(?=\W|$)(?<=\d)"),
     _date),
    (re.compile(rf"(?i)\b(?P<pre>{_MONTH_NAMES}|q[1-4]|in|since|by|until|from|of)"
                r"(?P<gap>,?\s)(?P<year>(?:19|20)\d\d)\b(?![\d,.]\d)"),
     lambda m: f"{m['pre']}{m['gap']}{say_year(int(m['year']))}"),
    (re.compile(r"\bQ(?P<q>[1-4])\b"), lambda m: f"Q {_ONES[int(m['q'])]}"),
    (re.compile(r"(?i)\bv(?P<v>\d+(?:\.\d+)*)\b"),
     lambda m: "version " + " point ".join(say_number(p) for p in m["v"].split("."))),
    (re.compile(r"#(?P<n>\d+)\b"), lambda m: f"number {say_number(m['n'])}"),
    (re.compile(rf"{_NOT_IN_WORD}(?P<a>{_NUMBER})\s?[-–]\s?(?P<b>{_NUMBER}){_NOT_BEFORE}"),
     lambda m: f"{say_number(m['a'])} to {say_number(m['b'])}"),
    (re.compile(r"(?i)(?<![\w.,\-])(?P<n>\d+)(?:st|nd|rd|th)\b"),
     lambda m: say_ordinal(int(m["n"]))),
    (re.compile(rf"{_NOT_IN_WORD}(?P<n>{_NUMBER})(?P<scale>bn|mn|[kKmMbB])\b"),
     lambda m: f"{say_number(m['n'])} {_SCALES[m['scale']]}"),
    (re.compile(rf"{_NOT_IN_WORD}(?P<sign>[+\-−](?=\d))?(?P<n>{_NUMBER}){_NOT_BEFORE}"),
     lambda m: {"+": "plus ", "-": "minus ", "−": "minus "}.get(m["sign"] or "", "")
     + say_number(m["n"])),
]


def speakable(text: str) -> str:
    """``text`` with its numbers, amounts, percentages, versions, dates and common abbreviations
    written as they are said (see the module doc); words and identifiers are left alone."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def written_words(text: str, spoken: list[dict]) -> list[dict] | None:
    """Timings for the whitespace words of ``text`` from those of ``speakable(text)``'s words
    (``spoken``, in order: ``[{"word", "start", "end"}]``); ``None`` if the counts differ.

    A written word takes the span of the words it is said as ("$1,200" → "one thousand two
    hundred dollars"): the number said up to each written word is that of the spoken prefix."""
    tokens = text.split()
    bounds = [0]
    if " ".join(tokens) == speakable(text):
        bounds = list(range(len(tokens) + 1))
    else:
        for k in range(1, len(tokens) + 1):
            bounds.append(max(bounds[-1], len(speakable(" ".join(tokens[:k])).split())))
    if bounds[-1] != len(spoken):
        return None
    words = []
    for k, token in enumerate(tokens):
        said = spoken[bounds[k]:bounds[k + 1]]
        if said:
            start, end = said[0]["start"], said[-1]["end"]
        else:  # said together with the words before it: no time of its own
            start = end = words[-1]["end"] if words else spoken[0]["start"] if spoken else 0.0
        words.append({"word": token, "start": start, "end": end})
    return words
