"""The doors every studio request passes before its handler runs (issue #10).

The app declares them once (``FastAPI(dependencies=...)``), so every route, present or future,
goes through them in this order:

1. **who** — :func:`include.studio.auth.studio_user` (401);
2. **csrf** — :func:`same_origin`: a write (POST/PUT/PATCH/DELETE) authenticated by the UI's
   cookie must come from this server's own pages (``Origin`` equal to the api-server's origin, or
   ``Sec-Fetch-Site: same-origin``; a cookie write without ``Origin`` is refused) and, where the
   route takes a body, send it as ``application/json``. A browser attaches the cookie to a
   cross-site form POST, but it never sends an ``Authorization`` header it was not told to, so
   bearer calls are not checked (403);
3. **rate** — :func:`rate_limit`: a token bucket per user, :data:`RATE` requests a second with
   bursts of :data:`BURST` (429 with ``Retry-After``);
4. **slot** — :func:`slot`: a plain ``def`` handler runs in the api-server's thread pool, which it
   shares with Airflow's own REST API; while it waits on that API over HTTP it holds a thread.
   At most :data:`SLOTS` of them run at once, :data:`USER_SLOTS` per user; the others wait on
   the event loop (no thread) for up to :data:`SLOT_WAIT` seconds, then get 503 with
   ``Retry-After``. ``async def`` handlers (part uploads) hold no thread and need no slot.

Every refusal is logged to ``studio.audit`` with its door (:func:`refuse_at`). Limits come from
the environment (``STUDIO_RATE``, ``STUDIO_BURST``, ``STUDIO_SLOTS``, ``STUDIO_USER_SLOTS``,
``STUDIO_SLOT_WAIT``); they are per api-server process.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import time
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials

from include.studio.auth import StudioUser, bearer_scheme, studio_user

audit = logging.getLogger("studio.audit")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RATE = float(os.environ.get("STUDIO_RATE", "20"))  # requests per second and user, sustained
BURST = float(os.environ.get("STUDIO_BURST", "40"))  # ... and at once
SLOTS = int(os.environ.get("STUDIO_SLOTS", "8"))  # of the api-server's 40 worker threads
USER_SLOTS = int(os.environ.get("STUDIO_USER_SLOTS", "4"))
SLOT_WAIT = float(os.environ.get("STUDIO_SLOT_WAIT", "20"))


def refuse_at(
    door: str, where: Request | str, user: StudioUser | None, status: int, detail: str, **headers: str
) -> HTTPException:
    """Log a refusal at ``door`` of a request (or an action on a named target) to ``studio.audit``;
    the caller raises the result. ``headers``: ``Retry_After="2"`` → ``Retry-After: 2``."""
    who = f"user {user.name!r} (tenant {user.tenant!r})" if user else "an unknown caller"
    what = f"{where.method} {where.url.path}" if isinstance(where, Request) else where
    audit.warning("studio: refused %s at door %s to %s: %s", what, door, who, detail)
    return HTTPException(status, detail, headers={k.replace("_", "-"): v for k, v in headers.items()} or None)


# --------------------------------------------------------------------------- csrf


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origins(request: Request) -> set[str]:
    """The api-server's origin: ``[api] base_url``, and the scheme and Host this request came to."""
    from airflow.configuration import conf

    origins = {f"{request.url.scheme}://{request.headers.get('host', '')}".lower()}
    base_url = conf.get("api", "base_url", fallback="")
    if base_url:
        origins.add(_origin(base_url))
    return origins


def _by_bearer(credentials: HTTPAuthorizationCredentials | None) -> bool:
    # the same test as Airflow's get_user: an explicit bearer token wins over the cookie
    return credentials is not None and credentials.scheme.lower() == "bearer"


async def same_origin(
    request: Request,
    user: StudioUser = Depends(studio_user),
    bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
) -> None:
    """Door ``csrf``: a cookie-authenticated write must be same-origin, with a JSON body if any."""
    if request.method not in UNSAFE_METHODS or _by_bearer(bearer):
        return
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site != "same-origin" and (origin is None or origin.lower() not in own_origins(request)):
        seen = f"Origin {origin!r}" if origin else "no Origin header"
        raise refuse_at(
            "csrf",
            request,
            user,
            403,
            f"cross-site request refused ({seen}): a write with the Airflow UI's session cookie must come "
            "from the studio's own pages; scripts send Authorization: Bearer <token> instead.",
        )
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is not None:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise refuse_at(
                "csrf",
                request,
                user,
                403,
                f"this call takes a JSON body: send Content-Type: application/json "
                f"(got {content_type or 'none'!r}).",
            )


# --------------------------------------------------------------------------- rate


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; :meth:`take` answers how long until one is there."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()

    def take(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


_buckets: dict[str, TokenBucket] = {}


async def rate_limit(request: Request, user: StudioUser = Depends(studio_user)) -> None:
    """Door ``rate``: at most :data:`RATE` requests a second per user (bursts of :data:`BURST`)."""
    bucket = _buckets.setdefault(user.name, TokenBucket(RATE, BURST))
    wait = bucket.take()  # on the event loop: no lock needed
    if wait:
        raise refuse_at(
            "rate",
            request,
            user,
            429,
            f"too many studio requests: at most {RATE:g} a second (bursts of {BURST:g}); "
            f"retry in {math.ceil(wait)} s.",
            Retry_After=str(math.ceil(wait)),
        )


# --------------------------------------------------------------------------- slot

_slots: asyncio.Semaphore | None = None
_user_slots: dict[str, asyncio.Semaphore] = {}


def _threaded(request: Request) -> bool:
    route = request.scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    return endpoint is not None and not inspect.iscoroutinefunction(endpoint)


async def _acquire(semaphore: asyncio.Semaphore, deadline: float) -> bool:
    try:
        await asyncio.wait_for(semaphore.acquire(), max(deadline - time.monotonic(), 0.001))
    except asyncio.TimeoutError:
        return False
    return True


async def slot(request: Request, user: StudioUser = Depends(studio_user)):
    """Door ``slot``: a thread-pool handler waits (without a thread) for one of :data:`SLOTS`."""
    global _slots
    if not _threaded(request):
        yield
        return
    if _slots is None:
        _slots = asyncio.Semaphore(SLOTS)
    mine = _user_slots.setdefault(user.name, asyncio.Semaphore(USER_SLOTS))
    deadline = time.monotonic() + SLOT_WAIT
    if not await _acquire(mine, deadline):
        raise refuse_at(
            "slot", request, user, 429,
            f"you have {USER_SLOTS} studio requests running already; retry in a few seconds.",
            Retry_After="2",
        )  # fmt: skip
    try:
        if not await _acquire(_slots, deadline):
            raise refuse_at(
                "slot", request, user, 503,
                f"the studio is busy (waited {SLOT_WAIT:g} s for one of {SLOTS} workers); retry shortly.",
                Retry_After="5",
            )  # fmt: skip
        try:
            yield
        finally:
            _slots.release()
    finally:
        mine.release()
