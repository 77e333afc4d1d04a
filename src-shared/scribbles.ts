/**
 * Simulated scribbles: what a person brushing a few strokes would label. For every connected region
 * of a dense mask (above a minimum size) a few brush strokes of a realistic width are drawn along
 * random walks that stay inside the region eroded by the brush radius, so no stroke crosses a
 * boundary. Deterministic for a seed. Value `ignore` marks unlabelled pixels.
 */
import { rng } from './random.js';

export interface ScribbleOptions {
  seed: number;
  /** Brush radius in pixels (default: 1.5% of the image diagonal, at least 2). */
  radius?: number;
  /** Strokes per region (default 2) and steps per stroke (default 8 steps of one radius). */
  strokesPerRegion?: number;
  stepsPerStroke?: number;
  ignore?: number;
  /** Regions smaller than this many pixels get no scribble (default 4 brush areas). */
  minRegion?: number;
}

/** Connected components (4-neighbourhood) of equal values, skipping `ignore`. */
function components(mask: Uint8Array, w: number, h: number, ignore: number): { label: Int32Array; sizes: number[]; values: number[] } {
  const label = new Int32Array(w * h).fill(-1);
  const sizes: number[] = [];
  const values: number[] = [];
  const stack: number[] = [];
  for (let start = 0; start < w * h; start++) {
    if (label[start] !== -1 || mask[start] === ignore) continue;
    const id = sizes.length;
    const v = mask[start]!;
    let size = 0;
    stack.push(start);
    label[start] = id;
    while (stack.length) {
      const p = stack.pop()!;
      size++;
      const x = p % w, y = (p - x) / w;
      const nb = [x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, y > 0 ? p - w : -1, y < h - 1 ? p + w : -1];
      for (const q of nb) {
        if (q >= 0 && label[q] === -1 && mask[q] === v) {
          label[q] = id;
          stack.push(q);
        }
      }
    }
    sizes.push(size);
    values.push(v);
  }
  return { label, sizes, values };
}

/** Squared distance (in pixels) to the nearest pixel outside the same component, capped at r+1. */
function insideDepth(label: Int32Array, w: number, h: number, r: number): Uint8Array {
  // Erosion by a square of radius r via two separable passes of "run length to a different label".
  const ok = new Uint8Array(w * h);
  const horiz = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      let good = label[p]! >= 0 && x - r >= 0 && x + r < w;
      for (let d = -r; good && d <= r; d++) if (label[p + d] !== label[p]) good = false;
      horiz[p] = good ? 1 : 0;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      let good = horiz[p] === 1 && y - r >= 0 && y + r < h;
      for (let d = -r; good && d <= r; d++) if (!horiz[p + d * w] || label[p + d * w] !== label[p]) good = false;
      ok[p] = good ? 1 : 0;
    }
  }
  return ok;
}

export interface ScribbleResult {
  scribbles: Uint8Array;
  labelled: number;
  /** Labelled pixels / pixels labelled in the dense mask. */
  coverage: number;
}

export function simulateScribbles(mask: Uint8Array, w: number, h: number, opts: ScribbleOptions): ScribbleResult {
  const ignore = opts.ignore ?? 255;
  const r = opts.radius ?? Math.max(2, Math.round(0.015 * Math.hypot(w, h)));
  const strokes = opts.strokesPerRegion ?? 2;
  const steps = opts.stepsPerStroke ?? 8;
  const minRegion = opts.minRegion ?? 4 * Math.PI * r * r;
  const rand = rng(opts.seed);
  const { label, sizes, values } = components(mask, w, h, ignore);
  const eroded = insideDepth(label, w, h, r);
  // Centres where a brush of radius r stays inside its region, grouped by region.
  const centres: number[][] = sizes.map(() => []);
  for (let p = 0; p < w * h; p++) if (eroded[p]) centres[label[p]!]!.push(p);
  const out = new Uint8Array(w * h).fill(ignore);
  const dab = (cx: number, cy: number, v: number, id: number) => {
    for (let y = Math.max(0, cy - r); y <= Math.min(h - 1, cy + r); y++)
      for (let x = Math.max(0, cx - r); x <= Math.min(w - 1, cx + r); x++) {
        const p = y * w + x;
        if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r && label[p] === id) out[p] = v;
      }
  };
  sizes.forEach((size, id) => {
    const pts = centres[id]!;
    if (size < minRegion || pts.length === 0) return;
    for (let s = 0; s < strokes; s++) {
      let p = pts[Math.floor(rand() * pts.length)]!;
      let angle = rand() * Math.PI * 2;
      for (let k = 0; k < steps; k++) {
        const x = p % w, y = (p - x) / w;
        dab(x, y, values[id]!, id);
        // Walk one radius on, turning gently; try a few headings before giving up at a boundary.
        let moved = false;
        for (let tries = 0; tries < 6 && !moved; tries++) {
          const a = angle + (rand() - 0.5) * 0.8 + (tries > 0 ? (rand() - 0.5) * Math.PI : 0);
          const nx = Math.round(x + Math.cos(a) * r), ny = Math.round(y + Math.sin(a) * r);
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
          const q = ny * w + nx;
          if (eroded[q] && label[q] === id) {
            // Fill the gap between dabs so the stroke is continuous.
            dab(Math.round((x + nx) / 2), Math.round((y + ny) / 2), values[id]!, id);
            p = q;
            angle = a;
            moved = true;
          }
        }
        if (!moved) break;
      }
    }
  });
  let labelled = 0, dense = 0;
  for (let p = 0; p < w * h; p++) {
    if (out[p] !== ignore) labelled++;
    if (mask[p] !== ignore) dense++;
  }
  return { scribbles: out, labelled, coverage: dense ? labelled / dense : 0 };
}
