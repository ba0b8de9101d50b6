"""The ground floor holds: stages and providers import only include.core, core imports neither."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_no_upward_imports_between_layers():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_graph.py"), str(ROOT)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stages    -> core" in proc.stdout and "providers -> core" in proc.stdout
