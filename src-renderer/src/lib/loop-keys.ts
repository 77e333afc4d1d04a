/**
 * Keys of the training loop (predicted overlays, active learning), in their own table next to the
 * annotation shortcuts (shortcuts.ts): the handlers match against it and the help overlay (?) lists
 * it, so the two cannot drift apart. Pure TypeScript.
 */
import type { KeyLike } from './shortcuts';

export type LoopAction = 'overlay.mask' | 'overlay.heatmap' | 'suggest.next';

export interface LoopKey {
  action: LoopAction;
  /** As shown in the help overlay. */
  keys: string[];
  description: string;
  /** Where it works: the image view only, or the grid too. */
  where: 'image' | 'anywhere';
}

export const LOOP_KEYS: LoopKey[] = [
  { action: 'overlay.mask', keys: ['M'], description: 'Show / hide the predicted mask (after a training run)', where: 'image' },
  { action: 'overlay.heatmap', keys: ['H'], description: 'Show / hide the prediction confidence heatmap', where: 'image' },
  { action: 'suggest.next', keys: ['N'], description: 'Open the next suggested image to label (active learning)', where: 'anywhere' },
];

const LETTERS: Record<string, LoopAction> = { m: 'overlay.mask', h: 'overlay.heatmap', n: 'suggest.next' };

/** The loop action a key press means, or null (plain letters only: no Ctrl, Alt, Meta or Shift). */
export function matchLoopKey(e: KeyLike): LoopAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey || e.shiftKey) return null;
  return LETTERS[e.key.toLowerCase()] ?? null;
}
