/**
 * Active-learning acquisition scores: which image to label next. Pure TypeScript over a model's
 * per-image outputs (tag probabilities, per-pixel class probabilities), so the CLI, the app and
 * the benchmark rank the same way.
 */
import { rng } from './random.js';

export const STRATEGIES = ['random', 'tag-entropy', 'tag-margin', 'pixel-entropy', 'disagreement', 'diverse', 'coverage'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface ImageOutputs {
  id: number | string;
  /** Sigmoid tag probabilities [C]. */
  tagProbs: ArrayLike<number>;
  /** Decoded classes of the heatmap prediction. */
  classes: number[];
  /** Per-pixel probabilities over `classes`, [P·K] (may be subsampled). */
  probs: ArrayLike<number>;
  /** Predicted class per pixel [P] (same pixels as probs). */
  mask: ArrayLike<number>;
  /**
   * Classes the person gave the image (`coverage`): for a candidate, its image-level tags; for an
   * image that already has pixel labels, the classes it has pixel labels of. Absent: not known
   * (a candidate then counts the classes its predicted tags show).
   */
  givenTags?: number[];
}

export interface Suggestion {
  id: number | string;
  score: number;
  /** Why, in words (shown in the queue). */
  reason: string;
}

function binaryEntropy(p: number): number {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return -(q * Math.log2(q) + (1 - q) * Math.log2(1 - q));
}

/** Sum of binary entropies of the tag probabilities (bits). */
export function tagEntropy(o: ImageOutputs): number {
  let h = 0;
  for (let c = 0; c < o.tagProbs.length; c++) h += binaryEntropy(o.tagProbs[c]!);
  return h;
}

/** 1 - smallest distance of a tag probability to the 0.5 decision boundary ×2 (1 = a coin flip). */
export function tagMargin(o: ImageOutputs): number {
  let m = 1;
  for (let c = 0; c < o.tagProbs.length; c++) m = Math.min(m, Math.abs(o.tagProbs[c]! - 0.5) * 2);
  return 1 - m;
}

/** Mean per-pixel entropy of the class probabilities, normalised by log K (0..1). */
export function pixelEntropy(o: ImageOutputs): number {
  const K = o.classes.length;
  if (K < 2) return 0;
  const P = o.probs.length / K;
  let sum = 0;
  for (let p = 0; p < P; p++) {
    let h = 0;
    for (let k = 0; k < K; k++) {
      const v = o.probs[p * K + k]!;
      if (v > 0) h -= v * Math.log(v);
    }
    sum += h;
  }
  return sum / P / Math.log(K);
}

/** Classes covering at least `minShare` of the pixels of the predicted mask. */
export function maskClasses(o: ImageOutputs, minShare = 0.02): Set<number> {
  const counts = new Map<number, number>();
  for (let p = 0; p < o.mask.length; p++) counts.set(o.mask[p]!, (counts.get(o.mask[p]!) ?? 0) + 1);
  return new Set([...counts].filter(([, n]) => n / o.mask.length >= minShare).map(([c]) => c));
}

/** Jaccard distance between the classifier's tags (p ≥ 0.5) and the classes the heatmap mask shows. */
export function disagreement(o: ImageOutputs): number {
  const tags = new Set<number>();
  for (let c = 0; c < o.tagProbs.length; c++) if (o.tagProbs[c]! >= 0.5) tags.add(c);
  const inMask = maskClasses(o);
  const union = new Set([...tags, ...inMask]);
  if (union.size === 0) return 0;
  let inter = 0;
  for (const c of tags) if (inMask.has(c)) inter++;
  return 1 - inter / union.size;
}

/** An image's signature for diversity: tag probabilities and the mask's class shares. */
function embedding(o: ImageOutputs): number[] {
  const C = o.tagProbs.length;
  const share = new Array<number>(C).fill(0);
  for (let p = 0; p < o.mask.length; p++) {
    const c = o.mask[p]!;
    if (c < C) share[c]! += 1 / o.mask.length;
  }
  return [...Array.from(o.tagProbs as ArrayLike<number>), ...share];
}

function dist2(a: number[], b: number[]): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i]! - b[i]!) ** 2;
  return d;
}

const names: Record<Strategy, string> = {
  random: 'random order',
  'tag-entropy': 'uncertain tags',
  'tag-margin': 'a tag near the decision boundary',
  'pixel-entropy': 'uncertain pixels',
  disagreement: 'tags and heatmap disagree',
  diverse: 'uncertain and unlike the others picked',
  coverage: 'shows classes with few pixel labels yet',
};

