#!/usr/bin/env bash
# A large resumable (tus) upload in 50 MB PATCHes against one plain `POST /v1/jobs` upload
# of the same file, on loopback: wall time and throughput of each, their ratio, and the
# server's peak RSS (VmHWM) in each case (a fresh server per case: release build, SQLite,
# local storage). curl sends both (`-T` streams from disk); the tus PATCHes come from the
# file cut into 50 MB pieces beforehand. The content is random bytes: only the upload is
# timed (the job made from it fails at once).
#
#   scripts/tus-bench.sh                      # 2048 MiB (needs about 3 x that of disk)
#   SIZE_MB=200 scripts/tus-bench.sh          # a quick run
#   TUS_BENCH_ROW=FILE scripts/tus-bench.sh   # also write the Markdown row to FILE
#   AUDIOTAP_BIN=/path/to/audiotap scripts/tus-bench.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SIZE_MB="${SIZE_MB:-2048}"
PART=$((50 * 1000 * 1000))
WORK="target/tus-bench"
say() { printf '==> %s\n' "$*" >&2; }

for tool in curl python3 split; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found" >&2; exit 1; }
done
if [[ -n "${AUDIOTAP_BIN:-}" ]]; then
  BIN="$AUDIOTAP_BIN"
else
  say "cargo build --release"
  cargo build --release -q
  BIN="${CARGO_TARGET_DIR:-target}/release/audiotap"
fi
free_mb=$(df -Pm "$ROOT/target" | awk 'NR == 2 { print $4 }')
if (( free_mb < 3 * SIZE_MB + 512 )); then
  echo "error: a $SIZE_MB MiB run needs about $((3 * SIZE_MB + 512)) MiB of disk, $free_mb MiB free" >&2
  exit 1
fi

rm -rf "$WORK" && mkdir -p "$WORK/parts"
SRC="$WORK/upload.bin"
say "making $SIZE_MB MiB of random bytes and cutting them into 50 MB pieces"
head -c $((SIZE_MB * 1048576)) /dev/urandom >"$SRC"
SIZE=$(stat -c %s "$SRC")
split -b "$PART" -d -a 4 "$SRC" "$WORK/parts/p"

PID=""
start_server() { # -> sets PID and URL
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$WORK/data" && mkdir -p "$WORK/data"
  AUDIOTAP_LISTEN="127.0.0.1:$port" AUDIOTAP_DATA_DIR="$WORK/data" AUDIOTAP_WORKERS=1 \
    AUDIOTAP_MAX_UPLOAD_BYTES=$((SIZE + 1)) AUDIOTAP_LOG=warn "$BIN" serve >"$WORK/server.log" 2>&1 &
  PID=$!
  URL="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    curl -sf "$URL/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$WORK/server.log" >&2
  echo "error: the server did not start" >&2
  exit 1
}
stop_server() { # -> prints the server's peak RSS in KiB
  awk '/VmHWM/ { print $2 }' "/proc/$PID/status"
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
}
trap '[[ -n "$PID" ]] && kill "$PID" 2>/dev/null; rm -rf "$WORK/data" "$WORK/parts" "$SRC"' EXIT
now() { date +%s.%N; }

say "plain POST /v1/jobs of $SIZE bytes"
start_server
t0=$(now)
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -T "$SRC" -H 'Content-Type: application/octet-stream' "$URL/v1/jobs")
t1=$(now)
[[ "$code" == 202 ]] || { echo "error: POST /v1/jobs answered $code" >&2; exit 1; }
PLAIN_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
PLAIN_RSS=$(stop_server)

say "tus: POST /v1/uploads, then PATCHes of 50 MB"
start_server
t0=$(now)
loc=$(curl -sS -D - -o /dev/null -X POST -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $SIZE" \
  -H "Upload-Metadata: filename $(printf upload.bin | base64)" "$URL/v1/uploads" |
  tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
offset=0
for part in "$WORK"/parts/p*; do
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH -T "$part" -H 'Tus-Resumable: 1.0.0' \
    -H "Upload-Offset: $offset" -H 'Content-Type: application/offset+octet-stream' "$URL$loc")
  [[ "$code" == 204 ]] || { echo "error: PATCH at $offset answered $code" >&2; exit 1; }
  offset=$((offset + $(stat -c %s "$part")))
done
t1=$(now)
TUS_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
TUS_RSS=$(stop_server)

mibs() { awk -v n="$SIZE" -v s="$1" 'BEGIN { printf "%.0f", n / 1048576 / s }'; }
RATIO=$(awk -v p="$PLAIN_S" -v t="$TUS_S" 'BEGIN { printf "%.2f", p / t }')
ROW="| $SIZE_MB MiB upload: tus in 50 MB PATCHes vs one \`POST /v1/jobs\` | $TUS_S s ($(mibs "$TUS_S") MiB/s) | $PLAIN_S s ($(mibs "$PLAIN_S") MiB/s) | **$RATIO** | $(awk -v k="$TUS_RSS" 'BEGIN { printf "%.1f", k / 1024 }') | $(awk -v k="$PLAIN_RSS" 'BEGIN { printf "%.1f", k / 1024 }') |"
echo
echo "| upload | tus time (throughput) | plain time (throughput) | tus/plain throughput | tus server peak RSS MiB | plain server peak RSS MiB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
echo "$ROW"
[[ -n "${TUS_BENCH_ROW:-}" ]] && echo "$ROW" >"$TUS_BENCH_ROW"
exit 0
