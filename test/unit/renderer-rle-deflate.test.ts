import zlib from 'node:zlib';
import { unzlibSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { rng } from '../../src-shared/random';
import { rleDeflate } from '../../src-renderer/src/lib/rle-deflate';

function runs(spec: Array<[number, number]>): Uint8Array {
  const out: number[] = [];
  for (const [v, n] of spec) for (let i = 0; i < n; i++) out.push(v);
  return Uint8Array.from(out);
}

describe('rleDeflate (label patches as zlib)', () => {
  it('round-trips through Node zlib and fflate, for edge-case run lengths', () => {
    const cases = [
      new Uint8Array(0),
      new Uint8Array([7]),
      runs([[255, 2]]),
      runs([[255, 3]]),
      runs([[255, 4]]),
      ...[258, 259, 260, 261, 262, 516, 517, 1000, 65536, 100_003].map((n) => runs([[255, n]])),
      runs([
        [255, 300],
        [3, 1],
        [255, 2],
        [0, 259],
        [143, 5],
        [144, 6],
        [254, 1],
      ]),
      Uint8Array.from({ length: 5000 }, (_, i) => i & 255), // no runs at all
    ];
    for (const data of cases) {
      const z = rleDeflate(data);
      expect(Buffer.compare(zlib.inflateSync(z), Buffer.from(data)), `length ${data.length}`).toBe(0);
      expect(Buffer.compare(Buffer.from(unzlibSync(z)), Buffer.from(data)), `fflate, length ${data.length}`).toBe(0);
    }
  });

  it('round-trips random stroke-like patches and keeps them small', () => {
    const rand = rng(3);
    for (let k = 0; k < 30; k++) {
      const w = 1 + Math.floor(rand() * 240);
      const h = 1 + Math.floor(rand() * 160);
      const patch = new Uint8Array(w * h).fill(255);
      const cy = rand() * h;
      const r = 2 + rand() * 20;
      const value = Math.floor(rand() * 255);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (Math.abs(y - cy - Math.sin(x / 20) * 10) < r) patch[y * w + x] = value;
      const z = rleDeflate(patch);
      expect(Buffer.compare(zlib.inflateSync(z), Buffer.from(patch))).toBe(0);
      expect(z.length).toBeLessThan(64 + patch.length / 8);
    }
  });

  it('computes the Adler-32 checksum of long runs exactly (zlib verifies it)', () => {
    // 2^24 + 7 bytes of one value: the closed form must match byte-by-byte Adler-32.
    const data = new Uint8Array(2 ** 24 + 7).fill(201);
    data[12345] = 4;
    const z = rleDeflate(data);
    expect(z.length).toBeLessThan(120_000); // ~13 bits per 258 bytes
    expect(Buffer.compare(zlib.inflateSync(z), Buffer.from(data))).toBe(0);
  });
});
