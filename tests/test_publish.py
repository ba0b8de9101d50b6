"""publish stage and publishers: the outbox delivery, receipts, publishing exactly once."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from include.core.errors import FatalError
from include.core.ports import PublishOptions
from include.pipeline import StoreLedger
from include.providers import publishers
from include.providers.publishers import PublisherConfig, get_publisher
from include.stages import publish
from include.storage import ArtifactStore

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


@pytest.fixture
def ledger(tmp_path):
    return StoreLedger(ArtifactStore(f"file://{tmp_path / 'store'}"), "acme", VIDEO_ID)


def outbox(tmp_path):
    return get_publisher("outbox", PublisherConfig(outbox_root=tmp_path / "outbox"))


def run(tmp_path, inputs, ledger, out="out", video_id=VIDEO_ID, **options):
    final, meta = inputs
    return publish.run(final, meta, tmp_path / out, publisher=outbox(tmp_path), ledger=ledger,
                       options=PublishOptions(tenant="acme", **options), video_id=video_id)


def test_outbox_publisher_copies_files_and_returns_a_receipt(tmp_path, inputs, ledger):
    final, _ = inputs
    options = PublishOptions(tenant="acme", privacy="unlisted")
    receipt = outbox(tmp_path).publish(final, METADATA, options, VIDEO_ID, ledger=ledger,
                                       sha256="ab" * 32)

    folder = tmp_path / "outbox" / "acme" / VIDEO_ID
    assert receipt["target"] == "outbox" and receipt["location"] == str(folder)
    assert receipt["files"] == ["final.mp4", "metadata.json"] and receipt["privacy"] == "unlisted"
    assert sorted(p.name for p in folder.iterdir()) == receipt["files"]
    assert (folder / "final.mp4").read_bytes() == final.read_bytes()
    assert json.loads((folder / "metadata.json").read_text()) == METADATA
    published = datetime.fromisoformat(receipt["published_at"].replace("Z", "+00:00"))
    assert receipt["published_at"].endswith("Z")
    assert abs((datetime.now(timezone.utc) - published).total_seconds()) < 60
    assert ledger.get("outbox.receipt") == receipt  # saved by the publisher itself
    assert "outbox" in publishers.AVAILABLE_PUBLISHERS


def test_second_publish_of_the_same_file_is_a_noop_and_says_so(tmp_path, inputs, ledger):
    first = run(tmp_path, inputs, ledger, out="out1")
    assert json.loads((tmp_path / "out1" / "receipt.json").read_text()) == first
    assert first["action"] == "uploaded" and first["privacy"] == "private"
    folder = tmp_path / "outbox" / "acme" / VIDEO_ID
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    second = run(tmp_path, inputs, ledger, out="out2")
    assert second["action"] == "unchanged" and "nothing was sent" in second["note"]
    assert second["location"] == first["location"] and second["sha256"] == first["sha256"]
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps  # nothing written
    assert ledger.get("outbox.receipt") == second


def test_same_file_with_new_metadata_rewrites_only_the_metadata(tmp_path, inputs, ledger):
    final, meta = inputs
    run(tmp_path, inputs, ledger, out="out1")
    folder = tmp_path / "outbox" / "acme" / VIDEO_ID
    before = (folder / "final.mp4").stat().st_mtime_ns
    meta.write_text(json.dumps({**METADATA, "title": "Acme tour, revised"}))
    receipt = run(tmp_path, inputs, ledger, out="out2")
    assert receipt["action"] == "updated" and "not uploaded again" in receipt["note"]
    assert json.loads((folder / "metadata.json").read_text())["title"] == "Acme tour, revised"
    assert (folder / "final.mp4").stat().st_mtime_ns == before


@pytest.mark.parametrize("policy", ["update_metadata", "replace", "new_video"])
def test_new_final_follows_on_republish(policy, tmp_path, inputs, ledger):
    final, meta = inputs
    first = run(tmp_path, inputs, ledger, out="out1")
    final.write_bytes(b"\x00\x00\x00\x18ftypmp42 second render")
    second = run(tmp_path, inputs, ledger, out="out2", on_republish=policy)
    folder = tmp_path / "outbox" / "acme" / VIDEO_ID
    delivered = (folder / "final.mp4").read_bytes()
    if policy == "update_metadata":
        assert delivered.endswith(b"first render") and second["action"] == "updated"
        assert "keeps the delivered file" in second["note"]
    elif policy == "replace":
        assert delivered.endswith(b"second render") and second["action"] == "replaced"
        assert second["location"] == first["location"]
        assert second["previous"][0]["retired"] == "overwritten"
        assert sorted(p.name for p in folder.iterdir()) == ["final.mp4", "metadata.json"], (
            "no temp files left")
    else:
        assert delivered.endswith(b"first render") and second["action"] == "new_video"
        new = tmp_path / "outbox" / "acme" / f"{VIDEO_ID}-{second['sha256'][:8]}"
        assert second["location"] == str(new)
        assert (new / "final.mp4").read_bytes().endswith(b"second render")
    third = run(tmp_path, inputs, ledger, out="out3", on_republish=policy)
    assert third["location"] == second["location"]
    assert third["action"] in ("unchanged", "updated")


def test_ledger_keys_and_the_receipt_of_a_publish_from_before_the_ledger(tmp_path, ledger):
    store = ledger.store
    ledger.put("youtube.session", {"confirmed": 1})
    key = f"tenants/acme/videos/{VIDEO_ID}/publish/state/youtube.session.json"
    assert store.get_json(key) == {"confirmed": 1}
    assert [k for k in store.list("tenants/acme/") if "/." in k] == []  # no temp objects left
    legacy = {"target": "outbox", "location": str(tmp_path / "somewhere")}
    store.put_json(legacy, f"tenants/acme/videos/{VIDEO_ID}/publish/receipt.json")
    assert ledger.get("outbox.receipt") == legacy and ledger.get("youtube.receipt") is None


def test_bad_on_republish_is_fatal():
    with pytest.raises(FatalError, match="on_republish 'overwrite' is not one of"):
        PublishOptions(on_republish="overwrite")


@pytest.mark.parametrize("video_id", ["../escape", "acme/x", "", ".hidden", "Acme-UPPER"])
def test_unsafe_video_id_is_fatal(tmp_path, inputs, ledger, video_id):
    with pytest.raises(FatalError, match="video id"):
        run(tmp_path, inputs, ledger, video_id=video_id)
    assert not (tmp_path / "outbox").exists()


def test_missing_inputs_are_fatal(tmp_path, inputs, ledger):
    final, meta = inputs
    with pytest.raises(FatalError, match=r"final video nope\.mp4 is missing"):
        run(tmp_path, (tmp_path / "nope.mp4", meta), ledger)
    with pytest.raises(FatalError, match=r"metadata\.json is missing"):
        run(tmp_path, (final, tmp_path / "none.json"), ledger)


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
