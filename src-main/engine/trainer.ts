/**
 * The training loop (runs inside the engine worker). Each step draws a batch that mixes
 * pixel-labelled images (half the batch when there are any) with tag-only images, computes
 *   L = L_tag (sigmoid BCE on tags, all images with tags)  +  λ(t) · L_seg (pixel softmax CE on
 *   labelled pixels of the decoded heatmaps: the image's tags plus any class its scribbles
 *   use, plus the always-decoded background — planDecode in losses.ts),
 * and updates with Adam. Levers that make heatmaps and tags learn together (see
 * docs/EXPERIMENTS.md): a learnable log-temperature on the heatmap logits (LRP heatmaps are
 * ~1/(H·W) of a logit per pixel, so the softmax over raw heatmaps is almost uniform), a warm-up that
 * ramps λ from 0, and a lower learning rate for a pretrained encoder than for the new head.
 */
import * as tf from '@tensorflow/tfjs';
import { rng } from '../../src-shared/random.js';
import { Confusion, type SegMetrics, type TagMetrics, foregroundIou, summarize, tagMetrics } from '../../src-shared/metrics.js';
import { type AugmentOptions, type Dataset, type Sample, augmentedCrop } from './data.js';
import { backendName, prefetch } from './backend.js';
import { predict, type Tta } from './infer.js';
import { type HeatNorm, heatLogits, planDecode } from './losses.js';
import { type Segmenter, specStride } from './models/index.js';
import { DataParallel, LOG_SCALE_KEY, WARM_STEPS, type StepDraw, type StepSpec, concat, localStep } from './parallel.js';

import { ADAM_EPSILON, adam } from './adam.js';
import type { Refine } from './refine.js';
import { FlatAdam, flatAdamBackend, readWeights, valuesView, writeWeights } from './flat-adam.js';
import { DEFAULT_PROBE, probeTagHead } from './tag-probe.js';

export { ADAM_EPSILON, adam };

export interface TrainConfig {
  size: number;
  batch: number;
  epochs?: number;
  minutes?: number;
  /** Learning rate of the head and of an encoder trained from scratch. */
  lr: number;
  /** Learning rate of a pretrained encoder (default lr / 10). */
  encoderLr?: number;
  /** Learning rate of the tag head (`head/` variables; default `defaultHeadLr`: lr, Grad-CAM lr / 10). */
  headLr?: number;
  /** Weight λ of the heatmap loss after warm-up. */
  segWeight: number;
  /** Steps over which λ ramps up linearly from 0 (tag head learns first). */
  warmupSteps: number;
  seed: number;
  augment: Omit<AugmentOptions, 'size'>;
  /** Learnable temperature on heatmap logits, initial value (0 = method default). */
  heatScaleInit?: number;
  learnHeatScale?: boolean;
  /** Per-pixel normalisation of heatmaps before the softmax (see heatLogits). */
  heatNorm?: HeatNorm;
  /**
   * What `minutes` measures: wall-clock time (the app), or this process's CPU time (benchmarks:
   * methods get the same compute even when other programs share the cores).
   */
  budgetClock?: 'wall' | 'cpu';
  /** Evaluate on the validation set every this many epochs (0 = only at the end). */
  validateEvery?: number;
  /** Data-parallel threads (parallel.ts; default 1 here, physical cores in the app and CLI), at most `batch`. */
  threads?: number;
  /**
   * Classes every image decodes in training and inference, e.g. the project's background class
   * (METHOD.md: "plus background where the task has one"): its heatmap always competes.
   */
  alwaysDecode?: number[];
  /** Steps at the start that train the tag head alone (λ = 0), before λ's warm-up begins. */
  tagWarmupSteps?: number;
  /**
   * Tag loss weighting: 'none' (mean BCE), or 'balanced': per class, positives weighted by
   * N / (2·positives) and negatives by N / (2·negatives) over the tagged training images, so rare
   * classes are not learnt as "always absent".
   */
  tagBalance?: 'none' | 'balanced';
  /**
   * Fit the tag head on the frozen pretrained encoder's pooled features before joint training
   * (tag-probe.ts; pretrained encoders with a tag head only). Default on; its time counts in the budget.
   */
  tagProbe?: boolean;
}

