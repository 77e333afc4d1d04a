/**
 * Data-parallel training (parallel.ts): the N-thread gradient is the full batch's gradient, runs are
 * reproducible for a fixed seed and N, and cancelling stops every thread.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeShapesDataset } from '../../../src-main/demo/shapes';
import { initBackend } from '../../../src-main/engine/backend';
import { type Dataset, IGNORE, augmentedCrop, datasetFromMaskFolder } from '../../../src-main/engine/data';
import { planDecode, tagTargets } from '../../../src-main/engine/losses';
import { createSegmenter, type SegMethod } from '../../../src-main/engine/models';
import { DataParallel, LOG_SCALE_KEY, type StepBatch, physicalCores, shardGradients, shardList, splitBatch, wholeBatch } from '../../../src-main/engine/parallel';
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

/** A batch of 3 labelled + 2 tag-only images (uneven on purpose), no augmentation. */
function batchFor(method: SegMethod): StepBatch {
  const C = data.classes.length;
  const usesTags = method !== 'unet';
  const lab = data.samples.filter((s) => s.labels).slice(0, 3);
  const tag = usesTags ? data.samples.filter((s) => !s.labels && s.tags.length).slice(0, 2) : [];
  const crop = (s: (typeof lab)[number]) => augmentedCrop(s, { maxScale: 1, flip: false, jitter: 0, size: SIZE }, null);
  const labCrops = lab.map(crop);
  const decodes = method === 'lrp' || method === 'gradcam';
  const plan = decodes ? planDecode({ classes: C, tags: lab.map((s) => s.tags), pixelLabels: labCrops.map((c) => c.labels), pixels: SIZE * SIZE }) : null;
  const cat = (xs: Float32Array[]) => Float32Array.from(xs.flatMap((x) => Array.from(x)));
  const targets = tagTargets([...lab, ...tag].map((s) => s.tags), C);
  return {
    size: SIZE,
    classes: C,
    nLab: lab.length,
    nTag: tag.length,
    xLab: cat(labCrops.map((c) => c.x)),
    xTag: tag.length ? cat(tag.map(crop).map((c) => c.x)) : null,
    yTag: targets.targets,
    yMask: targets.mask,
    dc: plan ? plan.decodeClasses : null,
    k: plan ? plan.k : 0,
    yPix: plan ? plan.targets! : Int32Array.from(labCrops.flatMap((c) => Array.from(c.labels!, (v) => (v === IGNORE ? -1 : v)))),
    segWeight: 0.7,
  };
}

describe('splitting', () => {
  it('shards cover the batch in order and their loss shares sum to 1', () => {
    const b = batchFor('lrp');
    const shards = splitBatch(b, 2);
    expect(shards.map((s) => [s.nLab, s.nTag])).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(shards.reduce((a, s) => a + s.segShare, 0)).toBeCloseTo(1, 12);
    expect(shards.reduce((a, s) => a + s.tagShare, 0)).toBeCloseTo(1, 12);
    expect(shards[0]!.segShare).not.toBeCloseTo(0.5, 3); // weighted by labelled pixels, not by images
    expect(shardList([1, 2, 3, 4, 5], 2)).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
    expect(shardList([1], 4)).toEqual([[1]]);
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
      const spec = { decodes: method === 'lrp', usesTags: method !== 'unet', heatNorm: 'pixel' as const };
      const b = batchFor(method);
      const single = shardGradients(model, logScale, varList, wholeBatch(b), spec);
      const pool = await DataParallel.start(model, logScale, varList, keys, 2, spec);
      try {
        const par = await pool.gradients(model, logScale, b, spec);
        expect(par.losses.value).toBeCloseTo(single.losses.value, 5);
        expect(par.losses.tag).toBeCloseTo(single.losses.tag, 5);
        expect(par.losses.seg).toBeCloseTo(single.losses.seg, 5);
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
        tf.dispose([...single.grads, ...par.grads].filter((t): t is tf.Tensor => t !== null));
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
    // same batches, the same gradient up to float rounding: the first step's loss agrees closely
    expect(one.losses[0]).toBeCloseTo(a.losses[0]!, 4);
  });

  it('stops with 2 threads when asked between steps', async () => {
    const c = await run(2, 2);
    expect(c.r.cancelled).toBe(true);
    expect(c.r.steps).toBe(2);
  });
});
