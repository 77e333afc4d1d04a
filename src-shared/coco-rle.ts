/**
 * COCO run-length encoding of binary masks (column-major, runs alternate 0s then 1s, first run of 0s),
 * and the compact string form pycocotools writes (`counts` as a string). Pure TypeScript.
 */

/** Runs of a binary mask given row-major as `isOn(index)`, in COCO's column-major order. */
export function encodeRle(width: number, height: number, isOn: (rowMajorIndex: number) => boolean): number[] {
  const counts: number[] = [];
  let current = false;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const on = isOn(y * width + x);
      if (on !== current) {
        counts.push(run);
        run = 0;
        current = on;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

/** Row-major 0/1 mask from COCO runs. */
export function decodeRle(width: number, height: number, counts: number[]): Uint8Array {
  const total = width * height;
  const mask = new Uint8Array(total);
  let pos = 0;
  let on = 0;
  for (const c of counts) {
    if (c < 0 || pos + c > total) throw new Error(`RLE runs overflow a ${width}×${height} mask`);
    if (on) {
      for (let k = pos; k < pos + c; k++) {
        const x = Math.floor(k / height);
        const y = k % height;
        mask[y * width + x] = 1;
      }
    }
    pos += c;
    on ^= 1;
  }
  if (pos !== total) throw new Error(`RLE runs cover ${pos} pixels, expected ${total}`);
  return mask;
}

/** pycocotools' rleToString: runs delta-coded against the run two back, 5-bit groups offset by 48. */
export function rleToString(counts: number[]): string {
  let s = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i]!;
    if (i > 2) x -= counts[i - 2]!;
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

/** pycocotools' rleFrString. */
export function rleFromString(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new Error('truncated RLE string');
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2]!;
    counts.push(x);
  }
  return counts;
}
