/**
 * Edge-aware refinement of a prediction's per-class probabilities with the image itself: the
 * colour guided filter (He, Sun & Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013). Each
 * class's probability map q is replaced by a locally affine function of the image's RGB,
 * q_i = a_kᵀ I_i + b_k averaged over the windows k that hold pixel i, fitted to p in each window
 * with ridge penalty `eps`: inside a region of one colour the map is smoothed, across a colour edge
 * it may change sharply. Heatmap decoders (LRP / Grad-CAM read at 1/4–1/8 of the input, then upsampled)
 * give blurry class boundaries; the image knows where the edges are.
 * Pure JavaScript on planar Float32Arrays, O(pixels · classes) (box sums by running sums), shared by
 * the TF.js path (infer.ts) and the onnxruntime path (onnx-runtime.ts).
 */
import type { Refine } from '../../src-shared/refine.js';
import { planarInput } from './prepost.js';

export { DEFAULT_REFINE, NO_REFINE, parseRefine, type Refine, refineKey, validateRefine } from '../../src-shared/refine.js';

/**
 * Mean over the (2r+1)² window around each pixel, clipped at the borders (the mean of the pixels
 * inside), of `planes` planar h × w planes; by running sums, O(h·w) per plane whatever r.
 */
export function boxMean(src: Float32Array, planes: number, h: number, w: number, r: number): Float32Array {
  const out = new Float32Array(planes * h * w);
  const row = new Float64Array(w + 1);
  const col = new Float64Array((h + 1) * w);
  for (let p = 0; p < planes; p++) {
    const o = p * h * w;
    // horizontal window sums into col's rows (cumulative down the columns as we go)
    col.fill(0, 0, w);
    for (let y = 0; y < h; y++) {
      row[0] = 0;
      for (let x = 0; x < w; x++) row[x + 1] = row[x]! + src[o + y * w + x]!;
      for (let x = 0; x < w; x++) {
        const a = Math.max(0, x - r), b = Math.min(w, x + r + 1);
        col[(y + 1) * w + x] = col[y * w + x]! + (row[b]! - row[a]!);
      }
    }
    for (let y = 0; y < h; y++) {
      const a = Math.max(0, y - r), b = Math.min(h, y + r + 1);
      for (let x = 0; x < w; x++) {
        const n = (b - a) * (Math.min(w, x + r + 1) - Math.max(0, x - r));
        out[o + y * w + x] = (col[b * w + x]! - col[a * w + x]!) / n;
      }
    }
  }
  return out;
}

/**
 * The colour guided filter of `k` planar probability maps `p` [k, h, w] with the guide `guide`
 * [3, h, w] (RGB in 0..1): returns q [k, h, w]. The 3 × 3 window covariances of the guide (plus
 * eps·I) are inverted once per pixel and shared by every class.
 */
export function guidedFilter(p: Float32Array, k: number, guide: Float32Array, h: number, w: number, r: number, eps: number): Float32Array {
  const n = h * w;
  const meanI = boxMean(guide, 3, h, w, r);
  // the six distinct second moments of the guide: rr, rg, rb, gg, gb, bb
  const pairs: Array<[number, number]> = [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2], [2, 2]];
  const prods = new Float32Array(6 * n);
  pairs.forEach(([c, d], j) => {
    for (let i = 0; i < n; i++) prods[j * n + i] = guide[c * n + i]! * guide[d * n + i]!;
  });
  const corrI = boxMean(prods, 6, h, w, r);
  // per pixel the inverse of Σ + eps·I (symmetric: six entries)
  const inv = new Float32Array(6 * n);
  for (let i = 0; i < n; i++) {
    const mr = meanI[i]!, mg = meanI[n + i]!, mb = meanI[2 * n + i]!;
    const rr = corrI[i]! - mr * mr + eps, rg = corrI[n + i]! - mr * mg, rb = corrI[2 * n + i]! - mr * mb;
    const gg = corrI[3 * n + i]! - mg * mg + eps, gb = corrI[4 * n + i]! - mg * mb, bb = corrI[5 * n + i]! - mb * mb + eps;
    const c00 = gg * bb - gb * gb, c01 = rb * gb - rg * bb, c02 = rg * gb - rb * gg;
    const c11 = rr * bb - rb * rb, c12 = rg * rb - rr * gb, c22 = rr * gg - rg * rg;
    const det = rr * c00 + rg * c01 + rb * c02;
    const s = det > 0 ? 1 / det : 0;
    inv[i] = c00 * s;
    inv[n + i] = c01 * s;
    inv[2 * n + i] = c02 * s;
    inv[3 * n + i] = c11 * s;
    inv[4 * n + i] = c12 * s;
    inv[5 * n + i] = c22 * s;
  }
  const out = new Float32Array(k * n);
  const ip = new Float32Array(4 * n); // p, I_r·p, I_g·p, I_b·p of one class
  const ab = new Float32Array(4 * n); // a_r, a_g, a_b, b
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < n; i++) {
      const v = p[c * n + i]!;
      ip[i] = v;
      ip[n + i] = guide[i]! * v;
      ip[2 * n + i] = guide[n + i]! * v;
      ip[3 * n + i] = guide[2 * n + i]! * v;
    }
    const m = boxMean(ip, 4, h, w, r);
    for (let i = 0; i < n; i++) {
      const mp = m[i]!;
      const vr = m[n + i]! - meanI[i]! * mp, vg = m[2 * n + i]! - meanI[n + i]! * mp, vb = m[3 * n + i]! - meanI[2 * n + i]! * mp;
      const ar = inv[i]! * vr + inv[n + i]! * vg + inv[2 * n + i]! * vb;
      const ag = inv[n + i]! * vr + inv[3 * n + i]! * vg + inv[4 * n + i]! * vb;
      const abl = inv[2 * n + i]! * vr + inv[4 * n + i]! * vg + inv[5 * n + i]! * vb;
      ab[i] = ar;
      ab[n + i] = ag;
      ab[2 * n + i] = abl;
      ab[3 * n + i] = mp - ar * meanI[i]! - ag * meanI[n + i]! - abl * meanI[2 * n + i]!;
    }
    const mab = boxMean(ab, 4, h, w, r);
    for (let i = 0; i < n; i++) {
      out[c * n + i] = mab[i]! * guide[i]! + mab[n + i]! * guide[n + i]! + mab[2 * n + i]! * guide[2 * n + i]! + mab[3 * n + i]!;
    }
  }
  return out;
}

