#!/usr/bin/env bash
# Fuzz the live HTTP API with schemathesis against its own /openapi.json: no 5xx, no
# response that breaks the schema. Runs the server and the fuzzer inside a fresh network
# namespace that has only loopback (`unshare -n`), so fuzzed URL sources and webhook URLs
# cannot send traffic off this machine: anything but 127.0.0.1 fails at once.
#
#   scripts/api-fuzz.sh                 # debug binary, FUZZ_EXAMPLES (default 50) per operation
#   AUDIOTAP_BIN=target/release/audiotap scripts/api-fuzz.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${AUDIOTAP_BIN:-${CARGO_TARGET_DIR:-target}/debug/audiotap}"

if [[ "${AUDIOTAP_IN_NETNS:-}" != "1" ]]; then
  # Installs happen outside the namespace (they need the package registries).
  [[ -x "$BIN" ]] || cargo build
  if ! command -v schemathesis >/dev/null; then
    python3 -m pip install -q 'schemathesis>=4,<5'
  fi
  exec unshare -n env AUDIOTAP_IN_NETNS=1 bash "$0" "$@"
fi

ip link set lo up
WORK="$(mktemp -d)"
LOG="$WORK/server.log"
AUDIOTAP_LISTEN=127.0.0.1:0 AUDIOTAP_DATA_DIR="$WORK/data" AUDIOTAP_WORKERS=2 \
  AUDIOTAP_JOB_TIMEOUT_SECS=60 AUDIOTAP_FETCH_TIMEOUT_SECS=10 \
  "$BIN" serve 2>"$LOG" &
PID=$!
cleanup() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

URL=""
for _ in $(seq 1 100); do
  URL="$(sed -n 's/^audiotap: listening on \(http:[^ ]*\).*/\1/p' "$LOG" | head -n 1)"
  [[ -n "$URL" ]] && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG" >&2; echo "api-fuzz: the server exited" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$URL" ]] || { cat "$LOG" >&2; echo "api-fuzz: the server did not start" >&2; exit 1; }
echo "api-fuzz: server at $URL (loopback-only network namespace)"

rc=0
# tus bodies are bytes: scripts/schemathesis_hooks.py tells schemathesis how to send them.
export SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}"
schemathesis run "$URL/openapi.json" --url "$URL" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "${FUZZ_EXAMPLES:-50}" \
  --request-timeout 60 \
  --generation-deterministic \
  --phases examples,fuzzing,stateful \
  --workers 2 || rc=$?
if grep -q "panicked" "$LOG"; then
  echo "api-fuzz: the server panicked:" >&2
  grep -A5 "panicked" "$LOG" >&2
  rc=1
fi
exit "$rc"
