"""Key phrases of a video's text (on-screen labels, the presenter's words, the title): RAKE.

Rapid Automatic Keyword Extraction (Rose et al., 2010): candidate phrases are the runs of words
between stop-words and punctuation; a word scores its degree (how many words it shares phrases
with) over its frequency, a phrase the sum of its words. Short UI labels ("Velocity report",
"Google Calendar") come out whole; stop-words, fillers and bare numbers never do.
"""

from __future__ import annotations

import re
from collections import defaultdict

STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just let lets
    me more most my no nor not now of off on once only or other our out over own same she should
    so some such than that the their them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you your
    yours um uh erm er ah hmm okay ok well yes yeah like really just get got go going gonna want
    shows show see look looks click clicks finally first next last here's there's it's we're
    we'll you'll let's""".split()
)
_SPLIT = re.compile(r"[.,;:!?()\[\]{}\"“”|/\\–—]+|\s-\s")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
MAX_WORDS = 3


def keyphrases(texts: list[str], *, top: int = 12, exclude: frozenset[str] | set[str] = frozenset()
               ) -> list[str]:
    """The ``top`` key phrases of ``texts``, best first, lower-case, each at most three words."""
    stop = STOPWORDS | {w.lower() for w in exclude}
    phrases: list[tuple[str, ...]] = []
    for text in texts:
        for chunk in _SPLIT.split(str(text)):
            run: list[str] = []
            for word in _WORD.findall(chunk):
                low = word.lower().replace("’", "'")
                if low in stop or low.isdigit() or len(low) < 2:
                    if run:
                        phrases.append(tuple(run))
                    run = []
                else:
                    run.append(low)
            if run:
                phrases.append(tuple(run))
    phrases = [p for p in phrases if len(p) <= MAX_WORDS]
    frequency: dict[str, int] = defaultdict(int)
    degree: dict[str, int] = defaultdict(int)
    for phrase in phrases:
        for word in phrase:
            frequency[word] += 1
            degree[word] += len(phrase)
    scores: dict[tuple[str, ...], float] = {}
    for phrase in phrases:
        score = sum(degree[w] / frequency[w] for w in phrase)
        scores[phrase] = max(scores.get(phrase, 0.0), score) + 0.5 * (phrase in scores)
    ranked = sorted(scores, key=lambda p: (-scores[p], phrases.index(p)))
    out: list[str] = []
    for phrase in ranked:
        text = " ".join(phrase)
        if text not in out:
            out.append(text)
        if len(out) == top:
            break
    return out
