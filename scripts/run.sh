#!/usr/bin/env bash
# Build (release) and run audiotap on this machine: the README's "Quick start".
#   scripts/run.sh                      # the HTTP service with its embedded defaults: `audiotap serve`
#   scripts/run.sh extract in.mp4 -o out.wav --sample-rate 16000 --channels 1
#   scripts/run.sh probe in.mp4 --json  # any arguments are passed to `audiotap`
# Installs the build packages (scripts/system-packages.sh) and Rust if missing. Runs in
# the current directory, so relative paths (and the default ./data) are relative to it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$ROOT/scripts/system-packages.sh" install build
# shellcheck source=scripts/ensure-rust.sh
source "$ROOT/scripts/ensure-rust.sh"

if [[ $# -eq 0 ]]; then
  set -- serve
fi
exec cargo run --release --manifest-path "$ROOT/Cargo.toml" --bin audiotap -- "$@"
