/**
 * From per-class logits at the model's resolution to a mask at the original image size, without
 * ever holding float maps at that size: each output pixel's K logits are interpolated bilinearly
 * (half-pixel centres, clamped edges — the arithmetic of tf.image.resizeBilinear(x, size, false,
 * true)), then softmax and argmax run on those K numbers and only bytes are kept (the winning
 * channel and its probability × 255). A 4096 × 4096 photo costs 32 MB of output, not gigabytes of
 * float32 logits and probabilities. Pure (no TF.js): infer.ts and the onnxruntime path share it.
 */

export interface Upsampled {
  /** Winning channel (0..K-1) per output pixel, row-major [H·W]. */
  index: Uint8Array;
  /** The winning channel's softmax probability × 255, rounded, per output pixel. */
  confidence: Uint8Array;
  /** Per-pixel probabilities [H·W·K] (only when asked for: small outputs such as suggestion scores). */
  probs: Float32Array | null;
}

/** Source index pair and weight per output coordinate (tfjs-backend-cpu's ResizeBilinear, halfPixelCenters). */
function axis(n: number, from: number): { lo: Int32Array; hi: Int32Array; f: Float32Array } {
  const lo = new Int32Array(n),
    hi = new Int32Array(n),
    f = new Float32Array(n);
  const ratio = from / n;
  for (let i = 0; i < n; i++) {
    const v = ratio * (i + 0.5) - 0.5;
    const a = Math.max(0, Math.floor(v));
    lo[i] = a;
    hi[i] = Math.min(from - 1, Math.ceil(v));
    f[i] = v - a;
  }
  return { lo, hi, f };
}

/**
 * `src` holds K channels of sh × sw logits, interleaved (`'hwc'`, TF.js NHWC with N = 1) or
 * planar (`'chw'`, ONNX NCHW). K ≤ 255. The result is dh × dw.
 */
export function upsampleSoftmax(
  src: Float32Array,
  layout: 'hwc' | 'chw',
  K: number,
  sh: number,
  sw: number,
  dh: number,
  dw: number,
  opts: { probs?: boolean } = {},
): Upsampled {
  if (K < 1 || K > 255) throw new Error(`upsampleSoftmax: ${K} channels (1..255 supported)`);
  if (src.length < K * sh * sw) throw new Error(`upsampleSoftmax: ${src.length} values for ${K}×${sh}×${sw}`);
  const P = dh * dw;
  const index = new Uint8Array(P);
  const confidence = new Uint8Array(P);
  const probs = opts.probs ? new Float32Array(P * K) : null;
  const ys = axis(dh, sh);
  const xs = axis(dw, sw);
  // element (y, x, k) of the source is at y·rowStride + x·colStride + k·chanStride
  const plane = sh * sw;
  const rowStride = layout === 'hwc' ? sw * K : sw;
  const colStride = layout === 'hwc' ? K : 1;
  const chanStride = layout === 'hwc' ? 1 : plane;
  const v = new Float64Array(K);
  for (let y = 0; y < dh; y++) {
    const r0 = ys.lo[y]! * rowStride,
      r1 = ys.hi[y]! * rowStride,
      fy = ys.f[y]!;
    for (let x = 0; x < dw; x++) {
      const c0 = xs.lo[x]! * colStride,
        c1 = xs.hi[x]! * colStride,
        fx = xs.f[x]!;
      let max = -Infinity,
        arg = 0;
      for (let k = 0; k < K; k++) {
        const o = k * chanStride;
        const a = src[r0 + c0 + o]!,
          b = src[r0 + c1 + o]!,
          c = src[r1 + c0 + o]!,
          d = src[r1 + c1 + o]!;
        // float32 at each stage, as the TF.js kernel computes
        const top = Math.fround(a + Math.fround((b - a) * fx));
        const bottom = Math.fround(c + Math.fround((d - c) * fx));
        const t = Math.fround(top + Math.fround((bottom - top) * fy));
        v[k] = t;
        if (t > max) {
          max = t;
          arg = k;
        }
      }
      let sum = 0;
      for (let k = 0; k < K; k++) sum += v[k] = Math.exp(v[k]! - max);
      const p = y * dw + x;
      index[p] = arg;
      confidence[p] = Math.round(255 / sum);
      if (probs) for (let k = 0; k < K; k++) probs[p * K + k] = v[k]! / sum;
    }
  }
  return { index, confidence, probs };
}
