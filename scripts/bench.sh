#!/usr/bin/env bash
# audiotap vs the ffmpeg CLI, same machine, same run.
#
#   scripts/bench.sh                  # full run: 60-min AAC source, 10-min 720p video
#   BENCH_QUICK=1 scripts/bench.sh    # smoke test: 5-min AAC source, 1-min 720p video
#   BENCH_RUNS=10 scripts/bench.sh    # timed runs per command (default 5, plus 1 warm-up)
#   AUDIOTAP_BIN=/path/to/audiotap scripts/bench.sh   # bench that binary, skip cargo build
#
# Builds target/release/audiotap, generates the sources once (cached in
# target/bench-media/), times each job with hyperfine (JSON and CSV in target/bench/),
# measures peak RSS with one `/usr/bin/time -v` run per command, and prints a Markdown
# table, also written to target/bench/results.md. Sources are read from the page cache
# (hyperfine's warm-up run reads them first); the `cat` floor row shows what one read of
# the source costs. Outputs go to target/bench/out/ and are removed after each job.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RUNS="${BENCH_RUNS:-5}"
if [[ "${BENCH_QUICK:-0}" == "1" ]]; then
  AUDIO_SECS=300 VIDEO_SECS=60
else
  AUDIO_SECS=3600 VIDEO_SECS=600
fi
AUDIO_MIN=$((AUDIO_SECS / 60)) VIDEO_MIN=$((VIDEO_SECS / 60))

MEDIA_DIR="target/bench-media"
BENCH_DIR="target/bench"
OUT_DIR="$BENCH_DIR/out"
RESULTS="$BENCH_DIR/results.md"
mkdir -p "$MEDIA_DIR" "$BENCH_DIR" "$OUT_DIR"

say() { printf '\n==> %s\n' "$*" >&2; }

say "system packages (scripts/system-packages.sh install build test)"
scripts/system-packages.sh install build test
for tool in hyperfine ffmpeg ffprobe; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "error: /usr/bin/time (GNU time) not found" >&2; exit 1; }

if [[ -n "${AUDIOTAP_BIN:-}" ]]; then
  BIN="$AUDIOTAP_BIN"
  say "using AUDIOTAP_BIN=$BIN (no cargo build)"
else
  say "cargo build --release"
  # shellcheck source=scripts/ensure-rust.sh
  source scripts/ensure-rust.sh
  cargo build --release
  BIN="target/release/audiotap"
fi
[[ -x "$BIN" ]] || { echo "error: $BIN is not an executable" >&2; exit 1; }

# ---------------------------------------------------------------- sources (cached)

AAC_SRC="$MEDIA_DIR/sine-stereo-48k-aac128k-${AUDIO_SECS}s.m4a"
VIDEO_SRC="$MEDIA_DIR/testsrc2-720p30-h264-aac-${VIDEO_SECS}s.mp4"

# Two different tones, so that a wrong channel order or remix shows in the output.
stereo_tones() { # SECONDS -> lavfi inputs as arguments
  printf '%s\n' -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$1" \
                -f lavfi -i "sine=frequency=660:sample_rate=48000:duration=$1"
}

if [[ ! -s "$AAC_SRC" ]]; then
  say "generating $AAC_SRC ($AUDIO_MIN min stereo 48 kHz AAC 128 kb/s; takes about 80 s for 60 min)"
  mapfile -t tones < <(stereo_tones "$AUDIO_SECS")
  ffmpeg -nostdin -v error -y "${tones[@]}" \
    -filter_complex "[0:a][1:a]join=inputs=2:channel_layout=stereo[a]" -map "[a]" \
    -c:a aac -b:a 128k -movflags +faststart "$AAC_SRC.tmp.m4a"
  mv "$AAC_SRC.tmp.m4a" "$AAC_SRC"
fi

if [[ ! -s "$VIDEO_SRC" ]]; then
  say "generating $VIDEO_SRC ($VIDEO_MIN min 1280x720 30 fps H.264 ultrafast + stereo AAC)"
  mapfile -t tones < <(stereo_tones "$VIDEO_SECS")
  ffmpeg -nostdin -v error -y \
    -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=$VIDEO_SECS" "${tones[@]}" \
    -filter_complex "[1:a][2:a]join=inputs=2:channel_layout=stereo[a]" -map 0:v -map "[a]" \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 128k \
    -movflags +faststart "$VIDEO_SRC.tmp.mp4"
  mv "$VIDEO_SRC.tmp.mp4" "$VIDEO_SRC"
fi

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# ---------------------------------------------------------------- helpers

