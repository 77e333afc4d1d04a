import { describe, expect, it } from 'vitest';
import { PATCH_KEEP, applyPatch } from '../../src-shared/labels';
import { rng } from '../../src-shared/random';
import {
  LabelRaster,
  StrokeChanges,
  brushCentre,
  buildStrokePatch,
  floodRegion,
  forEachCapsuleSpan,
  packColor,
} from '../../src-renderer/src/lib/raster';

function makeRaster(w: number, h: number, labels?: Uint8Array): LabelRaster {
  const r = new LabelRaster(w, h, new Uint8ClampedArray(w * h * 4), labels);
  r.setColors([
    { labelValue: 1, color: '#ff0000' },
    { labelValue: 2, color: '#00ff00' },
  ]);
  return r;
}

/** Brute force: pixels whose centre is within r of segment A–B. */
function capsuleBrute(ax: number, ay: number, bx: number, by: number, r: number, w: number, h: number): Set<number> {
  const out = new Set<number>();
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      const t = len2 > 0 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2)) : 0;
      const qx = ax + t * dx - px;
      const qy = ay + t * dy - py;
      if (qx * qx + qy * qy <= r * r + 1e-9) out.add(y * w + x);
    }
  return out;
}

function painted(r: LabelRaster): Set<number> {
  const s = new Set<number>();
  r.labels.forEach((v, i) => v && s.add(i));
  return s;
}

describe('brush rasterisation', () => {
  it('a dab is exactly `size` pixels across, symmetric, for odd and even sizes', () => {
    for (const size of [1, 2, 3, 4, 5, 8, 9, 16, 17]) {
      const r = makeRaster(40, 40);
      const ch = new StrokeChanges(1);
      const cx = brushCentre(20.3, size);
      const cy = brushCentre(19.8, size);
      r.paintSegment(cx, cy, cx, cy, size, ch);
      const xs: number[] = [];
      const ys: number[] = [];
      r.labels.forEach((v, i) => {
        if (v) {
          xs.push(i % 40);
          ys.push(Math.floor(i / 40));
        }
      });
      expect(Math.max(...xs) - Math.min(...xs) + 1, `width of size ${size}`).toBe(size);
      expect(Math.max(...ys) - Math.min(...ys) + 1, `height of size ${size}`).toBe(size);
      expect(ch.length).toBe(xs.length);
      expect(r.labelled).toBe(xs.length);
    }
  });

  it('segments match the exact capsule (pixel centres within the radius), clipped at the borders', () => {
    const rand = rng(42);
    const W = 48;
    const H = 40;
    for (let k = 0; k < 300; k++) {
      const ax = rand() * 60 - 6;
      const ay = rand() * 52 - 6;
      const bx = rand() * 60 - 6;
      const by = rand() * 52 - 6;
      const r = 0.5 + rand() * 8;
      const got = new Set<number>();
      forEachCapsuleSpan(ax, ay, bx, by, r, W, H, (y, x0, x1) => {
        expect(x0).toBeGreaterThanOrEqual(0);
        expect(x1).toBeLessThan(W);
        for (let x = x0; x <= x1; x++) got.add(y * W + x);
      });
      expect([...got].sort((a, b) => a - b)).toEqual([...capsuleBrute(ax, ay, bx, by, r, W, H)].sort((a, b) => a - b));
    }
  });

  it('fast motion leaves no gaps: far-apart samples give one connected stroke', () => {
    for (const size of [1, 2, 5]) {
      const W = 200;
      const r = makeRaster(W, W);
      const ch = new StrokeChanges(2);
      // Three samples 150 px apart (a fast flick): one pointer event each.
      const pts = [
        [10.2, 20.7],
        [160.9, 60.1],
        [30.4, 180.5],
      ].map(([x, y]) => [brushCentre(x!, size), brushCentre(y!, size)] as const);
      let [lx, ly] = pts[0]!;
      r.paintSegment(lx, ly, lx, ly, size, ch);
      for (const [x, y] of pts.slice(1)) {
        r.paintSegment(lx, ly, x, y, size, ch);
        [lx, ly] = [x, y];
      }
      // Flood the painted set from its first pixel with 8-neighbours: it must reach every painted pixel.
      const set = painted(r);
      const start = [...set][0]!;
      const seen = new Set([start]);
      const stack = [start];
      while (stack.length) {
        const p = stack.pop()!;
        const x = p % W;
        const y = (p - x) / W;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const q = (y + dy) * W + (x + dx);
            if (set.has(q) && !seen.has(q)) {
              seen.add(q);
              stack.push(q);
            }
          }
      }
      expect(seen.size, `size ${size}`).toBe(set.size);
      // Each sample position is painted.
      for (const [x, y] of pts) expect(r.valueAt(x, y)).toBe(2);
    }
  });

  it('labels are hard-edged: every pixel holds one class or none, in its exact colour', () => {
    const r = makeRaster(64, 64);
    const a = new StrokeChanges(1);
    r.paintSegment(10.5, 10.5, 50.5, 40.5, 9, a);
    const b = new StrokeChanges(2);
    r.paintSegment(50, 10, 12, 50, 6, b);
    const red = packColor('#ff0000');
    const green = packColor('#00ff00');
    const rgba = new Uint8Array(r.pixels.buffer);
    for (let i = 0; i < r.labels.length; i++) {
      const v = r.labels[i]!;
      expect([0, 1, 2]).toContain(v);
      expect(r.pixels[i]).toBe(v === 0 ? 0 : v === 1 ? red : green);
      expect([0, 255]).toContain(rgba[i * 4 + 3]); // alpha: no partial coverage
    }
    expect(r.labelled).toBe(r.countLabelled());
  });

  it('the eraser writes 0 and a stroke records each changed pixel once with its old value', () => {
    const r = makeRaster(30, 30);
    const paint = new StrokeChanges(1);
    r.paintSegment(5.5, 15.5, 25.5, 15.5, 5, paint);
    // Going over the same path again changes nothing and records nothing.
    const before = paint.length;
    r.paintSegment(25.5, 15.5, 5.5, 15.5, 5, paint);
    expect(paint.length).toBe(before);
    const erase = new StrokeChanges(0);
    r.paintSegment(15, 5, 15, 25, 4, erase);
    expect(erase.length).toBeGreaterThan(0);
    for (let k = 0; k < erase.length; k++) expect(erase.old(k)).toBe(1);
    expect(r.valueAt(15, 15)).toBe(0);
    expect(r.labelled).toBe(before - erase.length);
  });
});

