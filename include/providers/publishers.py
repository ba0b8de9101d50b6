"""Publishers: deliver the final video and its metadata somewhere and return a receipt.

A provider is a :class:`Publisher` subclass registered in :data:`PUBLISHERS`, built from a
:class:`PublisherConfig`. Providers that need an SDK (e.g. the YouTube Data API client) import it
inside :meth:`Publisher.publish` and report from :meth:`Publisher.available` whether it is
installed, so adding one is one class plus one registry line (plus any config field it needs).

``outbox`` copies the files into a local folder; ``youtube`` uploads through the YouTube Data API
(:mod:`include.providers.youtube`).
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

from include.core.errors import FatalError
from include.core.files import copy_file, write_json
from include.providers import youtube as youtube_api
from include.providers.cloud import ProviderConfig, installed
from include.providers.registry import available, lookup
from include.core.options import Settings

_VIDEO_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublisherConfig:
    """Where and how publishers deliver; fields are shared by all providers.

    ``youtube`` holds the ``youtube_default`` connection (its extra has the OAuth client and
    refresh token); ``chunk_bytes`` is the resumable upload's chunk size.
    """

    outbox_root: Path
    youtube: ProviderConfig = field(default_factory=ProviderConfig)
    chunk_bytes: int = youtube_api.CHUNK_BYTES


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
    def publish(self, final_path: Path, metadata: dict, settings: Settings, video_id: str, *,
                thumbnail: Path | None = None, captions: Path | None = None) -> dict:
        """Deliver ``final_path`` with ``metadata`` (and the thumbnail and caption file when
        given); return a JSON-able receipt.

        The receipt has ``target``, ``location``, ``files``, ``published_at`` (ISO 8601 UTC) and
        ``privacy``. Publishing the same video again must replace the earlier delivery.
        """


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class OutboxPublisher(Publisher):
    """Copies ``final.mp4``, ``metadata.json`` (and the thumbnail and captions when given) into
    ``<outbox_root>/<tenant>/<video_id>/``."""

    name = "outbox"

    def publish(self, final_path: Path, metadata: dict, settings: Settings, video_id: str, *,
                thumbnail: Path | None = None, captions: Path | None = None) -> dict:
        if not _VIDEO_ID.match(video_id):
            raise FatalError(
                f"video id {video_id!r} is not valid: use lowercase letters, digits, '-' or '_'."
            )
        folder = Path(self.config.outbox_root) / settings.tenant / video_id
        folder.mkdir(parents=True, exist_ok=True)
        files = ["final.mp4", "metadata.json"]
        _copy_atomic(final_path, folder / "final.mp4")
        write_json(folder / "metadata.json", metadata)
        for extra in (thumbnail, captions):
            if extra is not None:
                _copy_atomic(extra, folder / Path(extra).name)
                files.append(Path(extra).name)
        return {
            "target": self.name,
            "location": str(folder),
            "files": files,
            "published_at": _utc_now(),
            "privacy": settings.privacy,
        }


def _copy_atomic(source: Path, target: Path) -> None:
    copy_file(source, target)


class YouTubePublisher(Publisher):
    """Uploads to the channel of the ``youtube_default`` OAuth user (resumable, chunked).

    Snippet from ``metadata.json`` (title, description, tags, category, language); status from
    the settings (privacy, ``publish_at``, made for kids). The receipt adds ``video_id``, ``url``,
    the privacy asked for and the one YouTube set, and any warnings (e.g. a refused thumbnail).
    """

    name = "youtube"
    requirement = "google-api-python-client, google-auth and google-auth-httplib2"

    @classmethod
    def available(cls) -> bool:
        return installed("googleapiclient", "google.oauth2", "google_auth_httplib2", "httplib2")

    def publish(self, final_path: Path, metadata: dict, settings: Settings, video_id: str, *,
                thumbnail: Path | None = None, captions: Path | None = None) -> dict:
        language = metadata.get("language") or "en"
        status = {"privacyStatus": settings.privacy,
                  "selfDeclaredMadeForKids": bool(settings.made_for_kids)}
        if settings.publish_at:
            status["publishAt"] = settings.publish_at
        job = youtube_api.Upload(
            video=Path(final_path),
            snippet={
                "title": metadata["title"],
                "description": metadata.get("description", ""),
                "tags": metadata.get("tags", []),
                "categoryId": str(metadata.get("category_id") or "28"),
                "defaultLanguage": language,
                "defaultAudioLanguage": language,
            },
            status=status,
            thumbnail=thumbnail,
            captions=captions,
            caption_language=language,
        )
        size = Path(final_path).stat().st_size

        def progress(sent: int, total: int) -> None:
            log.info("YouTube upload of %s: %d of %d bytes", video_id, sent, total)

        done = youtube_api.upload(job, self.config.youtube, chunk_bytes=self.config.chunk_bytes,
                              progress=progress)
        files = ["final.mp4"] + [Path(p).name for p in (thumbnail, captions) if p is not None]
        return {
            "target": self.name,
            "location": done.url,
            "video_id": done.video_id,
            "url": done.url,
            "files": files,
            "bytes": size,
            "published_at": _utc_now(),
            "privacy": done.privacy,
            "privacy_requested": settings.privacy,
            **({"publish_at": settings.publish_at} if settings.publish_at else {}),
            "warnings": done.warnings,
        }


PUBLISHERS: dict[str, type[Publisher]] = {
    OutboxPublisher.name: OutboxPublisher,
    YouTubePublisher.name: YouTubePublisher,
}

AVAILABLE_PUBLISHERS: dict[str, type[Publisher]] = available(PUBLISHERS)


def get_publisher(name: str, config: PublisherConfig) -> Publisher:
    """The publisher ``name`` built from ``config``; unknown or not installed is a FatalError."""
    return lookup(PUBLISHERS, name, "publisher")(config)
