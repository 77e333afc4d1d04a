/**
 * Whole-image prediction at original size without float maps there (issue 11 item 13): the
 * byte-wise upsampler against TF.js's resize + softmax + argmax, predict() against the old
 * TF.js path, and the area bound on the working size.
 */
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend';
import { MAX_WORKING_AREA, decodeToWorking, workingSize } from '../../../src-main/engine/data';
import { inputSides, upsampleSoftmax } from '../../../src-main/engine/prepost';
import { DEFAULT_TTA, inputTensor, NO_TTA, parseTta, predict, ttaKey } from '../../../src-main/engine/infer';
import { heatLogits } from '../../../src-main/engine/losses';
import { createSegmenter } from '../../../src-main/engine/models';
import { NO_REFINE } from '../../../src-main/engine/refine';
import { encoderStride } from '../../../src-main/engine/trainer';
import { rng } from '../../../src-shared/random';

beforeAll(async () => {
  await initBackend('wasm');
});

/** The old path: resize the logits to full size as float32 in TF.js, softmax, argmax. */
async function reference(logits: tf.Tensor4D, outH: number, outW: number) {
  const { probs, arg } = tf.tidy(() => {
    const up = tf.image.resizeBilinear(logits, [outH, outW], false, true);
    const p = tf.softmax(up, -1);
    return { probs: p, arg: p.argMax(-1) };
  });
  const [p, a] = await Promise.all([probs.data(), arg.data()]);
  tf.dispose([probs, arg]);
  return { probs: p as Float32Array, arg: a as Int32Array };
}

/** Pixels whose two best classes are clearly apart: there the argmax is well defined. */
function clearPixels(probs: Float32Array, K: number): boolean[] {
  const out: boolean[] = [];
  for (let p = 0; p < probs.length / K; p++) {
    const v = Array.from(probs.subarray(p * K, p * K + K)).sort((a, b) => b - a);
    out.push(K === 1 || v[0]! - v[1]! > 1e-4);
  }
  return out;
}

describe('upsampleSoftmax', () => {
  const cases: Array<[number, number, number, number, number]> = [
    // K, sh, sw, dh, dw
    [3, 5, 7, 23, 31],
    [2, 8, 8, 8, 8],
    [4, 6, 3, 5, 2], // down as well as up
    [1, 4, 4, 9, 9],
    [5, 1, 9, 3, 40], // a one-row source
  ];
  for (const [K, sh, sw, dh, dw] of cases) {
    it(`matches TF.js resizeBilinear + softmax + argmax (${K} classes, ${sh}×${sw} → ${dh}×${dw}), both layouts`, async () => {
      const r = rng(K * 100 + dh);
      const hwc = Float32Array.from({ length: sh * sw * K }, () => (r() - 0.5) * 8);
      const ref = await reference(tf.tensor4d(hwc, [1, sh, sw, K]), dh, dw);
      const clear = clearPixels(ref.probs, K);
      // planar copy of the same logits
      const chw = new Float32Array(hwc.length);
      for (let p = 0; p < sh * sw; p++) for (let k = 0; k < K; k++) chw[k * sh * sw + p] = hwc[p * K + k]!;
      for (const [layout, src] of [['hwc', hwc], ['chw', chw]] as const) {
        const got = upsampleSoftmax(src, layout, K, sh, sw, dh, dw, { probs: true });
        expect(got.index.length).toBe(dh * dw);
        let compared = 0;
        for (let p = 0; p < dh * dw; p++) {
          if (clear[p]) {
            expect(got.index[p]).toBe(ref.arg[p]);
            compared++;
          }
          let best = 0;
          for (let k = 0; k < K; k++) best = Math.max(best, ref.probs[p * K + k]!);
          expect(Math.abs(got.confidence[p]! - Math.round(best * 255))).toBeLessThanOrEqual(1);
        }
        expect(compared).toBeGreaterThan(dh * dw * 0.9);
        for (let i = 0; i < ref.probs.length; i++) expect(got.probs![i]).toBeCloseTo(ref.probs[i]!, 5);
      }
    });
  }

  it('returns no probabilities unless asked, and refuses inconsistent sizes', () => {
    const got = upsampleSoftmax(new Float32Array(2 * 2 * 2), 'hwc', 2, 2, 2, 4, 4);
    expect(got.probs).toBeNull();
    expect(() => upsampleSoftmax(new Float32Array(3), 'hwc', 2, 2, 2, 4, 4)).toThrow(/3 values for 2×2×2/);
  });
});

