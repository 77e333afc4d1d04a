/**
 * Engine jobs: what the worker thread runs. Each is headless and streams events; the main side
 * (CLI, server session, Electron) owns the project's run rows and only reads results.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type ImageOutputs, type Strategy, type Suggestion, rank } from '../../src-shared/acquisition.js';
import { ProjectStore } from '../store/project.js';
import { initBackend, type BackendInfo, type BackendName } from './backend.js';
import { type Dataset, datasetFromMaskFolder, datasetFromProject, decodeToWorking, type Sample } from './data.js';
import { type ExportRunResult, exportRun } from './export-run.js';
import { tagPriorLoss as tagPriorLossOf } from '../../src-shared/tag-trust.js';
import { NO_TTA, predict, type Tta } from './infer.js';
import { NO_REFINE, type Refine } from './refine.js';
import { writePredictionPngs } from './prediction-png.js';
import { type LoadedModel, MODEL_FILE, type ModelMeta, WEIGHTS_FILE, checkpointDirOf, loadModel, saveModel } from './model-io.js';
import { createSegmenter, type LrpPoolRule, type LrpRuleName, type SegMethod, type Segmenter } from './models/index.js';
import { physicalCores, shardList } from './parallel.js';
import { startJob } from './client.js';
import { onlyHolds } from '../safe-fs.js';
import { DEFAULT_VAL_FRACTION, recordedSplit, splitValidation, type ValidationSplit } from './validation.js';
import { DEFAULT_TRAIN, type EvalResult, type TrainConfig, type TrainEvent, type TrainResult, encoderStride, evaluate, train } from './trainer.js';

export interface TrainJob {
  kind: 'train';
  project: string;
  /** Project-relative folder the model is written to (models/<run id>). */
  modelDir: string;
  method: SegMethod;
  /** 'small' or a TF.js layers model folder. */
  backbone: string;
  /** What the model file records as its backbone (a shipped backbone's name); default `backbone`. */
  backboneLabel?: string;
  backend?: BackendName;
  config: Partial<TrainConfig>;
  /** Start from the weights of this model folder (resume / fine-tune). */
  resumeFrom?: string;
  /** Decoder options of a new model (recorded in its segmenter config). */
  model?: { lrpRule?: LrpRuleName; lrpDepth?: number; lrpPool?: LrpPoolRule; lrpTopRelevance?: boolean };
  /** Part of the pixel-labelled images kept out of training for evaluation (validation.ts; default 0.2). */
  valFraction?: number;
}

export interface PredictJob {
  kind: 'predict';
  model: string;
  images: string[];
  out: string;
  backend?: BackendName;
  /** Threads the image list is split across (default: physical cores, ≥ 8 images each). */
  threads?: number;
  /** Test-time views (default the app's DEFAULT_TTA). */
  tta?: Tta;
  /** Refinement with the image (default the app's DEFAULT_REFINE). */
  refine?: Refine;
}

export interface EvalJob {
  kind: 'eval';
  model: string;
  /** A mask folder (ground truth) … */
  data?: string;
  /** … or a project: its pixel-labelled images, their labels as ground truth. */
  project?: string;
  /** Per confusion cell, the images with most pixels in it (at most this many per cell; 0: none). */
  cellImages?: number;
  backend?: BackendName;
}

/** The images behind one confusion cell: ids (project image ids or mask-folder names) and pixel counts. */
export interface CellImages {
  truth: number;
  predicted: number;
  images: Array<{ id: string; pixels: number }>;
}

export interface SuggestJob {
  kind: 'suggest';
  project: string;
  model: string;
  strategy: Strategy;
  n: number;
  seed?: number;
  backend?: BackendName;
  /** Threads the image list is split across (default: physical cores; see scoreImages). */
  threads?: number;
}

/** Internal (suggest's helper threads): the model's outputs for suggest's scores on a list of images. */
export interface ScoreJob {
  kind: 'score';
  model: string;
  images: Array<{ id: number; file: string }>;
  backend?: BackendName;
}

/** A prediction at scoring size (a 64-px-wide map). */
export interface ScoredImage {
  id: number;
  tagProbs: Float32Array | null;
  classes: number[];
  probs: Float32Array;
  mask: Uint8Array;
}

