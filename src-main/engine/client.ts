/**
 * Main-side handle on the engine: starts a worker thread per job, forwards its events, and cancels
 * it (first politely between steps, then by terminating the thread); and EngineWorker, the one
 * warm worker an open project keeps for predictions (backend initialised, model loaded). Imports
 * no tfjs itself.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type {
  EvalJob,
  EvalJobResult,
  ExportJob,
  ExportJobResult,
  Job,
  JobEvent,
  JobResult,
  LoadModelJob,
  LoadModelJobResult,
  PredictJob,
  PredictJobResult,
  PredictRawJob,
  PredictRawJobResult,
  ScoreJob,
  ScoreJobResult,
  SuggestJob,
  SuggestJobResult,
  TrainJob,
  TrainJobResult,
} from './jobs.js';
import { useSwiftShaderIfNoDriver } from './vulkan.js';
import type { FromWorker, ToWorker } from './worker.js';

function workerUrl(): URL {
  // bundled: next to this file, or one folder up when this code sits in a shared chunk (the
  // engine worker itself starts helper workers through here: parallel predict / suggest)
  for (const rel of ['./engineWorker.js', '../engineWorker.js']) {
    const bundled = new URL(rel, import.meta.url);
    if (bundled.protocol === 'file:' && fs.existsSync(fileURLToPath(bundled))) return bundled;
  }
  return new URL('./worker-entry.mjs', import.meta.url);
}

export class JobCancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'JobCancelled';
  }
}

export interface RunningJob<R> {
  result: Promise<R>;
  /** Asks the job to stop at the next step; terminates the thread if it has not after `graceMs`. */
  cancel(graceMs?: number): void;
}

export function startJob(job: TrainJob, onEvent?: (e: JobEvent) => void): RunningJob<TrainJobResult>;
export function startJob(job: PredictJob, onEvent?: (e: JobEvent) => void): RunningJob<PredictJobResult>;
export function startJob(job: EvalJob, onEvent?: (e: JobEvent) => void): RunningJob<EvalJobResult>;
export function startJob(job: SuggestJob, onEvent?: (e: JobEvent) => void): RunningJob<SuggestJobResult>;
export function startJob(job: PredictRawJob, onEvent?: (e: JobEvent) => void): RunningJob<PredictRawJobResult>;
export function startJob(job: ScoreJob, onEvent?: (e: JobEvent) => void): RunningJob<ScoreJobResult>;
export function startJob(job: ExportJob, onEvent?: (e: JobEvent) => void): RunningJob<ExportJobResult>;
export function startJob(job: Job, onEvent?: (e: JobEvent) => void): RunningJob<JobResult> {
  // A forced webgpu on a Linux machine without any Vulkan driver may use a bundled SwiftShader; its
  // environment variable must be set by this (main) thread, a worker's process.env is a copy.
  if ('backend' in job && job.backend === 'webgpu') useSwiftShaderIfNoDriver();
  const worker = new Worker(workerUrl(), { resourceLimits: { maxOldGenerationSizeMb: 4096 } });
  let settled = false;
  let killTimer: NodeJS.Timeout | null = null;
  const result = new Promise<JobResult>((resolve, reject) => {
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'event') onEvent?.(msg.event);
      else if (msg.type === 'result') {
        settled = true;
        resolve(msg.result);
      } else {
        settled = true;
        reject(new Error(msg.message));
      }
    });
    worker.on('error', (e) => {
      settled = true;
      reject(e);
    });
    worker.on('exit', (code) => {
      if (killTimer) clearTimeout(killTimer);
      if (!settled) reject(code === 1 ? new JobCancelled() : new Error(`engine worker exited with code ${code}`));
    });
  }).finally(() => void worker.terminate());
  worker.postMessage({ type: 'run', job } satisfies ToWorker);
  return {
    result,
    cancel(graceMs = 30_000) {
      worker.postMessage({ type: 'cancel' } satisfies ToWorker);
      killTimer = setTimeout(() => {
        settled = false;
        void worker.terminate();
      }, graceMs);
      killTimer.unref();
    },
  };
}

type WarmJob = PredictRawJob | LoadModelJob | ExportJob;

/**
 * One long-lived engine worker thread: jobs run one after another in it, so its backend (wasm)
 * is initialised once and a model loaded by a `warm` job stays loaded for the next one (jobs.ts
 * reloads it when the folder or its files change). The app keeps one per open project for the
 * image view's predictions (training keeps its own thread). If the thread dies it is started
 * again by the next job; `close()` ends it. While idle it does not keep the process alive.
 */
export class EngineWorker {
  private worker: Worker | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  /** The job in flight and the thread it runs in. */
  private current: { thread: Worker; resolve: (r: JobResult) => void; reject: (e: Error) => void; onEvent: ((e: JobEvent) => void) | undefined } | null = null;
  /** Threads started so far (one, while it lives). */
  threadsStarted = 0;

  run(job: PredictRawJob, onEvent?: (e: JobEvent) => void): Promise<PredictRawJobResult>;
  run(job: LoadModelJob, onEvent?: (e: JobEvent) => void): Promise<LoadModelJobResult>;
  run(job: ExportJob, onEvent?: (e: JobEvent) => void): Promise<ExportJobResult>;
  run(job: WarmJob, onEvent?: (e: JobEvent) => void): Promise<JobResult> {
    const next = this.queue.then(() => this.runNow(job, onEvent));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Whether a thread is alive now. */
  get alive(): boolean {
    return this.worker !== null;
  }

  /** Ends the thread (project closed or switched); a job in flight fails, later jobs start a new one. */
  close(): void {
    const w = this.worker;
    this.worker = null;
    if (w) void w.terminate();
  }

  private runNow(job: WarmJob, onEvent?: (e: JobEvent) => void): Promise<JobResult> {
    const w = this.thread();
    return new Promise<JobResult>((resolve, reject) => {
      this.current = { thread: w, resolve, reject, onEvent };
      w.ref();
      w.postMessage({ type: 'run', job } satisfies ToWorker);
    }).finally(() => {
      this.current = null;
      if (this.worker === w) w.unref();
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(workerUrl(), { resourceLimits: { maxOldGenerationSizeMb: 4096 } });
    this.threadsStarted++;
    this.worker = w;
    w.unref();
    w.on('message', (msg: FromWorker) => {
      const c = this.current;
      if (!c || c.thread !== w) return;
      if (msg.type === 'event') c.onEvent?.(msg.event);
      else if (msg.type === 'result') c.resolve(msg.result);
      else c.reject(new Error(msg.message));
    });
    const gone = (e: Error) => {
      const closed = this.worker !== w;
      if (!closed) this.worker = null;
      if (this.current?.thread === w) this.current.reject(closed ? new Error('the engine was closed (project switched or closed)') : e);
    };
    w.on('error', (e) => gone(e));
    w.on('exit', (code) => gone(new Error(`engine worker exited with code ${code}`)));
    return w;
  }
}
