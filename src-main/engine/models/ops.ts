/**
 * Small differentiable building blocks shared by the encoders and decoders. Everything here has
 * a first-order gradient on every backend; the kernels with broken or missing gradients in
 * tfjs 4.22 (cpu ResizeNearestNeighborGrad, wasm MaxPoolGrad after leaky ReLU, wasm
 * UnsortedSegmentSum for gather) are avoided on purpose.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradSaveFunc } from '@tensorflow/tfjs';

/**
 * Runs `f` without recording it on the gradient tape, i.e. a stop-gradient: the result is a
 * constant for any enclosing tf.grad / variableGrads. A customGrad with no inputs is a tape node
 * that no variable reaches, and the kernels inside its forward function are not taped at all, so
 * (unlike a zero-gradient op such as step) no zeros are back-propagated through the encoder.
 */
export function noGrad<T extends tf.Tensor>(f: () => T): T {
  return tf.customGrad((..._inputs: Array<tf.Tensor | GradSaveFunc>) => ({ value: f(), gradFunc: (): tf.Tensor[] => [] }))();
}

/**
 * Leaky ReLU's gradient as `dy · step(x, α)` (step: 1 where x > 0, else α), replacing tfjs 4.22's
 * `where(x > 0, dy, dy · α)`: the same numbers bit for bit (dy · 1 and dy · α either way), in two
 * fast elementwise kernels instead of three, of which Greater against a broadcast scalar and
 * Select are slow on wasm (~100 ms of a 550-ms darknet-tiny LRP step at 128 px, batch 8). Global
 * (tfjs keeps one gradient table); registered by initBackend before any model is built.
 */
export const leakyReluGradConfig: tf.GradConfig = {
  kernelName: 'LeakyRelu',
  inputsToSave: ['x'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const x = saved[0]!;
    const alpha = (attrs as unknown as { alpha: number }).alpha;
    return { x: () => tf.mul(dy as tf.Tensor, tf.step(x, alpha)) };
  },
};

export function registerModelGradients(): void {
  tf.registerGradient(leakyReluGradConfig);
}

/**
 * Nearest-neighbour ×(kh, kw) upsampling. Forward by tf.image.resizeNearestNeighbor (one kernel;
 * ~5× faster on wasm than the concatenated copies used before), gradient as a k×k sum pool
 * (avgPool · kh·kw, one fast pooling kernel) instead of resizeNearestNeighbor's own gradient,
 * which is wrong on the cpu backend.
 */
export function upsampleNearest(x: tf.Tensor4D, kh: number, kw: number = kh): tf.Tensor4D {
  if (kh === 1 && kw === 1) return x;
  const op = tf.customGrad((t: tf.Tensor | GradSaveFunc) => ({
    value: repeatPixels(t as tf.Tensor4D, kh, kw),
    gradFunc: (dy: tf.Tensor4D) => tf.avgPool(dy, [kh, kw], [kh, kw], 'valid').mul(kh * kw),
  }));
  return op(x) as tf.Tensor4D;
}

function repeatPixels(x: tf.Tensor4D, kh: number, kw: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  // integer factors: source index floor(dst / k) on every backend (alignCorners and half-pixel centres off)
  return tf.image.resizeNearestNeighbor(x, [h * kh, w * kw], false, false);
}

/**
 * Max-pool switch mask (1 at the position that wins each non-overlapping kh×kw window, else 0),
 * computed as METHOD.md says, `1 - step(upsample(maxPool(a)) - a)`, then de-duplicated: when
 * several positions tie for a window's maximum only the first in row-major order keeps the 1 (the
 * position tf's cpu MaxPoolGrad routes to), so relevance is never routed twice. The tie-break is a
 * second max-pool over `atMax · priority`, priority falling in row-major order within the window:
 * pooling and elementwise kernels only, ~10× faster on wasm than strided slicing.
 * Not differentiable by design; call inside `noGrad`.
 */
export function switchMask(a: tf.Tensor4D, kh: number, kw: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, hIn, wIn] = a.shape;
    const pooled = tf.maxPool(a, [kh, kw], [kh, kw], 'valid');
    const atMax = tf.scalar(1).sub(tf.step(upsampleNearest(pooled, kh, kw).sub(a)));
    if (kh * kw === 1) return atMax as tf.Tensor4D;
    const priority = new Float32Array(hIn * wIn);
    for (let y = 0; y < hIn; y++) {
      for (let x = 0; x < wIn; x++) priority[y * wIn + x] = kh * kw - ((y % kh) * kw + (x % kw));
    }
    const score = atMax.mul(tf.tensor4d(priority, [1, hIn, wIn, 1])) as tf.Tensor4D;
    const best = tf.maxPool(score, [kh, kw], [kh, kw], 'valid');
    return tf.scalar(1).sub(tf.step(upsampleNearest(best, kh, kw).sub(score))) as tf.Tensor4D;
  });
}

