/**
 * Guided-filter refinement (refine.ts): box means against a brute-force reference, the filter's
 * defining properties (a flat guide gives the box-smoothed map; an edge in the guide keeps an edge
 * in the output), the logits wrapper, and the spec parser.
 */
import { describe, expect, it } from 'vitest';
import { boxMean, colourModels, COLOUR_BINS, guidedFilter, NO_REFINE, parseRefine, refineKey, refineLogits } from '../../../src-main/engine/refine';
import { rng } from '../../../src-shared/random';

function bruteBox(src: Float32Array, h: number, w: number, r: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0, n = 0;
      for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++)
        for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) {
          s += src[yy * w + xx]!;
          n++;
        }
      out[y * w + x] = s / n;
    }
  return out;
}

describe('refine: guided filter', () => {
  it('box means equal a brute-force window mean, borders clipped, every radius', () => {
    const r = rng(3);
    const [h, w] = [7, 11];
    const src = Float32Array.from({ length: 2 * h * w }, () => r());
    for (const rad of [0, 1, 2, 5, 20]) {
      const got = boxMean(src, 2, h, w, rad);
      for (let p = 0; p < 2; p++) {
        const ref = bruteBox(src.subarray(p * h * w, (p + 1) * h * w), h, w, rad);
        ref.forEach((v, i) => expect(got[p * h * w + i]).toBeCloseTo(v, 5));
      }
    }
  });

  it('with a flat guide it is the box mean of the box mean (no colour to follow)', () => {
    const r = rng(4);
    const [h, w] = [9, 8];
    const p = Float32Array.from({ length: h * w }, () => r());
    const guide = new Float32Array(3 * h * w).fill(0.5);
    const q = guidedFilter(p, 1, guide, h, w, 2, 0.01);
    const ref = boxMean(boxMean(p, 1, h, w, 2), 1, h, w, 2);
    ref.forEach((v, i) => expect(q[i]).toBeCloseTo(v, 4));
  });

  it('sharpens a blurry class boundary onto the image edge', () => {
    const [h, w] = [6, 20];
    const guide = new Float32Array(3 * h * w);
    const p = new Float32Array(2 * h * w);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        for (let c = 0; c < 3; c++) guide[c * h * w + i] = x < 10 ? 0.1 : 0.9; // an edge between columns 9 and 10
        const ramp = Math.min(1, Math.max(0, (x - 5) / 10)); // class 1 fades in over columns 5..15
        p[i] = 1 - ramp;
        p[h * w + i] = ramp;
      }
    const q = guidedFilter(p, 2, guide, h, w, 4, 1e-4);
    const at = (c: number, x: number) => q[c * h * w + 2 * w + x]!;
    // before: class 0 leads column 8 by 0.4, class 1 column 11 by 0.2; after, by clearly more on each side of the edge
    expect(at(0, 8) - at(1, 8)).toBeGreaterThan(0.4 + 0.05);
    expect(at(1, 11) - at(0, 11)).toBeGreaterThan(0.2 + 0.15);
    // and it moved the boundary to the edge: column 9 is class 0, column 10 class 1
    expect(at(0, 9)).toBeGreaterThan(at(1, 9));
    expect(at(1, 10)).toBeGreaterThan(at(0, 10));
  });

  it('refineLogits: off at radius 0 or one class; otherwise logits of the filtered probabilities', () => {
    const img = { rgb: new Uint8Array(4 * 4 * 3).fill(100), width: 4, height: 4 };
    const logits = Float32Array.from({ length: 2 * 16 }, (_, i) => (i % 3) - 1);
    expect(refineLogits(logits, 2, 4, 4, img, NO_REFINE)).toBe(logits);
    expect(refineLogits(logits.subarray(0, 16), 1, 4, 4, img, { radius: 2, eps: 0.01 })).toEqual(logits.subarray(0, 16));
    const out = refineLogits(logits, 2, 4, 4, img, { radius: 1, eps: 0.01 });
    expect(out).toHaveLength(32);
    for (let i = 0; i < 16; i++) expect(Math.exp(out[i]!) + Math.exp(out[16 + i]!)).toBeCloseTo(1, 3); // still a distribution
  });

  it('parses RADIUS/EPS and none, refuses the rest', () => {
    expect(parseRefine('4/0.01')).toEqual({ radius: 4, eps: 0.01 });
    expect(parseRefine('none')).toEqual(NO_REFINE);
    expect(refineKey(parseRefine('8/1e-3'))).toBe('8/0.001');
    expect(() => parseRefine('4')).toThrow(/RADIUS\/EPS/);
    expect(() => parseRefine('100/0.1')).toThrow(/radius/);
    expect(parseRefine('16/0.01/c1.5')).toEqual({ radius: 16, eps: 0.01, colour: 1.5 });
    expect(parseRefine('16/0.01/c0')).toEqual({ radius: 16, eps: 0.01 });
    expect(refineKey(parseRefine('16/0.01/c2'))).toBe('16/0.01/c2');
    expect(() => parseRefine('16/0.01/c20')).toThrow(/colour weight/);
    expect(() => parseRefine('16/0.01/x1')).toThrow(/RADIUS\/EPS/);
  });
});

