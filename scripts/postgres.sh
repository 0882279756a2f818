#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1 for the test suite and print its URL.
# Installs Debian's postgresql package when no server binaries are present (CI runs as root).
# Usage: scripts/postgres.sh start|stop   (PGPORT defaults to 54329)
set -euo pipefail
PORT="${CAIRN_PG_PORT:-54329}"
DATA="${CAIRN_PG_DATA:-/tmp/cairn-test-pg-$PORT}"
LOG="$DATA.log"

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

run_as_pg() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
  start)
    BIN="$(find_bin || true)"
    if [ -z "$BIN" ]; then
      if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        echo "postgres.sh: installing Debian's postgresql package" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
        BIN="$(find_bin)"
      else
        echo "postgres.sh: no PostgreSQL server found and cannot install one" >&2
        exit 1
      fi
    fi
    if run_as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      echo "postgresql://postgres@127.0.0.1:$PORT/postgres"
      exit 0
    fi
    rm -rf "$DATA"
    mkdir -p "$DATA"
    [ "$(id -u)" = "0" ] && chown postgres "$DATA"
    run_as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
    touch "$LOG"; [ "$(id -u)" = "0" ] && chown postgres "$LOG"
    run_as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
      -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
      start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$PORT/postgres"
    ;;
  stop)
    BIN="$(find_bin)"
    run_as_pg "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
    ;;
esac
