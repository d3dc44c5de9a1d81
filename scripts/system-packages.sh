#!/usr/bin/env bash
# The single list of system packages audiotap needs. Used by .ci/run, the README's
# quick start and the Dockerfile, so the three can never disagree.
#
#   scripts/system-packages.sh build    # print the build-time packages
#   scripts/system-packages.sh runtime  # print the run-time packages
#   scripts/system-packages.sh test     # print the extra packages the tests use
#   scripts/system-packages.sh bench    # print the extra packages scripts/bench.sh uses
#   scripts/system-packages.sh rustup   # print what installing Rust with rustup needs
#   scripts/system-packages.sh install [build|runtime|test ...]  # apt-get install them
set -euo pipefail

# FFmpeg development libraries (ffmpeg-next links them) and clang for bindgen.
BUILD=(pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev
       libswresample-dev libavfilter-dev ca-certificates)
# What the release binary loads at run time (Debian 12 sonames).
RUNTIME=(libavcodec59 libavformat59 libavutil57 libswresample4 libavfilter8 ca-certificates)
# The ffmpeg CLI makes fixtures and reference decodes; hyperfine and GNU time run benches
# (GNU time also measures peak RSS in tests/cli/hostile/runner.rs); iproute2 and util-linux (ip,
# unshare) give the tests a loopback-only namespace; wrk drives scripts/load.sh;
# postgresql (15 on Debian 12) runs the job-store and multi-node tests (scripts/pg-test-server.sh);
# chromium and chromium-driver run the page's browser tests, python3-venv their Selenium and
# tuspy, nodejs tus-js-client (scripts/web-test.sh).
TEST=(ffmpeg hyperfine time iproute2 util-linux wrk postgresql chromium chromium-driver python3-venv nodejs)
# scripts/bench.sh also serves a file over HTTP with Range support (nginx) and fetches it
# whole with curl for the floor.
BENCH=(nginx-light curl)
# Only on a machine without Rust: scripts/ensure-rust.sh fetches rustup with curl.
RUSTUP=(curl ca-certificates)

list() {
  case "$1" in
    build) printf '%s\n' "${BUILD[@]}" ;;
    runtime) printf '%s\n' "${RUNTIME[@]}" ;;
    test) printf '%s\n' "${TEST[@]}" ;;
    bench) printf '%s\n' "${BENCH[@]}" ;;
    rustup) printf '%s\n' "${RUSTUP[@]}" ;;
    *) echo "unknown set: $1 (build, runtime, test, bench, rustup)" >&2; exit 2 ;;
  esac
}

if [[ "${1:-}" == "install" ]]; then
  shift
  sets=("$@"); [[ ${#sets[@]} -eq 0 ]] && sets=(build test)
  pkgs=(); for s in "${sets[@]}"; do mapfile -t -O "${#pkgs[@]}" pkgs < <(list "$s"); done
  missing=()
  for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if [[ ${#missing[@]} -gt 0 ]]; then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  exit 0
fi
list "${1:-build}"
