#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, listening on
# 127.0.0.1 at a free port, trust authentication for the user `hookline`, fsync off (it is
# never crashed; only Hookline is). Nothing of it outlives the caller.
#
#   eval "$(scripts/pg-throwaway.sh start)"   # exports HOOKLINE_TEST_DATABASE_URL and HOOKLINE_PG_DIR
#   scripts/pg-throwaway.sh stop "$HOOKLINE_PG_DIR"
#
# Uses Debian's `postgresql` package (/usr/lib/postgresql/<version>/bin). initdb refuses to run
# as root, so as root the cluster runs as the `postgres` user the package creates.
set -euo pipefail

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$d" ] && command -v pg_ctl >/dev/null 2>&1; then
    d=$(dirname "$(command -v pg_ctl)")
  fi
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    echo "pg-throwaway: no PostgreSQL server found; install Debian's postgresql package" >&2
    exit 1
  fi
  echo "$d"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "${1:-}" in
  start)
    bin=$(pg_bin)
    dir=$(mktemp -d /tmp/hookline-pg.XXXXXX)
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -U hookline -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "export HOOKLINE_PG_DIR=$dir"
    echo "export HOOKLINE_TEST_DATABASE_URL=postgres://hookline@127.0.0.1:$port/postgres?sslmode=disable"
    ;;
  stop)
    dir=${2:?usage: pg-throwaway.sh stop DIR}
    bin=$(pg_bin)
    if [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: pg-throwaway.sh start | stop DIR" >&2
    exit 2
    ;;
esac
