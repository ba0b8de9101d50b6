"""publish stage: hand the final video and its metadata to a publisher, exactly once.

The stage receives a ready publisher (:class:`include.core.ports.Publisher`) and a ledger
(:class:`include.core.ports.Ledger`) that keeps the target's receipt between tries and reruns.
From the receipt and the sha256 of ``final.mp4`` it decides:

* no receipt: a new delivery (``action: uploaded``);
* a receipt for the same bytes: no upload; the delivery's metadata, thumbnail and captions are
  re-set (``action: updated``; the outbox says ``unchanged`` when nothing differed);
* a receipt for other bytes (a rerun made a new ``final.mp4``): ``options.on_republish``:
  ``update_metadata`` (default; the delivered file stays, the receipt says so), ``replace`` (a
  new delivery, then the old one is deleted) or ``new_video`` (a new delivery, the old one stays);
* a receipt whose delivery is gone from the target: a new delivery.

The receipt is written to ``receipt.json`` and returned; ``note`` says what happened and
``previous`` lists earlier deliveries of this video.
"""

from __future__ import annotations

import logging
from pathlib import Path

from include.core.errors import FatalError
from include.core.files import read_json, sha256_of, write_json
from include.core.keys import receipt_name
from include.core.ports import Ledger, Publisher, PublishOptions

log = logging.getLogger(__name__)


def run(
    final_path: Path,
    metadata_path: Path,
    out_dir: Path,
    *,
    publisher: Publisher,
    ledger: Ledger,
    options: PublishOptions,
    video_id: str,
    thumbnail_path: Path | None = None,
    captions_path: Path | None = None,
) -> dict:
    """Publish ``final_path`` with the metadata at ``metadata_path``; write, return the receipt."""
    final_path = Path(final_path)
    if not final_path.is_file() or final_path.stat().st_size == 0:
        raise FatalError(
            f"the final video {final_path.name} is missing or empty; re-run the render stage."
        )
    metadata = read_json(metadata_path, "metadata.json")
    sha256 = sha256_of(final_path)
    name = receipt_name(publisher.name)
    extras = dict(thumbnail=thumbnail_path, captions=captions_path)
    prior = ledger.get(name)
    if prior:
        prior = _finish_retirements(publisher, ledger, name, prior)

    receipt = None
    if prior and (prior.get("sha256") == sha256 or options.on_republish == "update_metadata"):
        receipt = publisher.update(prior, metadata, options, video_id, ledger=ledger, **extras)
        if receipt is None:
            note = (f"the earlier delivery ({_where(prior)}) is gone from {publisher.name}; "
                    "delivered again.")
            prior = {**prior, "retired": "gone"}
        elif prior.get("sha256") == sha256:
            changed = receipt.pop("changed", None)
            if changed == []:
                receipt["action"] = "unchanged"
                receipt["note"] = (f"final.mp4 (sha256 {sha256[:12]}) is already delivered "
                                   f"({_where(prior)}) with the same metadata; nothing was sent.")
            else:
                receipt["action"] = "updated"
                receipt["note"] = (f"final.mp4 (sha256 {sha256[:12]}) is already delivered "
                                   f"({_where(prior)}): not uploaded again; metadata, thumbnail "
                                   "and captions re-set.")
        else:
            receipt.pop("changed", None)
            receipt["action"] = "updated"
            receipt["final_sha256"] = sha256
            receipt["note"] = (
                f"final.mp4 changed (sha256 {sha256[:12]}, delivered {str(prior.get('sha256'))[:12]}) "
                f"but on_republish=update_metadata keeps the delivered file ({_where(prior)}); "
                "metadata, thumbnail and captions re-set. Choose replace or new_video to "
                "deliver the new file."
            )
        if receipt is not None:
            receipt.pop("retire_pending", None)
    if receipt is None:
        receipt = _deliver(publisher, ledger, final_path, metadata, options, video_id, sha256,
                           prior, extras)
        if not prior or prior.get("retired") == "gone":
            receipt["action"] = "uploaded"
            if prior:
                receipt["note"] = note
    log.info("publish %s to %s: %s%s", video_id, publisher.name, receipt["action"],
             f" — {receipt['note']}" if receipt.get("note") else "")
    ledger.put(name, receipt)
    write_json(Path(out_dir) / "receipt.json", receipt)
    return receipt


def _deliver(publisher: Publisher, ledger: Ledger, final_path: Path, metadata: dict,
             options: PublishOptions, video_id: str, sha256: str, prior: dict | None,
             extras: dict) -> dict:
    """A new delivery; with a live ``prior`` (a new final.mp4) per ``on_republish``."""
    carry: dict = {}
    live = prior and prior.get("retired") != "gone"
    if prior:
        carry["previous"] = prior.get("previous", []) + [_summary(prior)]
    if live and options.on_republish == "replace":
        # Saved with the new delivery's first receipt, so a crash before the old one is
        # deleted still deletes it on the next try.
        carry["retire_pending"] = [_summary(prior)]
    receipt = publisher.publish(final_path, metadata, options, video_id, ledger=ledger,
                                sha256=sha256, carry=carry, **extras)
    if not live:
        return receipt
    if options.on_republish == "replace":
        receipt = _finish_retirements(publisher, ledger, receipt_name(publisher.name), receipt)
        receipt["action"] = "replaced"
        receipt["note"] = (f"final.mp4 changed (sha256 {sha256[:12]}): delivered anew "
                           f"({_where(receipt)}); the earlier delivery ({_where(prior)}) was "
                           f"{receipt['previous'][-1].get('retired', 'kept')}.")
    else:
        receipt["action"] = "new_video"
        receipt["note"] = (f"final.mp4 changed (sha256 {sha256[:12]}): delivered as a new video "
                           f"({_where(receipt)}); the earlier one ({_where(prior)}) stays.")
    return receipt


def _finish_retirements(publisher: Publisher, ledger: Ledger, name: str, receipt: dict) -> dict:
    """Remove the deliveries a ``replace`` left to remove (also after a crash)."""
    pending = receipt.get("retire_pending") or []
    if not pending:
        return receipt
    previous = list(receipt.get("previous", []))
    for old in pending:
        if old.get("location") == receipt.get("location"):  # replaced in place (outbox folder)
            outcome = "overwritten"
        else:
            outcome = publisher.retire(old)
        log.info("publish: the earlier delivery %s was %s", _where(old), outcome)
        for entry in previous:
            if entry.get("location") == old.get("location"):
                entry["retired"] = outcome
    receipt = {**receipt, "previous": previous}
    receipt.pop("retire_pending", None)
    ledger.put(name, receipt)
    return receipt


def _summary(receipt: dict) -> dict:
    keep = ("video_id", "location", "sha256", "published_at", "retired")
    return {k: receipt[k] for k in keep if k in receipt}


def _where(receipt: dict) -> str:
    return receipt.get("video_id") or receipt.get("location") or "?"


