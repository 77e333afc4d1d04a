/**
 * Pre- and post-processing of whole-image prediction, in one place: the TF.js path (infer.ts), the
 * onnxruntime path (onnx-runtime.ts) and the ONNX export's metadata (onnx-export.ts) all take
 * their constants and steps from here. Pure: no TF.js, no Node (test/unit/engine/prepost.test.ts).
 *   1. resize-to-stride: the model input's sides are multiples of the encoder stride (inputSides);
 *   2. normalise: RGB bytes / PIXEL_SCALE as float32, no mean / std (normalise);
 *   3. decode rule: which classes the decoder shows, from the tag probabilities (chooseClasses);
 *   4. (onnxruntime, heat_norm 'pixel') the app's per-pixel normalisation over the decoded classes
 *      instead of the graph's over all classes (renormalise, with HEAT_NORM_FLOOR / HEAT_NORM_EPS);
 *   5. upsampling and argmax over the chosen classes: logits at the model's resolution → class
 *      mask + confidence bytes at the original size, never float maps at that size (classMask).
 * (It replaced the earlier decode-rule.ts and upsample.ts.)
 */

// ---- 2. normalisation ----

/** The model input is RGB / PIXEL_SCALE (values 0..1): no mean / std, not baked into the ONNX graph. */
export const PIXEL_SCALE = 255;

/** The ONNX export's `normalisation` metadata: what `normalise` does, in words. */
export const NORMALISATION_NOTE = `image = RGB / ${PIXEL_SCALE} as float32 NCHW; not baked into the graph`;

/**
 * RGB bytes (interleaved, `rgb.length / 3` pixels) → float32 RGB / PIXEL_SCALE, interleaved
 * (`'hwc'`, TF.js NHWC) or as three planes (`'chw'`, ONNX NCHW).
 */
export function normalise(rgb: Uint8Array, layout: 'hwc' | 'chw'): Float32Array {
  if (layout === 'hwc') return Float32Array.from(rgb, (v) => v / PIXEL_SCALE);
  const n = rgb.length / 3;
  const planar = new Float32Array(3 * n);
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) planar[c * n + p] = rgb[p * 3 + c]! / PIXEL_SCALE;
  return planar;
}

// ---- test-time augmentation ----

export { DEFAULT_TTA, NO_TTA, parseTta, type Tta, ttaKey, ttaViewCount, validateTta } from '../../src-shared/tta.js';

/** Mirrors `planes` planes of h × w (planar layout) left-right, in place. */
export function flipPlanes(v: Float32Array, planes: number, h: number, w: number): Float32Array {
  for (let r = 0; r < planes * h; r++) v.subarray(r * w, (r + 1) * w).reverse();
  return v;
}

// ---- 1. resize-to-stride ----

/** An input side for an image side of `length` px: the nearest multiple of the encoder's stride, at least `min` (and one stride). */
export function strideSide(length: number, stride: number, min = 0): number {
  return Math.max(stride, min, Math.round(length / stride) * stride);
}

/**
 * The model input's [height, width] for a working-resolution image: each side a multiple of its
 * stride (strideSide). A strip whose short side rounds up several-fold (1 × 60000 → 8 × 60000)
 * would feed the network many times its pixels, and its activations take GBs: then the long side
 * is shortened so the input holds at most twice the image's pixels (and at least 4 minimal inputs).
 */