export const DEFAULT_TRAIN: TrainConfig = {
  size: 128,
  batch: 8,
  epochs: 30,
  lr: 1e-3,
  segWeight: 1,
  warmupSteps: 100,
  seed: 1,
  augment: { maxScale: 1.4, flip: true, jitter: 0.15 },
  learnHeatScale: true,
  heatNorm: 'pixel',
  validateEvery: 0,
};

export type TrainEvent =
  | { type: 'start'; samples: number; labelled: number; tagged: number; stepsPerEpoch: number; totalSteps: number | null; threads: number }
  | {
      type: 'step';
      step: number;
      epoch: number;
      loss: number;
      tagLoss: number;
      segLoss: number;
      segWeight: number;
      heatScale: number;
      imagesPerSec: number;
      etaSec: number | null;
    }
  | { type: 'epoch'; epoch: number; step: number; tagLoss: number; segLoss: number; uniformSegLoss: number; val?: EvalResult }
  | { type: 'log'; message: string };

export interface EvalResult {
  predicted: SegMetrics;
  givenTags?: SegMetrics;
  tagAccuracy?: number;
  /** Tag mAP and per-class AP / accuracy over the evaluated images (tag-head models). */
  tags?: TagMetrics;
  /** With a background class: IoU of "any other class" vs background (predicted tags). */
  foregroundIou?: number;
}

export interface TrainResult {
  steps: number;
  epochs: number;
  seconds: number;
  /** CPU seconds of this process during training (all threads). */
  cpuSeconds: number;
  cancelled: boolean;
  heatScale: number;
  final: { tagLoss: number; segLoss: number; uniformSegLoss: number };
  val?: EvalResult;
}

export interface TrainHooks {
  onEvent?: (e: TrainEvent) => void;
  shouldStop?: () => boolean;
  /** Let the worker's message loop run (cancel messages) between steps. */
  yieldEvery?: number;
}

/** Encoder stride (models/types.ts specStride: product of conv strides and pool sizes). */
export function encoderStride(model: Segmenter): number {
  return specStride(model.config().encoder);
}

export function defaultHeatScale(model: Segmenter, size: number): number {
  // LRP heatmaps sum to the logit over all input pixels; Grad-CAM maps are on the logit's scale.
  return model.method === 'lrp' ? (size * size) / 4 : 1;
}

export interface EvalOptions {
  heatScale: number;
  /** Required: the model's own (a model file without one was trained with 'none'). */
  heatNorm: HeatNorm;
  withGivenTags: boolean;
  /** Decoding of predicted tags (see PredictOptions). */
  threshold?: number;
  minClasses?: number;
  maxClasses?: number;
  /** Soft decode weight (PredictOptions.tagPrior). */
  tagPrior?: number;
  /** Each image's own confusion matrix (predicted tags), e.g. to find the images behind a cell. */
  onImage?: (id: string, confusion: Confusion) => void;
  /** Called after each image (progress). */
  onProgress?: (done: number, total: number) => void;
  /** Classes always decoded (the background class); the first also gives `foregroundIou`. */
  always?: number[];
  /** Test-time augmentation (PredictOptions.tta). */
  tta?: Tta;
  /** Refinement with the image (PredictOptions.refine). */
  refine?: Refine;
}

