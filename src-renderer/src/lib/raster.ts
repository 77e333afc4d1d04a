/**
 * The label raster of the open image and the integer rasterisation that paints into it.
 *
 * One raster per image: a Uint8 label value per pixel (0 = unlabelled, else a class's label value)
 * and, in step with it, the RGBA pixels that show it (the class colour, or transparent), which the
 * canvas copies to its offscreen canvas. Brush dabs and stroke segments are rasterised here, hard
 * edged: a pixel is inside when its centre lies within the brush radius of the stroke's path, so
 * every pixel holds exactly one class or none, and consecutive pointer samples are joined by the
 * capsule between them, so fast motion leaves no gaps. Every changed pixel is recorded once per
 * stroke with its old value, which is what undo and the autosave patch are built from.
 *
 * Pure TypeScript (typed arrays only): unit-testable in Node.
 */
import { PATCH_KEEP, UNLABELLED, type Rect } from '../../../src-shared/labels';

// Boundary pixels (centre exactly at the radius) count as inside, whatever the rounding.
const EPS = 1e-9;

/** Integer bounds of touched pixels, inclusive; empty while minX > maxX. */
export class Bounds {
  minX = Infinity;
  minY = Infinity;
  maxX = -Infinity;
  maxY = -Infinity;

  get empty(): boolean {
    return this.minX > this.maxX;
  }

  addSpan(y: number, x0: number, x1: number): void {
    if (x0 < this.minX) this.minX = x0;
    if (x1 > this.maxX) this.maxX = x1;
    if (y < this.minY) this.minY = y;
    if (y > this.maxY) this.maxY = y;
  }

  addRect(r: Rect): void {
    if (r.width <= 0 || r.height <= 0) return;
    this.addSpan(r.y, r.x, r.x + r.width - 1);
    this.addSpan(r.y + r.height - 1, r.x, r.x + r.width - 1);
  }

  rect(): Rect | null {
    if (this.empty) return null;
    return { x: this.minX, y: this.minY, width: this.maxX - this.minX + 1, height: this.maxY - this.minY + 1 };
  }

  reset(): void {
    this.minX = this.minY = Infinity;
    this.maxX = this.maxY = -Infinity;
  }
}

/**
 * Where a dab of an integer brush size is centred for a pointer at `p` (image pixels): odd sizes on
 * a pixel centre, even sizes on a pixel corner, so a dab is exactly `size` pixels across along each
 * axis and symmetric.
 */
export function brushCentre(p: number, size: number): number {
  return size % 2 === 1 ? Math.floor(p) + 0.5 : Math.round(p);
}

/**
 * Calls `span(y, x0, x1)` (inclusive, clipped to the raster) for every row of pixels whose centres
 * lie within `r` of the segment A–B. The capsule is convex, so each row is one interval: the hull of
 * its intersections with the two end discs and the rectangle between them. A = B gives a disc.
 */
export function forEachCapsuleSpan(
  ax: number,
  ay: number,
  bx: number,
  by: number,
  r: number,
  width: number,
  height: number,
  span: (y: number, x0: number, x1: number) => void,
): void {
  const y0 = Math.max(0, Math.ceil(Math.min(ay, by) - r - 0.5 - EPS));
  const y1 = Math.min(height - 1, Math.floor(Math.max(ay, by) + r - 0.5 + EPS));
  const dx = bx - ax;
  const dy = by - ay;
  const len = Math.hypot(dx, dy);
  const ux = len > 0 ? dx / len : 0;
  const uy = len > 0 ? dy / len : 0;
  const r2 = r * r + EPS;
  for (let y = y0; y <= y1; y++) {
    const yc = y + 0.5;
    let lo = Infinity;
    let hi = -Infinity;
    let d = yc - ay;
    if (d * d <= r2) {
      const h = Math.sqrt(r2 - d * d);
      lo = ax - h;
      hi = ax + h;
    }
    d = yc - by;
    if (d * d <= r2) {
      const h = Math.sqrt(r2 - d * d);
      if (bx - h < lo) lo = bx - h;
      if (bx + h > hi) hi = bx + h;
    }
    if (len > 0) {
      // Along the segment t = (x-ax)·ux + (yc-ay)·uy ∈ [0, len]; across it s = (yc-ay)·ux − (x-ax)·uy ∈ [−r, r].
      let slo = -Infinity;
      let shi = Infinity;
      const t0 = (yc - ay) * uy;
      if (Math.abs(ux) > 1e-12) {
        const a = ax + (0 - t0) / ux;
        const b = ax + (len - t0) / ux;
        slo = Math.max(slo, Math.min(a, b));
        shi = Math.min(shi, Math.max(a, b));
      } else if (t0 < -EPS || t0 > len + EPS) shi = -Infinity;
      const s0 = (yc - ay) * ux;
      if (Math.abs(uy) > 1e-12) {
        const a = ax + (s0 - r) / uy;
        const b = ax + (s0 + r) / uy;
        slo = Math.max(slo, Math.min(a, b));
        shi = Math.min(shi, Math.max(a, b));
      } else if (Math.abs(s0) > r + EPS) shi = -Infinity;
      if (slo <= shi) {
        if (slo < lo) lo = slo;
        if (shi > hi) hi = shi;
      }
    }
    if (lo > hi) continue;
    const x0 = Math.max(0, Math.ceil(lo - 0.5 - EPS));
    const x1 = Math.min(width - 1, Math.floor(hi - 0.5 + EPS));
    if (x0 <= x1) span(y, x0, x1);
  }
}

