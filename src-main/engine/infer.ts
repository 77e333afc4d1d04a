/**
 * Inference on whole images of any size, with the pre/post-processing of prepost.ts (shared with
 * the onnxruntime path): the image (at working resolution, shorter side = base) is normalised and
 * resized so both sides are multiples of the encoder's stride, the tag head gives class
 * probabilities, the decoder runs for the classes to show (predicted tags with a top-k fallback,
 * or given tags: chooseClasses), and the per-class segmentation logits (at the model's resolution)
 * are resized bilinearly back to the original image size pixel by pixel before the softmax/argmax
 * (classMask), keeping only bytes at that size: the mask and the winning probability. Decoding
 * only predicted classes keeps cost proportional to what is present and stops absent classes from
 * competing (METHOD.md).
 */
import * as tf from '@tensorflow/tfjs';
import type { Sample } from './data.js';
import { type HeatNorm, heatLogits } from './losses.js';
import type { EncodedBatch, Segmenter } from './models/index.js';
import { DEFAULT_REFINE, type Refine, refineLogits, validateRefine } from './refine.js';
import { chooseClasses, classMask, DECODE_DEFAULTS, DEFAULT_TTA, inputSides, normalise, tagPriorOffsets, type Tta, ttaViewCount, validateTta } from './prepost.js';

export { DEFAULT_TTA, NO_TTA, parseTta, type Tta, ttaKey, validateTta } from './prepost.js';

export interface PredictOptions {
  /** Decode these classes instead of the predicted ones (evaluation "with true tags"). */
  givenTags?: number[];
  threshold?: number;
  maxClasses?: number;
  /** Multiplies heatmaps before the softmax (the trained temperature); argmax does not depend on it. */
  heatScale?: number;
  heatNorm?: HeatNorm;
  /** At least this many classes are decoded (top-k fallback below the threshold). */
  minClasses?: number;
  /** Soft decode weight w: predicted classes' logits get w · ln p (tagPriorOffsets); 0 = off. */
  tagPrior?: number;
  /**
   * Classes decoded for every image whatever the tag head says, e.g. the project's background
   * class (METHOD.md: "plus background where the task has one"); also added to `givenTags`.
   */
  always?: number[];
  /** Output size (default: the sample's original size). */
  outWidth?: number;
  outHeight?: number;
  /** Also return per-pixel probabilities (float32 H·W·K: for small outputs only, e.g. suggestion scores). */
  probs?: boolean;
  /** Test-time augmentation (default DEFAULT_TTA; NO_TTA: one view at the working resolution). */
  tta?: Tta;
  /** Edge-aware refinement of the class probabilities with the image (refine.ts; default DEFAULT_REFINE; NO_REFINE: off). */
  refine?: Refine;
  stride: number;
}

export interface Prediction {
  /** Sigmoid tag probabilities [C] (null for plain U-Net). */
  tagProbs: Float32Array | null;
  /** Decoded class indices, one per channel of `probs`. */
  classes: number[];
  /** Per-pixel class probabilities over `classes`, [H·W·K] row-major; only with `probs: true`. */
  probs: Float32Array | null;
  /** Class index per pixel [H·W]. */
  mask: Uint8Array;
  /** The winning class's probability × 255 per pixel [H·W]. */
  confidence: Uint8Array;
  width: number;
  height: number;
}

/** [h, w, k] interleaved → k planes of h × w. */
function hwcToPlanar(v: Float32Array, h: number, w: number, k: number): Float32Array {
  const n = h * w;
  const out = new Float32Array(k * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) out[c * n + i] = v[i * k + c]!;
  return out;
}

export function inputTensor(s: Sample, stride: number, scale = 1): tf.Tensor4D {
  const [h, w] = inputSides(Math.round(s.height * scale), Math.round(s.width * scale), stride);
  return tf.tidy(() => {
    const x = tf.tensor4d(normalise(s.rgb, 'hwc'), [1, s.height, s.width, 3]);
    return h === s.height && w === s.width ? x : tf.image.resizeBilinear(x, [h, w], false, true);
  });
}