/** Predictions kept in memory (the app's overlays): per image the mask and confidence at original size. */
export interface PredictRawJob {
  kind: 'predict-raw';
  model: string;
  images: Array<{ id: number; file: string }>;
  backend?: BackendName;
  /** Keep the model loaded in this worker for the next job (the app's warm engine, client.ts EngineWorker). */
  warm?: boolean;
}

/** Loads a model folder into the worker's warm slot (after a run completes / a project opens), so the next prediction need not; without a model, only the backend. */
export interface LoadModelJob {
  kind: 'load-model';
  model?: string;
  backend?: BackendName;
  /** No model yet (a run just started): run one prediction with a throwaway model of this shape, so the backend's kernels are ready when the run's model comes. */
  warmup?: { method: SegMethod; backbone: string; classes: number; inputSize: number };
}

export interface RawPrediction {
  id: number;
  width: number;
  height: number;
  /** Class index (model order) per pixel. */
  mask: Uint8Array;
  /** Probability of the winning class per pixel, 0..255. */
  confidence: Uint8Array;
  classes: number[];
  tagProbs: number[] | null;
}

/** A run's model → a heatseg folder or ONNX (export-run.ts), off the thread that answers the UI / CLI. */
export interface ExportJob {
  kind: 'export';
  project: string;
  /** Absolute output folder. */
  out: string;
  format: 'heatseg' | 'onnx';
  runId?: number;
}

export type Job = TrainJob | PredictJob | EvalJob | SuggestJob | PredictRawJob | LoadModelJob | ScoreJob | ExportJob;

export type JobEvent = { type: 'backend'; backend: BackendInfo } | { type: 'progress'; task: string; done: number; total: number } | TrainEvent;

export interface TrainJobResult {
  backend: BackendInfo;
  result: TrainResult;
  modelDir: string;
  /** Tag loss of the best image-blind guess on the training images (src-shared/tag-trust.ts). */
  tagPriorLoss: number | null;
  /** The labelled images held out of training and those trained on (project image ids). */
  validation: ValidationSplit;
}
export interface PredictJobResult {
  backend: BackendInfo;
  written: Array<{ image: string; mask: string; heatmap: string; classes: string[] }>;
  failed: Array<{ image: string; reason: string }>;
}
export interface EvalJobResult {
  backend: BackendInfo;
  /** Images behind `metrics` (and `cells`): the run's held-out images when it recorded some, else every labelled one. */
  images: number;
  metrics: EvalResult;
  scope: 'held-out' | 'training';
  /** With a held-out headline: the score on the labelled images the run trained on. */
  trainingSet?: { images: number; metrics: EvalResult };
  /** Labelled images in neither set (labelled after the run): not counted. */
  notCounted: number;
  /** The run's validation fraction (null: it recorded no split). */
  valFraction: number | null;
  /** Only with `cellImages`: the non-empty cells, each with its top images. */
  cells?: CellImages[];
}
export interface SuggestJobResult {
  backend: BackendInfo;
  strategy: Strategy;
  candidates: number;
  suggestions: Array<Suggestion & { id: number; name: string }>;
}
export interface PredictRawJobResult {
  backend: BackendInfo;
  /** The model's classes in its index order (`id`: the project class it was trained on, when recorded). */
  modelClasses: Array<{ name: string; id?: number }>;
  predictions: RawPrediction[];
  failed: Array<{ id: number; reason: string }>;
}
export interface LoadModelJobResult {
  backend: BackendInfo;
  /** False: it was loaded already (same folder, same files). */
  loaded: boolean;
}
export interface ScoreJobResult {
  backend: BackendInfo;
  scored: ScoredImage[];
}
export type ExportJobResult = ExportRunResult;
export type JobResult = TrainJobResult | PredictJobResult | EvalJobResult | SuggestJobResult | PredictRawJobResult | LoadModelJobResult | ScoreJobResult | ExportJobResult;

export interface JobContext {
  emit: (e: JobEvent) => void;
  cancelled: () => boolean;
}

/** The backend as a data-parallel run reports it (Train panel, run rows, model metadata). */
function withThreads(info: BackendInfo, threads: number): BackendInfo {
  return threads > 1 ? { ...info, detail: `${info.detail.replace(/, 1 thread$/, '')}, data-parallel on ${threads} threads` } : info;
}

