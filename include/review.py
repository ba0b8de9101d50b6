"""Script review: where a reviewer's decision and edited script live, and how they are written.

The decision is an object in the store next to the script, so the gate, the command line
(``scripts/review.py``) and the studio page all speak through the same two keys:

- ``tenants/<t>/videos/<id>/review/script.json``: the reviewed (possibly edited) script
- ``tenants/<t>/videos/<id>/review/approval.json``: ``{"decision", "reason", "by", "at"}``

The script is written first and the approval last, so a gate that sees an approval always sees
the script it approves.
"""

from __future__ import annotations

from datetime import datetime, timezone

from include.core.errors import FatalError
from include.core.options import Settings
from include.stages.script import validate_review
from include.storage import ArtifactStore, artifact_key

DECISIONS = ("approved", "rejected")


def approval_key(tenant: str, video_id: str) -> str:
    return artifact_key(tenant, video_id, "review", "approval.json")


def reviewed_script_key(tenant: str, video_id: str) -> str:
    return artifact_key(tenant, video_id, "review", "script.json")


def original_script_key(tenant: str, video_id: str) -> str:
    return artifact_key(tenant, video_id, "script", "script.json")


def read_decision(store: ArtifactStore, tenant: str, video_id: str) -> dict | None:
    key = approval_key(tenant, video_id)
    if not store.exists(key):
        return None
    decision = store.get_json(key)
    if decision.get("decision") not in DECISIONS:
        raise FatalError(f"review decision in {key} is not one of {', '.join(DECISIONS)}.")
    return decision


def submit_review(
    store: ArtifactStore,
    tenant: str,
    video_id: str,
    decision: str,
    *,
    by: str = "cli",
    reason: str = "",
    edits: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> dict:
    """Validate edits, write the reviewed script, then the decision. Returns the decision."""
    if decision not in DECISIONS:
        raise FatalError(f"decision must be one of {', '.join(DECISIONS)}.")
    if decision == "rejected" and not reason.strip():
        raise FatalError("a rejection needs a reason.")
    original = store.get_json(original_script_key(tenant, video_id))
    base_key = reviewed_script_key(tenant, video_id)
    current = store.get_json(base_key) if store.exists(base_key) else original
    if decision == "approved":
        edited = {"segments": [{"id": sid, "text": text} for sid, text in (edits or {}).items()]}
        merged = validate_review(current, edited, settings or Settings(tenant=tenant))
        store.put_json(merged, base_key)
    record = {
        "decision": decision,
        "reason": reason.strip()[:1000],
        "by": by,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    store.put_json(record, approval_key(tenant, video_id))
    return record


def clear_decision(store: ArtifactStore, tenant: str, video_id: str) -> None:
    """Forget an earlier decision (the studio does this before a rerun from ``review_gate``)."""
    store.path(approval_key(tenant, video_id)).unlink(missing_ok=True)
