/**
 * Active learning in the renderer: which image to label next, by the latest model (suggest.list
 * scores every image without pixel labels in the engine worker). One instance for the window; the
 * queue panel lists the ranking, "Next suggested image" (N) opens its top entry.
 */
import type { SuggestResult } from '../../../src-shared/api';
import { api, errorMessage } from './api';

import type { Strategy } from '../../../src-shared/acquisition';

export type { Strategy };

export const STRATEGIES: Array<{ value: Strategy; label: string; hint: string }> = [
  // first and the default: the one that saved labels in bench active (docs/EXPERIMENTS.md)
  { value: 'coverage', label: 'Class coverage', hint: 'Images of the classes with the fewest pixel labels so far, least certain first' },
  { value: 'pixel-entropy', label: 'Pixel entropy', hint: 'Images whose predicted masks are least certain' },
  { value: 'tag-entropy', label: 'Tag entropy', hint: 'Images whose tag probabilities are least certain' },
  { value: 'tag-margin', label: 'Tag margin', hint: 'Images with a tag close to the 0.5 decision' },
  { value: 'disagreement', label: 'Disagreement', hint: 'Images where the tag head and the mask disagree' },
  { value: 'diverse', label: 'Diverse', hint: 'Uncertain images unlike the ones already labelled' },
  { value: 'random', label: 'Random', hint: 'A random order (the baseline)' },
];

export class SuggestState {
  strategy = $state<Strategy>('coverage');
  result = $state.raw<SuggestResult | null>(null);
  busy = $state(false);
  error = $state('');
  private inflight: Promise<SuggestResult | null> | null = null;
  private inflightStrategy: Strategy | null = null;
  /** Images "Next" has already opened from `result` (cleared whenever the ranking changes). */
  private opened: number[] = [];
  private openedFrom: SuggestResult | null = null;

  /**
   * The image "Next suggested image" opens: the best of the current ranking that is not the image
   * on screen, was not opened from this ranking before, and still has no pixel labels (asked through
   * `unlabelled`). Ranking every image is the slow part (it runs the model on each), so it is done
   * again only when there is no ranking for this model and strategy yet, or when this one is used up.
   */
  async next(
    currentId: number | undefined,
    runId: number,
    unlabelled: (id: number) => Promise<boolean>,
  ): Promise<{ pick: SuggestResult['suggestions'][number] | null; result: SuggestResult | null }> {
    let r = this.result;
    // a ranking made by this call is never made again by it: used up, it means nothing is left
    let fresh = false;
    if (!r || r.runId !== runId || r.strategy !== this.strategy) {
      r = await this.refresh();
      fresh = true;
    }
    while (r) {
      if (this.openedFrom !== r) {
        this.opened = [];
        this.openedFrom = r;
      }
      for (const s of r.suggestions) {
        if (s.id === currentId || this.opened.includes(s.id)) continue;
        if (!(await unlabelled(s.id))) continue;
        this.opened.push(s.id);
        return { pick: s, result: r };
      }
      if (fresh) return { pick: null, result: r };
      r = await this.refresh();
      fresh = true;
    }
    return { pick: null, result: null };
  }

  /** Ranks the images again (the same request is shared while it runs). */
  refresh(n = 20): Promise<SuggestResult | null> {
    const strategy = this.strategy;
    if (this.inflight && this.inflightStrategy === strategy) return this.inflight;
    this.busy = true;
    this.error = '';
    const request = api('suggest.list', { strategy, n })
      .then((r) => {
        if (this.inflight === request) this.result = r;
        return r;
      })
      .catch((e: unknown) => {
        if (this.inflight === request) this.error = errorMessage(e);
        return null;
      })
      .finally(() => {
        if (this.inflight === request) {
          this.inflight = null;
          this.inflightStrategy = null;
          this.busy = false;
        }
      });
    this.inflight = request;
    this.inflightStrategy = strategy;
    return request;
  }

  forget(): void {
    this.inflight = null;
    this.inflightStrategy = null;
    this.busy = false;
    this.result = null;
    this.error = '';
  }
}

export const suggest = new SuggestState();
