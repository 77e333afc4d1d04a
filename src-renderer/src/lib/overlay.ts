/**
 * Pure helpers of the training loop's views: predicted masks and confidence maps as RGBA pixels,
 * the "accept prediction" patch, tag agreement flags, and the loss chart's geometry.
 * Typed arrays only (no DOM, no Svelte): unit-testable in Node.
 */
import { PATCH_KEEP, UNLABELLED, type Rect } from '../../../src-shared/labels';

/** An image-sized canvas drawn over the labels of the label canvas. */
export interface OverlayLayer {
  /** What it shows ('mask', 'heatmap'); exposed on the canvas element for tests. */
  key: string;
  canvas: HTMLCanvasElement;
  opacity: number;
}

function rgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1, 7), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** RGBA of a predicted mask (label values): each class in its colour, unlabelled (0) transparent. */
export function maskRgba(mask: Uint8Array, classes: Iterable<{ labelValue: number; color: string }>): Uint8ClampedArray<ArrayBuffer> {
  const lut = new Uint8Array(256 * 4);
  // Values that belong to no class (a class deleted since the run) show grey.
  for (let v = 1; v < 256; v++) lut.set([154, 154, 154, 255], v * 4);
  for (const c of classes) lut.set([...rgb(c.color), 255], c.labelValue * 4);
  lut.set([0, 0, 0, 0], UNLABELLED * 4);
  const out = new Uint8ClampedArray(mask.length * 4);
  for (let i = 0; i < mask.length; i++) {
    const o = mask[i]! * 4;
    out[i * 4] = lut[o]!;
    out[i * 4 + 1] = lut[o + 1]!;
    out[i * 4 + 2] = lut[o + 2]!;
    out[i * 4 + 3] = lut[o + 3]!;
  }
  return out;
}

/** Colour stops of the confidence map (inferno-like): low confidence dark purple, high pale yellow. */
export const HEAT_STOPS: Array<[number, string]> = [
  [0, '#000004'],
  [0.25, '#57106e'],
  [0.5, '#bc3754'],
  [0.75, '#f98e09'],
  [1, '#fcffa4'],
];

/** 256 RGB entries interpolated between HEAT_STOPS. */
export function heatLut(): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  const stops = HEAT_STOPS.map(([t, c]) => [t, ...rgb(c)] as [number, number, number, number]);
  for (let v = 0; v < 256; v++) {
    const t = v / 255;
    let k = 0;
    while (k < stops.length - 2 && t > stops[k + 1]![0]) k++;
    const [t0, r0, g0, b0] = stops[k]!;
    const [t1, r1, g1, b1] = stops[k + 1]!;
    const f = Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
    lut[v * 3] = Math.round(r0 + (r1 - r0) * f);
    lut[v * 3 + 1] = Math.round(g0 + (g1 - g0) * f);
    lut[v * 3 + 2] = Math.round(b0 + (b1 - b0) * f);
  }
  return lut;
}

/** RGBA of a confidence raster (0..255 = probability of the predicted class), opaque. */
export function heatRgba(confidence: Uint8Array): Uint8ClampedArray<ArrayBuffer> {
  const lut = heatLut();
  const out = new Uint8ClampedArray(confidence.length * 4);
  for (let i = 0; i < confidence.length; i++) {
    const o = confidence[i]! * 3;
    out[i * 4] = lut[o]!;
    out[i * 4 + 1] = lut[o + 1]!;
    out[i * 4 + 2] = lut[o + 2]!;
    out[i * 4 + 3] = 255;
  }
  return out;
}

export interface AcceptPatch {
  rect: Rect;
  /** Writes the predicted value into every unlabelled pixel (PATCH_KEEP elsewhere). */
  after: Uint8Array;
  /** Undoes it: those pixels back to unlabelled (PATCH_KEEP elsewhere). */
  before: Uint8Array;
  /** Pixels it labels. */
  count: number;
}

