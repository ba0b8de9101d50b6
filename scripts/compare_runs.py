"""Run the pipeline on one clip at two git revisions and compare what it made, byte for byte.

    python scripts/compare_runs.py OLD_REV NEW_REV [--clip clip.mp4 | --tour] [--out DIR]

Each revision is checked out with ``git worktree add --detach`` under ``--out`` (the shared
``.venv`` linked in), gets its own Airflow home (a migrated SQLite DB) and its own store, and runs
the whole ``video_pipeline`` DAG with ``dag.test()`` offline, as ``tests/test_pipeline.py`` does.
Without ``--clip`` the clip is generated once (``include.sample_media``, 20 s 640x360; ``--tour``:
the generated product tour) and both revisions read the same file.

Compared: ``analyze/segments.json``, ``script/script.json``, ``edit/edl.json``,
``edit/captions.ass``, ``captions/captions.srt|vtt``, ``metadata/metadata.json``,
``render/final.mp4`` (its bytes, its duration and the MD5 of every decoded video and audio frame,
ffmpeg's ``framemd5``). A JSON file whose bytes differ is compared again without the fields
that change on every run by design (``VOLATILE``: the script's revision and run id, timings), and
the report says which. ``--conf tts_provider=espeak`` compares a narrated clip end to end:
Piper (the default voice) samples noise, so its audio, and every time derived from it, differs
on every run even at one revision. Exit status 0 when everything compared equal (bytes, or bytes up to the
volatile fields), 1 otherwise. Writes ``<out>/compare.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TENANT = "cmp"
ARTIFACTS = [
    "analyze/segments.json",
    "script/script.json",
    "edit/edl.json",
    "edit/captions.ass",
    "captions/captions.srt",
    "captions/captions.vtt",
    "metadata/metadata.json",
    "render/final.mp4",
]
# Fields that differ on every run by design (a fresh revision per script run, the run id,
# wall-clock figures).
VOLATILE = {"revision", "run_id", "elapsed_seconds", "seconds", "created_at", "generated_at",
            "wall_seconds", "at"}

RUNNER = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.get_dag("video_pipeline")
if dag is None:
    sys.exit(f"video_pipeline did not load: {bag.import_errors}")
run = dag.test(run_conf={**json.loads(sys.argv[4]), "tenant": sys.argv[2], "source": sys.argv[3]})
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print(json.dumps({"state": str(run.state), "tasks": states}))
"""


def sh(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw)