# peak_rss_kib NAME CMD : run CMD once under GNU time; print peak RSS in KiB, or "failed".
peak_rss_kib() {
  local name="$1" cmd="$2" tf="$BENCH_DIR/$1.time.txt" log="$BENCH_DIR/$1.stderr.txt"
  if /usr/bin/time -v -o "$tf" bash -c "exec $cmd" </dev/null >/dev/null 2>"$log"; then
    awk -F': ' '/Maximum resident set size/ { print $2 }' "$tf"
  else
    echo "error: '$name' failed: $cmd" >&2
    sed 's/^/    /' "$log" | tail -n 20 >&2
    echo failed
  fi
}

# csv_field CSV COMMAND_NAME FIELD : a column of hyperfine's CSV export for one command.
csv_field() {
  awk -F, -v want="$2" -v field="$3" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $(col["command"]) == want { print $(col[field]) }' "$1"
}

# describe FILE : "codec rate Hz ch, duration s, size MiB" of its first audio stream (ffprobe).
describe() {
  { ffprobe -v error -select_streams a:0 -show_entries stream=codec_name,sample_rate,channels:format=duration,size       -of default=noprint_wrappers=1 "$1" 2>/dev/null || true; } |
    awk -F= '{ v[$1] = $2 }
      END { if (!("codec_name" in v)) { print "missing or unreadable"; exit }
            printf "%s %s Hz %s ch, %.3f s, %.1f MiB\n", v["codec_name"], v["sample_rate"], v["channels"], v["duration"], v["size"] / 1048576 }'
}

q() { printf '%q ' "$@"; }

TABLE_ROWS=()
CHECK_ROWS=()
FAILURES=0

