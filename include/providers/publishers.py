"""Publishers: deliver the final video and its metadata somewhere and return a receipt.

A provider is a :class:`Publisher` subclass registered in :data:`PUBLISHERS`, built from a
:class:`PublisherConfig`. Providers that need an SDK (e.g. the YouTube Data API client) import it
inside :meth:`Publisher.publish` and report from :meth:`Publisher.available` whether it is
installed, so adding one is one class plus one registry line (plus any config field it needs).
"""

from __future__ import annotations

import os
import re
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

from include.stages.errors import FatalError
from include.stages.jsonio import write_json_atomic
from include.stages.media import atomic_output
from include.stages.settings import Settings

_VIDEO_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")


@dataclass(frozen=True)
class PublisherConfig:
    """Where and how publishers deliver; fields are shared by all providers."""

    outbox_root: Path


class Publisher(ABC):
    """Delivers a finished video."""

    name: ClassVar[str]
    requirement: ClassVar[str] = ""  # what :meth:`available` checks, for error messages

    def __init__(self, config: PublisherConfig) -> None:
        self.config = config

    @classmethod
    def available(cls) -> bool:
        """Whether the provider's optional dependencies are installed (without importing them)."""
        return True

    @abstractmethod
    def publish(self, final_path: Path, metadata: dict, settings: Settings, video_id: str) -> dict:
        """Deliver ``final_path`` with ``metadata``; return a JSON-able receipt.

        The receipt has ``target``, ``location``, ``files``, ``published_at`` (ISO 8601 UTC) and
        ``privacy``. Publishing the same video again must replace the earlier delivery.
        """


class OutboxPublisher(Publisher):
    """Copies ``final.mp4`` and ``metadata.json`` into ``<outbox_root>/<tenant>/<video_id>/``."""

    name = "outbox"

    def publish(self, final_path: Path, metadata: dict, settings: Settings, video_id: str) -> dict:
        if not _VIDEO_ID.match(video_id):
            raise FatalError(
                f"video id {video_id!r} is not valid: use lowercase letters, digits, '-' or '_'."
            )
        folder = Path(self.config.outbox_root) / settings.tenant / video_id
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / "final.mp4"
        tmp = atomic_output(video)
        shutil.copyfile(final_path, tmp)
        os.replace(tmp, video)
        write_json_atomic(folder / "metadata.json", metadata)
        return {
            "target": self.name,
            "location": str(folder),
            "files": ["final.mp4", "metadata.json"],
            "published_at": datetime.now(timezone.utc)
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z"),
            "privacy": settings.privacy,
        }


PUBLISHERS: dict[str, type[Publisher]] = {
    OutboxPublisher.name: OutboxPublisher,
}

AVAILABLE_PUBLISHERS: dict[str, type[Publisher]] = {
    name: cls for name, cls in PUBLISHERS.items() if cls.available()
}


def get_publisher(name: str, config: PublisherConfig) -> Publisher:
    """The publisher ``name`` built from ``config``; unknown or not installed is a FatalError."""
    cls = PUBLISHERS.get(name)
    if cls is None:
        raise FatalError(
            f"unknown publisher {name!r}; choose one of: {', '.join(sorted(PUBLISHERS))}."
        )
    if not cls.available():
        raise FatalError(
            f"publisher {name!r} is not available on this worker: it needs {cls.requirement}."
        )
    return cls(config)