async function backend(ctx: JobContext, preferred?: BackendName): Promise<BackendInfo> {
  const info = await initBackend(preferred);
  ctx.emit({ type: 'backend', backend: info });
  return info;
}

export async function runJob(job: Job, ctx: JobContext): Promise<JobResult> {
  switch (job.kind) {
    case 'train':
      return trainJob(job, ctx);
    case 'predict':
      return predictJob(job, ctx);
    case 'eval':
      return evalJob(job, ctx);
    case 'suggest':
      return suggestJob(job, ctx);
    case 'predict-raw':
      return predictRawJob(job, ctx);
    case 'load-model': {
      const info = await backend(ctx, job.backend);
      const before = warmModel;
      if (job.model) {
        const { segmenter, meta } = acquireModel(job.model, true).model;
        // a newly loaded model's first prediction is slower too (its weights reach the backend): pay it here
        await warmKernels(segmenter, meta.inputSize, warmModel !== before);
      } else if (job.warmup) {
        const w = job.warmup;
        const seg = await createSegmenter({
          method: w.method,
          classes: Math.max(1, w.classes),
          inputSize: w.inputSize,
          encoder: w.backbone === 'small' ? { kind: 'small' } : { kind: 'pretrained', path: w.backbone },
        });
        try {
          await warmKernels(seg, w.inputSize);
        } finally {
          seg.dispose();
        }
      }
      return { backend: info, loaded: warmModel !== before };
    }
    case 'score':
      return scoreJob(job, ctx);
    case 'export': {
      const store = ProjectStore.open(job.project, { readOnly: true });
      try {
        return await exportRun(store, job.out, { format: job.format, ...(job.runId ? { runId: job.runId } : {}) });
      } finally {
        store.close();
      }
    }
  }
}

/**
 * The first prediction in a thread costs seconds (the backend sets up each kernel on first use);
 * a new model's first one does not. A warm worker pays it once, ahead of the user's first overlay.
 */
let kernelsWarm = false;

async function warmKernels(segmenter: Segmenter, size: number, force = false): Promise<void> {
  if (kernelsWarm && !force) return;
  const blank = { id: 'warm-up', rgb: new Uint8Array(size * size * 3).fill(128), width: size, height: size, origWidth: size, origHeight: size, tags: [], labels: null };
  await predict(segmenter, blank, { stride: encoderStride(segmenter), heatNorm: 'pixel' });
  kernelsWarm = true;
}

/** The model a warm worker keeps between jobs, keyed by its folder and its files' identity. */
let warmModel: { key: string; loaded: LoadedModel } | null = null;

function modelKey(dir: string): string {
  const abs = path.resolve(dir);
  const id = (f: string) => {
    const st = fs.statSync(path.join(abs, f));
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  };
  return `${abs}|${id(MODEL_FILE)}|${id(WEIGHTS_FILE)}`;
}

/** A model for one job: loaded afresh and disposed after it, or (warm) the kept one, reloaded when the folder or its files changed. */
function acquireModel(dir: string, warm: boolean): { model: LoadedModel; release: () => void } {
  if (!warm) {
    const model = loadModel(dir);
    return { model, release: () => model.segmenter.dispose() };
  }
  let key: string;
  try {
    key = modelKey(dir);
  } catch {
    throw new Error(`${dir}: no model folder (heatseg-model.json and weights.bin)`);
  }
  if (warmModel?.key !== key) {
    warmModel?.loaded.segmenter.dispose();
    warmModel = null;
    warmModel = { key, loaded: loadModel(dir) };
  }
  return { model: warmModel.loaded, release: () => undefined };
}

