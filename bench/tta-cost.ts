/**
 * Inference cost of the test-time views: CPU and wall ms per image of `predict` with one view and
 * with the app's DEFAULT_TTA, for LRP and Grad-CAM on the shipped darknet-tiny (untrained head: the
 * cost does not depend on the weights), on MSRC images at working size 128, wasm, 1 thread.
 * Run: npx tsx bench/tta-cost.ts [--images DIR] [--n 6]   (skips with a message without ../shared)
 */
import fs from 'node:fs';
import os from 'node:os';
import { initBackend } from '../src-main/engine/backend.js';
import { decodeToWorking } from '../src-main/engine/data.js';
import { DEFAULT_TTA, NO_TTA, predict, ttaKey } from '../src-main/engine/infer.js';
import { createSegmenter } from '../src-main/engine/models/index.js';
import { encoderStride } from '../src-main/engine/trainer.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const dir = arg('images', '../shared/datasets/msrc21/images');
if (!fs.existsSync(dir)) {
  console.log(`bench tta-cost: skipped, no image folder ${dir}`);
  process.exit(0);
}
const info = await initBackend('wasm');
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const files = fs.readdirSync(dir).sort().slice(0, Number(arg('n', '6')));
const imgs = await Promise.all(files.map(async (f) => ({ id: f, ...(await decodeToWorking(fs.readFileSync(`${dir}/${f}`), 128)), tags: [], labels: null })));
console.log(`heatseg bench tta-cost: ${imgs.length} images from ${dir} at working size 128; backend ${info.detail}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (const method of ['lrp', 'gradcam'] as const) {
  const m = await createSegmenter({ method, classes: 21, inputSize: 128, encoder: { kind: 'pretrained', path: 'resources/backbones/darknet-tiny' } });
  const stride = encoderStride(m);
  for (const tta of [NO_TTA, DEFAULT_TTA, NO_TTA, DEFAULT_TTA]) {
    await predict(m, imgs[0]!, { stride, heatNorm: 'pixel', tta }); // warm-up
    const c0 = cpu(), w0 = performance.now();
    for (const s of imgs) await predict(m, s, { stride, heatNorm: 'pixel', tta, minClasses: 3 });
    console.log(`${method} views ${ttaKey(tta)}: ${((cpu() - c0) / imgs.length).toFixed(0)} ms CPU, ${((performance.now() - w0) / imgs.length).toFixed(0)} ms wall per image (3 classes decoded)`);
  }
  m.dispose();
}
