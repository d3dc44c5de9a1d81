#!/usr/bin/env bash
# A short, bounded fuzz run of the engine (the cargo-fuzz targets in fuzz/), as CI runs it:
#
#   scripts/fuzz.sh                          # every target, FUZZ_SECONDS (25) each
#   FUZZ_SECONDS=300 scripts/fuzz.sh probe   # one target, longer
#
# Installs what it needs when missing: the nightly toolchain (rustup, minimal profile; when
# none can be fetched, the installed stable toolchain with RUSTC_BOOTSTRAP=1) and
# cargo-fuzz (`cargo install cargo-fuzz --locked`). Seeds every media target with
# fixtures/media, fixtures/bad and fixtures/regress; the corpus grows in fuzz/corpus/<target>
# (kept between runs, git-ignored). Prints executions, speed, peak RSS and crashes per
# target. A crash leaves its input in fuzz/artifacts/<target>/ and makes the script exit 1:
# reproduce it with `cargo +nightly fuzz run <target> <file>`, fix it, and add the input to
# fixtures/regress/ (tests/cli/regress.rs runs every file there).
#
# Knobs: FUZZ_SECONDS (per target), FUZZ_SANITIZER (address | none; default address),
# FUZZ_PROFILE (release | dev; default release: dev builds in about half the time, runs
# slower, and keeps debug assertions, so overflows panic),
# FUZZ_MAX_LEN (bytes, default 262144), FUZZ_RSS_MB (libFuzzer's memory limit, 2048).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-25}"
SANITIZER="${FUZZ_SANITIZER:-address}"
case "${FUZZ_PROFILE:-release}" in
  release) PROFILE=(-O) ;;
  dev) PROFILE=(--dev) ;;
  *) echo "FUZZ_PROFILE must be release or dev" >&2; exit 2 ;;
esac
MAX_LEN="${FUZZ_MAX_LEN:-262144}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
ALL_TARGETS=(probe decode_symphonia decode_ffmpeg options writers)
MEDIA_TARGETS=" probe decode_symphonia decode_ffmpeg "
if [[ $# -gt 0 ]]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

if [[ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ]]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
# cargo-fuzz needs nightly features. Without a nightly toolchain (and none to fetch), the
# installed stable one is told to allow them (RUSTC_BOOTSTRAP=1).
# FUZZ_TOOLCHAIN=stable forces that path.
TC=(+nightly)
if [[ "${FUZZ_TOOLCHAIN:-}" == "stable" ]]; then
  echo "==> FUZZ_TOOLCHAIN=stable: using $(rustc --version) with RUSTC_BOOTSTRAP=1"
  TC=()
  export RUSTC_BOOTSTRAP=1
elif ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "==> installing the nightly toolchain (rustup, minimal profile)"
  if ! timeout 300 rustup toolchain install nightly --profile minimal; then
    echo "==> no nightly toolchain to be had: using $(rustc --version) with RUSTC_BOOTSTRAP=1"
    TC=()
    export RUSTC_BOOTSTRAP=1
  fi
fi
if ! cargo "${TC[@]}" fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
# FFmpeg's libraries are not built with the sanitizer; leak reports from them at exit would
# be noise (memory growth still shows in the rss column and against -rss_limit_mb).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
# Not the main target dir: nightly with sanitizer flags shares nothing with it.
export CARGO_TARGET_DIR="$ROOT/fuzz/target"
echo "==> cargo ${TC[*]} fuzz build ${PROFILE[*]} -s $SANITIZER"
build_start=$SECONDS
cargo "${TC[@]}" fuzz build "${PROFILE[@]}" -s "$SANITIZER"
echo "    (build: $((SECONDS - build_start)) s)"

SEEDS="$CARGO_TARGET_DIR/seeds"
rm -rf "$SEEDS"
mkdir -p "$SEEDS"
find "$ROOT/fixtures/media" "$ROOT/fixtures/bad" "$ROOT/fixtures/regress" -type f -size -"$MAX_LEN"c \
  ! -name '*.json' ! -name '*.md' -exec cp {} "$SEEDS/" \;

summary=()
crashed=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  seeds=()
  [[ "$MEDIA_TARGETS" == *" $t "* ]] && seeds=("$SEEDS")
  log="$CARGO_TARGET_DIR/fuzz-$t.log"
  before=$(find "artifacts/$t" -type f | wc -l)
  echo "==> fuzzing $t for ${SECONDS_PER_TARGET}s"
  rc=0
  cargo "${TC[@]}" fuzz run "${PROFILE[@]}" -s "$SANITIZER" "$t" "corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=30 -rss_limit_mb="$RSS_MB" \
    -max_len="$MAX_LEN" -print_final_stats=1 -detect_leaks=0 >"$log" 2>&1 || rc=$?
  after=$(find "artifacts/$t" -type f | wc -l)
  stat() { grep -m1 "stat::$1:" "$log" | awk '{print $2}'; }
  execs=$(stat number_of_executed_units); speed=$(stat average_exec_per_sec); rss=$(stat peak_rss_mb)
  corpus=$(find "corpus/$t" -type f | wc -l)
  new=$((after - before))
  summary+=("$(printf '%-17s %10s %8s %8s %8s %8s' "$t" "${execs:-?}" "${speed:-?}" "${rss:-?}" "$corpus" "$new")")
  if [[ $rc -ne 0 || $new -gt 0 ]]; then
    crashed=1
    echo "!!! $t: libFuzzer exit $rc, $new new artifact(s) in fuzz/artifacts/$t; log tail:"
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -20 || true
    tail -n 30 "$log"
  fi
done

echo
printf '%-17s %10s %8s %8s %8s %8s\n' target execs exec/s rss_mb corpus crashes
printf '%s\n' "${summary[@]}"
exit "$crashed"