export function inputSides(height: number, width: number, strideH: number, strideW = strideH, minH = 0, minW = 0): [number, number] {
  let h = strideSide(height, strideH, minH),
    w = strideSide(width, strideW, minW);
  const h0 = strideSide(0, strideH, minH),
    w0 = strideSide(0, strideW, minW);
  const limit = Math.max(2 * height * width, 4 * h0 * w0);
  if (h * w > limit) {
    if (h / height >= w / width) w = Math.max(w0, Math.floor(limit / h / strideW) * strideW);
    else h = Math.max(h0, Math.floor(limit / w / strideH) * strideH);
  }
  return [h, w];
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
 * Bilinear resize with half-pixel centres and clamped edges, as tf.image.resizeBilinear(x, size,
 * alignCorners = false, halfPixelCenters = true). `src` is planar: `planes` planes of sh × sw.
 * (The TF.js path resizes with TF.js itself; this is the onnxruntime path's.)
 */
export function resizeBilinearPlanar(src: Float32Array, planes: number, sh: number, sw: number, dh: number, dw: number): Float32Array {
  if (sh === dh && sw === dw) return src.slice(0, planes * sh * sw);
  const out = new Float32Array(planes * dh * dw);
  const ys = axis(dh, sh);
  const xs = axis(dw, sw);
  for (let p = 0; p < planes; p++) {
    const s = p * sh * sw;
    const o = p * dh * dw;
    for (let y = 0; y < dh; y++) {
      const r0 = s + ys.lo[y]! * sw,
        r1 = s + ys.hi[y]! * sw,
        fy = ys.f[y]!;
      for (let x = 0; x < dw; x++) {
        const c0 = xs.lo[x]!,
          c1 = xs.hi[x]!,
          fx = xs.f[x]!;
        const top = src[r0 + c0]! + (src[r0 + c1]! - src[r0 + c0]!) * fx;
        const bottom = src[r1 + c0]! + (src[r1 + c1]! - src[r1 + c0]!) * fx;
        out[o + y * dw + x] = top + (bottom - top) * fy;
      }
    }
  }
  return out;
}

/** Steps 1–2 for an NCHW runtime: RGB bytes of h × w → float32 [3, h', w'] / PIXEL_SCALE at the given input size. */
export function planarInput(img: { rgb: Uint8Array; width: number; height: number }, height: number, width: number): Float32Array {
  return resizeBilinearPlanar(normalise(img.rgb, 'chw'), 3, img.height, img.width, height, width);
}

// ---- 3. decode rule ----

/** The app's defaults for showing a whole image (inference, suggestions, the ONNX path, the ONNX metadata). */
export const DECODE_DEFAULTS = { threshold: 0.3, minClasses: 1, maxClasses: 4, tagPrior: 0 } as const;

/**
 * Soft decoding (`tagPrior` w > 0): per decoded class, the offset w · ln p_c added to every pixel's
 * segmentation logit of that class before the per-pixel argmax, so a class the tag head doubts wins
 * only where its heatmap is clearly ahead (a product of the pixel posterior and the tag
 * probability); w = 0 is the plain rule. Classes in `exempt` (always decoded, e.g. the background,
 * or given tags) get 0. Pure; adding a per-class constant commutes with bilinear upsampling.
 */
export function tagPriorOffsets(
  probs: ArrayLike<number>,
  decoded: ReadonlyArray<number>,
  weight: number,
  exempt: ReadonlyArray<number> = [],
  /** Where this image's probabilities start in `probs`. */
  offset = 0,
): number[] {
  return decoded.map((c) => (weight === 0 || exempt.includes(c) ? 0 : weight * Math.log(Math.max(probs[offset + c]!, 1e-6))));
}

export interface DecodeOptions {
  threshold?: number;
  minClasses?: number;
  maxClasses?: number;
}

/**
 * Which classes an image's decoder shows, from its tag probabilities: the most probable first,
 * at most `maxClasses`, at least `minClasses` (the top-k fallback below the threshold), the rest
 * only from `threshold` up; returned sorted by class index. Training does not decode by this
 * rule: its loss decodes each image's given tags, scribbled classes and the background
 * (planDecode in losses.ts).
 */
export function decodeRule(
  probs: ArrayLike<number>,
  classes: number,
  opts: { threshold: number; minClasses: number; maxClasses: number },
  /** Where this image's `classes` probabilities start in `probs`. */
  offset = 0,
): number[] {
  const minC = Math.min(opts.minClasses, classes);
  const maxC = Math.max(opts.maxClasses, minC);
  const order = Array.from({ length: classes }, (_, c) => c).sort((a, b) => probs[offset + b]! - probs[offset + a]!);
  return order.filter((c, rank) => rank < maxC && (rank < minC || probs[offset + c]! >= opts.threshold)).sort((a, b) => a - b);
}

/** decodeRule with DECODE_DEFAULTS for whatever option is not given. */
export function decodeWithDefaults(probs: ArrayLike<number>, classes: number, opts: DecodeOptions = {}): number[] {
  return decodeRule(probs, classes, {
    threshold: opts.threshold ?? DECODE_DEFAULTS.threshold,
    minClasses: opts.minClasses ?? DECODE_DEFAULTS.minClasses,
    maxClasses: opts.maxClasses ?? DECODE_DEFAULTS.maxClasses,
  });
}

/** Tag probabilities from tag logits (the onnxruntime path; TF.js computes tf.sigmoid). */
export function sigmoid(logits: ArrayLike<number>): Float32Array {
  return Float32Array.from(logits, (t) => 1 / (1 + Math.exp(-t)));
}

/**
 * The classes an image's decoder shows, sorted: all `classes` without a tag head (`tagProbs`
 * null, plain U-Net); else `givenTags` when given (evaluation "with true tags"), otherwise the
 * decode rule; plus the `always` classes (e.g. the project's background) within range.
 */
export function chooseClasses(
  tagProbs: ArrayLike<number> | null,
  classes: number,
  opts: DecodeOptions & { givenTags?: number[]; always?: number[] } = {},
): number[] {
  if (!tagProbs) return Array.from({ length: classes }, (_, c) => c);
  const chosen = opts.givenTags && opts.givenTags.length ? [...opts.givenTags] : decodeWithDefaults(tagProbs, classes, opts);
  return [...new Set([...chosen, ...(opts.always ?? []).filter((c) => c >= 0 && c < classes)])].sort((a, b) => a - b);
}

/** The chosen channels of planar logits ([C, plane] → [K, plane], in the order of `classes`). */
export function gatherPlanes(src: Float32Array, classes: number[], plane: number): Float32Array {
  const out = new Float32Array(classes.length * plane);
  classes.forEach((c, k) => out.set(src.subarray(c * plane, (c + 1) * plane), k * plane));
  return out;
}

// ---- 4. heat normalisation ----

/** heatLogits' per-pixel normaliser (losses.ts, the ONNX graph): mean |heatmap| + HEAT_NORM_FLOOR × image mean + HEAT_NORM_EPS. */
export const HEAT_NORM_FLOOR = 1e-2;
export const HEAT_NORM_EPS = 1e-12;

/**
 * The app's heatLogits normalisation over the decoded classes only, applied again to seg_logits
 * (normalised over all C classes by the graph): per pixel, v_k ← s · (v_k / s) / (mean_k |v_k / s|
 * + HEAT_NORM_FLOOR · image mean + HEAT_NORM_EPS). The per-pixel normaliser is scale-free, so this
 * gives the app's values up to the small floor term, in place on `k` planes of `plane` values.
 */
export function renormalise(v: Float32Array, k: number, plane: number, heatScale: number): void {
  let total = 0;
  for (let i = 0; i < k * plane; i++) total += Math.abs(v[i]!) / heatScale;
  const floor = (HEAT_NORM_FLOOR * total) / (k * plane) + HEAT_NORM_EPS;
  for (let p = 0; p < plane; p++) {
    let m = 0;
    for (let c = 0; c < k; c++) m += Math.abs(v[c * plane + p]!) / heatScale;
    const d = m / k + floor;
    for (let c = 0; c < k; c++) v[c * plane + p] = (v[c * plane + p]! / heatScale / d) * heatScale;
  }
}

// ---- 5. upsampling, softmax, argmax over the chosen classes ----

export interface Upsampled {
  /** Winning channel (0..K-1) per output pixel, row-major [H·W]. */
  index: Uint8Array;
  /** The winning channel's softmax probability × 255, rounded, per output pixel. */
  confidence: Uint8Array;
  /** Per-pixel probabilities [H·W·K] (only when asked for: small outputs such as suggestion scores). */
  probs: Float32Array | null;
}

/**
 * From per-class logits at the model's resolution to the winning channel at the output size,
 * without ever holding float maps at that size: each output pixel's K logits are interpolated
 * bilinearly (half-pixel centres, clamped edges — the arithmetic of tf.image.resizeBilinear(x,
 * size, false, true), float32 at each stage), then softmax and argmax run on those K numbers and
 * only bytes are kept (the winning channel and its probability × 255). A 4096 × 4096 photo costs
 * 32 MB of output, not gigabytes of float32 logits and probabilities.
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

export interface ClassMask {
  /** Class index (one of `classes`) per output pixel [H·W]. */
  mask: Uint8Array;
  /** The winning class's probability × 255 per pixel [H·W]. */
  confidence: Uint8Array;
  /** Per-pixel probabilities over `classes` [H·W·K], only with `probs: true`. */
  probs: Float32Array | null;
}

/**
 * Step 5 for both runtimes: logits of the chosen `classes` (K channels, in that order) at the
 * model's resolution sh × sw → the per-pixel argmax over them at dh × dw, as class indices.
 */
export function classMask(
  logits: Float32Array,
  layout: 'hwc' | 'chw',
  classes: number[],
  sh: number,
  sw: number,
  dh: number,
  dw: number,
  opts: { probs?: boolean } = {},
): ClassMask {
  const up = upsampleSoftmax(logits, layout, classes.length, sh, sw, dh, dw, opts);
  const mask = up.index;
  const lut = Uint8Array.from(classes);
  for (let p = 0; p < mask.length; p++) mask[p] = lut[mask[p]!]!;
  return { mask, confidence: up.confidence, probs: up.probs };
}
