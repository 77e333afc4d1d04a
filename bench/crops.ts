/**
 * CPU time of one augmented training crop (data.ts augmentedCrop: bilinear sample, flip, colour
 * jitter, nearest-neighbour labels), the work every training step does 8 times (batch 8).
 * Run: npx tsx bench/crops.ts [--size 128] [--source 320x213] [--n 400]
 */
import os from 'node:os';
import { augmentedCrop, type Sample } from '../src-main/engine/data.js';
import { rng } from '../src-shared/random.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const size = Number(arg('size', '128'));
const [W, H] = arg('source', '320x213').split('x').map(Number) as [number, number];
const n = Number(arg('n', '400'));
if (![size, W, H, n].every((v) => Number.isInteger(v) && v > 0)) throw new Error('--size, --source WxH and --n must be positive integers');

const sample = {
  width: W,
  height: H,
  rgb: new Uint8Array(W * H * 3).map((_, i) => (i * 7919) % 256),
  labels: new Uint8Array(W * H).map((_, i) => (i * 31) % 5),
  tags: [0],
} as unknown as Sample;
const opts = { size, maxScale: 1.5, flip: true, jitter: 0.2 };
const r = rng(1);
for (let i = 0; i < 50; i++) augmentedCrop(sample, opts, r); // warm-up (JIT)
const c0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < n; i++) augmentedCrop(sample, opts, r);
const cpu = process.cpuUsage(c0);
const wall = performance.now() - t0;
console.log(`heatseg bench crops: ${n} crops of ${size}×${size} (with labels) from a ${W}×${H} image, scale ≤ 1.5, flip, jitter 0.2; node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`CPU ${((cpu.user + cpu.system) / 1000 / n).toFixed(3)} ms per crop, wall ${(wall / n).toFixed(3)} ms per crop`);
