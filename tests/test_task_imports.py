"""A task imports what its stage needs and nothing else.

Every task process parses ``dags/video_pipeline.py``; OpenCV and NumPy cost about a second there
(issue #13). The DAG file imports no stage, each task imports its own stage inside its callable
(:func:`include.pipeline.task_imports` lists what a task runs), so ``publish``, ``captions``,
``metadata``, ``script`` and the review gate never load OpenCV, NumPy or pysubs2. Each check runs
in a fresh interpreter: the test process has them all loaded already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("cv2", "numpy", "pysubs2")

# One fresh interpreter parses the DAG file, then forks a child per task (as a task process
# starts from the parsed DAG) that runs the task's import path and reports what is loaded.
PROBE = r"""
import json, sys
import dags.video_pipeline as dagfile
after_dag = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or m.startswith("include.stages."))
from airflow.dag_processing.dagbag import DagBag
from include.pipeline import imports_in_fork
bag = DagBag(dag_folder=dagfile.__file__)
assert not bag.import_errors, bag.import_errors
dag = bag.dags["video_pipeline"]
tasks = {}
for task in dag.tasks:
    statements, added = imports_in_fork(task)
    heavy = sorted(m for m in HEAVY if m in added or m in sys.modules)
    tasks[task.task_id] = {"statements": statements, "heavy": heavy}
print(json.dumps({"after_dag": after_dag, "tasks": tasks}))
"""


@pytest.fixture(scope="module")
def probed() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_dag_file_imports_no_stage_and_no_media_library(probed):
    loaded = probed["after_dag"]
    assert loaded == [], f"importing dags/video_pipeline.py loads {loaded}"


@pytest.mark.parametrize("task_id", ["captions", "metadata", "publish", "script", "review_gate",
                                     "ingest"])
def test_a_non_media_task_does_not_load_opencv_or_numpy(probed, task_id):
    result = probed["tasks"][task_id]
    assert result["heavy"] == [], (task_id, result)


@pytest.mark.parametrize("task_id, stage, library", [
    ("analyze", "include.stages.analyze", "cv2"),
    ("thumbnail", "include.stages.thumbnail", "cv2"),
    ("edit", "include.stages.edit", "pysubs2"),
    ("captions", "include.stages.sidecar", None),
    ("publish", "include.stages.publish", None),
])
def test_a_task_imports_its_own_stage(probed, task_id, stage, library):
    """The import path is real: each task's listed imports load its stage (and a media task's
    library), so the checks above would see OpenCV if a stage brought it in."""
    result = probed["tasks"][task_id]
    assert f"from include.stages import {stage.rsplit('.', 1)[1]}" in result["statements"]
    if library:
        assert library in result["heavy"], result
