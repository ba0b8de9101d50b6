"""Imported once by each Celery worker's main process at start-up (``include.celery_config``),
before its pool forks: every task process, forked from a pool process by Airflow's task
supervisor, inherits these modules instead of importing them again.

Imports, and pure data: no model, thread pool, event loop, client or connection is created here
(none of them would survive a fork). The data is what every task's S3 client would otherwise
read and parse again (:func:`include.storage.prepare_s3`: botocore's S3 model, endpoints and
partitions, the CA bundle's TLS context). A module that is not installed (faster-whisper and Piper are
optional) or fails to import is logged and left to the task that needs it, which then reports
the error itself; the worker starts either way.
"""

from __future__ import annotations

import gc
import importlib
import logging

log = logging.getLogger(__name__)

MODULES = (
    # what every task process imports when it parses dags/video_pipeline.py
    "include.pipeline",
    "include.publish_operator",
    "include.qc_gate",
    "include.review_gate",
    "include.tenancy",
    # the artifact store on s3:// (Airflow's ObjectStoragePath → s3fs, aiobotocore, botocore):
    # about 0.45 CPU-s per task that touches the store
    "airflow.providers.amazon.aws.fs.s3",
    "s3fs",
    "upath.implementations.cloud",
    "fsspec.implementations.memory",
    # the stages and what they import inside their functions
    "numpy",
    "cv2",
    "PIL.Image",
    "PIL.ImageDraw",
    "PIL.ImageFont",
    "moviepy",
    "pysubs2",
    "opentimelineio",
    "tesserocr",
    "faster_whisper",
    "ctranslate2",
    "onnxruntime",
    "piper",
    "piper.config",
    "include.providers.asr",
    "include.providers.chat",
    "include.providers.cloud",
    "include.providers.llm",
    "include.providers.narrator",
    "include.providers.publishers",
    "include.providers.registry",
    "include.providers.vision",
    "include.providers.youtube",
    "include.providers.ocr",
    "include.providers.tts",
    "include.providers.piper_timing",
    "include.stages.ingest",
    "include.stages.analyze",
    "include.stages.script",
    "include.stages.voiceover",
    "include.stages.edit",
    "include.stages.timeline_export",
    "include.stages.render_chunks",
    "include.stages.animate",
    "include.stages.render",
    "include.stages.thumbnail",
    "include.stages.sidecar",
    "include.stages.metadata",
    "include.stages.qc",
    "include.stages.publish",
)


def preload(modules=MODULES) -> list[str]:
    """Import ``modules``; returns those that could not be imported."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 — the task that needs it reports the error
            missing.append(name)
            log.warning("worker preload: %s not imported (%s: %s)", name, type(exc).__name__, exc)
    return missing


def _asset_uri_resources() -> None:
    """The providers' asset URI handlers, which the hook lineage collector discovers (importing
    each provider's ``assets`` module) in every task that opens a store file; a dict of
    functions, kept by the task SDK's providers manager (a per-process singleton)."""
    import airflow.sdk.lineage  # noqa: F401
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    ProvidersManagerTaskRuntime().initialize_providers_asset_uri_resources()


def _s3() -> None:
    from include.storage import prepare_s3

    prepare_s3()


PREPARE = (_s3, _asset_uri_resources)


def prepare(steps=PREPARE) -> list[str]:
    """Build the fork-safe data of ``steps``; returns the names of those that failed (each task
    then builds its own, as before)."""
    failed = []
    for step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001
            failed.append(step.__name__)
            log.warning("worker preload: %s not prepared (%s: %s)", step.__name__, type(exc).__name__, exc)
    return failed


preload()
prepare()
# As Airflow's own preload does (celery_executor_utils.on_celery_import_modules): keep the
# collector off these objects, so the forked processes' collections neither walk nor copy them.
gc.freeze()
