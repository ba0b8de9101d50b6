"""The one lookup every provider registry (script writers, TTS, publishers) shares."""

from __future__ import annotations

from typing import TypeVar

from include.core.errors import FatalError

P = TypeVar("P")


def available(registry: dict[str, type[P]]) -> dict[str, type[P]]:
    """The registered providers whose optional dependencies import on this worker."""
    return {name: cls for name, cls in registry.items() if cls.available()}


def lookup(registry: dict[str, type[P]], name: str, kind: str) -> type[P]:
    """The class registered as ``name``; unknown or not installed is a FatalError."""
    cls = registry.get(name)
    if cls is None:
        raise FatalError(f"unknown {kind} {name!r}; choose one of: {', '.join(registry)}.")
    if not cls.available():
        raise FatalError(
            f"{kind} {name!r} is not available on this worker: it needs {cls.requirement}."
        )
    return cls
