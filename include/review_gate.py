"""The review gate: a deferrable sensor that waits for a reviewer's decision in the store.

- ``autopilot``: passes at once; downstream narrates what :mod:`include.review` calls current.
- ``review_before_tts``: unless a decision bound to the current script revision and this run
  exists, the task defers to :class:`ApprovalTrigger` (it frees its worker slot; the triggerer
  polls the store). A decision for another revision or run is ignored, and the log says so.
  ``approved`` releases the run; ``rejected`` or the review timeout fails the gate with the reason.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, AsyncIterator

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.core.options import Settings
from include.review import ScriptReview, ScriptState
from include.storage import ArtifactStore


def decision_for(state: ScriptState, revision: str, run_id: str) -> tuple[dict | None, list[str]]:
    """The decision that releases (or fails) the gate of ``run_id`` waiting on ``revision``, if
    there is one yet, and a sentence about every decision on file that does not count."""
    notes = list(state.ignored_decisions)
    if state.revision != revision:
        notes.append(
            f"script/script.json is now revision {state.revision}, this gate waits for a decision "
            f"on revision {revision}."
        )
        return None, notes
    decision = state.decision
    if decision is not None and decision.get("run_id") != run_id:
        notes.append(
            f"ignoring the decision for revision {revision}: it was made for run "
            f"{decision.get('run_id')!r}, this is run {run_id!r}."
        )
        return None, notes
    return decision, notes


def pending_decision(
    store: ArtifactStore, tenant: str, video_id: str, revision: str, run_id: str
) -> tuple[dict | None, list[str]]:
    """:func:`decision_for` on what is in the store now."""
    return decision_for(ScriptReview(store, tenant, video_id).state(), revision, run_id)


class ApprovalTrigger(BaseTrigger):
    """Polls the store until a decision bound to ``revision`` and ``run_id`` appears, then fires
    once with it. Decisions for other revisions are logged (once each) and ignored."""

    def __init__(self, store_root: str, tenant: str, video_id: str, revision: str = "",
                 run_id: str = "", poll_interval: float = 5.0):
        super().__init__()
        self.store_root = store_root
        self.tenant = tenant
        self.video_id = video_id
        self.revision = revision
        self.run_id = run_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "store_root": self.store_root,
                "tenant": self.tenant,
                "video_id": self.video_id,
                "revision": self.revision,
                "run_id": self.run_id,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        store = ArtifactStore(self.store_root)
        said: set[str] = set()
        while True:
            try:
                decision, notes = await asyncio.to_thread(
                    pending_decision, store, self.tenant, self.video_id, self.revision, self.run_id
                )
            except Exception as exc:  # an unreadable decision is the reviewer's error, not a retry
                yield TriggerEvent({"decision": "invalid", "reason": str(exc)})
                return
            for note in notes:
                if note not in said:
                    said.add(note)
                    self.log.info("review_gate keeps waiting, %s", note)
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

    def _review(self) -> ScriptReview:
        return ScriptReview(ArtifactStore(), self.scripted["tenant"], self.scripted["video_id"])

    def execute(self, context: Any) -> dict:
        review = self._review()
        if self.script_mode == "autopilot":
            self.log.info("autopilot: no review, narrating %s", review.current_key())
            return self._result(review.state(), reviewed=False)
        return self._wait_or_decide(review.state(), context)

    def execute_complete(self, context: Any, event: dict | None = None) -> dict:
        if (event or {}).get("decision") == "invalid":
            raise AirflowFailException(f"review_gate: the review decision is not valid: {event['reason']}")
        # Decide on what is on file now, not on the event: the decision may have been withdrawn
        # or the script replaced since the trigger fired.
        return self._wait_or_decide(self._review().state(), context)

    def _wait_or_decide(self, state: ScriptState, context: Any) -> dict:
        store = ArtifactStore()
        run_id = str(context["run_id"])
        if state.run_id and state.run_id != run_id:
            self.log.warning(
                "script/script.json was written by run %s, not this run (%s): a decision on it "
                "will not release this run; rerun from script", state.run_id, run_id,
            )
        decision, notes = decision_for(state, state.revision, run_id)
        for note in notes:
            self.log.info("review_gate: %s", note)
        if decision is None:
            self.log.info(
                "waiting for a review of %s, script revision %s (approve with: make approve "
                "VIDEO=%s TENANT=%s)", state.video_id, state.revision, state.video_id, state.tenant,
            )
            self.defer(
                trigger=ApprovalTrigger(store.root_url, state.tenant, state.video_id, state.revision,
                                        run_id, self.poll_interval),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout),
            )
        return self._decide(state, decision, context)

    def _decide(self, state: ScriptState, decision: dict, context: Any) -> dict:
        verdict = decision.get("decision")
        if verdict != "approved":
            reason = decision.get("reason") or "no reason given"
            raise AirflowFailException(f"review_gate: the script was {verdict}: {reason}")
        if state.narration_sha256 != decision.get("reviewed_sha256"):
            made = (state.edit or {}).get("review") or {}
            if not made.get("after_decision"):
                raise AirflowFailException(
                    "review_gate: the reviewed script changed after it was approved (a racing "
                    "edit); review it again: rerun from review_gate."
                )
            self.log.info("the script was edited by %s after the approval; narrating that edit",
                          made.get("by"))
        if state.edit is not None:
            from include.stages.script import validate_review

            try:  # re-check at the gate: the file may have been edited by hand
                validate_review(state.script, state.edit, Settings.from_mapping(context["params"]))
            except Exception as exc:
                raise AirflowFailException(f"review_gate: the reviewed script is not valid: {exc}") from None
        self.log.info("revision %s approved by %s at %s; narrating %s",
                      state.revision, decision.get("by"), decision.get("at"), state.key)
        return self._result(state, reviewed=True, by=decision.get("by"))

    def _result(self, state: ScriptState, **extra: Any) -> dict:
        return {
            "video_id": state.video_id,
            "tenant": state.tenant,
            "artifacts": {"script.json": state.key},
            "result": {"revision": state.revision, **extra},
        }
