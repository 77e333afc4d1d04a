import { describe, expect, it } from 'vitest';
import { Confusion, summarize } from '../../src-shared/metrics';
import { simulateScribbles } from '../../src-shared/scribbles';

describe('metrics', () => {
  it('computes IoU, mIoU and pixel accuracy, ignoring 255', () => {
    const c = new Confusion(3);
    // truth: 0 0 1 1 2 255 ; pred: 0 1 1 1 0 2
    c.add([0, 0, 1, 1, 2, 255], [0, 1, 1, 1, 0, 2]);
    const iou = c.iou();
    expect(iou[0]).toBeCloseTo(1 / 3); // tp 1, fn 1, fp 1
    expect(iou[1]).toBeCloseTo(2 / 3); // tp 2, fp 1
    expect(iou[2]).toBe(0);
    expect(c.miou()).toBeCloseTo((1 / 3 + 2 / 3 + 0) / 3);
    expect(c.pixelAccuracy()).toBeCloseTo(3 / 5);
    const s = summarize(c, ['a', 'b', 'c']);
    expect(s.confusion).toEqual([
      [1, 1, 0],
      [0, 2, 0],
      [1, 0, 0],
    ]);
  });

  it('leaves classes absent from truth and prediction out of the mean', () => {
    const c = new Confusion(4);
    c.add([0, 1], [0, 1]);
    expect(c.iou()[3]).toBeNaN();
    expect(c.miou()).toBe(1);
    expect(summarize(c, ['a', 'b', 'c', 'd']).perClass.d).toBeNull();
    expect(() => c.add([0], [7])).toThrow(/out of range/);
  });
});

describe('simulated scribbles', () => {
  const w = 80, h = 60;
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) mask[y * w + x] = x < 30 ? 0 : y < 20 ? 1 : 2;
  mask[0] = 255;

  it('labels only pixels of the right class, a small fraction, every large region', () => {
    const r = simulateScribbles(mask, w, h, { seed: 1, radius: 2 });
    let wrong = 0;
    const seen = new Set<number>();
    for (let p = 0; p < w * h; p++) {
      if (r.scribbles[p] === 255) continue;
      seen.add(r.scribbles[p]!);
      if (r.scribbles[p] !== mask[p]) wrong++;
    }
    expect(wrong).toBe(0);
    expect([...seen].sort()).toEqual([0, 1, 2]);
    expect(r.coverage).toBeGreaterThan(0.01);
    expect(r.coverage).toBeLessThan(0.3);
  });

  it('is deterministic per seed and differs across seeds', () => {
    const a = simulateScribbles(mask, w, h, { seed: 4 });
    const b = simulateScribbles(mask, w, h, { seed: 4 });
    const c = simulateScribbles(mask, w, h, { seed: 5 });
    expect(a.scribbles).toEqual(b.scribbles);
    expect(a.scribbles).not.toEqual(c.scribbles);
  });
});
