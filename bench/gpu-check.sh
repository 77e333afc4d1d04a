#!/usr/bin/env bash
# The GPU-machine check for the webgpu backend, in one short run (< 8 min on 16 cores; installs
# nothing): says whether Dawn finds a Vulkan (GPU) adapter, then times one LRP training step at
# 224 px, batch 8 on wasm (1 thread) and on webgpu with `heatseg bench speed`.
#   bash bench/gpu-check.sh            # from the repository root, node_modules installed
# Output goes to stdout and, when $OUT is set, to $OUT/gpu-check.txt (+ the bench's JSON line in
# $OUT/gpu-check.json).
#
# NVIDIA in containers: the Vulkan driver is libGLX_nvidia.so.0 + a manifest nvidia_icd.json; a
# container started with NVIDIA_DRIVER_CAPABILITIES=compute,utility has neither (Vulkan needs
# 'graphics'). When the library is there but the manifest is not, this script writes one to a
# temporary folder and points VK_ICD_FILENAMES at it. No libvulkan.so.1 (the Khronos loader) on
# the machine: heatseg takes Chromium's or Electron's copy if installed, or HEATSEG_VULKAN_DIR=DIR
# holding a libvulkan.so.1 (e.g. copied from /usr/lib/chromium on another Debian machine).
set -u
cd "$(dirname "$0")/.."
STEPS=${STEPS:-3}
LOG=$(mktemp)
say() { echo "$*" | tee -a "$LOG"; }
finish() {
  if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && cp "$LOG" "$OUT/gpu-check.txt"; fi
  rm -f "$LOG"
}
trap finish EXIT

say "heatseg gpu-check — $(date -u +%FT%TZ) on $(hostname)"
say "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') × $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg); node $(node --version)"
if command -v nvidia-smi >/dev/null 2>&1; then
  say "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4 | tr '\n' ';')"
else
  say "nvidia-smi: not found"
fi
say "NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-<unset>}"
if [ ! -d node_modules/webgpu ] || [ ! -d node_modules/@tensorflow/tfjs-backend-webgpu ]; then
  say "node_modules lacks webgpu / @tensorflow/tfjs-backend-webgpu: run 'npm ci' first (this script installs nothing)"
  exit 1
fi

# An NVIDIA Vulkan driver library without its manifest: write the manifest.
have_icd=$(ls /etc/vulkan/icd.d/*.json /usr/share/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null | head -1)
if [ -z "$have_icd" ] && [ -z "${VK_ICD_FILENAMES:-}" ]; then
  nv=$(ldconfig -p 2>/dev/null | grep -m1 -o '/[^ ]*libGLX_nvidia\.so\.0$' || true)
  if [ -n "$nv" ]; then
    ICD_DIR=$(mktemp -d)
    printf '{ "file_format_version": "1.0.0", "ICD": { "library_path": "%s", "api_version": "1.3.0" } }\n' "$nv" >"$ICD_DIR/nvidia_icd.json"
    export VK_ICD_FILENAMES="$ICD_DIR/nvidia_icd.json"
    say "no Vulkan manifest installed; wrote $VK_ICD_FILENAMES for $nv"
  else
    say "no Vulkan manifest installed and no libGLX_nvidia.so.0 (NVIDIA's Vulkan driver) visible"
  fi
fi

say ""
say "== WebGPU adapter (Dawn) =="
timeout 60 npx --no-install tsx bench/gpu-probe.ts 2>&1 | grep -v '^npm warn' | tee -a "$LOG"
probe=${PIPESTATUS[0]}
# never let the forced webgpu fall back to Chromium's SwiftShader here: minutes per step at 224 px
export HEATSEG_WEBGPU_SOFTWARE=0
case $probe in
  0) say "=> a Vulkan GPU adapter exists"; backends=wasm,webgpu ;;
  2) say "=> only a CPU fallback adapter: webgpu is not timed at 224 px (minutes per step on a CPU Vulkan)"; backends=wasm ;;
  *) say "=> no Vulkan adapter (exit $probe); the webgpu row below gives the reason"; backends=wasm,webgpu ;;
esac

say ""
say "== bench speed: LRP, 224 px, batch 8, 1 warm-up + $STEPS timed steps =="
CMD="node bin/heatseg.mjs bench speed --backends $backends --methods lrp --sizes 224 --batch 8 --steps $STEPS --warmup 1 --no-inference"
say "\$ $CMD"
JSON=$(mktemp)
timeout 420 $CMD 2> >(grep -v '^npm warn' | tee -a "$LOG" >&2) | tee "$JSON"
rc=${PIPESTATUS[0]}
cat "$JSON" >>"$LOG"
[ -n "${OUT:-}" ] && mkdir -p "$OUT" && cp "$JSON" "$OUT/gpu-check.json"
if [ "$rc" = 124 ]; then say "bench speed timed out after 420 s"; fi
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop() || "{}");
  const rows = r.rows || [];
  const ms = (b) => rows.find((x) => x.backend === b && x.ms_per_step != null)?.ms_per_step;
  for (const x of rows) console.log(`${x.backend}: ${x.ms_per_step != null ? x.ms_per_step + " ms/step" : "unavailable: " + x.error}${x.adapter ? " on " + x.backend_detail : ""}`);
  if (ms("wasm") && ms("webgpu")) console.log(`webgpu speed-up over 1-thread wasm: ${(ms("wasm") / ms("webgpu")).toFixed(1)}x (target >= 10x)`);
' "$JSON" 2>/dev/null | tee -a "$LOG"
rm -f "$JSON"
exit 0
