/**
 * Which classes an image's decoder shows, from its tag probabilities: the most probable first,
 * at most `maxClasses`, at least `minClasses` (the top-k fallback below the threshold), the rest
 * only from `threshold` up; returned sorted by class index. Pure (no TF.js): the training loss,
 * TF.js inference and the onnxruntime path all decode by this one rule.
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
