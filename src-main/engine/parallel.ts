/**
 * Data-parallel training on every CPU core: N threads, each with its own TF.js backend (wasm + the
 * kernels in kernels/) and its own replica of the model. Per step the leader (the thread that runs
 * `train`) draws the batch (which images, and a crop seed per image: `StepDraw`), splits it into N
 * contiguous shards (labelled part and tag-only part split separately, so every shard mixes both)
 * and posts shards 1..N-1 to the replica threads; every thread crops and augments its own images
 * (from the images shared once through SharedArrayBuffers: ~1 ms of CPU per 128-px crop, 8 per
 * step, work the leader would otherwise do alone), reports its loss normalisers, then computes its
 * gradient; the leader sums them in the fixed order 0, 1, …, N-1 from a SharedArrayBuffer. While
 * the leader sums and runs the optimizers (serial), the replicas already crop the next step's
 * shards (the trainer draws it ahead: `prepare`) and then the leader's crops too, taken one at a
 * time from an atomic counter until the leader, back for the next step, takes the rest. Each shard's loss is weighted by its share of the batch's normalisers
 * (labelled pixels for the pixel loss, tag-masked images for the tag loss), so the sum is the
 * full batch's gradient, not a mean of per-shard means. Only the leader runs the optimizers; it
 * writes the updated weights into a second SharedArrayBuffer that every replica loads before its
 * next shard, so the replicas never drift. A crop depends only on its image and seed, so the
 * batches are the same for every N; same seed and N → the same reduction order and the same
 * weights, bit for bit.
 *
 * Also: `physicalCores()` (the default thread count) and `shardList` (how inference jobs split an
 * image list).
 */
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { type MessagePort, Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { rng } from '../../src-shared/random.js';
import { type BackendName, backendName, initBackend } from './backend.js';
import { type AugmentOptions, type Crop, IGNORE, type Sample, augmentedCrop } from './data.js';
import { type HeatNorm, heatLogits, planDecode, segmentationLoss, tagLoss, tagTargets } from './losses.js';
import { buildSegmenter, type Segmenter, type SegmenterConfig } from './models/index.js';
import { valuesView, writeWeights } from './flat-adam.js';

/**
 * Physical cores of this machine (SMT siblings counted once) where the OS says (Linux sysfs);
 * elsewhere the logical CPU count. Two hyper-threads of one core share its FMA units, so a second
 * training thread on a sibling buys little and costs memory.
 */
export function physicalCores(): number {
  const logical = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  if (process.platform !== 'linux') return Math.max(1, logical);
  try {
    const cores = new Set<string>();
    const base = '/sys/devices/system/cpu';
    for (const d of fs.readdirSync(base)) {
      if (!/^cpu\d+$/.test(d)) continue;
      const topo = `${base}/${d}/topology`;
      if (!fs.existsSync(`${topo}/core_id`)) continue;
      const pkg = fs.existsSync(`${topo}/physical_package_id`) ? fs.readFileSync(`${topo}/physical_package_id`, 'utf8').trim() : '0';
      cores.add(`${pkg}:${fs.readFileSync(`${topo}/core_id`, 'utf8').trim()}`);
    }
    // a container may see fewer CPUs than the host's topology lists
    return Math.max(1, Math.min(logical, cores.size || logical));
  } catch {
    return Math.max(1, logical);
  }
}

/** Splits `items` into `n` contiguous parts of near-equal size (the first parts get the remainder), in order. */
export function shardList<T>(items: readonly T[], n: number): T[][] {
  const parts = Math.max(1, Math.min(n, items.length || 1));
  return Array.from({ length: parts }, (_, i) => items.slice(Math.floor((i * items.length) / parts), Math.floor(((i + 1) * items.length) / parts)));
}

/** What a training step needs to know about the model family (same on every thread). */
export interface StepSpec {
  /** LRP / Grad-CAM: the pixel loss is on heatmaps of the decode list. */
  decodes: boolean;
  /** Every method but the plain U-Net has a tag head and a tag loss. */
  usesTags: boolean;
  heatNorm: HeatNorm;
  /** Class-balanced tag loss: per-class weights of positive and negative targets (plain arrays: sent to workers). */
  tagWeights?: { pos: number[]; neg: number[] };
  /** Classes every image decodes (the project's background): METHOD's "plus background". */
  always?: number[];
  classes: number;
  /** Crop size and augmentation. */
  augment: AugmentOptions;
}

/** The leader's draw for one step: images (indices into the samples) and a crop seed each. */
export interface StepDraw {
  lab: number[];
  tag: number[];
  labSeeds: number[];
  tagSeeds: number[];
  /** λ: weight of the pixel loss (1 for the plain U-Net). */
  segWeight: number;
}

/** Splits a draw into `n` contiguous shards (labelled and tag-only images each split evenly); empty shards are kept. */
export function splitDraw(d: StepDraw, n: number): StepDraw[] {
  const cut = (total: number, i: number) => Math.floor((i * total) / n);
  return Array.from({ length: n }, (_, i) => {
    const [l0, l1] = [cut(d.lab.length, i), cut(d.lab.length, i + 1)];
    const [t0, t1] = [cut(d.tag.length, i), cut(d.tag.length, i + 1)];
    return { lab: d.lab.slice(l0, l1), tag: d.tag.slice(t0, t1), labSeeds: d.labSeeds.slice(l0, l1), tagSeeds: d.tagSeeds.slice(t0, t1), segWeight: d.segWeight };
  });
}

/**
 * Crops and augments a draw's images and builds the step's arrays (decode lists of these images,
 * pixel targets, tag targets) with the counts the loss normalises by.
 */
export function prepareBatch(samples: readonly Sample[], d: StepDraw, spec: StepSpec, crops?: ReadonlyArray<Crop | undefined>): StepBatch {
  const S = spec.augment.size;
  const C = spec.classes;
  const lab = d.lab.map((i) => samples[i]!);
  const tag = d.tag.map((i) => samples[i]!);
  const all = Array.from({ length: lab.length + tag.length }, (_, j) => crops?.[j] ?? cropOf(samples, d, spec, j));
  const labCrops = all.slice(0, lab.length);
  const tagCrops = all.slice(lab.length);
  const plan = lab.length && spec.decodes ? planDecode({ classes: C, tags: lab.map((s) => s.tags), pixelLabels: labCrops.map((c) => c.labels), pixels: S * S, always: spec.always ?? [] }) : null;
  const targets = tagTargets([...lab, ...tag].map((s) => s.tags), C);
  const yPix = lab.length ? (plan ? plan.targets! : classTargets(labCrops)) : null;
  const k = plan ? plan.k : C;
  let labelledPixels = 0;
  if (yPix) for (let p = 0; p < yPix.length; p++) if (yPix[p]! >= 0 && yPix[p]! < k) labelledPixels++;
  // the uniform-guess loss (log K over each labelled pixel's competing classes): a reference line
  let uniformSum = 0;
  if (yPix) {
    for (let i = 0; i < lab.length; i++) {
      const kk = plan ? plan.decodeClasses.subarray(i * plan.k, (i + 1) * plan.k).filter((c) => c >= 0).length : C;
      let n = 0;
      for (let p = i * S * S; p < (i + 1) * S * S; p++) if (yPix[p]! >= 0 && yPix[p]! < k) n++;
      uniformSum += n * Math.log(Math.max(1, kk));
    }
  }
  return {
    size: S,
    classes: C,
    nLab: lab.length,
    nTag: tag.length,
    xLab: lab.length ? concat(labCrops.map((c) => c.x)) : null,
    xTag: tag.length ? concat(tagCrops.map((c) => c.x)) : null,
    yTag: targets.targets,
    yMask: targets.mask,
    dc: plan ? plan.decodeClasses : null,
    k: plan ? plan.k : 0,
    yPix,
    segWeight: spec.usesTags ? d.segWeight : 1,
    labelledPixels,
    taggedImages: targets.mask.reduce((a, b) => a + b, 0),
    uniformSum,
  };
}

/** Crop `j` of a draw (its labelled images first, then its tag-only ones): depends on the image and its seed only. */
export function cropOf(samples: readonly Sample[], d: StepDraw, spec: StepSpec, j: number): Crop {
  const lab = j < d.lab.length;
  const k = lab ? j : j - d.lab.length;
  return augmentedCrop(samples[(lab ? d.lab : d.tag)[k]!]!, spec.augment, rng((lab ? d.labSeeds : d.tagSeeds)[k]!));
}

/**
 * Crops of `d` claimed one at a time from a shared counter (`Atomics.add`), by whichever threads
 * call this meanwhile: the replicas and the leader share the leader's shard this way, each
 * taking the next crop until none is left. Returns the ones this thread made, by index.
 */
export function claimCrops(samples: readonly Sample[], d: StepDraw, spec: StepSpec, counter: Int32Array): Map<number, Crop> {
  const made = new Map<number, Crop>();
  const n = d.lab.length + d.tag.length;
  for (let j = Atomics.add(counter, 0, 1); j < n; j = Atomics.add(counter, 0, 1)) made.set(j, cropOf(samples, d, spec, j));
  return made;
}

/** The crops' pixels end to end (one batch tensor's data). */
export function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Class index per pixel for the U-Nets (-1 = unlabelled). */
function classTargets(crops: Array<{ labels: Uint8Array | null }>): Int32Array {
  const n = crops[0]!.labels!.length;
  const out = new Int32Array(crops.length * n);
  crops.forEach((c, i) => {
    for (let p = 0; p < n; p++) {
      const v = c.labels![p]!;
      out[i * n + p] = v === IGNORE ? -1 : v;
    }
  });
  return out;
}

/** Samples in SharedArrayBuffers: every replica reads the same bytes, nothing is copied per thread. */
export interface SharedSamples {
  rgb: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  meta: Array<{ id: string; width: number; height: number; tags: number[]; rgbOffset: number; labelOffset: number | null; origWidth: number; origHeight: number }>;
}

export function shareSamples(samples: readonly Sample[]): SharedSamples {
  const rgb = new SharedArrayBuffer(Math.max(1, samples.reduce((a, s) => a + s.rgb.length, 0)));
  const labels = new SharedArrayBuffer(Math.max(1, samples.reduce((a, s) => a + (s.labels?.length ?? 0), 0)));
  const rgbView = new Uint8Array(rgb), labView = new Uint8Array(labels);
  let ro = 0, lo = 0;
  const meta = samples.map((s) => {
    rgbView.set(s.rgb, ro);
    const m = { id: s.id, width: s.width, height: s.height, tags: [...s.tags], rgbOffset: ro, labelOffset: s.labels ? lo : null, origWidth: s.origWidth, origHeight: s.origHeight };
    ro += s.rgb.length;
    if (s.labels) {
      labView.set(s.labels, lo);
      lo += s.labels.length;
    }
    return m;
  });
  return { rgb, labels, meta };
}

export function sharedSamples(sh: SharedSamples): Sample[] {
  return sh.meta.map((m) => ({
    id: m.id,
    rgb: new Uint8Array(sh.rgb, m.rgbOffset, m.width * m.height * 3),
    width: m.width,
    height: m.height,
    tags: m.tags,
    labels: m.labelOffset === null ? null : new Uint8Array(sh.labels, m.labelOffset, m.width * m.height),
    origWidth: m.origWidth,
    origHeight: m.origHeight,
  }));
}

/** One step's batch as plain arrays (rows: labelled images first, then tag-only ones). */
export interface StepBatch {
  size: number;
  classes: number;
  nLab: number;
  nTag: number;
  /** [nLab, S, S, 3] and [nTag, S, S, 3], RGB / 255. */
  xLab: Float32Array | null;
  xTag: Float32Array | null;
  /** [nLab + nTag, C] tag targets and [nLab + nTag] image mask of the tag loss. */
  yTag: Float32Array;
  yMask: Float32Array;
  /** [nLab, k] decode lists (decoders only). */
  dc: Int32Array | null;
  k: number;
  /** [nLab, S, S] pixel targets: decode-list position (decoders) or class index (U-Nets); -1 = unlabelled. */
  yPix: Int32Array | null;
  /** λ: weight of the pixel loss (1 for the plain U-Net). */
  segWeight: number;
  /** What the losses normalise by: labelled pixels (targets in 0..K-1) and images in the tag loss. */
  labelledPixels: number;
  taggedImages: number;
  /** Σ over labelled pixels of log(K competing classes): the uniform-guess loss × labelledPixels. */
  uniformSum: number;
}

/** A part of a batch, with the weights that make Σ shard losses = the full batch's loss. */
export interface Shard extends StepBatch {
  /** Labelled pixels of this shard / of the batch. */
  segShare: number;
  /** Tag-loss images of this shard / of the batch. */
  tagShare: number;
}

export interface ShardLosses {
  /** Weighted contributions: Σ over shards = the full batch's losses. */
  tag: number;
  seg: number;
  value: number;
}

/** The whole batch as one shard (single thread): weights 1, exactly the loss of the batch. */
export function wholeBatch(b: StepBatch): Shard {
  return { ...b, segShare: 1, tagShare: 1 };
}

/** A shard's loss weights given the whole batch's normalisers. */
export function withShares(b: StepBatch, totalPixels: number, totalTagged: number): Shard {
  return { ...b, segShare: totalPixels > 0 ? b.labelledPixels / totalPixels : 0, tagShare: totalTagged > 0 ? b.taggedImages / totalTagged : 0 };
}

/**
 * Gradients of one shard's weighted loss w.r.t. `varList` (missing: the shard does not reach that
 * variable). With weights 1 this is exactly the single-thread step's loss.
 */
export function shardGradients(
  model: Segmenter,
  logScale: tf.Variable,
  varList: tf.Variable[],
  sh: Shard,
  spec: StepSpec,
): { grads: Array<tf.Tensor | null>; losses: ShardLosses } {
  const { grads, lossTensors } = shardGradientTensors(model, logScale, varList, sh, spec);
  const read = (t: tf.Scalar | null) => (t ? t.dataSync()[0]! : 0);
  const losses: ShardLosses = { tag: read(lossTensors.tag), seg: read(lossTensors.seg), value: read(lossTensors.value) };
  tf.dispose(Object.values(lossTensors).filter((t): t is tf.Scalar => t !== null));
  return { grads, losses };
}

/** shardGradients with asynchronous loss reads: the webgpu backend cannot read the GPU synchronously in Node. */
export async function shardGradientsAsync(
  model: Segmenter,
  logScale: tf.Variable,
  varList: tf.Variable[],
  sh: Shard,
  spec: StepSpec,
): Promise<{ grads: Array<tf.Tensor | null>; losses: ShardLosses }> {
  const { grads, lossTensors } = shardGradientTensors(model, logScale, varList, sh, spec);
  const read = async (t: tf.Scalar | null) => (t ? (await t.data())[0]! : 0);
  const losses: ShardLosses = { tag: await read(lossTensors.tag), seg: await read(lossTensors.seg), value: await read(lossTensors.value) };
  tf.dispose(Object.values(lossTensors).filter((t): t is tf.Scalar => t !== null));
  return { grads, losses };
}

/** The gradients and the (weighted) loss scalars of one shard, not yet read; the caller disposes the scalars. */
function shardGradientTensors(
  model: Segmenter,
  logScale: tf.Variable,
  varList: tf.Variable[],
  sh: Shard,
  spec: StepSpec,
): { grads: Array<tf.Tensor | null>; lossTensors: { tag: tf.Scalar | null; seg: tf.Scalar | null; value: tf.Scalar | null } } {
  const S = sh.size;
  const n = sh.nLab + sh.nTag;
  if (n === 0) return { grads: varList.map(() => null), lossTensors: { tag: null, seg: null, value: null } };
  const xLab = sh.xLab ? tf.tensor4d(sh.xLab, [sh.nLab, S, S, 3]) : null;
  const xTag = sh.xTag ? tf.tensor4d(sh.xTag, [sh.nTag, S, S, 3]) : null;
  const yTag = tf.tensor2d(sh.yTag, [n, sh.classes]);
  const yMask = tf.tensor1d(sh.yMask);
  const dc = sh.dc ? tf.tensor2d(sh.dc, [sh.nLab, sh.k], 'int32') : null;
  const yPix = sh.yPix ? tf.tensor3d(sh.yPix, [sh.nLab, S, S], 'int32') : null;
  const parts: { tag: tf.Scalar | null; seg: tf.Scalar | null } = { tag: null, seg: null };
  const { value, grads } = tf.variableGrads(() => {
    const terms: tf.Scalar[] = [];
    const logits: tf.Tensor2D[] = [];
    if (xLab) {
      const out = model.forward(xLab, dc ? { decodeClasses: dc } : {});
      if (out.logits) logits.push(out.logits);
      const scaled = spec.decodes ? heatLogits(out.seg!, tf.exp(logScale) as tf.Scalar, spec.heatNorm, dc ?? undefined) : out.seg!;
      const seg = segmentationLoss(scaled, yPix!, dc ?? undefined);
      parts.seg = tf.keep(sh.segShare === 1 ? seg : (seg.mul(sh.segShare) as tf.Scalar));
      terms.push(spec.usesTags ? (parts.seg.mul(sh.segWeight) as tf.Scalar) : parts.seg);
    }
    if (xTag) logits.push(model.forward(xTag, { tagsOnly: true }).logits!);
    if (spec.usesTags && logits.length) {
      const all = logits.length === 1 ? logits[0]! : (tf.concat(logits, 0) as tf.Tensor2D);
      const tl = tagLoss(all, yTag, yMask, spec.tagWeights);
      parts.tag = tf.keep(sh.tagShare === 1 ? tl : (tl.mul(sh.tagShare) as tf.Scalar));
      terms.push(parts.tag);
    }
    return terms.reduce((a, b) => a.add(b) as tf.Scalar);
  }, varList);
  tf.dispose(([xLab, xTag, yTag, yMask, dc, yPix] as Array<tf.Tensor | null>).filter((t): t is tf.Tensor => t !== null));
  return { grads: varList.map((v) => grads[v.name] ?? null), lossTensors: { tag: parts.tag, seg: parts.seg, value } };
}

/** What a replica thread is started with (workerData.replica). */
export interface ReplicaInit {
  slot: number;
  backend: BackendName;
  config: SegmenterConfig;
  /** Variable keys in varList order: model.namedVariables() keys, then LOG_SCALE_KEY. */
  keys: string[];
  logScaleTrainable: boolean;
  spec: StepSpec;
  samples: SharedSamples;
  weights: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  present: SharedArrayBuffer;
  version: SharedArrayBuffer;
  /** Int32 counter of the leader's crops claimed this step (claimCrops). */
  claims: SharedArrayBuffer;
}

export const LOG_SCALE_KEY = 'heatseg/logHeatScale';

interface Counts {
  labelledPixels: number;
  taggedImages: number;
  uniformSum: number;
}
/** `lead`: after its own shard, also claim crops of the leader's shard (claimCrops) and send them back. */
type ToReplica = { type: 'prepare'; draw: StepDraw; lead?: StepDraw } | { type: 'grad'; totalPixels: number; totalTagged: number } | { type: 'close' };
/** A replica's time for one gradient request (ms): weights into its variables, its shard, the copy out. */
interface ReplicaMs {
  load: number;
  shard: number;
  copy: number;
}

type FromReplica = { type: 'ready' } | { type: 'prepared'; counts: Counts; lead?: Array<[number, Crop]> } | { type: 'done'; losses: ShardLosses; ms: ReplicaMs } | { type: 'error'; message: string };

/** Where the engine worker script is: the Electron bundle's engineWorker.js, or the tsx bootstrap from source. */
function replicaUrl(): URL {
  for (const rel of ['./engineWorker.js', '../engineWorker.js']) {
    const u = new URL(rel, import.meta.url);
    if (u.protocol === 'file:' && fs.existsSync(fileURLToPath(u))) return u;
  }
  return new URL('./worker-entry.mjs', import.meta.url);
}

/** A step's gradients (null: no shard reaches that variable) and losses. */
export interface StepGradients {
  grads: Array<tf.Tensor | null>;
  /** With `flat` asked of DataParallel.gradients: the summed gradients as arrays instead (`grads` then all null). */
  flat?: Array<Float32Array | null>;
  losses: ShardLosses;
  /** Labelled pixels of the batch and Σ log K over them (the uniform-guess loss × pixels). */
  labelledPixels: number;
  uniformSum: number;
}

/** One thread's step: crop, then the gradient with weights 1 (exactly the batch's loss). */
export async function localStep(model: Segmenter, logScale: tf.Variable, varList: tf.Variable[], samples: readonly Sample[], draw: StepDraw, spec: StepSpec): Promise<StepGradients> {
  const b = prepareBatch(samples, draw, spec);
  const r = await shardGradientsAsync(model, logScale, varList, wholeBatch(b), spec);
  return { ...r, labelledPixels: b.labelledPixels, uniformSum: b.uniformSum };
}

/** Steps DataParallel.timing leaves out (each thread's first kernels). */
export const WARM_STEPS = 2;

/** The leader's handle on N-1 replica threads. */
export class DataParallel {
  private closed = false;
  private readonly offsets: number[];
  private readonly sizes: number[];
  private readonly total: number;
  private readonly weightsView: Float32Array;
  private readonly gradsView: Float32Array;
  private acc: Float32Array | null = null;
  private readonly presentView: Uint8Array;
  private readonly versionView: Int32Array;
  private readonly claimsView: Int32Array;
  private readonly waiting: Array<{ resolve: (m: FromReplica) => void; reject: (e: Error) => void } | null>;
  /**
   * Where the leader's time went, summed over steps (ms): publishing the weights, cropping its
   * shard and waiting for the replicas' crops, its own shard's gradient, waiting for the replicas'
   * gradients, and the reduction (a serial share that bounds the speed-up; bench speed prints it).
   * The first WARM_STEPS steps (kernel set-up on every thread) are left out.
   */
  readonly timing = { steps: 0, publish: 0, crops: 0, own: 0, wait: 0, reduce: 0, replicaLoad: 0, replicaShard: 0, replicaCopy: 0 };
  private calls = 0;
  /** A draw whose shards the replicas are already cropping (see `prepare`). */
  private pending: { draw: StepDraw; replies: Array<Promise<FromReplica>> } | null = null;

  private constructor(
    readonly threads: number,
    private readonly varList: tf.Variable[],
    private readonly workers: Worker[],
    bufs: { weights: SharedArrayBuffer; grads: SharedArrayBuffer; present: SharedArrayBuffer; version: SharedArrayBuffer; claims: SharedArrayBuffer },
  ) {
    this.sizes = varList.map((v) => v.size);
    this.offsets = [];
    let o = 0;
    for (const s of this.sizes) {
      this.offsets.push(o);
      o += s;
    }
    this.total = o;
    this.weightsView = new Float32Array(bufs.weights);
    this.gradsView = new Float32Array(bufs.grads);
    this.presentView = new Uint8Array(bufs.present);
    this.versionView = new Int32Array(bufs.version);
    this.claimsView = new Int32Array(bufs.claims);
    this.waiting = workers.map(() => null);
    workers.forEach((w, i) => {
      w.on('message', (m: FromReplica) => {
        const p = this.waiting[i];
        this.waiting[i] = null;
        if (m.type === 'error') p?.reject(new Error(`training thread ${i + 1}: ${m.message}`));
        else p?.resolve(m);
      });
      const fail = (e: Error) => {
        const p = this.waiting[i];
        this.waiting[i] = null;
        p?.reject(e);
      };
      w.on('error', fail);
      w.on('exit', (code) => fail(new Error(`training thread ${i + 1} exited (code ${code})`)));
    });
  }

  /**
   * Starts `threads - 1` replicas of `model` on the current backend (the leader is thread 0), with
   * `samples` shared. `keys` name `varList` in order (see ReplicaInit.keys).
   */
  static async start(
    model: Segmenter,
    logScale: tf.Variable,
    varList: tf.Variable[],
    keys: string[],
    threads: number,
    spec: StepSpec,
    samples: readonly Sample[],
  ): Promise<DataParallel> {
    const backend = backendName();
    if (!backend) throw new Error('data-parallel training: initialise a backend first');
    const total = varList.reduce((a, v) => a + v.size, 0);
    const replicas = threads - 1;
    const bufs = {
      weights: new SharedArrayBuffer(total * 4),
      grads: new SharedArrayBuffer(Math.max(1, replicas) * total * 4),
      present: new SharedArrayBuffer(Math.max(1, replicas) * varList.length),
      version: new SharedArrayBuffer(4),
      claims: new SharedArrayBuffer(4),
    };
    const shared = shareSamples(samples);
    const workers: Worker[] = [];
    const ready: Array<Promise<void>> = [];
    for (let slot = 1; slot <= replicas; slot++) {
      const init: ReplicaInit = { slot, backend, config: model.config(), keys, logScaleTrainable: logScale.trainable, spec, samples: shared, ...bufs };
      const w = new Worker(replicaUrl(), { workerData: { replica: init }, resourceLimits: { maxOldGenerationSizeMb: 4096 } });
      workers.push(w);
      ready.push(
        new Promise<void>((resolve, reject) => {
          const onMsg = (m: FromReplica) => {
            w.off('message', onMsg);
            w.off('error', reject);
            if (m.type === 'ready') resolve();
            else reject(new Error(`training thread ${slot} failed to start: ${m.type === 'error' ? m.message : m.type}`));
          };
          w.on('message', onMsg);
          w.once('error', reject);
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new DataParallel(threads, varList, workers, bufs);
  }

  private ask(i: number, msg: ToReplica): Promise<FromReplica> {
    const p = new Promise<FromReplica>((resolve, reject) => (this.waiting[i] = { resolve, reject }));
    this.workers[i]!.postMessage(msg);
    return p;
  }

  /**
   * Starts cropping the next step's batch before that step is asked for: call it with the next
   * draw right after `gradients` returned, and the replicas crop their shards while the leader
   * sums the gradients and runs the optimizers (serial work the replicas would otherwise wait
   * through), then take crops of the leader's shard until the leader, back in `gradients`, takes
   * the rest (claimCrops). A crop depends only on its image and seed, so the step's result is the
   * same bit for bit whoever makes it; `gradients` with another draw crops as before.
   */
  prepare(draw: StepDraw): void {
    if (this.closed || this.pending) return;
    const draws = splitDraw(draw, this.threads);
    Atomics.store(this.claimsView, 0, 0);
    const replies = this.workers.map((_, i) => this.ask(i, { type: 'prepare', draw: draws[i + 1]!, lead: draws[0]! }));
    // a failure surfaces when the step awaits these (or not at all if training stops first)
    for (const r of replies) r.catch(() => undefined);
    this.pending = { draw, replies };
  }

  /** The full batch's gradients (summed over shards in slot order) and losses. */
  async gradients(model: Segmenter, logScale: tf.Variable, samples: readonly Sample[], draw: StepDraw, spec: StepSpec, flat = false): Promise<StepGradients> {
    if (this.closed) throw new Error('data-parallel trainer is closed');
    let tick = performance.now();
    const timed = ++this.calls > WARM_STEPS;
    const lap = (k: 'publish' | 'crops' | 'own' | 'wait' | 'reduce') => {
      const now = performance.now();
      if (timed) this.timing[k] += now - tick;
      tick = now;
    };
    // 1. publish the leader's current weights (the optimizers ran since the last step)
    this.varList.forEach((v, j) => this.weightsView.set(valuesView(v), this.offsets[j]!));
    Atomics.add(this.versionView, 0, 1);
    lap('publish');
    // 2. every thread crops its shard and reports what the losses normalise by (already under way
    //    when `prepare` was called with this draw; the leader's shard then comes from a replica)
    const pending = this.pending;
    this.pending = null;
    let mine: StepBatch;
    let replies: FromReplica[];
    if (pending?.draw === draw) {
      const lead = splitDraw(draw, this.threads)[0]!;
      const crops: Array<Crop | undefined> = [];
      for (const [j, c] of claimCrops(samples, lead, spec, this.claimsView)) crops[j] = c;
      replies = await Promise.all(pending.replies);
      for (const r of replies) for (const [j, c] of (r as Extract<FromReplica, { type: 'prepared' }>).lead ?? []) crops[j] = c;
      mine = prepareBatch(samples, lead, spec, crops);
    } else {
      if (pending) await Promise.allSettled(pending.replies); // one request per replica at a time
      const draws = splitDraw(draw, this.threads);
      const preparing = this.workers.map((_, i) => this.ask(i, { type: 'prepare', draw: draws[i + 1]! }));
      mine = prepareBatch(samples, draws[0]!, spec);
      replies = await Promise.all(preparing);
    }
    const counts = [mine as Counts, ...replies.map((m) => (m as Extract<FromReplica, { type: 'prepared' }>).counts)];
    const totalPixels = counts.reduce((a, c) => a + c.labelledPixels, 0);
    const totalTagged = counts.reduce((a, c) => a + c.taggedImages, 0);
    // 3. gradients of the shards' weighted losses: shard 0 here, the others in the replicas
    lap('crops');
    const computing = this.workers.map((_, i) => this.ask(i, { type: 'grad', totalPixels, totalTagged }));
    const own = shardGradients(model, logScale, this.varList, withShares(mine, totalPixels, totalTagged), spec);
    lap('own');
    let results: FromReplica[];
    try {
      results = await Promise.all(computing);
      lap('wait');
    } catch (e) {
      tf.dispose(own.grads.filter((g): g is tf.Tensor => g !== null));
      throw e;
    }
    // 4. reduce in slot order 0, 1, …, N-1
    // flat: the sum is built in one buffer kept across steps (its views are consumed before the next
    // call); as tensors, a fresh one (the cpu backend would keep it as the tensors' storage)
    const acc = flat ? (this.acc ??= new Float32Array(this.total)) : new Float32Array(this.total);
    const present = own.grads.map((g) => g !== null);
    own.grads.forEach((g, j) => {
      if (g) acc.set(valuesView(g), this.offsets[j]!);
      else acc.fill(0, this.offsets[j]!, this.offsets[j]! + this.sizes[j]!);
    });
    tf.dispose(own.grads.filter((g): g is tf.Tensor => g !== null));
    const losses = { ...own.losses };
    for (let r = 0; r < this.workers.length; r++) {
      const res = results[r]!;
      if (res.type !== 'done') throw new Error(`training thread ${r + 1}: unexpected reply ${res.type}`);
      losses.tag += res.losses.tag;
      losses.seg += res.losses.seg;
      losses.value += res.losses.value;
      if (timed) {
        // the slowest replica's would be the one waited for; with several, their mean says enough
        this.timing.replicaLoad += res.ms.load / this.workers.length;
        this.timing.replicaShard += res.ms.shard / this.workers.length;
        this.timing.replicaCopy += res.ms.copy / this.workers.length;
      }
      const base = r * this.total;
      for (let j = 0; j < this.varList.length; j++) {
        if (!this.presentView[r * this.varList.length + j]) continue;
        present[j] = true;
        const off = this.offsets[j]!;
        const end = off + this.sizes[j]!;
        for (let e = off; e < end; e++) acc[e] = acc[e]! + this.gradsView[base + e]!;
      }
    }
    const views = this.varList.map((_, j) => (present[j] ? acc.subarray(this.offsets[j]!, this.offsets[j]! + this.sizes[j]!) : null));
    const grads = flat ? views.map(() => null) : this.varList.map((v, j) => (views[j] ? tf.tensor(views[j]!, v.shape) : null));
    lap('reduce');
    if (timed) this.timing.steps++;
    return { grads, ...(flat ? { flat: views } : {}), losses, labelledPixels: totalPixels, uniformSum: counts.reduce((a, c) => a + c.uniformSum, 0) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.workers) w.postMessage({ type: 'close' } satisfies ToReplica);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The replica thread's loop (called by worker.ts when started with workerData.replica). */
export async function serveReplica(port: MessagePort, init: ReplicaInit): Promise<void> {
  let model: Segmenter;
  let logScale: tf.Variable;
  let varList: tf.Variable[];
  try {
    await initBackend(init.backend);
    model = buildSegmenter(init.config);
    logScale = tf.variable(tf.scalar(0), init.logScaleTrainable, LOG_SCALE_KEY);
    const named: Record<string, tf.Variable> = { ...model.namedVariables(), [LOG_SCALE_KEY]: logScale };
    varList = init.keys.map((k) => {
      const v = named[k];
      if (!v) throw new Error(`replica has no variable ${k}`);
      return v;
    });
  } catch (e) {
    port.postMessage({ type: 'error', message: (e as Error).message } satisfies FromReplica);
    return;
  }
  const samples = sharedSamples(init.samples);
  const sizes = varList.map((v) => v.size);
  const offsets: number[] = [];
  let total = 0;
  for (const s of sizes) {
    offsets.push(total);
    total += s;
  }
  const weights = new Float32Array(init.weights);
  const grads = new Float32Array(init.grads, (init.slot - 1) * total * 4, total);
  const present = new Uint8Array(init.present, (init.slot - 1) * varList.length, varList.length);
  const version = new Int32Array(init.version);
  const claims = new Int32Array(init.claims);
  let seen = -1;
  let prepared: StepBatch | null = null;
  port.on('message', (m: ToReplica) => {
    if (m.type === 'close') {
      model.dispose();
      logScale.dispose();
      port.close();
      return;
    }
    try {
      if (m.type === 'prepare') {
        prepared = prepareBatch(samples, m.draw, init.spec);
        const { labelledPixels, taggedImages, uniformSum } = prepared;
        const lead = m.lead ? [...claimCrops(samples, m.lead, init.spec, claims)] : [];
        const buffers = [...new Set(lead.flatMap(([, c]) => [c.x.buffer, ...(c.labels ? [c.labels.buffer] : [])]))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
        port.postMessage({ type: 'prepared', counts: { labelledPixels, taggedImages, uniformSum }, ...(m.lead ? { lead } : {}) } satisfies FromReplica, buffers);
        return;
      }
      if (!prepared) throw new Error('gradient asked before its shard was prepared');
      const t0 = performance.now();
      const v = Atomics.load(version, 0);
      if (v !== seen) {
        // the shared buffer's values into the variables (the leader rewrites it later): wasm copies
        // them onto its heap, so views do; the cpu backend would keep the array as the tensor's
        // storage, so it gets a copy
        const views = tf.getBackend() === 'wasm';
        writeWeights(varList, varList.map((_, j) => (views ? weights.subarray(offsets[j]!, offsets[j]! + sizes[j]!) : weights.slice(offsets[j]!, offsets[j]! + sizes[j]!))));
        seen = v;
      }
      const t1 = performance.now();
      const r = shardGradients(model, logScale, varList, withShares(prepared, m.totalPixels, m.totalTagged), init.spec);
      prepared = null;
      const t2 = performance.now();
      r.grads.forEach((g, j) => {
        present[j] = g ? 1 : 0;
        if (g) grads.set(valuesView(g), offsets[j]!);
      });
      tf.dispose(r.grads.filter((g): g is tf.Tensor => g !== null));
      port.postMessage({ type: 'done', losses: r.losses, ms: { load: t1 - t0, shard: t2 - t1, copy: performance.now() - t2 } } satisfies FromReplica);
    } catch (e) {
      port.postMessage({ type: 'error', message: (e as Error).message } satisfies FromReplica);
    }
  });
  port.postMessage({ type: 'ready' } satisfies FromReplica);
}
