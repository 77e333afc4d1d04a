/**
 * Exactness of the LRP rules of the tied-weight decoder (ε, z+, αβ, composite) against a direct
 * per-layer reference written here in plain loops: every contribution z_jk = a_j·w_jk of every conv
 * is enumerated and relevance is redistributed by the rule's textbook formula.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { Encoder, LRP_ALPHA, LRP_BETA, LRP_EPSILON, layerRules, lrpDecode, type EncoderLayer, type EncoderSpec, type LrpLayerRule, type LrpPoolRule, type LrpRuleName } from '../../../src-main/engine/models/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

const spec: EncoderSpec = {
  family: 'small',
  inputChannels: 3,
  layers: [
    { type: 'conv', name: 'c1', filters: 4, kernel: [3, 3], strides: [1, 1], padding: 'same' },
    { type: 'leaky', name: 'a1', alpha: 0.1 },
    { type: 'maxpool', name: 'p1', pool: [2, 2] },
    { type: 'conv', name: 'c2', filters: 5, kernel: [3, 3], strides: [1, 1], padding: 'same' },
    { type: 'relu', name: 'a2' },
    { type: 'conv', name: 'c3', filters: 6, kernel: [3, 3], strides: [2, 2], padding: 'same' },
    { type: 'leaky', name: 'a3', alpha: 0.2 },
  ],
};
const C = 3;

/** A 4-D array [h][w][c] of one image. */
type Img = { h: number; w: number; c: number; v: Float64Array };
const at = (t: Img, y: number, x: number, ch: number) => t.v[(y * t.w + x) * t.c + ch]!;
function imgOf(t: tf.Tensor4D, n: number): Img {
  const [, h, w, c] = t.shape;
  const all = t.dataSync();
  return { h, w, c, v: Float64Array.from(all.subarray(n * h * w * c, (n + 1) * h * w * c)) };
}

/** One conv layer's relevance redistribution, enumerating every contribution. */
function refConv(a: Img, R: Img, W: Float32Array, b: Float32Array, layer: Extract<EncoderLayer, { type: 'conv' }>, rule: LrpLayerRule): Img {
  const [kh, kw] = layer.kernel;
  const [sy, sx] = layer.strides;
  const co = layer.filters;
  const ci = a.c;
  const padTop = layer.padding === 'same' ? Math.floor(Math.max((R.h - 1) * sy + kh - a.h, 0) / 2) : 0;
  const padLeft = layer.padding === 'same' ? Math.floor(Math.max((R.w - 1) * sx + kw - a.w, 0) / 2) : 0;
  const out: Img = { h: a.h, w: a.w, c: ci, v: new Float64Array(a.h * a.w * ci) };
  const contribs = (oy: number, ox: number, k: number) => {
    const list: Array<{ j: number; z: number }> = [];
    for (let ky = 0; ky < kh; ky++)
      for (let kx = 0; kx < kw; kx++) {
        const iy = oy * sy - padTop + ky, ix = ox * sx - padLeft + kx;
        if (iy < 0 || ix < 0 || iy >= a.h || ix >= a.w) continue;
        for (let c = 0; c < ci; c++) list.push({ j: (iy * a.w + ix) * ci + c, z: at(a, iy, ix, c) * W[((ky * kw + kx) * ci + c) * co + k]! });
      }
    return list;
  };
  // ε relative to the RMS of the layer's output z (bias included) over the image
  let sq = 0;
  const zs = new Float64Array(R.h * R.w * co);
  for (let oy = 0; oy < R.h; oy++)
    for (let ox = 0; ox < R.w; ox++)
      for (let k = 0; k < co; k++) {
        const z = contribs(oy, ox, k).reduce((s, e) => s + e.z, 0) + b[k]!;
        zs[(oy * R.w + ox) * co + k] = z;
        sq += z * z;
      }
  const eps = LRP_EPSILON * Math.sqrt(sq / zs.length);
  for (let oy = 0; oy < R.h; oy++)
    for (let ox = 0; ox < R.w; ox++)
      for (let k = 0; k < co; k++) {
        const Rk = at(R, oy, ox, k);
        const list = contribs(oy, ox, k);
        const z = zs[(oy * R.w + ox) * co + k]!;
        if (rule === '0' || rule === 'epsilon') {
          const d = z + (rule === 'epsilon' ? (z >= 0 ? eps : -eps) : 0);
          for (const e of list) out.v[e.j]! += (e.z / d) * Rk;
        } else {
          const zp = list.reduce((s, e) => s + Math.max(e.z, 0), 0);
          const zn = list.reduce((s, e) => s + Math.min(e.z, 0), 0);
          const [alpha, beta] = rule === 'alphabeta' ? [LRP_ALPHA, LRP_BETA] : [1, 0];
          for (const e of list) {
            if (zp > 0) out.v[e.j]! += ((alpha * Math.max(e.z, 0)) / zp) * Rk;
            if (beta > 0 && zn < 0) out.v[e.j]! -= ((beta * Math.min(e.z, 0)) / zn) * Rk;
          }
        }
      }
  return out;
}

