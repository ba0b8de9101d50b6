"""Uploads: init → bytes → finalize, with content-addressed dedup.

1. :func:`init_upload` checks the size limit and that the file claims to be a video, stores the
   upload record ``tenants/<t>/uploads/<upload_id>/upload.json`` and says where the bytes go:
   a presigned S3 POST whose policy allows exactly the announced size (s3:// store: the browser
   talks to the bucket) or numbered parts of :data:`PART_BYTES` PUT to the api-server (file
   store: each part is written atomically, so nothing is ever held in memory whole).
2. :func:`put_part` stores one part (file store only; refused once the upload is finalized).
3. :func:`finalize` joins the parts into ``tenants/<t>/uploads/<upload_id>/<file>`` while hashing
   them (S3: checks the object's size, copies that exact version to ``.../sealed-<file>``, a key
   no URL was signed for, and hashes the copy, so a later POST to the presigned URL cannot change
   what the run reads), checks the content, seals it (``sealed.json``: the only uploads a studio
   run may read, see ``include/tenancy.py``) and triggers ``video_pipeline`` with
   ``dag_run_id = video_id_for(tenant, sha256)``. Airflow refuses a second run with the same id
   (409), so racing finalizes of the same file all get the one existing video; a duplicate
   upload's bytes are deleted. A size other than the announced one is refused (413 when larger,
   logged at door ``upload-size``).

The upload id is ``<tenant>.<32 hex>``: the tenant is checked before anything is read.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
import uuid
from datetime import datetime, timezone
from typing import BinaryIO, Callable, Literal

from fastapi import HTTPException, Request
from pydantic import BaseModel, Field

from include.airflow_client import AirflowClient
from include.core.media import sniff_container
from include.core.options import STUDIO_OPTIONS, TENANT_RE, Settings, studio_model
from include.core import keys
from include.core.keys import UPLOAD_ID_RE, video_id_for
from include.stages.ingest import VIDEO_EXTENSIONS
from include.storage import CHUNK, ArtifactStore
from include.studio import presign
from include.studio.auth import StudioUser, refuse
from include.studio.doors import refuse_at
from include.studio.idempotency import Idempotency
from include.studio.presign import is_s3
from include.studio.videos import forget_list

PART_BYTES = 8 * 2**20
MAX_UPLOAD_BYTES = int(os.environ.get("STUDIO_MAX_UPLOAD_BYTES", 4 * 2**30))
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Finalizes in this api-server trigger one after another: racing ones of one file get Airflow's 409
# at once instead of contending for the metadata DB (ten concurrent run inserts locked a SQLite DB
# long enough to stop the scheduler). Across api-server processes the run id alone dedups.
_TRIGGER_LOCK = threading.Lock()


# The run options come from the options table (include/core/options.py): the same fields, patterns
# and limits as Settings, so the form cannot ask for a run the DAG would refuse.
UploadInit = studio_model(
    "UploadInit",
    filename=(str, Field(min_length=1, max_length=255, description="The file's name on the user's disk.")),
    size=(int, Field(gt=0, description="Exact size in bytes.")),
    content_type=(str, Field("application/octet-stream", max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")),
    tenant=(str | None, Field(None, pattern=TENANT_RE.pattern, description="Admins only: the tenant to upload for.")),
)


class UploadTicket(BaseModel):
    upload_id: str
    key: str
    mode: Literal["presigned", "parts"]
    url: str | None = Field(
        None,
        description="presigned: POST the file here as multipart/form-data: every one of `fields` "
        "first, then the file as field `file`. S3 refuses any other size than the announced one.",
    )
    fields: dict[str, str] = {}
    headers: dict[str, str] = {}
    part_url: str | None = Field(
        None, description="parts: PUT part n (1-based) to this URL with {n} replaced."
    )
    part_size: int | None = None
    parts: int
    finalize_url: str


class Finalized(BaseModel):
    video_id: str
    run_id: str
    created: bool = Field(description="False when the same file was already a video of this tenant.")
    url: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _safe_name(filename: str) -> str:
    name = _UNSAFE.sub("_", filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip("._")
    return name[-100:] or "upload"


def _size_text(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n < 2**30 else f"{n / 2**30:.2f} GB"


def check_video_head(head: bytes) -> None:
    """A quick content check on the first bytes: MP4/MOV, Matroska/WebM or AVI (ingest sniffs the
    finalized file again and probes it fully). Parts 2+ are never checked: a part is never a
    source (see ``ingest.check_source_reference``), only the joined file is."""
    if sniff_container(head):
        return
    raise HTTPException(
        415, "this file is not a video the pipeline can read (expected MP4, MOV, MKV, WebM or AVI)."
    )


def _idempotent(store: ArtifactStore, key: Idempotency | None, compute: Callable[[], dict]) -> dict:
    """Honour an ``Idempotency-Key`` (bound to its user and request; see idempotency.py)."""
    return key.run(store, compute) if key else compute()


def _upload_tenant(user: StudioUser, upload_id: str) -> str:
    match = UPLOAD_ID_RE.match(upload_id)
    if not match or not user.can_access(match[1]):
        raise refuse(user, "upload access", f"upload {upload_id}")
    return match[1]


def _record(user: StudioUser, store: ArtifactStore, upload_id: str) -> dict:
    tenant = _upload_tenant(user, upload_id)
    key = keys.upload_key(tenant, upload_id, keys.UPLOAD_RECORD)
    if not store.exists(key):
        raise HTTPException(404, f"upload {upload_id}: not found")
    return store.get_json(key)


def init_upload(
    user: StudioUser,
    store: ArtifactStore,
    body: UploadInit,
    base: str,
    idempotency_key: Idempotency | None = None,
) -> dict:
    tenant = body.tenant or user.tenant
    if tenant is None:
        raise HTTPException(400, "admins without a tenant of their own must name the tenant to upload for.")
    if not user.can_access(tenant):
        raise refuse(user, "upload for tenant", tenant, status=403)
    if body.size > MAX_UPLOAD_BYTES:
        raise HTTPException(
            413, f"the file is {_size_text(body.size)}; the upload limit is {_size_text(MAX_UPLOAD_BYTES)}."
        )
    name = _safe_name(body.filename)
    ext = os.path.splitext(name)[1].lower()
    if ext not in VIDEO_EXTENSIONS and not body.content_type.startswith("video/"):
        raise HTTPException(
            415,
            f"{body.filename!r} is not a video file; upload one of: "
            f"{', '.join(sorted(e[1:] for e in VIDEO_EXTENSIONS))}.",
        )
    settings = {k: getattr(body, k) for k in STUDIO_OPTIONS}
    Settings.from_mapping({**settings, "tenant": tenant})  # the DAG's own checks, before any bytes move

    def create() -> dict:
        upload_id = keys.new_upload_id(tenant, uuid.uuid4().hex)
        key = keys.upload_key(tenant, upload_id, name)
        record = {
            "upload_id": upload_id,
            "tenant": tenant,
            "key": key,
            "filename": body.filename,
            "size": body.size,
            "content_type": body.content_type,
            "settings": settings,
            "by": user.name,
            "at": _now(),
            "mode": "presigned" if is_s3(store) else "parts",
        }
        store.put_json(record, keys.upload_key(tenant, upload_id, keys.UPLOAD_RECORD))
        ticket = {
            "upload_id": upload_id,
            "key": key,
            "mode": record["mode"],
            "finalize_url": f"{base}/api/uploads/{upload_id}/finalize",
        }
        if record["mode"] == "presigned":
            post = presign.presigned_post(store, key, body.content_type, body.size)
            ticket.update(url=post["url"], fields=post["fields"], parts=1)
        else:
            ticket.update(
                part_url=f"{base}/api/uploads/{upload_id}/parts/{{n}}",
                part_size=PART_BYTES,
                parts=math.ceil(body.size / PART_BYTES),
            )
        return ticket

    return _idempotent(store, idempotency_key, create)


async def put_part(user: StudioUser, store: ArtifactStore, upload_id: str, n: int, request: Request) -> dict:
    from starlette.concurrency import run_in_threadpool

    record = await run_in_threadpool(_record, user, store, upload_id)
    if record["mode"] != "parts":
        raise HTTPException(
            409, "this upload goes straight to object storage: POST the file to its presigned url."
        )
    if await run_in_threadpool(store.exists, keys.upload_key(record["tenant"], upload_id, keys.UPLOAD_FINALIZED)):
        raise HTTPException(409, f"upload {upload_id} is finalized already; start a new upload.")
    parts = math.ceil(record["size"] / PART_BYTES)
    if not 1 <= n <= parts:
        raise HTTPException(400, f"part {n} is out of range: this upload has parts 1 to {parts}.")
    expected = min(PART_BYTES, record["size"] - (n - 1) * PART_BYTES)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > expected:
            raise HTTPException(413, f"part {n} must be {expected} bytes; more was sent.")
    if len(data) != expected:
        raise HTTPException(400, f"part {n} must be {expected} bytes, got {len(data)}.")
    if n == 1:
        check_video_head(bytes(data[:64]))
    await run_in_threadpool(store.put_bytes, bytes(data), keys.upload_part_key(record["tenant"], upload_id, n))
    return {"upload_id": upload_id, "part": n, "bytes": len(data)}


class _HashingConcat:
    """A read-only file object over the parts, in order, hashing what it hands out."""

    def __init__(self, store: ArtifactStore, keys: list[str]):
        self.store, self.keys, self.sha = store, list(keys), hashlib.sha256()
        self.current: BinaryIO | None = None

    def read(self, size: int = -1) -> bytes:
        while self.keys or self.current:
            if self.current is None:
                self.current = self.store.path(self.keys.pop(0)).open("rb")
            data = self.current.read(size if size and size > 0 else CHUNK)
            if data:
                self.sha.update(data)
                return data
            self.current.close()
            self.current = None
        return b""


def _sha256(store: ArtifactStore, key: str) -> str:
    sha = hashlib.sha256()
    with store.path(key).open("rb") as f:
        while data := f.read(CHUNK):
            sha.update(data)
    return sha.hexdigest()


def _assemble(store: ArtifactStore, record: dict) -> str:
    """Join the parts into the upload key (atomic) and return the SHA-256 of the file."""
    tenant, upload_id, key = record["tenant"], record["upload_id"], record["key"]
    part_keys = [
        keys.upload_part_key(tenant, upload_id, n) for n in range(1, math.ceil(record["size"] / PART_BYTES) + 1)
    ]
    if not store.exists(key):
        missing = [str(n) for n, k in enumerate(part_keys, 1) if not store.exists(k)]
        if missing:
            raise HTTPException(400, f"upload is incomplete: part(s) {', '.join(missing[:10])} missing.")
        reader = _HashingConcat(store, part_keys)
        try:
            store.put_stream(reader, key)
        except FileNotFoundError:  # a concurrent finalize joined the parts and removed them first
            if not store.exists(key):
                raise
        else:
            for k in part_keys:
                store.path(k).unlink(missing_ok=True)
            return reader.sha.hexdigest()
    return _sha256(store, key)


def _wrong_size(user: StudioUser, record: dict, size: int) -> HTTPException:
    """The uploaded object is not the announced size (logged at door ``upload-size``)."""
    announced = record["size"]
    return refuse_at(
        "upload-size",
        f"finalize of upload {record['upload_id']}",
        user,
        413 if size > announced else 400,
        f"the upload has {size} bytes but {announced} were announced; upload it again.",
    )


def _seal(user: StudioUser, store: ArtifactStore, record: dict) -> str | None:
    """S3: copy the presigned upload, once its size is checked, to a key no URL was signed for.

    The copy is of the exact version whose size was checked (``CopySourceIfMatch``) and is named
    by that version's ETag, so racing finalizes of one version write the same bytes to the same
    key and a later POST to the presigned URL (a new version) can never change it. None when
    nothing is at the upload key.
    """
    key = record["key"]
    info = presign.head(store, key)
    if info is None:
        return None
    if info["size"] != record["size"]:  # before copying or hashing anything
        store.path(key).unlink(missing_ok=True)
        raise _wrong_size(user, record, info["size"])
    version = re.sub(r"[^A-Za-z0-9]", "", info["etag"])[:64] or "v"
    name = keys.sealed_copy_name(version, key.rsplit("/", 1)[-1])
    sealed = keys.upload_key(record["tenant"], record["upload_id"], name)
    presign.copy(store, key, sealed, info["etag"])
    return sealed


def finalize(
    user: StudioUser,
    store: ArtifactStore,
    airflow: AirflowClient,
    upload_id: str,
    base: str,
    idempotency_key: Idempotency | None = None,
) -> dict:
    record = _record(user, store, upload_id)
    tenant, key = record["tenant"], record["key"]
    done_key = keys.upload_key(tenant, upload_id, keys.UPLOAD_FINALIZED)

    def run() -> dict:
        if store.exists(done_key):
            return store.get_json(done_key)
        if record["mode"] == "parts":
            source, sha = key, _assemble(store, record)
        else:
            source, sha = _seal(user, store, record), None
            if source is None:
                if store.exists(done_key):  # a concurrent finalize finished it meanwhile
                    return store.get_json(done_key)
                raise HTTPException(
                    400, "nothing was uploaded yet: POST the file to its presigned url first."
                )
        size = store.path(source).stat().st_size
        if size != record["size"]:
            store.path(source).unlink(missing_ok=True)
            raise _wrong_size(user, record, size)
        with store.path(source).open("rb") as f:
            head = f.read(64)
        try:
            check_video_head(head)
        except HTTPException:
            store.path(source).unlink(missing_ok=True)
            raise
        if sha is None:  # hashed only once the size is known to be the announced one
            sha = _sha256(store, source)
        video_id = video_id_for(tenant, sha)
        # The DAG takes a studio run's source only from a sealed upload (include/tenancy.py).
        seal = {"key": source, "sha256": sha, "size": size, "video_id": video_id,
                "by": user.name, "at": _now()}
        store.put_json(seal, keys.upload_key(tenant, upload_id, keys.UPLOAD_SEALED))
        conf = {**record["settings"], "tenant": tenant, "source": source}
        with _TRIGGER_LOCK:
            run_info, created = airflow.trigger(video_id, conf, note=f"uploaded in the studio by {user.name}")
        if not created:
            existing = run_info.get("conf") or {}
            if existing.get("tenant") != tenant:
                raise HTTPException(409, f"run {video_id} exists but belongs to another tenant.")
            if existing.get("source") != source:  # same bytes as an earlier upload: keep only that one
                store.path(source).unlink(missing_ok=True)
        forget_list(tenant)
        result = {
            "video_id": video_id,
            "run_id": run_info["dag_run_id"],
            "created": created,
            "url": f"{base}/videos/{video_id}",
        }
        store.put_json(result, done_key)
        if source != key:  # S3: the presigned upload key is never read again
            store.path(key).unlink(missing_ok=True)
        return result

    return _idempotent(store, idempotency_key, run)
