#!/usr/bin/env bash
# `make bench`: every benchmark, then docs/benchmarks.md and its plot. About 15 minutes on 2 cores;
# run it on an otherwise idle machine (the figures are wall-clock times).
#
#   bash benchmarks/run_all.sh [--quick] [--results DIR] [--doc FILE] [--img FILE]
#
# --quick runs every script at tiny sizes (seconds; checks they run, the figures mean nothing).
# Results default to benchmarks/results/*.json, the page to docs/benchmarks.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
py=${PYTHON_BENCH:-}
if [ -z "$py" ]; then
  if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python; fi
fi

quick=()
results=benchmarks/results
doc=docs/benchmarks.md
img=docs/img/decode_time_vs_list.png
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=(--quick); shift ;;
    --results) results=$2; shift 2 ;;
    --doc) doc=$2; shift 2 ;;
    --img) img=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_all.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$results"

for name in train augment loader loss decode decode_jobs resolve model; do
  echo "$(date +%H:%M:%S) bench: $name" >&2
  "$py" "benchmarks/bench_$name.py" "${quick[@]}" --out "$results/$name.json"
done
"$py" benchmarks/write_doc.py --results "$results" --doc "$doc" --img "$img"
