"""The Celery workers import our tasks' modules once, before the pool forks (include/celery_config.py).

Each check runs in a fresh interpreter: the test process has everything loaded already.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.conftest import ROOT


def _run(code: str, **env) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cluster_setting() -> str:
    """The value scripts/cluster.sh (hence docker/, which runs it) gives the option."""
    found = re.search(r'AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS="\$\{AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS:-([^}]+)\}"',
                      (ROOT / "scripts" / "cluster.sh").read_text())
    assert found, "scripts/cluster.sh does not set [celery] celery_config_options"
    return found.group(1)


def test_the_workers_app_is_airflows_default_config_plus_the_preload():
    """The app Airflow's `celery worker` command runs, built with cluster.sh's setting: every
    default setting as Airflow makes it, and Celery's worker start-up (the loader's
    import_default_modules, in the main process before the pool forks) loads the preload."""
    probe = r"""
import json, sys
from airflow.providers.celery.executors.celery_executor import app
from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
before = "cv2" in sys.modules or "include.worker_preload" in sys.modules
differs = sorted(k for k, v in DEFAULT_CELERY_CONFIG.items() if app.conf[k] != v)
app.loader.import_default_modules()
print(json.dumps({"imports": list(app.conf.imports), "differs": differs, "before": before,
                  "after": [m for m in ("include.worker_preload", "cv2", "s3fs", "include.pipeline")
                            if m in sys.modules]}))
"""
    got = _run(probe, AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=_cluster_setting(),
               AIRFLOW__CELERY__BROKER_URL="redis://127.0.0.1:6379/15")
    assert got["imports"] == ["include.worker_preload"]
    assert got["differs"] == []
    assert got["before"] is False  # building the app (scheduler, api-server) preloads nothing
    assert got["after"] == ["include.worker_preload", "cv2", "s3fs", "include.pipeline"]


def test_a_task_process_forked_after_the_preload_imports_nothing_heavy_again():
    """As a Celery worker: preload, parse the DAG file, fork per task and run the task's imports
    (include.pipeline.task_imports): no project module and no library among those the stages
    use is imported anew in the task process; every preload module is installed here."""
    probe = r"""
import json, sys
import include.worker_preload as preload
missing = preload.preload()
import dags.video_pipeline as dagfile
from airflow.dag_processing.dagbag import DagBag
from include.pipeline import imports_in_fork
bag = DagBag(dag_folder=dagfile.__file__)
assert not bag.import_errors, bag.import_errors
STAGE_LIBRARIES = ("include", "numpy", "cv2", "PIL", "moviepy", "pysubs2", "opentimelineio",
                   "tesserocr", "faster_whisper", "ctranslate2", "onnxruntime", "piper", "s3fs",
                   "botocore")
tasks = {}
for task in bag.dags["video_pipeline"].tasks:
    _statements, added = imports_in_fork(task)
    tasks[task.task_id] = [m for m in added if m.split(".")[0] in STAGE_LIBRARIES]
print(json.dumps({"missing": missing, "tasks": tasks}))
"""
    got = _run(probe)
    assert got["missing"] == []
    assert len(got["tasks"]) >= 14, got["tasks"]
    again = {t: new for t, new in got["tasks"].items() if new}
    assert again == {}, f"add these to include.worker_preload.MODULES: {again}"


def test_a_task_forked_after_the_preload_loads_the_voice_without_reading_its_model():
    """The default Piper voice's model (63 MB, patched for its phoneme durations) is read once by
    the worker; a forked voiceover builds its session from those bytes without opening the file."""
    probe = r"""
import builtins, json, os, pathlib
import include.worker_preload  # noqa: F401
from include.providers import piper_timing, tts
model = str(tts.voice_model(tts.PiperTTS.default_voice)[0])
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    opened = []
    real = pathlib.Path.read_bytes
    pathlib.Path.read_bytes = lambda self: opened.append(str(self)) or real(self)
    voice = tts.piper_voice(tts.PiperTTS.default_voice)
    os.write(write, json.dumps({"opened": opened, "outputs": len(voice.session.get_outputs()),
                                "hits": piper_timing.load_model_bytes.cache_info().hits}).encode())
    os._exit(0)
os.close(write)
with os.fdopen(read) as fh:
    child = json.loads(fh.read())
os.waitpid(pid, 0)
print(json.dumps({"model": model, **child}))
"""
    got = _run(probe)
    assert got["model"] not in got["opened"], got
    assert got["hits"] == 1 and got["outputs"] == 2, got  # the cached, patched bytes
