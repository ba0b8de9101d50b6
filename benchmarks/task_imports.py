"""What every task of ``video_pipeline`` imports before it does its work, and how long that takes.

    python benchmarks/task_imports.py [--rounds 5] [--ref main] > benchmarks/task_imports.json

A task process imports Airflow's task runner, parses the DAG file, then calls the task's
callable. Each round is one fresh interpreter that times

- ``airflow``: ``airflow.sdk`` and the task runner (Airflow's own start-up, the same for all);
- ``dag``: ``dags/video_pipeline.py`` (what every task pays);

then forks one child per task (a task process starts from the parsed DAG, as under the
LocalExecutor) that times ``task``: the task's own import path, the imports inside its callable
and the project helpers it calls (:func:`include.pipeline.task_imports`). ``project`` =
``dag + task`` is the project's own import cost in that task; ``heavy`` lists which of OpenCV,
NumPy, pysubs2 are loaded when the task starts work. Times are CPU seconds of the process
(steady under load; wall seconds beside them), medians over the rounds.

``--ref REF`` also measures the tree of git revision REF (``git archive`` into a temp dir) in
alternate rounds: the ratio of the two is the figure, not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("cv2", "numpy", "pysubs2")

PROBE = r"""
import json, os, sys, time

def clocks():
    return time.perf_counter(), time.process_time()

def since(start):
    wall, cpu = clocks()
    return {"wall": wall - start[0], "cpu": cpu - start[1]}

start = clocks()
import airflow.sdk, airflow.sdk.execution_time.task_runner  # Airflow's own start-up
airflow_t = since(start)
start = clocks()
import dags.video_pipeline as dagfile
dag_t = since(start)
from airflow.dag_processing.dagbag import DagBag  # not timed: finds the task objects
try:
    from include.pipeline import task_imports
except ImportError:  # a tree from before lazy imports: the DAG file imported everything
    task_imports = lambda task: []
dag = DagBag(dag_folder=dagfile.__file__).dags["video_pipeline"]
tasks = {}
for task in dag.tasks:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        statements = task_imports(task)
        start = clocks()
        for statement in statements:
            exec(statement, {})
        out = {"task": since(start), "heavy": [m for m in HEAVY if m in sys.modules]}
        os.write(write, json.dumps(out).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        tasks[task.task_id] = json.loads(fh.read())
    os.waitpid(pid, 0)
print(json.dumps({"airflow": airflow_t, "dag": dag_t, "tasks": tasks}))
"""


def probe(tree: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}"], cwd=tree,
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def summarize(runs: list[dict]) -> dict:
    def med(values):
        return round(statistics.median(values), 3)

    out = {"airflow_cpu_s": med(r["airflow"]["cpu"] for r in runs),
           "dag_cpu_s": med(r["dag"]["cpu"] for r in runs),
           "dag_wall_s": med(r["dag"]["wall"] for r in runs), "tasks": {}}
    for task_id in runs[0]["tasks"]:
        per = [r["tasks"][task_id] for r in runs]
        out["tasks"][task_id] = {
            "task_cpu_s": med(p["task"]["cpu"] for p in per),
            "project_cpu_s": med(r["dag"]["cpu"] + r["tasks"][task_id]["task"]["cpu"]
                                 for r in runs),
            "project_wall_s": med(r["dag"]["wall"] + r["tasks"][task_id]["task"]["wall"]
                                  for r in runs),
            "heavy": per[-1]["heavy"],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ref", help="also measure this git revision's tree (e.g. main)")
    args = ap.parse_args()
    trees = {"this tree": ROOT}
    tmp = None
    if args.ref:
        tmp = tempfile.TemporaryDirectory(prefix="task-imports-")
        archive = subprocess.run(["git", "archive", args.ref], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp.name], input=archive, check=True)
        trees[args.ref] = Path(tmp.name)
    samples: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            samples[name].append(probe(tree))
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "rounds": args.rounds,
        "trees": {name: summarize(runs) for name, runs in samples.items()},
    }
    if args.ref:
        ours, theirs = result["trees"]["this tree"], result["trees"][args.ref]
        result["project_cpu_ratio"] = {
            t: round(ours["tasks"][t]["project_cpu_s"] / theirs["tasks"][t]["project_cpu_s"], 2)
            for t in ours["tasks"] if t in theirs["tasks"]}
    print(json.dumps(result, indent=2))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