describe('predict at original size', () => {
  for (const method of ['lrp', 'unet'] as const) {
    it(`${method}: the mask equals the old full-resolution TF.js path wherever its argmax is well defined`, async () => {
      const model = await createSegmenter({ method, classes: 3, inputSize: 32, seed: 4 });
      const r = rng(9);
      const width = 40,
        height = 32;
      const rgb = Uint8Array.from({ length: width * height * 3 }, (_, i) => ((i % 3) * 80 + Math.floor(r() * 90)) & 255);
      const s = { id: 'x', rgb, width, height, origWidth: 123, origHeight: 97, tags: [], labels: null };
      const stride = encoderStride(model);
      const givenTags = method === 'lrp' ? [0, 2] : undefined;
      const p = await predict(model, s, { stride, heatScale: 3, heatNorm: 'pixel', ...(givenTags ? { givenTags } : {}), probs: true, tta: NO_TTA, refine: NO_REFINE });
      expect([p.width, p.height]).toEqual([123, 97]);
      // the old path, inline
      const x = inputTensor(s, stride);
      const seg = tf.tidy(() => {
        if (method === 'unet') return model.forward(x).seg!;
        const dc = tf.tensor2d(givenTags!, [1, givenTags!.length], 'int32');
        return heatLogits(model.forward(x, { decodeClasses: dc }).seg!, 3, 'pixel');
      });
      const ref = await reference(seg, 97, 123);
      tf.dispose([x, seg]);
      const K = p.classes.length;
      const clear = clearPixels(ref.probs, K);
      let compared = 0;
      for (let q = 0; q < p.mask.length; q++) {
        if (!clear[q]) continue;
        expect(p.mask[q]).toBe(p.classes[ref.arg[q]!]);
        compared++;
      }
      expect(compared).toBeGreaterThan(p.mask.length * 0.9);
      expect(new Set(p.mask).size).toBeGreaterThan(0);
      model.dispose();
    });
  }
});

describe('test-time augmentation', () => {
  /** A sample and its mirror image (columns reversed). */
  function pair(width: number, height: number, seed: number) {
    const r = rng(seed);
    const rgb = Uint8Array.from({ length: width * height * 3 }, (_, i) => ((i % 3) * 70 + Math.floor(r() * 120)) & 255);
    const mirror = new Uint8Array(rgb.length);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) mirror[(y * width + (width - 1 - x)) * 3 + c] = rgb[(y * width + x) * 3 + c]!;
    const base = { width, height, origWidth: width, origHeight: height, tags: [], labels: null };
    return [{ id: 'a', rgb, ...base }, { id: 'b', rgb: mirror, ...base }] as const;
  }

  it('predicts with the app\'s DEFAULT_TTA unless told otherwise', async () => {
    const model = await createSegmenter({ method: 'lrp', classes: 3, inputSize: 32, seed: 5 });
    const [s] = pair(48, 32, 3);
    const stride = encoderStride(model);
    const a = await predict(model, s, { stride, heatScale: 2, heatNorm: 'pixel', probs: true });
    const b = await predict(model, s, { stride, heatScale: 2, heatNorm: 'pixel', probs: true, tta: DEFAULT_TTA });
    const one = await predict(model, s, { stride, heatScale: 2, heatNorm: 'pixel', probs: true, tta: NO_TTA });
    expect(DEFAULT_TTA.scales.length * (DEFAULT_TTA.flip ? 2 : 1)).toBeGreaterThan(1);
    expect(b.tagProbs).toEqual(a.tagProbs);
    expect(b.probs).toEqual(a.probs);
    expect(one.probs).not.toEqual(a.probs);
    model.dispose();
  });

  it('refines with the image on request (guided filter), the app\'s DEFAULT_REFINE otherwise; the mask keeps its size', async () => {
    const { DEFAULT_REFINE, NO_REFINE } = await import('../../../src-main/engine/refine');
    const model = await createSegmenter({ method: 'gradcam', classes: 3, inputSize: 32, seed: 5 });
    const [s] = pair(48, 32, 3);
    const stride = encoderStride(model);
    const opts = { stride, heatScale: 2, heatNorm: 'pixel' as const, probs: true, minClasses: 3, tta: NO_TTA };
    const dflt = await predict(model, s, opts);
    const same = await predict(model, s, { ...opts, refine: DEFAULT_REFINE });
    const off = await predict(model, s, { ...opts, refine: NO_REFINE });
    const on = await predict(model, s, { ...opts, refine: { radius: 4, eps: 0.01 } });
    expect(same.probs).toEqual(dflt.probs);
    expect(on.mask).toHaveLength(off.mask.length);
    expect(on.classes).toEqual(off.classes);
    expect(on.probs).not.toEqual(off.probs);
    await expect(predict(model, s, { ...opts, refine: { radius: -1, eps: 0.01 } })).rejects.toThrow(/radius/);
    model.dispose();
  });

  for (const method of ['lrp', 'gradcam', 'unet'] as const) {
    it(`${method}: with the mirror view, predicting a mirrored image gives the mirrored mask and the same tags`, async () => {
      const model = await createSegmenter({ method, classes: 3, inputSize: 32, seed: 6 });
      const W = 40, H = 32;
      const [s, m] = pair(W, H, 4);
      const stride = encoderStride(model);
      const opts = { stride, heatScale: 2, heatNorm: 'pixel' as const, probs: true, tta: { scales: [1, 1.5], flip: true }, ...(method === 'unet' ? {} : { givenTags: [0, 1, 2] }) };
      const a = await predict(model, s, opts);
      const b = await predict(model, m, opts);
      if (method !== 'unet') for (let c = 0; c < 3; c++) expect(b.tagProbs![c]).toBeCloseTo(a.tagProbs![c]!, 5);
      const K = a.classes.length;
      let same = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const p = y * W + x, q = y * W + (W - 1 - x);
          for (let k = 0; k < K; k++) expect(b.probs![q * K + k]).toBeCloseTo(a.probs![p * K + k]!, 4);
          if (a.mask[p] === b.mask[q]) same++;
        }
      expect(same).toBeGreaterThan(W * H * 0.99);
      // and the views change the answer (otherwise this test could not fail)
      const plain = await predict(model, s, { ...opts, tta: NO_TTA });
      expect(Math.max(...plain.probs!.map((v, i) => Math.abs(v - a.probs![i]!)))).toBeGreaterThan(1e-3);
      model.dispose();
    });
  }

  it('parses and names specs, and refuses bad ones', () => {
    expect(parseTta('1,1.25/flip')).toEqual({ scales: [1, 1.25], flip: true });
    expect(ttaKey(parseTta('0.75,1'))).toBe('0.75,1');
    expect(() => parseTta('1/mirror')).toThrow(/scales\[\/flip\]/);
    expect(() => parseTta('3')).toThrow(/\[0\.5, 2\]/);
    expect(() => parseTta('1,1')).toThrow(/distinct/);
    expect(() => parseTta('1,1.1,1.2,1.3,1.4')).toThrow(/1 to 4/);
  });
});

