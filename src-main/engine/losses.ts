/**
 * Losses of METHOD.md and the "decode list" convention shared by training and inference.
 *
 * Decode list: the LRP / Grad-CAM decoders run one pass per (image, class slot), so each image
 * decodes only a short list of classes, padded to a common K with -1. During training the list is
 * the image's tags ∪ the classes present in its pixel labels (a labelled pixel proves presence)
 * ∪ `always` (e.g. a background class), sorted ascending; pixel labels are remapped to positions
 * in that list, so the pixel softmax competes only among classes the image contains. At inference
 * the list is the classes the tag head predicts (probability ≥ threshold, top-k fallback), and a
 * position is mapped back to a class by `predictMask`. Padding slots decode to all-zero channels
 * that `maskPaddedChannels` pushes to -1e9 before any softmax or argmax.
 */
import * as tf from '@tensorflow/tfjs';
import { noGrad } from './models/ops.js';

/** A finite stand-in for -∞: exp underflows to 0 but 0·(-1e9) stays 0, so masked slots never make NaN. */
const MASKED_LOGIT = -1e9;

/**
 * Multi-label sigmoid binary cross-entropy on tag logits [N, C] with 0/1 targets [N, C], averaged
 * over the images with `imageMask` = 1 (default: all) and over classes. 0 when no image counts.
 */
export function tagLoss(
  logits: tf.Tensor2D,
  targets: tf.Tensor2D,
  imageMask?: tf.Tensor1D,
  /** Per-class weights of positive and negative targets (class-balanced loss); default 1. */
  weights?: { pos: ArrayLike<number>; neg: ArrayLike<number> },
): tf.Scalar {
  return tf.tidy(() => {
    const [n, c] = logits.shape;
    if (targets.shape[0] !== n || targets.shape[1] !== c)
      throw new Error(`tag targets [${targets.shape.join(', ')}] do not match logits [${n}, ${c}]`);
    // softplus(x) - x·z is the stable BCE-with-logits; its gradient is exactly sigmoid(x) - z
    let bce = tf.softplus(logits).sub(logits.mul(targets.toFloat()));
    if (weights) {
      if (weights.pos.length !== c || weights.neg.length !== c) throw new Error(`tag weights have ${weights.pos.length}/${weights.neg.length} classes, logits ${c}`);
      const z = targets.toFloat();
      const pos = tf.tensor2d(Float32Array.from(weights.pos), [1, c]);
      const neg = tf.tensor2d(Float32Array.from(weights.neg), [1, c]);
      bce = bce.mul(z.mul(pos).add(tf.scalar(1).sub(z).mul(neg)));
    }
    const mask = imageMask ? imageMask.toFloat() : tf.ones([n]);
    const total = bce.sum(1).mul(mask).sum();
    return total.div(mask.sum().maximum(1).mul(c)) as tf.Scalar;
  });
}

/**
 * Pixel softmax cross-entropy over the K decoded channels of `seg` [N, H, W, K], on labelled
 * pixels only: `labels` [N, H, W] holds the position (0..K-1) of the pixel's class in the image's
 * decode list; anything else (-1, 255, …) is unlabelled and ignored, never background. Averaged
 * over labelled pixels; 0 (not NaN) when there are none. With `decodeClasses`, padding slots are
 * excluded from the softmax.
 */
export function segmentationLoss(seg: tf.Tensor4D, labels: tf.Tensor3D, decodeClasses?: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const [n, h, w, k] = seg.shape;
    if (labels.shape[0] !== n || labels.shape[1] !== h || labels.shape[2] !== w) {
      throw new Error(`pixel labels [${labels.shape.join(', ')}] do not match heatmaps [${n}, ${h}, ${w}]`);
    }
    const logits = decodeClasses ? maskPaddedChannels(seg, decodeClasses) : seg;
    const lab = labels.dtype === 'int32' ? labels : labels.toInt();
    const labelled = lab.greaterEqual(0).logicalAnd(lab.less(k));
    const target = tf.where(labelled, lab, tf.zerosLike(lab));
    // tf.oneHot needs depth ≥ 2; a batch whose images each show one class has K = 1 (loss 0)
    const oneHot = tf
      .oneHot(target.reshape([-1]) as tf.Tensor1D, Math.max(2, k))
      .slice([0, 0], [-1, k])
      .reshape([n, h, w, k])
      .toFloat();
    const nll = oneHot.mul(tf.logSoftmax(logits)).sum(-1).neg();
    const weight = labelled.toFloat();
    return nll.mul(weight).sum().div(weight.sum().maximum(1)) as tf.Scalar;
  });
}

