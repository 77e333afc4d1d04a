/**
 * The refinement setting of a prediction (engine/refine.ts applies it: the colour guided filter of
 * the class probabilities with the image): pure, shared by the engine, the CLI and the renderer.
 */
export interface Refine {
  /** Window radius in pixels of the image at its working size (shorter side = input size); 0 = off. */
  radius: number;
  /** Ridge penalty on the colour coefficients, in (RGB / 255)² units: larger smooths across weaker edges. */
  eps: number;
  /**
   * Weight w of the image's own class colour models after the filter (0 or absent = off): each
   * class's colour histogram is fitted to its filtered probabilities over the whole image, and a
   * pixel's probabilities are multiplied by P(its colour | class)^w, then renormalised.
   */
  colour?: number;
}

export const NO_REFINE: Refine = { radius: 0, eps: 0 };

/**
 * The app's refinement for every prediction a user sees or exports (overlays, predict, evaluation,
 * onnxruntime); suggest's ranking scores the unrefined probabilities. Chosen on MSRC dev-val over
 * 3 seeds (docs/EXPERIMENTS.md, bench/results/refine/ for the filter, bench/results/colour/ for the
 * colour models: +0.020 ± 0.003 mIoU at weight 1 on top of the filter, ahead on every seed).
 */
export const DEFAULT_REFINE: Refine = { radius: 16, eps: 0.01, colour: 1 };

/** Checks a refinement setting (from a CLI or a request). */
export function validateRefine(r: Refine): Refine {
  if (!Number.isFinite(r.radius) || r.radius < 0 || r.radius > 64) throw new Error(`refine radius must be 0..64 pixels, got ${r.radius}`);
  if (!Number.isFinite(r.eps) || (r.eps <= 0 && r.radius > 0) || r.eps > 10) throw new Error(`refine eps must be in (0, 10], got ${r.eps}`);
  if (r.colour !== undefined && (!Number.isFinite(r.colour) || r.colour < 0 || r.colour > 10)) throw new Error(`refine colour weight must be 0..10, got ${r.colour}`);
  return r;
}

/** "none", "RADIUS/EPS" (e.g. "4/0.01") or "RADIUS/EPS/cW" (with colour models of weight W, e.g. "16/0.01/c1"). */
export function parseRefine(spec: string): Refine {
  const s = spec.trim();
  if (s === 'none' || s === '0') return NO_REFINE;
  const m = /^(\d+(?:\.\d+)?)\/(\d*\.?\d+(?:e-?\d+)?)(?:\/c(\d*\.?\d+))?$/i.exec(s);
  if (!m) throw new Error(`refine '${spec}': expected none, RADIUS/EPS or RADIUS/EPS/cWEIGHT, e.g. 4/0.01 or 16/0.01/c1`);
  const colour = m[3] === undefined ? 0 : Number(m[3]);
  return validateRefine({ radius: Number(m[1]), eps: Number(m[2]), ...(colour > 0 ? { colour } : {}) });
}

export function refineKey(r: Refine): string {
  return r.radius > 0 ? `${r.radius}/${r.eps}${r.colour ? `/c${r.colour}` : ''}` : 'none';
}