async function trainJob(job: TrainJob, ctx: JobContext): Promise<TrainJobResult> {
  const cfg: TrainConfig = { ...DEFAULT_TRAIN, ...job.config, augment: { ...DEFAULT_TRAIN.augment, ...job.config.augment } };
  // every physical core unless told otherwise (parallel.ts); the trainer caps it at the batch size
  cfg.threads = Math.min(job.config.threads ?? physicalCores(), cfg.batch);
  const info = withThreads(await initBackend(job.backend), cfg.threads);
  ctx.emit({ type: 'backend', backend: info });
  const store = ProjectStore.open(job.project);
  let data: Dataset;
  let colors: string[];
  try {
    const classes = store.classes();
    colors = classes.map((c) => c.color);
    // The project's background class(es) compete in every image's decode, in training and inference.
    if (!job.config.alwaysDecode) cfg.alwaysDecode = classes.flatMap((c, k) => (c.isBackground ? [k] : []));
    data = await datasetFromProject(store, cfg.size, (done, total) => ctx.emit({ type: 'progress', task: 'load images', done, total }));
  } finally {
    store.close();
  }
  if (data.classes.length < 1) throw new Error(`${job.project} has no classes: add classes and tag images first`);
  if (data.samples.length === 0) throw new Error(`${job.project} has no tagged or labelled images to train on`);
  // Held-out images never reach the trainer: no gradient from their scribbles or tags.
  const { train: trainData, split } = splitValidation(data, job.valFraction ?? DEFAULT_VAL_FRACTION);
  if (split.heldOut.length) ctx.emit({ type: 'log', message: `${split.heldOut.length} of ${split.heldOut.length + split.trainedLabelled.length} labelled images held out for validation` });
  const resumed = job.resumeFrom ? loadModel(path.resolve(job.project, job.resumeFrom)) : null;
  if (resumed) {
    const mismatch = classMismatch(resumed.meta.classes, data);
    if (mismatch) {
      resumed.segmenter.dispose();
      throw new Error(`cannot resume ${job.resumeFrom}: ${mismatch}; train a new run`);
    }
  }
  // a resumed model's tag head is trained: never refit it on the frozen features
  if (resumed) cfg.tagProbe = false;
  const model = resumed
    ? resumed.segmenter
    : await createSegmenter({
        method: job.method,
        classes: data.classes.length,
        inputSize: cfg.size,
        encoder: job.backbone === 'small' ? { kind: 'small' } : { kind: 'pretrained', path: job.backbone },
        seed: cfg.seed,
        ...(job.model?.lrpRule ? { lrpRule: job.model.lrpRule } : {}),
        ...(job.model?.lrpDepth !== undefined ? { lrpDepth: job.model.lrpDepth } : {}),
        ...(job.model?.lrpPool ? { lrpPool: job.model.lrpPool } : {}),
        ...(job.model?.lrpTopRelevance !== undefined ? { lrpTopRelevance: job.model.lrpTopRelevance } : {}),
      });
  if (model.classes !== data.classes.length) throw new Error(`the model to resume has ${model.classes} classes, the project ${data.classes.length}`);
  const outDir = path.resolve(job.project, job.modelDir);
  // Epoch checkpoints go beside the model folder (models/run-N.checkpoint), so models/run-N is a
  // model only once training ended; a killed run leaves a checkpoint that `--resume N` continues.
  const checkpointDir = checkpointDirOf(outDir);
  const save = (dir: string, result: TrainResult | null, heatScale: number, checkpoint?: { epoch: number; step: number }) =>
    saveModel(dir, model, {
      classes: data.classes.map((name, k) => ({ name, color: colors[k] ?? '#ffffff', ...(data.classIds?.[k] ? { id: data.classIds[k] } : {}) })),
      inputSize: cfg.size,
      normalisation: 'RGB / 255',
      method: model.method,
      backbone: job.backboneLabel ?? job.backbone,
      heatScale,
      heatNorm: cfg.heatNorm ?? 'pixel',
      alwaysDecode: cfg.alwaysDecode ?? [],
      training: {
        backend: info.detail,
        config: cfg,
        validation: split,
        ...(result ? { steps: result.steps, epochs: result.epochs, seconds: result.seconds, final: result.final, cancelled: result.cancelled } : {}),
        ...(checkpoint ? { checkpoint } : {}),
      },
      metrics: result?.val ? (result.val as unknown as Record<string, unknown>) : null,
    });
  let heatScale = 1;
  const onEvent = (e: TrainEvent) => {
    ctx.emit(e);
    if (e.type === 'step') heatScale = e.heatScale;
    // A checkpoint per epoch: a killed run still leaves the last whole epoch's weights (the run
    // row says 'failed: interrupted', never 'completed').
    if (e.type === 'epoch') save(checkpointDir, null, heatScale, { epoch: e.epoch, step: e.step });
  };
  try {
    const result = await train(model, trainData, cfg, { onEvent, shouldStop: ctx.cancelled });
    if (result.steps > 0) {
      save(outDir, result, result.heatScale);
      // The checkpoint is ours (saveModel wrote exactly these two files); anything else there stays.
      if (fs.existsSync(checkpointDir) && onlyHolds(checkpointDir, [MODEL_FILE, WEIGHTS_FILE])) fs.rmSync(checkpointDir, { recursive: true, force: true });
    }
    const tagPriorLoss = tagPriorLossOf(trainData.samples.map((s) => s.tags), trainData.classes.length);
    return { backend: info, result, modelDir: outDir, tagPriorLoss, validation: split };
  } finally {
    model.dispose();
  }
}

