/**
 * Loads thumbnails (or image bytes) as object URLs with bounded concurrency, newest request first:
 * while a person scrolls a large grid, cards that already left the screen cancel their request
 * before it is sent, and a URL that arrives for a cancelled request is revoked at once.
 */
import { blobUrl } from './api';

type Kind = 'images.thumbnail' | 'images.bytes';

interface Job {
  kind: Kind;
  id: number;
  cancelled: boolean;
  onUrl: (url: string) => void;
  onError: (message: string) => void;
}

export class BlobLoader {
  private readonly queue: Job[] = [];
  private active = 0;

  constructor(private readonly concurrency = 6) {}

  /** Starts (or queues) a load; returns cancel. The receiver owns the URL it is given and revokes it. */
  load(kind: Kind, id: number, onUrl: (url: string) => void, onError: (message: string) => void): () => void {
    const job: Job = { kind, id, cancelled: false, onUrl, onError };
    this.queue.push(job);
    this.pump();
    return () => {
      job.cancelled = true;
      const i = this.queue.indexOf(job);
      if (i >= 0) this.queue.splice(i, 1);
    };
  }

  private pump(): void {
    while (this.active < this.concurrency && this.queue.length) {
      const job = this.queue.pop()!;
      this.active++;
      blobUrl(job.kind, job.id)
        .then((url) => {
          if (job.cancelled) URL.revokeObjectURL(url);
          else job.onUrl(url);
        })
        .catch((e: unknown) => {
          if (!job.cancelled) job.onError(e instanceof Error ? e.message : String(e));
        })
        .finally(() => {
          this.active--;
          this.pump();
        });
    }
  }
}

export const thumbnails = new BlobLoader(6);
