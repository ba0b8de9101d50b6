"""Publishers: deliver the final video and its metadata somewhere and return a receipt.

A provider is a :class:`Publisher` subclass registered in :data:`PUBLISHERS`, built from a
:class:`PublisherConfig`. Providers that need an SDK (e.g. the YouTube Data API client) import it
inside their methods and report from :meth:`Publisher.available` whether it is installed, so
adding one is one class plus one registry line (plus any config field it needs).

Each publisher implements the :class:`include.core.ports.Publisher` port: ``publish`` (a new
delivery), ``update`` (re-set the metadata of an earlier delivery, the file stays) and ``retire``
(remove an earlier delivery). Which one runs is decided by :mod:`include.stages.publish` from the
receipt in the ledger; a publisher saves its receipt there (``<target>.receipt``) the moment the
target confirms the delivery, and YouTube its resumable session (``youtube.session``) before the
first byte and after every chunk.

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
from include.core.keys import receipt_name
from include.core.ports import Ledger, PublishOptions
from include.providers import youtube as youtube_api
from include.providers.cloud import ProviderConfig, installed
from include.providers.registry import available, lookup

_VIDEO_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
log = logging.getLogger(__name__)


def session_name(target: str) -> str:
    """The ledger name of a target's upload session."""
    return f"{target}.session"


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
    """Delivers a finished video (see :class:`include.core.ports.Publisher`)."""

    name: ClassVar[str]
    requirement: ClassVar[str] = ""  # what :meth:`available` checks, for error messages

    def __init__(self, config: PublisherConfig) -> None:
        self.config = config

    @classmethod
    def available(cls) -> bool:
        """Whether the provider's optional dependencies are installed (without importing them)."""
        return True

    @abstractmethod
    def publish(self, final_path: Path, metadata: dict, options: PublishOptions, video_id: str, *,
                ledger: Ledger, sha256: str, thumbnail: Path | None = None,
                captions: Path | None = None, carry: dict | None = None) -> dict:
        """Deliver ``final_path`` with ``metadata`` (and the thumbnail and caption file when
        given) as a new delivery; return a JSON-able receipt, saved to the ledger as soon as the
        target confirms.

        The receipt has ``target``, ``location``, ``files``, ``sha256``, ``published_at``
        (ISO 8601 UTC) and ``privacy``, plus ``carry``'s fields.
        """

    @abstractmethod
    def update(self, prior: dict, metadata: dict, options: PublishOptions, video_id: str, *,
               ledger: Ledger, thumbnail: Path | None = None,
               captions: Path | None = None) -> dict | None:
        """Re-set the metadata (and thumbnail, captions) of the delivery in ``prior``; ``None``
        when it no longer exists."""

    @abstractmethod
    def retire(self, prior: dict) -> str:
        """Remove the delivery in ``prior``; returns what was done (``deleted``, ``gone``)."""


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _check_video_id(video_id: str) -> None:
    if not _VIDEO_ID.match(video_id):
        raise FatalError(
            f"video id {video_id!r} is not valid: use lowercase letters, digits, '-' or '_'."
        )


