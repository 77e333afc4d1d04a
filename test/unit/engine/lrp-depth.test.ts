import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSegmenter, smallEncoderSpec } from '../../../src-main/engine/models';
import type { SegmenterConfig } from '../../../src-main/engine/models';

const base: SegmenterConfig = {
  format: 'heatseg-segmenter',
  version: 1,
  method: 'lrp',
  classes: 3,
  inputSize: 16,
  encoder: smallEncoderSpec({ channels: [4, 6, 8], activation: 'leaky', alpha: 0.1 }),
  gradcamRelu: false,
  lrpDepth: 0,
  unetConvsPerStage: 1,
  seed: 7,
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('LRP decoder stopped above the input (lrpDepth)', () => {
  it('conserves relevance: with a bias-free first conv, depth 1 sums to the same total as Gradient×Input', () => {
    const full = buildSegmenter(base);
    const w = full.getWeights();
    w['encoder/block1_conv1/bias'] = { shape: w['encoder/block1_conv1/bias']!.shape, data: new Float32Array(4) };
    full.setWeights(w);
    const shallow = buildSegmenter({ ...base, lrpDepth: 1 });
    shallow.setWeights(w);
    const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const dc = tf.tensor2d([0, 2, 1, -1], [2, 2], 'int32');
    const a = full.forward(x, { decodeClasses: dc }).seg!;
    const b = shallow.forward(x, { decodeClasses: dc }).seg!;
    expect(b.shape).toEqual(a.shape);
    const sa = a.sum([1, 2]).arraySync() as number[][];
    const sb = b.sum([1, 2]).arraySync() as number[][];
    for (let i = 0; i < 2; i++) for (let k = 0; k < 2; k++) expect(sb[i]![k]).toBeCloseTo(sa[i]![k]!, 4);
    // ... but the maps differ pixel by pixel (they are read off another layer).
    expect(tf.sub(a, b).abs().max().dataSync()[0]).toBeGreaterThan(1e-4);
    // padding slot stays zero
    expect(b.slice([1, 0, 0, 1], [1, 16, 16, 1]).abs().max().dataSync()[0]).toBe(0);
    tf.dispose([x, dc, a, b]);
    full.dispose();
    shallow.dispose();
  });

  it('lrpTopRelevance adds the relevance at the last feature map, as relevance per input pixel', () => {
    // stop at the 2nd pool's input (8×8 of 16×16), features 4×4
    const plain = buildSegmenter({ ...base, lrpDepth: 2 });
    const both = buildSegmenter({ ...base, lrpDepth: 2, lrpTopRelevance: true });
    const cam = buildSegmenter({ ...base, method: 'gradcam' });
    const w = plain.getWeights();
    both.setWeights(w);
    cam.setWeights(w);
    const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const dc = tf.tensor2d([0, 2, 1, -1], [2, 2], 'int32');
    const a = plain.forward(x, { decodeClasses: dc });
    const b = both.forward(x, { decodeClasses: dc });
    const c = cam.forward(x, { decodeClasses: dc });
    const top = tf.sub(b.seg!, a.seg!);
    // the added term is the class activation map spread over the stop's 8×8 cells
    expect(tf.sub(top, c.seg!.div(8 * 8)).abs().max().dataSync()[0]).toBeLessThan(1e-5);
    expect(top.abs().max().dataSync()[0]).toBeGreaterThan(1e-4);
    // its total is the logit without the head's bias, in the stop map's units (× 16·16 / (8·8) pixels per cell)
    const sums = top.sum([1, 2]).arraySync() as number[][];
    const logits = a.logits!.arraySync() as number[][];
    const bias = w['head/bias']!.data;
    for (const [n, slot, cls] of [[0, 0, 0], [0, 1, 2], [1, 0, 1]] as const) expect(sums[n]![slot]).toBeCloseTo(((logits[n]![cls]! - bias[cls]!) * 256) / 64, 4);
    expect(sums[1]![1]).toBe(0); // padding slot
    tf.dispose([x, dc, top, a.seg!, a.logits!, b.seg!, b.logits!, c.seg!, c.logits!]);
    [plain, both, cam].forEach((m) => m.dispose());
  });

  it('deeper stops give coarser (upsampled) maps at input size and are refused beyond the encoder', () => {
    const deep = buildSegmenter({ ...base, lrpDepth: 2 });
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const dc = tf.tensor2d([1], [1, 1], 'int32');
    const seg = deep.forward(x, { decodeClasses: dc }).seg!;
    expect(seg.shape).toEqual([1, 16, 16, 1]);
    expect(() => buildSegmenter({ ...base, lrpDepth: 3 })).toThrow(/exceeds the encoder's 2 downsampling stages/);
    tf.dispose([x, dc, seg]);
    deep.dispose();
  });

  it('the heatmap loss still reaches the encoder weights through the truncated decoder', () => {
    const model = buildSegmenter({ ...base, lrpDepth: 2 });
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const dc = tf.tensor2d([0, 1], [1, 2], 'int32');
    const vars = model.namedVariables();
    const { grads } = tf.variableGrads(() => model.forward(x, { decodeClasses: dc }).seg!.slice([0, 0, 0, 0], [1, 8, 8, 1]).sum() as tf.Scalar, Object.values(vars));
    const g = grads[vars['encoder/block3_conv1/kernel']!.name]!;
    expect(g.abs().sum().dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([x, dc, ...Object.values(grads)]);
    model.dispose();
  });
});
