#!/usr/bin/env bash
# The distributed topology on one machine — the same processes docker/docker-compose.yml runs:
# PostgreSQL metadata DB, Redis broker, CeleryExecutor, and every Airflow component in its own
# process group (pid file and log under $AIRFLOW_HOME/cluster/).
#   scripts/cluster.sh up|down|status [component...]     (no component: all of them)
#   scripts/cluster.sh init                               (create + migrate the DB, load settings)
#   scripts/cluster.sh run <component>                    (in the foreground: one per container)
# Components: api-server scheduler dag-processor triggerer worker-media worker-default.
# `up worker-media` on another host (same env, secrets.env and an s3:// store) adds a media worker.
#
# Defaults below; set them (and anything scripts/env.sh reads) in the caller's environment to
# use another database, broker or port.
set -euo pipefail
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-CeleryExecutor}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-postgresql+psycopg2://postgres@127.0.0.1:5432/airflow}"
export AIRFLOW__CELERY__BROKER_URL="${AIRFLOW__CELERY__BROKER_URL:-redis://127.0.0.1:6379/0}"
export AIRFLOW__CELERY__RESULT_BACKEND="${AIRFLOW__CELERY__RESULT_BACKEND:-db+postgresql://${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN#*://}}"
# Redis redelivers a message not acknowledged within this time: keep it above the longest task
# (render: execution_timeout 2 h), or a long render would run twice.
export AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT="${AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT:-21600}"
# Airflow's Celery config plus `imports`: each worker imports what our tasks use once, before
# its pool forks, and every task process inherits it (include/celery_config.py).
export AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS="${AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS:-include.celery_config.CELERY_CONFIG}"
# Each worker runs one task per core: a speech model (Whisper, Piper) in a task gets one thread
# (include.core.media.inference_threads; make up / make demo leave it at 2 for a single run).
export VIDEO_TASK_THREADS="${VIDEO_TASK_THREADS:-1}"
# No demo users (alice, bob, admin/admin): admin's password is AIRFLOW_ADMIN_PASSWORD, from the
# caller or generated once into $AIRFLOW_HOME/secrets.env (scripts/env.sh, README "Auth and tenants").
export STUDIO_DEV_USERS="${STUDIO_DEV_USERS:-0}"
. "$(dirname "$0")/env.sh"
. "$(dirname "$0")/common.sh"

ALL=(api-server scheduler dag-processor triggerer worker-media worker-default)
DIR="$AIRFLOW_HOME/cluster"
mkdir -p "$DIR"

command_of() {
  case "$1" in
    api-server | scheduler | dag-processor | triggerer) echo airflow "$1" ;;
    # One media task per core (the media_encode pool's slots should add up to the media hosts' cores).
    worker-media) echo airflow celery worker -q media -c "${MEDIA_WORKER_CONCURRENCY:-$(nproc)}" --celery-hostname "media@%h" ;;
    # One log server per log folder: the media worker serves the one both workers write to.
    worker-default) echo airflow celery worker -q default -c 2 --celery-hostname "default@%h" --skip-serve-logs ;;
    *) echo "unknown component: $1 (one of: ${ALL[*]})" >&2; return 2 ;;
  esac
}

# Create the metadata database if it does not exist yet, migrate it, apply airflow_settings.yaml.
init_metadata() {
  python3 - "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" <<'PY'
import sys
import psycopg2
from sqlalchemy.engine import make_url

url = make_url(sys.argv[1])
conn = psycopg2.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                        dbname="postgres")
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
    if cur.fetchone() is None:
        cur.execute(f'CREATE DATABASE "{url.database}"')
        print(f"created database {url.database}")
PY
  prepare_metadata
}

components=("${@:2}")
[ ${#components[@]} -gt 0 ] || components=("${ALL[@]}")
for c in "${components[@]}"; do command_of "$c" >/dev/null; done
# The health report comes from this host's api-server: only when it is one of the components.
with_api() { [[ " ${components[*]} " == *" api-server "* ]]; }

case "${1:-}" in
  init)
    init_metadata
    ;;
  run)
    [ ${#components[@]} -eq 1 ] || { echo "usage: $0 run <component>" >&2; exit 2; }
    # shellcheck disable=SC2046
    exec $(command_of "${components[0]}")
    ;;
  up)
    if [ "${components[*]}" = "${ALL[*]}" ]; then
      if ! alive "$DIR/api-server.pid" && [ -n "$(port_pids $(airflow_ports))" ]; then
        echo "port $AIRFLOW_PORT (or a log server port) is already in use; stop that first or set AIRFLOW_PORT" >&2
        exit 1
      fi
      init_metadata
    fi
    for c in "${components[@]}"; do
      if alive "$DIR/$c.pid"; then
        echo "$c already running (pid $(cat "$DIR/$c.pid"))"
      else
        # shellcheck disable=SC2046  # command_of prints a plain word list
        start_group "$DIR/$c.pid" "$DIR/$c.log" $(command_of "$c")
        echo "$c started (pid $(cat "$DIR/$c.pid"), log $DIR/$c.log)"
      fi
    done
    if with_api; then
      pidfiles=("${components[@]/#/$DIR/}")
      wait_healthy 180 "${pidfiles[@]/%/.pid}"
      echo "Airflow cluster is up: http://127.0.0.1:$AIRFLOW_PORT (login admin, password AIRFLOW_ADMIN_PASSWORD: $AIRFLOW_HOME/secrets.env unless you set it)"
    fi
    ;;
  down)
    for c in "${components[@]}"; do stop_group "$DIR/$c.pid" & done
    wait
    [ "${components[*]}" != "${ALL[*]}" ] || kill_port_holders $(airflow_ports)
    echo "stopped: ${components[*]}"
    ;;
  status)
    down=0
    for c in "${components[@]}"; do
      if alive "$DIR/$c.pid"; then echo "$c: running (pid $(cat "$DIR/$c.pid"))"; else echo "$c: stopped"; down=1; fi
    done
    if with_api; then
      if healthy; then echo "health: ok"; else echo "health: not healthy"; down=1; fi
    fi
    exit "$down"
    ;;
  *)
    echo "usage: $0 up|down|status [component...] | init | run <component>" >&2; exit 2 ;;
esac
