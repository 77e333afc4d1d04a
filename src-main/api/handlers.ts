/**
 * The handlers behind the API contract. They know nothing of the transport: Electron IPC and the
 * browser-mode HTTP server both call `dispatch(method, rawInput)`, which validates the input
 * against the contract and runs the handler on the session's open project.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { AppEvent, Method, Output, ParsedInput, PredictionWire } from '../../src-shared/api.js';
import { ApiError, parseInput } from '../../src-shared/api.js';
import { compressRaster, toBase64 } from '../../src-shared/labels.js';
import { exportLabels } from '../dataset/export.js';
import { importFolder } from '../dataset/import.js';
import { EngineWorker, startJob } from '../engine/client.js';
import { ensureDemoProject } from '../demo/demo.js';
import { displayBytes } from '../images/decode.js';
import { NewerSchemaError } from '../store/migrations.js';
import { ProjectStore, inflateRaster } from '../store/project.js';
import { mapPrediction, parseCachedMeta } from './prediction-map.js';
import { listFolders, resolveOutput } from './folders.js';
import { RecentProjects } from './recent.js';
import { TrainingController, runInfo } from './training.js';

export interface SessionOptions {
  transport: 'ipc' | 'http';
  version: string;
  recent?: RecentProjects;
  emit?: (event: AppEvent) => void;
}

type Handler<M extends Method> = (input: ParsedInput<M>) => Promise<Output<M>> | Output<M>;
type Handlers = { [M in Method]: Handler<M> };

export class Session {
  private store: ProjectStore | null = null;
  private readonly handlers: Handlers;
  readonly recent: RecentProjects;
  readonly training: TrainingController;
  /** The open project's warm engine thread for predictions (its latest model kept loaded). */
  readonly engine = new EngineWorker();

  constructor(private readonly opts: SessionOptions) {
    this.recent = opts.recent ?? new RecentProjects(null);
    this.training = new TrainingController((status) => {
      // a run just completed: load it now, so its first prediction does not wait for it
      if (status.state === 'done') this.warmUp();
      this.emit({ type: 'train', status });
    });
    this.handlers = this.makeHandlers();
  }

  get project(): ProjectStore {
    if (!this.store) throw new ApiError('no_project', 'no project is open; create or open one first');
    return this.store;
  }

  get hasProject(): boolean {
    return this.store !== null;
  }

  openProject(store: ProjectStore): void {
    if (this.training.busy) {
      store.close();
      throw new ApiError('conflict', 'a training run is in progress; cancel it before switching projects');
    }
    this.store?.close();
    this.engine.close();
    this.store = store;
    this.training.select(store.dir);
    this.warmUp();
    this.recent.add(store.dir);
    this.opts.emit?.({ type: 'project-changed', path: store.dir });
  }

  close(): void {
    this.training.cancel();
    this.engine.close();
    this.store?.close();
    this.store = null;
    this.training.select(null);
  }

  /** Validates raw input from a transport and runs the operation. */
  async dispatch<M extends Method>(method: M, rawInput: unknown): Promise<Output<M>> {
    const input = parseInput(method, rawInput);
    const handler = this.handlers[method] as Handler<M>;
    try {
      return await handler(input);
    } catch (e) {
      // A project written by a newer heatseg is the user's problem to solve (update), not an internal error.
      if (e instanceof NewerSchemaError) throw new ApiError('unsupported', e.message);
      throw e;
    }
  }

  /** Loads the open project's latest completed model into the warm engine thread (in the background). */
  private warmUp(): void {
    const store = this.store;
    const run = store?.latestCompletedRun();
    if (!store || !run?.checkpoint_dir) return;
    this.engine.run({ kind: 'load-model', model: path.join(store.dir, run.checkpoint_dir) }).catch(() => undefined);
  }

  /** The latest completed run's prediction for an image: from the cache, or computed in the warm engine thread. */
  private async prediction(imageId: number): Promise<PredictionWire> {
    const store = this.project;
    const run = store.latestCompletedRun();
    if (!run?.checkpoint_dir) throw new ApiError('conflict', 'no trained model yet: click Train first');
    const row = store.imageRow(imageId);
    let cached = store.prediction(run.id, imageId);
    // Rows cached before format 2 held label values mapped by position: computed again.
    let meta = cached ? parseCachedMeta(cached.tag_probs) : null;
    if (!cached || !meta) {
      const r = await this.engine.run({ kind: 'predict-raw', model: path.join(store.dir, run.checkpoint_dir), images: [{ id: imageId, file: store.imagePath(row.file_name) }], warm: true });
      const p = r.predictions[0];
      if (!p) throw new ApiError('io', `${row.original_name}: ${r.failed[0]?.reason ?? 'prediction failed'}`);
      meta = { format: 2, modelClasses: r.modelClasses, decoded: p.classes, tagProbs: p.tagProbs, width: p.width, height: p.height };
      // What the model said (class indices), whatever the project's classes become later.
      store.putPrediction({
        run_id: run.id,
        image_id: imageId,
        tag_probs: JSON.stringify(meta),
        mask: compressRaster(p.mask),
        heatmaps: compressRaster(p.confidence),
        heatmaps_format: 'confidence-u8',
      });
      cached = store.prediction(run.id, imageId)!;
    }
    const indexMask = inflateRaster(Buffer.from(cached.mask!), meta.width, meta.height, `cached prediction of image ${imageId}`);
    const { values, ...wire } = mapPrediction(run.id, imageId, meta, indexMask, store.classes());
    return { ...wire, mask: toBase64(zlib.deflateSync(values, { level: 1 })), confidence: toBase64(new Uint8Array(cached.heatmaps!)) };
  }

  private emit(event: AppEvent): void {
    this.opts.emit?.(event);
  }

  private makeHandlers(): Handlers {
    return {
      'app.info': () => ({
        version: this.opts.version,
        transport: this.opts.transport,
        project: this.store?.dir ?? null,
        recent: this.recent.list(),
      }),
      'project.create': ({ path }) => {
        this.openProject(ProjectStore.create(path));
        return this.project.summary();
      },
      'project.open': ({ path }) => {
        this.openProject(ProjectStore.open(path));
        return this.project.summary();
      },
      'project.openDemo': async () => {
        this.openProject(await ensureDemoProject());
        return this.project.summary();
      },
      'project.summary': () => this.project.summary(),
      'classes.list': () => this.project.classes(),
      'classes.add': ({ name, color, isBackground }) => this.project.addClass(name, color, isBackground ?? false),
      'classes.update': ({ id, ...change }) => this.project.updateClass(id, change),
      'classes.remove': ({ id }) => this.project.removeClass(id),
      'images.list': (q) => this.project.listImages(q),
      'images.get': ({ id }) => this.project.imageSummary(id),
      'images.thumbnail': async ({ id }) => {
        const thumb = this.project.thumbnail(id);
        if (thumb) return new Uint8Array(thumb);
        throw new ApiError('not_found', `image ${id} has no thumbnail`);
      },
      'images.bytes': async ({ id }) => {
        const row = this.project.imageRow(id);
        const file = this.project.imagePath(row.file_name);
        let bytes: Uint8Array;
        try {
          bytes = fs.readFileSync(file);
        } catch (e) {
          throw new ApiError('io', `${row.original_name}: stored file ${file} cannot be read (${(e as NodeJS.ErrnoException).code})`);
        }
        return displayBytes(bytes);
      },
      'images.import': ({ source, masks, labels }) =>
        importFolder(this.project, source, {
          masks,
          labels,
          onProgress: (done, total, file) => this.emit({ type: 'progress', task: 'import', done, total, message: file }),
        }),
      'tags.set': ({ imageId, classIds }) => this.project.setTags(imageId, classIds),
      'tags.toggle': ({ imageId, classId, on }) => this.project.toggleTag(imageId, classId, on),
      'tags.bulk': ({ imageIds, classId, on }) => this.project.bulkTag(imageIds, classId, on),
      'labels.get': ({ imageId }) => {
        const project = this.project;
        const lr = project.labelsCompressed(imageId);
        // The image is being opened for painting: have its raster ready for the first stroke's save.
        setImmediate(() => {
          // only a cache: a save reads the raster itself
          if (project.db.open) project.warmRaster(imageId).catch(() => undefined);
        });
        return { imageId, width: lr.width, height: lr.height, revision: lr.revision, data: toBase64(lr.data) };
      },
      'labels.put': ({ imageId, width, height, data }) => {
        const raster = decodeWire(data, width, height, `labels for image ${imageId}`);
        return this.project.writeLabels(imageId, width, height, raster);
      },
      'labels.patch': ({ imageId, x, y, width, height, data }) => {
        const patch = decodeWire(data, width, height, `label patch for image ${imageId}`);
        return this.project.patchLabels(imageId, { x, y, width, height }, patch);
      },
      'folders.list': ({ path: dir }) => listFolders(dir ?? this.store?.dir ?? os.homedir()),
      'export.labels': ({ out, format }) =>
        exportLabels(this.project, resolveOutput(this.project.dir, out), {
          format,
          onProgress: (done, total) => this.emit({ type: 'progress', task: 'export', done, total }),
        }),
      'train.start': (input) => {
        const status = this.training.start(this.project, input);
        // while it trains, have the prediction thread started and its kernels set up (a throwaway model of the same shape)
        const warmup = { method: input.method, backbone: input.backbone === 'small' ? 'small' : path.resolve(input.backbone), classes: this.project.classes().length, inputSize: input.size };
        this.engine.run({ kind: 'load-model', warmup }).catch(() => undefined);
        return status;
      },
      'train.cancel': () => this.training.cancel(),
      'train.status': () => this.training.current(),
      'runs.list': () => this.project.runs().map(runInfo),
      'predictions.get': async ({ imageId }) => this.prediction(imageId),
      'model.export': async ({ out, format, runId }) => {
        try {
          // in the engine thread: the ONNX writer's module graph reaches TF.js, which never loads here
          const r = await this.engine.run({ kind: 'export', project: this.project.dir, out: resolveOutput(this.project.dir, out), format, ...(runId ? { runId } : {}) });
          return { runId: r.runId, format: r.format, out: r.out };
        } catch (e) {
          if (e instanceof ApiError) throw e;
          throw new ApiError('conflict', (e as Error).message);
        }
      },
      'eval.run': async () => {
        const project = this.project;
        const run = project.latestCompletedRun();
        if (!run?.checkpoint_dir) throw new ApiError('conflict', 'no trained model yet: click Train first, then evaluate it');
        const classes = project.classes();
        const job = startJob(
          { kind: 'eval', project: project.dir, model: path.join(project.dir, run.checkpoint_dir), cellImages: 12 },
          (e) => (e.type === 'progress' ? this.emit({ type: 'progress', task: e.task, done: e.done, total: e.total }) : undefined),
        );
        let r;
        try {
          r = await job.result;
        } catch (e) {
          throw new ApiError('conflict', (e as Error).message);
        }
        const num = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? null : x);
        const names = classes.map((c) => c.name);
        const m = r.metrics;
        const nameOf = (id: number) => {
          try {
            return project.imageSummary(id).originalName;
          } catch {
            return `image ${id}`;
          }
        };
        return {
          runId: run.id,
          scope: r.scope,
          images: r.images,
          classes: classes.map((c) => ({ id: c.id, name: c.name, color: c.color })),
          miou: num(m.predicted.miou),
          pixelAccuracy: num(m.predicted.pixelAccuracy),
          perClass: names.map((n) => num(m.predicted.perClass[n])),
          confusion: m.predicted.confusion,
          givenTags: m.givenTags ? { miou: num(m.givenTags.miou), perClass: names.map((n) => num(m.givenTags!.perClass[n])) } : null,
          tagAccuracy: num(m.tagAccuracy),
          tagMap: num(m.tags?.map),
          tagPerClass: m.tags ? names.map((n) => ({ ap: num(m.tags!.perClass[n]?.ap), accuracy: num(m.tags!.perClass[n]?.accuracy) })) : null,
          cells: (r.cells ?? []).map((c) => ({
            truth: c.truth,
            predicted: c.predicted,
            images: c.images.map((i) => ({ id: Number(i.id), name: nameOf(Number(i.id)), pixels: i.pixels })),
          })),
          trainingSet: r.trainingSet ? { images: r.trainingSet.images, miou: num(r.trainingSet.metrics.predicted.miou), pixelAccuracy: num(r.trainingSet.metrics.predicted.pixelAccuracy) } : null,
          notCounted: r.notCounted,
          valFraction: r.valFraction,
          backend: r.backend.name,
        };
      },
      'suggest.list': async ({ strategy, n }) => {
        const run = this.project.latestCompletedRun();
        if (!run?.checkpoint_dir) throw new ApiError('conflict', 'no trained model yet: click Train first, then ask for suggestions');
        const job = startJob(
          { kind: 'suggest', project: this.project.dir, model: path.join(this.project.dir, run.checkpoint_dir), strategy, n },
          (e) => (e.type === 'progress' ? this.emit({ type: 'progress', task: e.task, done: e.done, total: e.total }) : undefined),
        );
        const r = await job.result;
        return { strategy, runId: run.id, candidates: r.candidates, suggestions: r.suggestions };
      },
    };
  }
}

function decodeWire(data: string, width: number, height: number, what: string): Uint8Array {
  try {
    // Node's native zlib (the store's codec): a large stroke patch inflates several times faster than with the pure-JS one.
    return inflateRaster(Buffer.from(data, 'base64'), width, height, what);
  } catch (e) {
    throw new ApiError('invalid_input', (e as Error).message);
  }
}
