"""The publish task: a small operator, so that a used-up quota waits deferred.

:class:`PublishOperator` runs the publish stage like every other task (``stage_io``), with the
run's publisher and a :class:`~include.pipeline.StoreLedger`. When the provider says "come back
later" (:class:`~include.providers.cloud.QuotaWait`: YouTube's ``quotaExceeded`` /
``uploadLimitExceeded``, reset at midnight Pacific, or a long ``Retry-After``) the task defers to
:class:`WaitTrigger` — the worker slot is free while it waits — and runs the stage again when the
time has come: the ledger makes that try resume the saved upload session or find the receipt.

Settings (environment variable, else Airflow Variable):

* ``VIDEO_PUBLISH_MAX_WAIT`` / ``publish_max_wait_seconds``: the longest a task may wait in
  total (default 93600 s = 26 h); a wait past it fails the task with the provider's message.
* ``VIDEO_PUBLISH_QUOTA_WAIT`` / ``publish_quota_wait_seconds``: wait this many seconds for a
  quota reset instead of until midnight Pacific (for tests and for quotas that reset earlier).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.core.files import write_json
from include.core.keys import receipt_name
from include.pipeline import (
    StoreLedger,
    publish_options,
    publisher_for,
    run_usage,
    stage_io,
)
from include.providers.cloud import QuotaWait
from include.stages import publish
from include.storage import configured

DEFAULT_MAX_WAIT = 26 * 3600.0
log = logging.getLogger(__name__)  # stdlib logging reaches the task (and triggerer) log


def wait_limits() -> tuple[float, float | None]:
    """(longest total wait, quota wait override or None) from the settings."""
    max_wait = float(configured("VIDEO_PUBLISH_MAX_WAIT", "publish_max_wait_seconds",
                                str(DEFAULT_MAX_WAIT)))
    quota = configured("VIDEO_PUBLISH_QUOTA_WAIT", "publish_quota_wait_seconds", "")
    return max_wait, (float(quota) if str(quota).strip() else None)


class WaitTrigger(BaseTrigger):
    """Fires once at ``moment`` (ISO 8601, UTC) with what the task needs to go on."""

    def __init__(self, moment: str, waited: float, reason: str = "") -> None:
        super().__init__()
        self.moment, self.waited, self.reason = moment, float(waited), reason

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"moment": self.moment, "waited": self.waited, "reason": self.reason})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        until = datetime.fromisoformat(self.moment)
        log.info("publish waits until %s (%s)", self.moment, self.reason)
        while (left := (until - datetime.now(timezone.utc)).total_seconds()) > 0:
            await asyncio.sleep(min(left, 60.0))
        yield TriggerEvent({"waited": self.waited, "reason": self.reason, "until": self.moment})


class PublishOperator(BaseOperator):
    """Publishes the rendered video with its metadata, thumbnail and captions (exactly once)."""

    template_fields = ("rendered", "described", "thumbnailed", "captioned")
    ui_color = "#d8f0d2"

    def __init__(self, *, rendered: Any, described: Any, thumbnailed: Any, captioned: Any,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rendered, self.described = rendered, described
        self.thumbnailed, self.captioned = thumbnailed, captioned

    def execute(self, context: Any, waited: float = 0.0) -> dict:
        with stage_io("publish", self.rendered) as io:
            ledger = StoreLedger(io.store, io.tenant, io.video_id)
            try:
                receipt = publish.run(
                    io.fetch(self.rendered["artifacts"]["final.mp4"]),
                    io.fetch(self.described["artifacts"]["metadata.json"]),
                    io.out_dir,
                    publisher=publisher_for(io.settings),
                    ledger=ledger,
                    options=publish_options(io.settings),
                    video_id=io.video_id,
                    thumbnail_path=io.fetch(self.thumbnailed["artifacts"]["thumbnail.jpg"],
                                            "thumbnail.jpg"),
                    captions_path=io.fetch(self.captioned["artifacts"]["captions.srt"],
                                           "captions.srt"),
                )
            except QuotaWait as wait:
                self.wait(wait, waited)
            if waited:  # the receipt records the quota wait too
                receipt["waited_seconds"] = round(waited, 3)
                ledger.put(receipt_name(receipt["target"]), receipt)
                write_json(io.out_dir / "receipt.json", receipt)
            return io.publish({**receipt, "usage": run_usage(io.out_dir)})

    def wait(self, wait: QuotaWait, waited: float) -> None:
        """Defer until the provider's time (or fail when that is past the limit)."""
        max_wait, quota_override = wait_limits()
        now = datetime.now(timezone.utc)
        seconds = max(0.0, (wait.until - now).total_seconds())
        if wait.kind == "quota" and quota_override is not None:
            seconds = quota_override
        if waited + seconds > max_wait:
            raise AirflowFailException(
                f"publish: {wait} Waiting {seconds:.0f} s more would pass the limit of "
                f"{max_wait:.0f} s (publish_max_wait_seconds; {waited:.0f} s waited already)."
            )
        until = now + timedelta(seconds=seconds)
        log.info(
            "publish: %s Deferring for %.0f s, until %s (%.0f s waited before); the worker "
            "slot is free meanwhile.", wait, seconds, until.isoformat(timespec="seconds"), waited)
        self.defer(
            trigger=WaitTrigger(until.isoformat(), waited + seconds, str(wait)),
            method_name="resume",
            timeout=timedelta(seconds=seconds + 3600),
        )

    def resume(self, context: Any, event: dict | None = None) -> dict:
        event = event or {}
        waited = float(event.get("waited", 0.0))
        log.info("publish: waited until %s (%.0f s in all); trying again",
                      event.get("until"), waited)
        return self.execute(context, waited=waited)
