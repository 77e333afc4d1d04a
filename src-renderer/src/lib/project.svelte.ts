/** The open project as the renderer sees it: its summary (counts, classes), refreshed after changes. */
import type { ClassInfo, ProjectSummary } from '../../../src-shared/api';
import { api } from './api';

export type ClassSummary = ProjectSummary['classes'][number];

export class ProjectState {
  summary: ProjectSummary;
  readonly classById: Map<number, ClassInfo>;
  /** Bumped when the image list may have changed as a whole (an import), so grids refetch. */
  listVersion = $state(0);
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(initial: ProjectSummary) {
    this.summary = $state.raw(initial);
    // A fresh map per summary, never mutated: the derived itself is what is reactive.
    // eslint-disable-next-line svelte/prefer-svelte-reactivity
    this.classById = $derived(new Map(this.summary.classes.map((c) => [c.id, c])));
  }

  async refresh(): Promise<void> {
    this.summary = await api('project.summary', {});
  }

  /** Coalesces bursts of small changes (tag toggles) into one summary request. */
  refreshSoon(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh().catch(() => undefined);
    }, 150);
  }

  imagesChanged(): void {
    this.listVersion++;
  }
}
