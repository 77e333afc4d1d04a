/**
 * A zlib encoder for label patches: run-length coding expressed as DEFLATE (RFC 1950/1951).
 *
 * A stroke's patch is its bounding box, mostly "keep" (255) with runs of one class value, so it is
 * almost all long runs of equal bytes. Each run becomes one literal followed by back-references at
 * distance 1 (up to 258 bytes each), in one block with the fixed Huffman code; the Adler-32 of a
 * run is computed in closed form. That is a single pass over the bytes with no search, several
 * times faster than a general-purpose deflate on such data, and any zlib reader (Node's zlib, the
 * pure-JS codec, the browser's DecompressionStream) reads the result. Pure TypeScript.
 */

const ADLER_MOD = 65521;

/** Reverses the low `bits` bits of `code` (Huffman codes go into the stream most significant bit first). */
function reverse(code: number, bits: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) {
    r = (r << 1) | (code & 1);
    code >>= 1;
  }
  return r;
}

// Fixed literal/length code (RFC 1951, 3.2.6), pre-reversed: symbol → [bits, length].
const LIT_CODE = new Uint16Array(288);
const LIT_LEN = new Uint8Array(288);
for (let s = 0; s < 288; s++) {
  let code: number;
  let len: number;
  if (s < 144) [code, len] = [0x30 + s, 8];
  else if (s < 256) [code, len] = [0x190 + s - 144, 9];
  else if (s < 280) [code, len] = [s - 256, 7];
  else [code, len] = [0xc0 + s - 280, 8];
  LIT_CODE[s] = reverse(code, len);
  LIT_LEN[s] = len;
}

// Length 3..258 → its symbol, extra bits and extra value.
const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const LEN_SYMBOL = new Uint16Array(259);
const LEN_EXTRA_BITS = new Uint8Array(259);
const LEN_EXTRA_VALUE = new Uint8Array(259);
for (let k = 0; k < LEN_BASE.length; k++) {
  const top = k + 1 < LEN_BASE.length ? Math.min(LEN_BASE[k + 1]!, 259) : 259;
  for (let l = LEN_BASE[k]!; l < top && l <= 258; l++) {
    // 258 has its own symbol (285), not 284 with extra value 31.
    if (l === 258 && k !== LEN_BASE.length - 1) continue;
    LEN_SYMBOL[l] = 257 + k;
    LEN_EXTRA_BITS[l] = LEN_EXTRA[k]!;
    LEN_EXTRA_VALUE[l] = l - LEN_BASE[k]!;
  }
}
/** Distance 1 is distance code 0: five zero bits. */
const DIST1_BITS = 5;

class BitWriter {
  private buf = 0;
  private count = 0;
  pos = 0;
  constructor(public out: Uint8Array) {}

  write(value: number, bits: number): void {
    this.buf |= value << this.count;
    this.count += bits;
    while (this.count >= 8) {
      if (this.pos === this.out.length) this.grow();
      this.out[this.pos++] = this.buf & 255;
      this.buf >>>= 8;
      this.count -= 8;
    }
  }

  flush(): void {
    if (this.count > 0) {
      if (this.pos === this.out.length) this.grow();
      this.out[this.pos++] = this.buf & 255;
    }
    this.buf = 0;
    this.count = 0;
  }

  private grow(): void {
    const next = new Uint8Array(this.out.length * 2 + 64);
    next.set(this.out);
    this.out = next;
  }
}

/** L·(L+1)/2 mod 65521 without leaving exact double arithmetic, for any L < 2^40. */
function triangleMod(l: number): number {
  const a = l % 2 === 0 ? (l / 2) % ADLER_MOD : l % ADLER_MOD;
  const b = l % 2 === 0 ? (l + 1) % ADLER_MOD : ((l + 1) / 2) % ADLER_MOD;
  return (a * b) % ADLER_MOD;
}

/** zlib stream of `data` (any bytes; compact when they come in runs). */
export function rleDeflate(data: Uint8Array): Uint8Array {
  const w = new BitWriter(new Uint8Array(Math.max(64, (data.length >> 6) + 64)));
  // zlib header: deflate, 32 KiB window, "fastest" level; (0x78 << 8 | 0x01) % 31 === 0.
  w.write(0x78, 8);
  w.write(0x01, 8);
  // One final block with the fixed Huffman code.
  w.write(1, 1);
  w.write(1, 2);
  let a = 1;
  let b = 0;
  const n = data.length;
  let i = 0;
  while (i < n) {
    const v = data[i]!;
    let j = i + 1;
    while (j < n && data[j] === v) j++;
    const run = j - i;
    // Adler-32 over `run` copies of v: a += run·v, b += run·a_before + v·run(run+1)/2.
    const rm = run % ADLER_MOD;
    b = (b + rm * a + v * triangleMod(run)) % ADLER_MOD;
    a = (a + rm * v) % ADLER_MOD;
    w.write(LIT_CODE[v]!, LIT_LEN[v]!);
    let left = run - 1;
    while (left >= 3) {
      let m = left > 258 ? 258 : left;
      // Never leave 1 or 2 bytes that could have been part of a back-reference.
      if (left - m > 0 && left - m < 3) m = left - 3;
      const sym = LEN_SYMBOL[m]!;
      w.write(LIT_CODE[sym]!, LIT_LEN[sym]!);
      if (LEN_EXTRA_BITS[m]) w.write(LEN_EXTRA_VALUE[m]!, LEN_EXTRA_BITS[m]!);
      w.write(0, DIST1_BITS);
      left -= m;
    }
    for (; left > 0; left--) w.write(LIT_CODE[v]!, LIT_LEN[v]!);
    i = j;
  }
  w.write(LIT_CODE[256]!, LIT_LEN[256]!);
  w.flush();
  const adler = ((b << 16) | a) >>> 0;
  w.write((adler >>> 24) & 255, 8);
  w.write((adler >>> 16) & 255, 8);
  w.write((adler >>> 8) & 255, 8);
  w.write(adler & 255, 8);
  return w.out.subarray(0, w.pos);
}
