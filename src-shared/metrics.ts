/**
 * Segmentation metrics from a confusion matrix: mIoU, per-class IoU, pixel accuracy.
 * Ground-truth pixels equal to `ignore` (255 in mask folders) are skipped.
 */
export class Confusion {
  readonly counts: Float64Array;
  constructor(readonly classes: number) {
    this.counts = new Float64Array(classes * classes);
  }

  /** Adds one image: `truth` and `pred` hold class indices 0..C-1 (truth may hold `ignore`). */
  add(truth: ArrayLike<number>, pred: ArrayLike<number>, ignore = 255): void {
    if (truth.length !== pred.length) throw new Error(`truth has ${truth.length} pixels, prediction ${pred.length}`);
    const C = this.classes;
    for (let i = 0; i < truth.length; i++) {
      const t = truth[i]!;
      if (t === ignore) continue;
      const p = pred[i]!;
      if (t >= C || p >= C || t < 0 || p < 0) throw new Error(`class index out of range at pixel ${i}: truth ${t}, prediction ${p}`);
      this.counts[t * C + p]!++;
    }
  }

  merge(other: Confusion): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
  }

  /** IoU per class; NaN for a class absent from both truth and prediction. */
  iou(): number[] {
    const C = this.classes;
    const out: number[] = [];
    for (let c = 0; c < C; c++) {
      const tp = this.counts[c * C + c]!;
      let rowSum = 0, colSum = 0;
      for (let k = 0; k < C; k++) {
        rowSum += this.counts[c * C + k]!;
        colSum += this.counts[k * C + c]!;
      }
      const union = rowSum + colSum - tp;
      out.push(union > 0 ? tp / union : NaN);
    }
    return out;
  }

  /** Mean IoU over classes that occur in the truth or the prediction. */
  miou(): number {
    const v = this.iou().filter((x) => !Number.isNaN(x));
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
  }

  pixelAccuracy(): number {
    let correct = 0, total = 0;
    for (let c = 0; c < this.classes; c++) correct += this.counts[c * this.classes + c]!;
    for (const n of this.counts) total += n;
    return total ? correct / total : NaN;
  }

  matrix(): number[][] {
    const C = this.classes;
    return Array.from({ length: C }, (_, t) => Array.from(this.counts.subarray(t * C, (t + 1) * C)));
  }
}

export interface SegMetrics {
  miou: number;
  pixelAccuracy: number;
  perClass: Record<string, number | null>;
  confusion: number[][];
}

export function summarize(conf: Confusion, names: string[]): SegMetrics {
  const iou = conf.iou();
  return {
    miou: conf.miou(),
    pixelAccuracy: conf.pixelAccuracy(),
    perClass: Object.fromEntries(names.map((n, c) => [n, Number.isNaN(iou[c]!) ? null : iou[c]!])),
    confusion: conf.matrix(),
  };
}

/**
 * Foreground IoU of a task with a background class: every other class counts as one "foreground"
 * class, so a pixel is right when it is foreground in both truth and prediction (whichever
 * foreground class). From the confusion matrix `counts[truth · C + pred]`.
 */
export function foregroundIou(conf: Confusion, background: number): number {
  const C = conf.classes;
  if (!Number.isInteger(background) || background < 0 || background >= C) throw new Error(`background class ${background} is outside 0..${C - 1}`);
  let tp = 0, fp = 0, fn = 0;
  for (let t = 0; t < C; t++) {
    for (let p = 0; p < C; p++) {
      const n = conf.counts[t * C + p]!;
      if (t !== background && p !== background) tp += n;
      else if (t === background && p !== background) fp += n;
      else if (t !== background && p === background) fn += n;
    }
  }
  return tp + fp + fn > 0 ? tp / (tp + fp + fn) : NaN;
}

/**
 * Average precision of one class's scores against 0/1 truth (the area under the precision–recall
 * curve as the mean of the precision at each positive's rank, ties broken pessimistically:
 * negatives with the same score rank first). NaN without positives.
 */
export function averagePrecision(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const n = scores.length;
  if (positive.length !== n) throw new Error(`${n} scores but ${positive.length} truth values`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || Number(positive[a]) - Number(positive[b]));
  let hits = 0, sum = 0;
  order.forEach((i, rank) => {
    if (positive[i]) {
      hits++;
      sum += hits / (rank + 1);
    }
  });
  return hits ? sum / hits : NaN;
}

export interface TagMetrics {
  /** Mean over classes with at least one positive image of their average precision. */
  map: number;
  /** Per class: AP (null without a positive image) and accuracy of the p ≥ threshold decision. */
  perClass: Record<string, { ap: number | null; accuracy: number }>;
  /** Accuracy over all (image, class) decisions at the threshold. */
  accuracy: number;
}

/** Tag metrics of sigmoid probabilities `probs[i][c]` against each image's true tag list. */
export function tagMetrics(probs: ArrayLike<number>[], tags: ReadonlyArray<ReadonlyArray<number>>, names: string[], threshold = 0.5): TagMetrics {
  const C = names.length;
  if (probs.length !== tags.length) throw new Error(`${probs.length} probability rows for ${tags.length} images`);
  const perClass: TagMetrics['perClass'] = {};
  const aps: number[] = [];
  let hits = 0;
  for (let c = 0; c < C; c++) {
    const scores = probs.map((p) => p[c]!);
    const truth = tags.map((t) => t.includes(c));
    const ap = averagePrecision(scores, truth);
    let right = 0;
    scores.forEach((s, i) => (right += Number(s >= threshold === truth[i])));
    hits += right;
    if (!Number.isNaN(ap)) aps.push(ap);
    perClass[names[c]!] = { ap: Number.isNaN(ap) ? null : ap, accuracy: probs.length ? right / probs.length : NaN };
  }
  return { map: aps.length ? aps.reduce((a, b) => a + b, 0) / aps.length : NaN, perClass, accuracy: probs.length ? hits / (probs.length * C) : NaN };
}

/** Mean and standard error (sample s.d. / √n; 0 for one value) of a list. */
export function meanSe(xs: number[]): { mean: number; se: number } {
  const n = xs.length;
  if (n === 0) return { mean: NaN, se: NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, se: 0 };
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, se: Math.sqrt(v / n) };
}