/** Pushes padding slots (decodeClasses = -1) of [N, H, W, K] logits to -1e9. */
export function maskPaddedChannels(seg: tf.Tensor4D, decodeClasses: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, , , k] = seg.shape;
    if (decodeClasses.shape[0] !== n || decodeClasses.shape[1] !== k) {
      throw new Error(`decodeClasses [${decodeClasses.shape.join(', ')}] do not match heatmaps with N=${n}, K=${k}`);
    }
    const padded = decodeClasses.less(0).toFloat().mul(MASKED_LOGIT).reshape([n, 1, 1, k]);
    return seg.add(padded) as tf.Tensor4D;
  });
}

/**
 * Predicted class index per pixel [N, H, W] (int32): argmax over the decoded channels, mapped
 * back through `decodeClasses` (without it, channel = class, as for a full U-Net output).
 */
export function predictMask(seg: tf.Tensor4D, decodeClasses?: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [n, h, w] = seg.shape;
    if (!decodeClasses) return seg.argMax(-1) as tf.Tensor3D;
    const pos = maskPaddedChannels(seg, decodeClasses)
      .argMax(-1)
      .reshape([n, h * w]);
    const dc = decodeClasses.dtype === 'int32' ? decodeClasses : decodeClasses.toInt();
    return tf.gather(dc, pos, 1, 1).reshape([n, h, w]) as tf.Tensor3D;
  });
}

export interface DecodePlan {
  n: number;
  k: number;
  /** [N·K] row-major class indices, -1 = padding. Tensor: tf.tensor2d(decodeClasses, [n, k], 'int32'). */
  decodeClasses: Int32Array;
  /** [N·H·W] position of each pixel's class in its image's list, -1 = unlabelled; null without pixel labels. */
  targets: Int32Array | null;
}

export interface PlanDecodeOptions {
  classes: number;
  /** Tagged class indices (0..C-1) per image. */
  tags: ReadonlyArray<ReadonlyArray<number> | null>;
  /** Per image a class index per pixel (H·W, row-major) or null; values outside 0..C-1 (e.g. 255, -1) are unlabelled. */
  pixelLabels?: ReadonlyArray<ArrayLike<number> | null>;
  /** H·W; needed when pixelLabels is given (images without labels get all -1). */
  pixels?: number;
  /** Fixed K (e.g. to keep tensor shapes constant across batches); must fit the longest list. Default: longest list, at least 1. */
  k?: number;
  /** Classes decoded for every image, e.g. a background class. */
  always?: ReadonlyArray<number>;
}

