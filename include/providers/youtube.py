"""YouTube Data API v3 upload: OAuth2 user credentials, resumable chunked upload, thumbnail, captions.

Used by :class:`include.providers.publishers.YouTubePublisher`; google-api-python-client,
google-auth and httplib2 are imported when an upload starts.

Credentials are the ``youtube_default`` connection's extra: ``client_id``, ``client_secret``,
``refresh_token``, optional ``token_uri`` and ``api_endpoint`` (a proxy or a test server; the
``HTTPLIB2_CA_CERTS`` environment variable names a private CA bundle for it).

The upload is resumable: a dropped connection, a timeout, a 5xx or a 429 (after its Retry-After)
resumes from the byte YouTube says it has (``Range`` of the 308 answer to an empty ``PUT``), up to
:data:`MAX_RESUMES` times in a row; then the task fails as retryable.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from include.core.errors import FatalError, RetryableError
from include.providers.cloud import ProviderConfig, raise_for_status

log = logging.getLogger(__name__)

SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.force-ssl",  # captions.insert needs it
)
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
CHUNK_BYTES = 8 * 2**20  # a multiple of 256 KiB, as the resumable protocol wants
MAX_RESUMES = 5  # consecutive dropped connections before the task gives up (and Airflow retries)
RESUME_BACKOFF = 1.0  # seconds, times the number of consecutive failures
MAX_RETRY_AFTER = 60.0  # longer waits are left to Airflow's retries
HTTP_RETRIES = 2  # googleapiclient's own retries of 5xx/429 answers per request
WATCH_URL = "https://www.youtube.com/watch?v="
QUOTA_RESET_ZONE = ZoneInfo("America/Los_Angeles")  # YouTube quotas reset at midnight Pacific
REAUTHORISE = (
    "re-authorise the app (scopes youtube.upload and youtube.force-ssl) and put the new refresh "
    "token into the extra of the Airflow connection {conn}; while the OAuth consent screen is in "
    "'Testing', refresh tokens expire after 7 days."
)


@dataclass(frozen=True)
class Upload:
    """What to upload and how it should appear."""

    video: Path
    snippet: dict
    status: dict
    thumbnail: Path | None = None
    captions: Path | None = None
    caption_language: str = "en"


@dataclass(frozen=True)
class Uploaded:
    video_id: str
    url: str
    privacy: str
    warnings: list[str]


def upload(job: Upload, config: ProviderConfig, *, chunk_bytes: int = CHUNK_BYTES,
           progress: Callable[[int, int], None] | None = None) -> Uploaded:
    """Upload ``job.video`` with its snippet and status, then its thumbnail and captions.

    A thumbnail or caption track YouTube refuses is reported in ``warnings`` (the video is
    already up; failing now would upload it twice on retry).
    """
    from googleapiclient.discovery import build
    from googleapiclient.http import MediaFileUpload

    conn = config.conn_id or "youtube_default"
    service = build(
        "youtube", "v3", http=_authorized_http(config, conn), static_discovery=True,
        cache_discovery=False, client_options=_client_options(config.extra.get("api_endpoint")),
    )
    media = MediaFileUpload(str(job.video), mimetype="video/mp4", chunksize=chunk_bytes,
                            resumable=True)
    request = service.videos().insert(
        part="snippet,status", body={"snippet": job.snippet, "status": job.status},
        media_body=media, notifySubscribers=job.status.get("privacyStatus") == "public",
    )
    response = _resumable(request, conn, progress)
    video_id = response["id"]
    asked = job.status.get("privacyStatus")
    got = (response.get("status") or {}).get("privacyStatus", asked)
    log.info("YouTube video %s: privacy asked %s, YouTube set %s", video_id, asked, got)
    warnings = []
    if got != asked:
        warnings.append(
            f"YouTube made the video {got}, not {asked}: uploads from API projects that Google "
            "has not audited are locked to private."
        )
    if job.thumbnail is not None:
        warnings += _optional("thumbnail", lambda: service.thumbnails().set(
            videoId=video_id, media_body=MediaFileUpload(str(job.thumbnail), mimetype="image/jpeg"),
        ).execute(num_retries=HTTP_RETRIES))
    if job.captions is not None:
        warnings += _optional("caption track", lambda: service.captions().insert(
            part="snippet",
            body={"snippet": {"videoId": video_id, "language": job.caption_language,
                              "name": "Narration", "isDraft": False}},
            media_body=MediaFileUpload(str(job.captions), mimetype="application/octet-stream"),
        ).execute(num_retries=HTTP_RETRIES))
    for warning in warnings:
        log.warning("YouTube video %s: %s", video_id, warning)
    return Uploaded(video_id, WATCH_URL + video_id, got, warnings)


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


def _resumable(request, conn: str, progress: Callable[[int, int], None] | None) -> dict:
    """Drive a resumable upload to its end, resuming after dropped connections and 5xx/429.

    The client library's own chunk retries are off: they resend an already-read file slice as an
    empty body. After a failure, the next call asks YouTube how far it got and goes on from there.
    """
    import httplib2
    from googleapiclient.errors import HttpError

    failures = 0
    response = None
    while response is None:
        try:
            status, response = request.next_chunk(num_retries=0)
        except HttpError as exc:
            if not _transient(exc):
                _raise_http_error(exc, conn)
            problem, wait = exc, _retry_after(exc)
        except (OSError, http.client.HTTPException, httplib2.HttpLib2Error) as exc:
            problem, wait = exc, None
        else:
            failures = 0
            if status is not None and progress is not None:
                progress(status.resumable_progress, status.total_size)
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


def _transient(exc) -> bool:
    reason, _ = _reason(exc)
    return exc.resp.status >= 500 or exc.resp.status == 429 or reason in (
        "rateLimitExceeded", "userRateLimitExceeded", "backendError")


def _retry_after(exc) -> float | None:
    """The server's Retry-After in seconds (capped at MAX_RETRY_AFTER), if it sent one."""
    try:
        return min(float(exc.resp.get("retry-after")), MAX_RETRY_AFTER)
    except (TypeError, ValueError):
        return None


def _optional(what: str, call: Callable[[], object]) -> list[str]:
    """Run a follow-up call; any failure becomes a warning, since retrying the task would upload
    the video a second time (the client library already retried 5xx answers)."""
    import httplib2
    from googleapiclient.errors import HttpError

    try:
        call()
    except HttpError as exc:
        reason, message = _reason(exc)
        return [f"the {what} was not set ({exc.resp.status} {reason}: {message})."]
    except (OSError, http.client.HTTPException, httplib2.HttpLib2Error) as exc:
        return [f"the {what} was not set ({exc!r})."]
    return []


def _raise_http_error(exc, conn: str):
    """An API error as a stage error; quota errors say when to try again."""
    status = exc.resp.status
    reason, message = _reason(exc)
    if reason in ("quotaExceeded", "dailyLimitExceeded"):
        raise FatalError(
            f"YouTube's daily API quota is used up ({reason}); {_after_quota_reset()} or ask "
            "Google for more quota."
        )
    if reason == "uploadLimitExceeded":
        raise FatalError(
            "this channel has reached YouTube's upload limit (uploadLimitExceeded); "
            "retry in 24 hours."
        )
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
