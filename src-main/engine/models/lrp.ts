/**
 * The tied-weight LRP-0 decoder of METHOD.md in gate form: the classifier run backwards with the
 * very same conv Variables (conv2dTranspose), gated by the encoder's stored activation gates and
 * max-pool switches, ending in `heat_c = Σ_rgb x0 ⊙ t` at input resolution. For ReLU / leaky-ReLU
 * nets this equals Gradient×Input of the logit y_c, but it is built explicitly so that training on
 * heatmaps needs first-order gradients only.
 */
import * as tf from '@tensorflow/tfjs';
import type { Encoder, EncoderTrace, Shape4 } from './encoder.js';
import type { EncoderLayer, LrpPoolRule, LrpRuleName } from './types.js';
import { classColumns, noGrad, upsampleNearest } from './ops.js';

/**
 * What the decoder needs from the forward pass; the constants may come from anywhere (tests feed
 * their own). `layerInputs` (the tensor entering every layer) and `features` are needed only by
 * rules other than LRP-0.
 */
export type LrpTrace = Pick<EncoderTrace, 'input' | 'inputShapes' | 'constants'> & {
  featureShape: Shape4;
  layerInputs?: tf.Tensor4D[];
  features?: tf.Tensor4D;
};

/**
 * The rule of one conv layer. With contributions z_jk = a_j·w_jk of input j to output k (bias b_k)
 * and the relevance R_k of output k:
 * - '0' (LRP-0): R_j = Σ_k z_jk / z_k · R_k, z_k = Σ_j z_jk + b_k. Above the first non-0 layer this
 *   runs in gate form (Gradient×Input: a bias keeps no relevance);
 * - 'epsilon': R_j = Σ_k z_jk / (z_k + ε·sign(z_k)) · R_k, ε = LRP_EPSILON × RMS of z over the image's layer;
 * - 'zplus' (= αβ with α = 1, β = 0): R_j = Σ_k (z_jk)⁺ / Σ_j (z_jk)⁺ · R_k, positive parts of
 *   the contributions only, bias ignored (for inputs of either sign: (a·w)⁺ = a⁺w⁺ + a⁻w⁻);
 * - 'alphabeta': R_j = Σ_k (α (z_jk)⁺ / Σ_j (z_jk)⁺ − β (z_jk)⁻ / Σ_j (z_jk)⁻) · R_k, α = 2, β = 1.
 * All of them are conv2dTranspose with the very same (tied) filter Variable, or its positive /
 * negative part relu(W) / W − relu(W); denominators are constants for the gradient, like gates.
 * Activations pass relevance unchanged. Max-pools (LrpPoolRule): 'winner' routes a window's relevance
 * to its largest input (the switch mask, as the gradient does); 'proportional' shares it among the
 * window's inputs j in proportion to a_j⁺ + δ (R_j = (a_j⁺ + δ) / Σ_window (a⁺ + δ) · R_out, δ = 1e-6 ×
 * the layer's mean a⁺: an all-negative window spreads evenly), the pool treated as a sum-pool under
 * z+ — relevance reaches every active pixel of the window, not one in four.
 */
export type LrpLayerRule = '0' | 'epsilon' | 'zplus' | 'alphabeta';
/**
 * Named rule sets over the conv layers the decoder traverses (above the stop), split into thirds
 * from the bottom (lower third rounded up, top third rounded down):
 * 'lrp0' everywhere LRP-0 (Gradient×Input); 'epsilon' everywhere ε; 'zplus' / 'alphabeta' that rule
 * in the lower third, LRP-0 above; 'composite' z+ lower, ε middle, LRP-0 top (Montavon et al. 2019).
 */
export { DEFAULT_LRP_POOL, DEFAULT_LRP_RULE, DEFAULT_LRP_TOP_RELEVANCE, LRP_POOL_RULES, LRP_RULES, type LrpPoolRule, type LrpRuleName } from './types.js';
export const LRP_EPSILON = 0.25;
export const LRP_ALPHA = 2;
export const LRP_BETA = 1;

