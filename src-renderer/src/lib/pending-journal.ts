/**
 * The autosave queue's copy of unconfirmed label patches in the page's storage, so that a stroke
 * survives a reload (for instance opening the new URL of a restarted server in the same tab) and is
 * sent then. One entry per patch, keyed by project folder and image, in the order they were made.
 *
 * The app passes sessionStorage: it is this tab's own (it survives reloads and navigation within
 * the tab), so another tab of the same project never replays this tab's strokes over its own later
 * ones, as a shared localStorage copy could. Pure TypeScript: the storage and codec are passed in.
 */
import { unzlibSync } from 'fflate';
import { fromBase64, toBase64, type Rect } from '../../../src-shared/labels';
import { rleDeflate } from './rle-deflate';
import type { PatchJob, PatchJournal } from './savequeue';

/** The part of the Web Storage API used here. */
export interface KeyValueStorage {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface JournalCodec {
  /** The wire form of a patch (zlib, base64). */
  encode(patch: Uint8Array): string;
  decode(data: string, rect: Rect): Uint8Array;
}

const PREFIX = 'heatseg.pending.v1';

interface Entry {
  imageId: number;
  rect: Rect;
  data: string;
  label: string;
}

function isRect(r: unknown): r is Rect {
  const o = r as Record<string, unknown> | null;
  return !!o && [o.x, o.y, o.width, o.height].every((v) => Number.isInteger(v) && (v as number) >= 0);
}

export class StoragePatchJournal implements PatchJournal {
  private readonly prefix: string;
  private seq = 0;

  constructor(
    private readonly storage: KeyValueStorage,
    project: string,
    private readonly codec: JournalCodec,
  ) {
    this.prefix = `${PREFIX}|${project}|`;
    // Numbers continue after what is kept, so nothing kept is overwritten.
    for (const { seq } of this.keys()) this.seq = Math.max(this.seq, seq + 1);
  }

  private keys(): Array<{ key: string; seq: number }> {
    const out: Array<{ key: string; seq: number }> = [];
    for (let i = 0; i < this.storage.length; i++) {
      const key = this.storage.key(i);
      if (!key?.startsWith(this.prefix)) continue;
      // <prefix><imageId>|<seq>
      const seq = Number(key.slice(key.lastIndexOf('|') + 1));
      if (Number.isSafeInteger(seq)) out.push({ key, seq });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  load(): PatchJob[] {
    const jobs: PatchJob[] = [];
    for (const { key } of this.keys()) {
      try {
        const e = JSON.parse(this.storage.getItem(key) ?? '') as Entry;
        if (!Number.isInteger(e.imageId) || !isRect(e.rect) || typeof e.data !== 'string' || !e.data) throw new Error('malformed');
        const patch = this.codec.decode(e.data, e.rect);
        if (patch.length !== e.rect.width * e.rect.height) throw new Error('wrong size');
        jobs.push({ imageId: e.imageId, rect: e.rect, data: e.data, patch, label: String(e.label || 'stroke'), key });
      } catch {
        // Not ours to make sense of (another version, a damaged entry): drop it rather than send it.
        this.storage.removeItem(key);
      }
    }
    return jobs;
  }

  put(job: PatchJob): void {
    job.data ||= this.codec.encode(job.patch);
    const key = `${this.prefix}${job.imageId}|${this.seq++}`;
    const entry: Entry = { imageId: job.imageId, rect: job.rect, data: job.data, label: job.label };
    this.storage.setItem(key, JSON.stringify(entry));
    job.key = key;
  }

  remove(job: PatchJob): void {
    if (job.key) this.storage.removeItem(job.key);
  }
}

/** The wire codec of label patches: run-length DEFLATE out, any zlib in. */
export const wireCodec: JournalCodec = {
  encode: (patch) => toBase64(rleDeflate(patch)),
  decode: (data) => unzlibSync(fromBase64(data)),
};

/** This tab's journal for a project, or none where the page has no session storage. */
export function patchJournal(project: string): PatchJournal | undefined {
  try {
    const storage = globalThis.sessionStorage;
    return storage ? new StoragePatchJournal(storage, project, wireCodec) : undefined;
  } catch {
    return undefined;
  }
}
