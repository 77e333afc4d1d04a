/**
 * What a training step's time is made of as the batch shrinks: one forward + backward (the
 * trainer's localStep, optimizer excluded) under tf.profile at several batch sizes, interleaved
 * over rounds, per kernel name the median ms, and a least-squares fit `ms = fixed + per_image · b`
 * per kernel and for the whole step. A data-parallel shard of N threads runs batch/N images, so
 * the `fixed` column is what every extra thread pays again (issue 13: 2 threads vs 1).
 * "outside kernels" is the step's time not inside any kernel (tfjs' op wrappers, tape, JS).
 * The weights get new tensors before each step, as the optimizer's update does. Synthetic data as
 * `bench speed`'s, wasm, 1 thread.
 *   npx tsx bench/batch-cost.ts [--method lrp] [--size 128] [--batches 2,4,8] [--rounds 5] [--backbone resources/backbones/darknet-tiny]
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src-main/engine/backend.js';
import { createSegmenter, type SegMethod } from '../src-main/engine/models/index.js';
import { profileStep } from '../src-main/studies/profile.js';
import { machineLine, syntheticData } from '../src-main/studies/speed.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const method = arg('method', 'lrp') as SegMethod;
const size = Number(arg('size', '128'));
const batches = arg('batches', '2,4,8').split(',').map(Number);
const rounds = Number(arg('rounds', '5'));
const backbone = arg('backbone', 'resources/backbones/darknet-tiny');
if (!batches.every((b) => Number.isInteger(b) && b >= 2)) throw new Error('--batches: integers ≥ 2 (half of each batch is pixel-labelled)');

const info = await initBackend('wasm');
console.log(`heatseg bench batch-cost: ${method} ${size} px, backbone ${backbone}, batches ${batches.join(',')}, ${rounds} rounds interleaved`);
console.log(`backend ${info.detail}; ${machineLine()}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const data = syntheticData({ classes: 21, tagsPerImage: 3 }, size);
const model = await createSegmenter({ method, classes: 21, inputSize: size, encoder: { kind: 'pretrained', path: backbone } });
const OUTSIDE = 'outside kernels';
// ms[batch][kernel] = per-round values
const ms = new Map<number, Map<string, number[]>>(batches.map((b) => [b, new Map()]));
const totals = new Map<number, number[]>(batches.map((b) => [b, []]));
const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
for (let r = 0; r < rounds; r++) {
  for (const b of batches) {
    const p = await profileStep(model, data, b, size, { freshWeights: true });
    const m = ms.get(b)!;
    for (const op of p.ops) push(m, op.name, op.ms);
    push(m, OUTSIDE, p.ms - p.ops.reduce((a, o) => a + o.ms, 0));
    totals.get(b)!.push(p.ms);
  }
}
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** Least squares y = a + c·x. */
const fit = (xs: number[], ys: number[]) => {
  const n = xs.length, mx = xs.reduce((a, b) => a + b, 0) / n, my = ys.reduce((a, b) => a + b, 0) / n;
  const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  const c = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / sxx;
  return { fixed: my - c * mx, perImage: c };
};
const names = [...new Set(batches.flatMap((b) => [...ms.get(b)!.keys()]))];
const row = (name: string, med: number[]) => {
  const f = fit(batches, med);
  return { name, med, ...f };
};
const rows = names.map((n) => row(n, batches.map((b) => median(ms.get(b)!.get(n) ?? [0])))).sort((a, b) => b.med.at(-1)! - a.med.at(-1)!);
const step = row('whole step (profiled)', batches.map((b) => median(totals.get(b)!)));
const pad = (s: string, n: number) => s.padEnd(n);
console.log(`${pad('kernel', 24)}${batches.map((b) => `b=${b}`.padStart(9)).join('')}   fixed  per image   (median ms over ${rounds} rounds; fit ms = fixed + per_image·b)`);
for (const r of [step, ...rows]) {
  console.log(`${pad(r.name, 24)}${r.med.map((v) => v.toFixed(1).padStart(9)).join('')}  ${r.fixed.toFixed(1).padStart(6)}  ${r.perImage.toFixed(2).padStart(9)}`);
}
const half = batches.includes(8) && batches.includes(4) ? ` ; b=4 / b=8 = ${(step.med[batches.indexOf(4)]! / step.med[batches.indexOf(8)]!).toFixed(3)}` : '';
console.log(`fixed share of the whole step: ${step.fixed.toFixed(1)} ms${half}`);
console.log(JSON.stringify({ method, size, backbone, backend: info.detail, batches, rounds, step: { median_ms: step.med, fixed_ms: step.fixed, per_image_ms: step.perImage }, kernels: rows.map((r) => ({ name: r.name, median_ms: r.med, fixed_ms: r.fixed, per_image_ms: r.perImage })) }));
model.dispose();
tf.disposeVariables();
