/**
 * Tag-head probe: before joint training, fit the tag head (GAP features → dense) as a logistic
 * regression on the *frozen* pretrained encoder's pooled features of every tagged training image
 * (a centre crop and augmented views). This is "linear probing, then fine-tuning" (LP-FT, Kumar et
 * al. 2022): a fine-tuned network starting from a fitted head keeps its pretrained features better
 * and converges faster than one starting from a random head. Here it matters twice: the tag head
 * decides which classes a mask may show, and the LRP / Grad-CAM heatmaps are read through the
 * head's weights, so a meaningful head makes the heatmap loss useful from the first step.
 *
 * The fit runs on standardised features (well conditioned, an L2 penalty that does not depend on
 * the backbone's activation scale) with full-batch Adam, then is mapped back to the head's raw
 * feature scale, so the model is unchanged apart from its head's two variables.
 *
 * The penalty is a fixed prior on the weights against a *mean* loss, so it is divided by the number of
 * images: l2 = l2PerImage / images. On MSRC dev-train (265 images) that is 3 / 265 = 0.011, where
 * 0.01–0.03 were best on dev-val (bench/results/probe/probe-devval.txt); a fixed 0.01 over-fitted
 * a 9-image project (its tag head's top class was right on 0.26 of held-out scribble pixels vs
 * 0.41–0.47 at 0.1–1; test/unit/first-train.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { rng } from '../../src-shared/random.js';
import { type AugmentOptions, type Sample, augmentedCrop } from './data.js';
import { tagLoss } from './losses.js';
import type { Segmenter } from './models/index.js';
import { adam } from './adam.js';

export interface ProbeOptions {
  /** Views per image: the centre crop plus `views - 1` augmented crops. */
  views: number;
  /** Full-batch Adam iterations of the logistic regression. */
  iterations: number;
  /** L2 penalty on the standardised-feature weights (per weight, added to the mean BCE) is this / images. */
  l2PerImage: number;
  augment: AugmentOptions;
  seed: number;
  /** Class-balanced loss weights (as the training loss uses), or none. */
  tagWeights?: { pos: ArrayLike<number>; neg: ArrayLike<number> } | undefined;
  /** Images forwarded at a time. */
  chunk?: number;
}

export const DEFAULT_PROBE = { views: 2, iterations: 300, l2PerImage: 3 };

export interface ProbeResult {
  images: number;
  views: number;
  /** The L2 penalty used (l2PerImage / images). */
  l2: number;
  /** Mean BCE of the fitted head on its own training views (before → after). */
  lossBefore: number;
  lossAfter: number;
}

/** The pooled features [views · images, Cf] of the tagged samples and their 0/1 tag targets. */
export async function pooledFeatures(
  model: Segmenter,
  samples: readonly Sample[],
  classes: number,
  opts: Pick<ProbeOptions, 'views' | 'augment' | 'seed' | 'chunk'>,
): Promise<{ x: Float32Array; y: Float32Array; n: number; f: number }> {
  const rand = rng(opts.seed);
  const S = opts.augment.size;
  const chunk = Math.max(1, opts.chunk ?? 16);
  const items: { s: Sample; view: number }[] = [];
  for (let v = 0; v < opts.views; v++) for (const s of samples) items.push({ s, view: v });
  const parts: Float32Array[] = [];
  let f = 0;
  for (let i = 0; i < items.length; i += chunk) {
    const part = items.slice(i, i + chunk);
    const buf = new Float32Array(part.length * S * S * 3);
    part.forEach((it, j) => buf.set(augmentedCrop(it.s, opts.augment, it.view === 0 ? null : rand).x, j * S * S * 3));
    const pooled = tf.tidy(() => model.forward(tf.tensor4d(buf, [part.length, S, S, 3]), { pooled: true, tagsOnly: true }).pooled!);
    f = pooled.shape[1];
    parts.push((await pooled.data()) as Float32Array); // asynchronous read (webgpu cannot read synchronously)
    pooled.dispose();
  }
  const n = items.length;
  const x = new Float32Array(n * f);
  let o = 0;
  for (const p of parts) {
    x.set(p, o);
    o += p.length;
  }
  const y = new Float32Array(n * classes);
  items.forEach((it, r) => {
    for (const c of it.s.tags) if (c >= 0 && c < classes) y[r * classes + c] = 1;
  });
  return { x, y, n, f };
}

/**
 * Logistic regression of targets y [n, C] on features x [n, f]: returns the kernel [f, C] and bias
 * [C] on the raw feature scale. Starts from zero weights and the classes' prior log-odds.
 */