/** Why a model's classes (index order) are not the project's classes now, or null when they are. */
export function classMismatch(model: Array<{ name: string; id?: number }>, data: Dataset): string | null {
  const same =
    model.length === data.classes.length &&
    model.every((c, k) => (c.id !== undefined && data.classIds ? c.id === data.classIds[k] : c.name === data.classes[k]));
  return same ? null : `the model's classes [${model.map((c) => c.name).join(', ')}] are not the project's [${data.classes.join(', ')}] in the same order`;
}

async function predictJob(job: PredictJob, ctx: JobContext): Promise<PredictJobResult> {
  const info = await backend(ctx, job.backend);
  const threads = Math.max(1, job.threads ?? Math.min(physicalCores(), Math.floor(job.images.length / MIN_IMAGES_PER_THREAD)));
  const parts = shardList(job.images, threads);
  const done = parts.map(() => 0);
  const report = () => ctx.emit({ type: 'progress', task: 'predict', done: done.reduce((a, b) => a + b, 0), total: job.images.length });
  // parts 1.. in helper engine workers (one thread each), part 0 here; outputs merged in image order
  const helpers = parts.slice(1).map((part, i) =>
    startJob({ kind: 'predict', model: job.model, images: part, out: job.out, threads: 1, ...(job.backend ? { backend: job.backend } : {}), ...(job.tta ? { tta: job.tta } : {}), ...(job.refine ? { refine: job.refine } : {}) }, (e) => {
      if (e.type !== 'progress') return;
      done[i + 1] = e.done;
      report();
    }),
  );
  const { segmenter, meta } = loadModel(job.model);
  fs.mkdirSync(job.out, { recursive: true });
  const stride = encoderStride(segmenter);
  const written: PredictJobResult['written'] = [];
  const failed: PredictJobResult['failed'] = [];
  try {
    const mine = parts[0] ?? [];
    for (let i = 0; i < mine.length; i++) {
      if (ctx.cancelled()) break;
      const file = mine[i]!;
      done[0] = i;
      report();
      let sample: Sample;
      try {
        const img = await decodeToWorking(fs.readFileSync(file), meta.inputSize);
        sample = { id: file, ...img, tags: [], labels: null };
      } catch (e) {
        failed.push({ image: file, reason: (e as Error).message });
        continue;
      }
      const p = await predict(segmenter, sample, { stride, heatScale: meta.heatScale, heatNorm: meta.heatNorm, always: meta.alwaysDecode, ...(job.tta ? { tta: job.tta } : {}), ...(job.refine ? { refine: job.refine } : {}) });
      const { mask: maskFile, heatmap: heatFile } = await writePredictionPngs(job.out, path.basename(file, path.extname(file)), p, meta.classes.map((c) => c.color));
      written.push({ image: file, mask: maskFile, heatmap: heatFile, classes: p.classes.map((c) => meta.classes[c]!.name) });
    }
    if (ctx.cancelled()) helpers.forEach((h) => h.cancel(0));
    for (const r of await Promise.allSettled(helpers.map((h) => h.result))) {
      if (r.status === 'fulfilled') {
        written.push(...r.value.written);
        failed.push(...r.value.failed);
      } else if (!ctx.cancelled()) throw r.reason;
    }
  } catch (e) {
    helpers.forEach((h) => h.cancel(0));
    await Promise.allSettled(helpers.map((h) => h.result));
    throw e;
  } finally {
    segmenter.dispose();
  }
  ctx.emit({ type: 'progress', task: 'predict', done: job.images.length, total: job.images.length });
  return { backend: info, written, failed };
}

