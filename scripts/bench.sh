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

say "system packages (scripts/system-packages.sh install build test bench)"
scripts/system-packages.sh install build test bench
for tool in hyperfine ffmpeg ffprobe nginx curl python3; do
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
  BIN="${CARGO_TARGET_DIR:-target}/release/audiotap"
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
  [[ -n "$1" ]] || { echo "—"; return; }
  { ffprobe -v error -select_streams a:0 -show_entries stream=codec_name,sample_rate,channels:format=duration,size       -of default=noprint_wrappers=1 "$1" 2>/dev/null || true; } |
    awk -F= '{ v[$1] = $2 }
      END { if (!("codec_name" in v)) { print "missing or unreadable"; exit }
            printf "%s %s Hz %s ch, %.3f s, %.1f MiB\n", v["codec_name"], v["sample_rate"], v["channels"], v["duration"], v["size"] / 1048576 }'
}

q() { printf '%q ' "$@"; }

TABLE_ROWS=()
CHECK_ROWS=()
FAILURES=0

# bench_pair ID LABEL CMD_AUDIOTAP CMD_FFMPEG BYTES_CELL CLEAN OUT_A OUT_F [FLOOR_NAME FLOOR_LABEL FLOOR_CMD]...
# Times both commands (and each floor) in one hyperfine run, peak RSS from one GNU time run
# each; CLEAN is a command run before every timed run (removes outputs). OUT_A/OUT_F, the
# outputs of the RSS runs, are described (ffprobe) before the timed runs.
bench_pair() {
  local id="$1" label="$2" cmd_a="$3" cmd_f="$4" bytes="$5" clean="$6" out_a="$7" out_f="$8"
  shift 8
  local -a names=() cmds=() fl_names=() fl_labels=() fl_rss=()
  say "$label"
  echo "audiotap: $cmd_a" >&2
  echo "ffmpeg:   $cmd_f" >&2
  bash -c "$clean"
  local rss_a rss_f
  rss_a=$(peak_rss_kib "$id.audiotap" "$cmd_a")
  rss_f=$(peak_rss_kib "$id.ffmpeg" "$cmd_f")
  CHECK_ROWS+=("| $label | $(describe "$out_a") | $(describe "$out_f") |")
  if [[ "$rss_a" != failed ]]; then names+=(audiotap); cmds+=("$cmd_a"); else FAILURES=$((FAILURES + 1)); fi
  if [[ "$rss_f" != failed ]]; then names+=(ffmpeg); cmds+=("$cmd_f"); else FAILURES=$((FAILURES + 1)); fi
  while [[ $# -ge 3 ]]; do
    local r
    r=$(peak_rss_kib "$id.$1" "$3")
    fl_names+=("$1"); fl_labels+=("$2"); fl_rss+=("$r")
    if [[ "$r" != failed ]]; then names+=("$1"); cmds+=("$3"); else FAILURES=$((FAILURES + 1)); fi
    shift 3
  done
  local csv="$BENCH_DIR/$id.csv" json="$BENCH_DIR/$id.json"
  rm -f "$csv" "$json"
  if [[ ${#cmds[@]} -gt 0 ]]; then
    local -a hf=(hyperfine --warmup 1 --runs "$RUNS" --export-json "$json" --export-csv "$csv"
                 --prepare "$clean")
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
    if [[ "$2" == failed || ! -f "$csv" ]]; then echo "failed|failed"; return; fi
    mean=$(csv_field "$csv" "$1" mean 2>/dev/null || true)
    sd=$(csv_field "$csv" "$1" stddev 2>/dev/null || true)
    if [[ -z "$mean" ]]; then echo "failed|failed"; return; fi
    printf '%s|%s\n' "$(awk -v m="$mean" -v s="$sd" 'BEGIN { printf "%.3f ± %.3f", m, s }')" \
                     "$(awk -v k="$2" 'BEGIN { printf "%.1f", k / 1024 }')"
  }
  ratio_of() { # NAME_A NAME_B -> mean(A) / mean(B)
    awk -v a="$(csv_field "$csv" "$1" mean 2>/dev/null)" -v b="$(csv_field "$csv" "$2" mean 2>/dev/null)" \
      'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "—" }'
  }
  local a f
  a=$(cell audiotap "$rss_a")
  f=$(cell ffmpeg "$rss_f")
  TABLE_ROWS+=("| $label | ${a%%|*} | ${f%%|*} | **$(ratio_of audiotap ffmpeg)** | ${a##*|} | ${f##*|} | $bytes |")
  local k
  for k in "${!fl_names[@]}"; do
    local c
    c=$(cell "${fl_names[$k]}" "${fl_rss[$k]}")
    TABLE_ROWS+=("| ↳ floor: ${fl_labels[$k]} | ${c%%|*} | — | audiotap/floor $(ratio_of audiotap "${fl_names[$k]}") | ${c##*|} | — | |")
  done
}

# run_job ID LABEL SRC EXT "AUDIOTAP ARGS..." "FFMPEG ARGS..." [FLOORS]
# One file in, one file out. FLOORS: words among `cat` (read the source once), `cp` (read
# it and write a copy once) and `null` (ffmpeg's decode alone, `-f null`).
# The argument strings are word-split (no paths with spaces in them here).
run_job() {
  local id="$1" label="$2" src="$3" ext="$4" at_args="$5" ff_args="$6" floors="${7:-}"
  local out_a="$OUT_DIR/$id.audiotap.$ext" out_f="$OUT_DIR/$id.ffmpeg.$ext"
  local -a at_argv ff_argv fl=()
  read -r -a at_argv <<<"$at_args"
  read -r -a ff_argv <<<"$ff_args"
  local cmd_a cmd_f w
  cmd_a="$(q "$BIN" extract "$src" -o "$out_a" "${at_argv[@]}")"
  cmd_f="$(q ffmpeg -nostdin -v error -y -i "$src" -vn "${ff_argv[@]}" "$out_f")"
  for w in $floors; do
    case "$w" in
      cat) fl+=(cat "\`cat\` the source once ($(mib "$(stat -c %s "$src")") MiB)" "cat $(q "$src")> /dev/null") ;;
      cp) fl+=(cp "\`cp\` the source once (read + write)" "cp $(q "$src" "$OUT_DIR/$id.cp")") ;;
      null) fl+=(null "ffmpeg decode only (\`-f null\`)" "$(q ffmpeg -nostdin -v error -i "$src" -vn -f null -)") ;;
    esac
  done
  bench_pair "$id" "$label" "$cmd_a" "$cmd_f" "both read the file ($(mib "$(stat -c %s "$src")") MiB)" \
    "rm -f $(q "$out_a" "$out_f" "$OUT_DIR/$id.cp")" "$out_a" "$out_f" "${fl[@]}"
  rm -f "$out_a" "$out_f" "$OUT_DIR/$id.cp"
}

# ---------------------------------------------------------------- jobs

A="${AUDIO_MIN}-min AAC"
V="${VIDEO_MIN}-min 720p H.264+AAC"
run_job aac-16k-mono "$A → 16 kHz mono s16 WAV" "$AAC_SRC" wav \
  "--sample-rate 16000 --channels 1" "-ar 16000 -ac 1 -c:a pcm_s16le" "null"
run_job aac-copy "$A → M4A (stream copy)" "$AAC_SRC" m4a \
  "--codec copy" "-c:a copy" "cat cp"
run_job aac-48k-s24 "$A → 48 kHz 24-bit WAV" "$AAC_SRC" wav \
  "--sample-rate 48000 --bit-depth 24" "-ar 48000 -c:a pcm_s24le" "null"
run_job video-16k-mono "$V → 16 kHz mono s16 WAV" "$VIDEO_SRC" wav \
  "--sample-rate 16000 --channels 1" "-ar 16000 -ac 1 -c:a pcm_s16le" "cat null"
run_job video-48k-s24 "$V → 48 kHz 24-bit WAV" "$VIDEO_SRC" wav \
  "--sample-rate 48000 --bit-depth 24" "-ar 48000 -c:a pcm_s24le" "null"

# Analysis and waveform of the AAC source: one decode each, no audio written. The analysis
# (EBU R128 loudness with true peak, silences, levels) against FFmpeg's ebur128 and
# silencedetect in one pass; the waveform against FFmpeg's decode alone (the floor of any
# FFmpeg-based peak tool).
WF_A="$OUT_DIR/waveform.audiotap.dat"
bench_pair analyze "$A → analysis (loudness + true peak, silences, levels)" \
  "$(q "$BIN" analyze "$AAC_SRC" --json)" \
  "$(q ffmpeg -nostdin -v info -hide_banner -nostats -i "$AAC_SRC" -map 0:a:0 \
      -af ebur128=peak=true:framelog=verbose,silencedetect=n=-50dB:d=1 -f null -)" \
  "both read the file ($(mib "$(stat -c %s "$AAC_SRC")") MiB)" ":" "" ""
bench_pair waveform "$A → waveform, 2000 points, 8-bit .dat" \
  "$(q "$BIN" waveform "$AAC_SRC" -o "$WF_A" --points 2000 --bits 8)" \
  "$(q ffmpeg -nostdin -v error -i "$AAC_SRC" -map 0:a:0 -f null -)" \
  "both read the file ($(mib "$(stat -c %s "$AAC_SRC")") MiB); ffmpeg only decodes" \
  "rm -f $(q "$WF_A")" "" ""
rm -f "$WF_A"

# 40 short clips: one `audiotap batch --jobs 2` process against two ffmpeg processes at a
# time (xargs -P 2), each → 16 kHz mono WAV.
CLIPS_DIR="$MEDIA_DIR/clips"
if [[ ! -s "$CLIPS_DIR/clip-40.mp4" ]]; then
  say "generating 40 clips in $CLIPS_DIR (20 s 640x360 H.264 + stereo AAC each)"
  mkdir -p "$CLIPS_DIR"
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=640x360:rate=30:duration=20" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=20" -ac 2 \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 128k "$CLIPS_DIR/clip.tmp.mp4"
  for i in $(seq 1 40); do cp "$CLIPS_DIR/clip.tmp.mp4" "$CLIPS_DIR/clip-$i.mp4"; done
  rm -f "$CLIPS_DIR/clip.tmp.mp4"
fi
BATCH_A="$OUT_DIR/batch-audiotap" BATCH_F="$OUT_DIR/batch-ffmpeg"
bench_pair batch-40 "40 × 20-s 360p clips → 16 kHz mono WAV, 2 at a time" \
  "$(q "$BIN" batch --jobs 2 --out-dir "$BATCH_A" --format wav --sample-rate 16000 --channels 1) $CLIPS_DIR/clip-*.mp4" \
  "ls $CLIPS_DIR/clip-*.mp4 | xargs -P 2 -I{} sh -c 'ffmpeg -nostdin -v error -y -i {} -vn -ar 16000 -ac 1 -c:a pcm_s16le $BATCH_F/\$(basename {} .mp4).wav'" \
  "both read every clip ($(mib "$(du -cb "$CLIPS_DIR"/clip-*.mp4 | tail -n 1 | cut -f1)") MiB)" \
  "rm -rf $(q "$BATCH_A" "$BATCH_F") && mkdir -p $(q "$BATCH_A" "$BATCH_F")" \
  "$BATCH_A/clip-1.wav" "$BATCH_F/clip-1.wav"
rm -rf "$BATCH_A" "$BATCH_F"

# A 1 GB-class MP4 (moov at the end, as cameras write it) on a local Range-capable HTTP
# server (nginx), → 16 kHz mono WAV. audiotap fetches the moov and the audio chunks;
# ffmpeg reads the file. nginx's access log counts what each one was sent: body bytes
# (for audiotap's multi-range answers these include the multipart part headers) and
# everything with response headers; audiotap's JSON report gives the payload it asked for.
BIG_SRC="$MEDIA_DIR/remote-2x${VIDEO_SECS}s-720p.mp4"
if [[ ! -s "$BIG_SRC" ]]; then
  say "generating $BIG_SRC (the ${VIDEO_MIN}-min 720p source twice, stream-copied)"
  printf "file '%s'\nfile '%s'\n" "$ROOT/$VIDEO_SRC" "$ROOT/$VIDEO_SRC" >"$MEDIA_DIR/concat.txt"
  ffmpeg -nostdin -v error -y -f concat -safe 0 -i "$MEDIA_DIR/concat.txt" -c copy "$BIG_SRC.tmp.mp4"
  mv "$BIG_SRC.tmp.mp4" "$BIG_SRC"
fi
NGX="$BENCH_DIR/nginx"
rm -rf "$NGX" && mkdir -p "$NGX/logs"
NGX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$NGX/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $ROOT/$NGX/nginx.pid;
error_log $ROOT/$NGX/logs/error.log;
events { worker_connections 256; }
http {
  log_format bytes '\$body_bytes_sent \$bytes_sent';
  access_log $ROOT/$NGX/logs/access.log bytes;
  sendfile on;
  server {
    listen 127.0.0.1:$NGX_PORT;
    root $ROOT/$MEDIA_DIR;
    location / { }
  }
}
CONF
nginx -p "$ROOT/$NGX" -c "$ROOT/$NGX/nginx.conf"
trap 'nginx -p "$ROOT/$NGX" -c "$ROOT/$NGX/nginx.conf" -s stop 2>/dev/null || true' EXIT
BIG_URL="http://127.0.0.1:$NGX_PORT/$(basename "$BIG_SRC")"
served_by() { # CMD [STDOUT_FILE] -> "body_bytes all_bytes requests" nginx served while CMD ran
  : >"$NGX/logs/access.log"
  bash -c "$1" >"${2:-/dev/null}" 2>/dev/null || echo "error: $1 failed" >&2
  awk '{ b += $1; t += $2; n++ } END { print b + 0, t + 0, n + 0 }' "$NGX/logs/access.log"
}
BIG_A="$OUT_DIR/remote.audiotap.wav" BIG_F="$OUT_DIR/remote.ffmpeg.wav"
CMD_RA="env AUDIOTAP_URL_ALLOWLIST=127.0.0.1 $(q "$BIN" extract "$BIG_URL" -o "$BIG_A" --sample-rate 16000 --channels 1)"
CMD_RF="$(q ffmpeg -nostdin -v error -y -i "$BIG_URL" -vn -ar 16000 -ac 1 -c:a pcm_s16le "$BIG_F")"
AUDIO_BYTES=$(ffprobe -v error -select_streams a -show_entries packet=size -of csv=p=0 "$BIG_SRC" | awk -F, '{ s += $1 } END { print s }')
MOOV_BYTES=$(python3 - "$BIG_SRC" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb"); f.seek(0, 2); n = f.tell(); pos = 0
while pos + 8 <= n:
    f.seek(pos); size, kind = struct.unpack(">I4s", f.read(8))
    if size == 1: size = struct.unpack(">Q", f.read(8))[0]
    elif size == 0: size = n - pos
    if kind == b"moov": print(size); break
    pos += size
PY
)
read -r SENT_A ALL_A REQS_A < <(served_by "$CMD_RA --json" "$BENCH_DIR/remote-report.json")
read -r SENT_F ALL_F REQS_F < <(served_by "$CMD_RF")
PAYLOAD_A=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fetch"]["bytes_fetched"])' "$BENCH_DIR/remote-report.json")
NEED=$((AUDIO_BYTES + MOOV_BYTES))
ratio() { awk -v a="$1" -v n="$2" 'BEGIN { printf "%.2f", a / n }'; }
bench_pair remote-16k "$(mib "$(stat -c %s "$BIG_SRC")") MiB MP4 over local HTTP (Range) → 16 kHz mono WAV" \
  "$CMD_RA" "$CMD_RF" \
  "audiotap: payload $(mib "$PAYLOAD_A") MiB = $(ratio "$PAYLOAD_A" "$NEED")× moov + audio ($(mib "$NEED") MiB), in $REQS_A requests; nginx sent $(mib "$SENT_A") MiB of bodies with the multipart part headers ($(ratio "$SENT_A" "$NEED")×), $(mib "$ALL_A") MiB with response headers ($(ratio "$ALL_A" "$NEED")×). ffmpeg: $(mib "$SENT_F") MiB in $REQS_F requests" \
  "rm -f $(q "$BIG_A" "$BIG_F")" "$BIG_A" "$BIG_F" \
  curl "\`curl\` the whole file once over HTTP" "curl -s -o /dev/null $(q "$BIG_URL")"
rm -f "$BIG_A" "$BIG_F"

# A 2 GB resumable (tus) upload in 50 MB PATCHes against one plain POST /v1/jobs upload,
# on loopback: throughput ratio and the server's peak RSS (scripts/tus-bench.sh).
TUS_ROW="$BENCH_DIR/tus-row.md"
rm -f "$TUS_ROW"
if [[ "${BENCH_QUICK:-0}" == "1" ]]; then TUS_MB=200; else TUS_MB=2048; fi
say "tus upload ($TUS_MB MiB in 50 MB PATCHes) vs plain upload"
if ! SIZE_MB="$TUS_MB" AUDIOTAP_BIN="$BIN" TUS_BENCH_ROW="$TUS_ROW" scripts/tus-bench.sh >&2; then
  echo "error: scripts/tus-bench.sh failed" >&2
  FAILURES=$((FAILURES + 1))
fi

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
  echo "| job | audiotap mean s | ffmpeg mean s | ratio (audiotap/ffmpeg) | audiotap peak RSS MiB | ffmpeg peak RSS MiB | bytes read or fetched |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
  printf '%s\n' "${TABLE_ROWS[@]}"
  echo
  echo "Uploads to the service (loopback, curl; a fresh server per case):"
  echo
  echo "| upload | tus time (throughput) | plain time (throughput) | tus/plain throughput | tus server peak RSS MiB | plain server peak RSS MiB |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  cat "$TUS_ROW" 2>/dev/null || echo "| tus upload | failed | failed | — | — | — |"
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