/**
 * The pixels one stroke changed, each once, with its value before the stroke. A stroke writes one
 * value (the class, or 0 for the eraser), so a pixel it already changed never changes again.
 */
export class StrokeChanges {
  private indices = new Int32Array(4096);
  private olds = new Uint8Array(4096);
  length = 0;
  readonly bounds = new Bounds();

  constructor(
    /** The value every changed pixel now holds. */
    readonly value: number,
    /** "Preserve labels": the stroke writes only pixels that had no label (it never repaints one that has). */
    readonly onlyUnlabelled = false,
  ) {}

  add(index: number, old: number): void {
    if (this.length === this.indices.length) {
      const indices = new Int32Array(this.indices.length * 2);
      indices.set(this.indices);
      this.indices = indices;
      const olds = new Uint8Array(this.olds.length * 2);
      olds.set(this.olds);
      this.olds = olds;
    }
    this.indices[this.length] = index;
    this.olds[this.length] = old;
    this.length++;
  }

  index(k: number): number {
    return this.indices[k]!;
  }

  old(k: number): number {
    return this.olds[k]!;
  }
}

/** A stroke as two patches over its bounding box: `after` redoes it, `before` undoes it; 255 elsewhere. */
export interface StrokePatch {
  rect: Rect;
  before: Uint8Array;
  after: Uint8Array;
  changed: number;
}

export function buildStrokePatch(changes: StrokeChanges, rasterWidth: number): StrokePatch | null {
  const rect = changes.bounds.rect();
  if (!rect || changes.length === 0) return null;
  const before = new Uint8Array(rect.width * rect.height).fill(PATCH_KEEP);
  const after = new Uint8Array(rect.width * rect.height).fill(PATCH_KEEP);
  for (let k = 0; k < changes.length; k++) {
    const i = changes.index(k);
    const x = i % rasterWidth;
    const y = (i - x) / rasterWidth;
    const p = (y - rect.y) * rect.width + (x - rect.x);
    before[p] = changes.old(k);
    after[p] = changes.value;
  }
  return { rect, before, after, changed: changes.length };
}

