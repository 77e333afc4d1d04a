/**
 * The engine worker thread: runs one job at a time off the thread that answers the UI / CLI,
 * streams its events, and stops between training steps when asked to cancel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type Job, type JobEvent, type JobResult, runJob } from './jobs.js';
import { type ReplicaInit, serveReplica } from './parallel.js';

export type ToWorker = { type: 'run'; job: Job } | { type: 'cancel' };
export type FromWorker =
  | { type: 'event'; event: JobEvent }
  | { type: 'result'; result: JobResult }
  | { type: 'error'; message: string };

if (!parentPort) throw new Error('engine worker must run in a worker thread');
const port = parentPort;
let cancelled = false;
const replica = (workerData as { replica?: ReplicaInit } | null)?.replica;

// Started by a data-parallel trainer (parallel.ts) as one of its replicas: serve training shards.
if (replica) void serveReplica(port, replica);
else port.on('message', (msg: ToWorker) => {
  if (msg.type === 'cancel') {
    cancelled = true;
    return;
  }
  cancelled = false;
  runJob(msg.job, { emit: (event) => port.postMessage({ type: 'event', event } satisfies FromWorker), cancelled: () => cancelled })
    .then((result) => port.postMessage({ type: 'result', result } satisfies FromWorker))
    .catch((e: unknown) => port.postMessage({ type: 'error', message: (e as Error).message ?? String(e) } satisfies FromWorker));
});