export async function evaluate(model: Segmenter, data: Dataset, opts: EvalOptions): Promise<EvalResult> {
  const C = data.classes.length;
  const stride = encoderStride(model);
  const pred = new Confusion(C);
  const given = new Confusion(C);
  let tagHits = 0, tagTotal = 0;
  const probRows: Float32Array[] = [];
  const tagRows: number[][] = [];
  const always = opts.always ?? [];
  const withTruth = data.samples.filter((s) => s.truth);
  // what both predictions of an image share (with predicted tags, and with the true ones)
  const shared = { stride, heatScale: opts.heatScale, heatNorm: opts.heatNorm, ...(opts.tta ? { tta: opts.tta } : {}), ...(opts.refine ? { refine: opts.refine } : {}), always };
  for (const [i, s] of withTruth.entries()) {
    opts.onProgress?.(i, withTruth.length);
    const p = await predict(model, s, { ...shared, ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}), ...(opts.minClasses !== undefined ? { minClasses: opts.minClasses } : {}), ...(opts.maxClasses !== undefined ? { maxClasses: opts.maxClasses } : {}), ...(opts.tagPrior !== undefined ? { tagPrior: opts.tagPrior } : {}) });
    if (opts.onImage) {
      const own = new Confusion(C);
      own.add(s.truth!, p.mask);
      pred.merge(own);
      opts.onImage(s.id, own);
    } else pred.add(s.truth!, p.mask);
    if (p.tagProbs) {
      probRows.push(p.tagProbs);
      tagRows.push(s.tags);
      for (let c = 0; c < C; c++) {
        tagTotal++;
        if ((p.tagProbs[c]! >= 0.5) === s.tags.includes(c)) tagHits++;
      }
    }
    if (opts.withGivenTags && model.method !== 'unet' && s.tags.length) {
      const g = await predict(model, s, { ...shared, givenTags: s.tags });
      given.add(s.truth!, g.mask);
    }
  }
  opts.onProgress?.(withTruth.length, withTruth.length);
  return {
    predicted: summarize(pred, data.classes),
    ...(opts.withGivenTags && model.method !== 'unet' ? { givenTags: summarize(given, data.classes) } : {}),
    ...(tagTotal ? { tagAccuracy: tagHits / tagTotal, tags: tagMetrics(probRows, tagRows, data.classes) } : {}),
    ...(always.length ? { foregroundIou: foregroundIou(pred, always[0]!) } : {}),
  };
}

