#!/usr/bin/env bash
# Data-parallel training scaling 1 → 16 threads (issue 13) on a many-core machine, e.g. the
# 16-core GPU machine. Prepared to finish in < 8 min there: LRP and U-Net at 128 px, batch 32 (so
# 16 threads still get 2 images each; the default batch 8 caps the threads at 8), 2 warm-up +
# 3 timed steps per row, thread counts 1 2 4 8 16 (capped at the machine's CPUs).
# Needs node ≥ 20.19 and this checkout's node_modules (the machine may have no internet).
# Writes speed-threads-<host>.txt (command, machine, load, table, JSON line) under $OUT if set,
# else under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${OUT:-bench/results}"
mkdir -p "$dest"
if ! command -v node >/dev/null; then
  echo "node is not installed on this machine: nothing measured" | tee "$dest/speed-threads-no-node.txt"
  exit 2
fi
if [ ! -d node_modules/@tensorflow/tfjs-backend-wasm ]; then
  echo "node_modules is missing (run npm ci where there is internet, or carry it): nothing measured" | tee "$dest/speed-threads-no-modules.txt"
  exit 2
fi
cpus=$(node -e 'const os=require("os");console.log(os.availableParallelism?os.availableParallelism():os.cpus().length)')
threads=""
for t in 1 2 4 8 16; do [ "$t" -le "$cpus" ] && threads="${threads:+$threads,}$t"; done
file="$dest/speed-threads-$(hostname -s 2>/dev/null || echo host).txt"
cmd="node bin/heatseg.mjs bench speed --backends wasm --threads $threads --methods lrp,unet --sizes 128 --batch 32 --steps 3 --warmup 2 --no-inference"
{
  echo "$cmd"
  echo "# $(date -u +%FT%TZ), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), uptime: $(uptime)"
} >"$file"
# the table goes to stderr, the JSON line to stdout: both into the file, in order
timeout 450 $cmd >>"$file" 2>&1 || echo "# exited with $? (450 s limit or failure): rows above are complete" >>"$file"
echo "# load at the end: $(uptime)" >>"$file"
cat "$file"