class OutboxPublisher(Publisher):
    """Copies ``final.mp4``, ``metadata.json`` (and the thumbnail and captions when given) into
    ``<outbox_root>/<tenant>/<video_id>/`` (a ``new_video`` republish: ``<video_id>-<sha8>/``).

    An update rewrites only the side files whose bytes differ; when none does it is a no-op.
    """

    name = "outbox"

    def _folder(self, options: PublishOptions, video_id: str, suffix: str = "") -> Path:
        _check_video_id(video_id)
        return Path(self.config.outbox_root) / options.tenant / (video_id + suffix)

    def publish(self, final_path: Path, metadata: dict, options: PublishOptions, video_id: str, *,
                ledger: Ledger, sha256: str, thumbnail: Path | None = None,
                captions: Path | None = None, carry: dict | None = None) -> dict:
        carry = carry or {}
        suffix = f"-{sha256[:8]}" if carry.get("previous") and options.on_republish == "new_video" else ""
        folder = self._folder(options, video_id, suffix)
        folder.mkdir(parents=True, exist_ok=True)
        copy_file(final_path, folder / "final.mp4")
        files = ["final.mp4"] + self._side_files(folder, metadata, thumbnail, captions)[0]
        receipt = {
            "target": self.name,
            "location": str(folder),
            "files": files,
            "sha256": sha256,
            "published_at": _utc_now(),
            "privacy": options.privacy,
            **carry,
        }
        ledger.put(receipt_name(self.name), receipt)
        return receipt

    def update(self, prior: dict, metadata: dict, options: PublishOptions, video_id: str, *,
               ledger: Ledger, thumbnail: Path | None = None,
               captions: Path | None = None) -> dict | None:
        folder = Path(prior["location"])
        if not (folder / "final.mp4").is_file():
            return None
        files, changed = self._side_files(folder, metadata, thumbnail, captions)
        return {**prior, "files": ["final.mp4"] + files, "privacy": options.privacy,
                "changed": changed}

    def retire(self, prior: dict) -> str:
        folder = Path(prior["location"])
        if not folder.is_dir():
            return "gone"
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
        return "deleted"

    @staticmethod
    def _side_files(folder: Path, metadata: dict, thumbnail: Path | None,
                    captions: Path | None) -> tuple[list[str], list[str]]:
        """Write metadata.json, the thumbnail and captions where their bytes differ; return
        (all side files, the ones written)."""
        import json

        files, changed = ["metadata.json"], []
        wanted = json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"
        target = folder / "metadata.json"
        if not target.is_file() or target.read_text(encoding="utf-8") != wanted:
            write_json(target, metadata)
            changed.append("metadata.json")
        for extra in (thumbnail, captions):
            if extra is None:
                continue
            name = Path(extra).name
            files.append(name)
            target = folder / name
            if not target.is_file() or target.read_bytes() != Path(extra).read_bytes():
                copy_file(extra, target)
                changed.append(name)
        return files, changed