/** Reference heatmap of one image and class, down to the input of layer `stop` (0 = pixels). */
function reference(enc: Encoder, ins: tf.Tensor4D[], feats: tf.Tensor4D, head: Float32Array, n: number, cls: number, stop: number, rules: (LrpLayerRule | null)[], pool: LrpPoolRule = 'winner'): Img {
  const A = imgOf(feats, n);
  // top: GAP + dense, LRP-0 without the bias: R = A ⊙ w_c / (h·w)
  let R: Img = { ...A, v: A.v.map((v, i) => (v * head[(i % A.c) * C + cls]!) / (A.h * A.w)) };
  for (let i = spec.layers.length - 1; i >= stop; i--) {
    const layer = spec.layers[i]!;
    const a = imgOf(ins[i]!, n);
    if (layer.type === 'conv') {
      const p = enc.conv(layer.name);
      R = refConv(a, R, p.kernel.dataSync() as Float32Array, p.bias.dataSync() as Float32Array, layer, rules[i]!);
    } else if (layer.type === 'maxpool') {
      const out: Img = { h: a.h, w: a.w, c: a.c, v: new Float64Array(a.v.length) };
      if (pool === 'proportional') {
        // R_j = (a_j⁺ + δ) / Σ_window (a⁺ + δ) · R_out, δ = 1e-6 × the image's mean a⁺ over the layer
        const delta = (a.v.reduce((s, v) => s + Math.max(v, 0), 0) / a.v.length) * 1e-6 + 1e-12;
        const share = (y: number, x: number, c: number) => Math.max(at(a, y, x, c), 0) + delta;
        for (let oy = 0; oy < R.h; oy++)
          for (let ox = 0; ox < R.w; ox++)
            for (let c = 0; c < a.c; c++) {
              let total = 0;
              for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) total += share(oy * 2 + dy, ox * 2 + dx, c);
              for (let dy = 0; dy < 2; dy++)
                for (let dx = 0; dx < 2; dx++) out.v[((oy * 2 + dy) * a.w + ox * 2 + dx) * a.c + c] = (share(oy * 2 + dy, ox * 2 + dx, c) / total) * at(R, oy, ox, c);
            }
        R = out;
        continue;
      }
      for (let oy = 0; oy < R.h; oy++)
        for (let ox = 0; ox < R.w; ox++)
          for (let c = 0; c < a.c; c++) {
            let by = 0, bx = 0;
            for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) if (at(a, oy * 2 + dy, ox * 2 + dx, c) > at(a, oy * 2 + by, ox * 2 + bx, c)) [by, bx] = [dy, dx];
            out.v[((oy * 2 + by) * a.w + ox * 2 + bx) * a.c + c] = at(R, oy, ox, c);
          }
      R = out;
    } // activations: relevance passes unchanged
  }
  const heat = new Float64Array(R.h * R.w);
  for (let p = 0; p < heat.length; p++) for (let c = 0; c < R.c; c++) heat[p]! += R.v[p * R.c + c]!;
  return { h: R.h, w: R.w, c: 1, v: heat };
}

