"""Review a video waiting at the review gate, or edit its narration (the studio page does the same).

    python scripts/review.py show    --tenant T --video ID
    python scripts/review.py edit    --tenant T --video ID --set s02="New text" [--set ...]
    python scripts/review.py approve --tenant T --video ID [--set s02="New text" ...] [--by NAME]
    python scripts/review.py reject  --tenant T --video ID --reason "Wrong product name"
    python scripts/review.py qc-show|qc-approve --tenant T --video ID
    python scripts/review.py qc-reject --tenant T --video ID --reason "The voice is missing"

``qc-*`` act on a video that failed the quality checks while ``on_qc_fail=review``
(``qc/qc.json``; the decision goes to ``review/qc/<sha256[:16] of final.mp4>.json``):
``qc-approve`` publishes it anyway, ``qc-reject`` fails the run with the reason.

Edits go to ``review/script.json`` and a decision to ``review/decisions/<revision>.json``, both
bound to the current ``script/script.json`` revision (``include/review.py``); the waiting
``review_gate`` sees a decision within its poll interval. A decision is final: approving or
rejecting a revision that was already decided exits with status 3 and says by whom (rerun from
``review_gate`` to decide again). ``edit`` also works after the run: then rerun from voiceover.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include.core.errors import StageError  # noqa: E402
from include.review import QcReview, ReviewConflict, ScriptReview  # noqa: E402
from include.storage import ArtifactStore  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["show", "edit", "approve", "reject", "qc-show",
                                       "qc-approve", "qc-reject"])
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--set", action="append", default=[], metavar='ID="text"',
                    help="replace the narration of one segment (repeatable)")
    ap.add_argument("--reason", default="")
    ap.add_argument("--by", default="cli")
    ap.add_argument("--revision", default=None,
                    help="the script revision you reviewed (refused if it is no longer current)")
    args = ap.parse_args(argv)
    try:  # one answer for both reviews' refusals
        return _qc(args) if args.action.startswith("qc-") else _script(args, ap)
    except ReviewConflict as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _script(args, ap) -> int:
    review = ScriptReview(ArtifactStore(), args.tenant, args.video)
    if args.action == "show":
        state = review.state()
        print(f"revision {state.revision}  {'edited' if state.edit else 'as generated'}  "
              f"({state.key})")
        for seg in state.narration["segments"]:
            print(f"{seg['id']}  {seg['start']:6.1f}-{seg['end']:6.1f}s  "
                  f"({len(seg['text'].split())}/{seg['word_budget']} words)  {seg['text']}")
        if state.decision:
            d = state.decision
            print(f"{d['decision']} by {d['by']} at {d['at']}" + (f": {d['reason']}" if d["reason"] else ""))
        for note in state.ignored:
            print(f"note: {note}")
        return 0
    edits = {}
    for item in args.set:
        sid, sep, text = item.partition("=")
        if not sep:
            ap.error(f"--set needs ID=text, got {item!r}")
        edits[sid.strip()] = text
    if args.action == "edit":
        if not edits:
            ap.error("edit needs at least one --set ID=text")
        state = review.save_edit(edits, by=args.by, expected_revision=args.revision)
        record = {"edited": state.key, **state.edit["review"]}
    else:
        decision = "approved" if args.action == "approve" else "rejected"
        record = review.decide(decision, by=args.by, reason=args.reason, edits=edits,
                               expected_revision=args.revision)
    print(json.dumps(record))
    return 0


def _qc(args) -> int:
    review = QcReview(ArtifactStore(), args.tenant, args.video)
    if args.action == "qc-show":
        report = review.report()
        if report is None:
            print("no QC report yet (the qc stage has not run)")
            return 0
        print("passed" if report["passed"] else report["summary"])
        for name, check in report["checks"].items():
            print(f"{name:20} {check['status']:5} {check.get('message') or ''}")
        decision = review.decision(report["final_sha256"])
        if decision:
            print(f"{decision['decision']} by {decision['by']} at {decision['at']}")
        return 0
    decision = "approved" if args.action == "qc-approve" else "rejected"
    record = review.decide(decision, by=args.by, reason=args.reason)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