/** Training decode lists: tags ∪ labelled classes ∪ always, sorted, padded; pixel labels remapped. */
export function planDecode(opts: PlanDecodeOptions): DecodePlan {
  const { classes, tags } = opts;
  const n = tags.length;
  const isClass = (v: number) => Number.isInteger(v) && v >= 0 && v < classes;
  if (opts.pixelLabels && opts.pixelLabels.length !== n)
    throw new Error(`pixelLabels has ${opts.pixelLabels.length} entries for ${n} images`);
  const lists: number[][] = [];
  for (let i = 0; i < n; i++) {
    const set = new Set<number>();
    for (const c of [...(tags[i] ?? []), ...(opts.always ?? [])]) {
      if (!isClass(c)) throw new Error(`image ${i}: class index ${c} is outside 0..${classes - 1}`);
      set.add(c);
    }
    const labels = opts.pixelLabels?.[i];
    if (labels) {
      if (opts.pixels !== undefined && labels.length !== opts.pixels)
        throw new Error(`image ${i}: ${labels.length} pixel labels, expected ${opts.pixels}`);
      for (let p = 0; p < labels.length; p++) {
        const v = labels[p]!;
        if (isClass(v)) set.add(v);
      }
    }
    lists.push([...set].sort((a, b) => a - b));
  }
  const longest = Math.max(1, ...lists.map((l) => l.length));
  const k = opts.k ?? longest;
  if (k < longest) throw new Error(`k = ${k} is smaller than the longest decode list (${longest} classes)`);
  const decodeClasses = new Int32Array(n * k).fill(-1);
  lists.forEach((l, i) => decodeClasses.set(l, i * k));

  let targets: Int32Array | null = null;
  if (opts.pixelLabels) {
    const pixels = opts.pixels ?? opts.pixelLabels.find((l) => l)?.length;
    if (pixels === undefined) throw new Error('planDecode: pass `pixels` when no image has pixel labels');
    targets = new Int32Array(n * pixels).fill(-1);
    const position = new Int32Array(classes);
    for (let i = 0; i < n; i++) {
      const labels = opts.pixelLabels[i];
      if (!labels) continue;
      if (labels.length !== pixels) throw new Error(`image ${i}: ${labels.length} pixel labels, expected ${pixels}`);
      position.fill(-1);
      lists[i]!.forEach((c, j) => (position[c] = j));
      const base = i * pixels;
      for (let p = 0; p < pixels; p++) {
        const v = labels[p]!;
        if (isClass(v)) targets[base + p] = position[v]!;
      }
    }
  }
  return { n, k, decodeClasses, targets };
}

/** 0/1 tag targets [N·C] and an image mask [N] (0 for images with no tags, which carry no tag information). */
export function tagTargets(
  tags: ReadonlyArray<ReadonlyArray<number> | null>,
  classes: number,
): { targets: Float32Array; mask: Float32Array } {
  const targets = new Float32Array(tags.length * classes);
  const mask = new Float32Array(tags.length);
  tags.forEach((list, i) => {
    if (!list || list.length === 0) return;
    mask[i] = 1;
    for (const c of list) {
      if (!Number.isInteger(c) || c < 0 || c >= classes) throw new Error(`image ${i}: class index ${c} is outside 0..${classes - 1}`);
      targets[i * classes + c] = 1;
    }
  });
  return { targets, mask };
}

/**
 * How decoded heatmaps become pixel logits. 'pixel' divides each pixel's heatmaps by their mean
 * absolute value over the decoded classes, so the softmax sees only how relevance is shared between
 * classes at that pixel, not how much relevance the pixel carries in total (raw LRP relevance is
 * concentrated on edges and near zero in flat regions, which otherwise stay at the uniform guess
 * whatever the class ordering). Positive per-pixel scaling leaves the argmax, i.e. the mask, unchanged.
 */
export type HeatNorm = 'none' | 'pixel';

export function heatLogits(seg: tf.Tensor4D, scale: tf.Scalar | number, norm: HeatNorm, decodeClasses?: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    let out = seg;
    if (norm === 'pixel') {
      const [n, , , k] = seg.shape;
      const valid = decodeClasses ? decodeClasses.greaterEqual(0).toFloat().reshape([n, 1, 1, k]) : tf.ones([1, 1, 1, k]);
      const abs = seg.abs().mul(valid);
      const count = valid.sum(-1, true).maximum(1);
      const perPixel = abs.sum(-1, true).div(count);
      // A floor relative to the image's typical magnitude keeps pixels without relevance from exploding.
      const floor = noGrad(() => abs.mean([1, 2, 3], true).mul(1e-2).add(1e-12) as tf.Tensor4D);
      out = seg.div(perPixel.add(floor));
    }
    return out.mul(scale) as tf.Tensor4D;
  });
}
