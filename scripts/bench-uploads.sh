#!/usr/bin/env bash
# Upload throughput and memory of the service (docs/benchmarks.md, "Issue
# 12 — uploads"): a SIZE_MB text file uploaded over loopback with curl, as
# multipart (the original UI's route) and through tus, against curl sending
# the same file to a trivial server that writes it to disk (with and
# without fsync; the service's local store fsyncs every blob), and `cat >
# file`. Peak RSS is the service's VmHWM during the upload (reset through
# /proc/<pid>/clear_refs first) minus its VmRSS when idle.
#
# Needs PostgreSQL at 127.0.0.1:5432 (trust); creates and drops a database.
# Usage: scripts/bench-uploads.sh [SIZE_MB]   (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-1024}
work=$(mktemp -d /tmp/rca-bench-uploads-XXXXXX)
db="rca_bench_uploads_$$"
port=18091
cleanup() {
  [ -n "${api_pid:-}" ] && kill "$api_pid" 2>/dev/null || true
  [ -n "${sink_pid:-}" ] && kill "$sink_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/api" ./cmd/api
go build -o "$work/sink" ./scripts/uploadsink
python3 - "$work/big.log" "$SIZE_MB" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
line = b"2025-01-31T12:00:00.000Z host app[4242]: GET /api/orders/12345 200 in 37 ms user=alice trace=0af7651916cd43dd8448eb211c80319c\n"
block = line * ((1 << 20) // len(line) + 1)
block = block[: 1 << 20]
with open(path, "wb") as f:
    for _ in range(mb):
        f.write(block)
PY
size=$(stat -c %s "$work/big.log")
echo "file: $size bytes"
cat "$work/big.log" > /dev/null # warm the page cache for every run alike

rate() { python3 -c "import sys; print(f'{$size/1048576/float(sys.argv[1]):.0f} MB/s')" "$1"; }
timed() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N); python3 -c "print($t1-$t0)"; }

t_cat=$(timed sh -c "cat '$work/big.log' > '$work/copy'"); rm -f "$work/copy"
echo "cat > file:                         $(printf %.2f "$t_cat") s  $(rate "$t_cat")"

for sync in false true; do
  "$work/sink" -addr 127.0.0.1:18090 -dir "$work" -sync=$sync & sink_pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null 127.0.0.1:18090 && break; sleep 0.1; done
  t_put=$(timed curl -sf -T "$work/big.log" http://127.0.0.1:18090/)
  t_form=$(timed curl -sf -F "file=@$work/big.log" http://127.0.0.1:18090/)
  echo "trivial server (fsync=$sync), curl -T: $(printf %.2f "$t_put") s  $(rate "$t_put")"
  echo "trivial server (fsync=$sync), multipart: $(printf %.2f "$t_form") s  $(rate "$t_form")"
  kill $sink_pid; wait $sink_pid 2>/dev/null || true; sink_pid=
done

psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" >/dev/null
PORT=$port HOST=127.0.0.1 ENVIRONMENT=test LOG_LEVEL=warn AUTH_MODE=off RATE_LIMITING_ENABLED=false \
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" UPLOAD_DIR="$work/uploads" \
  MAX_FILE_SIZE_MB=$((SIZE_MB + 16)) UPLOAD_MAX_REQUEST_MB=$((SIZE_MB + 16)) "$work/api" > "$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "127.0.0.1:$port/api/health/ready" && break; sleep 0.1; done

job() { curl -sf -H 'Content-Type: application/json' -d '{"job_type":"bench"}' "127.0.0.1:$port/api/jobs" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
rss() { awk "/^$1:/ {print \$2}" "/proc/$api_pid/status"; }

sleep 1
idle=$(rss VmRSS)
echo 5 > "/proc/$api_pid/clear_refs"
j=$(job)
t_up=$(timed curl -sf -F "job_id=$j" -F "file=@$work/big.log" "127.0.0.1:$port/api/files/upload")
peak=$(rss VmHWM)
echo "service, multipart upload:          $(printf %.2f "$t_up") s  $(rate "$t_up")  RSS idle $((idle/1024)) MB, peak $((peak/1024)) MB (+$(((peak-idle)/1024)) MB)"

# tus: create, then one PATCH of the whole file (a client resumes with HEAD
# and PATCH from the offset; here nothing drops).
j=$(job)
meta="job_id $(printf %s "$j" | base64 -w0),filename $(printf big.log | base64 -w0)"
idle=$(rss VmRSS)
echo 5 > "/proc/$api_pid/clear_refs"
t0=$(date +%s.%N)
loc=$(curl -sf -i -X POST -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" -H "Upload-Metadata: $meta" \
  "127.0.0.1:$port/api/files/tus/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location" {print $2}')
case "$loc" in http*) ;; *) loc="http://127.0.0.1:$port$loc" ;; esac
curl -sf -o /dev/null -X PATCH -T "$work/big.log" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
  -H 'Content-Type: application/offset+octet-stream' "$loc"
t1=$(date +%s.%N)
t_tus=$(python3 -c "print($t1-$t0)")
peak=$(rss VmHWM)
echo "service, tus (one PATCH):           $(printf %.2f "$t_tus") s  $(rate "$t_tus")  RSS idle $((idle/1024)) MB, peak $((peak/1024)) MB (+$(((peak-idle)/1024)) MB)"
