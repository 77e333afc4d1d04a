#!/bin/bash
# Device run: bench active seeds in parallel, one (seed, strategy) per process (wasm: one core each).
R=$(pwd)
T0=$(date +%s)
xz -dc $R/.devrun/carry/node.xz > /tmp/node && chmod +x /tmp/node
mkdir -p /tmp/w && tar -C /tmp/w -xJf $R/.devrun/carry/stage.tar.xz
cd /tmp/w
/tmp/node --version; nproc; lscpu | grep -E 'Model name|Thread|Core|Socket|MHz' ; free -g | head -2
TPC=$(lscpu | awk -F: '/Thread\(s\) per core/{gsub(/ /,"",$2); print $2}')
N=$(nproc); PHYS=$((N / ${TPC:-1})); NS=$((PHYS / 2)); [ $NS -gt 8 ] && NS=8; [ $NS -lt 1 ] && NS=1
echo "threads/core $TPC, physical $PHYS, seeds $NS (5..$((4+NS))) x {random, coverage}"
for s in $(seq 5 $((4+NS))); do for st in random coverage; do
  /tmp/node pkg/entry.mjs $s $st /tmp/w/out-$s-$st.json msrc21 darknet > /dev/null 2> /tmp/w/log-$s-$st.txt &
done; done
# stop at 555 s after start whatever is left (their logs still hold the rounds done)
( sleep $((555 - ($(date +%s) - T0))); pkill -f pkg/entry.mjs ) &
KILLER=$!
wait $(jobs -p | grep -vx "$KILLER") 2>/dev/null
kill $KILLER 2>/dev/null
echo "elapsed $(( $(date +%s) - T0 )) s"
ls -la /tmp/w/*.json 2>/dev/null | wc -l
grep -h "round [0-9]:" /tmp/w/log-*.txt | sed -E 's/\(scoring.*//' | sort | tail -100
tar -czf $OUT/runs.tgz out-*.json log-*.txt 2>/dev/null
