import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  buildSegmenter,
  createSegmenter,
  Encoder,
  gradcamDecode,
  loadSegmenter,
  parseSegmenterConfig,
  smallEncoderSpec,
  type SegMethod,
} from '../../../src-main/engine/models/index.js';
import { DECODE_DEFAULTS, decodeRule, decodeWithDefaults } from '../../../src-main/engine/prepost.js';
import { bilinearMatrix, resizeBilinearLinear, upsampleNearest } from '../../../src-main/engine/models/ops.js';
import {
  maskPaddedChannels,
  planDecode,
  predictMask,
  segmentationLoss,
  tagLoss,
  tagTargets,
} from '../../../src-main/engine/losses.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

const tiny = { kind: 'small' as const, channels: [4, 8, 8], convsPerBlock: 1 };
const methods: SegMethod[] = ['lrp', 'gradcam', 'unet', 'mtunet'];

function read(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

describe('segmenter shapes', () => {
  for (const method of methods) {
    it(`${method}: logits and seg shapes, with and without decodeClasses`, async () => {
      const model = await createSegmenter({ method, classes: 5, inputSize: 16, encoder: tiny });
      const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const dc = tf.tensor2d(
        [
          [0, 3, -1],
          [4, 1, 2],
        ],
        [2, 3],
        'int32',
      );
      const plain = model.forward(x);
      const decoded = model.forward(x, { decodeClasses: dc });
      const hasHead = method !== 'unet';
      expect(plain.logits?.shape).toEqual(hasHead ? [2, 5] : undefined);
      expect(decoded.seg?.shape).toEqual([2, 16, 16, 3]);
      if (method === 'unet' || method === 'mtunet') {
        expect(plain.seg?.shape).toEqual([2, 16, 16, 5]);
        // the decoded channels are the selected channels of the full output (padding → zeros)
        const picked = tf.tidy(() =>
          tf
            .stack([
              tf.gather(plain.seg!.slice([0, 0, 0, 0], [1, 16, 16, 5]), [0, 3], 3),
              tf.gather(plain.seg!.slice([1, 0, 0, 0], [1, 16, 16, 5]), [4, 1], 3),
            ])
            .reshape([2, 16, 16, 2]),
        );
        const got = tf.tidy(() => decoded.seg!.slice([0, 0, 0, 0], [2, 16, 16, 2]));
        expect(tf.tidy(() => picked.sub(got).abs().max().dataSync()[0])).toBeLessThan(1e-5);
        expect(tf.tidy(() => decoded.seg!.slice([0, 0, 0, 2], [1, 16, 16, 1]).abs().max().dataSync()[0])).toBe(0);
        tf.dispose([picked, got]);
      } else {
        expect(plain.seg).toBeUndefined();
      }
      tf.dispose([x, dc, plain.logits, plain.seg, decoded.logits, decoded.seg].filter((t) => t !== undefined));
      model.dispose();
    });
  }

  it('refuses input sizes the encoder cannot pool evenly and a bad decodeClasses shape', async () => {
    expect(() => buildSegmenter({ ...baseConfig('lrp'), inputSize: 18 })).toThrow(/multiple of the encoder's stride 4/);
    const model = await createSegmenter({ method: 'lrp', classes: 3, inputSize: 16, encoder: tiny });
    const x = tf.zeros([1, 18, 18, 3]) as tf.Tensor4D;
    expect(() => model.forward(x)).toThrow(/does not divide evenly at max-pool/);
    const x2 = tf.zeros([2, 16, 16, 3]) as tf.Tensor4D;
    const dc = tf.tensor2d([[0]], [1, 1], 'int32');
    expect(() => model.forward(x2, { decodeClasses: dc })).toThrow(/decodeClasses must be \[N, K\] with N = 2/);
    tf.dispose([x, x2, dc]);
    model.dispose();
  });
});

function baseConfig(method: SegMethod) {
  return {
    format: 'heatseg-segmenter' as const,
    version: 1 as const,
    method,
    classes: 3,
    inputSize: 16,
    encoder: smallEncoderSpec({ channels: [4, 8, 8] }),
    gradcamRelu: false,
    lrpDepth: 0,
    unetConvsPerStage: 2,
    seed: 3,
  };
}

describe('U-Net decoder', () => {
  it('equals a plain concat-skip U-Net written with stock ops on the same weights', async () => {
    const model = await createSegmenter({ method: 'unet', classes: 3, inputSize: 16, encoder: tiny, unetConvsPerStage: 2 });
    const w = model.getWeights();
    const t = (k: string) => tf.tensor(w[k]!.data, w[k]!.shape);
    const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
    const ref = tf.tidy(() => {
      const skips: tf.Tensor4D[] = [];
      let h: tf.Tensor4D = x;
      for (const l of model.config().encoder.layers) {
        if (l.type === 'conv') h = tf.conv2d(h, t(`encoder/${l.name}/kernel`) as tf.Tensor4D, 1, 'same').add(t(`encoder/${l.name}/bias`));
        else if (l.type === 'relu') h = tf.relu(h);
        else if (l.type === 'maxpool') {
          skips.push(h);
          h = tf.maxPool(h, 2, 2, 'valid');
        }
      }
      for (let j = skips.length; j >= 1; j--) {
        const skip = skips[j - 1]!;
        h = tf.concat([tf.image.resizeNearestNeighbor(h, [skip.shape[1], skip.shape[2]]), skip], 3);
        for (const m of [1, 2])
          h = tf.relu(tf.conv2d(h, t(`unet/stage${j}_conv${m}/kernel`) as tf.Tensor4D, 1, 'same').add(t(`unet/stage${j}_conv${m}/bias`)));
      }
      return tf.conv2d(h, t('unet/out/kernel') as tf.Tensor4D, 1, 'same').add(t('unet/out/bias'));
    });
    const out = model.forward(x);
    expect(out.seg!.shape).toEqual([2, 16, 16, 3]);
    expect(tf.tidy(() => out.seg!.sub(ref).abs().max().dataSync()[0]! / ref.abs().max().dataSync()[0]!)).toBeLessThan(1e-5);
    tf.dispose([x, ref, out.seg!]);
    model.dispose();
  });
});

describe('Grad-CAM decoder', () => {
  it('is the class-weighted sum of the last feature map, upsampled bilinearly (half-pixel centres)', () => {
    const encoder = new Encoder(smallEncoderSpec({ channels: [4, 6] }), 5);
    const head = tf.randomNormal([6, 4], 0, 1, 'float32', 6) as tf.Tensor2D;
    const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const dc = tf.tensor2d(
      [
        [2, 0],
        [1, -1],
      ],
      [2, 2],
      'int32',
    );
    const features = tf.tidy(() => encoder.forward(x, { gates: false }).features);
    expect(features.shape).toEqual([2, 4, 4, 6]);
    // at feature resolution the resize is the identity: compare with a hand-written Σ_f w_cf A_f
    const cam = gradcamDecode(features, head, dc, 4, 4, false);
    const manual = tf.tidy(() => {
      const rows = [
        [2, 0],
        [1, -1],
      ].map((cls, n) =>
        tf.stack(
          cls.map((c) =>
            c < 0
              ? tf.zeros([4, 4])
              : features
                  .slice([n, 0, 0, 0], [1, 4, 4, 6])
                  .reshape([4, 4, 6])
                  .mul(head.slice([0, c], [6, 1]).reshape([6]))
                  .sum(-1),
          ),
          2,
        ),
      );
      return tf.stack(rows);
    });
    expect(tf.tidy(() => cam.sub(manual).abs().max().dataSync()[0])).toBeLessThan(1e-5);
    // upsampled: equals tf.image.resizeBilinear with half-pixel centres
    const big = gradcamDecode(features, head, dc, 8, 8, false);
    const ref = tf.image.resizeBilinear(manual as tf.Tensor4D, [8, 8], false, true);
    expect(tf.tidy(() => big.sub(ref).abs().max().dataSync()[0])).toBeLessThan(1e-5);
    // ReLU option clamps negative evidence
    const relu = gradcamDecode(features, head, dc, 8, 8, true);
    expect(tf.tidy(() => relu.min().dataSync()[0])).toBeGreaterThanOrEqual(0);
    expect(tf.tidy(() => big.min().dataSync()[0])).toBeLessThan(0);
    tf.dispose([head, x, dc, features, cam, manual, big, ref, relu]);
    encoder.dispose();
  });

  it('bilinear matrices: rows sum to 1, non-integer scales match tf.image.resizeBilinear', () => {
    const m = bilinearMatrix(5, 12);
    for (let o = 0; o < 12; o++) expect(m.slice(o * 5, o * 5 + 5).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    const x = tf.randomNormal([1, 5, 3, 2], 0, 1, 'float32', 2) as tf.Tensor4D;
    const ours = resizeBilinearLinear(x, 12, 7);
    const ref = tf.image.resizeBilinear(x, [12, 7], false, true);
    expect(tf.tidy(() => ours.sub(ref).abs().max().dataSync()[0])).toBeLessThan(1e-5);
    tf.dispose([x, ours, ref]);
  });

  it('nearest upsampling matches resizeNearestNeighbor and its gradient is the window sum', () => {
    const x = tf.randomNormal([2, 3, 2, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const ours = upsampleNearest(x, 2, 3);
    const ref = tf.image.resizeNearestNeighbor(x, [6, 6]);
    expect(tf.tidy(() => ours.sub(ref).abs().max().dataSync()[0])).toBe(0);
    const w = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 4);
    const g = tf.grad((t: tf.Tensor) =>
      upsampleNearest(t as tf.Tensor4D, 2, 3)
        .mul(w)
        .sum(),
    )(x);
    const expected = tf.tidy(() => w.reshape([2, 3, 2, 2, 3, 3]).sum([2, 4]));
    expect(tf.tidy(() => g.sub(expected).abs().max().dataSync()[0])).toBeLessThan(1e-5);
    tf.dispose([x, ours, ref, w, g, expected]);
  });
});

describe('save / load', () => {
  it('config JSON + weights rebuild an identical model', async () => {
    const a = await createSegmenter({
      method: 'mtunet',
      classes: 4,
      inputSize: 16,
      encoder: { kind: 'small', channels: [4, 8, 8], convsPerBlock: 2 },
      seed: 11,
    });
    const b0 = buildSegmenter({ ...a.config(), seed: 99 });
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 12) as tf.Tensor4D;
    const ya = a.forward(x);
    const y0 = b0.forward(x);
    expect(tf.tidy(() => ya.seg!.sub(y0.seg!).abs().max().dataSync()[0])).toBeGreaterThan(1e-4); // different seed, different model
    const json = JSON.parse(JSON.stringify({ config: a.config(), weights: Object.keys(a.getWeights()) }));
    const b = loadSegmenter(json.config, a.getWeights());
    const yb = b.forward(x);
    expect(tf.tidy(() => ya.seg!.sub(yb.seg!).abs().max().dataSync()[0])).toBe(0);
    expect(tf.tidy(() => ya.logits!.sub(yb.logits!).abs().max().dataSync()[0])).toBe(0);
    expect(json.weights).toContain('head/kernel');
    expect(json.weights).toContain('encoder/block1_conv2/kernel');
    expect(json.weights).toContain('unet/out/kernel');
    tf.dispose([x, ya.seg!, ya.logits!, y0.seg!, y0.logits!, yb.seg!, yb.logits!]);
    [a, b0, b].forEach((m) => m.dispose());
  });

  it('setWeights refuses unknown names, wrong shapes and (unless allowed) missing weights', async () => {
    const m = await createSegmenter({ method: 'lrp', classes: 3, inputSize: 16, encoder: tiny });
    const w = m.getWeights();
    expect(() => m.setWeights({ 'encoder/nope/kernel': { shape: [1], data: new Float32Array(1) } })).toThrow(
      /unknown weight 'encoder\/nope\/kernel'/,
    );
    expect(() => m.setWeights({ ...w, 'head/bias': { shape: [4], data: new Float32Array(4) } })).toThrow(
      /weight 'head\/bias' has shape \[4\]/,
    );
    expect(() => m.setWeights({ 'head/bias': w['head/bias']! })).toThrow(/missing weights/);
    m.setWeights({ 'head/bias': { shape: [3], data: new Float32Array([1, 2, 3]) } }, { allowMissing: true });
    expect(Array.from(m.getWeights()['head/bias']!.data)).toEqual([1, 2, 3]);
    m.dispose();
  });

  it('parseSegmenterConfig rejects malformed configs with the path of the problem', () => {
    const good = baseConfig('unet');
    // a config from before LRP rule sets, pool rules and top relevance reads as LRP-0 with winner-take-all pools, read at its stop
    // (Gradient×Input, what those models computed)
    expect(parseSegmenterConfig(JSON.parse(JSON.stringify(good)))).toEqual({ ...good, lrpRule: 'lrp0', lrpPool: 'winner', lrpTopRelevance: false });
    expect(() => parseSegmenterConfig({ ...good, lrpRule: 'zminus' })).toThrow(/lrpRule/);
    expect(() => parseSegmenterConfig({ ...good, lrpPool: 'average' })).toThrow(/lrpPool/);
    const bad = JSON.parse(JSON.stringify(good));
    bad.encoder.layers[0].kernel = [3, 0];
    expect(() => parseSegmenterConfig(bad)).toThrow(/encoder\.layers\.0\.kernel/);
    expect(() => parseSegmenterConfig({ ...good, method: 'fcn' })).toThrow(/method/);
  });
});

describe('no tensor leaks', () => {
  for (const method of methods) {
    it(`${method}: forward + gradient step keeps numTensors stable`, async () => {
      const model = await createSegmenter({ method, classes: 4, inputSize: 16, encoder: tiny });
      const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const dc = tf.tensor2d(
        [
          [0, 2],
          [3, -1],
        ],
        [2, 2],
        'int32',
      );
      const labels = tf.tensor3d(
        Array.from({ length: 2 * 16 * 16 }, (_, i) => (i % 4) - 1),
        [2, 16, 16],
        'int32',
      );
      const tags = tf.tensor2d([
        [1, 0, 1, 0],
        [0, 0, 0, 1],
      ]);
      const opt = tf.train.adam(1e-3, 0.9, 0.999, 1e-7);
      const step = () =>
        opt.minimize(
          () => {
            const out = model.forward(x, { decodeClasses: dc });
            const seg = segmentationLoss(out.seg!, labels, dc);
            return (out.logits ? seg.add(tagLoss(out.logits, tags)) : seg) as tf.Scalar;
          },
          false,
          model.variables(),
        );
      step(); // optimizer slots are allocated once
      const before = tf.memory().numTensors;
      // a bare forward pass (no enclosing tidy) leaves exactly its outputs behind
      const out = model.forward(x, { decodeClasses: dc });
      const outputs = [out.logits, out.seg].filter((t) => t !== undefined);
      expect(tf.memory().numTensors).toBe(before + outputs.length);
      tf.dispose(outputs);
      for (let i = 0; i < 3; i++) step();
      expect(tf.memory().numTensors).toBe(before);
      const { grads, value } = tf.variableGrads(() => {
        const out = model.forward(x, { decodeClasses: dc });
        return segmentationLoss(out.seg!, labels, dc);
      }, model.variables());
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, dc, labels, tags]);
      opt.dispose();
      model.dispose();
    });
  }
});

describe('losses', () => {
  it('tagLoss: sigmoid BCE averaged over classes and tagged images, with the exact gradient', () => {
    const logits = tf.tensor2d([
      [0, 2],
      [-1, 0],
    ]);
    const targets = tf.tensor2d([
      [1, 0],
      [0, 1],
    ]);
    const sp = (v: number) => Math.log1p(Math.exp(v));
    const all = tagLoss(logits, targets);
    expect(all.dataSync()[0]).toBeCloseTo((sp(0) + sp(2) + sp(-1) + sp(0)) / 4, 5);
    const mask = tf.tensor1d([1, 0]);
    const masked = tagLoss(logits, targets, mask);
    expect(masked.dataSync()[0]).toBeCloseTo((Math.log(2) + sp(2)) / 2, 5);
    const g = tf.grad((l: tf.Tensor) => tagLoss(l as tf.Tensor2D, targets, mask))(logits);
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    const expected = [(sig(0) - 1) / 2, sig(2) / 2, 0, 0];
    read(g).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    const none = tagLoss(logits, targets, tf.tensor1d([0, 0]));
    expect(none.dataSync()[0]).toBe(0);
    tf.dispose([logits, targets, all, mask, masked, g, none]);
  });

  it('segmentationLoss: softmax CE over labelled pixels only; unlabelled (-1, 255) ignored; 0 when none', () => {
    // 1 image, 1×4 pixels, K = 2
    const seg = tf.tensor4d([0, 0, 1, 0, 5, -5, -3, 3], [1, 1, 4, 2]);
    const labels = tf.tensor3d([0, 1, -1, 255], [1, 1, 4], 'int32');
    const loss = segmentationLoss(seg, labels);
    expect(loss.dataSync()[0]).toBeCloseTo((Math.log(2) + Math.log(1 + Math.E)) / 2, 5);
    const g = tf.grad((s: tf.Tensor) => segmentationLoss(s as tf.Tensor4D, labels))(seg);
    const e = Math.E;
    const expected = [-0.25, 0.25, e / (1 + e) / 2, (1 / (1 + e) - 1) / 2, 0, 0, 0, 0];
    read(g).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    // no labelled pixel: 0, and a finite zero gradient
    const empty = tf.tensor3d([-1, -1, 255, 255], [1, 1, 4], 'int32');
    expect(segmentationLoss(seg, empty).dataSync()[0]).toBe(0);
    const g0 = tf.grad((s: tf.Tensor) => segmentationLoss(s as tf.Tensor4D, empty))(seg);
    expect(read(g0).every((v) => v === 0)).toBe(true);
    tf.dispose([seg, labels, loss, g, empty, g0]);
  });

  it('segmentationLoss with one decoded class (every image of the batch shows one class): 0, no oneHot error', () => {
    const seg = tf.tensor4d([0.5, 7, -2], [1, 1, 3, 1]);
    const labels = tf.tensor3d([0, 0, -1], [1, 1, 3], 'int32');
    const dc = tf.tensor2d([[3]], [1, 1], 'int32');
    const loss = segmentationLoss(seg, labels, dc);
    expect(loss.dataSync()[0]).toBeCloseTo(0, 6);
    const g = tf.grad((s: tf.Tensor) => segmentationLoss(s as tf.Tensor4D, labels, dc))(seg);
    expect(read(g).every((v) => v === 0)).toBe(true);
    tf.dispose([seg, labels, dc, loss, g]);
  });

  it('segmentationLoss excludes padded decode slots from the softmax', () => {
    const seg = tf.tensor4d([0.5, 7, 1, -2], [1, 1, 2, 2]);
    const labels = tf.tensor3d([0, 0], [1, 1, 2], 'int32');
    const dc = tf.tensor2d([[4, -1]], [1, 2], 'int32');
    const loss = segmentationLoss(seg, labels, dc);
    expect(loss.dataSync()[0]).toBeCloseTo(0, 6); // only one real class competes
    const unmasked = segmentationLoss(seg, labels);
    expect(unmasked.dataSync()[0]).toBeGreaterThan(1);
    const all = tf.tensor2d([[-1, -1]], [1, 2], 'int32');
    const masked = maskPaddedChannels(seg, all);
    const unl = tf.tensor3d([-1, -1], [1, 1, 2], 'int32');
    expect(Number.isNaN(segmentationLoss(masked, unl, all).dataSync()[0])).toBe(false);
    tf.dispose([seg, labels, dc, loss, unmasked, all, masked, unl]);
  });

  it('planDecode: tags ∪ labelled classes ∪ always, sorted, padded; labels remapped to positions', () => {
    const plan = planDecode({
      classes: 5,
      tags: [[2, 0], [1], null],
      pixelLabels: [[0, 2, 255, 4], null, [-1, 3, 3, 255]],
      pixels: 4,
    });
    expect(plan.k).toBe(3);
    expect(Array.from(plan.decodeClasses)).toEqual([0, 2, 4, 1, -1, -1, 3, -1, -1]);
    expect(Array.from(plan.targets!)).toEqual([0, 1, -1, 2, -1, -1, -1, -1, -1, 0, 0, -1]);
    const bg = planDecode({ classes: 5, tags: [[3], []], always: [0], k: 4 });
    expect(Array.from(bg.decodeClasses)).toEqual([0, 3, -1, -1, 0, -1, -1, -1]);
    expect(bg.targets).toBeNull();
    expect(() => planDecode({ classes: 5, tags: [[0, 1, 2]], k: 2 })).toThrow(/k = 2 is smaller/);
    expect(() => planDecode({ classes: 5, tags: [[7]] })).toThrow(/class index 7/);
  });

  it('decodeRule: threshold with top-k fallback and cap, per image at an offset; decodeWithDefaults caps at DECODE_DEFAULTS', () => {
    const probs = [0.9, 0.1, 0.6, 0.2, /* */ 0.1, 0.3, 0.2, 0.05, /* */ 0.7, 0.8, 0.9, 0.95];
    const rule = { threshold: 0.5, minClasses: 1, maxClasses: 3 };
    expect([0, 1, 2].map((i) => decodeRule(probs, 4, rule, i * 4))).toEqual([[0, 2], [1], [1, 2, 3]]);
    expect(decodeRule(probs, 4, { ...rule, minClasses: 3 }, 4)).toEqual([0, 1, 2]);
    const five = [0.6, 0.7, 0.8, 0.9, 0.95];
    expect(decodeWithDefaults(five, 5)).toHaveLength(DECODE_DEFAULTS.maxClasses);
    expect(decodeWithDefaults(five, 5)).toEqual([1, 2, 3, 4]);
    expect(decodeWithDefaults(five, 5, { threshold: 0.85 })).toEqual([3, 4]);
    expect(decodeWithDefaults([0.1, 0.2, 0.05], 3)).toEqual([1]);
  });

  it('predictMask maps slots back to classes; tagTargets', () => {
    const seg = tf.tensor4d([1, 5, 9, /* */ 2, 1, 0], [1, 1, 2, 3]);
    const dc = tf.tensor2d([[0, 2, -1]], [1, 3], 'int32');
    const mask = predictMask(seg, dc); // pixel 0: slot 2 is padding → slot 1 (class 2); pixel 1: slot 0 (class 0)
    expect(read(mask)).toEqual([2, 0]);
    const t = tagTargets([[1], [], null], 3);
    expect(Array.from(t.targets)).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(t.mask)).toEqual([1, 0, 0]);
    tf.dispose([seg, dc, mask]);
  });
});