# run_job ID LABEL SRC EXT "AUDIOTAP ARGS..." "FFMPEG ARGS..." [floor]
# The argument strings are word-split (no paths with spaces in them here).
run_job() {
  local id="$1" label="$2" src="$3" ext="$4" at_args="$5" ff_args="$6" floor="${7:-}"
  local out_a="$OUT_DIR/$id.audiotap.$ext" out_f="$OUT_DIR/$id.ffmpeg.$ext"
  local -a at_argv ff_argv names=() cmds=()
  read -r -a at_argv <<<"$at_args"
  read -r -a ff_argv <<<"$ff_args"
  local cmd_a cmd_f cmd_c
  cmd_a="$(q "$BIN" extract "$src" -o "$out_a" "${at_argv[@]}")"
  cmd_f="$(q ffmpeg -nostdin -v error -y -i "$src" -vn "${ff_argv[@]}" "$out_f")"
  cmd_c="cat $(q "$src")> /dev/null"

  say "$label"
  echo "audiotap: $cmd_a" >&2
  echo "ffmpeg:   $cmd_f" >&2
  rm -f "$out_a" "$out_f"

  local rss_a rss_f rss_c=""
  rss_a=$(peak_rss_kib "$id.audiotap" "$cmd_a")
  rss_f=$(peak_rss_kib "$id.ffmpeg" "$cmd_f")
  if [[ "$rss_a" != failed ]]; then names+=(audiotap); cmds+=("$cmd_a"); else FAILURES=$((FAILURES + 1)); fi
  if [[ "$rss_f" != failed ]]; then names+=(ffmpeg); cmds+=("$cmd_f"); else FAILURES=$((FAILURES + 1)); fi
  if [[ -n "$floor" ]]; then
    rss_c=$(peak_rss_kib "$id.cat" "$cmd_c")
    if [[ "$rss_c" != failed ]]; then names+=(cat); cmds+=("$cmd_c"); else FAILURES=$((FAILURES + 1)); fi
  fi
  local check_a check_f
  check_a=$(describe "$out_a")
  check_f=$(describe "$out_f")

  local csv="$BENCH_DIR/$id.csv" json="$BENCH_DIR/$id.json"
  rm -f "$csv" "$json"
  if [[ ${#cmds[@]} -gt 0 ]]; then
    local -a hf=(hyperfine --warmup 1 --runs "$RUNS" --export-json "$json" --export-csv "$csv"
                 --prepare "rm -f $(q "$out_a" "$out_f")")
    local i
    for i in "${!cmds[@]}"; do hf+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
    if ! "${hf[@]}" >&2; then
      echo "error: hyperfine failed for $id (a command failed during the timed runs)" >&2
      FAILURES=$((FAILURES + 1))
      rm -f "$csv"
    fi
  fi

  cell() { # NAME RSS_KIB -> "mean ± sd" and "MiB" cells
    local mean sd
    if [[ "$2" == failed ]]; then echo "failed|failed"; return; fi
    mean=$(csv_field "$csv" "$1" mean 2>/dev/null || true)
    sd=$(csv_field "$csv" "$1" stddev 2>/dev/null || true)
    if [[ -z "$mean" ]]; then echo "failed|failed"; return; fi
    printf '%s|%s\n' "$(awk -v m="$mean" -v s="$sd" 'BEGIN { printf "%.3f ± %.3f", m, s }')" \
                     "$(awk -v k="$2" 'BEGIN { printf "%.1f", k / 1024 }')"
  }
  local a f ratio="—"
  a=$(cell audiotap "$rss_a")
  f=$(cell ffmpeg "$rss_f")
  if [[ "${a%%|*}" != failed && "${f%%|*}" != failed ]]; then
    ratio=$(awk -v a="$(csv_field "$csv" audiotap mean)" -v f="$(csv_field "$csv" ffmpeg mean)" \
      'BEGIN { if (f > 0) printf "%.2f", a / f; else print "—" }')
  fi
  TABLE_ROWS+=("| $label | ${a%%|*} | ${f%%|*} | $ratio | ${a##*|} | ${f##*|} |")
  if [[ -n "$floor" ]]; then
    local c="failed"
    [[ "$rss_c" != failed ]] && c=$(cell cat "$rss_c")
    TABLE_ROWS+=("| floor: \`cat\` the source once ($(mib "$(stat -c %s "$src")") MiB) | ${c%%|*} (cat) | — | — | ${c##*|} (cat) | — |")
  fi
  CHECK_ROWS+=("| $label | $check_a | $check_f |")
  rm -f "$out_a" "$out_f"
}

# ---------------------------------------------------------------- jobs

A="${AUDIO_MIN}-min AAC"
V="${VIDEO_MIN}-min 720p H.264+AAC"
run_job aac-16k-mono "$A → 16 kHz mono s16 WAV" "$AAC_SRC" wav \
  "--sample-rate 16000 --channels 1" "-ar 16000 -ac 1 -c:a pcm_s16le"
run_job aac-copy "$A → M4A (stream copy)" "$AAC_SRC" m4a \
  "--codec copy" "-c:a copy" floor
run_job aac-48k-s24 "$A → 48 kHz 24-bit WAV" "$AAC_SRC" wav \
  "--sample-rate 48000 --bit-depth 24" "-ar 48000 -c:a pcm_s24le"
run_job video-16k-mono "$V → 16 kHz mono s16 WAV" "$VIDEO_SRC" wav \
  "--sample-rate 16000 --channels 1" "-ar 16000 -ac 1 -c:a pcm_s16le"
run_job video-48k-s24 "$V → 48 kHz 24-bit WAV" "$VIDEO_SRC" wav \
  "--sample-rate 48000 --bit-depth 24" "-ar 48000 -c:a pcm_s24le"

# ---------------------------------------------------------------- report

{
  echo "# audiotap vs ffmpeg CLI"
  echo
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo none)"
  if [[ "$commit" != none ]] && ! git diff --quiet HEAD -- 2>/dev/null; then commit+=" (uncommitted changes)"; fi
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $commit"
  echo "- machine: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
  echo "- $(ffmpeg -version | head -n 1 | cut -d' ' -f1-3); $(hyperfine --version); audiotap: $BIN"
  echo "- sources: \`$AAC_SRC\` ($(mib "$(stat -c %s "$AAC_SRC")") MiB), \`$VIDEO_SRC\` ($(mib "$(stat -c %s "$VIDEO_SRC")") MiB), read from the page cache"
  echo "- hyperfine --warmup 1 --runs $RUNS: wall-clock mean ± standard deviation in seconds; peak RSS from one \`/usr/bin/time -v\` run"
  echo
  echo "| job | audiotap mean s | ffmpeg mean s | ratio (audiotap/ffmpeg) | audiotap peak RSS MiB | ffmpeg peak RSS MiB |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${TABLE_ROWS[@]}"
  echo
  echo "Outputs (ffprobe, first audio stream):"
  echo
  echo "| job | audiotap output | ffmpeg output |"
  echo "| --- | --- | --- |"
  printf '%s\n' "${CHECK_ROWS[@]}"
} >"$RESULTS"

echo
cat "$RESULTS"
echo
echo "(written to $RESULTS; hyperfine exports in $BENCH_DIR/*.json and *.csv)"
if [[ $FAILURES -gt 0 ]]; then
  echo "error: $FAILURES command(s) failed; their stderr is in $BENCH_DIR/*.stderr.txt" >&2
  exit 1
fi
