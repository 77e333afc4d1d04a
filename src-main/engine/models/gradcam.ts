/**
 * Differentiable Grad-CAM decoder: with a GAP + dense head, Grad-CAM of class c is
 * Σ_f w_cf A_f on the last feature map (a class-specific 1×1 conv), upsampled bilinearly to the
 * input size. No 1/(h·w) factor: the map's spatial mean is then the class logit minus its bias.
 *
 * ReLU is optional and off by default: it zeroes negative evidence, so wherever all decoded
 * classes are negative they tie at 0 and the pixel softmax there has no gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { classColumns, resizeBilinearLinear } from './ops.js';

/** [N, outH, outW, K] class activation maps for `decodeClasses` ([N, K], -1 = padding → zeros). */
export function gradcamDecode(
  features: tf.Tensor4D,
  headKernel: tf.Tensor2D,
  decodeClasses: tf.Tensor2D,
  outH: number,
  outW: number,
  relu: boolean,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = features.shape;
    const k = decodeClasses.shape[1];
    if (decodeClasses.shape[0] !== n) throw new Error(`decodeClasses has ${decodeClasses.shape[0]} rows for a batch of ${n} images`);
    const weights = classColumns(headKernel, decodeClasses).reshape([n, k, c]);
    let cam: tf.Tensor = tf.matMul(features.reshape([n, h * w, c]), weights, false, true).reshape([n, h, w, k]);
    if (relu) cam = tf.relu(cam);
    return resizeBilinearLinear(cam as tf.Tensor4D, outH, outW);
  });
}
