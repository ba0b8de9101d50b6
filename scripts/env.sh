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
# The scheduler sleeps this long only after a loop that found nothing to do (Airflow's default
# 1 s): each task of a run then waits up to that long to be queued after its upstream ended.
export AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="${AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME:-0.2}"
# A worker's task supervisor waits for its task process in select() for up to this many seconds
# (Airflow's default 5); when the process exits a moment after closing its sockets, the exit is
# only seen when that wait ends: the worker slot (a LocalExecutor process, a Celery slot) sat
# idle 5 s after about half the tasks. Heartbeats go out at most this often (1 s: one small
# request per running task per second to the api-server).
export AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="${AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL:-1}"
# OpenMP threads (CTranslate2's, under faster-whisper) sleep when idle instead of spinning for a
# while first: on shared cores that spinning is CPU taken from the other tasks (loading the
# speech model cost 0.42–0.83 CPU-s spinning, 0.25–0.33 s passive; the same words out).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

# Secrets shared by every component (and every host when scaled out), each taken from the
# caller's environment when set (containers: docker/.env), else from $AIRFLOW_HOME/secrets.env,
# where a missing one is generated once: the JWT secret and fernet key, the studio's own Airflow
# password (STUDIO_AIRFLOW_PASSWORD), and outside dev the admin password (AIRFLOW_ADMIN_PASSWORD).
export STUDIO_DEV_USERS="${STUDIO_DEV_USERS:-1}"
SECRETS="AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__CORE__FERNET_KEY STUDIO_AIRFLOW_PASSWORD"
[ "$STUDIO_DEV_USERS" = 1 ] || SECRETS="$SECRETS AIRFLOW_ADMIN_PASSWORD"
missing=""
for name in $SECRETS; do [ -n "${!name:-}" ] || missing="$missing $name"; done
if [ -n "$missing" ]; then
  python3 - "$AIRFLOW_HOME/secrets.env" $missing <<'PY'
import base64, os, secrets, sys
path, names = sys.argv[1], sys.argv[2:]
have = {}
if os.path.exists(path):
    have = dict(line.rstrip("\n").split("=", 1) for line in open(path) if "=" in line)
new = {n: base64.urlsafe_b64encode(os.urandom(32)).decode() if n.endswith("FERNET_KEY") else secrets.token_urlsafe(24)
       for n in names if not have.get(n)}
if new:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write("".join(f"{n}={v}\n" for n, v in new.items()))
PY
  while IFS= read -r line; do
    name="${line%%=*}"
    case " $missing " in *" $name "*) export "$name=${line#*=}" ;; esac
  done <"$AIRFLOW_HOME/secrets.env"
fi
unset SECRETS missing name line

# Logins (TenantAuthManager = SimpleAuthManager where users mapped to a tenant in the
# studio_tenants Variable get no Airflow permission; include/studio/auth_manager.py). Passwords
# live in a file only this user can read, rewritten from the secrets above at every start:
#   studio (role op): the studio's service identity, password STUDIO_AIRFLOW_PASSWORD;
#   dev (STUDIO_DEV_USERS=1): admin / admin and the tenant users alice / alice (acme), bob / bob (globex);
#   otherwise (scripts/cluster.sh, docker/): admin / AIRFLOW_ADMIN_PASSWORD, no demo users.
# More users: add `name:role` to AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS and their password to
# the file (or let Airflow generate one: it prints it once in the api-server's log).
if [ "$STUDIO_DEV_USERS" = 1 ]; then
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin,studio:op,alice:user,bob:user}"
else
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin,studio:op}"
fi
export AIRFLOW__CORE__AUTH_MANAGER="${AIRFLOW__CORE__AUTH_MANAGER:-include.studio.auth_manager.TenantAuthManager}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/passwords.json}"
python3 - "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" <<'PY'
import json, os, sys
path = sys.argv[1]
os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
try:
    known = json.load(open(path))
except (OSError, ValueError):
    known = {}
dev = os.environ["STUDIO_DEV_USERS"] == "1"
demo = {"admin": "admin", "alice": "alice", "bob": "bob"}
ours = {"studio": os.environ["STUDIO_AIRFLOW_PASSWORD"]}
if dev:
    passwords = {**demo, **known, **ours}
else:  # no demo password survives outside dev, whatever the file held before
    admin = os.environ["AIRFLOW_ADMIN_PASSWORD"]
    if len(admin) < 12 or admin in demo.values():
        sys.exit("AIRFLOW_ADMIN_PASSWORD must be a secret of 12 or more characters, not a demo password.")
    kept = {u: p for u, p in known.items() if u not in ("admin", "studio") and p not in demo.values()}
    passwords = {**kept, "admin": admin, **ours}
if passwords != known:
    tmp = f"{path}.{os.getpid()}.tmp"
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(passwords, f)
    os.replace(tmp, path)
PY