/**
 * The patch that turns a predicted mask into labels for the pixels that have none yet: pixels
 * already labelled are kept (PATCH_KEEP), so nothing a person painted is ever overwritten. Covers
 * the bounding box of the pixels it labels; null when there are none.
 */
export function buildAcceptPatch(current: Uint8Array, predicted: Uint8Array, width: number, height: number): AcceptPatch | null {
  if (current.length !== width * height || predicted.length !== width * height) {
    throw new Error(`rasters hold ${current.length} and ${predicted.length} pixels, expected ${width}×${height}`);
  }
  let minX = width;
  let minY = height;
  let maxX = -1;
  let maxY = -1;
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const v = predicted[i]!;
      if (current[i] !== UNLABELLED || v === UNLABELLED || v === PATCH_KEEP) continue;
      count++;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
  }
  if (!count) return null;
  const rect = { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
  const after = new Uint8Array(rect.width * rect.height).fill(PATCH_KEEP);
  const before = new Uint8Array(rect.width * rect.height).fill(PATCH_KEEP);
  for (let y = 0; y < rect.height; y++) {
    for (let x = 0; x < rect.width; x++) {
      const i = (rect.y + y) * width + rect.x + x;
      const v = predicted[i]!;
      if (current[i] !== UNLABELLED || v === UNLABELLED || v === PATCH_KEEP) continue;
      after[y * rect.width + x] = v;
      before[y * rect.width + x] = UNLABELLED;
    }
  }
  return { rect, after, before, count };
}

export type TagFlag = 'untagged-but-predicted' | 'tagged-but-unlikely' | null;

/** Where the tag head and the person disagree: p ≥ 0.5 but not tagged, or tagged but p < 0.5. */
export function tagFlag(p: number | undefined, tagged: boolean): TagFlag {
  if (p === undefined || !Number.isFinite(p)) return null;
  if (p >= 0.5 && !tagged) return 'untagged-but-predicted';
  if (p < 0.5 && tagged) return 'tagged-but-unlikely';
  return null;
}

export interface LossPoint {
  step: number;
  tag: number;
  heat: number;
}

export interface LossChart {
  tag: string;
  heat: string;
  /** y of the uniform-guess heatmap loss, or null when unknown or off the chart. */
  uniformY: number | null;
  yMax: number;
  xMax: number;
}

/**
 * SVG polyline points of the tag and heatmap losses in a width × height box (y = 0 at the bottom),
 * at most `maxPoints` per curve (evenly thinned). The y range runs from 0 to a little above the
 * largest loss or the uniform-guess level, whichever is higher.
 */
export function lossChart(losses: LossPoint[], uniform: number | null, width: number, height: number, maxPoints = 600): LossChart {
  const every = Math.max(1, Math.ceil(losses.length / maxPoints));
  const pts = losses.filter((_, i) => i % every === 0 || i === losses.length - 1);
  const finite = (v: number) => (Number.isFinite(v) ? v : 0);
  let top = uniform !== null && Number.isFinite(uniform) ? uniform : 0;
  for (const p of pts) top = Math.max(top, finite(p.tag), finite(p.heat));
  const yMax = top > 0 ? top * 1.08 : 1;
  const xMax = Math.max(1, pts.length ? pts[pts.length - 1]!.step : 1);
  const xOf = (s: number) => ((s / xMax) * width).toFixed(1);
  const yOf = (v: number) => (height - (finite(v) / yMax) * height).toFixed(1);
  return {
    tag: pts.map((p) => `${xOf(p.step)},${yOf(p.tag)}`).join(' '),
    heat: pts.map((p) => `${xOf(p.step)},${yOf(p.heat)}`).join(' '),
    uniformY: uniform !== null && Number.isFinite(uniform) ? height - (uniform / yMax) * height : null,
    yMax,
    xMax,
  };
}

/** "1 h 02 min", "3 min 05 s", "12 s". */
export function duration(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return '–';
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
