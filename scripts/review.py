"""Approve or reject a video waiting at the review gate (the studio page does the same).

    python scripts/review.py show    --tenant T --video ID
    python scripts/review.py approve --tenant T --video ID [--set s02="New text" ...] [--by NAME]
    python scripts/review.py reject  --tenant T --video ID --reason "Wrong product name"

Writes ``review/script.json`` (validated edits) and then ``review/approval.json`` next to the
script in the artifact store; the waiting ``review_gate`` sees it within its poll interval.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include.core.errors import StageError  # noqa: E402
from include.review import original_script_key, reviewed_script_key, submit_review  # noqa: E402
from include.storage import ArtifactStore  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["show", "approve", "reject"])
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--set", action="append", default=[], metavar='ID="text"',
                    help="replace the narration of one segment (repeatable)")
    ap.add_argument("--reason", default="")
    ap.add_argument("--by", default="cli")
    args = ap.parse_args(argv)
    store = ArtifactStore()
    try:
        if args.action == "show":
            key = reviewed_script_key(args.tenant, args.video)
            if not store.exists(key):
                key = original_script_key(args.tenant, args.video)
            for seg in store.get_json(key)["segments"]:
                print(f"{seg['id']}  {seg['start']:6.1f}-{seg['end']:6.1f}s  "
                      f"({len(seg['text'].split())}/{seg['word_budget']} words)  {seg['text']}")
            return 0
        edits = {}
        for item in args.set:
            sid, sep, text = item.partition("=")
            if not sep:
                ap.error(f"--set needs ID=text, got {item!r}")
            edits[sid.strip()] = text
        decision = "approved" if args.action == "approve" else "rejected"
        record = submit_review(store, args.tenant, args.video, decision,
                               by=args.by, reason=args.reason, edits=edits)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