/** Packs #rrggbb as an RGBA pixel (opaque) in the platform's byte order for a Uint32Array view. */
export function packColor(hex: string): number {
  const n = parseInt(hex.slice(1, 7), 16);
  const r = (n >> 16) & 255;
  const g = (n >> 8) & 255;
  const b = n & 255;
  return LITTLE_ENDIAN ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Label values that belong to no class (yet) still show, in grey. */
const UNKNOWN_CLASS = packColor('#9a9a9a');

export class LabelRaster {
  readonly labels: Uint8Array;
  /** The RGBA pixels showing the labels, one 32-bit word per pixel (a view on the caller's buffer). */
  readonly pixels: Uint32Array;
  /** Pixels changed since the last takeDirty(): what the canvas must copy. */
  readonly dirty = new Bounds();
  /** Number of labelled (non-zero) pixels, kept up to date by every write. */
  labelled: number;
  private readonly lut = new Uint32Array(256).fill(UNKNOWN_CLASS);

  constructor(
    readonly width: number,
    readonly height: number,
    /** RGBA pixels, all zero (transparent): the raster paints its labels into them. */
    rgba: Uint8ClampedArray,
    labels?: Uint8Array,
  ) {
    const n = width * height;
    if (rgba.length !== n * 4) throw new Error(`label pixels hold ${rgba.length / 4} pixels, expected ${width}×${height}`);
    if (labels && labels.length !== n) throw new Error(`label raster holds ${labels.length} pixels, expected ${width}×${height}`);
    this.labels = labels ?? new Uint8Array(n);
    this.pixels = new Uint32Array(rgba.buffer, rgba.byteOffset, n);
    this.lut[UNLABELLED] = 0;
    this.labelled = this.countLabelled();
  }

  /**
   * Sets the colour of each label value and repaints every labelled pixel. Unlabelled pixels are
   * transparent (0) from the start and stay so, which lets this skip them four at a time.
   */
  setColors(colors: Iterable<{ labelValue: number; color: string }>): void {
    this.lut.fill(UNKNOWN_CLASS);
    this.lut[UNLABELLED] = 0;
    for (const c of colors) this.lut[c.labelValue] = packColor(c.color);
    const { labels, pixels, lut } = this;
    forEachLabelledRun(labels, (i) => (pixels[i] = lut[labels[i]!]!));
    this.dirty.addRect({ x: 0, y: 0, width: this.width, height: this.height });
  }

  /** Squares of `tile` pixels holding at least one label: all the canvas needs on first show. */
  labelledTiles(tile: number): Rect[] {
    const { width, height } = this;
    const tilesX = Math.ceil(width / tile);
    const seen = new Uint8Array(tilesX * Math.ceil(height / tile));
    forEachLabelledRun(this.labels, (i) => {
      const x = i % width;
      seen[Math.floor((i - x) / width / tile) * tilesX + Math.floor(x / tile)] = 1;
    });
    const out: Rect[] = [];
    seen.forEach((on, t) => {
      if (!on) return;
      const x = (t % tilesX) * tile;
      const y = Math.floor(t / tilesX) * tile;
      out.push({ x, y, width: Math.min(tile, width - x), height: Math.min(tile, height - y) });
    });
    return out;
  }

  colorOf(value: number): number {
    return this.lut[value]!;
  }

  /** Paints the capsule of brush `size` from A to B (A = B: one dab) with `changes.value`. Returns pixels changed. */
  paintSegment(ax: number, ay: number, bx: number, by: number, size: number, changes: StrokeChanges): number {
    let changed = 0;
    forEachCapsuleSpan(ax, ay, bx, by, size / 2, this.width, this.height, (y, x0, x1) => {
      changed += this.paintRun(y, x0, x1, changes, null);
    });
    return changed;
  }

  /** Writes `changes.value` into every pixel set in `mask` (a region from floodRegion) within `rect`. */
  paintMask(mask: Uint8Array, rect: Rect, changes: StrokeChanges): number {
    let changed = 0;
    for (let y = rect.y; y < rect.y + rect.height; y++) changed += this.paintRun(y, rect.x, rect.x + rect.width - 1, changes, mask);
    return changed;
  }

  /** Writes `changes.value` into row `y` from x0 to x1 (inclusive), only where `mask` is set if one is given. */
  private paintRun(y: number, x0: number, x1: number, changes: StrokeChanges, mask: Uint8Array | null): number {
    const value = changes.value;
    const keepLabelled = changes.onlyUnlabelled;
    const colour = this.lut[value]!;
    const { labels, pixels } = this;
    const row = y * this.width;
    let changed = 0;
    let gained = 0;
    let first = -1;
    let last = -1;
    for (let i = row + x0; i <= row + x1; i++) {
      if (mask && !mask[i]) continue;
      const old = labels[i]!;
      if (old === value || (keepLabelled && old !== UNLABELLED)) continue;
      changes.add(i, old);
      labels[i] = value;
      pixels[i] = colour;
      if (old === UNLABELLED) gained++;
      changed++;
      if (first < 0) first = i - row;
      last = i - row;
    }
    if (first >= 0) {
      changes.bounds.addSpan(y, first, last);
      this.dirty.addSpan(y, first, last);
    }
    this.labelled += value === UNLABELLED ? -changed : gained;
    return changed;
  }

  /** Applies a patch (255 = keep) to labels and pixels alike; returns pixels changed. */
  applyPatch(rect: Rect, patch: Uint8Array): number {
    if (patch.length !== rect.width * rect.height) throw new Error(`patch holds ${patch.length} pixels, expected ${rect.width}×${rect.height}`);
    if (rect.x < 0 || rect.y < 0 || rect.x + rect.width > this.width || rect.y + rect.height > this.height) {
      throw new Error(`patch ${rect.width}×${rect.height} at (${rect.x}, ${rect.y}) does not fit the ${this.width}×${this.height} image`);
    }
    const { labels, pixels, lut, width } = this;
    let changed = 0;
    for (let row = 0; row < rect.height; row++) {
      const src = row * rect.width;
      const dst = (rect.y + row) * width + rect.x;
      for (let col = 0; col < rect.width; col++) {
        const v = patch[src + col]!;
        const old = labels[dst + col]!;
        if (v !== PATCH_KEEP && old !== v) {
          labels[dst + col] = v;
          pixels[dst + col] = lut[v]!;
          if (old === UNLABELLED) this.labelled++;
          else if (v === UNLABELLED) this.labelled--;
          changed++;
        }
      }
    }
    if (changed) this.dirty.addRect(rect);
    return changed;
  }

  /** The value under an image position, or null outside the image. */
  valueAt(x: number, y: number): number | null {
    const px = Math.floor(x);
    const py = Math.floor(y);
    if (px < 0 || py < 0 || px >= this.width || py >= this.height) return null;
    return this.labels[py * this.width + px]!;
  }

  countLabelled(): number {
    let n = 0;
    forEachLabelledRun(this.labels, () => n++);
    return n;
  }

  /** The dirty rectangle since the last call (and forgets it). */
  takeDirty(): Rect | null {
    const r = this.dirty.rect();
    this.dirty.reset();
    return r;
  }
}

/**
 * Calls `fn(i)` for every non-zero value of `labels`. Label rasters are mostly unlabelled, so this
 * reads them a 32-bit word (four pixels) at a time and skips empty words.
 */
export function forEachLabelledRun(labels: Uint8Array, fn: (i: number) => void): void {
  const n = labels.length;
  let i = 0;
  if (labels.byteOffset % 4 === 0) {
    const words = new Uint32Array(labels.buffer, labels.byteOffset, n >> 2);
    for (let w = 0; w < words.length; w++) {
      if (words[w] === 0) continue;
      const base = w << 2;
      for (let k = base; k < base + 4; k++) if (labels[k] !== UNLABELLED) fn(k);
    }
    i = words.length << 2;
  }
  for (; i < n; i++) if (labels[i] !== UNLABELLED) fn(i);
}

/**
 * The 4-connected region of pixels around (sx, sy) whose colour differs from the seed pixel's by at
 * most `tolerance` in every RGB channel (0: exactly the seed colour). Scanline fill: one pass per
 * run, no recursion. `rgba` is the image's RGBA pixels. Returns the region as a mask over the whole
 * image, with its bounding box and size; null when the seed is outside the image.
 */
export function floodRegion(
  rgba: Uint8ClampedArray | Uint8Array,
  width: number,
  height: number,
  sx: number,
  sy: number,
  tolerance: number,
): { mask: Uint8Array; rect: Rect; count: number } | null {
  const x = Math.floor(sx);
  const y = Math.floor(sy);
  if (x < 0 || y < 0 || x >= width || y >= height) return null;
  const seed = (y * width + x) * 4;
  const r0 = rgba[seed]!;
  const g0 = rgba[seed + 1]!;
  const b0 = rgba[seed + 2]!;
  const tol = Math.max(0, tolerance);
  const similar = (i: number): boolean => {
    const p = i * 4;
    return Math.abs(rgba[p]! - r0) <= tol && Math.abs(rgba[p + 1]! - g0) <= tol && Math.abs(rgba[p + 2]! - b0) <= tol;
  };
  const mask = new Uint8Array(width * height);
  const bounds = new Bounds();
  let count = 0;
  const stack: number[] = [x, y];
  while (stack.length) {
    const cy = stack.pop()!;
    const cx = stack.pop()!;
    const row = cy * width;
    if (mask[row + cx]) continue;
    let l = cx;
    while (l > 0 && !mask[row + l - 1] && similar(row + l - 1)) l--;
    let r = cx;
    while (r < width - 1 && !mask[row + r + 1] && similar(row + r + 1)) r++;
    mask.fill(1, row + l, row + r + 1);
    count += r - l + 1;
    bounds.addSpan(cy, l, r);
    for (const ny of [cy - 1, cy + 1]) {
      if (ny < 0 || ny >= height) continue;
      const nrow = ny * width;
      let inRun = false;
      for (let i = l; i <= r; i++) {
        if (!mask[nrow + i] && similar(nrow + i)) {
          if (!inRun) {
            stack.push(i, ny);
            inRun = true;
          }
        } else inRun = false;
      }
    }
  }
  return { mask, rect: bounds.rect()!, count };
}