class YouTubePublisher(Publisher):
    """Uploads to the channel of the ``youtube_default`` OAuth user (resumable, chunked).

    Snippet from ``metadata.json`` (title, description, tags, category, language); status from
    the options (privacy, ``publish_at``, made for kids). The receipt adds ``video_id``, ``url``,
    the privacy asked for and the one YouTube set, and any warnings (e.g. a refused thumbnail).
    """

    name = "youtube"
    requirement = "google-api-python-client, google-auth and google-auth-httplib2"

    @classmethod
    def available(cls) -> bool:
        return installed("googleapiclient", "google.oauth2", "google_auth_httplib2", "httplib2")

    def _channel(self) -> youtube_api.Channel:
        return youtube_api.Channel(self.config.youtube)

    @staticmethod
    def _snippet(metadata: dict) -> dict:
        language = metadata.get("language") or "en"
        return {
            "title": metadata["title"],
            "description": metadata.get("description", ""),
            "tags": metadata.get("tags", []),
            "categoryId": str(metadata.get("category_id") or "28"),
            "defaultLanguage": language,
            "defaultAudioLanguage": language,
        }

    @staticmethod
    def _status(options: PublishOptions) -> dict:
        status = {"privacyStatus": options.privacy,
                  "selfDeclaredMadeForKids": bool(options.made_for_kids)}
        if options.publish_at:
            status["publishAt"] = options.publish_at
        return status

    def publish(self, final_path: Path, metadata: dict, options: PublishOptions, video_id: str, *,
                ledger: Ledger, sha256: str, thumbnail: Path | None = None,
                captions: Path | None = None, carry: dict | None = None) -> dict:
        channel = self._channel()
        job = youtube_api.Upload(video=Path(final_path), snippet=self._snippet(metadata),
                                 status=self._status(options), sha256=sha256)
        size = Path(final_path).stat().st_size

        def progress(sent: int, total: int) -> None:
            log.info("YouTube upload of %s: %d of %d bytes", video_id, sent, total)

        session = ledger.get(session_name(self.name))
        saved = {"value": session}

        def save(record: dict) -> None:
            saved["value"] = record
            ledger.put(session_name(self.name), record)

        video = channel.upload(job, session=session, save=save,
                               chunk_bytes=self.config.chunk_bytes, progress=progress)
        # The receipt first: from here on a failure or a retry must not upload again.
        asked = options.privacy
        got = (video.get("status") or {}).get("privacyStatus", asked)
        receipt = {
            "target": self.name,
            "location": youtube_api.WATCH_URL + video["id"],
            "video_id": video["id"],
            "url": youtube_api.WATCH_URL + video["id"],
            "files": ["final.mp4"],
            "sha256": sha256,
            "bytes": size,
            "published_at": _utc_now(),
            "privacy": got,
            "privacy_requested": asked,
            **({"publish_at": options.publish_at} if options.publish_at else {}),
            "warnings": [],
            **(carry or {}),
        }
        ledger.put(receipt_name(self.name), receipt)
        ledger.put(session_name(self.name), {**(saved["value"] or {}), "done": True,
                                             "video_id": video["id"]})
        log.info("YouTube video %s: privacy asked %s, YouTube set %s", video["id"], asked, got)
        warnings = _privacy_warnings(asked, got)
        warnings += self._extras(channel, video["id"], metadata, thumbnail, captions,
                                 existing=False)
        return self._finish(receipt, warnings, thumbnail, captions)

    def update(self, prior: dict, metadata: dict, options: PublishOptions, video_id: str, *,
               ledger: Ledger, thumbnail: Path | None = None,
               captions: Path | None = None) -> dict | None:
        channel = self._channel()
        if channel.video(prior["video_id"]) is None:
            log.warning("YouTube video %s is no longer on the channel", prior["video_id"])
            return None
        video = channel.update(prior["video_id"], self._snippet(metadata), self._status(options))
        asked = options.privacy
        got = (video.get("status") or {}).get("privacyStatus", asked)
        log.info("YouTube video %s updated: privacy asked %s, YouTube set %s", prior["video_id"],
                 asked, got)
        warnings = _privacy_warnings(asked, got)
        warnings += self._extras(channel, prior["video_id"], metadata, thumbnail, captions,
                                 existing=True)
        receipt = {**prior, "privacy": got, "privacy_requested": asked,
                   "updated_at": _utc_now(), "files": ["final.mp4"]}
        receipt.pop("publish_at", None)
        if options.publish_at:
            receipt["publish_at"] = options.publish_at
        return self._finish(receipt, warnings, thumbnail, captions)

    def retire(self, prior: dict) -> str:
        return "deleted" if self._channel().delete(prior["video_id"]) else "gone"

    @staticmethod
    def _extras(channel, video_id: str, metadata: dict, thumbnail: Path | None,
                captions: Path | None, *, existing: bool) -> list[str]:
        warnings = []
        if thumbnail is not None:
            warnings += channel.set_thumbnail(video_id, thumbnail)
        if captions is not None:
            warnings += channel.set_captions(video_id, captions, metadata.get("language") or "en",
                                             existing=existing)
        for warning in warnings:
            log.warning("YouTube video %s: %s", video_id, warning)
        return warnings

    @staticmethod
    def _finish(receipt: dict, warnings: list[str], thumbnail: Path | None,
                captions: Path | None) -> dict:
        files = ["final.mp4"] + [Path(p).name for p in (thumbnail, captions) if p is not None]
        return {**receipt, "files": files, "warnings": warnings}


def _privacy_warnings(asked: str, got: str) -> list[str]:
    if got == asked:
        return []
    return [f"YouTube made the video {got}, not {asked}: uploads from API projects that Google "
            "has not audited are locked to private."]


PUBLISHERS: dict[str, type[Publisher]] = {
    OutboxPublisher.name: OutboxPublisher,
    YouTubePublisher.name: YouTubePublisher,
}

AVAILABLE_PUBLISHERS: dict[str, type[Publisher]] = available(PUBLISHERS)


def get_publisher(name: str, config: PublisherConfig) -> Publisher:
    """The publisher ``name`` built from ``config``; unknown or not installed is a FatalError."""
    return lookup(PUBLISHERS, name, "publisher")(config)
