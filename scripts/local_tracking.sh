#!/usr/bin/env bash
# One MLflow tracking server on PostgreSQL, the store many cluster jobs can write to at once (SQLite on a shared
# disk is not: "database is locked", and schema-migration races when many runs open a fresh store together).
#
#   scripts/local_tracking.sh start   # a throwaway PostgreSQL cluster (initdb, pg_ctl) on a local port, a database
#                                     # for MLflow, then `mlflow server` on it with an artifact root; prints the URI
#   scripts/local_tracking.sh stop    # the server, then the database cluster (only what start started)
#
# State in $WGAN_TRACKING_STATE (default /tmp/wgan_repro_tracking, wiped at each start; the database in a
# /tmp/wgan_repro_pg.* folder of its own, removed at stop); ports $WGAN_PG_PORT
# (55432) and $WGAN_MLFLOW_PORT (5055). Needs PostgreSQL's binaries (Debian: postgresql, /usr/lib/postgresql/<v>/bin)
# and psycopg2 in the environment that runs mlflow (pip install -e '.[dev]'). As root, PostgreSQL runs as the
# postgres user (initdb refuses root). On a cluster, start it on a host every node reaches and pass its URI:
#   python -m wgan_repro --multirun hydra/launcher=slurm tracking.uri=http://<host>:5055 ...
set -euo pipefail

STATE="${WGAN_TRACKING_STATE:-/tmp/wgan_repro_tracking}"
PG_PORT="${WGAN_PG_PORT:-55432}"
PORT="${WGAN_MLFLOW_PORT:-5055}"
HOST="${WGAN_MLFLOW_HOST:-127.0.0.1}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$HERE/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"

as_pg() {  # PostgreSQL's commands as the postgres user when root, else as ourselves
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

serve() {  # the server in its own session (--workers: its processes; many jobs log at once), its PID recorded
  setsid "$PYTHON" -m mlflow server --backend-store-uri "postgresql+psycopg2://mlflow@127.0.0.1:$PG_PORT/mlflow" \
    --artifacts-destination "$STATE/artifacts" --host "$HOST" --port "$PORT" --workers 4 \
    >>"$STATE/mlflow.log" 2>&1 </dev/null &
  echo $! >"$STATE/mlflow.pid"
}

end_server() {
  local pid
  pid="$(cat "$STATE/mlflow.pid")"
  kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true  # its session: the workers too
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$STATE/mlflow.pid"
}

start() {
  [ -n "$PG_BIN" ] || { echo "local_tracking.sh: no PostgreSQL binaries (apt-get install postgresql)" >&2; exit 1; }
  "$PYTHON" -c "import psycopg2" 2>/dev/null \
    || { echo "local_tracking.sh: $PYTHON lacks psycopg2 (pip install psycopg2-binary)" >&2; exit 1; }
  if [ -f "$STATE/mlflow.pid" ] && kill -0 "$(cat "$STATE/mlflow.pid")" 2>/dev/null; then
    echo "local_tracking.sh: already running (http://$HOST:$PORT); stop it first" >&2
    exit 1
  fi
  rm -rf "$STATE" && mkdir -p "$STATE/artifacts"
  # the database in a folder of its own under /tmp: as root, PostgreSQL runs as postgres, who may not reach $STATE
  local pg
  pg="$(mktemp -d /tmp/wgan_repro_pg.XXXXXX)"
  echo "$pg" >"$STATE/pgdata"
  if [ "$(id -u)" = 0 ]; then chown postgres "$pg"; fi
  as_pg "$PG_BIN/initdb" -D "$pg/data" -U mlflow --auth=trust >"$STATE/initdb.log" 2>&1 \
    || { echo "local_tracking.sh: initdb failed; see $STATE/initdb.log" >&2; exit 1; }
  as_pg "$PG_BIN/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w \
    -o "-p $PG_PORT -k $pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null \
    || { echo "local_tracking.sh: PostgreSQL did not start; see $pg/postgres.log" >&2; exit 1; }
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U mlflow mlflow
  serve
  for _ in $(seq 240); do
    if "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://$HOST:$PORT/health', timeout=1)" \
        2>/dev/null; then
      echo "tracking server up: http://$HOST:$PORT (PostgreSQL on port $PG_PORT, artifacts in $STATE/artifacts)"
      return
    fi
    kill -0 "$(cat "$STATE/mlflow.pid")" 2>/dev/null || break
    sleep 0.5
  done
  echo "local_tracking.sh: the server did not answer; see $STATE/mlflow.log" >&2
  tail -20 "$STATE/mlflow.log" >&2
  exit 1
}

stop() {
  if [ -f "$STATE/mlflow.pid" ]; then end_server; fi
  if [ -f "$STATE/pgdata" ]; then
    local pg
    pg="$(cat "$STATE/pgdata")"
    if [ -f "$pg/data/postmaster.pid" ]; then as_pg "$PG_BIN/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null; fi
    rm -rf "$pg" "$STATE/pgdata"
  fi
  echo "tracking server stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart-server) end_server; serve ;;  # the server alone, the database kept (mid-sweep: runs must lose nothing)
  *) echo "usage: $0 start|stop|restart-server (state in $STATE)" >&2; exit 2 ;;
esac