export async function train(model: Segmenter, data: Dataset, cfg: TrainConfig, hooks: TrainHooks = {}, val?: Dataset): Promise<TrainResult> {
  const C = data.classes.length;
  const S = cfg.size;
  const rand = rng(cfg.seed);
  const usesTags = model.method !== 'unet';
  const labelledPool = data.samples.filter((s) => s.labels);
  const taggedPool = data.samples.filter((s) => s.tags.length > 0);
  if (usesTags && taggedPool.length === 0) throw new Error('no image has tags: tag at least a few images (every class shown) before training');
  if (!usesTags && labelledPool.length === 0) throw new Error(`${model.method} learns only from pixel labels, and no image has any: brush some scribbles first`);
  const nLab = labelledPool.length ? (usesTags ? Math.max(1, Math.floor(cfg.batch / 2)) : cfg.batch) : 0;
  const nTag = usesTags ? cfg.batch - nLab : 0;
  const stepsPerEpoch = Math.max(1, Math.ceil((usesTags ? taggedPool.length : labelledPool.length) / cfg.batch));
  const totalSteps = cfg.epochs ? cfg.epochs * stepsPerEpoch : null;
  const threads = Math.max(1, Math.min(Math.floor(cfg.threads ?? 1), cfg.batch));
  hooks.onEvent?.({ type: 'start', samples: data.samples.length, labelled: labelledPool.length, tagged: taggedPool.length, stepsPerEpoch, totalSteps, threads });
  for (let c = 0; c < C; c++) {
    if (!data.samples.some((s) => s.tags.includes(c) || s.labels?.includes(c))) {
      hooks.onEvent?.({ type: 'log', message: `class "${data.classes[c]}" has no tagged or labelled image: the model cannot learn it` });
    }
  }
  const pretrained = model.config().encoder.family === 'keras';
  const named = model.namedVariables();
  const encVars = Object.entries(named).filter(([n]) => n.startsWith('encoder/')).map(([, v]) => v);
  const otherVars = Object.entries(named).filter(([n]) => !n.startsWith('encoder/')).map(([, v]) => v);
  const encLr = pretrained ? (cfg.encoderLr ?? cfg.lr / 10) : cfg.lr;
  const tagHeadLr = cfg.headLr ?? defaultHeadLr(model, cfg.lr);
  if (tagHeadLr !== cfg.lr && usesTags) hooks.onEvent?.({ type: 'log', message: `tag head learning rate ${tagHeadLr.toPrecision(2)} (the rest ${cfg.lr.toPrecision(2)})` });
  const decodes = model.method === 'lrp' || model.method === 'gradcam';
  const decodesAny = decodes && labelledPool.length > 0;
  // the heatmap temperature (log): its starting value is set once calibrated, below
  const logScale = tf.tidy(() => tf.variable(tf.scalar(0), cfg.learnHeatScale !== false && decodes, 'heatseg/logHeatScale'));
  // tf.train.adam optimizers (GPU backends); their slots and the temperature are freed however the run ends (a throw included)
  let tfOpts: tf.AdamOptimizer[] = [];
  try {
    // every variable a step may update, in a fixed order (the heatmap temperature last, always
    // listed so replicas receive its value; it gets no gradient when not trainable)
    const varList = [...encVars, ...otherVars, logScale];
    const encSet = new Set(encVars);
    const tagHeadSet = new Set(Object.entries(named).filter(([n]) => n.startsWith('head/')).map(([, v]) => v));
    const otherSet = new Set(otherVars.filter((v) => !tagHeadSet.has(v)));
    // one Adam per parameter group with its own learning rate (indices into varList); the temperature's
    // steps only when it has a gradient (it learns), the others every step
    const groups = [
      { vars: encSet, lr: encLr, optional: false },
      { vars: otherSet, lr: cfg.lr, optional: false },
      { vars: tagHeadSet, lr: tagHeadLr, optional: false },
      { vars: new Set([logScale]), lr: cfg.lr * 10, optional: true },
    ].map((g) => ({ ...g, index: varList.flatMap((v, j) => (g.vars.has(v) ? [j] : [])) }));
    const tagWeights = usesTags && cfg.tagBalance === 'balanced' ? balancedTagWeights(taggedPool, C) : null;
    const spec: StepSpec = {
      decodes,
      usesTags,
      heatNorm: cfg.heatNorm ?? 'none',
      classes: C,
      augment: { ...cfg.augment, size: S },
      always: cfg.alwaysDecode ?? [],
      ...(tagWeights ? { tagWeights: { pos: Array.from(tagWeights.pos), neg: Array.from(tagWeights.neg) } } : {}),
    };
    // the replicas start (a thread, a backend and a model each: seconds) while this thread calibrates
    // the temperature; they receive the weights with the first step
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const cpu0 = cpuMs();
    const clock = cfg.budgetClock === 'cpu' ? cpuMs : () => Date.now();
    // the budget starts here: the tag probe and the temperature calibration spend it too
    const c0 = clock();
    const t0 = Date.now();
    const starting =
      threads > 1
        ? DataParallel.start(model, logScale, varList, [...Object.keys(named).filter((n) => n.startsWith('encoder/')), ...Object.keys(named).filter((n) => !n.startsWith('encoder/')), LOG_SCALE_KEY], threads, spec, data.samples)
        : null;
    starting?.catch(() => undefined); // awaited below
    let initScale: number;
    try {
      if (cfg.tagProbe !== false && pretrained && usesTags) {
        const p = await probeTagHead(model, taggedPool, C, {
          ...DEFAULT_PROBE,
          augment: { ...cfg.augment, size: S },
          seed: cfg.seed + 7919,
          tagWeights: tagWeights ?? undefined,
        });
        hooks.onEvent?.({
          type: 'log',
          message: `tag head fitted on the pretrained features of ${p.images} tagged images × ${p.views} views, L2 ${p.l2.toPrecision(2)} (tag loss ${p.lossBefore.toFixed(3)} → ${p.lossAfter.toFixed(3)})`,
        });
      }
      initScale = cfg.heatScaleInit || (decodesAny ? await calibrateHeatScale(model, labelledPool, C, cfg, rand) : defaultHeatScale(model, S));
    } catch (e) {
      await starting?.then(
        (p) => p.close(),
        () => undefined,
      );
      throw e;
    }
    tf.tidy(() => logScale.assign(tf.scalar(Math.log(initScale))));
    if (decodesAny) hooks.onEvent?.({ type: 'log', message: `heatmap temperature starts at ${initScale.toPrecision(3)} (1 / std of the untrained heatmaps)` });
    const pool = starting
      ? await starting
      : null;
    if (pool) hooks.onEvent?.({ type: 'log', message: `data-parallel training on ${threads} threads` });

    const deadline = cfg.minutes ? c0 + cfg.minutes * 60_000 : Infinity;
    let step = 0;
    let cancelled = false;
    let epochTag = 0, epochSeg = 0, epochUniform = 0, epochCount = 0;
    let last = { tagLoss: NaN, segLoss: NaN, uniformSegLoss: NaN };
    let lastVal: EvalResult | undefined;
    // Epoch-wise shuffled order of each pool (sample indices), so every image is seen once per epoch.
    const order = (pool: number[]) => {
      let queue: number[] = [];
      return () => {
        if (queue.length === 0) queue = [...pool].map((s) => ({ s, k: rand() })).sort((a, b) => a.k - b.k).map((e) => e.s);
        return queue.pop()!;
      };
    };
    const indexOf = new Map(data.samples.map((s, i) => [s, i]));
    const nextLabelled = order(labelledPool.map((s) => indexOf.get(s)!));
    const nextTagged = order(taggedPool.map((s) => indexOf.get(s)!));
    // a crop seed per image: the crop depends on its image and seed only, whichever thread makes it
    const seed = () => Math.floor(rand() * 4294967296);
    let stepTimeAvg = 0;
    let optMs = 0;
    const drawStep = (at: number): StepDraw => {
      const lab = Array.from({ length: nLab }, nextLabelled);
      const tag = Array.from({ length: nTag }, nextTagged);
      return { lab, tag, labSeeds: lab.map(seed), tagSeeds: tag.map(seed), segWeight: segWeightAt(cfg, at) };
    };
    // On the CPU backends the optimizers run as FlatAdam over a working copy of the weights (bit for
    // bit tf.train.adam's arithmetic, without ~700 kernel calls a step); on a GPU backend, tfjs'.
    const backendNow = backendName();
    const flatOpt =
      backendNow && flatAdamBackend(backendNow)
        ? { weights: readWeights(varList), opts: groups.map((g) => new FlatAdam(g.index.map((j) => varList[j]!.size), g.lr)) }
        : null;
    if (!flatOpt) tfOpts = groups.map((g) => adam(g.lr));
    // with replicas, the next step is drawn as soon as this one's gradient is in, so they crop it
    // while the leader updates (DataParallel.prepare); the draws come in the same order either way
    let next: StepDraw | null = null;

    try {
      while (true) {
        if (totalSteps !== null && step >= totalSteps) break;
        if (clock() >= deadline) break;
        if (hooks.shouldStop?.()) {
          cancelled = true;
          break;
        }
        const ts = Date.now();
        const draw = next ?? drawStep(step);
        next = null;
        const segWeight = draw.segWeight;
        const { grads, flat, losses, labelledPixels, uniformSum } = pool
          ? await pool.gradients(model, logScale, data.samples, draw, spec, flatOpt !== null)
          : await localStep(model, logScale, varList, data.samples, draw, spec);
        if (pool && (totalSteps === null || step + 1 < totalSteps)) {
          next = drawStep(step + 1);
          pool.prepare(next);
        }
        const uniform = labelledPixels > 0 ? uniformSum / labelledPixels : 0;
        const lossTag = losses.tag;
        const lossSeg = losses.seg;
        const tOpt = performance.now();
        // FlatAdam does tf.train.adam's arithmetic in one loop per variable (flat-adam.ts)
        // (views of the gradients, read before anything allocates a tensor)
        const g = flatOpt ? (flat ?? grads.map((t) => (t ? valuesView(t) : null))) : null;
        groups.forEach((grp, k) => {
          if (grp.optional && !(g ?? grads)[grp.index[0]!]) return;
          if (flatOpt) flatOpt.opts[k]!.apply(grp.index.map((j) => flatOpt.weights[j]!), grp.index.map((j) => g![j] ?? null));
          else tfOpts[k]!.applyGradients(grp.index.flatMap((j) => (grads[j] ? [{ name: varList[j]!.name, tensor: grads[j]! }] : [])));
        });
        if (flatOpt) writeWeights(varList, flatOpt.weights, g!.map((x) => x !== null));
        const lossVal = losses.value;
        tf.dispose(grads.filter((t): t is tf.Tensor => t !== null));
        if (step >= WARM_STEPS) optMs += performance.now() - tOpt; // as pool.timing: past the warm-up
        if (!Number.isFinite(lossVal)) throw new Error(`training diverged at step ${step} (loss ${lossVal}); lower the learning rate`);

        step++;
        const dt = (Date.now() - ts) / 1000;
        stepTimeAvg = step <= 2 ? dt : stepTimeAvg * 0.9 + dt * 0.1;
        epochTag += lossTag;
        epochSeg += lossSeg;
        epochUniform += uniform;
        epochCount++;
        const heatScale = Math.exp((await logScale.data())[0]!);
        const remainingByEpochs = totalSteps !== null ? (totalSteps - step) * stepTimeAvg : Infinity;
        const remainingByTime = Number.isFinite(deadline) ? (deadline - clock()) / 1000 : Infinity;
        const eta = Math.min(remainingByEpochs, remainingByTime);
        hooks.onEvent?.({
          type: 'step',
          step,
          epoch: Math.floor((step - 1) / stepsPerEpoch) + 1,
          loss: lossVal,
          tagLoss: lossTag,
          segLoss: lossSeg,
          segWeight,
          heatScale,
          imagesPerSec: (nLab + nTag) / Math.max(1e-6, stepTimeAvg),
          etaSec: Number.isFinite(eta) ? eta : null,
        });
        if (step % stepsPerEpoch === 0) {
          const epoch = step / stepsPerEpoch;
          await prefetch(model.variables()); // the epoch's checkpoint reads the weights synchronously
          last = { tagLoss: epochTag / epochCount, segLoss: epochSeg / epochCount, uniformSegLoss: epochUniform / epochCount };
          const doVal = val && cfg.validateEvery && epoch % cfg.validateEvery === 0;
          if (doVal) lastVal = await evaluate(model, val!, { heatScale, heatNorm: cfg.heatNorm ?? 'none', withGivenTags: true, always: cfg.alwaysDecode ?? [] });
          hooks.onEvent?.({ type: 'epoch', epoch, step, ...last, ...(doVal && lastVal ? { val: lastVal } : {}) });
          epochTag = epochSeg = epochUniform = epochCount = 0;
        }
        if (step % (hooks.yieldEvery ?? 1) === 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      await pool?.close();
    }
    if (pool && pool.timing.steps > 0) {
      const t = pool.timing;
      const per = (ms: number) => (ms / t.steps).toFixed(0);
      hooks.onEvent?.({
        type: 'log',
        message: `${PARALLEL_TIMING_LOG} (ms per step, ${t.steps} steps after the first ${WARM_STEPS}): publish weights ${per(t.publish)}, crops ${per(t.crops)}, own shard ${per(t.own)}, waiting for replicas ${per(t.wait)}, reduce ${per(t.reduce)}, optimizers ${per(optMs)}; a replica: weights in ${per(t.replicaLoad)}, shard ${per(t.replicaShard)}, gradients out ${per(t.replicaCopy)}`,
      });
    }
    if (epochCount > 0) last = { tagLoss: epochTag / epochCount, segLoss: epochSeg / epochCount, uniformSegLoss: epochUniform / epochCount };
    const heatScale = Math.exp((await logScale.data())[0]!);
    await prefetch(model.variables()); // the caller saves the weights (synchronous reads)
    return {
      steps: step,
      epochs: step / stepsPerEpoch,
      seconds: (Date.now() - t0) / 1000,
      cpuSeconds: (cpuMs() - cpu0) / 1000,
      cancelled,
      heatScale,
      final: last,
      ...(lastVal ? { val: lastVal } : {}),
    };
  } finally {
    logScale.dispose();
    for (const o of tfOpts) o.dispose();
  }
}


/**
 * Initial heatmap temperature: 1 / (standard deviation of the untrained model's heatmaps on
 * labelled pixels), so the pixel softmax starts neither saturated nor uniform whatever the
 * backbone's scale (LRP heatmaps of a pretrained Darknet are ~100× those of a fresh small net).
 */
async function calibrateHeatScale(model: Segmenter, pool: Sample[], classes: number, cfg: TrainConfig, rand: () => number): Promise<number> {
  const S = cfg.size;
  const batch = pool.slice(0, Math.min(4, pool.length));
  const crops = batch.map((s) => augmentedCrop(s, { ...cfg.augment, size: S }, rand));
  const plan = planDecode({ classes, tags: batch.map((s) => s.tags), pixelLabels: crops.map((c) => c.labels), pixels: S * S, always: cfg.alwaysDecode ?? [] });
  const stdT = tf.tidy(() => {
    const x = tf.tensor4d(concat(crops.map((c) => c.x)), [batch.length, S, S, 3]);
    const dc = tf.tensor2d(plan.decodeClasses, [batch.length, plan.k], 'int32');
    const seg = heatLogits(model.forward(x, { decodeClasses: dc }).seg!, 1, cfg.heatNorm ?? 'none', dc);
    const valid = dc.greaterEqual(0).toFloat().reshape([batch.length, 1, 1, plan.k]);
    const n = valid.sum().mul(S * S);
    const mean = seg.mul(valid).sum().div(n);
    return seg.sub(mean).mul(valid).square().sum().div(n).sqrt();
  });
  // asynchronous read: the webgpu backend cannot read the GPU synchronously in Node
  const std = (await stdT.data())[0]!;
  stdT.dispose();
  return std > 0 && Number.isFinite(std) ? 1 / std : 1;
}

/**
 * The tag head's default learning rate: lr / 10 wherever the heatmap contains the last features
 * weighted by the head's own kernel (f · w_c) — Grad-CAM, and LRP read at two depths, whose top
 * term is that map — so that the heatmap loss pulls on the (probed) tag head directly; lr otherwise.
 * MSRC dev-val, 3 seeds: Grad-CAM +0.055 ± 0.021 mIoU at lr / 10; LRP read at its stop only gained
 * nothing from a slower or frozen head; LRP at two depths +0.054 ± 0.013 over the previous LRP default
 * with lr / 10 (+0.029 ± 0.032 at lr) (docs/EXPERIMENTS.md).
 */
export function defaultHeadLr(model: Pick<Segmenter, 'method' | 'config'> | Segmenter['method'], lr: number): number {
  const method = typeof model === 'string' ? model : model.method;
  const cam = method === 'gradcam' || (method === 'lrp' && typeof model !== 'string' && model.config().lrpTopRelevance === true);
  return cam ? lr / 10 : lr;
}

/** How the log event with the data-parallel leader's timing begins (bench speed prints it). */
export const PARALLEL_TIMING_LOG = 'data-parallel step on the leader';

/** `defaultHeadLr` in words, for the benches' config lines when no head LR is given. */
export const DEFAULT_HEAD_LR_RULE = 'lr; Grad-CAM and LRP read at two depths lr / 10';

/** λ at a step: 0 during the tag warm-up, then a linear ramp over `warmupSteps` to `segWeight`. */
export function segWeightAt(cfg: Pick<TrainConfig, 'segWeight' | 'warmupSteps' | 'tagWarmupSteps'>, step: number): number {
  const s = step - (cfg.tagWarmupSteps ?? 0);
  if (s < 0) return 0;
  return cfg.segWeight * Math.min(1, cfg.warmupSteps > 0 ? s / cfg.warmupSteps : 1);
}

/**
 * Class-balanced tag-loss weights over the tagged pool: [2, C] rows (positive, negative) with
 * w⁺_c = N / (2·n⁺_c) and w⁻_c = N / (2·n⁻_c), capped at 10 (a class tagged on 1 of 300 images
 * must not dominate the loss); a class with no positive or no negative image gets 1.
 */
export function balancedTagWeights(pool: ReadonlyArray<{ tags: number[] }>, classes: number): { pos: Float32Array; neg: Float32Array } {
  const n = pool.length;
  const pos = new Float32Array(classes).fill(1);
  const neg = new Float32Array(classes).fill(1);
  for (let c = 0; c < classes; c++) {
    const p = pool.filter((s) => s.tags.includes(c)).length;
    if (p === 0 || p === n) continue;
    pos[c] = Math.min(10, n / (2 * p));
    neg[c] = Math.min(10, n / (2 * (n - p)));
  }
  return { pos, neg };
}

