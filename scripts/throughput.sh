#!/usr/bin/env bash
# Jobs per minute with 1, 2 and 3 worker processes sharing one PostgreSQL job store and one
# S3 bucket (Garage), all on this machine: does the design (SKIP LOCKED claims, leases,
# shared storage) add a central bottleneck, or does throughput follow the CPUs?
#
#   scripts/throughput.sh [JOBS]        # default 30 jobs per run
#
# Each run: a fresh database, one `serve --role api` node that receives JOBS uploads of a
# 60 s stereo AAC video (generated once with ffmpeg), then N `serve --role worker`
# processes with AUDIOTAP_WORKERS=1 each, which re-encode them to mono AAC M4A (a CPU-bound
# job of about a second). Throughput = JOBS / (last job finished - first job started), from
# the job JSON timestamps, so neither submission nor process start-up is counted. Also
# printed: the CPU time (user + system) the worker processes used per job: if the shared
# store or bucket were a bottleneck or caused contention, it would grow with the workers.
#
# Needs a release binary (built if missing; AUDIOTAP_BIN overrides), PostgreSQL and Garage
# (scripts/pg-test-server.sh / s3-test-server.sh install), ffmpeg, curl, jq, python3.
# Worker counts: AUDIOTAP_THROUGHPUT_WORKERS (default "1 2 3"). State: target/throughput.
# Note: with N processes on a machine of C cores, at most min(N, C) jobs run at a time; on
# a 2-core machine the 3-worker run can only show that a third process costs nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${1:-30}"
COUNTS="${AUDIOTAP_THROUGHPUT_WORKERS:-1 2 3}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${AUDIOTAP_BIN:-$TARGET/release/audiotap}"
WORK="$ROOT/target/throughput"
mkdir -p "$WORK"

log() { printf 'throughput: %s\n' "$*" >&2; }

if [[ -z "${AUDIOTAP_BIN:-}" ]]; then
  log "building the release binary (cargo build --release)"
  cargo build --release --locked >&2
fi
[[ -x "$BIN" ]] || { log "no binary at $BIN"; exit 1; }

INPUT="$WORK/input-60s.mp4"
if [[ ! -f "$INPUT" ]]; then
  ffmpeg -nostdin -loglevel error -y \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=60" \
    -f lavfi -i "anoisesrc=duration=60:color=pink:sample_rate=48000:amplitude=0.2" \
    -filter_complex "[0:a][1:a]amerge=inputs=2[a]" -map "[a]" \
    -c:a aac -b:a 128k -movflags +faststart "$INPUT"
fi

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
stop_servers() {
  cleanup
  AUDIOTAP_PG_DIR="$WORK/pg" scripts/pg-test-server.sh stop >/dev/null 2>&1 || true
  AUDIOTAP_GARAGE_DIR="$WORK/garage" scripts/s3-test-server.sh stop >/dev/null 2>&1 || true
}
trap stop_servers EXIT

eval "$(AUDIOTAP_PG_DIR="$WORK/pg" scripts/pg-test-server.sh start)"
eval "$(AUDIOTAP_GARAGE_DIR="$WORK/garage" scripts/s3-test-server.sh start)"
ADMIN="$AUDIOTAP_TEST_DATABASE_URL"

