# Source me: the environment every Airflow component of this project runs with.
#   . scripts/env.sh            (defaults: embedded SQLite, LocalExecutor, port 8080)
# Everything can be overridden from the caller's environment (AIRFLOW_HOME, AIRFLOW_PORT, ...).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PROJECT_ROOT="$ROOT"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW_PORT="${AIRFLOW_PORT:-8080}"
export PATH="$ROOT/.venv/bin:$PATH"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$AIRFLOW_HOME"

export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://127.0.0.1:$AIRFLOW_PORT}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:$AIRFLOW_PORT/execution/}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL="${AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL:-30}"
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="${AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT:-8793}"
export AIRFLOW__TRIGGERER__CAPACITY="${AIRFLOW__TRIGGERER__CAPACITY:-100}"

# Dev logins (SimpleAuthManager, dev only), from a file we own: admin / admin, and the studio's
# tenant users alice / alice and bob / bob (role "user"; tenants from the studio_tenants Variable).
if ! grep -q '"bob"' "$AIRFLOW_HOME/passwords.json" 2>/dev/null; then
  python3 - "$AIRFLOW_HOME/passwords.json" <<'PY'
import json, os, sys
path = sys.argv[1]
known = json.load(open(path)) if os.path.exists(path) else {}
with open(path, "w") as f:
    json.dump({"admin": "admin", "alice": "alice", "bob": "bob", **known}, f)
PY
fi
export AIRFLOW__CORE__AUTH_MANAGER="${AIRFLOW__CORE__AUTH_MANAGER:-airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin,alice:user,bob:user}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"

# Secrets shared by every component (and every host when scaled out): taken from the caller's
# environment when both are set (containers: docker/.env), else generated once per home.
if [ -z "${AIRFLOW__API_AUTH__JWT_SECRET:-}" ] || [ -z "${AIRFLOW__CORE__FERNET_KEY:-}" ]; then
  if [ ! -f "$AIRFLOW_HOME/secrets.env" ]; then
    python3 - "$AIRFLOW_HOME/secrets.env" <<'PY'
import base64, os, secrets, sys
with open(sys.argv[1], "w") as f:
    f.write(f"AIRFLOW__API_AUTH__JWT_SECRET={secrets.token_urlsafe(32)}\n")
    f.write(f"AIRFLOW__CORE__FERNET_KEY={base64.urlsafe_b64encode(os.urandom(32)).decode()}\n")
PY
  fi
  set -a; . "$AIRFLOW_HOME/secrets.env"; set +a
fi
