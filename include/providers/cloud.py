"""What every cloud provider shares: its plain config and how its failures become stage errors.

The DAG layer builds a :class:`ProviderConfig` from an Airflow Connection (API key, optional base
URL, extra JSON) and the Params/Variables (model, voice); providers receive only that object.

:func:`raise_for_status` is the single place that decides what a provider failure means:

* 429, 5xx, timeouts and dropped connections are :class:`RetryableError` (Airflow retries with
  backoff; the SDKs already honoured ``Retry-After`` for their own short retries first);
* 400/401/403/404 and the like are :class:`FatalError` with a sentence saying what to fix;
* a used-up quota or a long ``Retry-After`` is :class:`QuotaWait`: the task should wait until
  ``until`` (the Airflow layer defers it, freeing the worker) rather than fail or hammer.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterator, NoReturn

from include.core.errors import FatalError, RetryableError

DEFAULT_TIMEOUT = 120.0  # seconds per request
DEFAULT_MAX_RETRIES = 2  # SDK-level retries (they honour Retry-After) before Airflow's own


@dataclass(frozen=True)
class ProviderConfig:
    """Credentials and choices for one provider; no secrets ever come from anywhere else.

    ``conn_id`` names the Airflow Connection the credentials came from, for error messages.
    """

    conn_id: str = ""
    api_key: str = ""
    base_url: str | None = None
    model: str = ""
    voice: str = ""
    extra: dict = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    concurrency: int = 4

    def require_key(self, service: str) -> str:
        if not self.api_key:
            raise FatalError(
                f"no {service} API key: set the password of the Airflow connection "
                f"{self.conn_id or '<provider>_default'}."
            )
        return self.api_key


class QuotaWait(RetryableError):
    """The provider asks us to come back later: at ``until`` (tz-aware).

    ``kind`` is ``quota`` (a daily quota or upload limit, reset at a known time) or
    ``retry_after`` (the server's ``Retry-After``). Left unhandled it is an ordinary retryable
    error.
    """

    def __init__(self, message: str, *, until: datetime, kind: str = "quota") -> None:
        super().__init__(message)
        self.until, self.kind = until, kind


def installed(*modules: str) -> bool:
    """Whether every module can be imported, without importing it."""
    return all(importlib.util.find_spec(module) is not None for module in modules)


def raise_for_status(
    service: str,
    status: int | None,
    detail: str,
    *,
    conn_id: str = "",
    retry_after: str | None = None,
) -> NoReturn:
    """Raise the stage error for an HTTP ``status`` (``None``: no response, e.g. a timeout)."""
    detail = " ".join(str(detail).split())[:300]
    if status is None:
        raise RetryableError(f"{service} could not be reached ({detail}); it will be retried.")
    if status == 429 or status >= 500 or status == 408:
        wait = f" (it asked to wait {retry_after} s)" if retry_after else ""
        raise RetryableError(f"{service} answered {status}{wait}: {detail}")
    where = f"the Airflow connection {conn_id}" if conn_id else "its Airflow connection"
    if status == 401:
        raise FatalError(f"{service} rejected the API key (401): fix the password of {where}.")
    if status == 403:
        raise FatalError(
            f"{service} refused access (403: {detail}): check the key's permissions in {where}."
        )
    if status == 404:
        raise FatalError(
            f"{service} does not know the model, voice or endpoint (404: {detail}): "
            f"check the model/voice params and the host of {where}."
        )
    raise FatalError(f"{service} refused the request ({status}: {detail}); fix the request.")


@contextlib.contextmanager
def sdk_errors(module: str, service: str, conn_id: str) -> Iterator[None]:
    """The status and connection errors of the ``openai`` or ``anthropic`` SDK (both generated
    alike: ``APIStatusError``, ``APIConnectionError`` incl. timeouts) as stage errors."""
    sdk = importlib.import_module(module)
    try:
        yield
    except sdk.APIStatusError as exc:
        raise_for_status(service, exc.status_code, exc.message, conn_id=conn_id,
                         retry_after=exc.response.headers.get("retry-after"))
    except sdk.APIConnectionError as exc:
        raise_for_status(service, None, str(exc), conn_id=conn_id)
