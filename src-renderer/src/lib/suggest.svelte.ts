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
  { value: 'pixel-entropy', label: 'Pixel entropy', hint: 'Images whose predicted masks are least certain' },
  { value: 'tag-entropy', label: 'Tag entropy', hint: 'Images whose tag probabilities are least certain' },
  { value: 'tag-margin', label: 'Tag margin', hint: 'Images with a tag close to the 0.5 decision' },
  { value: 'disagreement', label: 'Disagreement', hint: 'Images where the tag head and the mask disagree' },
  { value: 'coverage', label: 'Class coverage', hint: 'Images of the classes with the fewest pixel labels so far, least certain first' },
  { value: 'diverse', label: 'Diverse', hint: 'Uncertain images unlike the ones already labelled' },
  { value: 'random', label: 'Random', hint: 'A random order (the baseline)' },
];

export class SuggestState {
  strategy = $state<Strategy>('pixel-entropy');
  result = $state.raw<SuggestResult | null>(null);
  busy = $state(false);
  error = $state('');
  private inflight: Promise<SuggestResult | null> | null = null;
  private inflightStrategy: Strategy | null = null;

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
