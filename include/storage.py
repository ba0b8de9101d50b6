"""Artifact store: every byte the pipeline makes lives under one ``ObjectStoragePath`` root.

The root is ``file://<project>/.data/store`` by default and any ``s3://<conn_id>@bucket/prefix``
(AWS, Cloudflare R2, MinIO, …) by configuration: the ``VIDEO_STORE_ROOT`` environment variable,
else the Airflow Variable ``video_store_root``.

Keys are stable and readable: ``tenants/<tenant>/videos/<video_id>/<stage>/<file>``, all spelled
by :mod:`include.core.keys`.
Writes are atomic: bytes go to a temporary key next to the final one and are renamed into place,
so a crash never leaves a half-written object under a final key. :meth:`ArtifactStore.create_bytes`
is also exclusive (the first writer wins, everybody else gets ``FileExistsError``): a hard link
on a local root, a conditional put (``If-None-Match: *``) on S3.

On ``s3://`` every task process builds its own S3 client; what that client creation reads from
disk is the same in every process (botocore's S3 model, endpoints and partitions, the CA bundle's
TLS context). A Celery worker prepares it once before its pool forks (:func:`prepare_s3`, called
by ``include.worker_preload``) and every store in a forked task process uses it.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from airflow.sdk import ObjectStoragePath

from include.core.errors import FatalError
from include.core.keys import artifact_key, video_prefix  # noqa: F401  (the layout lives in core.keys)

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STORE_ROOT = f"file://{PROJECT_ROOT / '.data' / 'store'}"
CHUNK = 8 * 2**20
DEBRIS_AGE = 3600.0  # seconds without a write after which a temp sibling is a crashed write
_KEY_PART = re.compile(r"^[A-Za-z0-9._-]+$")


def configured(env: str, variable: str, default: str) -> str:
    """A setting from the environment, else an Airflow Variable, else ``default``.

    Outside a task (CLI tools, tests) the Variable lookup may be impossible; that falls through
    to the default.
    """
    value = os.environ.get(env)
    if value:
        return value
    try:
        from airflow.sdk import Variable

        return Variable.get(variable, default=default)
    except Exception:  # no task context / no metadata DB reachable
        return default


def store_root() -> str:
    return configured("VIDEO_STORE_ROOT", "video_store_root", DEFAULT_STORE_ROOT)


# ---- s3: what a worker prepares once, before it forks its task processes

S3_PROTOCOLS = ("s3", "s3a", "s3n")


class S3Prepared:
    """Pure data every S3 client of a process needs, made once by :func:`prepare_s3`.

    ``loader`` is a botocore data loader with the S3 service model, its endpoint rules, the
    endpoints, partitions, retry and default-configuration files already parsed (a loader caches
    them per instance); ``ssl_contexts`` maps a client's ``verify`` value (``True``: the default
    CA bundle; a CA bundle path, as ``REQUESTS_CA_BUNDLE`` / ``AWS_CA_BUNDLE`` give botocore) to
    the TLS context aiobotocore builds for it (parsing the bundle is most of its cost). Neither
    holds a socket, thread, event loop or client: both survive a fork. A CA bundle changed on
    disk is seen by workers started after the change.
    """

    loader: Any = None
    ssl_contexts: dict = {}


# what botocore's S3 client creation loads through its data loader (JSONFileLoader.load_file):
# tests/test_storage.py checks that a forked store loads no file beyond these
S3_LOADER_DATA = ("endpoints", "sdk-default-configuration", "partitions", "_retry")
S3_LOADER_MODELS = ("service-2", "endpoint-rule-set-1")


def prepare_s3() -> S3Prepared:
    """Build :class:`S3Prepared` in this process (idempotent); a store made afterwards, here or
    in a process forked from here, uses it. Creates no client, session, loop, thread or socket."""
    if S3Prepared.loader is None:
        import botocore.loaders

        loader = botocore.loaders.Loader()
        for name in S3_LOADER_DATA:
            loader.load_data(name)
        for type_name in S3_LOADER_MODELS:
            # the call botocore's ClientCreator makes (instance_cache keys on its arguments)
            loader.load_service_model("s3", type_name, api_version=None)
        S3Prepared.loader = loader
    from aiobotocore.httpsession import AIOHTTPSession

    for verify in (True, *(os.environ.get(v) for v in ("REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE"))):
        if verify and verify not in S3Prepared.ssl_contexts:
            # aiobotocore's own construction for that value (no aiohttp session is opened)
            S3Prepared.ssl_contexts[verify] = AIOHTTPSession(verify=verify)._build_verify_context()
    return S3Prepared


def _prepared_http_session_cls():
    """aiobotocore's HTTP session, reusing a context of :attr:`S3Prepared.ssl_contexts` where it
    would build the very same one (the same ``verify``, no client certificate, no proxy); any
    other setting builds its own as before."""
    global _PreparedAIOHTTPSession
    if _PreparedAIOHTTPSession is None:
        from aiobotocore.httpsession import AIOHTTPSession

        class PreparedAIOHTTPSession(AIOHTTPSession):
            def _build_ssl_contexts(self, proxy_url):
                if not self._cert_file and not proxy_url and isinstance(self._verify, (bool, str)):
                    context = S3Prepared.ssl_contexts.get(self._verify)
                    if context is not None:
                        return context, None
                return super()._build_ssl_contexts(proxy_url)

        _PreparedAIOHTTPSession = PreparedAIOHTTPSession
    return _PreparedAIOHTTPSession


_PreparedAIOHTTPSession = None


def _use_prepared(fs) -> None:
    """Point a not yet connected ``S3FileSystem`` at what :func:`prepare_s3` made."""
    if S3Prepared.loader is None or getattr(fs, "_s3", None) is not None:
        return  # nothing prepared (CLI, tests), or this process's client exists already
    session = getattr(fs, "session", None)
    if session is not None and hasattr(session, "register_component"):
        session.register_component("data_loader", S3Prepared.loader)
    config = dict(getattr(fs, "config_kwargs", None) or {})
    if S3Prepared.ssl_contexts and "http_session_cls" not in config:
        fs.config_kwargs = {**config, "http_session_cls": _prepared_http_session_cls()}


def check_key(key: str) -> str:
    """Reject keys that could leave the store root (``..``, absolute, empty parts)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise FatalError(f"artifact key {key!r} is not a valid relative key.")
    if not all(_KEY_PART.match(p) for p in parts):
        raise FatalError(f"artifact key {key!r} contains characters that are not allowed.")
    return key


