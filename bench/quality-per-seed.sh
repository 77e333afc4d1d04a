#!/usr/bin/env bash
# Runs `heatseg bench quality` once per seed as parallel processes (nice 5; the CPU-time budget
# keeps them fair under load; NICE=<n> overrides the niceness), each writing <prefix>-seed<k>.txt with its command and the machine
# load on the first lines. The split seed is pinned (--split-seed 1) so every process sees the same
# dev-train / dev-val / dev-test parts. Combine the files with bench/quality-combine.ts.
# usage: bench/quality-per-seed.sh <prefix> <seeds, e.g. 1,2,3> <bench quality options…>
set -euo pipefail
prefix=$1 seeds=$2
shift 2
cd "$(dirname "$0")/.."
mkdir -p "$(dirname "$prefix")"
for k in ${seeds//,/ }; do
  f="$prefix-seed$k.txt"
  args=(bench quality --seed "$k" --split-seed 1 "$@")
  {
    echo "\$ npx heatseg $(printf '%q ' "${args[@]}")"
    echo "# launched by bench/quality-per-seed.sh $prefix $seeds $*; load average at launch: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores shared with other jobs; nice ${NICE:-5}; wall time by bash time"
  } >"$f"
  (time nice -n "${NICE:-5}" node bin/heatseg.mjs "${args[@]}") >>"$f" 2>&1 &
  echo "seed $k: pid $! -> $f"
done
wait
