"""publish stage: hand the final video and its metadata to the configured publisher.

The publisher (:mod:`include.providers.publishers`) is ``settings.publish_target``; its receipt
is written to ``receipt.json`` and returned. Publishing again replaces the earlier delivery.
"""

from __future__ import annotations

from pathlib import Path

from include.core.errors import FatalError
from include.core.files import read_json, write_json
from include.providers.cloud import ProviderConfig
from include.providers.publishers import PublisherConfig, get_publisher
from include.core.options import Settings


def run(
    final_path: Path,
    metadata_path: Path,
    settings: Settings,
    out_dir: Path,
    *,
    video_id: str,
    outbox_root: Path,
    youtube: ProviderConfig | None = None,
    thumbnail_path: Path | None = None,
    captions_path: Path | None = None,
) -> dict:
    """Publish ``final_path`` with the metadata at ``metadata_path``; write, return the receipt.

    ``youtube`` is the ``youtube_default`` connection for the youtube target; the thumbnail and
    caption file go along when given.
    """
    final_path = Path(final_path)
    if not final_path.is_file() or final_path.stat().st_size == 0:
        raise FatalError(
            f"the final video {final_path.name} is missing or empty; re-run the render stage."
        )
    metadata = read_json(metadata_path, "metadata.json")
    publisher = get_publisher(
        settings.publish_target,
        PublisherConfig(outbox_root=Path(outbox_root), youtube=youtube or ProviderConfig()),
    )
    receipt = publisher.publish(final_path, metadata, settings, video_id,
                                thumbnail=thumbnail_path, captions=captions_path)
    write_json(Path(out_dir) / "receipt.json", receipt)
    return receipt