describe('leaky ReLU gradient (registerModelGradients)', () => {
  it('equals tfjs\' where(x > 0, dy, dy·α) bit for bit on cpu and wasm, zeros and negatives included', async () => {
    const { initBackend } = await import('../../../src-main/engine/backend.js');
    const { leakyReluGradConfig } = await import('../../../src-main/engine/models/ops.js');
    const n = 4096;
    const xs = Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : Math.sin(i * 1.7) * 3));
    const dys = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.37) * 2);
    for (const backend of ['cpu', 'wasm'] as const) {
      await initBackend(backend); // registers the gradient
      expect(tf.getBackend()).toBe(backend);
      const x = tf.tensor1d(xs), dy = tf.tensor1d(dys);
      const [got] = tf.grads((t: tf.Tensor) => tf.leakyRelu(t, 0.1))([x], dy);
      const ours = leakyReluGradConfig.gradFunc(dy, [x], { alpha: 0.1 }).x!();
      const stock = tf.where(tf.greater(x, 0), dy, tf.mul(dy, 0.1));
      const [g, o, s] = [got!.dataSync(), ours.dataSync(), stock.dataSync()];
      expect(Array.from(g)).toEqual(Array.from(s));
      expect(Array.from(o)).toEqual(Array.from(s));
      // the taped gradient is ours, not a coincidence of the default: it has a Step kernel in it
      const kernels = (await tf.profile(() => tf.grads((t: tf.Tensor) => tf.leakyRelu(t, 0.1))([x], dy))).kernelNames;
      expect(kernels).toContain('Step');
      expect(kernels).not.toContain('Select');
      tf.dispose([x, dy, got!, ours, stock]);
    }
    await tf.setBackend('cpu');
  });
});

