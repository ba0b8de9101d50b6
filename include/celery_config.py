"""The Celery app's configuration: Airflow's default plus one addition (``[celery]
celery_config_options = include.celery_config.CELERY_CONFIG``, set by scripts/env.sh).

The addition is Celery's own ``imports`` setting: a Celery worker imports those modules in its
main process when it starts, before its prefork pool forks the pool processes. Airflow's task
supervisor runs inside a pool process and forks the task process from it, so every task process
inherits what the worker imported: ``include.worker_preload`` loads what our tasks import (the
store's S3 stack, NumPy, OpenCV, faster-whisper, Piper, the DAG file's own imports) once per
worker, not once per task. Only a Celery worker acts on ``imports``; the scheduler and the
api-server import this module (to build the app they send tasks with) and nothing else.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

PRELOAD_MODULE = "include.worker_preload"

CELERY_CONFIG = {
    **DEFAULT_CELERY_CONFIG,
    "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), PRELOAD_MODULE),
}