describe('refine: the image\'s class colour models', () => {
  // 20 × 20: background colour A, an object of colour B in the middle 8 × 8; the "prediction" spilled
  // the object's class onto a 2-pixel ring of background around it
  const h = 20, w = 20, n = h * w;
  const inObj = (x: number, y: number) => x >= 6 && x < 14 && y >= 6 && y < 14;
  const inRing = (x: number, y: number) => !inObj(x, y) && x >= 4 && x < 16 && y >= 4 && y < 16;
  const guide = new Float32Array(3 * n);
  const q = new Float32Array(2 * n);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const [r, g, b] = inObj(x, y) ? [0.55, 0.25, 0.75] : [0.9, 0.8, 0.5];
      guide[i] = r;
      guide[n + i] = g;
      guide[2 * n + i] = b;
      const pObj = inObj(x, y) ? 0.9 : inRing(x, y) ? 0.7 : 0.05;
      q[n + i] = pObj;
      q[i] = 1 - pObj;
    }
  }
  const argmax = (p: Float32Array, i: number) => (p[n + i]! > p[i]! ? 1 : 0);

  it('pulls a ring the object class spilled onto back to the background, keeps the object, and sums to one', () => {
    const out = Float32Array.from(q);
    colourModels(out, 2, guide, n, 2);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        expect(argmax(q, i)).toBe(inObj(x, y) || inRing(x, y) ? 1 : 0);
        expect(argmax(out, i)).toBe(inObj(x, y) ? 1 : 0);
        expect(out[i]! + out[n + i]!).toBeCloseTo(1, 5);
      }
    }
  });

  it('by hand: q_c · P(bin | c)^w renormalised, P from the q-weighted histogram with add-one smoothing', () => {
    const out = Float32Array.from(q);
    const wgt = 0.7;
    colourModels(out, 2, guide, n, wgt);
    const nb = COLOUR_BINS ** 3;
    const binOf = (i: number) => [0, 1, 2].reduce((a, c) => a * COLOUR_BINS + Math.min(COLOUR_BINS - 1, Math.floor(guide[c * n + i]! * COLOUR_BINS)), 0);
    const model = (c: number, b: number) => {
      let hb = 0, mass = 0;
      for (let i = 0; i < n; i++) {
        mass += q[c * n + i]!;
        if (binOf(i) === b) hb += q[c * n + i]!;
      }
      return (hb + 1 / nb) / (mass + 1);
    };
    for (const i of [0, 3 * w + 3, 10 * w + 10]) {
      const s = [0, 1].map((c) => q[c * n + i]! * model(c, binOf(i)) ** wgt);
      expect(out[i]).toBeCloseTo(s[0]! / (s[0]! + s[1]!), 5);
      expect(out[n + i]).toBeCloseTo(s[1]! / (s[0]! + s[1]!), 5);
    }
  });

  it('refineLogits applies it only when asked (colour weight > 0)', () => {
    const logits = Float32Array.from(q, (v) => Math.log(v));
    const img = { rgb: new Uint8Array(3 * n), width: w, height: h };
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) img.rgb[i * 3 + c] = Math.round(guide[c * n + i]! * 255);
    const plain = refineLogits(logits, 2, h, w, img, { radius: 1, eps: 0.01 });
    const withColour = refineLogits(logits, 2, h, w, img, { radius: 1, eps: 0.01, colour: 2 });
    expect(refineLogits(logits, 2, h, w, img, { radius: 1, eps: 0.01, colour: 0 })).toEqual(plain);
    const ring = 8 * w + 5;
    expect(plain[n + ring]! > plain[ring]!).toBe(true);
    expect(withColour[n + ring]! < withColour[ring]!).toBe(true);
  });
});
