#!/usr/bin/env bash
# A throw-away S3 server for the storage tests: Garage, one node, loopback only.
#
#   scripts/s3-test-server.sh install   # cargo install garage (2.5.x) unless present
#   eval "$(scripts/s3-test-server.sh start)"   # start (or reuse) it, export its env
#   cargo test --test service storage::   # now also runs the S3 suite
#   scripts/s3-test-server.sh stop      # stop it (data stays; `reset` wipes it)
#   scripts/s3-test-server.sh status | env | reset
#
# State lives in $AUDIOTAP_GARAGE_DIR (default: target/garage): garage.toml, generated
# credentials, data, garage.log, pid, and `env` (the export lines `start` prints).
# Ports: $AUDIOTAP_GARAGE_S3_PORT / $AUDIOTAP_GARAGE_RPC_PORT, else 3900 / 3901 when free,
# else the first free ones from 39000 up. Chosen once, kept in garage.toml.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${AUDIOTAP_GARAGE_DIR:-$ROOT/target/garage}"
GARAGE_VERSION="2.5"
BUCKET="audiotap-test"
REGION="garage"

log() { printf 's3-test-server: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() { # preferred, avoid
  local p="$1"
  if port_free "$p" && [[ "$p" != "$2" ]]; then echo "$p"; return; fi
  for ((p = 39000; p < 39200; p++)); do
    if port_free "$p" && [[ "$p" != "$2" ]]; then echo "$p"; return; fi
  done
  die "no free port found"
}

garage_bin() {
  if command -v garage >/dev/null 2>&1; then command -v garage; return; fi
  local c="${CARGO_HOME:-$HOME/.cargo}/bin/garage"
  [[ -x "$c" ]] && { echo "$c"; return; }
  return 1
}

cmd_install() {
  local bin
  if bin="$(garage_bin)" && "$bin" --version 2>/dev/null | grep -qE "[ :v]${GARAGE_VERSION/./\\.}\."; then
    log "$("$bin" --version | head -n1) already installed at $bin"
    return
  fi
  log "installing garage $GARAGE_VERSION.x (about 10 minutes on 2 cores)"
  # Its own target dir: a shared CARGO_TARGET_DIR would mix garage's artefacts with ours.
  env -u CARGO_TARGET_DIR cargo install garage --locked --version "~$GARAGE_VERSION"
}

running_pid() {
  [[ -f "$DIR/pid" ]] || return 1
  local pid
  pid="$(cat "$DIR/pid")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

write_config() {
  mkdir -p "$DIR/meta" "$DIR/data"
  local s3_port rpc_port
  s3_port="$(pick_port "${AUDIOTAP_GARAGE_S3_PORT:-3900}" "")"
  rpc_port="$(pick_port "${AUDIOTAP_GARAGE_RPC_PORT:-3901}" "$s3_port")"
  cat >"$DIR/garage.toml" <<TOML
metadata_dir = "$DIR/meta"
data_dir = "$DIR/data"
db_engine = "sqlite"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(hex 32)"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"
TOML
  chmod 600 "$DIR/garage.toml"
  cat >"$DIR/credentials" <<CREDS
GARAGE_DEFAULT_ACCESS_KEY=GK$(hex 12)
GARAGE_DEFAULT_SECRET_KEY=$(hex 32)
CREDS
  chmod 600 "$DIR/credentials"
}

s3_port() { sed -n 's/^api_bind_addr = "127.0.0.1:\([0-9]*\)"/\1/p' "$DIR/garage.toml"; }

write_env() {
  # shellcheck disable=SC1091
  source "$DIR/credentials"
  cat >"$DIR/env" <<ENV
export AUDIOTAP_TEST_S3_ENDPOINT=http://127.0.0.1:$(s3_port)
export AUDIOTAP_TEST_S3_BUCKET=$BUCKET
export AUDIOTAP_TEST_S3_REGION=$REGION
export AWS_ACCESS_KEY_ID=$GARAGE_DEFAULT_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$GARAGE_DEFAULT_SECRET_KEY
ENV
}

# Ready = the S3 API listens; Garage creates the default key, bucket and single-node layout
# before it starts listening.
wait_ready() {
  local port pid="$1"
  port="$(s3_port)"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$DIR/garage.log" >&2; die "garage exited"; }
    if grep -q "S3 API server listening" "$DIR/garage.log" 2>/dev/null && ! port_free "$port"; then
      return 0
    fi
    sleep 0.1
  done
  tail -n 30 "$DIR/garage.log" >&2
  die "garage did not answer on 127.0.0.1:$port within 30 s"
}

cmd_start() {
  local bin pid
  bin="$(garage_bin)" || die "garage is not installed: run '$0 install' first"
  if pid="$(running_pid)"; then
    log "already running (pid $pid)"
    write_env
    cat "$DIR/env"
    return
  fi
  [[ -f "$DIR/garage.toml" && -f "$DIR/credentials" ]] || write_config
  # shellcheck disable=SC1091
  source "$DIR/credentials"
  GARAGE_DEFAULT_ACCESS_KEY="$GARAGE_DEFAULT_ACCESS_KEY" \
    GARAGE_DEFAULT_SECRET_KEY="$GARAGE_DEFAULT_SECRET_KEY" \
    GARAGE_DEFAULT_BUCKET="$BUCKET" \
    RUST_LOG="${RUST_LOG:-garage=info}" NO_COLOR=1 \
    setsid "$bin" -c "$DIR/garage.toml" server --single-node --default-bucket \
    >"$DIR/garage.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$DIR/pid"
  wait_ready "$pid"
  log "garage $("$bin" --version | head -n1 | awk '{print $2}') running (pid $pid) on 127.0.0.1:$(s3_port), state in $DIR"
  write_env
  cat "$DIR/env"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running"
    rm -f "$DIR/pid"
    return
  fi
  kill "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$DIR/pid"
  log "stopped (pid $pid)"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) if pid="$(running_pid)"; then log "running (pid $pid)"; else log "not running"; exit 1; fi ;;
  env) [[ -f "$DIR/env" ]] || die "not started yet"; cat "$DIR/env" ;;
  reset) cmd_stop; rm -rf "$DIR"; log "removed $DIR" ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
