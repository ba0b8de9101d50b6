"""Key phrases for a video's tags: from on-screen text, the transcript and the title.

A small, dependency-free extractor (YAKE, the usual library, is AGPL-3.0: not for this project):

1. Candidates: each text is cut at punctuation, stop-words and filler ("um", "closely",
   "layout", "view", …) into runs of content words; every run of 1–3 consecutive words is a
   candidate (RAKE-style), so "Google Calendar" and "velocity report" come out whole.
2. Score: per text a candidate counts ``1 + log(occurrences)`` (a table repeating "Priya" eight
   times is not eight times as important), summed over texts; a candidate found in more than
   one text (on screen *and* spoken) is boosted, as are multi-word phrases and proper-noun
   casing ("GitHub", "Slack"); pure numbers and identifiers (86, ORB-407) are never tags.
3. Pick: best first, skipping a candidate that is part of (or contains) one already picked, so
   "Google Calendar" does not also yield "Calendar".
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Iterable

STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't
    doing don't down during each few for from further had hadn't has hasn't have haven't having he
    he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if
    in into is isn't it it's its itself let's me more most mustn't my myself no nor not of off on
    once only or other ought our ours ourselves out over own same shan't she she'd she'll she's
    should shouldn't so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those through to too under until up
    very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's
    which while who who's whom why why's will with won't would wouldn't you you'd you'll you're
    you've your yours yourself yourselves also just one two three four five six seven eight nine
    ten us via per etc zero eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen
    nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million
    billion half""".split()
)

#: spoken filler and words too generic to tag a video with
FILLER = frozenset(
    """um uh umm uhh er erm ah hmm mm okay ok yeah yes yep well like actually basically really
    literally totally simply right so anyway alright closely layout view views finish finished
    thing things stuff lot lots kind sort bit way go going gonna get gets got see look looking
    looks show shows showing shown click clicks clicked let now today first next last finally then
    here there new need want make makes made use using used take takes want wants put
    something anything everything nothing someone everyone please thanks thank welcome hello hi
    video screen page button tab menu section part step steps start minute second
    seconds quick quickly little much many every another same different good great nice able""".split()
)

#: interface words every app shows: never a tag on their own (phrases with them still can be)
UI_WORDS = frozenset(
    """connected disconnected done open closed active inactive pending enabled disabled status
    owner type key name date estimate total details edit delete save cancel archive export import
    filter search settings options help home dashboard board overview report reports progress
    story bug bugs task tasks item items points point days hours list table column row value
    yes no on off add remove create update submit back more less all none completed complete
    move moved connect time times""".split()
)

#: states shown next to things ("Google Calendar — Connected") and UI verbs: no phrase starts or
#: ends with one
STATUS_WORDS = frozenset(
    """connected disconnected done open closed active inactive pending enabled disabled completed
    complete failed passed new""".split()
) | frozenset(
    """connect move filter export import add remove create update close click select drag drop set
    turn enable disable save delete edit archive invite share assign""".split()
)

_TOKEN = re.compile(r"[^\W_]+(?:[-'’.&+][^\W_]+)*", re.UNICODE)
_BREAK = re.compile(r"[.,;:!?()\[\]{}\"“”|/•·–—]+|\s-\s|\n")


def _is_content(word: str, exclude: set[str]) -> bool:
    lower = word.lower().replace("’", "'")
    if lower in STOPWORDS or lower in FILLER or lower in exclude:
        return False
    if len(lower) < 2:
        return False
    return any(ch.isalpha() for ch in lower)


def _is_identifier(phrase: list[str]) -> bool:
    """Numbers and codes are not tags: '86', '3.2', 'ORB-407', 'v1.2'."""
    return all(any(ch.isdigit() for ch in w) for w in phrase)


