"""The ground floor holds: stages and providers import only include.core, core imports neither."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from tests.conftest import ROOT


def test_no_upward_imports_between_layers():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_graph.py"), str(ROOT)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stages    -> core" in proc.stdout and "providers -> core" in proc.stdout


# A store key spelled by hand: the tenants/ root or a fixed name of the layout outside
# include/core/keys.py (docstrings may describe the layout; "tenants/<tenant>/…" in help texts too).
HAND_SPELLED_KEY = re.compile(
    r"tenants/(?!<)|tts-cache|studio/idempotency|^(sealed|finalized|upload|approval)\.json$"
)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def hand_spelled_keys(root) -> list[str]:
    """Every string constant (f-string parts included) under include/, dags/, scripts/ and
    benchmarks/ that spells a piece of the store's key layout outside include/core/keys.py."""
    hits = []
    for folder in ("include", "dags", "scripts", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            if path.relative_to(root).as_posix() == "include/core/keys.py":
                continue
            tree = ast.parse(path.read_text())
            docs = _docstrings(tree)
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and id(node) not in docs and HAND_SPELLED_KEY.search(node.value)):
                    hits.append(f"{path.relative_to(root)}:{node.lineno}: {node.value[:60]!r}")
    return hits


def test_store_keys_are_spelled_only_by_core_keys():
    assert hand_spelled_keys(ROOT) == []


def test_the_key_scan_sees_a_hand_spelled_key(tmp_path):
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "x.py").write_text(
        '"""Keys under tenants/<t>/ are fine in a docstring."""\n'
        'def f(t, n):\n    return f"tenants/{t}/tts-cache/{n}"\n'
    )
    assert hand_spelled_keys(tmp_path) == ["include/x.py:3: 'tenants/'", "include/x.py:3: '/tts-cache/'"]


REVIEW_KEYS = {"script_key", "reviewed_script_key", "decision_key", "review_key"}


def test_only_review_spells_the_script_and_review_keys():
    """One owner of "which script is current": the script and review keys of core.keys are used
    by include/review.py alone; the gate, the tasks (StageIO.script_key) and the studio ask
    ScriptReview."""
    users = []
    for folder in ("include", "dags", "scripts", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ("include/review.py", "include/core/keys.py"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "include.core.keys":
                    users += [f"{rel}: imports {a.name}" for a in node.names if a.name in REVIEW_KEYS]
                if (isinstance(node, ast.Attribute) and node.attr in REVIEW_KEYS
                        and isinstance(node.value, ast.Name) and node.value.id == "keys"):
                    users.append(f"{rel}:{node.lineno}: keys.{node.attr}")
    assert users == []