/** Greedy selection: `take` times, the unused index of highest `score` (scores may change after each pick). */
function greedy(count: number, take: number, score: (i: number) => number, pick: (i: number, score: number) => void): void {
  const used = new Set<number>();
  for (let k = 0; k < take; k++) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < count; i++) {
      if (used.has(i)) continue;
      const s = score(i);
      if (s > bestScore) {
        bestScore = s;
        best = i;
      }
    }
    used.add(best);
    pick(best, bestScore);
  }
}

/** Classes an image brings to `coverage`: the tags given, else the predicted tags (p ≥ 0.5). */
function coverageClasses(o: ImageOutputs): number[] {
  if (o.givenTags) return o.givenTags;
  const out: number[] = [];
  for (let c = 0; c < o.tagProbs.length; c++) if (o.tagProbs[c]! >= 0.5) out.push(c);
  return out;
}

/**
 * `coverage`: greedy class-balanced picking. An image's gain is Σ over the classes it shows of
 * 1 / (1 + images with pixel labels of that class, counting the picks so far), so each pick goes to
 * classes the labelled set lacks (mIoU averages over classes: a class without any pixel label is the
 * costliest gap). Uncertainty weighs the gain: × (1 + pixel entropy), so among images that bring
 * the same classes the model's least certain comes first.
 */
function rankCoverage(
  candidates: ImageOutputs[],
  take: number,
  labelled: ImageOutputs[],
  classNames: string[] | undefined,
): Suggestion[] {
  const have = new Map<number, number>();
  for (const l of labelled) for (const c of coverageClasses(l)) have.set(c, (have.get(c) ?? 0) + 1);
  const cls = candidates.map(coverageClasses);
  const unc = candidates.map((c) => (c.probs.length ? pixelEntropy(c) : 0));
  const name = (c: number) => classNames?.[c] ?? `class ${c}`;
  const picked: Suggestion[] = [];
  greedy(
    candidates.length,
    take,
    (i) => {
      let gain = 0;
      for (const c of cls[i]!) gain += 1 / (1 + (have.get(c) ?? 0));
      return gain * (1 + unc[i]!);
    },
    (best, bestScore) => {
      const rare = [...cls[best]!]
        .sort((a, b) => (have.get(a) ?? 0) - (have.get(b) ?? 0))
        .slice(0, 3)
        .map((c) => `${name(c)} (${have.get(c) ?? 0} labelled)`);
      picked.push({
        id: candidates[best]!.id,
        score: bestScore,
        reason: `${names.coverage}: ${rare.join(', ') || 'no class known'} (score ${bestScore.toFixed(3)})`,
      });
      for (const c of cls[best]!) have.set(c, (have.get(c) ?? 0) + 1);
    },
  );
  return picked;
}

/**
 * Ranks candidates, best first. `diverse`: greedy — each pick maximises uncertainty (pixel entropy
 * + normalised tag entropy) × distance to the nearest already-labelled or already-picked image.
 */
export function rank(
  strategy: Strategy,
  candidates: ImageOutputs[],
  n: number,
  opts: { seed?: number; labelled?: ImageOutputs[]; classNames?: string[] } = {},
): Suggestion[] {
  const take = Math.min(n, candidates.length);
  if (strategy === 'coverage') return rankCoverage(candidates, take, opts.labelled ?? [], opts.classNames);
  const describe = (id: number | string, score: number): Suggestion => ({ id, score, reason: `${names[strategy]} (score ${score.toFixed(3)})` });
  if (strategy === 'random') {
    const r = rng(opts.seed ?? 1);
    return candidates
      .map((c) => ({ c, k: r() }))
      .sort((a, b) => a.k - b.k)
      .slice(0, take)
      .map(({ c, k }) => describe(c.id, k));
  }
  if (strategy !== 'diverse') {
    const f = { 'tag-entropy': tagEntropy, 'tag-margin': tagMargin, 'pixel-entropy': pixelEntropy, disagreement }[strategy];
    return candidates
      .map((c) => describe(c.id, f(c)))
      .sort((a, b) => b.score - a.score)
      .slice(0, take);
  }
  const C = candidates[0]?.tagProbs.length ?? 1;
  const unc = candidates.map((c) => pixelEntropy(c) + tagEntropy(c) / C);
  const emb = candidates.map(embedding);
  const nearest = emb.map((e) => Math.min(Infinity, ...(opts.labelled ?? []).map((l) => dist2(e, embedding(l)))));
  const picked: Suggestion[] = [];
  greedy(
    candidates.length,
    take,
    (i) => unc[i]! * (Number.isFinite(nearest[i]!) ? Math.sqrt(nearest[i]!) : 1),
    (best, bestScore) => {
      picked.push(describe(candidates[best]!.id, bestScore));
      for (let i = 0; i < candidates.length; i++) nearest[i] = Math.min(nearest[i]!, dist2(emb[i]!, emb[best]!));
    },
  );
  return picked;
}
