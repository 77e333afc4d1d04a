/**
 * Bounded undo history (after CVAT's annotations-history): a capped stack of {undo, redo} entries,
 * one per finished stroke; doing something new clears the redo side. One History per image, kept
 * in a small least-recently-used book so that visiting many images cannot grow memory without end.
 * Pure TypeScript: no DOM, no Svelte.
 */

export interface HistoryEntry {
  /** What the entry did, for messages ("Undo brush stroke"). */
  readonly label: string;
  undo(): void;
  redo(): void;
}

export const HISTORY_LIMIT = 128;

export class History {
  private done: HistoryEntry[] = [];
  private undone: HistoryEntry[] = [];

  constructor(readonly limit = HISTORY_LIMIT) {
    if (!(limit >= 1)) throw new Error(`history limit must be at least 1, got ${limit}`);
  }

  /** Records an action that has already been applied. */
  push(entry: HistoryEntry): void {
    this.done.push(entry);
    if (this.done.length > this.limit) this.done.splice(0, this.done.length - this.limit);
    this.undone = [];
  }

  /** Undoes the latest action; returns it, or null when there is nothing to undo. */
  undo(): HistoryEntry | null {
    const entry = this.done.pop();
    if (!entry) return null;
    entry.undo();
    this.undone.push(entry);
    return entry;
  }

  redo(): HistoryEntry | null {
    const entry = this.undone.pop();
    if (!entry) return null;
    entry.redo();
    this.done.push(entry);
    return entry;
  }

  get canUndo(): boolean {
    return this.done.length > 0;
  }

  get canRedo(): boolean {
    return this.undone.length > 0;
  }

  get undoSize(): number {
    return this.done.length;
  }

  get redoSize(): number {
    return this.undone.length;
  }

  clear(): void {
    this.done = [];
    this.undone = [];
  }
}

/** One History per image; the least recently used image's history goes once more than `maxImages` are kept. */
export class HistoryBook {
  private readonly byImage = new Map<number, History>();

  constructor(
    readonly maxImages = 32,
    readonly limit = HISTORY_LIMIT,
  ) {}

  of(imageId: number): History {
    let h = this.byImage.get(imageId);
    if (h) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.byImage.delete(imageId);
    } else {
      h = new History(this.limit);
    }
    this.byImage.set(imageId, h);
    while (this.byImage.size > this.maxImages) this.byImage.delete(this.byImage.keys().next().value!);
    return h;
  }

  /** The image's history if it has one, without marking it recently used. */
  peek(imageId: number): History | undefined {
    return this.byImage.get(imageId);
  }

  has(imageId: number): boolean {
    return this.byImage.has(imageId);
  }

  /** Forgets an image's history (it was deleted, or its labels changed under it). */
  drop(imageId: number): void {
    this.byImage.delete(imageId);
  }

  clear(): void {
    this.byImage.clear();
  }
}
