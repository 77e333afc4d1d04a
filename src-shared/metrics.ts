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
