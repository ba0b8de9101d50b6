"""``Idempotency-Key``: a retried request gets the first answer, and only that request does.

A key belongs to the user who sent it and is bound to the first request made with it: its method,
path (so the route and the upload id) and body, kept as a SHA-256. The record lives in the store
(``studio/idempotency/<user hash>/<key hash>.json``), shared by every api-server process.

- the same request again → the stored answer (nothing runs twice);
- another request with a used key (another upload, route or body) → **422**, logged at door
  ``idempotency``;
- a request while the first with its key still runs → **409** "in progress" with
  ``Retry-After`` at once (it does not wait: a retry after the first finished gets its answer).
  The record is created atomically (an exclusive create on the file store, a conditional
  ``If-None-Match: *`` PUT on S3), so of two racing requests exactly one runs;
- a request that failed (any 4xx/5xx) leaves no record: a retry with the same key runs again;
- a record still "in progress" after :data:`LEASE_SECONDS` (its api-server died) is taken over,
  and an answer is replayed for :data:`KEEP_SECONDS` (a day), then the key is free again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable

from fastapi import Depends, Header, Request

from include.core import keys
from include.core.errors import FatalError
from include.storage import ArtifactStore
from include.studio.auth import StudioUser, studio_user
from include.studio.doors import refuse_at

LEASE_SECONDS = 900  # longer than any finalize (hashing 4 GiB)
KEEP_SECONDS = 24 * 3600


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def create_exclusive(store: ArtifactStore, key: str, data: bytes) -> bool:
    """Write ``key`` only if it does not exist yet (atomic); False if it did."""
    target = store.path(key)
    if target.protocol in ("file", "local", ""):
        final = Path(target.path)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.new-{uuid.uuid4().hex[:12]}")
        tmp.write_bytes(data)
        try:
            os.link(tmp, final)  # fails if final exists; final is complete the moment it appears
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
    from botocore.exceptions import ClientError

    from include.studio.presign import _client

    try:
        _client(store).put_object(Bucket=target.bucket, Key=target.key, Body=data, IfNoneMatch="*")
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise


@dataclass(frozen=True)
class Idempotency:
    """One request's ``Idempotency-Key``, its owner and the request's fingerprint."""

    key: str
    user: StudioUser
    request: Request
    fingerprint: str  # sha256 of method, path and body

    @property
    def record_key(self) -> str:
        return keys.idempotency_key(self.user.name, self.key)

    def _refuse(self, status: int, detail: str, **headers: str):
        return refuse_at("idempotency", self.request, self.user, status, detail, **headers)

    def run(self, store: ArtifactStore, compute: Callable[[], dict]) -> dict:
        """The stored answer for this request, or ``compute()``'s (stored for the next retry)."""
        record = self.record_key
        claim = {
            "state": "in_progress",
            "fingerprint": self.fingerprint,
            "request": f"{self.request.method} {self.request.url.path}",
            "at": time.time(),
        }
        for _ in range(3):
            if create_exclusive(store, record, json.dumps(claim).encode()):
                break
            try:
                existing = store.get_json(record)
            except (FatalError, FileNotFoundError, ValueError):
                continue  # removed (a failed first request) or being replaced: try to claim it again
            if existing.get("fingerprint") != self.fingerprint:
                raise self._refuse(
                    422,
                    f"Idempotency-Key {self.key!r} was already used for another request "
                    f"({existing.get('request')}); use a new key for each request.",
                )
            age = time.time() - float(existing.get("at", 0))
            if existing.get("state") == "done" and age < KEEP_SECONDS:
                return existing["response"]
            if existing.get("state") != "done" and age < LEASE_SECONDS:
                raise self._refuse(
                    409,
                    f"a request with Idempotency-Key {self.key!r} is still in progress; retry it in a few "
                    "seconds to get its answer.",
                    Retry_After="2",
                )
            store.path(record).unlink(missing_ok=True)  # expired, or abandoned by a dead api-server
        else:
            raise self._refuse(409, f"Idempotency-Key {self.key!r} is busy; retry.", Retry_After="2")
        try:
            result = compute()
        except BaseException:
            store.path(record).unlink(missing_ok=True)  # a failed request may be retried with its key
            raise
        store.put_json({**claim, "state": "done", "at": time.time(), "response": result}, record)
        return result


async def idempotency_key(
    request: Request,
    user: StudioUser = Depends(studio_user),
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            description="Retries of this request with the same key get the first answer; another "
            "request with a used key gets 422, one while the first still runs 409.",
        ),
    ] = None,
) -> Idempotency | None:
    if not key:
        return None
    body = await request.body()  # already read (and cached) by FastAPI for routes with a body
    fingerprint = _sha(b"\0".join([request.method.encode(), request.url.path.encode(), body]))
    return Idempotency(key, user, request, fingerprint)
