"""The qc task: check the rendered video (:mod:`include.stages.qc`), then let it through to
publish only when it passed.

A video that fails QC is never published on its own. What happens instead is the run option
``on_qc_fail``:

- ``fail`` (default): the task fails at once (no retry: the same file fails the same way) with
  the reasons in one sentence, "QC failed: the final audio is silent; …".
- ``review``: the task defers (no worker slot held; the triggerer polls the store) until a
  reviewer decides on that final.mp4 (:class:`include.review.QcReview`: the studio's QC panel or
  ``scripts/review.py qc-approve|qc-reject``). ``approved`` publishes it, ``rejected`` fails the
  task with the reviewer's reason. The decision is bound to the file's sha256: a rerender is
  checked and, if it fails, reviewed again.

``qc/qc.json`` is stored before any of this, so the studio shows why.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, AsyncIterator

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.core.errors import FatalError
from include.pipeline import stage_io, transcriber
from include.review import QcReview, qc_report_key
from include.storage import ArtifactStore

REVIEW_TIMEOUT = timedelta(days=7)
# A deferred task's wait counts against its execution_timeout: the check itself takes minutes,
# the review may take the whole review timeout.
EXECUTION_TIMEOUT = REVIEW_TIMEOUT + timedelta(hours=1)
RESULT_KEYS = ("passed", "summary", "failures", "warnings", "final_sha256", "cost")


class QcDecisionTrigger(BaseTrigger):
    """Polls the store until a QC decision on ``final_sha256`` exists, then fires once."""

    def __init__(self, store_root: str, tenant: str, video_id: str, final_sha256: str,
                 poll_interval: float = 5.0):
        super().__init__()
        self.store_root, self.tenant, self.video_id = store_root, tenant, video_id
        self.final_sha256, self.poll_interval = final_sha256, poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"store_root": self.store_root, "tenant": self.tenant, "video_id": self.video_id,
                 "final_sha256": self.final_sha256, "poll_interval": self.poll_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        review = QcReview(ArtifactStore(self.store_root), self.tenant, self.video_id)
        while True:
            try:
                decision = await asyncio.to_thread(review.decision, self.final_sha256)
            except Exception as exc:  # an unreadable decision: the reviewer's error, say so
                yield TriggerEvent({"decision": "invalid", "reason": str(exc)})
                return
            if decision:
                yield TriggerEvent(decision)
                return
            await asyncio.sleep(self.poll_interval)


class QcGate(BaseOperator):
    """Runs the QC stage on render's final.mp4 and gates publish on its verdict."""

    template_fields = ("rendered", "edited")
    ui_color = "#e8e0f8"

    def __init__(self, *, rendered: Any, edited: Any, poll_interval: float = 5.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rendered, self.edited = rendered, edited
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> dict:
        from include.stages import qc  # the task's own stage, imported when it runs

        with stage_io("qc", self.rendered) as io:
            report = qc.run(
                io.fetch(self.rendered["artifacts"]["final.mp4"]),
                io.fetch(self.edited["artifacts"]["edl.json"]),
                io.out_dir,
                transcriber=transcriber(io.settings),
                captions_path=io.fetch(self.edited["artifacts"]["captions.ass"]),
                script_path=io.fetch(io.script_key()),
            )
            payload = io.publish({k: report[k] for k in RESULT_KEYS})
            for warning in report["warnings"]:
                self.log.warning("qc: %s", warning)
            self.log.info("qc: %s in %.1f s (%.2fx the video)",
                          "passed" if report["passed"] else report["summary"],
                          report["cost"]["total_seconds"], report["cost"]["total_over_duration"])
            if report["passed"]:
                return payload
            if io.settings.on_qc_fail == "fail":
                raise FatalError(report["summary"].rstrip(".") + "; not published (on_qc_fail=fail).")
            review = QcReview(io.store, io.tenant, io.video_id)
            decision = review.decision(report["final_sha256"])
            if decision is None:
                self.log.info("qc: waiting for a reviewer to publish or reject %s (the studio's "
                              "video page, or scripts/review.py qc-approve)", io.video_id)
                self.defer(
                    trigger=QcDecisionTrigger(io.store.root_url, io.tenant, io.video_id,
                                              report["final_sha256"], self.poll_interval),
                    method_name="execute_complete",
                    timeout=REVIEW_TIMEOUT,
                )
            return self._decided(decision, payload)

    def execute_complete(self, context: Any, event: dict | None = None) -> dict:
        event = event or {}
        if event.get("decision") == "invalid":
            raise AirflowFailException(f"qc: the QC decision is not valid: {event['reason']}")
        tenant, video_id = self.rendered["tenant"], self.rendered["video_id"]
        review = QcReview(ArtifactStore(), tenant, video_id)
        try:  # what is on file now, not the event
            report = review.report() or {}
            decision = review.decision(str(report.get("final_sha256") or "")) or event
        except FatalError as exc:
            raise AirflowFailException(f"qc: {exc}") from None
        payload = {"video_id": video_id, "tenant": tenant,
                   "artifacts": {"qc.json": qc_report_key(tenant, video_id)},
                   "result": {k: report.get(k) for k in RESULT_KEYS}}
        return self._decided(decision, payload)

    def _decided(self, decision: dict, payload: dict) -> dict:
        summary = payload["result"]["summary"]
        if decision.get("decision") != "approved":
            raise AirflowFailException(
                f"qc: {summary.rstrip('.')}, and {decision.get('by')} rejected it: "
                f"{decision.get('reason') or 'no reason given'}.")
        self.log.info("qc: %s; published anyway: %s approved it at %s", summary,
                      decision.get("by"), decision.get("at"))
        payload["result"]["approved_by"] = decision.get("by")
        return payload
