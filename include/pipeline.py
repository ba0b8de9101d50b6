"""The Airflow side of a stage: bytes in from the store, the pure stage, bytes out, errors mapped.

``dags/video_pipeline.py`` stays a stage table; every task body is a few lines around
:func:`stage_io`::

    with stage_io("analyze", ingested) as io:
        result = analyze.run(io.fetch(ingested["artifacts"]["source"]), io.settings, io.out_dir)
        return io.publish(result)

XCom carries only what :meth:`StageIO.publish` returns: ``video_id``, ``tenant``, the artifact
keys of this stage and the stage's small result.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.stages.errors import FatalError, RetryableError
from include.stages.settings import Settings
from include.storage import ArtifactStore, artifact_key

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

    def key(self, name: str, stage: str | None = None) -> str:
        return artifact_key(self.tenant, self.video_id, stage or self.stage, name)

    def fetch(self, key: str, name: str | None = None) -> Path:
        """Download ``key`` into the work dir (once) and return the local path."""
        if key not in self.fetched:
            local = self.work_dir / "in" / (name or key.rsplit("/", 2)[-2] + "__" + key.rsplit("/", 1)[-1])
            self.fetched[key] = self.store.get_file(key, local)
        return self.fetched[key]

    def fetch_tree(self, keys: dict[str, str], under: str) -> Path:
        """Download several keys keeping their relative names under one local folder."""
        base = self.work_dir / "in" / under
        for rel, key in keys.items():
            self.fetched[key] = self.store.get_file(key, base / rel)
        return base

    def publish(self, result: dict[str, Any] | None = None) -> dict[str, Any]:
        """Upload every file the stage wrote to ``out_dir``; return the XCom payload."""
        artifacts = {}
        for local in sorted(self.out_dir.rglob("*")):
            if local.is_file() and not local.name.startswith("."):
                rel = local.relative_to(self.out_dir).as_posix()
                artifacts[rel] = self.store.put_file(local, self.key(rel))
        log.info("%s: stored %d artifact(s) under %s", self.stage, len(artifacts), self.key(""))
        return {
            "video_id": self.video_id,
            "tenant": self.tenant,
            "artifacts": artifacts,
            "result": result or {},
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
            )
            io.out_dir.mkdir(parents=True)
            yield io
        finally:
            shutil.rmtree(work, ignore_errors=True)
