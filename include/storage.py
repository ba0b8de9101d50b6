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

    def get_file(self, key: str, local: Path) -> Path:
        """Copy ``key`` to a local file (streamed)."""
        src = self.path(key)
        if not src.exists():
            raise FatalError(f"artifact {key!r} is missing from the store; rerun the stage that makes it.")
        local.parent.mkdir(parents=True, exist_ok=True)
        with src.open("rb") as fin, open(local, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
        return local

    def get_bytes(self, key: str) -> bytes:
        src = self.path(key)
        if not src.exists():
            raise FatalError(f"artifact {key!r} is missing from the store; rerun the stage that makes it.")
        return src.read_bytes()

    def get_json(self, key: str) -> Any:
        src = self.path(key)
        if not src.exists():
            raise FatalError(f"artifact {key!r} is missing from the store; rerun the stage that makes it.")
        return json.loads(src.read_bytes())

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
