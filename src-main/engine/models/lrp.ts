/**
 * The tied-weight LRP-0 decoder of METHOD.md in gate form: the classifier run backwards with the
 * very same conv Variables (conv2dTranspose), gated by the encoder's stored activation gates and
 * max-pool switches, ending in `heat_c = Σ_rgb x0 ⊙ t` at input resolution. For ReLU / leaky-ReLU
 * nets this equals Gradient×Input of the logit y_c, but it is built explicitly so that training on
 * heatmaps needs first-order gradients only.
 */
import * as tf from '@tensorflow/tfjs';
import type { Encoder, EncoderTrace, Shape4 } from './encoder.js';
import { classColumns, noGrad, upsampleNearest } from './ops.js';

/** What the decoder needs from the forward pass; the constants may come from anywhere (tests feed their own). */
export type LrpTrace = Pick<EncoderTrace, 'input' | 'inputShapes' | 'constants'> & { featureShape: Shape4 };

/**
 * Heatmaps [N, H, W, K] of the classes in `decodeClasses` ([N, K] int32, -1 = padding → zeros),
 * batched as N·K decoder passes. `headKernel` is the [Cf, C] dense kernel of the GAP + dense head.
 */
/**
 * Where the decoder may stop above the input: at the input of a downsampling layer (layer index),
 * whose activation `a` gives the relevance `Σ_ch a ⊙ t` at that resolution (LRP-0 relevance is
 * conserved layer to layer, so this is the same explanation read off a coarser layer).
 */
export interface LrpStop {
  layer: number;
  activation: tf.Tensor4D;
}

export function lrpDecode(encoder: Encoder, trace: LrpTrace, headKernel: tf.Tensor2D, decodeClasses: tf.Tensor2D, stop?: LrpStop): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, k] = decodeClasses.shape;
    const [fn, fh, fw, fc] = trace.featureShape;
    if (fn !== n) throw new Error(`decodeClasses has ${n} rows for a batch of ${fn} images`);
    const layers = encoder.spec.layers;

    // top: GAP + dense gives ∂y_c/∂A = w_c / (h·w) at every position of the last feature map
    let t: tf.Tensor4D = classColumns(headKernel, decodeClasses)
      .div(fh * fw)
      .reshape([n * k, 1, 1, fc]);
    // constant factors (gates, switch masks) waiting to be applied at their resolution, folded
    // together first so the N·K-sized relevance tensor is multiplied once per stage
    let pending = null as tf.Tensor4D | null;
    const flush = (target: Shape4): tf.Tensor4D => {
      const [, h, w, c] = target;
      const t5 = t.reshape([n, k, t.shape[1], t.shape[2], c]);
      let out: tf.Tensor;
      if (pending) out = t5.mul(pending.reshape([n, 1, h, w, c]));
      else if (t.shape[1] !== h || t.shape[2] !== w) out = t5.mul(tf.ones([1, 1, h, w, 1]));
      else return t;
      pending = null;
      return out.reshape([n * k, h, w, c]) as tf.Tensor4D;
    };

    for (let i = layers.length - 1; i >= (stop?.layer ?? 0); i--) {
      const layer = layers[i]!;
      const inShape = trace.inputShapes[i]!;
      const outShape: Shape4 = trace.inputShapes[i + 1] ?? trace.featureShape;
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
          t = tf.conv2dTranspose(t, kernel, [n * k, inShape[1], inShape[2], inShape[3]], layer.strides, layer.padding);
          break;
        }
        case 'pad': {
          t = flush(outShape);
          const [[top], [left]] = layer.pad;
          t = t.slice([0, top, left, 0], [n * k, inShape[1], inShape[2], inShape[3]]);
          break;
        }
      }
    }
    t = flush(trace.inputShapes[stop?.layer ?? 0] ?? trace.featureShape);

    const bottom = stop?.activation ?? trace.input;
    const [, hIn, wIn, cIn] = bottom.shape;
    const heat = bottom
      .reshape([n, 1, hIn, wIn, cIn])
      .mul(t.reshape([n, k, hIn, wIn, cIn]))
      .sum(-1); // [N, K, H, W]
    return heat.transpose([0, 2, 3, 1]) as tf.Tensor4D;
  });
}

function requireConstant(trace: LrpTrace, i: number, name: string): tf.Tensor4D {
  const c = trace.constants[i];
  if (!c) throw new Error(`LRP decoder: no gate / switch mask recorded for layer '${name}' (forward ran without gates?)`);
  return c;
}
