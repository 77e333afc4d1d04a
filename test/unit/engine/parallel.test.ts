/**
 * Data-parallel training (parallel.ts): the N-thread gradient is the full batch's gradient, runs are
 * reproducible for a fixed seed and N, and cancelling stops every thread.
 */
import * as tf from '@tensorflow/tfjs';
import { useFlatAdam } from '../../../src-main/engine/flat-adam';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeShapesDataset } from '../../../src-main/demo/shapes';
import { initBackend } from '../../../src-main/engine/backend';
import { type Dataset, datasetFromMaskFolder } from '../../../src-main/engine/data';
import { createSegmenter, type SegMethod } from '../../../src-main/engine/models';
import {
  DataParallel,
  LOG_SCALE_KEY,
  type StepDraw,
  claimCrops,
  type StepSpec,
  localStep,
  physicalCores,
  prepareBatch,
  shardList,
  splitDraw,
  withShares,
} from '../../../src-main/engine/parallel';
import { DEFAULT_TRAIN, type TrainEvent, train } from '../../../src-main/engine/trainer';
import { tmpDir } from '../../helpers/tmp';

let data: Dataset;
const SIZE = 32;
const cfg = { ...DEFAULT_TRAIN, size: SIZE, batch: 4, epochs: 1, warmupSteps: 2, lr: 3e-3 };

beforeAll(async () => {
  await initBackend('wasm');
  const dir = tmpDir();
  await writeShapesDataset(dir, { count: 12, width: 48, height: 40, masks: 'scribbles', maskedImages: 6, seed: 5 });
  data = await datasetFromMaskFolder(dir, SIZE, { withLabels: true });
});

/** A draw of 3 labelled + 2 tag-only images (uneven on purpose), with augmentation. */
function drawFor(method: SegMethod): { draw: StepDraw; spec: StepSpec } {
  const usesTags = method !== 'unet';
  const idx = data.samples.map((_, i) => i);
  const lab = idx.filter((i) => data.samples[i]!.labels).slice(0, 3);
  const tag = usesTags ? idx.filter((i) => !data.samples[i]!.labels && data.samples[i]!.tags.length).slice(0, 2) : [];
  return {
    draw: { lab, tag, labSeeds: [11, 12, 13], tagSeeds: tag.map((_, j) => 21 + j), segWeight: 0.7 },
    spec: { decodes: method === 'lrp', usesTags, heatNorm: 'pixel', classes: data.classes.length, augment: { ...cfg.augment, size: SIZE } },
  };
}

describe('splitting', () => {
  it('shards cover the draw in order; their loss shares sum to 1, weighted by labelled pixels', () => {
    const { draw, spec } = drawFor('lrp');
    const shards = splitDraw(draw, 2);
    expect(shards.map((s) => [s.lab, s.tag])).toEqual([
      [draw.lab.slice(0, 1), draw.tag.slice(0, 1)],
      [draw.lab.slice(1), draw.tag.slice(1)],
    ]);
    const parts = shards.map((d) => prepareBatch(data.samples, d, spec));
    const whole = prepareBatch(data.samples, draw, spec);
    expect(parts[0]!.labelledPixels + parts[1]!.labelledPixels).toBe(whole.labelledPixels);
    expect(parts[0]!.xLab).toEqual(whole.xLab!.slice(0, SIZE * SIZE * 3)); // a crop depends on its image and seed only
    const shares = parts.map((p) => withShares(p, whole.labelledPixels, whole.taggedImages));
    expect(shares.reduce((a, s) => a + s.segShare, 0)).toBeCloseTo(1, 12);
    expect(shares.reduce((a, s) => a + s.tagShare, 0)).toBeCloseTo(1, 12);
    expect(shares[0]!.segShare).not.toBeCloseTo(0.5, 3);
    expect(shardList([1, 2, 3, 4, 5], 2)).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
    expect(shardList([1], 4)).toEqual([[1]]);
    // crops claimed from a shared counter: each index once, the same crop whoever makes it
    const counter = new Int32Array(new SharedArrayBuffer(4));
    counter[0] = 2;
    const claimed = claimCrops(data.samples, draw, spec, counter);
    expect([...claimed.keys()]).toEqual([2, 3, 4]);
    expect(claimCrops(data.samples, draw, spec, counter).size).toBe(0);
    const crops = [undefined, undefined, ...claimed.values()];
    expect(prepareBatch(data.samples, draw, spec, crops)).toEqual(whole);
    expect(physicalCores()).toBeGreaterThanOrEqual(1);
  });
});

