"""Trigger ``video_pipeline`` on a generated product tour over REST, wait, print the results.

    python scripts/demo.py [--tenant demo] [--clip path.mp4] [--title "..."]

Run by ``make demo`` against the Airflow that ``scripts/airflow.sh up`` started. Without
``--clip`` it records (once, into ``.data/samples/``) the ~40 s tour of a made-up invoicing app
that :mod:`include.product_tour` draws — dashboard, invoices, a dialog with typing, a scrolling
list, a chart and a presenter — and prints the narration and metadata that came out of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from include.airflow_client import AirflowClient  # noqa: E402
from include.core.edl import Edl  # noqa: E402
from include.core.files import sha256_of, write_json  # noqa: E402
from include.product_tour import make_product_tour  # noqa: E402
from include.stages import qc  # noqa: E402
from include.core.keys import video_id_for  # noqa: E402
from include.storage import ArtifactStore  # noqa: E402

TOUR_TITLE = "A quick tour of Ledgerly: dashboard, invoices, customers and reports"


def product_tour(clip: Path) -> tuple[Path, dict]:
    """The generated tour and its truth, recorded on the first run and reused after."""
    truth_path = clip.with_suffix(".json")
    if not (clip.exists() and truth_path.exists()):
        print("recording a 40 s product tour of a made-up invoicing app (Ledgerly) …")
        started = time.monotonic()
        write_json(truth_path, make_product_tour(clip))
        print(f"  {clip} ({clip.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - started:.1f} s")
    return clip, json.loads(truth_path.read_text(encoding="utf-8"))


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def show_results(store: ArtifactStore, voiced: dict, described: dict, edited: dict,
                 truth: dict | None, title_hint: str = "") -> None:
    """Print the narration as spoken and the metadata's title, tags and chapters."""
    spoken = store.get_json(voiced["artifacts"]["voiceover.json"])
    print("\nnarration (voiceover.json):")
    for seg in spoken.get("segments", []):
        print(f"  {seg['id']}  {clock(seg['start'])}-{clock(seg['end'])}  {seg['text']}")
    meta = store.get_json(described["artifacts"]["metadata.json"])
    print("\nmetadata:")
    print("  title   :", meta.get("title", ""))
    print("  tags    :", ", ".join(meta.get("tags", [])))
    print("  chapters:", "" if meta.get("chapters") else "(none)")
    for chapter in meta.get("chapters", []):
        print(f"    {clock(chapter['start'])}  {chapter['title']}")
    if truth:
        edl = Edl.from_dict(store.get_json(edited["artifacts"]["edl.json"]))
        # Names that only come from the title hint do not count: the tour's pages must be seen.
        said = " ".join(seg["text"] for seg in spoken.get("segments", [])).lower()
        said = said.replace(title_hint.lower().rstrip(".!?"), " ") if title_hint else said
        on_screen, named = qc.pages_named(edl, truth["pages"], said)
        print(f"\npages still on screen that the narration names (besides the title hint): "
              f"{len(named)} of {len(on_screen)}" + (f" ({', '.join(named)})" if named else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tenant", default="demo")
    ap.add_argument("--clip", type=Path)
    ap.add_argument("--title", help=f"the title hint (default for the tour: {TOUR_TITLE!r})")
    args = ap.parse_args()

    clip, truth = args.clip, None
    if clip is None:
        clip, truth = product_tour(ROOT / ".data" / "samples" / "ledgerly-tour.mp4")
    title = args.title if args.title is not None else (TOUR_TITLE if truth else "")
    clip = clip.resolve()
    video_id = video_id_for(args.tenant, sha256_of(clip))

    port = os.environ.get("AIRFLOW_PORT", "8080")
    client = AirflowClient(f"http://127.0.0.1:{port}").login()
    started = time.monotonic()
    run, created = client.trigger(
        video_id,
        {"tenant": args.tenant, "source": str(clip), "title_hint": title},
        note="make demo",
    )
    print(f"run {video_id}: {'triggered' if created else 'already exists (same file, same tenant)'}")
    run = client.wait(video_id, timeout=1200)
    wall = time.monotonic() - started
    states = {t["task_id"]: t["state"] for t in client.task_instances(video_id)}
    print(f"run finished: {run['state']} in {wall:.1f} s  " + " ".join(f"{k}={v}" for k, v in states.items()))
    if run["state"] != "success":
        return 1
    store = ArtifactStore()

    def where(key: str) -> str:
        path = store.path(key)
        return path.path if path.protocol in ("file", "local", "") else str(path)

    published = client.xcom(video_id, "publish")
    rendered = client.xcom(video_id, "render")
    described = client.xcom(video_id, "metadata")
    print("final.mp4     :", where(rendered["artifacts"]["final.mp4"]))
    print("metadata.json :", where(described["artifacts"]["metadata.json"]))
    print("receipt.json  :", where(published["artifacts"]["receipt.json"]))
    print("outbox        :", published["result"]["location"])
    show_results(store, client.xcom(video_id, "voiceover"), described, client.xcom(video_id, "edit"),
                 truth, title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
