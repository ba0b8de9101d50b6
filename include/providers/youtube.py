"""YouTube Data API v3: OAuth2 user credentials, resumable chunked upload, videos.list/update/
delete, thumbnail, captions.

Used by :class:`include.providers.publishers.YouTubePublisher` through :class:`Channel`;
google-api-python-client, google-auth and httplib2 are imported when a channel is opened.

Credentials are the ``youtube_default`` connection's extra: ``client_id``, ``client_secret``,
``refresh_token``, optional ``token_uri`` and ``api_endpoint`` (a proxy or a test server; the
``HTTPLIB2_CA_CERTS`` environment variable names a private CA bundle for it).

The upload is resumable: a dropped connection, a timeout, a 5xx or a 429 (after a short
Retry-After) resumes from the byte YouTube says it has (``Range`` of the 308 answer to an empty
``PUT``), up to :data:`MAX_RESUMES` times in a row; then the task fails as retryable. The session
(its URI, the file's hash, bytes confirmed) is handed to a ``save`` callback before the first
byte and after every chunk, so a later try resumes it with a status query
(``Content-Range: bytes */<total>``: 308 with ``Range``, or 200/201 with the finished video)
instead of uploading the file again.

A used-up quota (``quotaExceeded``, ``dailyLimitExceeded``, ``uploadLimitExceeded``) and a
``Retry-After`` longer than :data:`MAX_INLINE_WAIT` raise :class:`QuotaWait` with the time to
come back (quotas reset at midnight Pacific).
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from include.core.errors import FatalError, RetryableError
from include.providers.cloud import ProviderConfig, QuotaWait, raise_for_status

log = logging.getLogger(__name__)

SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.force-ssl",  # captions.insert needs it
)
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
CHUNK_BYTES = 8 * 2**20  # a multiple of 256 KiB, as the resumable protocol wants
MAX_RESUMES = 5  # consecutive dropped connections before the task gives up (and Airflow retries)
RESUME_BACKOFF = 1.0  # seconds, times the number of consecutive failures
MAX_INLINE_WAIT = 5.0  # a longer Retry-After is waited out deferred (QuotaWait), not in a worker
HTTP_RETRIES = 2  # googleapiclient's own retries of 5xx/429 answers per request
WATCH_URL = "https://www.youtube.com/watch?v="
QUOTA_RESET_ZONE = ZoneInfo("America/Los_Angeles")  # YouTube quotas reset at midnight Pacific
QUOTA_RESET_MARGIN = timedelta(minutes=5)  # come back a little after the reset
CAPTION_NAME = "Narration"
REAUTHORISE = (
    "re-authorise the app (scopes youtube.upload and youtube.force-ssl) and put the new refresh "
    "token into the extra of the Airflow connection {conn}; while the OAuth consent screen is in "
    "'Testing', refresh tokens expire after 7 days."
)


@dataclass(frozen=True)
class Upload:
    """What to upload and how it should appear; ``sha256`` identifies the file's bytes."""

    video: Path
    snippet: dict
    status: dict
    sha256: str = ""