/**
 * Refines per-class logits [k, h, w] (planar) with the image: softmax over the k classes, the
 * guided filter of each probability map (guide: the working-size RGB resized bilinearly to h × w),
 * back to logits as ln(max(q, 1e-4)). `radius` is in working-size pixels, scaled to the grid.
 * Returns new logits; with radius 0 (or one class) the input itself.
 */
export function refineLogits(
  logits: Float32Array,
  k: number,
  h: number,
  w: number,
  img: { rgb: Uint8Array; width: number; height: number },
  refine: Refine,
): Float32Array {
  if (refine.radius <= 0 || k < 2) return logits;
  const n = h * w;
  const probs = new Float32Array(k * n);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let c = 0; c < k; c++) mx = Math.max(mx, logits[c * n + i]!);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += probs[c * n + i] = Math.exp(logits[c * n + i]! - mx);
    for (let c = 0; c < k; c++) probs[c * n + i] = probs[c * n + i]! / sum;
  }
  const guide = planarInput(img, h, w); // RGB / 255 at the grid's size
  const r = Math.max(1, Math.round((refine.radius * h) / img.height));
  const q = guidedFilter(probs, k, guide, h, w, r, refine.eps);
  if (refine.colour && refine.colour > 0) colourModels(q, k, guide, n, refine.colour);
  for (let i = 0; i < q.length; i++) q[i] = Math.log(Math.max(q[i]!, 1e-4));
  return q;
}

/** Colour bins per RGB channel of the class colour models (8³ = 512 bins). */
export const COLOUR_BINS = 8;

/**
 * The image's own class colour models (one step of GrabCut's colour re-estimation, with soft
 * assignments): per class c a histogram of the image's colours (8 bins per channel) weighted by
 * its probabilities q_c, add-one smoothed over its mass; then q_c(i) ← q_c(i) · P(colour_i | c)^w,
 * renormalised over the classes. A region the heatmap spilled onto (a ring of background around an
 * object) has the background's colour, which the background's model explains better. In place on
 * q [k, n] (probabilities, clamped to ≥ 1e-4); guide: planar RGB in 0..1 [3, n].
 */
export function colourModels(q: Float32Array, k: number, guide: Float32Array, n: number, w: number): void {
  const B = COLOUR_BINS;
  const nb = B * B * B;
  const bin = new Uint16Array(n);
  const q1 = (v: number) => Math.min(B - 1, Math.max(0, Math.floor(v * B)));
  for (let i = 0; i < n; i++) bin[i] = (q1(guide[i]!) * B + q1(guide[n + i]!)) * B + q1(guide[2 * n + i]!);
  for (let i = 0; i < q.length; i++) q[i] = Math.max(q[i]!, 1e-4);
  const logP = new Float32Array(k * nb);
  for (let c = 0; c < k; c++) {
    const hist = new Float64Array(nb);
    let mass = 0;
    for (let i = 0; i < n; i++) {
      const v = q[c * n + i]!;
      hist[bin[i]!]! += v;
      mass += v;
    }
    // add-one smoothing spread over the bins: a class seen nowhere has a flat model
    for (let b = 0; b < nb; b++) logP[c * nb + b] = Math.log((hist[b]! + 1 / nb) / (mass + 1));
  }
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let c = 0; c < k; c++) mx = Math.max(mx, Math.log(q[c * n + i]!) + w * logP[c * nb + bin[i]!]!);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(Math.log(q[c * n + i]!) + w * logP[c * nb + bin[i]!]! - mx);
    for (let c = 0; c < k; c++) q[c * n + i] = Math.exp(Math.log(q[c * n + i]!) + w * logP[c * nb + bin[i]!]! - mx) / sum;
  }
}
