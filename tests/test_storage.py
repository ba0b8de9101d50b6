"""The artifact store: atomic writes, key safety, streaming round trips."""

from __future__ import annotations

import io
import os
import time

import pytest

from include.core.errors import FatalError
from include.storage import DEBRIS_AGE, ArtifactStore, artifact_key


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(f"file://{tmp_path / 'store'}")


def test_round_trip_and_keys(store, tmp_path):
    key = artifact_key("acme", "acme-0123", "render", "final.mp4")
    assert key == "tenants/acme/videos/acme-0123/render/final.mp4"
    src = tmp_path / "x.bin"
    src.write_bytes(b"x" * (3 * 2**20 + 7))
    store.put_file(src, key)
    assert store.exists(key)
    back = store.get_file(key, tmp_path / "back.bin")
    assert back.read_bytes() == src.read_bytes()
    store.put_json({"a": 1}, "tenants/acme/videos/acme-0123/edit/edl.json")
    assert store.get_json("tenants/acme/videos/acme-0123/edit/edl.json") == {"a": 1}
    assert store.list("tenants/acme/videos/acme-0123") == [
        "tenants/acme/videos/acme-0123/edit/edl.json", key]


class Boom(io.RawIOBase):
    """A source that dies after ``limit`` bytes, like a worker killed mid-upload."""

    def __init__(self, limit: int = 2**20):
        self.sent, self.limit = 0, limit

    def readable(self):
        return True

    def readinto(self, b):
        if self.sent > self.limit:
            raise OSError("connection dropped")
        n = len(b)
        b[:n] = b"y" * n
        self.sent += n
        return n


def test_failed_write_leaves_nothing_under_the_final_key(store):
    key = "tenants/acme/videos/v/render/final.mp4"
    store.put_bytes(b"old complete file", key)
    with pytest.raises(OSError):
        store.put_stream(Boom(), key)
    assert store.path(key).read_bytes() == b"old complete file"
    leftovers = [p.name for p in store.path(key).parent.iterdir()]
    assert leftovers == ["final.mp4"]


@pytest.mark.parametrize(
    "key", ["../etc/passwd", "/abs/key", "tenants/a/../b", "tenants//x", "tenants/a/%2e%2e/b", ""]
)
def test_keys_cannot_escape_the_root(store, key):
    with pytest.raises(FatalError):
        store.path(key)


def test_missing_artifact_is_a_clear_fatal_error(store, tmp_path):
    with pytest.raises(FatalError, match="missing from the store"):
        store.get_file("tenants/a/videos/v/x/none.json", tmp_path / "n")


def test_a_crashed_writer_s_debris_goes_with_the_next_write(store):
    key = "tenants/acme/videos/v/render/final.mp4"
    store.put_bytes(b"v1", key)
    folder = store.path(key).parent
    debris = folder / ".final.mp4.partial-0123456789ab"  # a worker killed mid-write, long ago
    debris.write_bytes(b"half")
    old = time.time() - 2 * DEBRIS_AGE
    os.utime(debris.path, (old, old))
    writing = folder / ".final.mp4.partial-ba9876543210"  # another writer, busy right now
    writing.write_bytes(b"fresh")
    store.put_bytes(b"v2", key)
    assert sorted(p.name for p in folder.iterdir()) == [".final.mp4.partial-ba9876543210",
                                                        "final.mp4"]
    assert store.get_bytes(key) == b"v2"


def test_s3_writes_are_whole_or_absent_and_abort_their_multipart_upload(local_s3):
    s3 = local_s3.client()
    store = ArtifactStore(local_s3.root("atomic"))
    key = "tenants/acme/videos/v/render/final.mp4"
    store.put_bytes(b"old complete file", key)
    # 120 MB dies after 70 MB: s3fs has started a multipart upload (its blocks are 50 MB)
    with pytest.raises(OSError):
        store.put_stream(Boom(70 * 2**20), key)
    assert store.get_bytes(key) == b"old complete file"
    assert s3.list_multipart_uploads(Bucket=local_s3.bucket).get("Uploads", []) == []
    names = [o["Key"] for o in s3.list_objects_v2(Bucket=local_s3.bucket,
                                                  Prefix="atomic/")["Contents"]]
    assert names == ["atomic/tenants/acme/videos/v/render/final.mp4"], names