class Channel:
    """The ``youtube_default`` OAuth user's channel: one authorised client for several calls."""

    def __init__(self, config: ProviderConfig) -> None:
        from googleapiclient.discovery import build

        self.conn = config.conn_id or "youtube_default"
        self.http = _authorized_http(config, self.conn)
        self.service = build(
            "youtube", "v3", http=self.http, static_discovery=True, cache_discovery=False,
            client_options=_client_options(config.extra.get("api_endpoint")),
        )

    # ---- the upload
    def upload(self, job: Upload, *, session: dict | None = None,
               save: Callable[[dict], None] = lambda s: None, chunk_bytes: int = CHUNK_BYTES,
               progress: Callable[[int, int], None] | None = None) -> dict:
        """Upload ``job.video`` with its snippet and status; return the video YouTube made.

        ``session`` is a saved session of the same file to resume first; ``save`` receives the
        session (``upload_uri``, ``sha256``, ``bytes``, ``confirmed``, ``started_at``) before the
        first byte and after every chunk.
        """
        from googleapiclient.http import MediaFileUpload

        size = Path(job.video).stat().st_size
        media = MediaFileUpload(str(job.video), mimetype="video/mp4", chunksize=chunk_bytes,
                                resumable=True)
        request = self.service.videos().insert(
            part="snippet,status", body={"snippet": job.snippet, "status": job.status},
            media_body=media, notifySubscribers=job.status.get("privacyStatus") == "public",
        )
        record = {"sha256": job.sha256, "bytes": size, "upload_uri": None, "confirmed": 0,
                  "started_at": None}
        if _resumable_session(session, job.sha256, size):
            state, value = self.session_status(session["upload_uri"], size)
            if state == "done":
                log.info("YouTube: the saved upload session had already finished (status query "
                         "answered the video %s); nothing is sent again", value.get("id"))
                return value
            if state == "partial":
                log.info("YouTube: resuming the saved upload session at byte %d of %d "
                         "(status query)", value, size)
                request.resumable_uri, request.resumable_progress = session["upload_uri"], value
                record.update(upload_uri=session["upload_uri"], confirmed=value,
                              started_at=session.get("started_at"))
            else:
                log.warning("YouTube: the saved upload session is gone (expired); starting anew")

        def started(uri: str) -> None:
            record.update(upload_uri=uri, confirmed=0, started_at=_utc_now())
            save(dict(record))

        def confirmed(sent: int) -> None:
            record["confirmed"] = sent
            save(dict(record))
            if progress is not None:
                progress(sent, size)

        return _resumable(request, self.conn, started, confirmed)

    def session_status(self, uri: str, size: int) -> tuple[str, object]:
        """Ask YouTube where an upload session stands: ``("partial", bytes confirmed)``,
        ``("done", video)`` or ``("gone", None)``."""
        import httplib2
        from googleapiclient.errors import HttpError

        try:
            resp, content = self.http.request(
                uri, method="PUT", body=b"",
                headers={"Content-Range": f"bytes */{size}", "Content-Length": "0"})
        except (OSError, http.client.HTTPException, httplib2.HttpLib2Error) as exc:
            raise_for_status("YouTube", None, repr(exc), conn_id=self.conn)
        if resp.status in (200, 201):
            return "done", json.loads(content)
        if resp.status == 308:
            got = resp.get("range")
            return "partial", int(got.rsplit("-", 1)[1]) + 1 if got else 0
        if resp.status in (404, 410):
            return "gone", None
        _raise_http_error(HttpError(resp, content, uri=uri), self.conn)

    # ---- the video once it is up
    def video(self, video_id: str) -> dict | None:
        """The video (snippet, status) if it is still on the channel (1 quota unit)."""
        found = self._call(lambda: self.service.videos().list(
            part="snippet,status", id=video_id).execute(num_retries=HTTP_RETRIES))
        items = (found or {}).get("items") or []
        return items[0] if items else None

    def update(self, video_id: str, snippet: dict, status: dict) -> dict:
        """``videos.update`` of title, description, tags, category, language and status."""
        return self._call(lambda: self.service.videos().update(
            part="snippet,status", body={"id": video_id, "snippet": snippet, "status": status},
        ).execute(num_retries=HTTP_RETRIES))

    def delete(self, video_id: str) -> bool:
        """Delete the video; ``False`` when it was already gone."""
        from googleapiclient.errors import HttpError

        try:
            self._call(lambda: self.service.videos().delete(id=video_id).execute(
                num_retries=HTTP_RETRIES), passthrough=True)
        except HttpError as exc:
            if exc.resp.status == 404:
                return False
            _raise_http_error(exc, self.conn)
        return True

    def set_thumbnail(self, video_id: str, path: Path) -> list[str]:
        """Set the custom thumbnail; a refusal is returned as a warning."""
        from googleapiclient.http import MediaFileUpload

        return self._optional("thumbnail", lambda: self.service.thumbnails().set(
            videoId=video_id, media_body=MediaFileUpload(str(path), mimetype="image/jpeg"),
        ).execute(num_retries=HTTP_RETRIES))

    def set_captions(self, video_id: str, path: Path, language: str, *,
                     existing: bool = False) -> list[str]:
        """Put the caption file up as the track :data:`CAPTION_NAME` in ``language``: replaced
        in place when the video already has it (``existing``: look first), else inserted."""
        from googleapiclient.http import MediaFileUpload

        def media():
            return MediaFileUpload(str(path), mimetype="application/octet-stream")

        def put() -> None:
            track = None
            if existing:
                tracks = self.service.captions().list(part="snippet", videoId=video_id).execute(
                    num_retries=HTTP_RETRIES).get("items") or []
                track = next((t["id"] for t in tracks
                              if (t.get("snippet") or {}).get("name") == CAPTION_NAME
                              and (t.get("snippet") or {}).get("language") == language), None)
            if track is not None:
                self.service.captions().update(
                    part="snippet", body={"id": track, "snippet": {"isDraft": False}},
                    media_body=media()).execute(num_retries=HTTP_RETRIES)
                return
            self.service.captions().insert(
                part="snippet",
                body={"snippet": {"videoId": video_id, "language": language,
                                  "name": CAPTION_NAME, "isDraft": False}},
                media_body=media(),
            ).execute(num_retries=HTTP_RETRIES)

        return self._optional("caption track", put)

    def _call(self, call: Callable[[], object], *, passthrough: bool = False):
        """Run an API call; its failures become stage errors (``passthrough``: HttpError stays)."""
        import httplib2
        from googleapiclient.errors import HttpError

        try:
            return call()
        except HttpError as exc:
            if passthrough:
                raise
            _raise_http_error(exc, self.conn)
        except (OSError, http.client.HTTPException, httplib2.HttpLib2Error) as exc:
            raise_for_status("YouTube", None, repr(exc), conn_id=self.conn)

    def _optional(self, what: str, call: Callable[[], object]) -> list[str]:
        """A follow-up call YouTube may refuse (no custom thumbnails on unverified channels, …):
        a refusal is a warning. A used-up quota waits and a transient failure retries: the
        video's receipt is saved by then, so the retry re-sets only this, it uploads nothing."""
        import httplib2
        from googleapiclient.errors import HttpError

        try:
            call()
        except HttpError as exc:
            reason, message = _reason(exc)
            if _transient(exc) or reason in QUOTA_REASONS:
                _raise_http_error(exc, self.conn)
            return [f"the {what} was not set ({exc.resp.status} {reason}: {message})."]
        except (OSError, http.client.HTTPException, httplib2.HttpLib2Error) as exc:
            raise RetryableError(
                f"the {what} could not be set ({exc!r}); the video is up, the retry only sets "
                f"the {what}."
            ) from None
        return []


