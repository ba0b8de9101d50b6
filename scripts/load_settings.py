"""Apply airflow_settings.yaml (Astro CLI format) with the plain ``airflow`` CLI.

    python scripts/load_settings.py [airflow_settings.yaml]

Connections, pools and variables are written to temporary JSON files in the shapes that
``airflow connections import``, ``airflow pools import`` and ``airflow variables import`` read.
Empty variable values are skipped (the code's defaults apply). Connections that already exist are
left alone (variables too), so keys and values set later in the UI or with ``airflow connections add`` survive ``make up``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml


def to_cli_json(settings: dict) -> dict[str, dict]:
    section = (settings or {}).get("airflow") or {}
    conns = {}
    for c in section.get("connections") or []:
        extra = c.get("conn_extra")
        conns[c["conn_id"]] = {
            k: v
            for k, v in {
                "conn_type": c.get("conn_type"),
                "host": c.get("conn_host"),
                "schema": c.get("conn_schema"),
                "login": c.get("conn_login"),
                "password": c.get("conn_password"),
                "port": c.get("conn_port"),
                "extra": json.dumps(extra) if isinstance(extra, dict) else extra,
            }.items()
            if v not in (None, "")
        }
    pools = {
        p["pool_name"]: {
            "slots": int(p.get("pool_slot", 1)),
            "description": p.get("pool_description", ""),
            "include_deferred": False,
        }
        for p in section.get("pools") or []
    }
    variables = {
        v["variable_name"]: v["variable_value"]
        for v in section.get("variables") or []
        if v.get("variable_value") not in (None, "")
    }
    return {"connections": conns, "pools": pools, "variables": variables}


def main(path: str = "airflow_settings.yaml") -> None:
    data = to_cli_json(yaml.safe_load(Path(path).read_text()))
    commands = {
        # Never overwrite: a connection that exists may hold a key set in the UI or CLI.
        "connections": ["airflow", "connections", "import"],
        "pools": ["airflow", "pools", "import"],
        "variables": ["airflow", "variables", "import", "-a", "skip"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for kind, items in data.items():
            if not items:
                print(f"{kind}: none")
                continue
            f = Path(tmp) / f"{kind}.json"
            f.write_text(json.dumps(items))
            subprocess.run([*commands[kind], str(f)], check=True)
            print(f"{kind}: {', '.join(items)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
