/**
 * Main-side handle on the engine: starts a worker thread per job, forwards its events, and cancels
 * it (first politely between steps, then by terminating the thread). Imports no tfjs itself.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type {
  EvalJob,
  EvalJobResult,
  Job,
  JobEvent,
  JobResult,
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
export function startJob(job: Job, onEvent?: (e: JobEvent) => void): RunningJob<JobResult> {
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
