/**
 * What the LRP decoder costs per (image, class) pair, and what packing out padded slots saves:
 * one training step's gradients (heatmap loss on 4 labelled 128-px images + the tag head) on the
 * shipped darknet-tiny, wasm, 1 thread, for decode lists
 *   - "padded": 4 images decoding 4, 1, 2, 3 classes (lists padded to K = 4: 10 real pairs of 16
 *     slots; the decoder runs the 10 pairs),
 *   - "filled": the same lists with the padded slots filled with real classes (16 pairs run),
 *   - "one": one class each (4 pairs),
 * and 4 images through the tag head only (no decoder), interleaved over --rounds, medians; then
 * the per-kernel times of one "padded" and one "filled" step (tf.profile).
 *
 *   npx tsx bench/decode-pairs.ts [--rounds 6]
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { resolveBackbone } from '../src-main/backbones.js';
import { initBackend } from '../src-main/engine/backend.js';
import { segmentationLoss } from '../src-main/engine/losses.js';
import { createSegmenter } from '../src-main/engine/models/index.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const rounds = Number(arg('rounds', '6'));
const info = await initBackend('wasm');
const backbone = resolveBackbone('darknet-tiny') as { dir: string };
const S = 128;
const model = await createSegmenter({ method: 'lrp', classes: 21, inputSize: S, encoder: { kind: 'pretrained', path: backbone.dir } });
console.log(`heatseg bench decode-pairs: LRP (default decoder), darknet-tiny, ${S} px, 4 labelled images; backend ${info.detail}`);
console.log(`machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${rounds} rounds interleaved`);

const vars = Object.values(model.namedVariables());
const x = tf.randomUniform([4, S, S, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const lists = {
  padded: tf.tensor2d([1, 2, 3, 4, 5, -1, -1, -1, 6, 7, -1, -1, 8, 9, 10, -1], [4, 4], 'int32'),
  filled: tf.tensor2d([1, 2, 3, 4, 5, 1, 2, 3, 6, 7, 1, 2, 8, 9, 10, 1], [4, 4], 'int32'),
  one: tf.tensor2d([1, 5, 6, 8], [4, 1], 'int32'),
};
// every 7th pixel labelled with the list's first or second slot (the one-class list: its only slot)
const labels = (k: number) => tf.tensor3d(Array.from({ length: 4 * S * S }, (_, i) => (i % 7 === 0 ? (k > 1 ? i % 2 : 0) : -1)), [4, S, S], 'int32');
const targets = { padded: labels(4), filled: labels(4), one: labels(1) };

function timed(f: () => tf.Scalar): number {
  const t0 = performance.now();
  const { value, grads } = tf.variableGrads(f, vars);
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
  return performance.now() - t0;
}
/** A heatmap-loss step (plus the tag head, weighted 0 so it is in the graph) for one set of decode lists. */
const decodeStep = (list: keyof typeof lists) => () =>
  timed(() => {
    const o = model.forward(x, { decodeClasses: lists[list] });
    return segmentationLoss(o.seg!, targets[list], lists[list]).add(o.logits!.sum().mul(0));
  });
const steps = {
  padded: decodeStep('padded'),
  filled: decodeStep('filled'),
  one: decodeStep('one'),
  tagsOnly: () => timed(() => model.forward(x, { tagsOnly: true }).logits!.sum() as tf.Scalar),
};
for (const f of Object.values(steps)) f(); // warm-up
const ms: Record<string, number[]> = { padded: [], filled: [], one: [], tagsOnly: [] };
for (let r = 0; r < rounds; r++) for (const [k, f] of Object.entries(steps)) ms[k]!.push(f());
const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
console.log(`ms per step (median): padded lists, 10 pairs run ${med(ms.padded!).toFixed(0)}; filled lists, 16 pairs ${med(ms.filled!).toFixed(0)}; one class each, 4 pairs ${med(ms.one!).toFixed(0)}; tag head only ${med(ms.tagsOnly!).toFixed(0)}`);
const perPair = (med(ms.filled!) - med(ms.one!)) / 12;
console.log(`decoder cost per extra pair (filled − one) / 12: ${perPair.toFixed(1)} ms; 10 pairs expected at ${(med(ms.one!) + 6 * perPair).toFixed(0)} ms`);

async function kernels(f: () => number): Promise<Map<string, number>> {
  const p = await tf.profile(() => void f());
  const by = new Map<string, number>();
  for (const k of p.kernels) by.set(k.name, (by.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  return by;
}
const a = await kernels(steps.padded);
const b = await kernels(steps.filled);
console.log('kernel (ms, one profiled step; tf.profile also lists fused ops under their op name)   padded   filled');
for (const n of [...new Set([...a.keys(), ...b.keys()])].sort((p, q) => (b.get(q) ?? 0) + (a.get(q) ?? 0) - (b.get(p) ?? 0) - (a.get(p) ?? 0)).slice(0, 12)) {
  console.log(`  ${n.padEnd(26)} ${(a.get(n) ?? 0).toFixed(1).padStart(8)} ${(b.get(n) ?? 0).toFixed(1).padStart(8)}`);
}
console.log(JSON.stringify({ backend: info.detail, size: S, rounds, median_ms: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Number(med(v).toFixed(1))])), per_pair_ms: Number(perPair.toFixed(2)) }));
