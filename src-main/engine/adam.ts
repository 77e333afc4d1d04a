import * as tf from '@tensorflow/tfjs';

/**
 * Adam with the epsilon stated: tfjs' default is the backend's (1e-7 on cpu/wasm/webgpu, but 1e-4
 * on WebGL — tfjs#6980), so the same run must not train differently on another backend.
 */
export const ADAM_EPSILON = 1e-7;
export function adam(lr: number): tf.AdamOptimizer {
  return tf.train.adam(lr, 0.9, 0.999, ADAM_EPSILON);
}
