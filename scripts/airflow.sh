#!/usr/bin/env bash
# Start / stop / wait for a local Airflow (scheduler, dag-processor, triggerer, api-server).
#   scripts/airflow.sh up|down|wait|status
set -euo pipefail
. "$(dirname "$0")/env.sh"
PIDFILE="$AIRFLOW_HOME/standalone.pid"
LOG="$AIRFLOW_HOME/standalone.log"
HEALTH="http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health"

healthy() {
  python3 - "$HEALTH" <<'PY'
import json, sys, urllib.request
try:
    h = json.load(urllib.request.urlopen(sys.argv[1], timeout=3))
except Exception:
    sys.exit(1)
ok = all(h.get(k, {}).get("status") == "healthy" for k in ("metadatabase", "scheduler", "triggerer", "dag_processor"))
sys.exit(0 if ok else 1)
PY
}

port_pids() {
  for p in "$AIRFLOW_PORT" "${AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT:-8793}" "${AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT:-8794}"; do
    ss -Htlnp "sport = :$p" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 || true
  done | sort -u
}

case "${1:-}" in
  up)
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "Airflow already running (pid $(cat "$PIDFILE"))"
    else
      if [ -n "$(port_pids)" ]; then
        echo "port $AIRFLOW_PORT (or 8793/8794) is already in use; stop that first (make down) or set AIRFLOW_PORT" >&2
        exit 1
      fi
      airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/migrate.log"; exit 1; }
      python3 "$PROJECT_ROOT/scripts/load_settings.py" "$PROJECT_ROOT/airflow_settings.yaml" >"$AIRFLOW_HOME/settings.log" 2>&1 \
        || { tail -20 "$AIRFLOW_HOME/settings.log"; exit 1; }
      setsid airflow standalone >"$LOG" 2>&1 < /dev/null &
      echo $! > "$PIDFILE"
      echo "Airflow starting (pid $!, log $LOG)"
    fi
    "$0" wait
    ;;
  wait)
    for _ in $(seq 1 180); do
      if healthy; then echo "Airflow is up: http://127.0.0.1:$AIRFLOW_PORT (login admin / admin)"; exit 0; fi
      if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "Airflow exited; last log lines:" >&2; tail -30 "$LOG" >&2; exit 1
      fi
      sleep 1
    done
    echo "Airflow did not become healthy in 180 s; see $LOG" >&2; exit 1
    ;;
  down)
    if [ -f "$PIDFILE" ]; then
      pid=$(cat "$PIDFILE")
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      rm -f "$PIDFILE"
    fi
    # Children seen surviving a TERM to the group (api-server): stop whatever still holds our ports.
    for pid in $(port_pids); do
      grep -qa airflow "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    done
    echo "Airflow stopped"
    ;;
  status)
    if healthy; then echo "up"; else echo "down"; exit 1; fi
    ;;
  *)
    echo "usage: $0 up|down|wait|status" >&2; exit 2 ;;
esac
