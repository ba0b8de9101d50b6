#!/usr/bin/env bash
# Start / stop / wait for a local Airflow (scheduler, dag-processor, triggerer, api-server in one
# process group; LocalExecutor, SQLite).
#   scripts/airflow.sh up|down|wait|status
set -euo pipefail
. "$(dirname "$0")/env.sh"
. "$(dirname "$0")/common.sh"
PIDFILE="$AIRFLOW_HOME/standalone.pid"
LOG="$AIRFLOW_HOME/standalone.log"

case "${1:-}" in
  up)
    if alive "$PIDFILE"; then
      echo "Airflow already running (pid $(cat "$PIDFILE"))"
    else
      if [ -n "$(port_pids $(airflow_ports))" ]; then
        echo "port $AIRFLOW_PORT (or 8793/8794) is already in use; stop that first (make down) or set AIRFLOW_PORT" >&2
        exit 1
      fi
      prepare_metadata
      # What `airflow standalone` runs, minus its override of the auth manager (it forces
      # SimpleAuthManager, which would give the tenant users alice and bob every DAG run).
      start_group "$PIDFILE" "$LOG" env PYTHONUNBUFFERED=1 bash -c \
        'airflow scheduler & airflow dag-processor & airflow triggerer & airflow api-server & wait -n; kill 0'
      echo "Airflow starting (pid $(cat "$PIDFILE"), log $LOG)"
    fi
    "$0" wait
    ;;
  wait)
    wait_healthy 600 "$PIDFILE"
    echo "Airflow is up: http://127.0.0.1:$AIRFLOW_PORT (login admin / admin; studio users alice, bob)"
    ;;
  down)
    stop_group "$PIDFILE"
    kill_port_holders $(airflow_ports)
    echo "Airflow stopped"
    ;;
  status)
    if healthy; then echo "up"; else echo "down"; exit 1; fi
    ;;
  *)
    echo "usage: $0 up|down|wait|status" >&2; exit 2 ;;
esac
