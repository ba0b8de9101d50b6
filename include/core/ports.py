"""Ports: the small interfaces the Airflow layer hands to pure stages.

Each section belongs to one stage; keep them small (a Protocol is what a stage calls, no more).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from include.core.errors import FatalError

# ---- publishing (include/stages/publish.py; built in include/pipeline.py)

# What a publish does when the target already has this video but final.mp4 changed:
# update_metadata (default, safe): keep the delivered file, update title/description/tags/
# status, thumbnail and captions; replace: deliver the new file, then delete the old delivery;
# new_video: deliver the new file as a new video and leave the old one alone.
ON_REPUBLISH = ("update_metadata", "replace", "new_video")


@dataclass(frozen=True)
class PublishOptions:
    """The run's choices a publisher uses, and nothing else of the run's settings."""

    tenant: str = "default"
    privacy: str = "private"
    publish_at: str = ""  # ISO 8601; YouTube makes the private video public then
    made_for_kids: bool = False
    on_republish: str = "update_metadata"

    def __post_init__(self) -> None:
        if self.on_republish not in ON_REPUBLISH:
            raise FatalError(
                f"on_republish {self.on_republish!r} is not one of: {', '.join(ON_REPUBLISH)}."
            )


class Ledger(Protocol):
    """Small JSON documents that outlive a task try (upload sessions, receipts).

    ``put`` must be atomic: a reader sees the old document or the new one, never half of one.
    """

    def get(self, name: str) -> dict | None: ...

    def put(self, name: str, value: dict) -> None: ...


class Publisher(Protocol):
    """Delivers a finished video to one target (``name``) and returns JSON-able receipts."""

    name: str

    def publish(self, final_path: Path, metadata: dict, options: PublishOptions, video_id: str, *,
                ledger: Ledger, sha256: str, thumbnail: Path | None = None,
                captions: Path | None = None, carry: dict | None = None) -> dict:
        """Deliver the file as a new delivery; persist its receipt through ``ledger`` as soon as
        the target confirms (with ``carry``'s fields in it)."""
        ...

    def update(self, prior: dict, metadata: dict, options: PublishOptions, video_id: str, *,
               ledger: Ledger, thumbnail: Path | None = None,
               captions: Path | None = None) -> dict | None:
        """Re-set metadata, thumbnail and captions of the delivery ``prior`` describes, without
        delivering the file again; ``None`` when that delivery no longer exists."""
        ...

    def retire(self, prior: dict) -> str:
        """Remove the delivery ``prior`` describes (after a ``replace``); say what was done."""
        ...
