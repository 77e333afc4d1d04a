/**
 * Which classes an image's decoder shows, from its tag probabilities: the most probable first,
 * at most `maxClasses`, at least `minClasses` (the top-k fallback below the threshold), the rest
 * only from `threshold` up; returned sorted by class index. Pure (no TF.js): TF.js inference,
 * suggestions and the onnxruntime path all decode by this one rule (and size their input by
 * `inputSides`). Training does not: its loss decodes each image's given tags, scribbled classes and
 * the background (planDecode in losses.ts).
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

/** The app's defaults for showing a whole image (inference, suggestions, the ONNX path). */
export const DECODE_DEFAULTS = { threshold: 0.5, minClasses: 1, maxClasses: 4, tagPrior: 0 } as const;

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

/** decodeRule with DECODE_DEFAULTS for whatever option is not given. */
export function decodeWithDefaults(
  probs: ArrayLike<number>,
  classes: number,
  opts: { threshold?: number; minClasses?: number; maxClasses?: number } = {},
): number[] {
  return decodeRule(probs, classes, {
    threshold: opts.threshold ?? DECODE_DEFAULTS.threshold,
    minClasses: opts.minClasses ?? DECODE_DEFAULTS.minClasses,
    maxClasses: opts.maxClasses ?? DECODE_DEFAULTS.maxClasses,
  });
}

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
