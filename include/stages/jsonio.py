"""Reading and writing the JSON artifacts that stages exchange."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from include.stages.errors import FatalError
from include.stages.media import atomic_output


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


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write ``data`` as UTF-8 JSON to a temp sibling, then ``os.replace`` it onto ``path``."""
    path = Path(path)
    tmp = atomic_output(path)
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
