import { describe, expect, it } from 'vitest';
import { Confusion, averagePrecision, foregroundIou, meanSe, tagMetrics } from '../../src-shared/metrics';

describe('foreground IoU, tag AP / mAP, mean ± s.e.', () => {
  it('counts every non-background class as one foreground', () => {
    const c = new Confusion(3);
    // background = 0; truth 1 predicted 2 is still foreground-right
    c.add([0, 0, 1, 1, 2, 2, 255], [0, 1, 2, 0, 2, 1, 0]);
    // tp: (1→2), (2→2), (2→1) = 3; fp: (0→1) = 1; fn: (1→0) = 1
    expect(foregroundIou(c, 0)).toBeCloseTo(3 / 5);
    expect(() => foregroundIou(c, 3)).toThrow(/outside 0..2/);
  });

  it('computes average precision by hand-checked ranks, ties pessimistic', () => {
    // ranks: 0.9 (+), 0.8 (-), 0.7 (+) → (1/1 + 2/3) / 2
    expect(averagePrecision([0.9, 0.8, 0.7], [true, false, true])).toBeCloseTo((1 + 2 / 3) / 2);
    expect(averagePrecision([0.5, 0.5], [true, false])).toBeCloseTo(0.5);
    expect(averagePrecision([0.1, 0.2], [false, false])).toBeNaN();
  });

  it('gives per-class AP and accuracy, and mAP over classes with positives', () => {
    const m = tagMetrics(
      [
        [0.9, 0.2, 0.1],
        [0.4, 0.7, 0.1],
        [0.6, 0.1, 0.3],
      ],
      [[0], [1], [1]],
      ['a', 'b', 'c'],
    );
    expect(m.perClass.a!.ap).toBeCloseTo(1);
    expect(m.perClass.b!.ap).toBeCloseTo((1 + 2 / 3) / 2);
    expect(m.perClass.c!.ap).toBeNull();
    expect(m.map).toBeCloseTo((1 + (1 + 2 / 3) / 2) / 2);
    expect(m.perClass.a!.accuracy).toBeCloseTo(2 / 3); // image 3 wrongly ≥ 0.5
    expect(m.accuracy).toBeCloseTo(7 / 9);
  });

  it('mean and standard error', () => {
    const r = meanSe([1, 2, 3]);
    expect(r.mean).toBe(2);
    expect(r.se).toBeCloseTo(1 / Math.sqrt(3));
    expect(meanSe([5]).se).toBe(0);
  });
});
