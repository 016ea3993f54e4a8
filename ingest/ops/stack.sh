#!/usr/bin/env bash
# Background services of `make run` / `make stop`, each detached into its own process group with
# a pid file under .cache/run (so `stop` ends exactly what `start` began, by id):
#   ingest/ops/stack.sh airflow-start [--demo]  Airflow standalone (SQLite, LocalExecutor) under
#                                            .cache/airflow: migrate, connection + pool, unpause, trigger
#   ingest/ops/stack.sh airflow-stop
#   ingest/ops/stack.sh demo-start | demo-stop  the demo news site on loopback (`ingest demo serve`)
#   ingest/ops/stack.sh env                     the exports for using the airflow CLI by hand
#   ingest/ops/stack.sh es-sync                 re-register news_es if the node's URL changed
#   ingest/ops/stack.sh port-check NAME VAR PORT  exit 1 naming VAR if 127.0.0.1:PORT is taken
#   ingest/ops/stack.sh admin-password          make the UI admin's password file (mode 600) if absent
# Everything listens on ${BIND_HOST:-127.0.0.1}. Ports: AIRFLOW_PORT (8080), DEMO_PORT (8765).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/.venv/bin
RUN=${STACK_RUN_DIR:-$ROOT/.cache/run}   # pid files, logs, airflow.env, profile.env
AF_HOME=${STACK_AIRFLOW_HOME:-$ROOT/.cache/airflow}   # Airflow's home: config, SQLite metadata DB
PORT=${AIRFLOW_PORT:-8080}
HOST=${BIND_HOST:-127.0.0.1}
DAGS=(news_ingest news_alerts news_maintenance)
mkdir -p "$RUN"

write_env() {  # $1 = demo sources file or empty
  local demo=$1
  {
    echo "export PATH=$BIN:\$PATH"
    echo "export AIRFLOW_HOME=$AF_HOME"
    echo "export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags"
    echo "export AIRFLOW__CORE__LOAD_EXAMPLES=False"
    echo "export AIRFLOW__CORE__EXECUTOR=LocalExecutor"
    echo "export AIRFLOW__CORE__PARALLELISM=4"
    echo "export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True"
    echo "export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30"
    echo "export AIRFLOW__API__PORT=$PORT"
    echo "export AIRFLOW__API__HOST=$HOST"
    echo "export AIRFLOW__API__BASE_URL=http://localhost:$PORT"
    echo "export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://localhost:$PORT/execution/"
    if [[ -n $demo ]]; then
      echo "export INGEST_SOURCES_FILE=$demo"
      echo "export INGEST_RULES_FILE=$ROOT/ingest/dev/data/demo/alert_rules.yaml"
      echo "export INGEST_ALLOWED_NETWORKS='[\"127.0.0.1/32\"]'"   # the demo site is on loopback
      echo "export INGEST_PER_HOST_DELAY=0.2"
      echo "export INGEST_INDEX_PREFIX=demo"   # the demo's own indices: health never mixes them
    fi
    echo "if [[ -f $RUN/profile.env ]]; then set -a; source $RUN/profile.env; set +a; fi"
  } > "$RUN/airflow.env"
  write_profile "$demo"
}

# The one configuration: the INGEST_* settings the stack runs with, read by every `ingest` command
# (ingest/profile.py) below the caller's own environment.
write_profile() {  # $1 = demo sources file or empty
  local demo=$1
  {
    echo "# written by make run ($(date -u +%FT%TZ)); the CLI reads it: ingest config show"
    "$BIN/python" -c 'import os, shlex
for k in sorted(os.environ):
    if k.startswith("INGEST_") and k != "INGEST_PROFILE":
        print(f"{k}={shlex.quote(os.environ[k])}")'
    if [[ -n $demo ]]; then
      echo "INGEST_SOURCES_FILE=$demo"
      echo "INGEST_RULES_FILE=$ROOT/ingest/dev/data/demo/alert_rules.yaml"
      echo "INGEST_ALLOWED_NETWORKS='[\"127.0.0.1/32\"]'"
      echo "INGEST_PER_HOST_DELAY=0.2"
      echo "INGEST_INDEX_PREFIX=demo"
    fi
  } > "$RUN/profile.env"
  echo "profile written: $RUN/profile.env (ingest config show)"
}

