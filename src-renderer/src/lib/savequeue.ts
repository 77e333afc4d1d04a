/**
 * Autosave of label patches: a first-in, first-out queue that sends one patch at a time, so the
 * server applies strokes (and their undos) in the order they were made. A patch leaves the queue
 * only when the server confirmed it, which happens after its SQLite transaction committed. A failed
 * write is retried with exponential backoff, never dropped; only a refusal that no retry can fix
 * (the image was deleted, the input is invalid) ends a patch, and that is reported, not silent.
 * A lost session (the server restarted with a new token: 401) is neither: no retry can fix it, but
 * the patch is not wrong either, so the queue holds everything ('signed-out') until resume() after
 * the person signed in again. With a journal, pending patches are also kept in the page's storage
 * (until confirmed), and a queue made later (after a reload) starts with them.
 * Pure TypeScript: the transport, the clock and the storage are passed in.
 */
import type { Rect } from '../../../src-shared/labels';

export interface PatchJob {
  imageId: number;
  rect: Rect;
  /** zlib-compressed patch, base64 (the wire form of labels.patch); '' until the sender first encodes it. */
  data: string;
  /** The raw patch, kept to reapply it locally when the image is opened again before it is saved. */
  patch: Uint8Array;
  /** What it is, for messages: "brush stroke", "undo of fill", … */
  label: string;
  /** The journal's key for it, once it is kept there. */
  key?: string;
}

/** Where pending patches are kept across a reload (see pending-journal.ts); each call may throw. */
export interface PatchJournal {
  /** The patches kept earlier, oldest first (each with its key). */
  load(): PatchJob[];
  /** Keeps a patch (sets job.key). */
  put(job: PatchJob): void;
  remove(job: PatchJob): void;
}

export interface SaveResult {
  revision: number;
  labelledPixels: number;
}

export type SaveState = 'saved' | 'saving' | 'retrying' | 'signed-out';

export interface SaveStatus {
  state: SaveState;
  /** Patches not yet confirmed (including the one in flight). */
  pending: number;
  /** Why the last attempt failed (retrying) or what was refused; '' when saved. */
  message: string;
  /** Failed attempts of the patch at the head of the queue. */
  attempts: number;
  /** When the next retry starts (clock ms), while retrying. */
  retryAt: number | null;
  /** The latest refusal (a patch the server will never take), until dismissed; ''. */
  refusal: string;
  /** Whether every pending patch is also kept in the page's storage (survives a reload). */
  kept: boolean;
}

export interface SaveQueueOptions {
  onStatus?: (status: SaveStatus) => void;
  onSaved?: (job: PatchJob, result: SaveResult) => void;
  /** A patch the server refused for good; the queue has dropped it (and the image's later patches for not_found). */
  onRefused?: (job: PatchJob, message: string, code: string) => void;
  /** Delay before retry number `attempt` (1, 2, …). Default 250 ms doubling up to 8 s. */
  backoffMs?: (attempt: number) => number;
  now?: () => number;
  /** Keeps pending patches across a reload; the queue starts with what it holds. */
  journal?: PatchJournal;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** Error codes no retry can fix. Everything else (network, I/O, a busy database) is retried. */
const PERMANENT = new Set(['not_found', 'invalid_input', 'no_project', 'unsupported', 'too_large']);
/** The server does not know this page any more (restarted with a new token): wait for resume(). */
const SIGNED_OUT = 'unauthorized';

export function defaultBackoff(attempt: number): number {
  return Math.min(8000, 250 * 2 ** Math.max(0, attempt - 1));
}

export class SaveQueue {
  private readonly jobs: PatchJob[] = [];
  private sending = false;
  private attempts = 0;
  private timer: unknown = null;
  private retryAt: number | null = null;
  private lastError = '';
  private refusal = '';
  private signedOut = false;
  /** Pending patches the journal could not keep (storage full or missing). */
  private unkept = 0;
  private waiters: Array<() => void> = [];
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(
    private readonly send: (job: PatchJob) => Promise<SaveResult>,
    private readonly opts: SaveQueueOptions = {},
  ) {
    this.now = opts.now ?? (() => Date.now());
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    if (opts.journal) {
      try {
        this.jobs.push(...opts.journal.load());
      } catch {
        // Nothing readable was kept: start empty.
      }
      if (this.jobs.length) this.pump();
    }
  }

