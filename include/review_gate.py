"""The review gate: a deferrable sensor that waits for a reviewer's decision in the store.

- ``autopilot``: passes at once; downstream uses ``script/script.json``.
- ``review_before_tts``: if no decision exists yet, the task defers to :class:`ApprovalTrigger`
  (it frees its worker slot; the triggerer polls the store). ``approved`` releases the run with
  ``review/script.json``; ``rejected`` or the review timeout fails the gate with the reason.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, AsyncIterator

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.core.options import Settings
from include.review import read_decision, reviewed_script_key
from include.stages.script import validate_review
from include.storage import ArtifactStore


class ApprovalTrigger(BaseTrigger):
    """Polls the store until ``review/approval.json`` appears, then fires once with it."""

    def __init__(self, store_root: str, tenant: str, video_id: str, poll_interval: float = 5.0):
        super().__init__()
        self.store_root = store_root
        self.tenant = tenant
        self.video_id = video_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "store_root": self.store_root,
                "tenant": self.tenant,
                "video_id": self.video_id,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        store = ArtifactStore(self.store_root)
        while True:
            try:
                decision = await asyncio.to_thread(read_decision, store, self.tenant, self.video_id)
            except Exception as exc:  # an unreadable decision is the reviewer's error, not a retry
                yield TriggerEvent({"decision": "invalid", "reason": str(exc)})
                return
            if decision:
                yield TriggerEvent(decision)
                return
            await asyncio.sleep(self.poll_interval)


class ReviewGateSensor(BaseSensorOperator):
    """Waits for an approved script in ``review_before_tts`` mode; passes at once in autopilot."""

    template_fields = ("script_mode", "scripted")
    ui_color = "#fdf2d0"

    def __init__(
        self,
        *,
        scripted: Any,
        script_mode: str = "{{ params.script_mode }}",
        poll_interval: float = 5.0,
        review_timeout: timedelta = timedelta(days=7),
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poll_interval, timeout=review_timeout, **kwargs)
        self.scripted = scripted
        self.script_mode = script_mode
        self.poll_interval = poll_interval

    def _ids(self) -> tuple[str, str]:
        return self.scripted["tenant"], self.scripted["video_id"]

    def execute(self, context: Any) -> dict:
        tenant, video_id = self._ids()
        if self.script_mode == "autopilot":
            self.log.info("autopilot: no review, using the generated script")
            return self._result(self.scripted["artifacts"]["script.json"], reviewed=False)
        store = ArtifactStore()
        decision = read_decision(store, tenant, video_id)
        if decision is None:
            self.log.info(
                "waiting for a review of %s (approve with: make approve VIDEO=%s TENANT=%s)",
                video_id, video_id, tenant,
            )
            self.defer(
                trigger=ApprovalTrigger(store.root_url, tenant, video_id, self.poll_interval),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout),
            )
        return self._decide(decision, context)

    def execute_complete(self, context: Any, event: dict | None = None) -> dict:
        return self._decide(event or {}, context)

    def _decide(self, decision: dict, context: Any) -> dict:
        tenant, video_id = self._ids()
        verdict = decision.get("decision")
        if verdict != "approved":
            reason = decision.get("reason") or "no reason given"
            raise AirflowFailException(f"review_gate: the script was {verdict}: {reason}")
        store = ArtifactStore()
        key = reviewed_script_key(tenant, video_id)
        original = store.get_json(self.scripted["artifacts"]["script.json"])
        if not store.exists(key):
            key = self.scripted["artifacts"]["script.json"]
        else:
            try:  # re-check at the gate: the file may have been edited by hand
                validate_review(original, store.get_json(key), Settings.from_mapping(context["params"]))
            except Exception as exc:
                raise AirflowFailException(f"review_gate: the reviewed script is not valid: {exc}") from None
        self.log.info("approved by %s at %s", decision.get("by"), decision.get("at"))
        return self._result(key, reviewed=True, by=decision.get("by"))

    def _result(self, script_key: str, **extra: Any) -> dict:
        tenant, video_id = self._ids()
        return {
            "video_id": video_id,
            "tenant": tenant,
            "artifacts": {"script.json": script_key},
            "result": extra,
        }
