#!/usr/bin/env bash
# The test command (README "Quick start", and what CI runs through .ci/run):
#   1. system packages (build + test sets; skips apt when all are installed)
#   2. Rust toolchain with rustfmt and clippy
#   3. fixtures (generated only when fixtures/media/manifest.json is missing)
#   4. cargo fmt --check
#   5. cargo clippy --all-targets -- -D warnings
#   6. an S3 test server (Garage) and PostgreSQL on loopback, then cargo test --all-targets
#      (the job-store contract and the multi-node test run against PostgreSQL)
#   7. the page in headless Chromium and tus conformance (tuspy, tus-js-client), in a
#      loopback-only network namespace (scripts/web-test.sh)
#   8. schemathesis against the live API in a loopback-only network namespace
#   9. a short bounded run of the engine's fuzz targets (scripts/fuzz.sh; AUDIOTAP_NO_FUZZ=1 skips)
# With CI=true, cargo also runs with --locked (Cargo.lock must be committed and current).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STEP=""
STEP_START=$SECONDS
section() {
  if [[ -n "$STEP" ]]; then
    printf '    (%s: %ds)\n' "$STEP" $((SECONDS - STEP_START))
  fi
  STEP="$1"
  STEP_START=$SECONDS
  printf '\n==> %s\n' "$STEP"
}
on_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    printf '\n!!! scripts/test.sh FAILED at step: %s (exit %d, after %ds)\n' "$STEP" "$rc" "$SECONDS" >&2
  fi
}
trap on_exit EXIT

LOCKED=()
if [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; then
  LOCKED=(--locked)
fi

section "system packages (scripts/system-packages.sh install build test)"
scripts/system-packages.sh install build test

section "Rust toolchain"
# shellcheck source=scripts/ensure-rust.sh
source scripts/ensure-rust.sh
ensure_rust_components rustfmt clippy
rustc --version
cargo --version

section "fixtures"
if [[ -f fixtures/media/manifest.json ]]; then
  echo "fixtures/media/manifest.json present: not regenerating (run fixtures/generate.sh to rebuild)"
elif [[ -x fixtures/generate.sh || -f fixtures/generate.sh ]]; then
  bash fixtures/generate.sh
else
  echo "warning: fixtures/generate.sh not found; tests that need media fixtures will fail" >&2
fi

section "cargo fmt --check"
cargo fmt --all --check

section "cargo clippy --all-targets -- -D warnings"
cargo clippy "${LOCKED[@]}" --all-targets -- -D warnings

section "S3 test server install (scripts/s3-test-server.sh install)"
# Builds Garage with cargo the first time (about 10 minutes on 2 cores), then reuses it.
scripts/s3-test-server.sh install

section "PostgreSQL install (scripts/pg-test-server.sh install)"
scripts/pg-test-server.sh install

section "cargo test --all-targets (loopback-only network namespace, with Garage and PostgreSQL inside it)"
# Tests hand the server URLs (sources, webhooks). Inside a fresh network namespace that has
# only loopback, a guard that failed could not send anything off this machine. Garage and
# PostgreSQL run inside the same namespace so the S3 and PostgreSQL suites reach them.
cargo test "${LOCKED[@]}" --all-targets --no-run
run_tests() {
  local rc=0
  if [[ -z "${AUDIOTAP_TEST_S3_ENDPOINT:-}" ]]; then
    eval "$(AUDIOTAP_GARAGE_DIR="$ROOT/target/garage-test" scripts/s3-test-server.sh start)"
  fi
  if [[ -z "${AUDIOTAP_TEST_DATABASE_URL:-}" ]]; then
    eval "$(AUDIOTAP_PG_DIR="$ROOT/target/pg-test" scripts/pg-test-server.sh start)"
  fi
  # shellcheck disable=SC2086 # empty or --locked
  CARGO_NET_OFFLINE=true cargo test ${LOCKED_FLAG:-} --all-targets || rc=$?
  if [[ "$rc" -eq 0 ]]; then
    # The HTTP API suites (modules api and api_lifecycle of the service test binary) once
    # more, each server on its own PostgreSQL database.
    # shellcheck disable=SC2086 # empty or --locked
    AUDIOTAP_TEST_API_DATABASE=postgres CARGO_NET_OFFLINE=true \
      cargo test ${LOCKED_FLAG:-} --test service -- api:: api_lifecycle:: uploads:: events:: || rc=$?
  fi
  AUDIOTAP_GARAGE_DIR="$ROOT/target/garage-test" scripts/s3-test-server.sh stop >/dev/null 2>&1 || true
  AUDIOTAP_PG_DIR="$ROOT/target/pg-test" scripts/pg-test-server.sh stop >/dev/null 2>&1 || true
  return "$rc"
}
if [[ "$(id -u)" -eq 0 ]] && command -v unshare >/dev/null && [[ "${AUDIOTAP_NO_NETNS:-}" != "1" ]]; then
  export -f run_tests
  export ROOT
  LOCKED_FLAG="${LOCKED[*]:-}"
  export LOCKED_FLAG
  unshare -n bash -c 'ip link set lo up && run_tests'
else
  echo "note: not root (or AUDIOTAP_NO_NETNS=1): running the tests in the normal network namespace"
  LOCKED_FLAG="${LOCKED[*]:-}" run_tests
fi

section "page and tus clients (scripts/web-test.sh: Chromium + Selenium, tuspy, tus-js-client; loopback-only network namespace)"
# Installs its PyPI and npm packages first, then runs inside `unshare -n` as root.
cargo build "${LOCKED[@]}"
scripts/web-test.sh

section "API fuzzing (schemathesis, loopback-only network namespace)"
if [[ "$(id -u)" -eq 0 ]] && command -v unshare >/dev/null; then
  scripts/api-fuzz.sh
else
  echo "skipped: needs root for unshare -n (a loopback-only network namespace)"
fi

section "engine fuzzing (scripts/fuzz.sh: cargo-fuzz targets, FUZZ_SECONDS=${FUZZ_SECONDS:-20} each)"
# Installs nightly and cargo-fuzz when missing; the first build takes a few minutes. Here
# without AddressSanitizer and unoptimised (the fuzz crate builds the whole service with
# nightly: a dev build takes about half the time of an optimised one, and its debug
# assertions turn overflows into caught panics; panics, aborts, timeouts and server-side
# errors are caught); run scripts/fuzz.sh alone for an optimised ASan run.
if [[ "${AUDIOTAP_NO_FUZZ:-}" == "1" ]]; then
  echo "skipped: AUDIOTAP_NO_FUZZ=1"
else
  FUZZ_SECONDS="${FUZZ_SECONDS:-20}" FUZZ_SANITIZER="${FUZZ_SANITIZER:-none}" \
    FUZZ_PROFILE="${FUZZ_PROFILE:-dev}" scripts/fuzz.sh
fi

section "done"
printf 'scripts/test.sh: all steps passed in %ds\n' "$SECONDS"
