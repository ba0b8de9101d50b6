"""airflow_settings.yaml (Astro CLI format) loads without the Astro CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from scripts.load_settings import to_cli_json
from tests.conftest import ROOT


def test_shapes_match_the_airflow_cli_import_formats():
    data = to_cli_json(yaml.safe_load((ROOT / "airflow_settings.yaml").read_text()))
    assert data["pools"]["media_encode"]["slots"] >= 1
    converted = to_cli_json({"airflow": {
        "connections": [{"conn_id": "r2", "conn_type": "aws", "conn_extra": {"region_name": "auto"}}],
        "variables": [{"variable_name": "a", "variable_value": "b"}, {"variable_name": "e", "variable_value": ""}],
    }})
    assert converted["connections"]["r2"] == {"conn_type": "aws", "extra": json.dumps({"region_name": "auto"})}
    assert converted["variables"] == {"a": "b"}


def test_loader_applies_the_file_with_the_airflow_cli(airflow_db, tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"airflow": {
        "pools": [{"pool_name": "test_pool", "pool_slot": 3, "pool_description": "t"}],
        "variables": [{"variable_name": "video_test_var", "variable_value": "42"}],
    }}))
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    # the test DB outlives a run; the loader keeps existing keys, and one written by an earlier
    # run under another fernet key (a new AIRFLOW_HOME/secrets.env) would not read back
    subprocess.run(["airflow", "variables", "delete", "video_test_var"], env=env,
                   capture_output=True)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "load_settings.py"), str(settings)],
                   check=True, env=env, capture_output=True)
    out = subprocess.run(["airflow", "variables", "get", "video_test_var"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "42"
    pools = subprocess.run(["airflow", "pools", "get", "test_pool", "-o", "json"], env=env,
                           capture_output=True, text=True, check=True).stdout
    row = json.loads(pools.strip().splitlines()[-1])[0]
    assert int(row["slots"]) == 3
