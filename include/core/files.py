"""Files on the worker: JSON artifacts in and out, and the one way to write a file atomically.

Every artifact a stage writes goes through :func:`atomic_write`: the bytes land in a hidden temp
sibling that is ``os.replace``-d onto the final name only when writing succeeded, so a reader (or
the upload in ``StageIO.publish``, which skips dot-files) never sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from include.core.errors import FatalError


def temp_sibling(path: Path) -> Path:
    """The hidden temp name :func:`atomic_write` uses for ``path`` (same folder, same suffix)."""
    return path.with_name(f".{path.name}.partial{path.suffix}")


@contextlib.contextmanager
def atomic_write(path: Path | str) -> Iterator[Path]:
    """Yield a temp path to write ``path``'s content to; on success it replaces ``path``.

    On an exception the temp file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> Path:
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def copy_file(source: Path | str, target: Path | str) -> Path:
    with atomic_write(target) as tmp:
        shutil.copyfile(source, tmp)
    return Path(target)


def sha256_of(path: Path | str) -> str:
    """The hex SHA-256 of a local file, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path, what: str) -> dict:
    """Load a JSON object from ``path``; a missing, unreadable or non-object file is a FatalError.

    ``what`` names the artifact in the error message (e.g. ``"segments.json"``).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FatalError(
            f"{what} is missing ({path}); run the stage that produces it first."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FatalError(f"{what} is not readable JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise FatalError(f"{what} must contain a JSON object.")
    return data


def write_json(path: Path | str, data: Any) -> Path:
    """``data`` as indented UTF-8 JSON at ``path``, written atomically."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
