import { describe, expect, it } from 'vitest';
import { MAX_SCALE, View, isCursorMove, wheelPixels } from '../../src-renderer/src/lib/view';

/** A 400×200 image in a 1000×600 host whose corner is at client (50, 30). */
function view(): { v: View; changes: number[] } {
  const changes: number[] = [];
  const v = new View(400, 200, (x) => changes.push(x.scale));
  v.host = { left: 50, top: 30, width: 1000, height: 600 };
  return { v, changes };
}

describe('View', () => {
  it('fits the image with a margin, centred, and says so', () => {
    const { v, changes } = view();
    v.fit();
    // (1000 − 32) / 400 = 2.42 is narrower than (600 − 32) / 200 = 2.84
    expect(v.scale).toBeCloseTo(2.42, 12);
    expect(v.x).toBeCloseTo(16, 9);
    expect(v.y).toBeCloseTo((600 - 200 * 2.42) / 2, 9);
    expect(v.fitted).toBe(true);
    expect(changes).toEqual([v.scale]);
  });

  it('zooms about a stage point: the image point under it stays put', () => {
    const { v } = view();
    v.set(1.5, 30, -20);
    const before = v.sample(50 + 300, 30 + 200);
    v.zoomAt(3, 300, 200);
    expect(v.scale).toBeCloseTo(4.5, 12);
    const after = v.sample(50 + 300, 30 + 200);
    expect(after.x).toBeCloseTo(before.x, 9);
    expect(after.y).toBeCloseTo(before.y, 9);
    expect(v.fitted).toBe(false);
  });

  it('keeps the scale between half the fitted one (at most 5%) and 64×', () => {
    const { v } = view();
    v.fit();
    v.zoomBy(1e6);
    expect(v.scale).toBe(MAX_SCALE);
    v.zoomBy(1e-9);
    expect(v.scale).toBe(Math.min(0.05, v.fitScale() / 2));
  });

  it('actual size is one image pixel per stage pixel, about the host centre', () => {
    const { v } = view();
    v.set(3, -100, 40);
    const centre = v.sample(50 + 500, 30 + 300);
    v.actualSize();
    expect(v.scale).toBe(1);
    const again = v.sample(50 + 500, 30 + 300);
    expect(again.x).toBeCloseTo(centre.x, 9);
    expect(again.y).toBeCloseTo(centre.y, 9);
  });

  it('wheel up zooms in, at most e× per event; a line counts 16 pixels', () => {
    const { v } = view();
    v.set(1, 0, 0);
    v.wheelZoom(-100, 0, 50, 30);
    expect(v.scale).toBeCloseTo(Math.exp(0.15), 12);
    v.set(1, 0, 0);
    v.wheelZoom(-10_000, 0, 50, 30);
    expect(v.scale).toBeCloseTo(Math.E, 12);
    expect(wheelPixels(3, 1)).toBe(48);
    expect(wheelPixels(3, 0)).toBe(3);
  });

  it('maps client points to image and stage points, and image points back', () => {
    const { v } = view();
    v.set(2, 100, 10);
    expect(v.sample(50 + 120, 30 + 50)).toEqual({ x: 10, y: 20, stageX: 120, stageY: 50 });
    expect(v.at({ x: 10, y: 20 })).toEqual({ x: 10, y: 20, stageX: 120, stageY: 50 });
  });

  it('pans the least that keeps a point 40 px inside the host', () => {
    const { v } = view();
    v.set(2, 0, 0);
    v.keepInView({ x: 100, y: 100 }); // at stage (200, 200): inside already
    expect([v.x, v.y]).toEqual([0, 0]);
    v.keepInView({ x: 490, y: 5 }); // at stage (980, 10)
    expect([v.x, v.y]).toEqual([1000 - 40 - 980, 30]);
  });

  it('steps the keyboard cursor about 8 screen pixels (10× with Shift), inside the image', () => {
    const { v } = view();
    v.set(2, 0, 0);
    expect(v.stepCursor({ x: 100, y: 100 }, 'cursor.right', false)).toEqual({ x: 104, y: 100 });
    expect(v.stepCursor({ x: 100, y: 100 }, 'cursor.up', true)).toEqual({ x: 100, y: 60 });
    expect(v.stepCursor({ x: 2, y: 199 }, 'cursor.left', true)).toEqual({ x: 0.5, y: 199 });
    expect(v.stepCursor({ x: 2, y: 199 }, 'cursor.down', false)).toEqual({ x: 2, y: 199.5 });
    v.set(32, 0, 0);
    expect(v.stepCursor({ x: 10, y: 10 }, 'cursor.right', false)).toEqual({ x: 11, y: 10 });
    expect(isCursorMove('cursor.left')).toBe(true);
    expect(isCursorMove('cursor.apply')).toBe(false);
    expect(isCursorMove('toString')).toBe(false);
  });
});
