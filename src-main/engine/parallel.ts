/**
 * Data-parallel training on every CPU core: N threads, each with its own TF.js backend (wasm + the
 * kernels in kernels/) and its own replica of the model. Per step the leader (the thread that runs
 * `train`) splits the batch into N contiguous shards (labelled part and tag-only part split
 * separately, so every shard mixes both), posts shards 1..N-1 to the replica threads, computes
 * shard 0 itself, and sums the shard gradients in the fixed order 0, 1, …, N-1 from a
 * SharedArrayBuffer. Each shard's loss is weighted by its share of the batch's normalisers
 * (labelled pixels for the pixel loss, tag-masked images for the tag loss), so the sum is the
 * full batch's gradient, not a mean of per-shard means. Only the leader runs the optimizers; it
 * writes the updated weights into a second SharedArrayBuffer that every replica loads before its
 * next shard, so the replicas never drift. Same seed and N → the same batches, the same
 * reduction order, the same weights, bit for bit.
 *
 * Also: `physicalCores()` (the default thread count) and `shardList` (how inference jobs split an
 * image list).
 */
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { type MessagePort, Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { type BackendName, backendName, initBackend } from './backend.js';
import { type HeatNorm, heatLogits, segmentationLoss, tagLoss } from './losses.js';
import { buildSegmenter, type Segmenter, type SegmenterConfig } from './models/index.js';

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

/** Splits a batch into `n` shards (labelled and tag-only images each split contiguously); empty shards are kept. */
export function splitBatch(b: StepBatch, n: number): Shard[] {
  if (n <= 1) return [wholeBatch(b)];
  const S2 = b.size * b.size;
  const C = b.classes;
  const k = b.dc ? b.k : C;
  const labelledPixels = (from: number, to: number) => {
    let c = 0;
    if (!b.yPix) return 0;
    for (let p = from * S2; p < to * S2; p++) {
      const v = b.yPix[p]!;
      if (v >= 0 && v < k) c++;
    }
    return c;
  };
  const masked = (rows: number[]) => rows.reduce((a, r) => a + b.yMask[r]!, 0);
  const totalPix = labelledPixels(0, b.nLab);
  const totalMask = masked(Array.from({ length: b.nLab + b.nTag }, (_, i) => i));
  const cut = (total: number, i: number) => Math.floor((i * total) / n);
  const shards: Shard[] = [];
  for (let i = 0; i < n; i++) {
    const l0 = cut(b.nLab, i), l1 = cut(b.nLab, i + 1);
    const t0 = cut(b.nTag, i), t1 = cut(b.nTag, i + 1);
    const rows = [...range(l0, l1), ...range(b.nLab + t0, b.nLab + t1)];
    const yTag = new Float32Array(rows.length * C);
    rows.forEach((r, j) => yTag.set(b.yTag.subarray(r * C, (r + 1) * C), j * C));
    const pix = labelledPixels(l0, l1);
    shards.push({
      size: b.size,
      classes: C,
      nLab: l1 - l0,
      nTag: t1 - t0,
      xLab: b.xLab && l1 > l0 ? b.xLab.slice(l0 * S2 * 3, l1 * S2 * 3) : null,
      xTag: b.xTag && t1 > t0 ? b.xTag.slice(t0 * S2 * 3, t1 * S2 * 3) : null,
      yTag,
      yMask: Float32Array.from(rows, (r) => b.yMask[r]!),
      dc: b.dc && l1 > l0 ? b.dc.slice(l0 * b.k, l1 * b.k) : null,
      k: b.k,
      yPix: b.yPix && l1 > l0 ? b.yPix.slice(l0 * S2, l1 * S2) : null,
      segWeight: b.segWeight,
      segShare: totalPix > 0 ? pix / totalPix : 0,
      tagShare: totalMask > 0 ? masked(rows) / Math.max(1, totalMask) : 0,
    });
  }
  return shards;
}

function range(a: number, b: number): number[] {
  return Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);
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
  const S = sh.size;
  const n = sh.nLab + sh.nTag;
  if (n === 0) return { grads: varList.map(() => null), losses: { tag: 0, seg: 0, value: 0 } };
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
  const losses: ShardLosses = {
    tag: parts.tag ? parts.tag.dataSync()[0]! : 0,
    seg: parts.seg ? parts.seg.dataSync()[0]! : 0,
    value: value.dataSync()[0]!,
  };
  tf.dispose(([value, xLab, xTag, yTag, yMask, dc, yPix, parts.tag, parts.seg] as Array<tf.Tensor | null>).filter((t): t is tf.Tensor => t !== null));
  return { grads: varList.map((v) => grads[v.name] ?? null), losses };
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
  weights: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  present: SharedArrayBuffer;
  version: SharedArrayBuffer;
}

export const LOG_SCALE_KEY = 'heatseg/logHeatScale';

type ToReplica = { type: 'step'; shard: Shard } | { type: 'close' };
type FromReplica = { type: 'ready' } | { type: 'done'; losses: ShardLosses } | { type: 'error'; message: string };

/** Where the engine worker script is: the Electron bundle's engineWorker.js, or the tsx bootstrap from source. */
function replicaUrl(): URL {
  for (const rel of ['./engineWorker.js', '../engineWorker.js']) {
    const u = new URL(rel, import.meta.url);
    if (u.protocol === 'file:' && fs.existsSync(fileURLToPath(u))) return u;
  }
  return new URL('./worker-entry.mjs', import.meta.url);
}