/** The rule of every layer (null for non-conv layers and layers below `stopLayer`). */
export function layerRules(layers: EncoderLayer[], stopLayer: number, rule: LrpRuleName): (LrpLayerRule | null)[] {
  const convs = layers.flatMap((l, i) => (l.type === 'conv' && i >= stopLayer ? [i] : []));
  const n = convs.length;
  const nLow = Math.ceil(n / 3);
  const nTop = Math.floor(n / 3);
  const out: (LrpLayerRule | null)[] = layers.map(() => null);
  convs.forEach((i, rank) => {
    const part = rank < nLow ? 'low' : rank >= n - nTop ? 'top' : 'mid';
    out[i] =
      rule === 'lrp0' ? '0'
      : rule === 'epsilon' ? 'epsilon'
      : rule === 'composite' ? (part === 'low' ? 'zplus' : part === 'mid' ? 'epsilon' : '0')
      : part === 'low' ? rule
      : '0';
  });
  return out;
}

/** Whether the input of layer i is ≥ 0 by construction (the image, or after a ReLU through pools / padding). */
function nonNegativeInput(layers: EncoderLayer[], i: number): boolean {
  for (let j = i - 1; j >= 0; j--) {
    const t = layers[j]!.type;
    if (t === 'maxpool' || t === 'pad') continue;
    return t === 'relu';
  }
  return true; // the image, RGB / 255
}

/**
 * The (image, class) pairs the decoder runs: every slot of `decodeClasses` that is not padding.
 * Decode lists are padded to the batch's longest (on MSRC's tags a batch of 4 has ~1.5 slots per
 * real pair), and a padded slot's heatmap is zero whatever it costs, so with padding the decoder
 * runs on the P real pairs only ("packed": per-image factors are gathered to the pairs, the
 * heatmaps scattered back to [N, H, W, K] with zeros in the padded slots); without padding it runs
 * on the N·K slots with per-image factors broadcast, as it always did.
 */
interface DecodePairs {
  /** Number of decoder passes: N·K, or the real pairs when packed. */
  p: number;
  /** Packed: [P] class index of each pair; image of each pair; [N·K] pair of each slot (P = padding). */
  packed: { classes: tf.Tensor2D; imageOf: tf.Tensor1D; slotPair: tf.Tensor1D } | null;
}

function decodePairs(decodeClasses: tf.Tensor2D): DecodePairs {
  const [n, k] = decodeClasses.shape;
  let dc: ArrayLike<number>;
  try {
    // decode lists are made on the CPU (trainer, infer.ts); a list only on a GPU that cannot be
    // read synchronously (webgpu in Node) runs unpacked: padded slots decode to zeros either way
    dc = decodeClasses.dataSync();
  } catch {
    return { p: n * k, packed: null };
  }
  const classes: number[] = [];
  const imageOf: number[] = [];
  const slotPair = new Int32Array(n * k);
  for (let s = 0; s < n * k; s++) {
    if (dc[s]! >= 0) {
      slotPair[s] = classes.length;
      classes.push(dc[s]!);
      imageOf.push(Math.floor(s / k));
    } else slotPair[s] = -1;
  }
  const p = classes.length;
  if (p === n * k) return { p, packed: null };
  for (let s = 0; s < n * k; s++) if (slotPair[s]! < 0) slotPair[s] = p;
  return {
    p,
    packed: { classes: tf.tensor2d(classes, [p, 1], 'int32'), imageOf: tf.tensor1d(imageOf, 'int32'), slotPair: tf.tensor1d(slotPair, 'int32') },
  };
}

/**
 * Heatmaps [N, H, W, K] of the classes in `decodeClasses` ([N, K] int32, -1 = padding → zeros),
 * one decoder pass per (image, class) pair (DecodePairs). `headKernel` is the [Cf, C] dense kernel
 * of the GAP + dense head.
 */