export async function fitLogistic(
  x: Float32Array,
  y: Float32Array,
  n: number,
  f: number,
  classes: number,
  opts: Pick<ProbeOptions, 'iterations' | 'tagWeights'> & { l2: number },
): Promise<{ kernel: Float32Array; bias: Float32Array; lossBefore: number; lossAfter: number }> {
  // per-feature standardisation in float64; a (numerically) constant feature gets z = 0 and no weight
  const mu = new Float64Array(f), sd = new Float64Array(f);
  for (let r = 0; r < n; r++) for (let j = 0; j < f; j++) mu[j]! += x[r * f + j]!;
  for (let j = 0; j < f; j++) mu[j]! /= n;
  for (let r = 0; r < n; r++) for (let j = 0; j < f; j++) sd[j]! += (x[r * f + j]! - mu[j]!) ** 2;
  const constant = new Uint8Array(f);
  for (let j = 0; j < f; j++) {
    sd[j] = Math.sqrt(sd[j]! / n);
    if (!(sd[j]! > 1e-6 * (1 + Math.abs(mu[j]!)))) {
      constant[j] = 1;
      sd[j] = 1;
    }
  }
  const z = new Float32Array(n * f);
  for (let r = 0; r < n; r++) for (let j = 0; j < f; j++) z[r * f + j] = constant[j] ? 0 : (x[r * f + j]! - mu[j]!) / sd[j]!;
  const prior = new Float32Array(classes);
  for (let c = 0; c < classes; c++) {
    let p = 0;
    for (let r = 0; r < n; r++) p += y[r * classes + c]!;
    const q = Math.min(1 - 1e-3, Math.max(1e-3, p / n));
    prior[c] = Math.log(q / (1 - q));
  }
  const Z = tf.tensor2d(z, [n, f]);
  const Y = tf.tensor2d(y, [n, classes]);
  const W = tf.variable(tf.zeros([f, classes]));
  const b = tf.variable(tf.tensor1d(prior));
  const opt = adam(0.01);
  const lossOf = () =>
    tf.tidy(() => tagLoss(Z.matMul(W).add(b) as tf.Tensor2D, Y, undefined, opts.tagWeights).add(W.square().sum().mul(opts.l2 / classes)) as tf.Scalar);
  const before = lossOf();
  const lossBefore = (await before.data())[0]!;
  before.dispose();
  for (let i = 0; i < opts.iterations; i++) {
    const cost = opt.minimize(lossOf, true, [W, b]);
    cost?.dispose();
  }
  const after = lossOf();
  const lossAfter = (await after.data())[0]!;
  after.dispose();
  const w = (await W.data()) as Float32Array;
  const bz = (await b.data()) as Float32Array;
  tf.dispose([Z, Y, W, b]);
  opt.dispose();
  // back to raw features: logit = Σ_j (x_j − μ_j)/σ_j · w_jc + b_c
  const kernel = new Float32Array(f * classes);
  const bias = Float32Array.from(bz);
  for (let j = 0; j < f; j++) {
    for (let c = 0; c < classes; c++) {
      const k = constant[j] ? 0 : w[j * classes + c]! / sd[j]!;
      kernel[j * classes + c] = k;
      bias[c]! -= mu[j]! * k;
    }
  }
  return { kernel, bias, lossBefore, lossAfter };
}

/** Fits the model's tag head on its frozen encoder's features of `samples` (tagged images) and sets it. */
export async function probeTagHead(model: Segmenter, samples: readonly Sample[], classes: number, opts: ProbeOptions): Promise<ProbeResult> {
  const named = model.namedVariables();
  const kernelVar = named['head/kernel'];
  const biasVar = named['head/bias'];
  if (!kernelVar || !biasVar) throw new Error(`a ${model.method} model has no tag head to probe`);
  const tagged = samples.filter((s) => s.tags.length > 0);
  if (tagged.length === 0) throw new Error('no tagged image to fit the tag head on');
  const feats = await pooledFeatures(model, tagged, classes, opts);
  if (kernelVar.shape[0] !== feats.f || kernelVar.shape[1] !== classes) {
    throw new Error(`tag head is [${kernelVar.shape.join(', ')}], the features give [${feats.f}, ${classes}]`);
  }
  const l2 = opts.l2PerImage / tagged.length;
  const fit = await fitLogistic(feats.x, feats.y, feats.n, feats.f, classes, { ...opts, l2 });
  model.setWeights(
    { 'head/kernel': { shape: [feats.f, classes], data: fit.kernel }, 'head/bias': { shape: [classes], data: fit.bias } },
    { allowMissing: true },
  );
  return { images: tagged.length, views: opts.views, l2, lossBefore: fit.lossBefore, lossAfter: fit.lossAfter };
}
