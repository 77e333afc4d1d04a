/**
 * The image list as fixed-size pages fetched on demand. A grid tells it which index range is on
 * screen; it fetches only the pages that range touches (at most two requests at a time, always for
 * the range that is current when a slot frees), and drops pages far from view, so a project of
 * 10,000 images costs a few pages of memory and a few requests per screenful.
 */
import { SvelteMap } from 'svelte/reactivity';
import type { ImageSummary } from '../../../src-shared/api';
import { api, errorMessage } from './api';

export type ImageFilter = 'all' | 'untagged' | 'tagged' | 'labelled' | 'unlabelled';

export interface ImageQuery {
  filter: ImageFilter;
  classId: number | null;
}

export const PAGE_SIZE = 60;
const MAX_IN_FLIGHT = 2;
/** Pages kept either side of the visible range before they are dropped. */
const KEEP_PAGES = 6;

export class ImagePages {
  /** Number of images matching the query; null until the first page answers. */
  total = $state<number | null>(null);
  error = $state('');
  query: ImageQuery = { filter: 'all', classId: null };
  private readonly pages = new SvelteMap<number, ImageSummary[]>();
  // Bookkeeping for the fetch pump, never shown: deliberately not reactive.
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  private readonly inFlight = new Set<number>();
  private generation = 0;
  private wanted = { first: -1, last: -1 };

  constructor(readonly pageSize = PAGE_SIZE) {}

  /**
   * Starts over with a new query, or the same one after the list changed as a whole. `keepTotal`
   * keeps the old count until the first page answers, so a grid keeps its height and scroll position.
   */
  reset(query: ImageQuery, opts: { keepTotal?: boolean } = {}): void {
    this.query = { ...query };
    this.generation++;
    this.pages.clear();
    this.inFlight.clear();
    if (!opts.keepTotal) this.total = null;
    this.error = '';
    const wanted = this.wanted;
    this.wanted = { first: -1, last: -1 };
    this.want(wanted.first * this.pageSize, (wanted.last + 1) * this.pageSize);
  }

  /** The image at a list index, if its page is loaded. Reactive. */
  item(index: number): ImageSummary | undefined {
    return this.pages.get(Math.floor(index / this.pageSize))?.[index % this.pageSize];
  }

  /** Declares the index range [start, end) on screen. */
  want(start: number, end: number): void {
    const first = Math.floor(Math.max(0, start) / this.pageSize);
    const last = Math.max(first, Math.floor(Math.max(0, end - 1) / this.pageSize));
    if (first === this.wanted.first && last === this.wanted.last) return;
    this.wanted = { first, last };
    for (const page of [...this.pages.keys()]) {
      if (page < first - KEEP_PAGES || page > last + KEEP_PAGES) this.pages.delete(page);
    }
    this.pump();
  }

  /** Puts an updated image (new tags, new label count) wherever it is loaded. */
  replace(updated: ImageSummary): void {
    for (const [page, items] of this.pages) {
      const i = items.findIndex((it) => it.id === updated.id);
      if (i >= 0)
        this.pages.set(
          page,
          items.map((it, j) => (j === i ? updated : it)),
        );
    }
  }

  /** Changes fields of an image wherever it is loaded (a new label count after a save). */
  update(id: number, change: Partial<Omit<ImageSummary, 'id'>>): void {
    const i = this.indexOf(id);
    const item = i >= 0 ? this.item(i) : undefined;
    if (item) this.replace({ ...item, ...change });
  }

  /** Index of an image among loaded pages, or -1. */
  indexOf(id: number): number {
    for (const [page, items] of this.pages) {
      const i = items.findIndex((it) => it.id === id);
      if (i >= 0) return page * this.pageSize + i;
    }
    return -1;
  }

  private pump(): void {
    const { first, last } = this.wanted;
    for (let page = first; page <= last && this.inFlight.size < MAX_IN_FLIGHT; page++) {
      if (this.pages.has(page) || this.inFlight.has(page)) continue;
      if (this.total !== null && page * this.pageSize >= this.total && page > 0) break;
      void this.fetch(page);
    }
  }

  private async fetch(page: number): Promise<void> {
    const generation = this.generation;
    this.inFlight.add(page);
    try {
      const result = await api('images.list', {
        offset: page * this.pageSize,
        limit: this.pageSize,
        filter: this.query.filter,
        ...(this.query.classId !== null ? { classId: this.query.classId } : {}),
      });
      if (generation !== this.generation) return;
      this.total = result.total;
      this.pages.set(page, result.items);
      this.error = '';
    } catch (e) {
      if (generation === this.generation) this.error = errorMessage(e);
    } finally {
      if (generation === this.generation) {
        this.inFlight.delete(page);
        if (!this.error) this.pump();
      }
    }
  }
}