/**
 * Where the decoder may stop above the input: at the input of a downsampling layer (layer index),
 * whose activation `a` gives the relevance `Σ_ch a ⊙ t` at that resolution: the same explanation read
 * off a coarser layer. (LRP-0 conserves relevance layer to layer only without biases; every folded-BN
 * conv has one, so the totals at two stop depths differ by the biases' share.)
 */
export interface LrpStop {
  layer: number;
  activation: tf.Tensor4D;
}

export function lrpDecode(
  encoder: Encoder,
  trace: LrpTrace,
  headKernel: tf.Tensor2D,
  decodeClasses: tf.Tensor2D,
  stop?: LrpStop,
  rule: LrpRuleName = 'lrp0',
  pool: LrpPoolRule = 'winner',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, k] = decodeClasses.shape;
    const [fn, fh, fw, fc] = trace.featureShape;
    if (fn !== n) throw new Error(`decodeClasses has ${n} rows for a batch of ${fn} images`);
    const layers = encoder.spec.layers;
    const { p, packed } = decodePairs(decodeClasses);
    if (p === 0) {
      // every slot is padding: zero heatmaps at the resolution the decoder would end at
      const [, hB, wB] = (stop?.activation ?? trace.input).shape;
      return tf.zeros([n, hB, wB, k]) as tf.Tensor4D;
    }
    // a per-image tensor [N, h, w, c] at each pair [P, h, w, c] (packed only)
    const atPairs = (y: tf.Tensor4D): tf.Tensor4D => tf.gather(y, packed!.imageOf, 0) as tf.Tensor4D;
    // [P, h, w] per pass -> [N, h, w, K] (packed: zeros in the padded slots)
    const toSlots = (x: tf.Tensor3D): tf.Tensor4D => {
      const [, h, w] = x.shape;
      const all = packed ? tf.gather(tf.concat([x, tf.zeros([1, h, w])]), packed.slotPair, 0) : x;
      return all.reshape([n, k, h, w]).transpose([0, 2, 3, 1]) as tf.Tensor4D;
    };

    // top: GAP + dense gives ∂y_c/∂A = w_c / (h·w) at every position of the last feature map
    let t: tf.Tensor4D = classColumns(headKernel, packed ? packed.classes : decodeClasses)
      .div(fh * fw)
      .reshape([p, 1, 1, fc]);
    // constant factors (gates, switch masks) waiting to be applied at their resolution, folded
    // together first so the N·K-sized relevance tensor is multiplied once per stage
    let pending = null as tf.Tensor4D | null;
    const flush = (target: Shape4): tf.Tensor4D => {
      const [, h, w, c] = target;
      if (packed) {
        let out: tf.Tensor4D;
        if (pending) out = t.mul(atPairs(pending));
        else if (t.shape[1] !== h || t.shape[2] !== w) out = t.mul(tf.ones([1, h, w, 1]));
        else return t;
        pending = null;
        return out;
      }
      const t5 = t.reshape([n, k, t.shape[1], t.shape[2], c]);
      let out: tf.Tensor;
      if (pending) out = t5.mul(pending.reshape([n, 1, h, w, c]));
      else if (t.shape[1] !== h || t.shape[2] !== w) out = t5.mul(tf.ones([1, 1, h, w, 1]));
      else return t;
      pending = null;
      return out.reshape([n * k, h, w, c]) as tf.Tensor4D;
    };

    const rules = layerRules(layers, stop?.layer ?? 0, rule);
    // Relevance [N·K, h, w, c] once the first layer with a rule other than gate-form LRP-0 is
    // reached (below it the decoder carries relevance, not gradients).
    let R: tf.Tensor4D | null = null;
    const perImage = (x: tf.Tensor4D, y: tf.Tensor4D, op: 'mul' | 'div'): tf.Tensor4D => {
      if (packed) return op === 'mul' ? x.mul(atPairs(y)) : x.div(atPairs(y));
      const [, h, w, c] = x.shape;
      const x5 = x.reshape([n, k, h, w, c]);
      const y5 = y.reshape([n, 1, h, w, c]);
      return (op === 'mul' ? x5.mul(y5) : x5.div(y5)).reshape([n * k, h, w, c]) as tf.Tensor4D;
    };
    const layerTensor = (i: number): tf.Tensor4D => {
      const t = i < layers.length ? trace.layerInputs?.[i] : trace.features;
      if (!t) throw new Error(`LRP rule '${rule}' needs the forward pass's layer inputs (trace.layerInputs / features)`);
      return t;
    };

    for (let i = layers.length - 1; i >= (stop?.layer ?? 0); i--) {
      const layer = layers[i]!;
      const inShape = trace.inputShapes[i]!;
      const outShape: Shape4 = trace.inputShapes[i + 1] ?? trace.featureShape;
      if (R || (layer.type === 'conv' && rules[i] !== '0') || (layer.type === 'maxpool' && pool === 'proportional')) {
        if (!R) {
          // From gate form to relevance at this conv's output z: R_z = z ⊙ ∂y/∂z (Gradient×Input at z).
          t = flush(outShape);
          R = perImage(t, layerTensor(i + 1), 'mul');
        }
        R = relevanceStep(encoder, layer, i, R, layerTensor(i), layerTensor(i + 1), rules[i] ?? '0', pool, nonNegativeInput(layers, i), trace, perImage, p);
        continue;
      }
      switch (layer.type) {
        case 'relu':
        case 'leaky': {
          const gate = requireConstant(trace, i, layer.name);
          const prev: tf.Tensor4D | null = pending;
          pending = prev ? noGrad(() => prev.mul(gate) as tf.Tensor4D) : gate;
          break;
        }
        case 'maxpool': {
          t = flush(outShape);
          t = upsampleNearest(t, layer.pool[0], layer.pool[1]);
          pending = requireConstant(trace, i, layer.name);
          break;
        }
        case 'conv': {
          t = flush(outShape);
          const kernel = encoder.conv(layer.name).kernel as tf.Tensor4D;
          t = tf.conv2dTranspose(t, kernel, [p, inShape[1], inShape[2], inShape[3]], layer.strides, layer.padding);
          break;
        }
        case 'pad': {
          t = flush(outShape);
          const [[top], [left]] = layer.pad;
          t = t.slice([0, top, left, 0], [p, inShape[1], inShape[2], inShape[3]]);
          break;
        }
      }
    }
    if (R) return toSlots(R.sum(-1) as tf.Tensor3D);
    t = flush(trace.inputShapes[stop?.layer ?? 0] ?? trace.featureShape);
    // heat = Σ_ch bottom ⊙ t per pass
    return toSlots(perImage(t, stop?.activation ?? trace.input, 'mul').sum(-1) as tf.Tensor3D);
  });
}

