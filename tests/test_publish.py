"""publish stage and publishers: the outbox delivery, receipts, idempotent republishing."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from include.core.errors import FatalError
from include.providers import publishers
from include.providers.publishers import PublisherConfig, get_publisher
from include.stages import publish
from include.core.options import Settings

VIDEO_ID = "acme-3f2a0b1c4d5e6f70"
METADATA = {
    "title": "Acme tour",
    "description": "A tour.",
    "tags": ["acme"],
    "category_id": "28",
    "language": "en",
    "privacy": "unlisted",
    "chapters": [],
}


@pytest.fixture
def inputs(tmp_path):
    final = tmp_path / "final.mp4"
    final.write_bytes(b"\x00\x00\x00\x18ftypmp42 first render")
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(METADATA))
    return final, meta


def test_outbox_publisher_copies_files_and_returns_a_receipt(tmp_path, inputs):
    final, _ = inputs
    settings = Settings(tenant="acme", privacy="unlisted")
    publisher = get_publisher("outbox", PublisherConfig(outbox_root=tmp_path / "outbox"))
    receipt = publisher.publish(final, METADATA, settings, VIDEO_ID)

    folder = tmp_path / "outbox" / "acme" / VIDEO_ID
    assert receipt["target"] == "outbox" and receipt["location"] == str(folder)
    assert receipt["files"] == ["final.mp4", "metadata.json"] and receipt["privacy"] == "unlisted"
    assert sorted(p.name for p in folder.iterdir()) == receipt["files"]
    assert (folder / "final.mp4").read_bytes() == final.read_bytes()
    assert json.loads((folder / "metadata.json").read_text()) == METADATA
    published = datetime.fromisoformat(receipt["published_at"].replace("Z", "+00:00"))
    assert receipt["published_at"].endswith("Z")
    assert abs((datetime.now(timezone.utc) - published).total_seconds()) < 60
    assert "outbox" in publishers.AVAILABLE_PUBLISHERS


def test_publish_run_writes_receipt_and_republishes_idempotently(tmp_path, inputs):
    final, meta = inputs
    settings = Settings(tenant="acme")
    outbox = tmp_path / "outbox"
    first = publish.run(
        final, meta, settings, tmp_path / "out1", video_id=VIDEO_ID, outbox_root=outbox
    )
    assert json.loads((tmp_path / "out1" / "receipt.json").read_text()) == first
    assert first["privacy"] == "private"

    final.write_bytes(b"\x00\x00\x00\x18ftypmp42 second render")
    second = publish.run(
        final, meta, settings, tmp_path / "out2", video_id=VIDEO_ID, outbox_root=outbox
    )
    folder = outbox / "acme" / VIDEO_ID
    assert second["location"] == first["location"]
    assert sorted(p.name for p in folder.iterdir()) == ["final.mp4", "metadata.json"], (
        "no temp files left"
    )
    assert (folder / "final.mp4").read_bytes().endswith(b"second render")


@pytest.mark.parametrize("video_id", ["../escape", "acme/x", "", ".hidden", "Acme-UPPER"])
def test_unsafe_video_id_is_fatal(tmp_path, inputs, video_id):
    final, meta = inputs
    with pytest.raises(FatalError, match="video id"):
        publish.run(
            final,
            meta,
            Settings(),
            tmp_path / "out",
            video_id=video_id,
            outbox_root=tmp_path / "outbox",
        )
    assert not (tmp_path / "outbox").exists()


def test_missing_inputs_are_fatal(tmp_path, inputs):
    final, meta = inputs
    kwargs = {"video_id": VIDEO_ID, "outbox_root": tmp_path / "outbox"}
    with pytest.raises(FatalError, match=r"final video nope\.mp4 is missing"):
        publish.run(tmp_path / "nope.mp4", meta, Settings(), tmp_path / "out", **kwargs)
    with pytest.raises(FatalError, match=r"metadata\.json is missing"):
        publish.run(final, tmp_path / "none.json", Settings(), tmp_path / "out", **kwargs)


def test_unknown_or_unavailable_publisher_is_fatal(tmp_path, monkeypatch):
    config = PublisherConfig(outbox_root=tmp_path)
    with pytest.raises(FatalError, match=r"unknown publisher 'tiktok'; choose one of: outbox"):
        get_publisher("tiktok", config)

    class NeedsSdk(publishers.OutboxPublisher):
        requirement = "the google-api-python-client package"

        @classmethod
        def available(cls):
            return False

    monkeypatch.setitem(publishers.PUBLISHERS, "youtube", NeedsSdk)
    with pytest.raises(FatalError, match="needs the google-api-python-client package"):
        get_publisher("youtube", config)
