#!/usr/bin/env bash
# A throw-away PostgreSQL for the job-store tests: Debian's postgresql 15, loopback only.
#
#   scripts/pg-test-server.sh install   # apt-get install postgresql unless present
#   eval "$(scripts/pg-test-server.sh start)"   # start (or reuse) it, export its env
#   cargo test --test service -- store:: multinode::   # now also run against PostgreSQL
#   scripts/pg-test-server.sh stop      # stop it (data stays; `reset` wipes it)
#   scripts/pg-test-server.sh status | env | reset
#
# State lives in $AUDIOTAP_PG_DIR (default: target/pg): the cluster (data/), its password,
# postgres.log and `env` (the export lines `start` prints). PostgreSQL refuses to run as
# root: as root, the cluster belongs to the `postgres` user the package creates and runs
# under `runuser`. Port: $AUDIOTAP_PG_PORT, else 55432 when free, else the first free one
# from 55433 up. No Unix socket (paths under target/ can be too long); TCP on 127.0.0.1
# with a password. Durability is off (fsync, synchronous_commit): test data only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${AUDIOTAP_PG_DIR:-$ROOT/target/pg}"
PG_VERSION=15
USER_NAME=audiotap

log() { printf 'pg-test-server: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
  local p="${AUDIOTAP_PG_PORT:-55432}"
  if port_free "$p"; then echo "$p"; return; fi
  for ((p = 55433; p < 55600; p++)); do
    if port_free "$p"; then echo "$p"; return; fi
  done
  die "no free port found"
}

bindir() {
  local d
  for d in "/usr/lib/postgresql/$PG_VERSION/bin" /usr/lib/postgresql/*/bin; do
    [[ -x "$d/postgres" && -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return; }
  done
  return 1
}

# Run a PostgreSQL program as the cluster's owner.
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cmd_install() {
  if bindir >/dev/null; then
    log "PostgreSQL $("$(bindir)/postgres" --version | awk '{print $3}') already installed at $(bindir)"
    return
  fi
  log "installing postgresql (Debian package)"
  local sudo=""; [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql
}

running() { [[ -f "$DIR/data/postmaster.pid" ]] && as_owner "$(bindir)/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; }

port() { cat "$DIR/port"; }

write_env() {
  cat >"$DIR/env" <<ENV
export AUDIOTAP_TEST_DATABASE_URL=postgres://$USER_NAME:$(cat "$DIR/password")@127.0.0.1:$(port)/postgres
ENV
}

init_cluster() {
  local bin="$1"
  mkdir -p "$DIR"
  od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$DIR/password"
  chmod 600 "$DIR/password"
  pick_port >"$DIR/port"
  mkdir -p "$DIR/data"
  local pwfile="$DIR/data.pw"
  cp "$DIR/password" "$pwfile"
  if [[ "$(id -u)" -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the server as (install the postgresql package)"
    chown postgres: "$DIR/data" "$pwfile"
    # The owner must reach the directory through its parents.
    local d="$DIR"
    while [[ "$d" != "/" ]]; do chmod o+x "$d" 2>/dev/null || true; d="$(dirname "$d")"; done
  fi
  as_owner "$bin/initdb" -D "$DIR/data" -U "$USER_NAME" --pwfile="$pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  rm -f "$pwfile"
}

cmd_start() {
  local bin
  bin="$(bindir)" || die "PostgreSQL is not installed: run '$0 install' first"
  if running; then
    log "already running on 127.0.0.1:$(port)"
    write_env
    cat "$DIR/env"
    return
  fi
  [[ -f "$DIR/data/PG_VERSION" && -f "$DIR/password" && -f "$DIR/port" ]] || { rm -rf "$DIR"; init_cluster "$bin"; }
  if ! port_free "$(port)"; then pick_port >"$DIR/port"; fi
  touch "$DIR/postgres.log"
  [[ "$(id -u)" -eq 0 ]] && chown postgres: "$DIR/postgres.log"
  as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 60 \
    -o "-p $(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || { tail -n 30 "$DIR/postgres.log" >&2; die "postgres did not start"; }
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') running on 127.0.0.1:$(port), state in $DIR"
  write_env
  cat "$DIR/env"
}

cmd_stop() {
  local bin
  bin="$(bindir)" || die "PostgreSQL is not installed"
  if ! running; then
    log "not running"
    return
  fi
  as_owner "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
  log "stopped"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) if running; then log "running on 127.0.0.1:$(port)"; else log "not running"; exit 1; fi ;;
  env) [[ -f "$DIR/env" ]] || die "not started yet"; cat "$DIR/env" ;;
  reset) cmd_stop || true; rm -rf "$DIR"; log "removed $DIR" ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