class ArtifactStore:
    """Keys in, bytes out; the only place that knows where the bytes live."""

    def __init__(self, root: str | None = None):
        self.root_url = (root or store_root()).rstrip("/")
        self.root = ObjectStoragePath(self.root_url)
        if self.root.protocol in ("file", "local", ""):
            Path(self.root.path).mkdir(parents=True, exist_ok=True)
        elif self.root.protocol in S3_PROTOCOLS and self.root.conn_id:
            _use_prepared(self.root.fs)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root_url!r})"

    def path(self, key: str) -> ObjectStoragePath:
        return self.root / check_key(key)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def _temp_for(self, key: str) -> ObjectStoragePath:
        final = self.path(key)
        return final.parent / f".{final.name}.partial-{uuid.uuid4().hex[:12]}"

    def _commit(self, tmp: ObjectStoragePath, key: str) -> None:
        final = self.path(key)
        try:
            if final.protocol in ("file", "local", ""):
                os.replace(tmp.path, final.path)
            else:
                tmp.rename(final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_stream(self, fileobj: BinaryIO, key: str) -> None:
        """Stream a file object to ``key`` atomically (constant memory).

        Local store: into a hidden temp sibling, renamed into place. S3: straight to the key (an
        object PUT, or the completion of a multipart upload, is atomic: readers see the old
        object or the new one); on a failure the multipart upload is aborted, never completed
        with what was sent so far, so no temp key exists there. On the local store a successful
        write removes the temp siblings a crashed earlier write of the same key left behind.
        """
        final = self.path(key)
        if final.protocol in ("file", "local", ""):
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._temp_for(key)
            try:
                with tmp.open("wb") as dst:
                    shutil.copyfileobj(fileobj, dst, CHUNK)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._commit(tmp, key)
            self._sweep_partials(key)
        else:
            dst = final.open("wb")
            try:
                shutil.copyfileobj(fileobj, dst, CHUNK)
            except BaseException:
                raw = getattr(dst, "_obj", dst)  # the fsspec file inside Airflow's lineage wrapper
                discard = getattr(raw, "discard", None)  # s3fs: abort the multipart upload
                if discard is not None:
                    discard()
                    raw.closed = True  # nothing left to flush: never complete the upload
                raise
            dst.close()

    def _sweep_partials(self, key: str) -> None:
        """Remove ``.<name>.partial-*`` siblings of ``key`` that nobody has written to for
        :data:`DEBRIS_AGE` seconds (debris of crashed local writes; a concurrent writer's temp
        file is fresh and stays)."""
        final = Path(self.path(key).path)
        cutoff = time.time() - DEBRIS_AGE
        for path in final.parent.glob(f".{glob.escape(final.name)}.partial-*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            except FileNotFoundError:
                pass

    def put_file(self, local: Path, key: str) -> str:
        with open(local, "rb") as src:
            self.put_stream(src, key)
        return key

    def put_bytes(self, data: bytes, key: str) -> str:
        import io

        self.put_stream(io.BytesIO(data), key)
        return key

    def put_json(self, data: Any, key: str) -> str:
        return self.put_bytes(json.dumps(data, indent=2, ensure_ascii=False).encode(), key)

    # Reads open the object straight away (a missing one raises FileNotFoundError there): no
    # exists() first, which on S3 was one more request (a HEAD, ~2 ms CPU) per read.

    @staticmethod
    def _missing(key: str) -> FatalError:
        return FatalError(f"artifact {key!r} is missing from the store; rerun the stage that makes it.")

    def get_file(self, key: str, local: Path) -> Path:
        """Copy ``key`` to a local file (streamed)."""
        try:
            fin = self.path(key).open("rb")
        except FileNotFoundError:
            raise self._missing(key) from None
        with fin:
            local.parent.mkdir(parents=True, exist_ok=True)
            with open(local, "wb") as fout:
                shutil.copyfileobj(fin, fout, CHUNK)
        return local

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise self._missing(key) from None

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def list(self, prefix: str) -> list[str]:
        base = self.path(prefix.rstrip("/"))
        if not base.exists():
            return []
        root = str(self.root).rstrip("/") + "/"
        out = []
        for p in base.rglob("*"):
            if p.is_file():
                out.append(str(p)[len(root):] if str(p).startswith(root) else p.name)
        return sorted(out)

    def mtime_ns(self, key: str) -> int:
        """Modification stamp of an object (used by tests to prove artifacts were not rewritten)."""
        info = self.path(key).stat()
        return int(getattr(info, "st_mtime_ns", 0) or float(info.st_mtime) * 1e9)

    def create_bytes(self, data: bytes, key: str) -> str:
        """Write ``data`` to ``key`` only if ``key`` does not exist yet: atomically and exclusively.

        Of racing writers exactly one succeeds; the others get ``FileExistsError`` and the object
        is the winner's, whole. Local roots write a temp file and hard-link it into place (the link
        fails if the key exists). S3 roots use a conditional put (``If-None-Match: *``, s3fs
        ``mode="create"``); a store that ignores that header (older S3-compatible servers) lets the
        last writer win instead.
        """
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.protocol not in ("file", "local", ""):
            final.fs.pipe_file(final.path, data, mode="create")
            return key
        tmp = self._temp_for(key)
        try:
            with open(tmp.path, "wb") as dst:
                dst.write(data)
            os.link(tmp.path, final.path)
        finally:
            Path(tmp.path).unlink(missing_ok=True)
        return key

    def move(self, key: str, new_key: str) -> bool:
        """Rename ``key`` to ``new_key``; ``False`` when ``key`` was already gone.

        Atomic on a local root (``os.rename``); on S3 a copy then a delete.
        """
        src, dst = self.path(key), self.path(new_key)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            if src.protocol in ("file", "local", ""):
                os.rename(src.path, dst.path)
            else:
                if not src.exists():
                    return False
                src.rename(dst)
        except FileNotFoundError:
            return False
        return True

    def open_uri(self, uri: str) -> BinaryIO:
        """Open any ``ObjectStoragePath`` URI (e.g. ``s3://conn@bucket/key``) for streaming reads."""
        return ObjectStoragePath(uri).open("rb")
