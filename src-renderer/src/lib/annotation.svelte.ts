/**
 * The labelling session of an open project: autosave (a queue of label patches, with a reactive
 * saved / saving / retrying status for the indicator) and undo histories (one per image), shared by
 * every image view of the project so that leaving an image never loses an unsaved stroke.
 *
 * A stroke, once finished, is two patches over its bounding box: `after` (what it painted) goes to
 * the server at once; `before` (what it replaced) is what undo sends. Both are kept compressed in
 * the history. The raster of the image on screen is attached here so that undo and redo can
 * repaint it.
 */
import { unzlibSync } from 'fflate';
import type { ClassInfo, ImageSummary } from '../../../src-shared/api';
import { toBase64, type Rect } from '../../../src-shared/labels';
import { api } from './api';
import { HistoryBook } from './history';
import { rleDeflate } from './rle-deflate';
import { buildStrokePatch, type LabelRaster, type StrokeChanges } from './raster';
import { SaveQueue, type PatchJob, type PatchJournal, type SaveResult, type SaveStatus } from './savequeue';

/** A patch kept for undo, compressed: undo history costs kilobytes per stroke, not megabytes. */
class PackedPatch {
  private readonly packed: Uint8Array;

  constructor(raw: Uint8Array) {
    this.packed = rleDeflate(raw);
  }

  get(): Uint8Array {
    return unzlibSync(this.packed);
  }
}

interface OpenImage {
  imageId: number;
  raster: LabelRaster;
  /** Shows the raster's dirty pixels. */
  redraw: () => void;
}

export interface AnnotationHooks {
  /** A patch is durable: the server's new count of labelled pixels for the image. */
  onSaved?: (imageId: number, result: SaveResult) => void;
  /** The server refused a patch for good (deleted image, invalid input). */
  onRefused?: (imageId: number, message: string, code: string) => void;
  /** Keeps unconfirmed patches across a reload; the session starts by sending what it holds. */
  journal?: PatchJournal;
}

export class AnnotationSession {
  status = $state<SaveStatus>({ state: 'saved', pending: 0, message: '', attempts: 0, retryAt: null, refusal: '', kept: false });
  /** Bumped whenever a history changes, so undo / redo buttons update. */
  historyVersion = $state(0);
  /** Bumped when the server changed labels under us (a class was deleted): the open image reloads them. */
  labelsVersion = $state(0);
  /** Images the server said no longer exist. */
  readonly gone = $state<Record<number, string>>({});
  readonly histories = new HistoryBook();
  readonly queue: SaveQueue;
  private open: OpenImage | null = null;

  constructor(hooks: AnnotationHooks = {}) {
    this.queue = new SaveQueue((job) => this.send(job), {
      ...(hooks.journal ? { journal: hooks.journal } : {}),
      onStatus: (s) => (this.status = s),
      onSaved: (job, result) => hooks.onSaved?.(job.imageId, result),
      onRefused: (job, message, code) => {
        if (code === 'not_found') {
          this.gone[job.imageId] = message;
          this.histories.drop(job.imageId);
          this.historyVersion++;
        }
        hooks.onRefused?.(job.imageId, message, code);
      },
    });
    this.status = this.queue.status();
  }

  private async send(job: PatchJob): Promise<SaveResult> {
    // Run-length DEFLATE: a stroke's patch is nearly all runs, and this encodes it in one quick pass.
    const data = job.data || toBase64(rleDeflate(job.patch));
    job.data = data;
    return api('labels.patch', { imageId: job.imageId, ...job.rect, data });
  }

  /** The canvas of an image registers its raster while it is on screen; returns the detach. */
  attach(open: OpenImage): () => void {
    this.open = open;
    return () => {
      if (this.open === open) this.open = null;
    };
  }

  /** Puts patches not yet confirmed back onto a raster just loaded from the server (oldest first). */
  reapplyPending(imageId: number, raster: LabelRaster): number {
    let n = 0;
    for (const job of this.queue.pendingFor(imageId)) {
      raster.applyPatch(job.rect, job.patch);
      n++;
    }
    return n;
  }

  /** Records a finished stroke (one undo step) and saves it. False when it changed nothing. */
  commit(imageId: number, changes: StrokeChanges, rasterWidth: number, label: string): boolean {
    const p = buildStrokePatch(changes, rasterWidth);
    if (!p) return false;
    // Saved first: the request is on its way before the undo copies are packed.
    this.save(imageId, p.rect, p.after, label);
    const before = new PackedPatch(p.before);
    const after = new PackedPatch(p.after);
    this.histories.of(imageId).push({
      label,
      undo: () => this.apply(imageId, p.rect, before.get(), `Undo of ${label.toLowerCase()}`),
      redo: () => this.apply(imageId, p.rect, after.get(), `Redo of ${label.toLowerCase()}`),
    });
    this.historyVersion++;
    return true;
  }

  undo(imageId: number): string | null {
    if (this.gone[imageId] || !this.histories.has(imageId)) return null;
    const entry = this.histories.of(imageId).undo();
    this.historyVersion++;
    return entry?.label ?? null;
  }

  redo(imageId: number): string | null {
    if (this.gone[imageId] || !this.histories.has(imageId)) return null;
    const entry = this.histories.of(imageId).redo();
    this.historyVersion++;
    return entry?.label ?? null;
  }

  canUndo(imageId: number): boolean {
    void this.historyVersion;
    return this.histories.peek(imageId)?.canUndo ?? false;
  }

  canRedo(imageId: number): boolean {
    void this.historyVersion;
    return this.histories.peek(imageId)?.canRedo ?? false;
  }

  /** After labels changed on the server (a class was deleted): old undo steps no longer apply. */
  labelsChangedOnServer(): void {
    this.histories.clear();
    this.historyVersion++;
    this.labelsVersion++;
  }

  private apply(imageId: number, rect: Rect, patch: Uint8Array, label: string): void {
    if (this.open?.imageId === imageId) {
      this.open.raster.applyPatch(rect, patch);
      this.open.redraw();
    }
    this.save(imageId, rect, patch, label);
  }

  private save(imageId: number, rect: Rect, patch: Uint8Array, label: string): void {
    this.queue.enqueue({ imageId, rect, patch, data: '', label });
  }
}

/** What the views of the open image (its canvas, its prediction panel) are given. */
export interface OpenImageProps {
  item: ImageSummary;
  classes: ClassInfo[];
  session: AnnotationSession;
  /** A short message for the status line (what undo did, why a click did nothing). */
  onMessage: (text: string, tone?: 'info' | 'error') => void;
}

/** An image summary with the server's new labelled-pixel count after a save. */
export function withLabelled(item: ImageSummary, labelledPixels: number): ImageSummary {
  return { ...item, labelledPixels };
}
