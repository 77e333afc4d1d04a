/**
 * The app's training controller: one run at a time per session, in the engine worker, with the
 * state machine the Train panel shows (idle → preparing → training → done / cancelled / failed),
 * loss history, and the project's run rows kept in step.
 */
import type { ParsedInput, RunInfo, TrainStatus } from '../../src-shared/api.js';
import { ApiError } from '../../src-shared/api.js';
import { JobCancelled, type RunningJob, startJob } from '../engine/client.js';
import type { JobEvent, TrainJobResult } from '../engine/jobs.js';
import type { ProjectStore, RunRow } from '../store/project.js';
import { type ResolvedBackbone, resolveBackbone } from '../backbones.js';

const MAX_POINTS = 2000;

export function idleStatus(): TrainStatus {
  return { state: 'idle', runId: null, backend: null, threads: null, epoch: 0, step: 0, totalSteps: null, etaSec: null, imagesPerSec: null, losses: [], uniformHeatLoss: null, message: null };
}

export function runInfo(r: RunRow): RunInfo {
  let metrics: unknown;
  try {
    metrics = r.metrics ? JSON.parse(r.metrics) : null;
  } catch {
    metrics = null;
  }
  return { id: r.id, status: r.status, method: r.method, backbone: r.backbone, backend: r.backend, metrics, error: r.error, createdAt: r.created_at, finishedAt: r.finished_at };
}

export class TrainingController {
  /** The state of each project's latest run in this session, by project folder (absent: idle). */
  private readonly statuses = new Map<string, TrainStatus>();
  /** The project the session has open: what current() and the events are about. */
  private project: string | null = null;
  /** The project of the run in progress. */
  private jobProject: string | null = null;
  private job: RunningJob<TrainJobResult> | null = null;

  constructor(private readonly publish: (s: TrainStatus) => void) {}

  /** The open project changed: from now on the state shown is that project's (idle if it never trained here). */
  select(project: string | null): void {
    this.project = project;
  }

  current(): TrainStatus {
    const s = (this.project !== null ? this.statuses.get(this.project) : undefined) ?? idleStatus();
    return { ...s, losses: [...s.losses] };
  }

  private get status(): TrainStatus {
    return (this.jobProject !== null ? this.statuses.get(this.jobProject) : undefined) ?? idleStatus();
  }

  get busy(): boolean {
    return this.job !== null;
  }

  /** Changes the state of the run's project; shown (published) only while that project is open. */
  private update(change: Partial<TrainStatus>, project = this.jobProject): void {
    if (project === null) return;
    this.statuses.set(project, { ...(this.statuses.get(project) ?? idleStatus()), ...change });
    if (project === this.project) this.publish(this.current());
  }

  start(store: ProjectStore, input: ParsedInput<'train.start'>): TrainStatus {
    if (this.job) throw new ApiError('conflict', `run ${this.status.runId} is still training; cancel it first`);
    let resolved: ResolvedBackbone;
    try {
      resolved = resolveBackbone(input.backbone);
    } catch (e) {
      throw new ApiError('invalid_input', (e as Error).message);
    }
    const backbone = resolved.label;
    const config = {
      size: input.size,
      seed: input.seed,
      ...(input.epochs !== undefined || input.minutes === undefined ? { epochs: input.epochs ?? 30 } : { epochs: undefined }),
      ...(input.minutes !== undefined ? { minutes: input.minutes } : {}),
      ...(backbone !== 'small' ? { encoderLr: 1e-4 } : {}),
      ...(input.threads !== undefined ? { threads: input.threads } : {}),
    };
    const run = store.createRun(input.method, backbone, config);
    this.jobProject = store.dir;
    this.statuses.set(store.dir, { ...idleStatus(), state: 'preparing', runId: run.id, message: 'loading images' });
    if (store.dir === this.project) this.publish(this.current());
    const onEvent = (e: JobEvent) => this.onEvent(e);
    this.job = startJob({ kind: 'train', project: store.dir, modelDir: run.checkpoint_dir!, method: input.method, backbone: resolved.dir ?? 'small', backboneLabel: backbone, ...(input.backend ? { backend: input.backend } : {}), config, valFraction: input.valFraction }, onEvent);
    const runId = run.id;
    this.job.result
      .then((r) => {
        const cancelled = r.result.cancelled;
        store.finishRun(runId, cancelled ? 'cancelled' : 'completed', {
          backend: r.backend.detail,
          metrics: { final: r.result.final, steps: r.result.steps, seconds: r.result.seconds, tagPriorLoss: r.tagPriorLoss, validation: r.validation },
          keepCheckpoint: r.result.steps > 0,
        });
        this.update({ state: cancelled ? 'cancelled' : 'done', message: cancelled ? `cancelled after ${r.result.steps} steps` : `finished ${r.result.steps} steps in ${Math.round(r.result.seconds)} s` });
      })
      .catch((e: unknown) => {
        const cancelled = e instanceof JobCancelled;
        try {
          store.finishRun(runId, cancelled ? 'cancelled' : 'failed', { error: (e as Error).message });
        } catch {
          // The project may have been closed meanwhile; the next open marks the run interrupted.
        }
        this.update({ state: cancelled ? 'cancelled' : 'failed', message: (e as Error).message });
      })
      .finally(() => {
        this.job = null;
      });
    return this.current();
  }

  cancel(): TrainStatus {
    if (!this.job) return this.current();
    this.job.cancel();
    this.update({ message: 'cancelling after the current step…' });
    return this.current();
  }

  private onEvent(e: JobEvent): void {
    switch (e.type) {
      case 'backend':
        // the detail names the backend itself where it can ('wasm simd, 1 thread', 'webgpu on nvidia …')
        this.update({ backend: e.backend.detail.startsWith(e.backend.name) ? e.backend.detail : `${e.backend.name} (${e.backend.detail})` });
        break;
      case 'progress':
        this.update({ message: `${e.task} ${e.done}/${e.total}` });
        break;
      case 'start':
        this.update({ state: 'training', threads: e.threads, totalSteps: e.totalSteps, message: `${e.samples} images, ${e.labelled} with pixel labels` });
        break;
      case 'step': {
        const losses = [...this.status.losses, { step: e.step, tag: e.tagLoss, heat: e.segLoss }];
        // Keep the curve bounded for long runs: thin the history by half when it overflows.
        const thinned = losses.length > MAX_POINTS ? losses.filter((_, i) => i % 2 === 0) : losses;
        this.update({ epoch: e.epoch, step: e.step, etaSec: e.etaSec, imagesPerSec: e.imagesPerSec, losses: thinned });
        break;
      }
      case 'epoch':
        this.update({ uniformHeatLoss: e.uniformSegLoss });
        break;
      case 'log':
        this.update({ message: e.message });
        break;
    }
  }
}