describe('encode + decodeEncoded (inference in two halves) = forward', () => {
  const cases: Array<{ name: string; opts: Parameters<typeof createSegmenter>[0] }> = [
    ...methods.map((method) => ({ name: method, opts: { method, classes: 4, inputSize: 16, encoder: { ...tiny, activation: 'leaky' as const, alpha: 0.1 }, seed: 7 } })),
    { name: 'lrp at two depths, depth 1', opts: { method: 'lrp', classes: 4, inputSize: 16, encoder: tiny, lrpDepth: 1, lrpTopRelevance: true, seed: 8 } },
    { name: 'lrp composite rule, depth 0', opts: { method: 'lrp', classes: 4, inputSize: 16, encoder: tiny, lrpDepth: 0, lrpRule: 'composite', seed: 9 } },
  ];
  for (const c of cases) {
    it(`${c.name}: the same tag logits and decoded logits, bit for bit, and nothing left behind`, async () => {
      const model = await createSegmenter(c.opts);
      const x = tf.randomUniform([2, 16, 24, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const dc = tf.tensor2d([[0, 2], [3, 1]], [2, 2], 'int32');
      const before = tf.memory().numTensors;
      const enc = model.encode(x);
      const decodes = model.method !== 'unet';
      const seg = decodes ? model.decodeEncoded(enc, dc) : model.decodeEncoded(enc);
      const all = model.method === 'mtunet' ? model.decodeEncoded(enc) : null;
      const ref = model.forward(x, decodes ? { decodeClasses: dc } : {});
      const refAll = model.method === 'mtunet' ? model.forward(x) : null;
      if (model.method === 'unet') expect(enc.logits).toBeUndefined();
      else expect(read(enc.logits!)).toEqual(read(ref.logits!));
      expect(seg.shape).toEqual(ref.seg!.shape);
      expect(read(seg)).toEqual(read(ref.seg!));
      if (all) expect(read(all)).toEqual(read(refAll!.seg!));
      model.disposeEncoded(enc);
      tf.dispose([seg, ...(all ? [all] : []), ...Object.values(ref), ...(refAll ? Object.values(refAll) : [])] as tf.Tensor[]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, dc]);
      model.dispose();
    });
  }
});
