import { describe, expect, it } from 'vitest';
import { decodeRle, encodeRle, rleFromString, rleToString } from '../../src-shared/coco-rle';
import { applyPatch, compressRaster, decompressRaster, fromBase64, histogram, toBase64 } from '../../src-shared/labels';
import { rng } from '../../src-shared/random';

describe('label raster codecs', () => {
  it('compress/decompress and base64 round-trip', () => {
    const r = rng(5);
    const raster = Uint8Array.from({ length: 1000 }, () => (r() < 0.9 ? 0 : Math.floor(r() * 5)));
    const wire = toBase64(compressRaster(raster));
    expect(decompressRaster(fromBase64(wire), 40, 25)).toEqual(raster);
    expect(() => decompressRaster(fromBase64(wire), 40, 24)).toThrow(/expected 40×24/);
    expect(() => decompressRaster(new Uint8Array([1, 2, 3]), 1, 3)).toThrow(/corrupt/);
  });

  it('histogram counts values', () => {
    const h = histogram(new Uint8Array([0, 1, 1, 7]));
    expect([h[0], h[1], h[7], h[2]]).toEqual([1, 2, 1, 0]);
  });

  it('applyPatch reports changed pixels and refuses size mismatches', () => {
    const raster = new Uint8Array(9);
    expect(applyPatch(raster, 3, 3, { x: 1, y: 1, width: 2, height: 2 }, new Uint8Array([1, 255, 0, 2]))).toBe(2);
    expect(Array.from(raster)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 2]);
    expect(() => applyPatch(raster, 3, 3, { x: 0, y: 0, width: 2, height: 2 }, new Uint8Array(3))).toThrow(/holds 3 pixels/);
  });
});

describe('COCO RLE', () => {
  it('matches pycocotools on a known mask', () => {
    // 3x2 mask, row-major [[0,1,1],[0,1,0]] -> column-major 0,0,1,1,1,0 -> runs [2,3,1]
    const m = [0, 1, 1, 0, 1, 0];
    const counts = encodeRle(3, 2, (i) => m[i] === 1);
    expect(counts).toEqual([2, 3, 1]);
    expect(rleToString(counts)).toBe('231');
    expect(Array.from(decodeRle(3, 2, counts))).toEqual(m);
  });

  it('string form round-trips on random masks, including long and shrinking runs', () => {
    const r = rng(9);
    for (let t = 0; t < 20; t++) {
      const w = 1 + Math.floor(r() * 60);
      const h = 1 + Math.floor(r() * 60);
      const p = r();
      const mask = Uint8Array.from({ length: w * h }, () => (r() < p ? 1 : 0));
      const counts = encodeRle(w, h, (i) => mask[i] === 1);
      expect(rleFromString(rleToString(counts))).toEqual(counts);
      expect(decodeRle(w, h, counts)).toEqual(mask);
    }
  });

  it('pycocotools string for known run lists (delta against the run two back from the 4th on)', () => {
    expect(rleToString([10, 20, 4, 30])).toBe(':d04:'); // 20 has the sign bit (0x10) set, so it takes a second group
    // 5 - 20 = -15: one 5-bit group 0b10001 (sign bit set, no continuation) -> 'A'
    expect(rleToString([10, 20, 4, 5])).toBe(':d04A');
    // 100 needs two groups: 100 & 31 = 4 | 32 continuation -> 'T', then 3 -> '3'
    expect(rleToString([100])).toBe('T3');
    expect(rleFromString('T3')).toEqual([100]);
  });
});
