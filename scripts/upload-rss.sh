#!/usr/bin/env bash
# Server memory under many concurrent large uploads: starts `audiotap serve` (release build,
# fresh data dir, SQLite, local storage), sends UPLOADS raw-body uploads of a SIZE_MB MiB MP4
# at once to POST /v1/jobs (curl -T streams from disk), waits for every job to finish, and
# prints the server's resident memory: at start, peak (VmHWM) and per upload.
#
#   scripts/upload-rss.sh                          # 20 uploads of 256 MiB
#   UPLOADS=20 SIZE_MB=1024 scripts/upload-rss.sh  # the 1 GB case (needs 20+ GB of disk)
#   AUDIOTAP_BIN=/path/to/audiotap scripts/upload-rss.sh
#
# Uploads are spooled to disk with a fixed buffer each, so the peak should not depend on
# SIZE_MB: run it with two sizes to see that. Needs the bench sources (scripts/bench.sh makes
# them) or makes a short one itself.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UPLOADS="${UPLOADS:-20}"
SIZE_MB="${SIZE_MB:-256}"
WORK="target/upload-rss"
MEDIA_DIR="target/bench-media"
say() { printf '==> %s\n' "$*" >&2; }

for tool in curl ffmpeg python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (scripts/system-packages.sh install test bench)" >&2; exit 1; }
done
free_mb=$(df -Pm "$ROOT/target" 2>/dev/null | awk 'NR == 2 { print $4 }')
need_mb=$(( UPLOADS * SIZE_MB + SIZE_MB + 512 ))
if (( free_mb < need_mb )); then
  echo "error: $UPLOADS uploads of $SIZE_MB MiB need about $need_mb MiB of disk, $free_mb MiB free" >&2
  exit 1
fi

if [[ -n "${AUDIOTAP_BIN:-}" ]]; then
  BIN="$AUDIOTAP_BIN"
else
  say "cargo build --release"
  cargo build --release -q
  BIN="${CARGO_TARGET_DIR:-target}/release/audiotap"
fi

rm -rf "$WORK" && mkdir -p "$WORK/data" "$MEDIA_DIR"
SRC="$MEDIA_DIR/upload-${SIZE_MB}MiB.mp4"
if [[ ! -s "$SRC" ]]; then
  say "making a ${SIZE_MB} MiB MP4 ($SRC): 720p H.264 at a fixed high bitrate + stereo AAC"
  secs=$(( SIZE_MB * 8 / 20 + 1 ))   # about 20 Mb/s
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=$secs" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$secs" -ac 2 \
    -c:v libx264 -preset ultrafast -b:v 20M -maxrate 20M -bufsize 40M -pix_fmt yuv420p \
    -c:a aac -b:a 128k -fs $(( SIZE_MB * 1048576 )) "$SRC.tmp.mp4"
  mv "$SRC.tmp.mp4" "$SRC"
fi
size=$(stat -c %s "$SRC")

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "starting $BIN serve on 127.0.0.1:$PORT (data dir $WORK/data)"
AUDIOTAP_LISTEN="127.0.0.1:$PORT" AUDIOTAP_DATA_DIR="$WORK/data" AUDIOTAP_WORKERS=2 \
  AUDIOTAP_LOG=warn "$BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK/data"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$PID/status"; }
hwm_kib() { awk '/^VmHWM/ { print $2 }' "/proc/$PID/status"; }
base=$(rss_kib)

say "$UPLOADS concurrent uploads of $(( size / 1048576 )) MiB"
start=$(date +%s.%N)
for i in $(seq 1 "$UPLOADS"); do
  curl -sS -X POST -T "$SRC" -H 'content-type: application/octet-stream' \
    "http://127.0.0.1:$PORT/v1/jobs?sample_rate=16000&channels=1" -o "$WORK/resp-$i.json" \
    -w '%{http_code}\n' >"$WORK/status-$i.txt" &
done
wait_uploads() { for p in $(jobs -p); do [[ "$p" == "$PID" ]] || wait "$p"; done; }
wait_uploads
upload_s=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
accepted=$(cat "$WORK"/status-*.txt | grep -c '^202$' || true)
peak_upload=$(hwm_kib)

say "waiting for the jobs"
for _ in $(seq 1 1200); do
  left=$(curl -sf "http://127.0.0.1:$PORT/v1/jobs?limit=100" |
    python3 -c 'import json,sys; print(sum(j["status"] in ("queued","running") for j in json.load(sys.stdin)["jobs"]))')
  [[ "$left" == 0 ]] && break
  sleep 0.5
done
done_s=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
ok=$(curl -sf "http://127.0.0.1:$PORT/v1/jobs?status=succeeded&limit=100" |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
peak=$(hwm_kib)

printf '\n| uploads | size each | accepted | jobs succeeded | uploads done | all jobs done | server RSS at start | peak RSS during uploads | peak RSS overall |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
printf '| %s | %s MiB | %s | %s | %s s | %s s | %.1f MiB | %.1f MiB | %.1f MiB |\n' \
  "$UPLOADS" "$(( size / 1048576 ))" "$accepted" "$ok" "$upload_s" "$done_s" \
  "$(awk -v k="$base" 'BEGIN { print k / 1024 }')" \
  "$(awk -v k="$peak_upload" 'BEGIN { print k / 1024 }')" \
  "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')"
