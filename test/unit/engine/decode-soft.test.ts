/**
 * Soft decoding of predicted tags (tagPrior w): each decoded class's pixel logits get w · ln p_c
 * from the tag head, so the tag probabilities weigh in per pixel instead of only through a hard
 * threshold. Pure offsets, and predict() against the same offsets added by hand.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend';
import { DECODE_DEFAULTS, tagPriorOffsets } from '../../../src-main/engine/prepost';
import { inputTensor, NO_TTA, predict } from '../../../src-main/engine/infer';
import { NO_REFINE } from '../../../src-main/engine/refine';
import { heatLogits } from '../../../src-main/engine/losses';
import { createSegmenter } from '../../../src-main/engine/models';
import { encoderStride } from '../../../src-main/engine/trainer';
import { rng } from '../../../src-shared/random';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('tagPriorOffsets', () => {
  it('is w · ln p per decoded class, 0 for exempt classes and for w = 0, and reads at an offset', () => {
    const probs = [0.9, 0.5, 0.1, 0.2];
    const o = tagPriorOffsets(probs, [0, 2, 3], 2, [3]);
    expect(o[0]).toBeCloseTo(2 * Math.log(0.9), 6);
    expect(o[1]).toBeCloseTo(2 * Math.log(0.1), 6);
    expect(o[2]).toBe(0);
    expect(tagPriorOffsets(probs, [0, 1], 0)).toEqual([0, 0]);
    // second image of two, 2 classes each
    expect(tagPriorOffsets([0.3, 0.3, 0.25, 1], [0, 1], 1, [], 2)[0]).toBeCloseTo(Math.log(0.25), 6);
    // a zero probability gives a large finite penalty, never -Infinity
    expect(Number.isFinite(tagPriorOffsets([0], [0], 1)[0])).toBe(true);
  });
  it('is off by default (the app decodes by the hard rule unless told otherwise)', () => {
    expect(DECODE_DEFAULTS.tagPrior).toBe(0);
  });
});

describe('predict with a tag prior', () => {
  const sample = () => {
    const r = rng(5);
    const width = 32,
      height = 32;
    const rgb = Uint8Array.from({ length: width * height * 3 }, (_, i) => ((i % 3) * 70 + Math.floor(r() * 120)) & 255);
    return { id: 'x', rgb, width, height, origWidth: 32, origHeight: 32, tags: [], labels: null };
  };

  it('lrp: the mask is the argmax of heat logits + w · ln p over the decoded classes', async () => {
    const model = await createSegmenter({ method: 'lrp', classes: 4, inputSize: 32, seed: 3 });
    const s = sample();
    const stride = encoderStride(model);
    const w = 1.5;
    const p = await predict(model, s, {
      stride,
      heatScale: 2,
      heatNorm: 'pixel',
      threshold: 0,
      minClasses: 3,
      maxClasses: 3,
      tagPrior: w,
      probs: true,
      tta: NO_TTA, refine: NO_REFINE,
    });
    expect(p.classes).toHaveLength(3);
    const x = inputTensor(s, stride);
    const ref = tf.tidy(() => {
      const dc = tf.tensor2d(p.classes, [1, 3], 'int32');
      const lg = heatLogits(model.forward(x, { decodeClasses: dc }).seg!, 2, 'pixel');
      return lg.add(tf.tensor1d(p.classes.map((c) => w * Math.log(p.tagProbs![c]!)))).argMax(-1);
    });
    const arg = (await ref.data()) as Int32Array;
    tf.dispose([x, ref]);
    let same = 0;
    for (let q = 0; q < p.mask.length; q++) if (p.mask[q] === p.classes[arg[q]!]) same++;
    // same input size as output: only ties could differ
    expect(same).toBeGreaterThan(p.mask.length * 0.99);
    model.dispose();
  });

  it('a very large w paints the most probable tag everywhere; given tags ignore the prior', async () => {
    const model = await createSegmenter({ method: 'gradcam', classes: 4, inputSize: 32, seed: 7 });
    const s = sample();
    const stride = encoderStride(model);
    const p = await predict(model, s, {
      stride,
      heatScale: 1,
      heatNorm: 'none',
      tta: NO_TTA, refine: NO_REFINE,
      threshold: 0,
      minClasses: 4,
      maxClasses: 4,
      tagPrior: 1e4,
    });
    const top = Array.from(p.tagProbs!).indexOf(Math.max(...p.tagProbs!));
    expect(new Set(p.mask)).toEqual(new Set([top]));
    const plain = await predict(model, s, { stride, heatScale: 1, heatNorm: 'none', givenTags: [0, 1, 2, 3], tta: NO_TTA, refine: NO_REFINE });
    const given = await predict(model, s, { stride, heatScale: 1, heatNorm: 'none', givenTags: [0, 1, 2, 3], tagPrior: 1e4, tta: NO_TTA, refine: NO_REFINE });
    expect(Array.from(given.mask)).toEqual(Array.from(plain.mask));
    model.dispose();
  });
});