async function evalJob(job: EvalJob, ctx: JobContext): Promise<EvalJobResult> {
  const info = await backend(ctx, job.backend);
  const { segmenter, meta } = loadModel(job.model);
  try {
    const onProgress = (done: number, total: number) => ctx.emit({ type: 'progress', task: 'load images', done, total });
    let data: Dataset;
    let source: string;
    if (job.project) {
      const store = ProjectStore.open(job.project);
      try {
        data = await datasetFromProject(store, meta.inputSize, onProgress, { truthFromLabels: true });
      } finally {
        store.close();
      }
      source = 'the project';
    } else if (job.data) {
      data = await datasetFromMaskFolder(job.data, meta.inputSize, { withTruth: true, onProgress });
      source = `${job.data}/classes.json`;
    } else throw new Error('evaluate what? give a mask folder or a project');
    const names = meta.classes.map((c) => c.name);
    if (data.classes.join('\n') !== names.join('\n')) {
      throw new Error(`${source} lists classes [${data.classes.join(', ')}] but the model was trained on [${names.join(', ')}]: train again`);
    }
    if (!data.samples.some((s) => s.truth)) throw new Error(job.project ? 'no image has pixel labels to compare with: brush some first' : `${job.data}: no image has a mask`);
    // Lead with the images the run held out of training; its training images are scored apart.
    const split = job.project ? recordedSplit(meta.training) : null;
    let scope: EvalJobResult['scope'] = 'training';
    let trainingSet: Dataset | null = null;
    let notCounted = 0;
    if (split) {
      const held = new Set(split.heldOut);
      const trained = new Set(split.trainedLabelled);
      const heldOut = data.samples.filter((s) => s.truth && held.has(s.id));
      if (heldOut.length) {
        scope = 'held-out';
        trainingSet = { ...data, samples: data.samples.filter((s) => s.truth && trained.has(s.id)) };
        notCounted = data.samples.filter((s) => s.truth && !held.has(s.id) && !trained.has(s.id)).length;
        data = { ...data, samples: heldOut };
      }
    }
    const images = data.samples.filter((s) => s.truth).length;
    const C = names.length;
    const perCell = new Map<number, Array<{ id: string; pixels: number }>>();
    const keep = job.cellImages ?? 0;
    const metrics = await evaluate(segmenter, data, {
      heatScale: meta.heatScale,
      heatNorm: meta.heatNorm, always: meta.alwaysDecode,
      withGivenTags: true,
      onProgress: (done, total) => {
        if (ctx.cancelled()) throw new Error('cancelled');
        ctx.emit({ type: 'progress', task: 'evaluate', done, total });
      },
      ...(keep > 0
        ? {
            onImage: (id: string, conf: { counts: Float64Array }) => {
              for (let k = 0; k < C * C; k++) {
                const n = conf.counts[k]!;
                if (!n) continue;
                const list = perCell.get(k) ?? [];
                list.push({ id, pixels: n });
                if (list.length > keep * 2) list.sort((a, b) => b.pixels - a.pixels).splice(keep);
                perCell.set(k, list);
              }
            },
          }
        : {}),
    });
    const trainingMetrics =
      trainingSet && trainingSet.samples.length
        ? await evaluate(segmenter, trainingSet, {
            heatScale: meta.heatScale,
            heatNorm: meta.heatNorm,
            withGivenTags: false,
            onProgress: (done, total) => {
              if (ctx.cancelled()) throw new Error('cancelled');
              ctx.emit({ type: 'progress', task: 'evaluate training images', done, total });
            },
          })
        : null;
    const cells =
      keep > 0
        ? [...perCell].map(([k, list]) => ({
            truth: Math.floor(k / C),
            predicted: k % C,
            images: list.sort((a, b) => b.pixels - a.pixels).slice(0, keep),
          }))
        : undefined;
    return {
      backend: info,
      images,
      metrics,
      scope,
      ...(trainingMetrics ? { trainingSet: { images: trainingSet!.samples.length, metrics: trainingMetrics } } : {}),
      notCounted,
      valFraction: split?.fraction ?? null,
      ...(cells ? { cells } : {}),
    };
  } finally {
    segmenter.dispose();
  }
}

