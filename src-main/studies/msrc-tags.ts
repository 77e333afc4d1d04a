/**
 * How many of MSRC-21's 441 development images (../shared/datasets/msrc21/labels.json) carry 1, 2, … 7
 * classes: synthetic benchmark data drawn from it has decode lists of uneven length, padded in a batch
 * as in real training. No imports: bench/ab-steps.ts loads it beside another tree's engine.
 */
export const MSRC_TAG_COUNTS: readonly number[] = [83, 161, 118, 46, 28, 4, 1];

/** A tag count drawn from MSRC_TAG_COUNTS for a uniform u in [0, 1). */
export function msrcTagCount(u: number): number {
  let acc = u * MSRC_TAG_COUNTS.reduce((a, b) => a + b, 0);
  for (const [k, c] of MSRC_TAG_COUNTS.entries()) if ((acc -= c) < 0) return k + 1;
  return MSRC_TAG_COUNTS.length;
}
