"""Text as a voice should say it (include/core/spoken.py)."""

from __future__ import annotations

import pytest

from include.core.spoken import say_number, say_ordinal, say_year, speakable


@pytest.mark.parametrize("written, said", [
    ("Revenue this month is $48,210, with 17 open invoices and 3 overdue.",
     "Revenue this month is forty eight thousand two hundred ten dollars, with seventeen open "
     "invoices and three overdue."),
    ("$1,850.50", "one thousand eight hundred fifty dollars and fifty cents"),
    ("$1.00 or $0.99", "one dollar or ninety nine cents"),
    ("$1.2M raised", "one point two million dollars raised"),
    ("£5 or €2.5bn", "five pounds or two point five billion euros"),
    ("up 3 % since v2.1", "up three percent since version two point one"),
    ("+12.4% vs May", "plus twelve point four percent versus May"),
    ("-3% drop", "minus three percent drop"),
    ("5-7 days", "five to seven days"),
    ("the 1st, 2nd and 21st", "the first, second and twenty first"),
    ("e.g. 50k users", "for example fifty thousand users"),
    ("Due Jul 15, 2026.", "Due July fifteenth, twenty twenty six."),
    ("In 2019 we had 2019 users.", "In twenty nineteen we had two thousand nineteen users."),
    ("Q3 2026", "Q three twenty twenty six"),
    ("#12 & #13", "number twelve and number thirteen"),
    ("Cycle time is 3.2 days.", "Cycle time is three point two days."),
    ("Amount 2,450.00", "Amount two thousand four hundred fifty"),
])
def test_numbers_and_symbols_are_said_in_words(written, said):
    assert speakable(written) == said


@pytest.mark.parametrize("text", [
    "Invoice INV-1042 and ticket ORB-407", "at 10:30 today", "Open the Reports page.",
    "May was our best month yet.", "Revenue by month: Jan Feb Mar",
])
def test_identifiers_times_and_words_stay_as_written(text):
    assert speakable(text) == text


def test_said_text_says_the_same_again():
    text = "Revenue is $48,210, up 3 % since v2.1, 5-7 days, e.g. 50k users on Jul 15, 2026."
    assert speakable(speakable(text)) == speakable(text)


def test_number_helpers():
    assert say_number("1000000") == "one million"
    assert say_number("3.05") == "three point zero five"
    assert say_ordinal(12) == "twelfth" and say_ordinal(40) == "fortieth"
    assert say_year(2000) == "two thousand" and say_year(1905) == "nineteen oh five"
    assert say_year(1900) == "nineteen hundred" and say_year(2026) == "twenty twenty six"
