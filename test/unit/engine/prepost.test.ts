/**
 * prepost.ts, the pre/post-processing shared by TF.js inference, the onnxruntime path and the ONNX
 * export's metadata, against small hand-computed references.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { heatLogits } from '../../../src-main/engine/losses';
import { downsamples, type EncoderLayer, specStride } from '../../../src-main/engine/models';
import {
  DECODE_DEFAULTS,
  NORMALISATION_NOTE,
  PIXEL_SCALE,
  chooseClasses,
  classMask,
  decodeRule,
  decodeWithDefaults,
  gatherPlanes,
  inputSides,
  normalise,
  planarInput,
  renormalise,
  resizeBilinearPlanar,
  sigmoid,
  strideSide,
  upsampleSoftmax,
} from '../../../src-main/engine/prepost';

const close = (got: ArrayLike<number>, want: number[], digits = 6) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, digits));
};

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

describe('normalise', () => {
  it('divides by 255 without mean / std, interleaved or as planes', () => {
    expect(PIXEL_SCALE).toBe(255);
    expect(NORMALISATION_NOTE).toMatch(/RGB \/ 255/);
    const rgb = Uint8Array.from([255, 0, 51, 0, 255, 102]); // two pixels
    close(normalise(rgb, 'hwc'), [1, 0, 0.2, 0, 1, 0.4]);
    close(normalise(rgb, 'chw'), [1, 0, 0, 1, 0.2, 0.4]);
  });
});

describe('resize-to-stride', () => {
  it('rounds each side to the nearest multiple of its stride, at least one stride and the minimum', () => {
    expect(strideSide(20, 8)).toBe(24); // 2.5 strides round up
    expect(strideSide(19, 8)).toBe(16);
    expect(strideSide(3, 8)).toBe(8);
    expect(strideSide(30, 8, 40)).toBe(40);
    expect(inputSides(48, 64, 8)).toEqual([48, 64]);
    expect(inputSides(26, 26, 4, 16)).toEqual([28, 32]); // height and width strides differ
    expect(inputSides(10, 10, 8, 8, 16, 24)).toEqual([16, 24]);
  });

  it('shortens the long side of a thin strip so the input holds at most twice its pixels', () => {
    // 1 × 60000 → 8 × 60000 would be 8× the pixels; limit max(2·60000, 4·8·8) = 120000 → width 15000
    expect(inputSides(1, 60000, 8)).toEqual([8, 15000]);
    expect(inputSides(60000, 1, 8)).toEqual([15000, 8]);
  });

  it('resizes bilinearly with half-pixel centres and clamped edges', () => {
    // up: 1×2 → 1×4 samples at x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    close(resizeBilinearPlanar(Float32Array.from([0, 1]), 1, 1, 2, 1, 4), [0, 0.25, 0.75, 1]);
    // down: 1×4 → 1×2 samples at x = 0.5 and 2.5; two planes resized independently
    close(resizeBilinearPlanar(Float32Array.from([0, 1, 2, 3, 10, 20, 30, 40]), 2, 1, 4, 1, 2), [0.5, 2.5, 15, 35]);
    // 2×2 → 1×1 samples the centre: the mean
    close(resizeBilinearPlanar(Float32Array.from([0, 1, 2, 3]), 1, 2, 2, 1, 1), [1.5]);
    const same = Float32Array.from([1, 2, 3]);
    const copy = resizeBilinearPlanar(same, 1, 1, 3, 1, 3);
    expect(copy).toEqual(same);
    expect(copy).not.toBe(same);
  });

  it('agrees with tf.image.resizeBilinear(…, false, true)', async () => {
    const src = Float32Array.from({ length: 5 * 7 }, (_, i) => Math.sin(i * 1.7) * 3);
    const ref = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(src, [1, 5, 7, 1]), [8, 12], false, true));
    close(resizeBilinearPlanar(src, 1, 5, 7, 8, 12), Array.from(await ref.data()), 5);
    ref.dispose();
  });

  it('planarInput: normalised NCHW planes at the input size', () => {
    // one red and one blue pixel, 1×2 → 1×4
    const x = planarInput({ rgb: Uint8Array.from([255, 0, 0, 0, 0, 255]), width: 2, height: 1 }, 1, 4);
    close(x, [1, 0.75, 0.25, 0, 0, 0, 0, 0, 0, 0.25, 0.75, 1]);
  });
});

describe('stride', () => {
  const layers: EncoderLayer[] = [
    { type: 'conv', name: 'c1', filters: 4, kernel: [3, 3], strides: [2, 1], padding: 'same' },
    { type: 'relu', name: 'r1' },
    {
      type: 'pad',
      name: 'p',
      pad: [
        [1, 1],
        [0, 0],
      ],
    },
    { type: 'maxpool', name: 'm1', pool: [2, 2] },
    { type: 'conv', name: 'c2', filters: 4, kernel: [3, 3], strides: [1, 1], padding: 'same' },
  ];
  it('is the product of conv strides and pool sizes along each axis', () => {
    expect(specStride({ layers }, 0)).toBe(4);
    expect(specStride({ layers }, 1)).toBe(2);
    expect(specStride({ layers })).toBe(4);
    expect(layers.map(downsamples)).toEqual([true, false, false, true, false]);
  });
});

describe('decode rule', () => {
  it('takes classes from the threshold up, the most probable first, at most maxClasses', () => {
    // p ≥ 0.3 (not 0.5): ahead on all 15 (configuration, seed) pairs on MSRC dev-val (docs/EXPERIMENTS.md)
    expect(DECODE_DEFAULTS).toEqual({ threshold: 0.3, minClasses: 1, maxClasses: 4, tagPrior: 0 });
    expect(decodeWithDefaults([0.1, 0.35, 0.32], 3)).toEqual([1, 2]);
    const p = [0.9, 0.2, 0.6, 0.55, 0.7, 0.8];
    // ranks: 0 (0.9), 5, 4, 2, 3 (0.55, 5th: over the cap), 1
    expect(decodeWithDefaults(p, 6)).toEqual([0, 2, 4, 5]);
    expect(decodeWithDefaults(p, 6, { maxClasses: 6 })).toEqual([0, 2, 3, 4, 5]);
    expect(decodeWithDefaults(p, 6, { threshold: 0.75 })).toEqual([0, 5]);
  });

  it('falls back to the top minClasses below the threshold', () => {
    expect(decodeWithDefaults([0.1, 0.3, 0.2], 3)).toEqual([1]);
    expect(decodeWithDefaults([0.1, 0.3, 0.2], 3, { minClasses: 2 })).toEqual([1, 2]);
    expect(decodeRule([0.1, 0.3, 0.2], 3, { threshold: 0.15, minClasses: 0, maxClasses: 1 })).toEqual([1]);
    // probabilities of a second image start at the offset
    expect(decodeRule([0.9, 0.9, 0.1, 0.7], 2, DECODE_DEFAULTS, 2)).toEqual([1]);
  });

  it('chooseClasses: all classes without a tag head, given tags instead of the rule, plus the always classes', () => {
    expect(chooseClasses(null, 3)).toEqual([0, 1, 2]);
    expect(chooseClasses([0.9, 0.1, 0.2], 3)).toEqual([0]);
    expect(chooseClasses([0.9, 0.1, 0.2], 3, { always: [2, 7, -1] })).toEqual([0, 2]);
    expect(chooseClasses([0.9, 0.1, 0.2], 3, { givenTags: [2, 1] })).toEqual([1, 2]);
    expect(chooseClasses([0.9, 0.1, 0.2], 3, { givenTags: [], always: [1] })).toEqual([0, 1]);
    expect(chooseClasses([0.2, 0.3], 2, { threshold: 0.25, maxClasses: 2 })).toEqual([1]);
  });

  it('sigmoid turns tag logits into probabilities', () => {
    close(sigmoid([0, Math.log(3), -Math.log(3)]), [0.5, 0.75, 0.25]);
  });

  it('gatherPlanes picks the chosen classes planes in their order', () => {
    expect(Array.from(gatherPlanes(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 0], 2))).toEqual([5, 6, 1, 2]);
  });
});

describe('heat normalisation over the decoded classes', () => {
  it('renormalise: per pixel ÷ (mean |v/s| + 1e-2 · image mean + 1e-12), × s', () => {
    // channels [2, -4] and [6, 0], heatScale 2: v/s = [1, -2], [3, 0]; image mean |v/s| = 6/4; floor 0.015
    const v = Float32Array.from([2, -4, 6, 0]);
    renormalise(v, 2, 2, 2);
    close(v, [(1 / 2.015) * 2, (-2 / 1.015) * 2, (3 / 2.015) * 2, 0]);
  });

  it('gives what heatLogits (losses.ts) gives the app on the unscaled heatmaps', async () => {
    const k = 3,
      h = 2,
      w = 3,
      s = 1.7;
    const hwc = Float32Array.from({ length: h * w * k }, (_, i) => Math.cos(i * 2.3) * (i % 4));
    const planar = new Float32Array(k * h * w);
    for (let p = 0; p < h * w; p++) for (let c = 0; c < k; c++) planar[c * h * w + p] = s * hwc[p * k + c]!;
    renormalise(planar, k, h * w, s);
    const ref = tf.tidy(() => heatLogits(tf.tensor4d(hwc, [1, h, w, k]), s, 'pixel'));
    const app = await ref.data();
    ref.dispose();
    const want = Array.from({ length: k * h * w }, (_, i) => app[(i % (h * w)) * k + Math.floor(i / (h * w))]!);
    close(planar, want, 4);
  });
});

describe('upsampling and argmax over the chosen classes', () => {
  // K = 2 over a 1×2 map, to 1×4: channel 0 [0, 2] → [0, 0.5, 1.5, 2]; channel 1 [1, 1] → 1 everywhere
  const chw = Float32Array.from([0, 2, 1, 1]);
  const hwc = Float32Array.from([0, 1, 2, 1]);
  const e = (d: number) => 1 / (1 + Math.exp(-d)); // two-way softmax of the winner, d = its margin

  it('upsampleSoftmax: winning channel, its probability × 255, probabilities on request, either layout', () => {
    for (const [src, layout] of [
      [chw, 'chw'],
      [hwc, 'hwc'],
    ] as const) {
      const up = upsampleSoftmax(src, layout, 2, 1, 2, 1, 4, { probs: true });
      expect(Array.from(up.index)).toEqual([1, 1, 0, 0]);
      expect(Array.from(up.confidence)).toEqual([
        Math.round(255 * e(1)),
        Math.round(255 * e(0.5)),
        Math.round(255 * e(0.5)),
        Math.round(255 * e(1)),
      ]);
      expect(Array.from(up.confidence)).toEqual([186, 159, 159, 186]);
      close(up.probs!, [1 - e(1), e(1), 1 - e(0.5), e(0.5), e(0.5), 1 - e(0.5), e(1), 1 - e(1)]);
    }
    expect(upsampleSoftmax(chw, 'chw', 2, 1, 2, 1, 4).probs).toBeNull();
    expect(() => upsampleSoftmax(new Float32Array(256), 'chw', 256, 1, 1, 1, 1)).toThrow(/1\.\.255/);
    expect(() => upsampleSoftmax(chw, 'chw', 2, 2, 2, 1, 1)).toThrow(/4 values for 2×2×2/);
  });

  it('classMask maps the winning channel to its class index', () => {
    const m = classMask(chw, 'chw', [3, 5], 1, 2, 1, 4);
    expect(Array.from(m.mask)).toEqual([5, 5, 3, 3]);
    expect(Array.from(m.confidence)).toEqual([186, 159, 159, 186]);
    expect(m.probs).toBeNull();
    // at the model's own size the interpolation is the identity: a plain argmax
    expect(Array.from(classMask(chw, 'chw', [3, 5], 1, 2, 1, 2).mask)).toEqual([5, 3]);
  });
});