describe('preserve labels mode', () => {
  it('a brush stroke and a fill write only unlabelled pixels and leave every labelled one as it was', () => {
    const W = 40;
    const H = 30;
    const start = new Uint8Array(W * H);
    for (let y = 10; y < 20; y++) for (let x = 15; x < 25; x++) start[y * W + x] = 2; // a labelled square
    const r = makeRaster(W, H, start.slice());
    const stroke = new StrokeChanges(1, true);
    r.paintSegment(2.5, 15.5, 37.5, 15.5, 7, stroke);
    for (let y = 10; y < 20; y++) for (let x = 15; x < 25; x++) expect(r.valueAt(x, y)).toBe(2);
    expect(r.valueAt(5, 15)).toBe(1);
    expect(r.valueAt(30, 15)).toBe(1);
    for (let k = 0; k < stroke.length; k++) expect(stroke.old(k)).toBe(0);
    // the same stroke without the mode paints over the square
    const over = new StrokeChanges(1);
    r.paintSegment(2.5, 15.5, 37.5, 15.5, 7, over);
    expect(r.valueAt(20, 15)).toBe(1);
    // a fill region (here: everything) in preserve mode only fills the holes
    const r2 = makeRaster(W, H, start.slice());
    const fill = new StrokeChanges(1, true);
    r2.paintMask(new Uint8Array(W * H).fill(1), { x: 0, y: 0, width: W, height: H }, fill);
    expect(fill.length).toBe(W * H - 100);
    for (let i = 0; i < start.length; i++) expect(r2.labels[i]).toBe(start[i] ? 2 : 1);
    expect(r2.labelled).toBe(r2.countLabelled());
  });
});