describe('data-parallel gradients', () => {
  for (const method of ['lrp', 'unet'] as const) {
    it(`${method}: 2 threads give the single-thread gradient of the same full batch`, async () => {
      const model = await createSegmenter({ method, classes: data.classes.length, inputSize: SIZE, seed: 3 });
      const named = model.namedVariables();
      const logScale = tf.variable(tf.scalar(Math.log(SIZE)), method === 'lrp', 'test/logScale');
      const varList = [...Object.values(named), logScale];
      const keys = [...Object.keys(named), LOG_SCALE_KEY];
      const { draw, spec } = drawFor(method);
      const single = await localStep(model, logScale, varList, data.samples, draw, spec);
      const pool = await DataParallel.start(model, logScale, varList, keys, 2, spec, data.samples);
      try {
        const par = await pool.gradients(model, logScale, data.samples, draw, spec);
        expect(par.labelledPixels).toBe(single.labelledPixels);
        const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(1e-12, Math.abs(y));
        expect(rel(par.uniformSum, single.uniformSum)).toBeLessThan(1e-6);
        expect(rel(par.losses.value, single.losses.value)).toBeLessThan(1e-5);
        expect(rel(par.losses.tag, single.losses.tag)).toBeLessThan(1e-5);
        expect(rel(par.losses.seg, single.losses.seg)).toBeLessThan(1e-5);
        let checked = 0;
        single.grads.forEach((g, j) => {
          expect(par.grads[j] === null).toBe(g === null);
          if (!g) return;
          const a = g.dataSync();
          const p = par.grads[j]!.dataSync();
          let maxAbs = 0, maxDiff = 0;
          for (let i = 0; i < a.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(a[i]!));
            maxDiff = Math.max(maxDiff, Math.abs(a[i]! - p[i]!));
          }
          expect(maxDiff).toBeLessThanOrEqual(1e-4 * maxAbs + 1e-7);
          checked++;
        });
        expect(checked).toBeGreaterThan(4);
        // cropped ahead (DataParallel.prepare, the replica taking part of the leader's crops): the same step bit for bit
        pool.prepare(draw);
        const ahead = await pool.gradients(model, logScale, data.samples, draw, spec);
        expect(ahead.losses).toEqual(par.losses);
        expect(ahead.uniformSum).toBe(par.uniformSum);
        ahead.grads.forEach((g, j) => expect(g?.dataSync()).toEqual(par.grads[j]?.dataSync()));
        tf.dispose([...single.grads, ...par.grads, ...ahead.grads].filter((t): t is tf.Tensor => t !== null));
      } finally {
        await pool.close();
        logScale.dispose();
        model.dispose();
      }
    });
  }
});

describe('data-parallel training', () => {
  const run = async (threads: number, stopAfter = Infinity) => {
    const model = await createSegmenter({ method: 'lrp', classes: data.classes.length, inputSize: SIZE, seed: 2 });
    const losses: number[] = [];
    const before = tf.memory().numTensors;
    const r = await train(model, data, { ...cfg, epochs: 2, threads }, {
      onEvent: (e: TrainEvent) => (e.type === 'step' ? losses.push(e.loss) : 0),
      shouldStop: () => losses.length >= stopAfter,
    });
    const leaked = tf.memory().numTensors - before;
    const w = model.getWeights();
    model.dispose();
    return { r, losses, w, leaked };
  };

  it('is reproducible for a fixed seed and N = 2, close to N = 1, and leaks no tensors', async () => {
    const a = await run(2);
    const b = await run(2);
    expect(a.leaked).toBe(0);
    expect(a.losses.length).toBeGreaterThan(3);
    expect(b.losses).toEqual(a.losses);
    for (const k of Object.keys(a.w)) expect(b.w[k]!.data).toEqual(a.w[k]!.data);
    const one = await run(1);
    expect(one.losses.length).toBe(a.losses.length);
    // the same batches for any N, the same gradient up to float rounding: the losses agree closely
    expect(one.losses[0]).toBeCloseTo(a.losses[0]!, 4);
    expect(one.losses.at(-1)).toBeCloseTo(a.losses.at(-1)!, 2);
  });

  it('trains to the same weights bit for bit with FlatAdam as with tf.train.adam, on 1 and 2 threads', async () => {
    for (const threads of [1, 2]) {
      const flat = await run(threads);
      useFlatAdam(false);
      try {
        const stock = await run(threads);
        expect(flat.losses).toEqual(stock.losses);
        for (const k of Object.keys(flat.w)) expect(flat.w[k]!.data).toEqual(stock.w[k]!.data);
      } finally {
        useFlatAdam(true);
      }
    }
  });

  it('stops with 2 threads when asked between steps', async () => {
    const c = await run(2, 2);
    expect(c.r.cancelled).toBe(true);
    expect(c.r.steps).toBe(2);
  });
});
