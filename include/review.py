"""Script review: the one owner of "which script is current", of edits and of decisions.

The review gate (``include/review_gate.py``), the tasks after it (``StageIO.script_key``), the
command line (``scripts/review.py``) and the studio all ask :class:`ScriptReview`; nobody else
decides which script is narrated.

Keys, under ``tenants/<t>/videos/<id>/``:

- ``script/script.json``: the generated script. The script stage writes a fresh ``revision`` and
  its ``run_id`` into it every time it runs.
- ``review/script.json``: the edited script (a draft, or what was approved), with a ``review``
  block binding it to the script it was made against: ``revision``, ``run_id`` and
  ``script_sha256`` (of ``script/script.json``'s bytes).
- ``review/decisions/<revision>.json``: the decision for one revision, bound the same way, plus
  ``reviewed_sha256`` (the narration approved). Written atomically and exclusively: a decision
  is final; a second one for the same revision is a :class:`ReviewConflict` (HTTP 409).
- ``review/history/<time>-<revision>-<script|decision>.json``: edits and decisions moved aside
  (a new script revision, or "ask again" before a rerun from ``review_gate``).

An edit or a decision counts only while its binding matches ``script/script.json``; anything
else is ignored (and said so), then moved to history by the next script stage run. So a rerun
from ``analyze``/``script`` (or a re-created run with the same run id) starts the review over,
while a rerun from ``voiceover`` keeps a matching edit (renarrating a finished video).

Order of writes: an approval writes the edit first and the decision last, so a gate that sees
an approval sees the narration it approves (``reviewed_sha256``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from include.core.errors import FatalError
from include.core.options import Settings
from include.core import keys
from include.storage import ArtifactStore

log = logging.getLogger(__name__)

DECISIONS = ("approved", "rejected")
LEGACY_APPROVAL = keys.LEGACY_APPROVAL  # review/approval.json: a decision from before revisions existed


class ReviewConflict(FatalError):
    """The review cannot be recorded: the script was already decided, or it changed under the
    reviewer. The studio answers 409."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump_json(data: Any) -> bytes:
    """The bytes the store keeps for a JSON record (the same as ``ArtifactStore.put_json``)."""
    return json.dumps(data, indent=2, ensure_ascii=False).encode()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


original_script_key = keys.script_key
reviewed_script_key = keys.reviewed_script_key


def decision_key(tenant: str, video_id: str, revision: str) -> str:
    return keys.decision_key(tenant, video_id, _key_part(revision))


@dataclass
class ScriptState:
    """What is current for one video, read in one go by :meth:`ScriptReview.state`."""

    tenant: str
    video_id: str
    script: dict  # script/script.json
    revision: str
    run_id: str  # the run that wrote script/script.json
    script_sha256: str
    edit: dict | None = None  # review/script.json, only when bound to this script
    edit_sha256: str = ""
    decision: dict | None = None  # review/decisions/<revision>.json, only when bound
    ignored_edit: str = ""  # why review/script.json does not count (empty: it does, or none)
    ignored_decisions: list[str] = field(default_factory=list)  # why other decisions do not count

    @property
    def ignored(self) -> list[str]:
        return ([self.ignored_edit] if self.ignored_edit else []) + self.ignored_decisions

    @property
    def binding(self) -> dict:
        return {"revision": self.revision, "run_id": self.run_id, "script_sha256": self.script_sha256}

    @property
    def key(self) -> str:
        """The key to narrate: the bound edit, else the generated script."""
        if self.edit is not None:
            return reviewed_script_key(self.tenant, self.video_id)
        return original_script_key(self.tenant, self.video_id)

    @property
    def narration(self) -> dict:
        return self.edit if self.edit is not None else self.script

    @property
    def narration_sha256(self) -> str:
        return self.edit_sha256 if self.edit is not None else self.script_sha256

    def bound(self, record: dict | None) -> bool:
        """``record`` (an edit's ``review`` block or a decision) was made against this script."""
        return isinstance(record, dict) and all(record.get(k) == v for k, v in self.binding.items())


