#!/usr/bin/env bash
# The whole pipeline on the Loghub-2k logs: grouping accuracy end to end from
# the raw logs (header extraction + template mining together), scored with
# the community's metrics, and throughput on one core beside `wc -l`.
#
#   scripts/loghub-bench.sh [LOGHUB_DIR]     (default /work/shared/data/loghub-2k)
#
# Needs python3 and the scorer at $LOGHUB_SCORE (default
# /work/shared/tools/loghub_score.py). Skips, saying so, when the data is absent.
set -euo pipefail
dir=${1:-${LOGHUB_DIR:-/work/shared/data/loghub-2k}}
score=${LOGHUB_SCORE:-/work/shared/tools/loghub_score.py}
if [ ! -d "$dir" ] || [ ! -f "$score" ]; then
  echo "skipped: no Loghub-2k data at $dir or no scorer at $score" >&2
  exit 0
fi
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/rca" ./cmd/rca
printf '%-12s %7s %7s %7s %7s %9s\n' dataset GA FGA PA FTA "MB/s*"
for d in "$dir"/*/; do
  name=$(basename "$d")
  log="$d/${name}_2k.log"
  truth="$d/${name}_2k.log_structured_corrected.csv"
  [ -f "$log" ] && [ -f "$truth" ] || continue
  start=$(date +%s.%N)
  GOMAXPROCS=1 taskset -c 0 "$work/rca" analyze -q --redact=false --structured "$work/$name.csv" --format json "$log" >/dev/null
  end=$(date +%s.%N)
  size=$(stat -c %s "$log")
  res=$(python3 "$score" "$truth" "$work/$name.csv")
  python3 - "$name" "$res" "$size" "$start" "$end" <<'PY'
import json, sys
name, res, size, start, end = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print("%-12s %7.3f %7.3f %7.3f %7.3f %9.1f" % (name, res["GA"], res["FGA"], res.get("PA", 0), res.get("FTA", 0), size / 1e6 / (end - start)))
PY
done | tee "$work/table"
python3 - "$work/table" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
if rows:
    n = len(rows)
    avg = [sum(float(r[i]) for r in rows) / n for i in range(1, 5)]
    print("%-12s %7.3f %7.3f %7.3f %7.3f" % ("average", *avg))
PY
echo "* MB/s here includes starting the process for a 2k-line file; the engine's own throughput is"
echo "  BenchmarkLoghub: GOMAXPROCS=1 taskset -c 0 go test -run XXX -bench BenchmarkLoghub -cpu 1 ./internal/analysis/"
