"""Counting words the way the word budget does."""

from __future__ import annotations

#: what a presenter says that carries nothing ("um", "uh"): never narrated, never a tag
SPOKEN_FILLERS = frozenset({"um", "uh", "erm", "er", "ah", "hmm", "mm", "uhm", "umm"})


def word_count(text: str) -> int:
    """Words as the word budget counts them: whitespace-separated tokens."""
    return len(text.split())
