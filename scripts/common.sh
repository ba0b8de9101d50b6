# Source me after scripts/env.sh: metadata DB, process-group, port and health helpers shared by
# scripts/airflow.sh (standalone) and scripts/cluster.sh (one process group per component).

# Migrate the metadata DB and apply airflow_settings.yaml (connections, pools, variables).
prepare_metadata() {
  airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/migrate.log"; return 1; }
  python3 "$PROJECT_ROOT/scripts/load_settings.py" "$PROJECT_ROOT/airflow_settings.yaml" >"$AIRFLOW_HOME/settings.log" 2>&1 \
    || { tail -20 "$AIRFLOW_HOME/settings.log"; return 1; }
}

# The api-server's health report says the metadata DB, scheduler, triggerer and dag-processor are healthy.
healthy() {
  python3 - "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" <<'PY'
import json, sys, urllib.request
try:
    h = json.load(urllib.request.urlopen(sys.argv[1], timeout=3))
except Exception:
    sys.exit(1)
ok = all(h.get(k, {}).get("status") == "healthy" for k in ("metadatabase", "scheduler", "triggerer", "dag_processor"))
sys.exit(0 if ok else 1)
PY
}

# The ports this home's Airflow listens on: api-server, worker log server, trigger log server.
airflow_ports() {
  echo "$AIRFLOW_PORT ${AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT:-8793} ${AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT:-8794}"
}

# Pids listening on any of the given ports.
port_pids() {
  for p in "$@"; do
    ss -Htlnp "sport = :$p" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 || true
  done | sort -u
}

# Kill -9 the airflow processes still listening on the given ports (the api-server child was
# seen surviving a TERM to its process group).
kill_port_holders() {
  for pid in $(port_pids "$@"); do
    grep -qa airflow "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  done
}

# alive PIDFILE: the process recorded in PIDFILE is running.
alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# start_group PIDFILE LOG COMMAND...: run COMMAND as its own process group (setsid), detached.
start_group() {
  local pidfile=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# Every process below PID (task processes run in process groups of their own).
descendants() {
  local child
  for child in $(pgrep -P "$1" || true); do
    echo "$child"
    descendants "$child"
  done
}

# stop_group PIDFILE: TERM the process group, wait up to 10 s, then KILL it and every process
# that was below its leader (a Celery worker's running tasks).
stop_group() {
  local pidfile=$1 pid tree
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  tree=$(descendants "$pid")
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  # shellcheck disable=SC2086  # a list of pids
  kill -KILL -- "-$pid" $tree 2>/dev/null || true
  rm -f "$pidfile"
}

# wait_healthy SECONDS PIDFILE...: wait until healthy(); fail early, with the log tail
# (PIDFILE with .log for .pid), when a recorded process has exited.
wait_healthy() {
  local seconds=$1 pidfile
  shift
  for _ in $(seq 1 "$seconds"); do
    if healthy; then return 0; fi
    for pidfile in "$@"; do
      if [ -f "$pidfile" ] && ! alive "$pidfile"; then
        echo "$(basename "${pidfile%.pid}") exited; last lines of ${pidfile%.pid}.log:" >&2
        tail -30 "${pidfile%.pid}.log" >&2
        return 1
      fi
    done
    sleep 1
  done
  echo "Airflow did not become healthy in $seconds s; see the logs next to $*" >&2
  return 1
}
