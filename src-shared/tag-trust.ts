/**
 * Whether a model's tag head has learnt enough for its tag guesses to be offered as fixes ("Untag
 * cat", "Tag dog"). An untrained or barely trained head sits near the loss of a guess that ignores
 * the image; its "p < 0.5" on a correct tag is noise, and offering to untag would teach the user to
 * delete good tags. The gate compares the run's final tag loss (mean sigmoid BCE over classes, as
 * in engine/losses.ts tagLoss) with the best image-blind guess: each class's frequency among the
 * tagged training images (the mean binary entropy of those frequencies). Runs recorded without
 * that baseline are compared with the uniform guess p = 0.5 (ln 2). Pure: no Node, no DOM.
 */

/** The head must be this much (relative) below the baseline loss. */
export const TAG_TRUST_MARGIN = 0.25;

function entropy(p: number): number {
  return p <= 0 || p >= 1 ? 0 : -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
}

/** Tag loss of the best image-blind guess over images with at least one tag; null when none has tags. */
export function tagPriorLoss(tagLists: ReadonlyArray<ReadonlyArray<number>>, classes: number): number | null {
  const tagged = tagLists.filter((t) => t.length > 0);
  if (tagged.length === 0 || classes < 1) return null;
  const counts = new Float64Array(classes);
  for (const list of tagged) for (const c of new Set(list)) if (c >= 0 && c < classes) counts[c]!++;
  let sum = 0;
  for (let c = 0; c < classes; c++) sum += entropy(counts[c]! / tagged.length);
  return sum / classes;
}

export interface TagTrust {
  trusted: boolean;
  /** Why fixes are hidden (empty when trusted). */
  reason: string;
  tagLoss: number | null;
  baseline: number | null;
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** The gate, from a run's recorded metrics ({ final: { tagLoss }, tagPriorLoss }). */
export function tagTrust(metrics: unknown): TagTrust {
  const m = (metrics ?? {}) as { final?: { tagLoss?: unknown }; tagPriorLoss?: unknown };
  const tagLoss = num(m.final?.tagLoss);
  const prior = num(m.tagPriorLoss);
  const baseline = prior ?? Math.LN2;
  const what = prior !== null ? 'guessing each tag from how often it occurs' : 'a coin-flip guess';
  if (tagLoss === null) {
    return { trusted: false, reason: 'Tag fixes are hidden: this run recorded no tag loss, so there is no telling whether its tag guesses mean anything.', tagLoss, baseline };
  }
  if (tagLoss <= baseline * (1 - TAG_TRUST_MARGIN)) return { trusted: true, reason: '', tagLoss, baseline };
  return {
    trusted: false,
    reason:
      `Tag fixes are hidden: the model's tag loss (${tagLoss.toFixed(3)}) is not clearly below that of ${what} (${baseline.toFixed(3)}), ` +
      'so it has not learnt the tags yet. Train longer, or tag more images.',
    tagLoss,
    baseline,
  };
}
