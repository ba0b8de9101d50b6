"""Trigger ``video_pipeline`` on a generated sample clip over REST, wait, print the results.

    python scripts/demo.py [--tenant demo] [--clip path.mp4]

Run by ``make demo`` against the Airflow that ``scripts/airflow.sh up`` started.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from include.airflow_client import AirflowClient  # noqa: E402
from include.sample_media import make_sample  # noqa: E402
from include.stages.ingest import video_id_for  # noqa: E402
from include.storage import ArtifactStore  # noqa: E402


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tenant", default="demo")
    ap.add_argument("--clip", type=Path)
    ap.add_argument("--title", default="A tour of the job monitor dashboard")
    args = ap.parse_args()

    clip = args.clip
    if clip is None:
        clip = ROOT / ".data" / "samples" / "demo.mp4"
        if not clip.exists():
            print("generating a 20 s sample clip …")
            make_sample(clip, seconds=20, size="1280x720")
    clip = clip.resolve()
    video_id = video_id_for(args.tenant, sha256_of(clip))

    port = os.environ.get("AIRFLOW_PORT", "8080")
    client = AirflowClient(f"http://127.0.0.1:{port}").login()
    started = time.monotonic()
    run, created = client.trigger(
        video_id,
        {"tenant": args.tenant, "source": str(clip), "title_hint": args.title},
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
    print(json.dumps(store.get_json(described["artifacts"]["metadata.json"]), indent=2)[:1500])
    return 0


if __name__ == "__main__":
    sys.exit(main())