class ScriptReview:
    """Reads and writes the review of one video's script; see the module docstring."""

    def __init__(self, store: ArtifactStore, tenant: str, video_id: str):
        self.store, self.tenant, self.video_id = store, tenant, video_id

    # ------------------------------------------------------------------ keys

    @property
    def script_key(self) -> str:
        return original_script_key(self.tenant, self.video_id)

    @property
    def edit_key(self) -> str:
        return reviewed_script_key(self.tenant, self.video_id)

    def decision_key(self, revision: str) -> str:
        return decision_key(self.tenant, self.video_id, revision)

    def _review_key(self, name: str) -> str:
        return keys.review_key(self.tenant, self.video_id, name)

    def _decision_keys(self) -> list[str]:
        keys = [
            k for k in self.store.list(self._review_key("decisions"))
            if not k.rsplit("/", 1)[-1].startswith(".")  # a write in progress
        ]
        legacy = self._review_key(LEGACY_APPROVAL)
        return keys + ([legacy] if self.store.exists(legacy) else [])

    # ------------------------------------------------------------------ reading

    def state(self) -> ScriptState:
        """The current script, and the edit and decision that are bound to it (others ignored)."""
        if not self.store.exists(self.script_key):
            raise ReviewConflict("the script is not written yet; wait for the script stage.")
        raw = self.store.get_bytes(self.script_key)
        try:
            script = json.loads(raw)
        except ValueError as exc:
            raise FatalError(f"{self.script_key} is not readable JSON ({exc}); rerun the script stage.") from None
        state = ScriptState(
            self.tenant, self.video_id, script,
            revision=str(script.get("revision") or ""),
            run_id=str(script.get("run_id") or ""),
            script_sha256=sha256_hex(raw),
        )
        if self.store.exists(self.edit_key):
            edit_raw = self.store.get_bytes(self.edit_key)
            try:
                edit = json.loads(edit_raw)
            except ValueError:
                edit = None
            made = edit.get("review") if isinstance(edit, dict) else None
            if edit is None:
                state.ignored_edit = f"ignoring the edited script {self.edit_key}: it is not readable JSON."
            elif state.bound(made):
                state.edit, state.edit_sha256 = edit, sha256_hex(edit_raw)
            else:
                state.ignored_edit = f"ignoring the edited script {self.edit_key}: {_mismatch(made, state)}"
        for key in self._decision_keys():
            if key != self.decision_key(state.revision):
                state.ignored_decisions.append(
                    f"ignoring the decision in {key}: {_mismatch(self._safe_json(key), state)}"
                )
                continue
            decision = self.store.get_json(key)
            if not state.bound(decision):
                state.ignored_decisions.append(f"ignoring the decision in {key}: {_mismatch(decision, state)}")
            elif decision.get("decision") not in DECISIONS:
                raise FatalError(f"review decision in {key} is not one of {', '.join(DECISIONS)}.")
            else:
                state.decision = decision
        return state

    def current_key(self) -> str:
        """The key downstream stages narrate (the bound edit, else ``script/script.json``)."""
        state = self.state()
        for note in state.ignored:
            log.warning("%s", note)
        return state.key

    # ------------------------------------------------------------------ writing

    def save_edit(
        self,
        edits: list[dict] | dict[str, str],
        settings: Settings | None = None,
        *,
        by: str = "cli",
        expected_revision: str | None = None,
        run_id: str | None = None,
    ) -> ScriptState:
        """Validate ``edits`` against the current narration and write them bound to this script.

        Allowed after a decision too (edit, then rerun from voiceover to renarrate); such an
        edit is marked ``after_decision``.
        """
        state = self.state()
        _check_expected(state, expected_revision, run_id)
        return self._write_edit(state, edits, settings, by, after_decision=state.decision is not None)

    def decide(
        self,
        decision: str,
        *,
        by: str = "cli",
        reason: str = "",
        edits: list[dict] | dict[str, str] | None = None,
        settings: Settings | None = None,
        expected_revision: str | None = None,
        run_id: str | None = None,
    ) -> dict:
        """Record the one decision for the current script revision; returns the record.

        Approving writes ``edits`` (if any) first. A second decision for the same revision, or a
        decision against a revision that is no longer current, is a :class:`ReviewConflict`.
        """
        if decision not in DECISIONS:
            raise FatalError(f"decision must be one of {', '.join(DECISIONS)}.")
        if decision == "rejected" and not reason.strip():
            raise FatalError("a rejection needs a reason.")
        state = self.state()
        _check_expected(state, expected_revision, run_id)
        if state.decision is not None:
            raise _already(state.decision, state.revision)
        if decision == "approved" and edits:
            state = self._write_edit(state, edits, settings, by, after_decision=False)
        record = {
            "decision": decision,
            "reason": reason.strip()[:1000],
            "by": by,
            "at": _now(),
            **state.binding,
            "reviewed_sha256": state.narration_sha256,
            "edited": state.edit is not None,
        }
        key = self.decision_key(state.revision)
        try:
            self.store.create_bytes(dump_json(record), key)
        except FileExistsError:
            raise _already(self.store.get_json(key), state.revision) from None
        # The script stage may have run again while we decided: then this decision is stale
        # from birth. Move it aside and say so (the gate would ignore it anyway).
        if sha256_hex(self.store.get_bytes(self.script_key)) != state.script_sha256:
            self._to_history(key, state.revision, "decision")
            raise ReviewConflict(
                "the script was rewritten while you decided (the script stage ran again); "
                "review the new script."
            )
        log.info("review of %s revision %s: %s by %s", self.video_id, state.revision, decision, by)
        return record

    def withdraw_decision(self) -> str | None:
        """Move the current revision's decision to history, so the gate asks again (the studio
        does this before a rerun from ``review_gate``). Returns the history key, if any."""
        state = self.state()
        key = self.decision_key(state.revision)
        return self._to_history(key, state.revision, "decision") if self.store.exists(key) else None

    def discard(self, *, keep_current: bool = False) -> list[str]:
        """Move the edit and the decisions to history: all of them, or (``keep_current``) those
        not bound to the current script. Returns the history keys written.

        The script task calls this with ``keep_current`` after writing a new revision; the studio
        calls it before a rerun from ``analyze``/``script``.
        """
        state = self.state() if keep_current else None
        moved = []
        if self.store.exists(self.edit_key) and not (state and state.edit is not None):
            made = self._safe_json(self.edit_key).get("review")
            revision = made.get("revision") if isinstance(made, dict) else None
            moved.append(self._to_history(self.edit_key, revision, "script"))
        for key in self._decision_keys():
            if state and state.decision is not None and key == self.decision_key(state.revision):
                continue
            revision = self._safe_json(key).get("revision")
            moved.append(self._to_history(key, revision if isinstance(revision, str) else None, "decision"))
        return [m for m in moved if m]

    # ------------------------------------------------------------------ internals

    def _write_edit(
        self, state: ScriptState, edits: list[dict] | dict[str, str], settings: Settings | None,
        by: str, *, after_decision: bool,
    ) -> ScriptState:
        if isinstance(edits, dict):
            edits = [{"id": sid, "text": text} for sid, text in edits.items()]
        from include.stages.script import validate_review

        merged = validate_review(
            state.narration, {"segments": list(edits)}, settings or Settings(tenant=self.tenant)
        )
        merged["review"] = {
            **state.binding, "by": by, "at": _now(), "after_decision": after_decision,
        }
        data = dump_json(merged)
        self.store.put_bytes(data, self.edit_key)
        state.edit, state.edit_sha256 = merged, sha256_hex(data)
        return state

    def _safe_json(self, key: str) -> dict:
        try:
            data = self.store.get_json(key)
        except (FatalError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _to_history(self, key: str, revision: str | None, kind: str) -> str | None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"history/{stamp}-{_key_part(revision)}-{kind}-{uuid.uuid4().hex[:6]}.json"
        target = self._review_key(name)
        if not self.store.move(key, target):
            return None
        log.info("moved %s aside to %s", key, target)
        return target


def _key_part(revision: str | None) -> str:
    """``revision`` as one safe key part (ours always are; a hand-edited one may not be)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", revision or "")[:64].strip(".") or "unrevised"


def _mismatch(record: dict | None, state: ScriptState) -> str:
    """One sentence: why ``record`` does not count for the current script."""
    if not isinstance(record, dict) or not record.get("revision"):
        return "it is not bound to a script revision (written before revisions, or by hand); review again."
    if record.get("revision") != state.revision:
        return (
            f"it was made for script revision {record['revision']}, the current script is revision "
            f"{state.revision or '(none)'}."
        )
    if record.get("run_id") != state.run_id:
        return f"it was made in run {record.get('run_id')!r}, the script belongs to run {state.run_id!r}."
    return "script/script.json changed after it was made (its sha256 differs); review again."


def _check_expected(state: ScriptState, expected_revision: str | None, run_id: str | None) -> None:
    if expected_revision and expected_revision != state.revision:
        raise ReviewConflict(
            f"the script changed since you opened it (revision {expected_revision} is now "
            f"{state.revision}: the script stage ran again); reload it and review the new script."
        )
    if run_id and state.run_id and run_id != state.run_id:
        raise ReviewConflict(
            f"the script belongs to run {state.run_id!r}, not to run {run_id!r}; "
            "wait for this run's script stage."
        )


def _already(decision: dict, revision: str) -> ReviewConflict:
    return ReviewConflict(
        f"script revision {revision} was already {decision.get('decision')} by "
        f"{decision.get('by')} at {decision.get('at')}; a decision is final "
        "(to decide again, rerun from review_gate)."
    )


# ---------------------------------------------------------------------- short forms


def submit_review(
    store: ArtifactStore,
    tenant: str,
    video_id: str,
    decision: str,
    *,
    by: str = "cli",
    reason: str = "",
    edits: dict[str, str] | list[dict] | None = None,
    settings: Settings | None = None,
) -> dict:
    """:meth:`ScriptReview.decide` for the current script. Returns the decision."""
    return ScriptReview(store, tenant, video_id).decide(
        decision, by=by, reason=reason, edits=edits, settings=settings
    )


def read_decision(store: ArtifactStore, tenant: str, video_id: str) -> dict | None:
    """The decision bound to the current script, or ``None``."""
    return ScriptReview(store, tenant, video_id).state().decision


def current_script_key(store: ArtifactStore, tenant: str, video_id: str) -> str:
    return ScriptReview(store, tenant, video_id).current_key()


# ---------------------------------------------------------------------- a failed quality check

def qc_report_key(tenant: str, video_id: str) -> str:
    return keys.qc_report_key(tenant, video_id)


def qc_decision_key(tenant: str, video_id: str, final_sha256: str) -> str:
    return keys.qc_decision_key(tenant, video_id, _key_part(final_sha256[:16]))


class QcReview:
    """A reviewer's call on a video that failed QC while ``on_qc_fail=review``: publish it
    anyway (``approved``) or not (``rejected``, with a reason).

    The decision is ``review/qc/<sha256[:16] of final.mp4>.json``: bound to the file that was
    checked, so a rerender (a new final.mp4, checked again) asks again. It is written
    exclusively, like a script decision: a second one for the same file is a
    :class:`ReviewConflict` (409).
    """

    def __init__(self, store: ArtifactStore, tenant: str, video_id: str):
        self.store, self.tenant, self.video_id = store, tenant, video_id

    def report(self) -> dict | None:
        key = qc_report_key(self.tenant, self.video_id)
        return self.store.get_json(key) if self.store.exists(key) else None

    def decision(self, final_sha256: str) -> dict | None:
        key = qc_decision_key(self.tenant, self.video_id, final_sha256)
        if not self.store.exists(key):
            return None
        record = self.store.get_json(key)
        if record.get("final_sha256") != final_sha256 or record.get("decision") not in DECISIONS:
            raise FatalError(f"the QC decision in {key} is not for this final.mp4 or not one of "
                             f"{', '.join(DECISIONS)}; delete it and decide again.")
        return record

    def decide(self, decision: str, *, by: str = "cli", reason: str = "",
               final_sha256: str | None = None) -> dict:
        """Record the one decision on the final.mp4 that ``qc/qc.json`` failed."""
        if decision not in DECISIONS:
            raise FatalError(f"decision must be one of {', '.join(DECISIONS)}.")
        if decision == "rejected" and not reason.strip():
            raise FatalError("a rejection needs a reason.")
        report = self.report()
        if report is None:
            raise ReviewConflict("there is no QC report yet; wait for the qc stage.")
        if report.get("passed"):
            raise ReviewConflict("the video passed QC; there is nothing to decide.")
        sha = str(report.get("final_sha256") or "")
        if final_sha256 and final_sha256 != sha:
            raise ReviewConflict("final.mp4 was rendered again since you opened it; look at the "
                                 "new QC report.")
        record = {"decision": decision, "reason": reason.strip()[:1000], "by": by, "at": _now(),
                  "final_sha256": sha, "failures": list(report.get("failures") or [])}
        key = qc_decision_key(self.tenant, self.video_id, sha)
        try:
            self.store.create_bytes(dump_json(record), key)
        except FileExistsError:
            prior = self.store.get_json(key)
            raise ReviewConflict(
                f"this final.mp4 was already {prior.get('decision')} by {prior.get('by')} at "
                f"{prior.get('at')}; a decision is final (rerun from render to check a new "
                "file).") from None
        log.info("QC review of %s: %s by %s", self.video_id, decision, by)
        return record