/** One layer going down in the relevance domain. */
function relevanceStep(
  encoder: Encoder,
  layer: EncoderLayer,
  i: number,
  R: tf.Tensor4D,
  input: tf.Tensor4D,
  output: tf.Tensor4D,
  rule: LrpLayerRule,
  pool: LrpPoolRule,
  nonNegative: boolean,
  trace: LrpTrace,
  perImage: (x: tf.Tensor4D, y: tf.Tensor4D, op: 'mul' | 'div') => tf.Tensor4D,
  nk: number,
): tf.Tensor4D {
  const inShape = trace.inputShapes[i]!;
  const outShapeNK: [number, number, number, number] = [nk, inShape[1], inShape[2], inShape[3]];
  switch (layer.type) {
    case 'relu':
    case 'leaky':
      return R; // relevance of the activation's output = of its input
    case 'maxpool': {
      const [kh, kw] = layer.pool;
      if (pool === 'proportional') {
        // shares (a⁺ + δ) carry the gradient like the activations of the other rules; the window sums are constants
        const pos = tf.relu(input) as tf.Tensor4D;
        const share = pos.add(noGrad(() => pos.mean([1, 2, 3], true).mul(1e-6).add(1e-12))) as tf.Tensor4D;
        const total = noGrad(() => tf.avgPool(share, [kh, kw], [kh, kw], 'valid').mul(kh * kw) as tf.Tensor4D);
        return perImage(upsampleNearest(perImage(R, total, 'div'), kh, kw), share, 'mul');
      }
      const mask = requireConstant(trace, i, layer.name);
      return perImage(upsampleNearest(R, kh, kw), mask, 'mul');
    }
    case 'pad': {
      const [[top], [left]] = layer.pad;
      return R.slice([0, top, left, 0], outShapeNK);
    }
    case 'conv': {
      const W = encoder.conv(layer.name).kernel as tf.Tensor4D;
      const convT = (s: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2dTranspose(s, w, outShapeNK, layer.strides, layer.padding);
      if (rule === '0' || rule === 'epsilon') {
        // z_k is the conv's own output (bias included); ε relative to the layer's RMS per image
        const denom = noGrad(() => {
          const z = output;
          const rms = z.square().mean([1, 2, 3], true).sqrt();
          const eps = rms.mul(rule === 'epsilon' ? LRP_EPSILON : 1e-9).add(1e-12);
          const sign = tf.step(z).mul(2).sub(1);
          return z.add(sign.mul(eps)) as tf.Tensor4D;
        });
        return perImage(convT(perImage(R, denom, 'div'), W), input, 'mul');
      }
      const alpha = rule === 'alphabeta' ? LRP_ALPHA : 1;
      const beta = rule === 'alphabeta' ? LRP_BETA : 0;
      const Wp = tf.relu(W) as tf.Tensor4D;
      const Wn = W.sub(Wp) as tf.Tensor4D;
      const ap = nonNegative ? input : (tf.relu(input) as tf.Tensor4D);
      const an = nonNegative ? null : (input.sub(ap) as tf.Tensor4D);
      const conv = (a: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(a, w, layer.strides, layer.padding);
      // Σ_j (a_j w_jk)⁺ and Σ_j (a_j w_jk)⁻ per image: constants for the gradient
      const zPos = noGrad(() => {
        const z = an ? conv(ap, Wp).add(conv(an, Wn)) : conv(ap, Wp);
        return z.add(z.mean([1, 2, 3], true).mul(1e-6).add(1e-12)) as tf.Tensor4D;
      });
      const sPos = perImage(R, zPos, 'div').mul(alpha) as tf.Tensor4D;
      let out = perImage(convT(sPos, Wp), ap, 'mul');
      if (an) out = out.add(perImage(convT(sPos, Wn), an, 'mul')) as tf.Tensor4D;
      if (beta > 0) {
        const zNeg = noGrad(() => {
          const z = an ? conv(ap, Wn).add(conv(an, Wp)) : conv(ap, Wn);
          return z.sub(z.mean([1, 2, 3], true).abs().mul(1e-6).add(1e-12)) as tf.Tensor4D;
        });
        const sNeg = perImage(R, zNeg, 'div').mul(beta) as tf.Tensor4D;
        out = out.sub(perImage(convT(sNeg, Wn), ap, 'mul')) as tf.Tensor4D;
        if (an) out = out.sub(perImage(convT(sNeg, Wp), an, 'mul')) as tf.Tensor4D;
      }
      return out;
    }
  }
}

function requireConstant(trace: LrpTrace, i: number, name: string): tf.Tensor4D {
  const c = trace.constants[i];
  if (!c) throw new Error(`LRP decoder: no gate / switch mask recorded for layer '${name}' (forward ran without gates?)`);
  return c;
}
