#!/usr/bin/env bash
# A bounded load run against the real server (wrk, loopback only), printing throughput,
# latency percentiles, shed answers and the server's peak RSS:
#
#   1. status reads:     GET /v1/jobs/{id}, 32 connections
#   2. sync extracts:    POST /v1/extract of a 2 s clip (to 16 kHz mono), 2 connections
#                        (within the AUDIOTAP_WORKERS=2 slots), then 8 (the excess is shed
#                        with 503 busy)
#   3. uploads:          POST /v1/jobs of the same clip, 50 connections; the queue
#                        (AUDIOTAP_MAX_QUEUE=LOAD_MAX_QUEUE) fills and is shed with 503 queue_full
#   then checks that a shed answer carries Retry-After and that the server still answers.
#
#   scripts/load.sh                    # release binary (built when missing), 10 s per phase
#   LOAD_SECONDS=30 AUDIOTAP_BIN=target/debug/audiotap scripts/load.sh
#
# Needs wrk (scripts/system-packages.sh test). Writes target/load/results.md too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECS="${LOAD_SECONDS:-10}"
MAX_QUEUE="${LOAD_MAX_QUEUE:-200}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${AUDIOTAP_BIN:-$TARGET_DIR/release/audiotap}"
CLIP="$ROOT/fixtures/media/mp4_aac.mp4"
command -v wrk >/dev/null || { echo "load.sh: wrk is missing (scripts/system-packages.sh install test)" >&2; exit 1; }
if [[ -z "${AUDIOTAP_BIN:-}" && ! -x "$BIN" ]]; then
  echo "==> cargo build --release"
  cargo build --release
fi
OUT="$TARGET_DIR/load"
mkdir -p "$OUT"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

env -u AUDIOTAP_API_KEYS AUDIOTAP_LISTEN=127.0.0.1:0 AUDIOTAP_DATA_DIR="$WORK/data" \
  AUDIOTAP_WORKERS=2 AUDIOTAP_MAX_QUEUE="$MAX_QUEUE" AUDIOTAP_LOG=audiotap=warn \
  "$BIN" serve 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do
  grep -q "listening on" "$WORK/server.log" 2>/dev/null && break
  sleep 0.1
done
BASE="$(sed -n 's/.*audiotap: listening on \(http[^ ]*\).*/\1/p' "$WORK/server.log" | head -n1)"
[[ -n "$BASE" ]] || { cat "$WORK/server.log"; echo "load.sh: the server did not start" >&2; exit 1; }
echo "server: $BIN at $BASE (pid $SERVER_PID, 2 workers, max queue $MAX_QUEUE)"

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
local f = assert(io.open(os.getenv("LOAD_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "video/mp4"
LUA

ID="$(curl -sS -X POST --data-binary @"$CLIP" -H 'Content-Type: video/mp4' "$BASE/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

rows=()
phase() { # key name connections url [lua]
  local name="$2" conns="$3" url="$4" lua="${5:-}" log="$OUT/wrk-$1.txt"
  local args=(-t2 -c"$conns" -d"${SECS}s" --latency --timeout 30s)
  [[ -n "$lua" ]] && args+=(-s "$lua")
  LOAD_BODY="$CLIP" wrk "${args[@]}" "$url" >"$log" 2>&1
  local rps p50 p99 reqs non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$log")
  reqs=$(awk '/requests in/ {print $1}' "$log")
  p50=$(awk '$1 == "50%" {print $2}' "$log")
  p99=$(awk '$1 == "99%" {print $2}' "$log")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$log")
  local ok_rps
  ok_rps=$(awk -v r="${reqs:-0}" -v n="${non2xx:-0}" -v s="$SECS" 'BEGIN {printf "%.1f", (r - n) / s}')
  rows+=("| $name | $conns | ${reqs:-0} | ${rps:-0} | $ok_rps | ${p50:-?} | ${p99:-?} | ${non2xx:-0} |")
  echo "==> $name: $reqs requests, $rps req/s ($ok_rps/s served), p50 $p50, p99 $p99, non-2xx ${non2xx:-0}"
}
phase reads "status reads (GET /v1/jobs/{id})" 32 "$BASE/v1/jobs/$ID"
phase sync2 "sync extracts within capacity (2 s clip)" 2 "$BASE/v1/extract?sample_rate=16000&channels=1" "$WORK/post.lua"
phase sync "sync extracts over capacity (2 s clip)" 8 "$BASE/v1/extract?sample_rate=16000&channels=1" "$WORK/post.lua"
phase uploads "uploads (POST /v1/jobs, 30 KB clip)" 50 "$BASE/v1/jobs?sample_rate=16000&channels=1" "$WORK/post.lua"

# A shed answer: 503 with Retry-After (the queue is full after the upload phase).
shed="$(curl -sS -o /dev/null -D - -X POST --data-binary @"$CLIP" -H 'Content-Type: video/mp4' "$BASE/v1/jobs")"
status="$(printf '%s' "$shed" | head -n1 | awk '{print $2}')"
retry="$(printf '%s' "$shed" | awk -F': ' 'tolower($1) == "retry-after" {print $2}' | tr -d '\r')"
health="$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/healthz")"
queued="$(curl -sS "$BASE/metrics" | awk '/^audiotap_rejected_total/ {print}' | tr '\n' ' ')"
rss_kib="$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")"
echo "==> after the run: POST /v1/jobs -> $status, Retry-After: ${retry:-none}; /healthz -> $health"
echo "    shed counters: $queued"
{
  echo "| phase | connections | requests | req/s | served/s (2xx) | p50 | p99 | non-2xx (shed) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Server peak RSS: $((rss_kib / 1024)) MiB. After the run: POST /v1/jobs answered $status with Retry-After ${retry:-none}; /healthz $health."
  echo "Shed counters: $queued"
} | tee "$OUT/results.md"
[[ "$status" == "503" && -n "$retry" && "$health" == "200" ]] || { echo "load.sh: expected a 503 with Retry-After and a healthy server" >&2; exit 1; }