/** Scores every image without pixel labels with the project's model and ranks them. */
async function suggestJob(job: SuggestJob, ctx: JobContext): Promise<SuggestJobResult> {
  const info = await backend(ctx, job.backend);
  const { segmenter, meta } = loadModel(job.model);
  const store = ProjectStore.open(job.project);
  try {
    const classes = store.classes();
    const names = classes.map((c) => c.name);
    const indexOf = new Map(classes.map((c, i) => [c.id, i]));
    const toIndices = (ids: number[]) => ids.flatMap((id) => (indexOf.has(id) ? [indexOf.get(id)!] : []));
    if (names.join('\n') !== meta.classes.map((c) => c.name).join('\n')) {
      throw new Error('the project\'s classes changed since this model was trained: train again before asking for suggestions');
    }
    const ids = store.allImageIds();
    const candidates: ImageOutputs[] = [];
    const labelled: ImageOutputs[] = [];
    const nameOf = new Map<number, string>();
    const wantsAll = job.strategy === 'diverse' || job.strategy === 'coverage';
    // 1. which images need the model (in id order), 2. score them on every core, 3. rank
    const toScore: Array<{ id: number; file: string; isCandidate: boolean; givenTags?: number[] }> = [];
    for (let i = 0; i < ids.length; i++) {
      if (ctx.cancelled()) throw new Error('cancelled');
      const summary = store.imageSummary(ids[i]!);
      if (summary.status !== 'active') continue;
      const isCandidate = summary.labelledPixels === 0;
      if (!isCandidate && !wantsAll) continue;
      nameOf.set(summary.id, summary.originalName);
      if (job.strategy === 'random') {
        candidates.push({ id: summary.id, tagProbs: [], classes: [], probs: [], mask: [] });
        continue;
      }
      // coverage counts the classes labelled images have pixel labels of: no prediction needed for those
      if (job.strategy === 'coverage' && !isCandidate) {
        labelled.push({ id: summary.id, tagProbs: [], classes: [], probs: [], mask: [], givenTags: toIndices(store.labelledClassIds(summary.id)) });
        continue;
      }
      const row = store.imageRow(summary.id);
      // an untagged image has no given classes: coverage falls back to its predicted tags
      toScore.push({ id: summary.id, file: store.imagePath(row.file_name), isCandidate, ...(summary.tags.length ? { givenTags: toIndices(summary.tags) } : {}) });
    }
    const scored = await scoreImages(segmenter, meta, job, toScore, ctx);
    toScore.forEach((t, i) => {
      const p = scored[i]!;
      const out: ImageOutputs = {
        id: t.id,
        tagProbs: p.tagProbs ?? new Float32Array(names.length),
        classes: p.classes,
        probs: p.probs!,
        mask: p.mask,
        ...(t.givenTags ? { givenTags: t.givenTags } : {}),
      };
      (t.isCandidate ? candidates : labelled).push(out);
    });
    const ranked = rank(job.strategy, candidates, job.n, { seed: job.seed ?? 1, labelled, classNames: names });
    return {
      backend: info,
      strategy: job.strategy,
      candidates: candidates.length,
      suggestions: ranked.map((s) => ({ ...s, id: Number(s.id), name: nameOf.get(Number(s.id)) ?? '' })),
    };
  } finally {
    store.close();
    segmenter.dispose();
  }
}

/** The model's outputs for suggest's scores on one image (a 64-px-wide map keeps scoring fast on big projects). */
async function scoreOne(segmenter: Segmenter, meta: ModelMeta, img: { id: number; file: string }): Promise<ScoredImage> {
  const w = await decodeToWorking(fs.readFileSync(img.file), meta.inputSize);
  const outW = Math.min(64, w.width);
  const outH = Math.max(1, Math.round((w.height / w.width) * outW));
  const p = await predict(segmenter, { id: String(img.id), ...w, tags: [], labels: null }, { stride: encoderStride(segmenter), heatScale: meta.heatScale, heatNorm: meta.heatNorm, always: meta.alwaysDecode, outWidth: outW, outHeight: outH, probs: true, tta: NO_TTA, refine: NO_REFINE });
  return { id: img.id, tagProbs: p.tagProbs, classes: p.classes, probs: p.probs!, mask: p.mask };
}

