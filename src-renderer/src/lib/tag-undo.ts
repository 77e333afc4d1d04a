/**
 * Undo for tags: a tag toggle or a bulk tag change, once the server applied it, becomes one
 * HistoryEntry (lib/history.ts) that the same undo / redo as strokes replays: in the image view in
 * that image's history, in the grid in the grid's own history. Undo sends the opposite change for
 * exactly the images the action changed (a bulk add leaves alone the images that had the tag
 * already). Requests go one at a time in order, so a quick undo, redo, undo lands as pressed.
 * Pure TypeScript: no DOM, no Svelte.
 */
import type { ImageSummary } from '../../../src-shared/api';
import type { HistoryEntry } from './history';

export interface TagCalls {
  toggle(imageId: number, classId: number, on: boolean): Promise<ImageSummary>;
  bulk(imageIds: number[], classId: number, on: boolean): Promise<{ changed: number; changedIds: number[] }>;
}

export interface TagUndoHooks {
  /** The server's image after an undo / redo of a single toggle (null after a bulk one: refetch). */
  onApplied(updated: ImageSummary | null): void;
  onError(message: string): void;
}

export class TagUndo {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly calls: TagCalls,
    private readonly hooks: TagUndoHooks,
  ) {}

  /** Resolves once every undo / redo request sent so far has been answered. */
  idle(): Promise<void> {
    return this.chain.then(() => undefined);
  }

  private run(what: string, fn: () => Promise<ImageSummary | null>): void {
    this.chain = this.chain.then(async () => {
      try {
        this.hooks.onApplied(await fn());
      } catch (e) {
        this.hooks.onError(`${what} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  }

  /** The entry of a toggle already applied: `on` is what it set. */
  toggle(image: { id: number; originalName: string }, cls: { id: number; name: string }, on: boolean): HistoryEntry {
    const label = on ? `Tag ${cls.name}` : `Untag ${cls.name}`;
    const set = (value: boolean, what: string) => this.run(what, () => this.calls.toggle(image.id, cls.id, value));
    return {
      label,
      undo: () => set(!on, `Undo of ${label.toLowerCase()}`),
      redo: () => set(on, `Redo of ${label.toLowerCase()}`),
    };
  }

  /** The entry of a bulk change already applied, or null when it changed no image. */
  bulk(changedIds: number[], cls: { id: number; name: string }, on: boolean): HistoryEntry | null {
    if (changedIds.length === 0) return null;
    const ids = [...changedIds];
    const n = ids.length;
    const label = on ? `Tag ${n} ${n === 1 ? 'image' : 'images'} with ${cls.name}` : `Remove ${cls.name} from ${n} ${n === 1 ? 'image' : 'images'}`;
    const set = (value: boolean, what: string) =>
      this.run(what, async () => {
        await this.calls.bulk(ids, cls.id, value);
        return null;
      });
    return {
      label,
      undo: () => set(!on, `Undo of ${label.toLowerCase()}`),
      redo: () => set(on, `Redo of ${label.toLowerCase()}`),
    };
  }
}