describe('working size', () => {
  it('keeps the shorter side = base for ordinary images', () => {
    expect(workingSize(640, 480, 128)).toEqual({ width: 171, height: 128 });
    expect(workingSize(480, 640, 128)).toEqual({ width: 128, height: 171 });
    expect(workingSize(48, 40, 32)).toEqual({ width: 38, height: 32 });
  });

  it('bounds a 1×60000 strip by area, not only by its short side', () => {
    for (const [w, h] of [
      [1, 60000],
      [60000, 1],
      [3, 100000],
    ] as const) {
      const s = workingSize(w, h, 64);
      expect(s.width * s.height).toBeLessThanOrEqual(MAX_WORKING_AREA * 64 * 64);
      // the long side is scaled by the area factor, or takes what the area leaves beside a 1-px short side
      const area = MAX_WORKING_AREA * 64 * 64;
      const short = Math.min(s.width, s.height);
      expect(Math.max(s.width, s.height)).toBe(Math.min(Math.round(Math.max(w, h) * Math.sqrt(area / (w * h))), Math.floor(area / short)));
    }
    // shorter side = base would be 64 × 3 840 000 px (737 MB of RGB)
    expect(workingSize(1, 60000, 64).height).toBeLessThan(70000);
  });

  it('feeds the network at most about twice a strip\'s pixels when its short side rounds up to the stride', () => {
    // ordinary images: each side the nearest multiple of the stride
    expect(inputSides(128, 171, 8)).toEqual([128, 168]);
    expect(inputSides(3, 3, 8)).toEqual([8, 8]);
    expect(inputSides(40, 50, 16, 16, 32, 32)).toEqual([48, 48]);
    // a 1 × 16384 strip would be 8 × 16384 = 8× its pixels
    const [h, w] = inputSides(16384, 1, 8);
    expect(w).toBe(8);
    expect(h % 8).toBe(0);
    expect(h * w).toBeLessThanOrEqual(2 * 16384);
    expect(h * w).toBeGreaterThan(16384);
    const [h2, w2] = inputSides(1, 16384, 8);
    expect([h2, w2]).toEqual([w, h]);
  });

  it('decodeToWorking: a 1×60000 PNG decodes area-bounded, and the oriented size comes from the header', async () => {
    const png = await sharp({ create: { width: 1, height: 60000, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const w = await decodeToWorking(png, 64);
    expect([w.origWidth, w.origHeight]).toEqual([1, 60000]);
    expect(w.width * w.height).toBeLessThanOrEqual(MAX_WORKING_AREA * 64 * 64);
    expect(w.rgb.length).toBe(w.width * w.height * 3);
    // EXIF orientation 6 (90° clockwise): a 40×20 JPEG is 20×40 as shown
    const jpg = await sharp({ create: { width: 40, height: 20, channels: 3, background: '#336699' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const o = await decodeToWorking(jpg, 10);
    expect([o.origWidth, o.origHeight]).toEqual([20, 40]);
    expect([o.width, o.height]).toEqual([10, 20]);
  });
});