/** By default, fewest images worth a helper thread (each loads the backend and the model first, ~1–2 s). */
const MIN_IMAGES_PER_THREAD = 8;

/**
 * Scores `images` in order, split into contiguous parts across threads (parallel.ts shardList):
 * part 0 in this thread, the others in helper engine workers running 'score' jobs. The result is
 * the same as one thread's (each image is scored alone), only sooner.
 */
async function scoreImages(segmenter: Segmenter, meta: ModelMeta, job: SuggestJob, images: Array<{ id: number; file: string }>, ctx: JobContext): Promise<ScoredImage[]> {
  const threads = Math.max(1, job.threads ?? Math.min(physicalCores(), Math.floor(images.length / MIN_IMAGES_PER_THREAD)));
  const parts = shardList(images.map((i) => ({ id: i.id, file: i.file })), threads);
  const done = parts.map(() => 0);
  const report = () => ctx.emit({ type: 'progress', task: 'score images', done: done.reduce((a, b) => a + b, 0), total: images.length });
  const helpers = parts.slice(1).map((part, i) =>
    startJob({ kind: 'score', model: job.model, images: part, ...(job.backend ? { backend: job.backend } : {}) }, (e) => {
      if (e.type !== 'progress') return;
      done[i + 1] = e.done;
      report();
    }),
  );
  const stopHelpers = () => helpers.forEach((h) => h.cancel(0));
  try {
    const mine: ScoredImage[] = [];
    for (const [k, img] of (parts[0] ?? []).entries()) {
      if (ctx.cancelled()) throw new Error('cancelled');
      done[0] = k;
      report();
      mine.push(await scoreOne(segmenter, meta, img));
    }
    done[0] = parts[0]?.length ?? 0;
    report();
    const rest = await Promise.all(helpers.map((h) => h.result));
    return [...mine, ...rest.flatMap((r) => r.scored)];
  } catch (e) {
    stopHelpers();
    // helpers that were still running reject as cancelled: the error is this thread's
    await Promise.allSettled(helpers.map((h) => h.result));
    throw e;
  }
}

async function scoreJob(job: ScoreJob, ctx: JobContext): Promise<ScoreJobResult> {
  const info = await initBackend(job.backend);
  const { segmenter, meta } = loadModel(job.model);
  try {
    const scored: ScoredImage[] = [];
    for (const [i, img] of job.images.entries()) {
      if (ctx.cancelled()) throw new Error('cancelled');
      ctx.emit({ type: 'progress', task: 'score images', done: i, total: job.images.length });
      scored.push(await scoreOne(segmenter, meta, img));
    }
    return { backend: info, scored };
  } finally {
    segmenter.dispose();
  }
}

async function predictRawJob(job: PredictRawJob, ctx: JobContext): Promise<PredictRawJobResult> {
  const info = await backend(ctx, job.backend);
  const held = acquireModel(job.model, !!job.warm);
  const { segmenter, meta } = held.model;
  const stride = encoderStride(segmenter);
  const predictions: RawPrediction[] = [];
  const failed: PredictRawJobResult['failed'] = [];
  try {
    for (const [i, img] of job.images.entries()) {
      if (ctx.cancelled()) break;
      ctx.emit({ type: 'progress', task: 'predict', done: i, total: job.images.length });
      try {
        const w = await decodeToWorking(fs.readFileSync(img.file), meta.inputSize);
        const p = await predict(segmenter, { id: String(img.id), ...w, tags: [], labels: null }, { stride, heatScale: meta.heatScale, heatNorm: meta.heatNorm, always: meta.alwaysDecode });
        kernelsWarm = true;
        predictions.push({ id: img.id, width: p.width, height: p.height, mask: p.mask, confidence: p.confidence, classes: p.classes, tagProbs: p.tagProbs ? Array.from(p.tagProbs) : null });
      } catch (e) {
        failed.push({ id: img.id, reason: (e as Error).message });
      }
    }
  } finally {
    held.release();
  }
  return { backend: info, modelClasses: meta.classes.map((c) => ({ name: c.name, ...(c.id ? { id: c.id } : {}) })), predictions, failed };
}