def checkout(rev: str, out: Path) -> Path:
    commit = sh("git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}").stdout.strip()
    tree = out / f"tree-{commit[:10]}"
    if not tree.exists():
        sh("git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit)
    venv = tree / ".venv"
    if not venv.exists():
        venv.symlink_to((ROOT / ".venv").resolve())
    return tree


def run_pipeline(tree: Path, clip: Path, work: Path, conf: dict) -> dict:
    """The whole DAG at ``tree`` on ``clip``; returns the run's state and where its store is.

    A finished run of the same commit on the same clip is reused (``<work>/result.json``)."""
    home, store = work / "airflow-home", work / "store"
    done = work / "result.json"
    clip_sha = hashlib.sha256(clip.read_bytes()).hexdigest()
    if done.exists():
        result = json.loads(done.read_text())
        if (result.get("clip_sha256") == clip_sha and result.get("conf") == conf
                and Path(result["video_dir"]).is_dir()):
            return result
    shutil.rmtree(work, ignore_errors=True)
    home.mkdir(parents=True)
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "VIDEO_")) and k not in ("PYTHONPATH",)
    }
    env.update(
        PYTHONPATH=str(tree),
        PROJECT_ROOT=str(tree),
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__CORE__DAGS_FOLDER=str(tree / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(tree / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        VIDEO_STORE_ROOT=f"file://{store}",
        VIDEO_OUTBOX=str(work / "outbox"),
    )
    python = str(tree / ".venv" / "bin" / "python")
    sh(python, "-m", "airflow", "db", "migrate", env=env, cwd=tree)
    proc = subprocess.run([python, "-c", RUNNER, str(tree / "dags"), TENANT, str(clip), json.dumps(conf)],
                          env=env, cwd=tree, text=True, capture_output=True)
    (work / "run.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise SystemExit(f"the pipeline at {tree} failed; see {work / 'run.log'}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    videos = sorted((store / "tenants" / TENANT / "videos").iterdir())
    result.update(video_dir=str(videos[-1]), clip_sha256=clip_sha, conf=conf)
    done.write_text(json.dumps(result, indent=2))
    return result


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _first_difference(a, b, path="") -> str:
    if type(a) is not type(b):
        return f"{path or '/'}: {a!r:.80} != {b!r:.80}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}/{k}: only in {'new' if k in b else 'old'}"
            if a[k] != b[k]:
                return _first_difference(a[k], b[k], f"{path}/{k}")
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path or '/'}: {a!r:.80} != {b!r:.80}"


def _frames(path: Path) -> dict:
    probe = json.loads(sh("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json",
                          str(path)).stdout)
    md5 = sh("ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-map", "0:a?", "-f", "framemd5",
             "-").stdout
    lines = [ln.rsplit(",", 1)[-1].strip() for ln in md5.splitlines() if ln and not ln.startswith("#")]
    return {"duration": float(probe["format"]["duration"]), "frames": len(lines),
            "frames_sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def compare(old_dir: Path, new_dir: Path) -> dict:
    report = {}
    for name in ARTIFACTS:
        a, b = old_dir / name, new_dir / name
        if not a.exists() or not b.exists():
            report[name] = {"verdict": "missing", "old": a.exists(), "new": b.exists()}
            continue
        ra, rb = a.read_bytes(), b.read_bytes()
        entry = {"old_sha256": hashlib.sha256(ra).hexdigest(), "new_sha256": hashlib.sha256(rb).hexdigest()}
        if ra == rb:
            entry["verdict"] = "identical bytes"
        elif name.endswith(".json"):
            ja, jb = json.loads(ra), json.loads(rb)
            if _strip(ja) == _strip(jb):
                keys = sorted(_volatile_changed(ja, jb))
                entry["verdict"] = f"identical up to volatile fields {keys}"
            else:
                entry["verdict"] = "differs"
                entry["first_difference"] = _first_difference(_strip(ja), _strip(jb))
        else:
            entry["verdict"] = "differs"
        if name.endswith(".mp4"):
            fa, fb = _frames(a), _frames(b)
            entry.update(old=fa, new=fb)
            if entry["verdict"] == "differs" and fa == fb:
                entry["verdict"] = "same frames and duration, other container bytes"
        report[name] = entry
    return report


def _volatile_changed(a, b, found=None) -> set:
    found = set() if found is None else found
    if isinstance(a, dict) and isinstance(b, dict):
        for k in set(a) | set(b):
            if k in VOLATILE and a.get(k) != b.get(k):
                found.add(k)
            elif k in a and k in b:
                _volatile_changed(a[k], b[k], found)
    elif isinstance(a, list) and isinstance(b, list):
        for x, y in zip(a, b):
            _volatile_changed(x, y, found)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--clip", type=Path)
    parser.add_argument("--tour", action="store_true", help="generate the product tour, not the sample")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "compare-runs")
    parser.add_argument("--keep", action="store_true", help="keep the worktrees")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a run option for both runs, e.g. tts_provider=espeak (Piper samples "
                             "noise: its audio differs on every run, even at one revision)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    clip = args.clip.resolve() if args.clip else out / ("tour.mp4" if args.tour else "sample.mp4")
    if not clip.exists():
        sys.path.insert(0, str(ROOT))
        if args.tour:
            from include.product_tour import make_product_tour

            make_product_tour(clip, size=(1280, 720))
        else:
            from include.sample_media import make_sample

            make_sample(clip, seconds=20, size="640x360")
    conf = dict(item.split("=", 1) for item in args.conf)
    runs, trees = {}, []
    for label, rev in (("old", args.old), ("new", args.new)):
        tree = checkout(rev, out)
        trees.append(tree)
        print(f"{label}: {rev} at {tree}", flush=True)
        runs[label] = run_pipeline(tree, clip, out / f"run-{tree.name[len('tree-'):]}", conf)
        print(f"{label}: {runs[label]['state']}", flush=True)
    report = {
        "old": args.old, "new": args.new, "clip": str(clip), "conf": conf,
        "clip_sha256": hashlib.sha256(clip.read_bytes()).hexdigest(),
        "runs": runs,
        "artifacts": compare(Path(runs["old"]["video_dir"]), Path(runs["new"]["video_dir"])),
    }
    (out / "compare.json").write_text(json.dumps(report, indent=2))
    ok = all(r["state"] == "success" for r in runs.values())
    for name, entry in report["artifacts"].items():
        print(f"{name:28} {entry['verdict']}" + (f"  ({entry['first_difference']})"
                                                  if "first_difference" in entry else ""))
        ok &= entry["verdict"].startswith(("identical", "same frames"))
    if not args.keep:
        for tree in trees:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)])
    print(f"report: {out / 'compare.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