/**
 * Max-pool whose gradient is `mask ⊙ upsample(dy)` with the given switch mask: the same routing
 * the LRP decoder uses, correct on every backend (wasm's MaxPoolGrad misroutes windows whose max
 * is ≤ 0) and cheaper than the naive MaxPoolGrad kernels.
 */
export function maxPoolSwitched(a: tf.Tensor4D, mask: tf.Tensor4D, kh: number, kw: number): tf.Tensor4D {
  const op = tf.customGrad((x: tf.Tensor | GradSaveFunc, save: tf.Tensor | GradSaveFunc) => {
    (save as GradSaveFunc)([mask]);
    return {
      value: tf.maxPool(x as tf.Tensor4D, [kh, kw], [kh, kw], 'valid'),
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => (saved[0] as tf.Tensor4D).mul(upsampleNearest(dy, kh, kw)),
    };
  });
  return op(a) as tf.Tensor4D;
}

/**
 * maxPoolSwitched without the mask up front: the switch mask is made from the saved input only if
 * the gradient is asked for (the same mask, the same gradient). For passes that are often never
 * differentiated — inference, tag-only and feature passes — where the mask was ~2 pools, 2
 * upsamplings and 5 elementwise kernels per pooling layer of pure waste.
 */
export function maxPoolLazySwitched(a: tf.Tensor4D, kh: number, kw: number): tf.Tensor4D {
  const op = tf.customGrad((x: tf.Tensor | GradSaveFunc, save: tf.Tensor | GradSaveFunc) => {
    (save as GradSaveFunc)([x as tf.Tensor4D]);
    return {
      value: tf.maxPool(x as tf.Tensor4D, [kh, kw], [kh, kw], 'valid'),
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => switchMask(saved[0] as tf.Tensor4D, kh, kw).mul(upsampleNearest(dy, kh, kw)),
    };
  });
  return op(a) as tf.Tensor4D;
}

/**
 * [outSize, inSize] linear-interpolation matrix with half-pixel centres (TF2 / PyTorch
 * align_corners=False), edges clamped: the 1-D factor of bilinear resizing.
 */
export function bilinearMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), inSize - 1);
    const i0 = Math.floor(src);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const frac = src - i0;
    m[o * inSize + i0] = (m[o * inSize + i0] ?? 0) + (1 - frac);
    m[o * inSize + i1] = (m[o * inSize + i1] ?? 0) + frac;
  }
  return m;
}

/**
 * Bilinear resize as two matrix products. tf.image.resizeBilinear's gradient kernels ignore
 * halfPixelCenters, so a matmul formulation is the one whose gradient provably matches its forward.
 */
export function resizeBilinearLinear(x: tf.Tensor4D, outH: number, outW: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const ry = tf.tensor2d(bilinearMatrix(h, outH), [outH, h]);
    const rx = tf.tensor2d(bilinearMatrix(w, outW), [outW, w]);
    const alongH = tf
      .matMul(ry, x.transpose([1, 0, 2, 3]).reshape([h, n * w * c]))
      .reshape([outH, n, w, c])
      .transpose([2, 1, 0, 3]); // [w, n, outH, c]
    return tf
      .matMul(rx, alongH.reshape([w, n * outH * c]))
      .reshape([outW, n, outH, c])
      .transpose([1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * Rows of `kernel`'s columns picked per (image, slot): [N·K, Cf] = onehot(classes) · kernelᵀ, where
 * kernel is the [Cf, C] dense kernel. Slots with class -1 give zero rows. A one-hot matmul rather
 * than gather because gather's gradient kernel is missing on wasm.
 */
export function classColumns(kernel: tf.Tensor2D, decodeClasses: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const classes = kernel.shape[1];
    const idx = decodeClasses.dtype === 'int32' ? decodeClasses : decodeClasses.toInt();
    const oneHot = tf.oneHot(idx.reshape([-1]) as tf.Tensor1D, classes).toFloat() as tf.Tensor2D;
    return tf.matMul(oneHot, kernel, false, true);
  });
}

/** Deterministic normal initialiser scaled for the fan-in (He for ReLU, with leaky-ReLU gain). */
export function heNormal(shape: number[], fanIn: number, seed: number, alpha = 0): tf.Tensor {
  const std = Math.sqrt(2 / ((1 + alpha * alpha) * fanIn));
  return tf.randomNormal(shape, 0, std, 'float32', seed);
}

/** Glorot-uniform initialiser, for layers not followed by a rectifier (heads, output convs). */
export function glorotUniform(shape: number[], fanIn: number, fanOut: number, seed: number): tf.Tensor {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return tf.randomUniform(shape, -limit, limit, 'float32', seed);
}