/** The leader's handle on N-1 replica threads. */
export class DataParallel {
  private closed = false;
  private readonly offsets: number[];
  private readonly sizes: number[];
  private readonly total: number;
  private readonly weightsView: Float32Array;
  private readonly gradsView: Float32Array;
  private readonly presentView: Uint8Array;
  private readonly versionView: Int32Array;
  private waiting: Array<{ resolve: (m: FromReplica) => void; reject: (e: Error) => void } | null>;

  private constructor(
    readonly threads: number,
    private readonly varList: tf.Variable[],
    private readonly workers: Worker[],
    bufs: { weights: SharedArrayBuffer; grads: SharedArrayBuffer; present: SharedArrayBuffer; version: SharedArrayBuffer },
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
   * Starts `threads - 1` replicas of `model` on the current backend (the leader is thread 0).
   * `keys` name `varList` in order (see ReplicaInit.keys).
   */
  static async start(model: Segmenter, logScale: tf.Variable, varList: tf.Variable[], keys: string[], threads: number, spec: StepSpec): Promise<DataParallel> {
    const backend = backendName();
    if (!backend) throw new Error('data-parallel training: initialise a backend first');
    const total = varList.reduce((a, v) => a + v.size, 0);
    const replicas = threads - 1;
    const bufs = {
      weights: new SharedArrayBuffer(total * 4),
      grads: new SharedArrayBuffer(Math.max(1, replicas) * total * 4),
      present: new SharedArrayBuffer(Math.max(1, replicas) * varList.length),
      version: new SharedArrayBuffer(4),
    };
    const workers: Worker[] = [];
    const ready: Array<Promise<void>> = [];
    for (let slot = 1; slot <= replicas; slot++) {
      const init: ReplicaInit = { slot, backend, config: model.config(), keys, logScaleTrainable: logScale.trainable, spec, ...bufs };
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

  /** The full batch's gradients (summed over shards in slot order) and losses. */
  async gradients(
    model: Segmenter,
    logScale: tf.Variable,
    batch: StepBatch,
    spec: StepSpec,
  ): Promise<{ grads: Array<tf.Tensor | null>; losses: ShardLosses }> {
    if (this.closed) throw new Error('data-parallel trainer is closed');
    // 1. publish the leader's current weights (the optimizers ran since the last step)
    this.varList.forEach((v, j) => this.weightsView.set(v.dataSync() as Float32Array, this.offsets[j]!));
    Atomics.add(this.versionView, 0, 1);
    // 2. shards 1..N-1 to the replicas, shard 0 here
    const shards = splitBatch(batch, this.threads);
    const replies = this.workers.map((w, i) => {
      const p = new Promise<FromReplica>((resolve, reject) => (this.waiting[i] = { resolve, reject }));
      w.postMessage({ type: 'step', shard: shards[i + 1]! } satisfies ToReplica);
      return p;
    });
    const mine = shardGradients(model, logScale, this.varList, shards[0]!, spec);
    let results: FromReplica[];
    try {
      results = await Promise.all(replies);
    } catch (e) {
      tf.dispose(mine.grads.filter((g): g is tf.Tensor => g !== null));
      throw e;
    }
    // 3. reduce in slot order 0, 1, …, N-1
    const acc = new Float32Array(this.total);
    const present = mine.grads.map((g) => g !== null);
    mine.grads.forEach((g, j) => {
      if (g) acc.set(g.dataSync() as Float32Array, this.offsets[j]!);
    });
    tf.dispose(mine.grads.filter((g): g is tf.Tensor => g !== null));
    const losses = { ...mine.losses };
    for (let r = 0; r < this.workers.length; r++) {
      const res = results[r]!;
      if (res.type !== 'done') throw new Error(`training thread ${r + 1}: unexpected reply ${res.type}`);
      losses.tag += res.losses.tag;
      losses.seg += res.losses.seg;
      losses.value += res.losses.value;
      const base = r * this.total;
      for (let j = 0; j < this.varList.length; j++) {
        if (!this.presentView[r * this.varList.length + j]) continue;
        present[j] = true;
        const off = this.offsets[j]!;
        const end = off + this.sizes[j]!;
        for (let e = off; e < end; e++) acc[e] = acc[e]! + this.gradsView[base + e]!;
      }
    }
    const grads = this.varList.map((v, j) => (present[j] ? tf.tensor(acc.subarray(this.offsets[j]!, this.offsets[j]! + this.sizes[j]!), v.shape) : null));
    return { grads, losses };
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
  let seen = -1;
  port.on('message', (m: ToReplica) => {
    if (m.type === 'close') {
      model.dispose();
      logScale.dispose();
      port.close();
      return;
    }
    try {
      const v = Atomics.load(version, 0);
      if (v !== seen) {
        varList.forEach((vr, j) => {
          const t = tf.tensor(weights.slice(offsets[j]!, offsets[j]! + sizes[j]!), vr.shape);
          vr.assign(t);
          t.dispose();
        });
        seen = v;
      }
      const r = shardGradients(model, logScale, varList, m.shard, init.spec);
      r.grads.forEach((g, j) => {
        present[j] = g ? 1 : 0;
        if (g) grads.set(g.dataSync() as Float32Array, offsets[j]!);
      });
      tf.dispose(r.grads.filter((g): g is tf.Tensor => g !== null));
      port.postMessage({ type: 'done', losses: r.losses } satisfies FromReplica);
    } catch (e) {
      port.postMessage({ type: 'error', message: (e as Error).message } satisfies FromReplica);
    }
  });
  port.postMessage({ type: 'ready' } satisfies FromReplica);
}
