"""docker/ checked statically (no Docker engine here): the compose topology is the one
scripts/cluster.sh runs natively — same components, same commands, same settings."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

DOCKER = ROOT / "docker"
CLUSTER_SH = (ROOT / "scripts" / "cluster.sh").read_text()
AIRFLOW_SERVICES = ["airflow-init", "api-server", "scheduler", "dag-processor", "triggerer",
                    "worker-media", "worker-default"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def _components() -> list[str]:
    return re.search(r"^ALL=\(([^)]*)\)", CLUSTER_SH, re.M).group(1).split()


def _cluster_defaults() -> dict[str, str]:
    """The settings cluster.sh exports before sourcing env.sh: ``export X="${X:-default}"``."""
    return dict(re.findall(r'^export (\w+)="\$\{\1:-(.*)\}"$', CLUSTER_SH, re.M))


def test_services_present(compose):
    services = compose["services"]
    assert {"postgres", "redis", "minio", "minio-init", *AIRFLOW_SERVICES} <= set(services)
    assert "mc mb" in " ".join(services["minio-init"]["command"])


def test_every_airflow_service_runs_a_cluster_sh_component(compose):
    services = compose["services"]
    assert services["airflow-init"]["command"] == ["bash", "scripts/cluster.sh", "init"]
    components = _components()
    assert sorted(components) == sorted(AIRFLOW_SERVICES[1:])
    for name in components:
        assert services[name]["command"] == ["bash", "scripts/cluster.sh", "run", name], name


def test_airflow_settings_match_the_native_cluster(compose):
    envs = [compose["services"][name]["environment"] for name in AIRFLOW_SERVICES]
    assert all(env == envs[0] for env in envs), "every Airflow service shares one environment"
    env = envs[0]
    defaults = _cluster_defaults()
    assert set(defaults) <= set(env), set(defaults) - set(env)
    assert env["AIRFLOW__CORE__EXECUTOR"] == defaults["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    visibility = "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"
    assert int(env[visibility]) == int(defaults[visibility]) > 2 * 3600  # render may take 2 h

    db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert db.startswith("postgresql+psycopg2://") and "@postgres:5432/" in db
    # cluster.sh derives the result backend from the DB URL the same way.
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://" + db.split("://", 1)[1]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")

    api = compose["services"]["api-server"]
    port = api["ports"][0].rsplit(":", 1)[1]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://api-server:{port}/execution/"
    assert env["AIRFLOW__API__HOST"] == "0.0.0.0"
    assert "AIRFLOW__API_AUTH__JWT_SECRET" in env and "AIRFLOW__CORE__FERNET_KEY" in env


def test_store_is_the_minio_bucket(compose):
    env = compose["services"]["worker-media"]["environment"]
    conn_id, bucket = re.match(r"s3://(\w+)@([\w.-]+)/", env["VIDEO_STORE_ROOT"]).groups()
    conn = env[f"AIRFLOW_CONN_{conn_id.upper()}"]
    assert '"endpoint_url": "http://minio:9000"' in conn and "s3v4" in conn
    assert f"mc mb --ignore-existing store/{bucket}" in " ".join(compose["services"]["minio-init"]["command"])


def test_queues_and_pool_match_the_dag():
    from dags.video_pipeline import MEDIA

    assert f"-q {MEDIA['queue']} " in CLUSTER_SH and "-q default " in CLUSTER_SH
    pools = [p["pool_name"] for p in yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())["airflow"]["pools"]]
    assert MEDIA["pool"] in pools


def test_env_example_defines_every_variable_and_no_secret():
    compose_text = (DOCKER / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", compose_text))
    example = dict(
        line.split("=", 1) for line in (DOCKER / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert used == set(example), used ^ set(example)
    for name, value in example.items():
        if re.search(r"SECRET|KEY|PASSWORD", name):
            assert value == "", f"{name} must be empty in .env.example"
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=ROOT)
    assert ignored.returncode == 0, "docker/.env must be git-ignored"


def test_dockerfile():
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2(-python3\.11)?$", text, re.M)
    for package in ("ffmpeg", "espeak-ng", "tesseract-ocr", "tesseract-ocr-eng", "fonts-dejavu-core"):
        assert package in text
    assert "pip install --no-cache-dir -r /opt/video-pipeline/requirements.txt" in text
    for path in ("dags/", "plugins/", "include/", "scripts/", "airflow_settings.yaml"):
        assert re.search(rf"^COPY .*\b{re.escape(path)} /opt/airflow/", text, re.M), path


def test_requirements_are_pinned():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert re.match(r"^[A-Za-z0-9_.\[\],-]+==[\w.+-]+$", line), line
            name, version = line.split("==")
            pins[name.split("[")[0].lower()] = version
    assert pins["apache-airflow"] == "3.3.2"
    assert pins["celery"].startswith("5.") and int(pins["celery"].split(".")[1]) < 7
    assert tuple(map(int, pins["apache-airflow-providers-celery"].split(".")[:2])) >= (3, 26)


# --------------------------------------------------------------------------- logins (README "Auth and tenants")


def test_production_logins_come_from_secrets(compose):
    env = compose["services"]["api-server"]["environment"]
    assert env["STUDIO_DEV_USERS"] == "0" == _cluster_defaults()["STUDIO_DEV_USERS"]
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == "include.studio.auth_manager.TenantAuthManager"
    users = dict(u.split(":") for u in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(","))
    assert users == {"admin": "admin", "studio": "op"}  # user: role; no demo tenant users
    for name in ("AIRFLOW_ADMIN_PASSWORD", "STUDIO_AIRFLOW_PASSWORD"):
        assert env[name] == f"${{{name}:?set in docker/.env}}"
    # the passwords file lives on a volume of its own, which the image creates for airflow
    passwords = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    volumes = compose["services"]["api-server"]["volumes"]
    assert f"auth:{passwords.rsplit('/', 1)[0]}" in volumes and "auth" in compose["volumes"]
    assert f"RUN mkdir -p -m 700 {passwords.rsplit('/', 1)[0]}" in (DOCKER / "Dockerfile").read_text()
    text = (DOCKER / "docker-compose.yml").read_text().lower()
    assert "alice" not in text and "bob" not in text


def _env_sh(home, **env) -> subprocess.CompletedProcess:
    """Source scripts/env.sh in a clean environment; print the passwords file it wrote."""
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(home), "AIRFLOW_HOME": str(home), **env}
    script = f'. "{ROOT}/scripts/env.sh" && cat "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"'
    return subprocess.run(["bash", "-c", script], env=clean, capture_output=True, text=True, timeout=120)


def test_outside_dev_no_default_password_survives(tmp_path):
    import json
    import stat

    old = {"admin": "admin", "alice": "alice", "bob": "bob", "carol": "k3Qv8sTzP0wLx2"}
    (tmp_path / "passwords.json").write_text(json.dumps(old))  # a home that once ran in dev
    done = _env_sh(tmp_path, STUDIO_DEV_USERS="0")
    assert done.returncode == 0, done.stderr
    passwords = json.loads(done.stdout)
    assert set(passwords) == {"admin", "studio", "carol"}
    secrets = dict(line.split("=", 1) for line in (tmp_path / "secrets.env").read_text().splitlines())
    assert passwords["admin"] == secrets["AIRFLOW_ADMIN_PASSWORD"] and len(passwords["admin"]) >= 24
    assert passwords["studio"] == secrets["STUDIO_AIRFLOW_PASSWORD"] and len(passwords["studio"]) >= 24
    for path in ("passwords.json", "secrets.env"):
        assert stat.S_IMODE((tmp_path / path).stat().st_mode) == 0o600, path
    # the same secrets at the next start; a demo admin password is refused
    assert json.loads(_env_sh(tmp_path, STUDIO_DEV_USERS="0").stdout) == passwords
    refused = _env_sh(tmp_path / "other", STUDIO_DEV_USERS="0", AIRFLOW_ADMIN_PASSWORD="admin")
    assert refused.returncode != 0 and "AIRFLOW_ADMIN_PASSWORD must be a secret" in refused.stderr


def test_dev_keeps_the_demo_users_and_a_generated_studio_password(tmp_path):
    import json

    done = _env_sh(tmp_path)
    assert done.returncode == 0, done.stderr
    passwords = json.loads(done.stdout)
    assert {k: passwords[k] for k in ("admin", "alice", "bob")} == {"admin": "admin", "alice": "alice", "bob": "bob"}
    assert len(passwords["studio"]) >= 24 and passwords["studio"] not in ("studio", "admin")