def _resumable_session(session: dict | None, sha256: str, size: int) -> bool:
    """Whether ``session`` is an unfinished upload of these very bytes."""
    return bool(session and session.get("upload_uri") and not session.get("done")
                and session.get("sha256") == sha256 and session.get("bytes") == size)


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _client_options(endpoint: str | None) -> dict | None:
    """``api_endpoint`` as the client wants it: the API base, ``<root>/youtube/v3/``."""
    if not endpoint:
        return None
    root = endpoint.rstrip("/")
    return {"api_endpoint": root if root.endswith("/youtube/v3") else root + "/youtube/v3/"}


def _authorized_http(config: ProviderConfig, conn: str):
    """An httplib2 client carrying a freshly refreshed user access token."""
    import google_auth_httplib2
    import httplib2
    from google.auth import exceptions
    from google.oauth2.credentials import Credentials

    extra = config.extra
    missing = [k for k in ("client_id", "client_secret", "refresh_token") if not extra.get(k)]
    if missing:
        raise FatalError(
            f"the Airflow connection {conn} lacks {', '.join(missing)} in its extra JSON; "
            "see 'Cloud providers' in the README."
        )
    credentials = Credentials(
        token=None, refresh_token=extra["refresh_token"], client_id=extra["client_id"],
        client_secret=extra["client_secret"], token_uri=extra.get("token_uri") or DEFAULT_TOKEN_URI,
        scopes=list(SCOPES),
    )
    # ca_certs read now, so HTTPLIB2_CA_CERTS works even when httplib2 was imported earlier.
    http = httplib2.Http(timeout=config.timeout, ca_certs=httplib2.certs.where())
    http.redirect_codes = http.redirect_codes - {308}  # 308 is "resume incomplete" here
    try:
        credentials.refresh(google_auth_httplib2.Request(http))
    except exceptions.RefreshError as exc:
        if "invalid_grant" in str(exc):
            raise FatalError(
                "YouTube refused the refresh token (invalid_grant): " + REAUTHORISE.format(conn=conn)
            ) from None
        if getattr(exc, "retryable", False):
            raise RetryableError(f"Google's token endpoint failed: {exc}") from None
        raise FatalError(
            f"Google refused the OAuth client ({exc}): check client_id and client_secret in the "
            f"extra of the Airflow connection {conn}."
        ) from None
    except (exceptions.TransportError, OSError, httplib2.HttpLib2Error) as exc:
        raise_for_status("Google's token endpoint", None, repr(exc), conn_id=conn)
    return google_auth_httplib2.AuthorizedHttp(credentials, http=http)


def _resumable(request, conn: str, started: Callable[[str], None],
               confirmed: Callable[[int], None]) -> dict:
    """Drive a resumable upload to its end, resuming after dropped connections and 5xx/429.

    The session is opened here (not inside the client library) so that ``started`` can save its
    URI before the first byte. The client library's own chunk retries are off: they resend an
    already-read file slice as an empty body. After a failure, the next call asks YouTube how
    far it got and goes on from there.
    """
    import httplib2
    from googleapiclient.errors import HttpError

    failures = 0
    response = None
    while response is None:
        try:
            if request.resumable_uri is None:
                started(_open_session(request))
            status, response = request.next_chunk(num_retries=0)
        except HttpError as exc:
            if not _transient(exc):
                _raise_http_error(exc, conn)
            problem, wait = exc, _retry_after(exc)
            if wait is not None and wait > MAX_INLINE_WAIT:
                raise QuotaWait(
                    f"YouTube asked to wait {wait:.0f} s ({exc.resp.status}); the upload session "
                    "is saved and resumes then.",
                    until=datetime.now(timezone.utc) + timedelta(seconds=wait), kind="retry_after",
                ) from None
        except (OSError, http.client.HTTPException, httplib2.HttpLib2Error) as exc:
            problem, wait = exc, None
        else:
            failures = 0
            if status is not None:
                confirmed(status.resumable_progress)
            continue
        failures += 1
        if failures > MAX_RESUMES:
            raise RetryableError(
                f"the upload to YouTube failed {failures} times in a row ({problem!r}); "
                "it will be retried."
            ) from None
        wait = wait if wait is not None else RESUME_BACKOFF * failures
        log.warning("YouTube upload interrupted (%r); resuming in %.1f s (attempt %d)",
                    problem, wait, failures)
        time.sleep(wait)
    return response