export async function predict(model: Segmenter, s: Sample, opts: PredictOptions): Promise<Prediction> {
  const outH = opts.outHeight ?? s.origHeight;
  const outW = opts.outWidth ?? s.origWidth;
  const C = model.classes;
  const tta = validateTta(opts.tta ?? DEFAULT_TTA);
  const nViews = ttaViewCount(tta);
  // one batch per scale: the image, and its mirror image as the second row
  const xs = tta.scales.map((scale) =>
    tf.tidy(() => {
      const x = inputTensor(s, opts.stride, scale);
      return tta.flip ? (tf.concat([x, tf.reverse(x, 2)], 0) as tf.Tensor4D) : x;
    }),
  );
  // one encoder pass per scale, kept: the tag logits choose the classes, then the same pass decodes them
  const encs: EncodedBatch[] = [];
  try {
    for (const x of xs) encs.push(model.encode(x));
    let tagProbs: Float32Array | null = null;
    if (model.method !== 'unet') {
      const probs = tf.tidy(() => tf.addN(encs.map((e) => tf.sigmoid(e.logits!).sum(0))).div(nViews));
      tagProbs = (await probs.data()) as Float32Array;
      probs.dispose();
    }
    const classes = chooseClasses(tagProbs, C, opts);
    // Logits at the model's resolution only (the finest view's grid); classMask makes the original-size bytes.
    const scaled = tf.tidy(() => {
      const decodes = model.method === 'lrp' || model.method === 'gradcam';
      const perScale = xs.map((x, i) => {
        const n = x.shape[0];
        let seg: tf.Tensor4D;
        if (model.method === 'unet' || model.method === 'mtunet') {
          const all = model.decodeEncoded(encs[i]!);
          seg = model.method === 'mtunet' || opts.givenTags ? tf.gather(all, classes, 3) : all;
        } else {
          const dc = tf.tensor2d(Array.from({ length: n }, () => classes).flat(), [n, classes.length], 'int32');
          seg = model.decodeEncoded(encs[i]!, dc);
        }
        const out = decodes ? heatLogits(seg, opts.heatScale ?? 1, opts.heatNorm ?? 'none') : seg;
        if (n === 1) return out;
        // the mirrored row, mirrored back, added to the plain one
        const [plain, mirrored] = tf.split(out, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
        return tf.add(plain, tf.reverse(mirrored, 2)) as tf.Tensor4D;
      });
      let out: tf.Tensor4D;
      if (nViews === 1) out = perScale[0]!;
      else {
        const big = perScale.reduce((a, t) => (t.shape[1] * t.shape[2] > a.shape[1] * a.shape[2] ? t : a), perScale[0]!);
        const [gh, gw] = [big.shape[1], big.shape[2]];
        const resized = perScale.map((t) => (t.shape[1] === gh && t.shape[2] === gw ? t : tf.image.resizeBilinear(t, [gh, gw], false, true)));
        out = tf.addN(resized).div(nViews) as tf.Tensor4D;
      }
      const prior = opts.givenTags?.length || !tagProbs ? 0 : (opts.tagPrior ?? DECODE_DEFAULTS.tagPrior);
      return prior ? (tf.add(out, tf.tensor1d(tagPriorOffsets(tagProbs!, classes, prior, opts.always ?? []))) as tf.Tensor4D) : out;
    });
    const [, h, w, k] = scaled.shape;
    const logits = (await scaled.data()) as Float32Array;
    scaled.dispose();
    const refine = validateRefine(opts.refine ?? DEFAULT_REFINE);
    const out =
      refine.radius > 0 && k > 1
        ? classMask(refineLogits(hwcToPlanar(logits, h, w, k), k, h, w, s, refine), 'chw', classes, h, w, outH, outW, { probs: !!opts.probs })
        : classMask(logits, 'hwc', classes, h, w, outH, outW, { probs: !!opts.probs });
    return { tagProbs, classes, ...out, width: outW, height: outH };
  } finally {
    for (const e of encs) model.disposeEncoded(e);
    tf.dispose(xs);
  }
}