function setup(seed: number, zeroBias: string[]) {
  const enc = new Encoder(spec, seed);
  for (const [name, p] of enc.convs) p.bias.assign(zeroBias.includes(name) ? tf.zeros(p.bias.shape) : tf.randomUniform(p.bias.shape, -0.2, 0.2, 'float32', seed + name.length));
  const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', seed + 1) as tf.Tensor4D;
  const head = tf.randomNormal([6, C], 0, 1, 'float32', seed + 2) as tf.Tensor2D;
  return { enc, x, head };
}

describe('LRP rules: the tied decoder equals a per-layer reference', () => {
  it('assigns rules to thirds of the traversed conv layers', () => {
    expect(layerRules(spec.layers, 0, 'composite')).toEqual(['zplus', null, null, 'epsilon', null, '0', null]);
    expect(layerRules(spec.layers, 0, 'epsilon')).toEqual(['epsilon', null, null, 'epsilon', null, 'epsilon', null]);
    expect(layerRules(spec.layers, 0, 'alphabeta')).toEqual(['alphabeta', null, null, '0', null, '0', null]);
    expect(layerRules(spec.layers, 2, 'zplus')).toEqual([null, null, null, 'zplus', null, '0', null]);
    expect(layerRules(spec.layers, 0, 'lrp0')).toEqual(['0', null, null, '0', null, '0', null]);
  });

  const cases: Array<{ rule: LrpRuleName; stop: number; zeroBias: string[]; pool?: LrpPoolRule }> = [
    { rule: 'epsilon', stop: 0, zeroBias: [] },
    { rule: 'zplus', stop: 0, zeroBias: ['c2', 'c3'] }, // z+ on the image (inputs ≥ 0)
    { rule: 'zplus', stop: 2, zeroBias: ['c3'] }, // z+ on leaky-ReLU outputs (inputs of both signs)
    { rule: 'alphabeta', stop: 0, zeroBias: ['c2', 'c3'] },
    { rule: 'alphabeta', stop: 2, zeroBias: ['c3'] },
    { rule: 'composite', stop: 0, zeroBias: ['c3'] },
    { rule: 'composite', stop: 2, zeroBias: [] },
    // the proportional max-pool: below it the decoder carries relevance (LRP-0 with biases)
    { rule: 'lrp0', stop: 0, zeroBias: ['c2', 'c3'], pool: 'proportional' },
    { rule: 'lrp0', stop: 2, zeroBias: ['c2', 'c3'], pool: 'proportional' },
    { rule: 'composite', stop: 0, zeroBias: ['c3'], pool: 'proportional' },
  ];
  // LRP-0 layers above the first other rule run in gate form (Gradient×Input, a bias keeps no
  // relevance); the reference's LRP-0 equals that when those layers' biases are 0.
  for (const { rule, stop, zeroBias, pool } of cases) {
    it(`${rule}${pool ? ` with the ${pool} max-pool` : ''}, decoded down to layer ${stop}`, () => {
      const { enc, x, head } = setup(11 + stop, zeroBias);
      const trace = enc.forward(x, { gates: true });
      const dc = tf.tensor2d([0, 2, 1, -1], [2, 2], 'int32');
      const stopArg = stop > 0 ? { layer: stop, activation: trace.layerInputs[stop]! } : undefined;
      const heat = lrpDecode(enc, { ...trace, featureShape: trace.features.shape }, head, dc, stopArg, rule, pool);
      const rules = layerRules(spec.layers, stop, rule);
      const [, hh, ww] = heat.shape;
      const got = heat.dataSync();
      const headW = head.dataSync() as Float32Array;
      let maxAbs = 0, maxErr = 0;
      for (const [n, slot, cls] of [[0, 0, 0], [0, 1, 2], [1, 0, 1]] as const) {
        const ref = reference(enc, trace.layerInputs, trace.features, headW, n, cls, stop, rules, pool);
        expect([ref.h, ref.w]).toEqual([hh, ww]);
        for (let p = 0; p < ref.v.length; p++) {
          maxAbs = Math.max(maxAbs, Math.abs(ref.v[p]!));
          maxErr = Math.max(maxErr, Math.abs(ref.v[p]! - got[(n * hh * ww + p) * 2 + slot]!));
        }
      }
      expect(maxAbs).toBeGreaterThan(1e-4);
      expect(maxErr / maxAbs).toBeLessThan(1e-4);
      // padding slot decodes to zeros
      for (let p = 0; p < hh * ww; p++) expect(got[(hh * ww + p) * 2 + 1]).toBe(0);
      enc.dispose();
    });
  }

  it('z+ and the gate-form layers above it conserve relevance (bias-free): the heatmap sums to the logit', () => {
    const { enc, x, head } = setup(5, ['c1', 'c2', 'c3']);
    const trace = enc.forward(x, { gates: true });
    const dc = tf.tensor2d([0, 1], [2, 1], 'int32');
    const sums = lrpDecode(enc, { ...trace, featureShape: trace.features.shape }, head, dc, undefined, 'zplus').sum([1, 2, 3]).dataSync();
    const logits = trace.features.mean([1, 2]).matMul(head).dataSync(); // [2, C], no head bias
    expect(sums[0]).toBeCloseTo(logits[0 * C + 0]!, 4);
    expect(sums[1]).toBeCloseTo(logits[1 * C + 1]!, 4);
    // ε absorbs relevance: the same net under 'epsilon' does not conserve it
    const eps = lrpDecode(enc, { ...trace, featureShape: trace.features.shape }, head, dc, undefined, 'epsilon').sum([1, 2, 3]).dataSync();
    expect(Math.abs(eps[0]! - logits[0]!)).toBeGreaterThan(1e-3);
    enc.dispose();
  });

  it('the proportional max-pool spreads a window\'s relevance over its active inputs and keeps the window\'s total', () => {
    const { enc, x, head } = setup(7, ['c2', 'c3']);
    const trace = enc.forward(x, { gates: true });
    const dc = tf.tensor2d([0, 2, 1, 0], [2, 2], 'int32');
    const stopArg = { layer: 2, activation: trace.layerInputs[2]! };
    const decode = (pool: LrpPoolRule) => lrpDecode(enc, { ...trace, featureShape: trace.features.shape }, head, dc, stopArg, 'lrp0', pool);
    const winner = decode('winner');
    const prop = decode('proportional');
    const windowSum = (t: tf.Tensor4D) => tf.avgPool(t, 2, 2, 'valid').mul(4);
    const [wSum, pSum] = [windowSum(winner).dataSync(), windowSum(prop).dataSync()];
    const scale = Math.max(...Array.from(wSum, Math.abs));
    expect(scale).toBeGreaterThan(1e-4);
    for (let i = 0; i < wSum.length; i++) expect(Math.abs(pSum[i]! - wSum[i]!)).toBeLessThan(1e-4 * scale);
    // winner-take-all leaves at least 3 of 4 pixels of a window without relevance in a 4-channel layer far more often
    const zeros = (t: tf.Tensor4D) => Array.from(t.dataSync()).filter((v) => v === 0).length;
    expect(zeros(prop)).toBeLessThan(zeros(winner));
    enc.dispose();
  });
});