# Fail at once, naming the variable, instead of timing out on an API that never came up.
port_check() {  # $1 = what, $2 = variable name, $3 = port
  if "$BIN/python" - "$HOST" "$3" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
  then return 0; fi
  echo "port $3 on $HOST is already in use, so $1 cannot start; set $2 to a free port" \
       "(e.g. make run $2=$(($3 + 1)))" >&2
  return 1
}

# news_es must follow the node: re-register it whenever the URL in Airflow's metadata DB (what
# the tasks read) differs from the node's, whoever changed either.
es_sync() {
  [[ -f $RUN/airflow.env ]] || { echo "no Airflow set up by make run yet; nothing to re-register"; return 0; }
  # shellcheck disable=SC1091
  source "$RUN/airflow.env"
  local url registered; url=$(es_url)
  registered=$(airflow connections get news_es -o json 2>/dev/null | "$BIN/python" -c 'import json, sys
rows = json.load(sys.stdin)
print(next(iter(rows if isinstance(rows, list) else [rows]), {}).get("host") or "")' 2>/dev/null || true)
  if [[ $registered == "$url" ]]; then echo "connection news_es already -> $url"; return 0; fi
  echo "connection news_es was ${registered:-not registered}; the node is at $url"
  register
}

running() { [[ -f $RUN/$1.pid ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

spawn() {  # $1 = name, rest = command: detached, own process group, pid file, log file
  local name=$1; shift
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$RUN/$name.pid" "$@" >"$RUN/$name.log" 2>&1 < /dev/null &
  for ((i = 0; i < 50; i++)); do [[ -s $RUN/$name.pid ]] && break; sleep 0.1; done
  echo "$name started (pid $(cat "$RUN/$name.pid"), log $RUN/$name.log)"
}

kill_group() {  # $1 = name: SIGINT to the group, then TERM, then KILL
  local name=$1 pid
  if ! running "$name"; then echo "$name is not running"; rm -f "$RUN/$name.pid"; return 0; fi
  pid=$(cat "$RUN/$name.pid")
  for sig in INT TERM KILL; do
    kill "-$sig" -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 15; i++)); do kill -0 -- "-$pid" 2>/dev/null || break 2; sleep 1; done
  done
  rm -f "$RUN/$name.pid"
  echo "$name stopped (process group $pid)"
}

wait_for() {  # $1 = description, $2 = seconds, rest = command
  local what=$1 secs=$2; shift 2
  for ((i = 0; i < secs; i += 2)); do "$@" >/dev/null 2>&1 && return 0; sleep 2; done
  echo "timed out after ${secs}s waiting for $what; see the logs in $RUN" >&2; return 1
}

es_url() {
  "$BIN/python" -c 'from ingest import store; from ingest.settings import load_settings; print(store.resolve_url(load_settings()))'
}

start() {
  local demo=""
  [[ ${1:-} == --demo ]] && demo=$ROOT/.cache/demo/sources.yaml
  write_env "$demo"
  # shellcheck disable=SC1091
  source "$RUN/airflow.env"
  if [[ -n $demo ]]; then "$BIN/ingest" es init; fi   # the demo's own index prefix
  if running airflow; then
    echo "Airflow already running (pid $(cat "$RUN/airflow.pid")) with the settings it was started with;"
    echo "to switch DEMO on or off: make stop, then make run again"
    es_sync
  else
    port_check "the Airflow API server" AIRFLOW_PORT "$PORT"
    echo "migrating the Airflow database in $AIRFLOW_HOME"
    airflow db migrate >"$RUN/airflow-migrate.log" 2>&1 || { tail -20 "$RUN/airflow-migrate.log"; exit 1; }
    register
    admin_password
    spawn airflow airflow standalone
  fi
  wait_for "the Airflow API on :$PORT" 240 curl -sf "http://localhost:$PORT/api/v2/monitor/health"
  for dag in "${DAGS[@]}"; do wait_for "DAG $dag to be parsed" 180 airflow dags unpause "$dag"; done
  local errors; errors=$(airflow dags list-import-errors 2>/dev/null)
  if [[ $errors == *"No data found"* ]]; then echo "DAG import errors: none"; else echo "$errors"; fi
  airflow dags trigger news_ingest >/dev/null && echo "triggered a first news_ingest run"
  banner
}

register() {
  local url; url=$(es_url)
  airflow connections delete news_es >/dev/null 2>&1 || true
  airflow connections add news_es --conn-json "{\"conn_type\": \"generic\", \"host\": \"$url\", \"description\": \"Elasticsearch for the news pipeline\"}" >/dev/null
  airflow pools set "${INGEST_DAG_FETCH_POOL:-news_fetch}" "${INGEST_DAG_FETCH_POOL_SLOTS:-4}" "bounds concurrent article fetching" >/dev/null
  echo "connection news_es -> $url; pool ${INGEST_DAG_FETCH_POOL:-news_fetch} registered"
}

PWFILE=$AF_HOME/simple_auth_manager_passwords.json.generated   # Airflow's default name for it

admin_password() {  # made here, before Airflow starts: a password Airflow generates, it prints into
                    # its own log (.cache/run/airflow.log), and secrets are never logged
  [[ -s $PWFILE ]] && return 0
  mkdir -p "$AF_HOME"
  (umask 077 && "$BIN/python" -c 'import json, secrets, sys
json.dump({"admin": secrets.token_urlsafe(12)}, open(sys.argv[1], "w"))' "$PWFILE")
}

banner() {
  echo
  echo "Airflow UI: http://localhost:$PORT/"
  reading_room_start
  if [[ -t 1 ]]; then  # a person at a terminal; never into a captured log
    echo "login:      $("$BIN/python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(*(f"{u} / {p}" for u, p in d.items()))' "$PWFILE")"
  else
    echo "login:      admin; the password is in $PWFILE"
  fi
  echo "CLI:        source $RUN/airflow.env && airflow dags list"
}

demo_start() {
  local sources=$ROOT/.cache/demo/sources.yaml
  if running demo; then echo "demo site already running (pid $(cat "$RUN/demo.pid"))"; return 0; fi
  rm -f "$sources"
  port_check "the demo site" DEMO_PORT "${DEMO_PORT:-8765}"
  spawn demo "$BIN/ingest" demo serve --host "$HOST" --port "${DEMO_PORT:-8765}" --sources-out "$sources"
  wait_for "the demo site" 30 test -s "$sources"
  grep -m1 "demo site" "$RUN/demo.log" || true
}

reading_room_start() {  # issue 15: `ingest serve` (read-only, 127.0.0.1, INGEST_WEB_PORT), URL beside Airflow's
  if ! running web; then
    spawn web "$BIN/ingest" serve >/dev/null
    wait_for "the reading room" 30 grep -q "reading room:" "$RUN/web.log" || { tail -5 "$RUN/web.log"; return 0; }
  fi
  local url; url=$(grep -m1 -o 'http://[^ ]*' "$RUN/web.log")
  wait_for "the reading room at $url" 30 curl -s -o /dev/null "$url" || { tail -5 "$RUN/web.log"; return 0; }
  echo "Reading room: $url  (read-only: top stories, story pages, search, sources, alerts)"
}

case ${1:-} in
  airflow-start) shift; start "$@" ;;
  airflow-stop) kill_group airflow ;;
  demo-start) demo_start ;;
  demo-stop) kill_group demo ;;
  web-stop) kill_group web ;;
  env) cat "$RUN/airflow.env" ;;
  es-sync) es_sync ;;
  profile) shift; write_profile "$([[ ${1:-} == --demo ]] && echo "$ROOT/.cache/demo/sources.yaml")" ;;
  port-check) shift; port_check "$@" ;;
  admin-password) admin_password ;;
  *) echo "usage: $0 airflow-start [--demo] | airflow-stop | demo-start | demo-stop | env | es-sync" \
          "| port-check WHAT VAR PORT | admin-password" >&2; exit 2 ;;
esac
