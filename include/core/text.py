"""Counting words the way the word budget does."""

from __future__ import annotations


def word_count(text: str) -> int:
    """Words as the word budget counts them: whitespace-separated tokens."""
    return len(text.split())