# Start `serve` with role $1 and name $2 (more env in the caller's environment); sets NODE_URL
# to its base URL once it listens. (Not in $(...): PIDS must be kept in this shell.)
start_node() {
  local role="$1" name="$2" dir="$RUN/$2"
  mkdir -p "$dir"
  : >"$dir/log"
  AUDIOTAP_ROLE="$role" AUDIOTAP_NODE_ID="$name" AUDIOTAP_DATA_DIR="$dir" \
    AUDIOTAP_LISTEN=127.0.0.1:0 "$BIN" serve >"$dir/log" 2>&1 &
  PIDS+=($!)
  local url=""
  for _ in $(seq 1 200); do
    url="$(sed -n 's/^audiotap: listening on \(http:[^ ]*\).*/\1/p' "$dir/log" | head -n1)"
    [[ -n "$url" ]] && break
    sleep 0.05
  done
  [[ -n "$url" ]] || { cat "$dir/log" >&2; log "$name did not start"; exit 1; }
  NODE_URL="$url"
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
RESULTS="$WORK/results.txt"
: >"$RESULTS"
for n in $COUNTS; do
  RUN="$WORK/run-$n"
  rm -rf "$RUN"
  mkdir -p "$RUN"
  db="audiotap_tp_${n}_$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')"
  psql -q "$ADMIN" -c "CREATE DATABASE $db" >/dev/null
  export AUDIOTAP_DATABASE_URL="${ADMIN%/*}/$db"
  export AUDIOTAP_STORAGE=s3 AUDIOTAP_S3_ENDPOINT="$AUDIOTAP_TEST_S3_ENDPOINT"
  export AUDIOTAP_S3_BUCKET="$AUDIOTAP_TEST_S3_BUCKET" AUDIOTAP_S3_REGION="$AUDIOTAP_TEST_S3_REGION"
  export AUDIOTAP_S3_PATH_STYLE=true AUDIOTAP_S3_PREFIX="throughput-$db"
  export AUDIOTAP_WORKERS=1 AUDIOTAP_MAX_QUEUE=100000 AUDIOTAP_LOG=audiotap=warn
  start_node api api
  api="$NODE_URL"
  for ((i = 0; i < JOBS; i++)); do
    code="$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: video/mp4' \
      --data-binary "@$INPUT" "$api/v1/jobs?format=m4a&channels=1&bitrate=96000")"
    [[ "$code" == 202 ]] || { log "submit answered $code"; exit 1; }
  done
  WORKER_PIDS=()
  for ((w = 1; w <= n; w++)); do start_node worker "worker-$w"; WORKER_PIDS+=("${PIDS[-1]}"); done
  log "$n worker process(es): $JOBS jobs queued"
  while :; do
    page="$(curl -s "$api/v1/jobs?limit=500")"
    done_n="$(jq '[.jobs[] | select(.status == "succeeded")] | length' <<<"$page")"
    bad="$(jq '[.jobs[] | select(.status == "failed" or .status == "canceled")] | length' <<<"$page")"
    [[ "$bad" == 0 ]] || { jq '.jobs[] | select(.status == "failed") | .error' <<<"$page" >&2; log "jobs failed"; exit 1; }
    [[ "$done_n" == "$JOBS" ]] && break
    sleep 0.5
  done
  printf '%s' "$page" >"$RUN/jobs.json"
  # CPU the worker processes used (user + system), to compare per job across runs.
  ticks=0
  for p in "${WORKER_PIDS[@]}"; do
    read -r -a st <"/proc/$p/stat"
    ticks=$((ticks + st[13] + st[14]))
  done
  cpu="$(python3 -c "print(f'{$ticks / $(getconf CLK_TCK) / $JOBS:.2f}')")"
  python3 - "$n" "$JOBS" "$RUN/jobs.json" "$cpu" >>"$RESULTS" <<'PY'
import json, sys
from datetime import datetime
page = json.load(open(sys.argv[3]))
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00"))
jobs = page["jobs"]
start = min(t(j["started_at"]) for j in jobs)
end = max(t(j["finished_at"]) for j in jobs)
secs = (end - start).total_seconds()
per = {}
for j in jobs: per[j["node"]] = per.get(j["node"], 0) + 1
spread = " ".join(f"{k}={v}" for k, v in sorted(per.items()))
print(f"{sys.argv[1]}\t{sys.argv[2]}\t{secs:.1f}\t{int(sys.argv[2]) * 60 / secs:.1f}\t{sys.argv[4]}\t{spread}")
PY
  tail -n1 "$RESULTS" >&2
  cleanup
done

base="$(head -n1 "$RESULTS" | cut -f4)"
printf '\n%-8s %-5s %-9s %-9s %-8s %-14s %s\n' workers jobs seconds jobs/min speedup "worker CPU/job" "jobs per worker"
while IFS=$'\t' read -r n jobs secs jpm cpu spread; do
  printf '%-8s %-5s %-9s %-9s %-8s %-14s %s\n' "$n" "$jobs" "$secs" "$jpm" \
    "$(python3 -c "print(f'{$jpm / $base:.2f}x')")" "${cpu} s" "$spread"
done <"$RESULTS"
printf '\n(%s cores on this machine; load average before the runs: %s, after: %s)\n' \
  "$(nproc)" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)"
