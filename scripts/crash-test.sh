#!/usr/bin/env bash
# Crash-safety run: 50 jobs (one in five bad media, each with a webhook) against the real
# server, which is killed with SIGKILL 10 times while jobs are queued and running and
# restarted on the same data dir; then checks that every job ended exactly once, every
# output is whole and stored once, every webhook arrived (same webhook-id on every attempt)
# and no temp file is left, and prints the tally. It drives tests/service/crash.rs (the suite runs
# the same test with 12 jobs and 4 kills).
#
#   scripts/crash-test.sh                      # 50 jobs, 10 kills
#   CRASH_JOBS=200 CRASH_KILLS=20 CRASH_SEED=7 scripts/crash-test.sh
#
# As root it runs inside a loopback-only network namespace (unshare -n).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CRASH_JOBS="${CRASH_JOBS:-50}" CRASH_KILLS="${CRASH_KILLS:-10}" CRASH_SEED="${CRASH_SEED:-5}"
cargo test --test service --no-run
run='set -o pipefail; cargo test --test service crash:: -- --nocapture 2>&1 | grep -E "crash tally|test result|panicked|assert" -A2'
if [[ "$(id -u)" -eq 0 ]] && command -v unshare >/dev/null; then
  unshare -n bash -c "ip link set lo up && CARGO_NET_OFFLINE=true $run"
else
  bash -c "$run"
fi
