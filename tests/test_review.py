"""The review owner (include/review.py), the review gate and its trigger, and scripts/review.py,
against a real file store (and moto's S3 for the exclusive decision write).

Scripts come from the real script stage (offline writer), so every one has a fresh revision.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import pytest

from include.providers.llm import get_script_writer
from include.review import (
    ReviewConflict,
    ScriptReview,
    current_script_key,
    decision_key,
    original_script_key,
    reviewed_script_key,
    sha256_hex,
    submit_review,
)
from include.stages import script as script_stage
from include.storage import ArtifactStore, artifact_key

TENANT, VIDEO, RUN = "acme", "acme-0123456789abcdef", "acme-0123456789abcdef"
SEGMENTS = {
    "duration": 12.0,
    "segments": [
        {"id": "s01", "start": 0.0, "end": 4.0, "kept_duration": 4.0},
        {"id": "s02", "start": 4.0, "end": 8.0, "kept_duration": 4.0},
        {"id": "s03", "start": 8.0, "end": 12.0, "kept_duration": 4.0},
    ],
}


@pytest.fixture
def store(tmp_path, monkeypatch):
    root = f"file://{tmp_path / 'store'}"
    monkeypatch.setenv("VIDEO_STORE_ROOT", root)  # ArtifactStore() in the gate and the CLI
    return ArtifactStore(root)


@pytest.fixture
def new_script(store, tmp_path):
    """Run the script stage and store its script.json, as the script task does; returns it."""
    segments = tmp_path / "segments.json"
    segments.write_text(json.dumps(SEGMENTS))

    def make(run_id: str = RUN, s: ArtifactStore = store) -> dict:
        out = tmp_path / f"out-{uuid.uuid4().hex[:6]}"
        script_stage.run(segments, out, writer=get_script_writer("offline"), run_id=run_id)
        s.put_file(out / "script.json", original_script_key(TENANT, VIDEO))
        return json.loads((out / "script.json").read_text())

    return make


def review(store) -> ScriptReview:
    return ScriptReview(store, TENANT, VIDEO)


def history(store) -> list[str]:
    return store.list(artifact_key(TENANT, VIDEO, "review", "history"))


# --------------------------------------------------------------------------- the script revision


def test_every_script_run_writes_a_fresh_revision_and_its_run_id(new_script):
    first, second = new_script(), new_script()
    assert first["revision"] != second["revision"]
    assert first["run_id"] == second["run_id"] == RUN
    assert first["segments"] == second["segments"]  # same text, still a different revision


# --------------------------------------------------------------------------- edits


def test_an_edit_is_bound_to_the_script_it_was_made_against(store, new_script):
    script = new_script()
    state = review(store).save_edit({"s02": "Open the settings page now."}, by="alice")
    raw = store.get_bytes(original_script_key(TENANT, VIDEO))
    made = store.get_json(reviewed_script_key(TENANT, VIDEO))["review"]
    assert made["revision"] == script["revision"] and made["run_id"] == RUN
    assert made["script_sha256"] == sha256_hex(raw) and made["by"] == "alice"
    assert made["after_decision"] is False
    assert state.key == reviewed_script_key(TENANT, VIDEO)
    assert current_script_key(store, TENANT, VIDEO) == reviewed_script_key(TENANT, VIDEO)
    texts = {s["id"]: s["text"] for s in review(store).state().narration["segments"]}
    assert texts["s02"] == "Open the settings page now."
    assert texts["s01"] == script["segments"][0]["text"]  # segments left out keep their text


def test_an_edit_for_an_older_script_is_ignored_then_moved_to_history(store, new_script):
    old = new_script()
    review(store).save_edit({"s01": "Words for the old script."})
    new = new_script()  # a rerun from script (or analyze): a new revision
    state = review(store).state()
    assert state.edit is None and state.key == original_script_key(TENANT, VIDEO)
    assert old["revision"] in state.ignored_edit and new["revision"] in state.ignored_edit
    assert current_script_key(store, TENANT, VIDEO) == original_script_key(TENANT, VIDEO)

    moved = review(store).discard(keep_current=True)  # what the script task does after writing
    assert not store.exists(reviewed_script_key(TENANT, VIDEO))
    assert moved == history(store) and len(moved) == 1
    assert old["revision"] in moved[0] and moved[0].endswith(".json")
    assert store.get_json(moved[0])["review"]["revision"] == old["revision"]


def test_an_edit_is_ignored_when_the_script_is_changed_under_it(store, new_script):
    script = new_script()
    review(store).save_edit({"s01": "Hello there."})
    script["segments"][0]["text"] = "Changed by hand."
    store.put_json(script, original_script_key(TENANT, VIDEO))  # same revision, other bytes
    state = review(store).state()
    assert state.edit is None and "sha256 differs" in state.ignored_edit


def test_a_rerun_from_voiceover_keeps_a_matching_edit(store, new_script):
    new_script()
    review(store).save_edit({"s03": "Thanks for watching."})
    submit_review(store, TENANT, VIDEO, "approved", by="alice")
    # after the run: edit again (decisions are final, edits are not), then rerun from voiceover
    state = review(store).save_edit({"s03": "Thanks for watching, see you soon."}, by="bob")
    assert state.edit["review"]["after_decision"] is True
    assert review(store).discard(keep_current=True) == []  # the script task did not run
    assert current_script_key(store, TENANT, VIDEO) == reviewed_script_key(TENANT, VIDEO)
    assert review(store).state().narration["segments"][2]["text"] == "Thanks for watching, see you soon."


def test_an_edit_against_a_revision_that_is_gone_is_refused(store, new_script):
    old = new_script()
    new_script()
    with pytest.raises(ReviewConflict, match="changed since you opened it"):
        review(store).save_edit({"s01": "Late edit."}, expected_revision=old["revision"])
    with pytest.raises(ReviewConflict, match="belongs to run"):
        review(store).save_edit({"s01": "Wrong run."}, run_id="another-run")
    assert not store.exists(reviewed_script_key(TENANT, VIDEO))


# --------------------------------------------------------------------------- decisions


def test_a_decision_is_final(store, new_script):
    script = new_script()
    first = submit_review(store, TENANT, VIDEO, "approved", by="alice", edits={"s01": "Hello."})
    assert first["revision"] == script["revision"] and first["run_id"] == RUN
    state = review(store).state()
    assert first["reviewed_sha256"] == state.narration_sha256 == state.edit_sha256
    key = decision_key(TENANT, VIDEO, script["revision"])
    on_file = store.get_bytes(key)

    with pytest.raises(ReviewConflict, match="already approved by alice"):
        submit_review(store, TENANT, VIDEO, "approved", by="bob")
    with pytest.raises(ReviewConflict, match="a decision is final"):
        submit_review(store, TENANT, VIDEO, "rejected", by="bob", reason="Too late.")
    with pytest.raises(ReviewConflict):  # a losing approval does not touch the edit either
        submit_review(store, TENANT, VIDEO, "approved", by="bob", edits={"s01": "Mine."})
    assert store.get_bytes(key) == on_file
    assert review(store).state().narration["segments"][0]["text"] == "Hello."

    # "ask again" (the studio before a rerun from review_gate) moves it aside; then a new one
    moved = review(store).withdraw_decision()
    assert moved in history(store) and review(store).state().decision is None
    again = submit_review(store, TENANT, VIDEO, "rejected", by="bob", reason="Too fast.")
    assert review(store).state().decision == again


def test_racing_approvals_have_one_winner(store, new_script, monkeypatch):
    new_script()
    _race(store, monkeypatch)


def test_racing_approvals_have_one_winner_on_s3(local_s3, new_script, monkeypatch):
    s3 = ArtifactStore(local_s3.root(f"review-{uuid.uuid4().hex[:6]}"))
    new_script(s=s3)
    _race(s3, monkeypatch, threads=6)


def _race(store, monkeypatch, threads=12):
    """``threads`` approvals at once. Every one has passed the "already decided?" read before any
    writes (a second barrier in front of the real write), so only the exclusive write can pick
    the one winner."""
    barrier, at_write = threading.Barrier(threads), threading.Barrier(threads)
    real_create = ArtifactStore.create_bytes

    def create_together(self, data, key):
        at_write.wait(timeout=60)
        return real_create(self, data, key)

    monkeypatch.setattr(ArtifactStore, "create_bytes", create_together)
    results: dict[str, object] = {}

    def approve(name):
        barrier.wait()
        try:
            results[name] = submit_review(store, TENANT, VIDEO, "approved", by=name)
        except ReviewConflict as exc:
            results[name] = exc

    workers = [threading.Thread(target=approve, args=(f"r{n}",)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    monkeypatch.undo()
    winners = [name for name, r in results.items() if isinstance(r, dict)]
    assert len(winners) == 1, results
    losers = [r for r in results.values() if isinstance(r, ReviewConflict)]
    assert len(losers) == threads - 1
    assert all(f"already approved by {winners[0]}" in str(e) for e in losers)
    assert review(store).state().decision["by"] == winners[0]


def test_a_decision_from_before_revisions_is_ignored(store, new_script):
    new_script()
    legacy = artifact_key(TENANT, VIDEO, "review", "approval.json")
    store.put_json({"decision": "approved", "reason": "", "by": "old", "at": "2026-11-30"}, legacy)
    state = review(store).state()
    assert state.decision is None and "not bound to a script revision" in state.ignored_decisions[0]
    review(store).discard(keep_current=True)
    assert not store.exists(legacy) and len(history(store)) == 1


def test_a_decision_made_while_the_script_is_rewritten_is_refused(store, new_script, monkeypatch):
    new_script()
    real_create = ArtifactStore.create_bytes

    def create_then_rerun_script(self, data, key):  # the script stage runs again mid-decision
        out = real_create(self, data, key)
        new_script()
        return out

    monkeypatch.setattr(ArtifactStore, "create_bytes", create_then_rerun_script)
    with pytest.raises(ReviewConflict, match="rewritten while you decided"):
        submit_review(store, TENANT, VIDEO, "approved", by="alice")
    monkeypatch.undo()
    assert review(store).state().decision is None and len(history(store)) == 1


def test_the_command_line_refuses_a_second_decision(store, new_script, capsys):
    from scripts.review import main

    new_script()
    args = ["--tenant", TENANT, "--video", VIDEO]
    assert main(["approve", *args, "--set", "s01=Hello from the command line.", "--by", "ann"]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "approved"
    assert main(["reject", *args, "--reason", "No."]) == 3
    assert "already approved by ann" in capsys.readouterr().err
    assert main(["approve", *args]) == 3
    assert main(["edit", *args, "--set", "s02=Edited after the run."]) == 0
    capsys.readouterr()
    assert main(["show", *args]) == 0
    shown = capsys.readouterr().out
    assert "Edited after the run." in shown and "approved by ann" in shown


# --------------------------------------------------------------------------- the gate and its trigger


def _gate(poll=0.02):
    from include.review_gate import ReviewGateSensor

    return ReviewGateSensor(
        task_id="review_gate", scripted={"tenant": TENANT, "video_id": VIDEO, "artifacts": {}},
        script_mode="review_before_tts", poll_interval=poll,
    )


CONTEXT = {"run_id": RUN, "params": {}}


def test_the_gate_ignores_a_decision_for_an_older_revision(store, new_script):
    from airflow.sdk.exceptions import TaskDeferred

    from include.review_gate import pending_decision

    old = new_script()
    submit_review(store, TENANT, VIDEO, "approved", by="alice")
    new = new_script()  # rerun from script; the old decision is still on file
    decision, notes = pending_decision(store, TENANT, VIDEO, new["revision"], RUN)
    assert decision is None
    assert any(old["revision"] in n and new["revision"] in n for n in notes), notes
    with pytest.raises(TaskDeferred) as deferred:
        _gate().execute(CONTEXT)
    trigger = deferred.value.trigger
    assert (trigger.revision, trigger.run_id) == (new["revision"], RUN)

    submit_review(store, TENANT, VIDEO, "approved", by="bob")
    result = _gate().execute(CONTEXT)
    assert result["result"] == {"revision": new["revision"], "reviewed": True, "by": "bob"}
    assert result["artifacts"]["script.json"] == original_script_key(TENANT, VIDEO)


def test_the_trigger_waits_through_stale_decisions_and_fires_on_a_bound_one(store, new_script):
    from include.review_gate import ApprovalTrigger

    new_script()
    submit_review(store, TENANT, VIDEO, "approved", by="alice")
    new = new_script()
    trigger = ApprovalTrigger(store.root_url, TENANT, VIDEO, new["revision"], RUN, poll_interval=0.02)
    logged: list[str] = []
    trigger._log = _Recorder(logged)

    async def scenario():
        events = trigger.run()
        first = asyncio.ensure_future(events.__anext__())
        deadline = time.monotonic() + 30  # a safety net, not a timing assertion
        while not logged and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        polled_while_stale = not first.done()
        await asyncio.to_thread(submit_review, store, TENANT, VIDEO, "rejected", by="bob",
                                reason="Wrong product name.")
        event = await asyncio.wait_for(first, 30)
        return polled_while_stale, event

    polled_while_stale, event = asyncio.run(scenario())
    assert polled_while_stale
    assert any("keeps waiting" in line and "made for script revision" in line for line in logged), logged
    assert len(logged) == 1  # said once, not on every poll
    assert event.payload["decision"] == "rejected" and event.payload["revision"] == new["revision"]


def test_the_trigger_ignores_a_decision_for_another_run(store, new_script):
    from include.review_gate import pending_decision

    script = new_script(run_id="manual__first")
    submit_review(store, TENANT, VIDEO, "approved", by="alice")
    decision, notes = pending_decision(store, TENANT, VIDEO, script["revision"], "manual__second")
    assert decision is None and "this is run 'manual__second'" in notes[-1]


def test_the_gate_fails_on_a_rejection_and_on_an_edit_that_raced_the_approval(store, new_script):
    from airflow.sdk.exceptions import AirflowFailException

    new_script()
    submit_review(store, TENANT, VIDEO, "rejected", by="bob", reason="Wrong product name.")
    with pytest.raises(AirflowFailException, match="rejected: Wrong product name"):
        _gate().execute(CONTEXT)

    new_script()
    submit_review(store, TENANT, VIDEO, "approved", by="alice", edits={"s01": "Approved words."})
    edit = store.get_json(reviewed_script_key(TENANT, VIDEO))  # a losing racer's edit lands late
    edit["segments"][0]["text"] = "Words nobody approved."
    store.put_json(edit, reviewed_script_key(TENANT, VIDEO))
    with pytest.raises(AirflowFailException, match="changed after it was approved"):
        _gate().execute(CONTEXT)

    # an edit saved after the approval on purpose (then rerun) is narrated
    review(store).save_edit({"s01": "Edited after approval."}, by="carol")
    result = _gate().execute(CONTEXT)
    assert result["artifacts"]["script.json"] == reviewed_script_key(TENANT, VIDEO)


class _Recorder:
    """Stands in for the trigger's structlog logger: keeps every info line."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def info(self, msg, *args):
        self.lines.append(msg % args)

    warning = error = debug = info