describe('stroke patches', () => {
  it('cover the stroke bounding box, keep (255) every unchanged pixel, and undo / redo exactly', () => {
    const W = 50;
    const H = 40;
    const start = new Uint8Array(W * H);
    for (let i = 0; i < start.length; i += 7) start[i] = 2; // some existing labels
    const r = makeRaster(W, H, start.slice());
    const ch = new StrokeChanges(1);
    r.paintSegment(10.5, 12.5, 30.5, 20.5, 5, ch);
    const p = buildStrokePatch(ch, W)!;
    expect(p.changed).toBe(ch.length);
    // The bounding box is tight around the changed pixels.
    const xs: number[] = [];
    const ys: number[] = [];
    for (let k = 0; k < ch.length; k++) {
      xs.push(ch.index(k) % W);
      ys.push(Math.floor(ch.index(k) / W));
    }
    expect(p.rect).toEqual({ x: Math.min(...xs), y: Math.min(...ys), width: Math.max(...xs) - Math.min(...xs) + 1, height: Math.max(...ys) - Math.min(...ys) + 1 });
    expect(p.after.filter((v) => v !== PATCH_KEEP).length).toBe(ch.length);
    expect(p.before.filter((v) => v !== PATCH_KEEP).length).toBe(ch.length);
    expect(new Set(p.after.filter((v) => v !== PATCH_KEEP))).toEqual(new Set([1]));
    const after = r.labels.slice();

    // What the server does with the patch (shared applyPatch) gives the same raster as the canvas.
    const server = start.slice();
    applyPatch(server, W, H, p.rect, p.after);
    expect(server).toEqual(after);
    // Undo: the before patch restores the start exactly, on both sides.
    expect(r.applyPatch(p.rect, p.before)).toBe(ch.length);
    expect(r.labels).toEqual(start);
    expect(r.labelled).toBe(r.countLabelled());
    applyPatch(server, W, H, p.rect, p.before);
    expect(server).toEqual(start);
    // Redo.
    r.applyPatch(p.rect, p.after);
    expect(r.labels).toEqual(after);
    expect(r.takeDirty()).not.toBeNull();
  });

  it('a stroke that changes nothing makes no patch', () => {
    const r = makeRaster(10, 10);
    const ch = new StrokeChanges(0);
    r.paintSegment(5, 5, 5, 5, 3, ch);
    expect(buildStrokePatch(ch, 10)).toBeNull();
  });

  it('refuses a patch that does not fit', () => {
    const r = makeRaster(10, 10);
    expect(() => r.applyPatch({ x: 8, y: 0, width: 4, height: 1 }, new Uint8Array(4))).toThrow(/does not fit/);
    expect(() => r.applyPatch({ x: 0, y: 0, width: 2, height: 2 }, new Uint8Array(3))).toThrow(/holds 3/);
  });
});

describe('flood fill', () => {
  /** RGBA image: left half dark red with slight noise, right half blue, a one-pixel green wall at x = 10. */
  function image(w: number, h: number): Uint8ClampedArray {
    const px = new Uint8ClampedArray(w * h * 4);
    const rand = rng(1);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 4;
        const noise = Math.floor(rand() * 10);
        const c = x === 10 ? [0, 200, 0] : x < 10 ? [150 + noise, 20, 20] : [20, 20, 200 + (noise >> 1)];
        px.set([...c, 255], i);
      }
    return px;
  }

  it('fills the 4-connected region of similar colour within the tolerance, and stops at edges', () => {
    const W = 24;
    const H = 12;
    const px = image(W, H);
    const left = floodRegion(px, W, H, 3, 4, 12)!;
    expect(left.count).toBe(10 * H);
    expect(left.rect).toEqual({ x: 0, y: 0, width: 10, height: H });
    // Tolerance 0: only pixels of exactly the seed colour (a scattering, not the whole half).
    const exact = floodRegion(px, W, H, 3, 4, 0)!;
    expect(exact.count).toBeLessThan(left.count);
    expect(exact.mask[4 * W + 3]).toBe(1);
    // A huge tolerance crosses the wall.
    expect(floodRegion(px, W, H, 3, 4, 255)!.count).toBe(W * H);
    expect(floodRegion(px, W, H, -1, 4, 10)).toBeNull();
  });

  it('fills a region with holes and concave shapes (scanline seeds above and below)', () => {
    const W = 30;
    const H = 20;
    const px = new Uint8ClampedArray(W * H * 4);
    // White background with a black U shape; filling inside the U must not leak out the bottom.
    for (let i = 0; i < W * H; i++) px.set([255, 255, 255, 255], i * 4);
    const black = (x: number, y: number) => px.set([0, 0, 0, 255], (y * W + x) * 4);
    for (let y = 2; y < 18; y++) {
      black(5, y);
      black(24, y);
    }
    for (let x = 5; x <= 24; x++) black(x, 17);
    const inside = floodRegion(px, W, H, 10, 10, 30)!;
    const outside = floodRegion(px, W, H, 1, 1, 30)!;
    // The U is open at the top, so inside and outside are one region.
    expect(inside.count).toBe(outside.count);
    expect(inside.count).toBe(W * H - (16 * 2 + 18));
    const r = makeRaster(W, H);
    const ch = new StrokeChanges(2);
    expect(r.paintMask(inside.mask, inside.rect, ch)).toBe(inside.count);
    expect(r.labelled).toBe(inside.count);
    expect(r.valueAt(5, 10)).toBe(0);
  });
});