  enqueue(job: PatchJob): void {
    this.jobs.push(job);
    this.report();
    this.pump();
    // Kept after the request is on its way: saving comes first, the copy for a reload second.
    if (this.opts.journal) {
      try {
        this.opts.journal.put(job);
      } catch {
        this.unkept++;
        this.report();
      }
    }
  }

  private forget(job: PatchJob): void {
    if (job.key === undefined) {
      if (this.opts.journal && this.unkept > 0) this.unkept--;
      return;
    }
    try {
      this.opts.journal?.remove(job);
    } catch {
      // A stale copy is replayed once after a reload: the same pixels again, harmless.
    }
  }

  get pending(): number {
    return this.jobs.length;
  }

  /** Patches of an image not yet confirmed, oldest first (the head may be in flight). */
  pendingFor(imageId: number): PatchJob[] {
    return this.jobs.filter((j) => j.imageId === imageId);
  }

  status(): SaveStatus {
    const pending = this.jobs.length;
    const refusal = this.refusal;
    const kept = !!this.opts.journal && this.unkept === 0;
    if (pending && this.signedOut) {
      return { state: 'signed-out', pending, message: this.lastError, attempts: this.attempts, retryAt: null, refusal, kept };
    }
    if (pending && this.timer !== null) {
      return { state: 'retrying', pending, message: this.lastError, attempts: this.attempts, retryAt: this.retryAt, refusal, kept };
    }
    if (pending) return { state: 'saving', pending, message: '', attempts: this.attempts, retryAt: null, refusal, kept };
    return { state: 'saved', pending: 0, message: '', attempts: 0, retryAt: null, refusal, kept };
  }

  /** Resolves once every patch enqueued so far is confirmed or refused. */
  idle(): Promise<void> {
    if (!this.jobs.length) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Skips the backoff wait (a "Retry now" button, or the network came back). */
  retryNow(): void {
    if (this.timer === null) return;
    this.clearTimer(this.timer);
    this.timer = null;
    this.retryAt = null;
    this.pump();
  }

  /** Sends again after the person signed in again (a lost session held the queue). */
  resume(): void {
    if (!this.signedOut) return;
    this.signedOut = false;
    this.attempts = 0;
    this.lastError = '';
    this.pump();
  }

  /** Forgets a shown refusal (the person dismissed it). */
  dismiss(): void {
    this.refusal = '';
    this.report();
  }

  private pump(): void {
    if (this.sending || this.timer !== null || this.signedOut) return;
    const job = this.jobs[0];
    if (!job) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
      this.report();
      return;
    }
    this.sending = true;
    this.report();
    this.send(job).then(
      (result) => {
        this.sending = false;
        this.jobs.shift();
        this.forget(job);
        this.attempts = 0;
        this.lastError = '';
        this.opts.onSaved?.(job, result);
        this.pump();
      },
      (e: unknown) => {
        this.sending = false;
        const code = (e as { code?: unknown }).code;
        const message = e instanceof Error ? e.message : String(e);
        if (code === SIGNED_OUT) {
          // Retrying cannot help and dropping would lose the stroke: hold it all until resume().
          this.signedOut = true;
          this.attempts++;
          this.lastError = message;
          this.report();
          return;
        }
        if (typeof code === 'string' && PERMANENT.has(code)) {
          this.jobs.shift();
          this.forget(job);
          // Nothing later for a deleted image can succeed either.
          if (code === 'not_found') {
            for (let i = this.jobs.length - 1; i >= 0; i--) {
              if (this.jobs[i]!.imageId === job.imageId) this.forget(this.jobs.splice(i, 1)[0]!);
            }
          }
          this.attempts = 0;
          this.lastError = '';
          this.refusal = `${job.label} not saved: ${message}`;
          this.opts.onRefused?.(job, message, code);
          this.pump();
          return;
        }
        this.attempts++;
        this.lastError = message;
        const wait = (this.opts.backoffMs ?? defaultBackoff)(this.attempts);
        this.retryAt = this.now() + wait;
        this.timer = this.setTimer(() => {
          this.timer = null;
          this.retryAt = null;
          this.pump();
        }, wait);
        this.report();
      },
    );
  }

  private report(): void {
    this.opts.onStatus?.(this.status());
  }
}