def candidates(text: str, exclude: set[str], max_words: int = 3) -> list[list[str]]:
    """Every run of 1–``max_words`` consecutive content words of ``text`` (surface forms)."""
    out: list[list[str]] = []
    for chunk in _BREAK.split(text):
        run: list[str] = []
        for token in _TOKEN.findall(chunk) + [""]:
            if token and _is_content(token, exclude):
                run.append(token)
                continue
            for size in range(1, max_words + 1):
                for i in range(len(run) - size + 1):
                    phrase = run[i:i + size]
                    if _is_identifier(phrase) or any(ch.isdigit() for ch in phrase[0]):
                        continue
                    if size > 1 and (phrase[0].lower() in STATUS_WORDS
                                     or phrase[-1].lower() in STATUS_WORDS):
                        continue
                    out.append(phrase)
            run = []
    return out


def _casing_bonus(forms: Counter) -> float:
    """Proper nouns keep their capitals mid-sentence; 'GitHub' is a better tag than 'page'."""
    best = forms.most_common(1)[0][0]
    words = best.split()
    if any(any(c.isupper() for c in w[1:]) for w in words):  # GitHub, ORBit-style
        return 1.4
    if all(w[:1].isupper() for w in words):
        return 1.25
    return 1.0


def keyphrases(
    texts: Iterable[str],
    *,
    top: int = 12,
    exclude: set[str] = frozenset(),
    max_words: int = 3,
) -> list[str]:
    """The ``top`` key phrases of ``texts`` (OCR text, transcript, title…), best first.

    Never a stop-word, filler word or anything in ``exclude`` (compared lower-case: a word
    excludes every phrase containing it, a phrase excludes itself and its words on their own);
    phrases are returned in their most frequent casing.
    """
    excluded = {e.lower() for e in exclude}
    # the words of an excluded phrase are no tags either ("Google" once "Google Calendar" is out)
    excluded_parts = {w for e in excluded if " " in e for w in e.split()}
    score: dict[str, float] = defaultdict(float)
    seen_in: dict[str, int] = defaultdict(int)
    forms: dict[str, Counter] = defaultdict(Counter)
    unique_texts = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
    for text in unique_texts:
        counts: Counter = Counter()
        for phrase in candidates(text, {e for e in excluded if " " not in e}, max_words):
            key = " ".join(w.lower() for w in phrase)
            if key in excluded or (len(phrase) == 1 and key in excluded_parts):
                continue
            counts[key] += 1
            forms[key][" ".join(phrase)] += 1
        for key, n in counts.items():
            score[key] += 1.0 + math.log(n)
            seen_in[key] += 1
    ranked: list[tuple[float, str]] = []
    for key, value in score.items():
        words = key.split()
        value *= 1.0 + 0.6 * (seen_in[key] - 1)  # on screen and spoken, or in title and text
        value *= {1: 1.0, 2: 1.6, 3: 1.5}.get(len(words), 1.4)
        value *= _casing_bonus(forms[key])
        if len(words) == 1 and key in UI_WORDS:
            continue
        if len(words) == 1 and len(key) <= 3 and not key.isupper():
            value *= 0.6  # short words are rarely tags on their own
        ranked.append((value, key))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    picked: list[str] = []
    value_of = {key: value for value, key in ranked}
    for value, key in ranked:
        if len(picked) >= top:
            break
        padded = f" {key} "
        inside = [p for p in picked if f" {p} " in padded]  # key is a longer form of a pick
        if any(padded in f" {p} " for p in picked):
            continue  # part of a phrase already picked
        if len(words := key.split()) > 1 and any(
            set(words) & set(p.split()) and f" {p} " not in padded for p in picked if " " in p
        ):
            continue  # overlaps a picked phrase ("connect Google" after "Google Calendar")
        if inside:
            if value >= 0.6 * max(value_of[p] for p in inside):
                picked = [p for p in picked if p not in inside] + [key]
            continue
        picked.append(key)
    return [forms[key].most_common(1)[0][0] for key in picked]