describe('padded decode lists: the decoder runs on the real (image, class) pairs only', () => {
  // Padding slots make lrpDecode pack the real pairs (per-image factors gathered to them, heatmaps
  // scattered back); a list without padding runs the N·K slots with broadcasts. A heatmap loss
  // that ignores the padded slot must have the same value and weight gradients either way.
  const cases: Array<{ rule: LrpRuleName; stop: number; pool: LrpPoolRule }> = [
    { rule: 'lrp0', stop: 0, pool: 'winner' },
    { rule: 'lrp0', stop: 2, pool: 'winner' },
    { rule: 'composite', stop: 0, pool: 'winner' },
    { rule: 'alphabeta', stop: 2, pool: 'proportional' },
  ];
  it('a list of padding only decodes to zeros of the stop\'s size', () => {
    const { enc, x, head } = setup(29, []);
    const trace = enc.forward(x, { gates: true });
    const decode = (list: number[]) => lrpDecode(enc, { ...trace, featureShape: trace.features.shape }, head, tf.tensor2d(list, [2, 2], 'int32'), { layer: 2, activation: trace.layerInputs[2]! });
    const heat = decode([-1, -1, -1, -1]);
    expect(heat.shape).toEqual(decode([0, 1, 2, 0]).shape);
    expect(heat.abs().max().dataSync()[0]).toBe(0);
    enc.dispose();
  });

  for (const { rule, stop, pool } of cases) {
    it(`${rule}, ${pool} max-pool, down to layer ${stop}: packed = unpacked, values and gradients`, () => {
      const { enc, x, head } = setup(23 + stop, []);
      const headVar = tf.variable(head);
      const vars = [...Object.values(enc.namedVariables()), headVar];
      // image 0 decodes 3 classes, image 1 one (two padded slots); the unpadded list fills them with class 0
      const padded = tf.tensor2d([0, 2, 1, 1, -1, -1], [2, 3], 'int32');
      const filled = tf.tensor2d([0, 2, 1, 1, 0, 0], [2, 3], 'int32');
      const run = (dc: tf.Tensor2D) =>
        tf.variableGrads(() => {
          const trace = enc.forward(x, { gates: true });
          const stopArg = stop > 0 ? { layer: stop, activation: trace.layerInputs[stop]! } : undefined;
          const heat = lrpDecode(enc, { ...trace, featureShape: trace.features.shape }, headVar, dc, stopArg, rule, pool);
          const [, h, w] = heat.shape;
          // a fixed random weighting of the real slots, zero on image 1's slots 1-2
          const r = tf.randomNormal([2, h, w, 3], 0, 1, 'float32', 5).mul(tf.tensor4d([1, 1, 1, 1, 0, 0], [2, 1, 1, 3]));
          return heat.mul(r).sum() as tf.Scalar;
        }, vars);
      const heatOf = (dc: tf.Tensor2D) => {
        const trace = enc.forward(x, { gates: true });
        const stopArg = stop > 0 ? { layer: stop, activation: trace.layerInputs[stop]! } : undefined;
        return lrpDecode(enc, { ...trace, featureShape: trace.features.shape }, headVar, dc, stopArg, rule, pool);
      };
      const hp = heatOf(padded).dataSync();
      const hf = heatOf(filled).dataSync();
      let maxAbs = 0;
      for (let i = 0; i < hp.length; i++) {
        const slot = i % 3;
        const image = i < hp.length / 2 ? 0 : 1;
        if (image === 1 && slot > 0) expect(hp[i]).toBe(0);
        else {
          maxAbs = Math.max(maxAbs, Math.abs(hf[i]!));
          expect(Math.abs(hp[i]! - hf[i]!)).toBeLessThan(1e-5 * Math.max(1e-3, Math.abs(hf[i]!)) + 1e-7);
        }
      }
      expect(maxAbs).toBeGreaterThan(1e-4);
      const a = run(padded);
      const b = run(filled);
      expect(Math.abs(a.value.dataSync()[0]! - b.value.dataSync()[0]!)).toBeLessThan(1e-5 * Math.abs(b.value.dataSync()[0]!));
      expect(Object.keys(a.grads).sort()).toEqual(Object.keys(b.grads).sort());
      expect(a.grads[headVar.name]).toBeDefined();
      for (const v of vars) {
        if (!b.grads[v.name]) continue; // no gradient either way (a bias in gate form)
        const ga = a.grads[v.name]!.dataSync();
        const gb = b.grads[v.name]!.dataSync();
        const scale = Math.max(...Array.from(gb, Math.abs));
        expect(scale, v.name).toBeGreaterThan(0);
        for (let i = 0; i < ga.length; i++) expect(Math.abs(ga[i]! - gb[i]!), v.name).toBeLessThan(1e-4 * scale);
      }
      enc.dispose();
      headVar.dispose();
    });
  }
});
