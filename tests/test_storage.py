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


def test_a_task_forked_from_a_prepared_worker_parses_nothing_of_the_s3_client_again(local_s3):
    """As a Celery worker: the preload (include.worker_preload) before the fork leaves no thread,
    event loop, socket or filesystem behind, only data; a task process forked from it builds its
    store on s3:// with that data: no botocore data file is read and parsed again, no TLS
    context is built, and the bytes round-trip."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    probe = r"""
import json, os, sys, threading
import psutil
# what a Celery pool process has loaded when Airflow's supervisor forks a task, then the preload
import airflow.providers.celery.executors.celery_executor_utils
import airflow.sdk.execution_time.supervisor, airflow.sdk.execution_time.task_runner
import include.worker_preload
from include import storage
import fsspec.asyn, s3fs
from airflow.sdk.io.store import _STORE_CACHE
before = {"threads": threading.active_count(), "fsspec_loop": fsspec.asyn.loop[0] is not None,
          "sockets": len(psutil.Process().net_connections(kind="all")),
          "filesystems": len(s3fs.S3FileSystem._cache), "stores": len(_STORE_CACHE),
          "loader": storage.S3Prepared.loader is not None,
          "contexts": len(storage.S3Prepared.ssl_contexts)}
PRELOADED = ("include", "botocore", "aiobotocore", "s3fs", "fsspec", "upath", "aiohttp", "certifi",
             "airflow.providers", "airflow.models", "airflow.sdk.lineage", "airflow.sdk.io")
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    loaded = set(sys.modules)
    import botocore.loaders
    from aiobotocore.httpsession import AIOHTTPSession
    files, builds = [], []
    load_file, build = botocore.loaders.JSONFileLoader.load_file, AIOHTTPSession._build_verify_context
    botocore.loaders.JSONFileLoader.load_file = lambda self, path, *a, **k: files.append(path) or load_file(self, path, *a, **k)
    AIOHTTPSession._build_verify_context = lambda self: builds.append(1) or build(self)
    store = storage.ArtifactStore(sys.argv[1])
    store.put_json({"n": 7}, "tenants/acme/videos/v1/ingest/probe.json")
    got = store.get_json("tenants/acme/videos/v1/ingest/probe.json")
    fs = store.root.fs
    connector = next(iter(fs.s3._endpoint.http_session._sessions.values())).connector
    out = {"got": got, "files": files, "builds": len(builds),
           "loader": fs.session.get_component("data_loader") is storage.S3Prepared.loader,
           "context": any(connector._ssl is c for c in storage.S3Prepared.ssl_contexts.values()),
           "listed": store.list("tenants/acme/videos/v1"),
           "imported": sorted(m for m in set(sys.modules) - loaded if m.startswith(PRELOADED))}
    os.write(write, json.dumps(out).encode())
    os._exit(0)
os.close(write)
with os.fdopen(read) as fh:
    child = json.loads(fh.read())
assert os.waitpid(pid, 0)[1] == 0
print(json.dumps({"before": before, "child": child}))
"""
    proc = subprocess.run([sys.executable, "-c", probe, local_s3.root("prepared")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["before"] == {"threads": 1, "fsspec_loop": False, "sockets": 0, "filesystems": 0,
                             "stores": 0, "loader": True, "contexts": got["before"]["contexts"]}
    assert got["before"]["contexts"] >= 1
    child = got["child"]
    assert child["got"] == {"n": 7}
    assert child["listed"] == ["tenants/acme/videos/v1/ingest/probe.json"]
    assert child["files"] == [], "add these to include.storage.S3_LOADER_*: " + str(child["files"])
    assert child["builds"] == 0
    assert child["imported"] == [], "add these to include.worker_preload: " + str(child["imported"])
    assert child["loader"] is True and child["context"] is True


@pytest.mark.parametrize("verify, cert, proxy", [(False, None, None), (True, "client.pem", None),
                                                 (True, None, "http://proxy.invalid:3128")])
def test_a_client_with_other_tls_settings_builds_its_own_context(verify, cert, proxy, tmp_path,
                                                                 monkeypatch):
    """Only a client that would build the very same TLS context gets the prepared one: not one
    that skips verification, presents a client certificate or goes through a proxy."""
    import ssl

    from aiobotocore.httpsession import AIOHTTPSession

    from include import storage

    storage.prepare_s3()
    session_cls = storage._prepared_http_session_cls()
    plain = session_cls(verify=True)._build_ssl_contexts(None)
    assert plain[0] is storage.S3Prepared.ssl_contexts[True] and plain[1] is None
    built = []
    monkeypatch.setattr(AIOHTTPSession, "_build_ssl_contexts",
                        lambda self, proxy_url: built.append((self._verify, proxy_url)) or (ssl.create_default_context(), None))
    session = session_cls(verify=verify, client_cert=cert)
    context, _ = session._build_ssl_contexts(proxy)
    assert built == [(verify, proxy)]
    assert all(context is not c for c in storage.S3Prepared.ssl_contexts.values())


def test_a_missing_s3_artifact_is_the_same_clear_fatal_error(local_s3, tmp_path):
    """Reads open the object without asking whether it exists first: a missing key on S3 still
    says which artifact is missing, for every kind of read, and leaves no local file."""
    store = ArtifactStore(local_s3.root("missing"))
    key = "tenants/acme/videos/acme-0123/analyze/segments.json"
    for read in (store.get_json, store.get_bytes, lambda k: store.get_file(k, tmp_path / "in" / "x")):
        with pytest.raises(FatalError, match="segments.json' is missing from the store"):
            read(key)
    assert not (tmp_path / "in").exists()
    store.put_json({"ok": True}, key)
    assert store.get_json(key) == {"ok": True}
    assert store.get_file(key, tmp_path / "in" / "x").read_bytes() == store.get_bytes(key)