def _open_session(request) -> str:
    """Start the resumable session of an ``insert`` request (what the client library does on its
    first ``next_chunk``) and return its URI; no media byte is sent yet."""
    from googleapiclient.errors import HttpError

    headers = dict(request.headers)
    headers["X-Upload-Content-Type"] = request.resumable.mimetype()
    headers["X-Upload-Content-Length"] = str(request.resumable.size())
    headers["content-length"] = str(request.body_size)
    resp, content = request.http.request(request.uri, method=request.method, body=request.body,
                                         headers=headers)
    if resp.status == 200 and "location" in resp:
        request.resumable_uri = resp["location"]
        return resp["location"]
    raise HttpError(resp, content, uri=request.uri)


def _transient(exc) -> bool:
    reason, _ = _reason(exc)
    return exc.resp.status >= 500 or exc.resp.status == 429 or reason in (
        "rateLimitExceeded", "userRateLimitExceeded", "backendError")


def _retry_after(exc) -> float | None:
    """The server's Retry-After in seconds, if it sent one."""
    try:
        return max(0.0, float(exc.resp.get("retry-after")))
    except (TypeError, ValueError):
        return None


QUOTA_REASONS = ("quotaExceeded", "dailyLimitExceeded", "uploadLimitExceeded")


def _raise_http_error(exc, conn: str):
    """An API error as a stage error; a used-up quota is a :class:`QuotaWait` until its reset."""
    status = exc.resp.status
    reason, message = _reason(exc)
    if reason in ("quotaExceeded", "dailyLimitExceeded"):
        raise QuotaWait(
            f"YouTube's daily API quota is used up ({reason}); {_after_quota_reset()} or ask "
            "Google for more quota.", until=next_quota_reset(),
        )
    if reason == "uploadLimitExceeded":
        raise QuotaWait(
            "this channel has reached YouTube's upload limit (uploadLimitExceeded); "
            f"{_after_quota_reset()}.", until=next_quota_reset(),
        )
    wait = _retry_after(exc)
    if status == 429 and wait is not None and wait > MAX_INLINE_WAIT:
        raise QuotaWait(f"YouTube answered 429 and asked to wait {wait:.0f} s.",
                        until=datetime.now(timezone.utc) + timedelta(seconds=wait),
                        kind="retry_after")
    if status == 401:
        raise FatalError("YouTube rejected the access token (401): " + REAUTHORISE.format(conn=conn))
    if status == 403 and reason in ("insufficientPermissions", "forbidden"):
        raise FatalError(
            f"YouTube refused the request ({reason}: {message}): " + REAUTHORISE.format(conn=conn)
        )
    raise_for_status("YouTube", status, f"{reason}: {message}", conn_id=conn,
                     retry_after=exc.resp.get("retry-after"))


def _reason(exc) -> tuple[str, str]:
    try:
        error = json.loads(exc.content.decode("utf-8"))["error"]
        return (error.get("errors") or [{}])[0].get("reason", ""), error.get("message", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", str(exc)


def next_quota_reset(now: datetime | None = None) -> datetime:
    """The next midnight Pacific time (plus :data:`QUOTA_RESET_MARGIN`), tz-aware."""
    now = (now or datetime.now(QUOTA_RESET_ZONE)).astimezone(QUOTA_RESET_ZONE)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(),
                                tzinfo=QUOTA_RESET_ZONE)
    return midnight + QUOTA_RESET_MARGIN


def _after_quota_reset(now: datetime | None = None) -> str:
    """'retry after midnight Pacific time (in 5 h 12 min)'."""
    now = (now or datetime.now(QUOTA_RESET_ZONE)).astimezone(QUOTA_RESET_ZONE)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(),
                                tzinfo=QUOTA_RESET_ZONE)
    minutes = int((midnight - now).total_seconds() // 60)
    return (
        f"retry after midnight Pacific time ({midnight.isoformat()}, "
        f"in {minutes // 60} h {minutes % 60} min)"
    )
