/**
 * Test-time augmentation specs (pure: shared by the engine, the CLI and the benchmarks).
 */
/**
 * Test-time augmentation: the image is also run at other scales of its working resolution and/or
 * mirrored; the views' tag probabilities are averaged, and their (normalised, temperature-scaled)
 * heatmap logits, mirrored back and resized to the finest view's grid, are averaged before the
 * per-pixel softmax. Scale 1 is the working resolution; a view's sides are rounded to the stride.
 */
export interface Tta {
  scales: number[];
  flip: boolean;
}
export const NO_TTA: Tta = { scales: [1], flip: false };

/**
 * The app's test-time augmentation for every prediction a user sees or exports (overlays, predict,
 * evaluation): 3 scales × mirror = 6 views. Chosen on MSRC dev-val over 3 seeds against one view
 * and 5 other sets (docs/EXPERIMENTS.md, bench/results/tta/); suggest's ranking scores one view.
 */
export const DEFAULT_TTA: Tta = { scales: [0.75, 1, 1.25], flip: true };

/** Checks a TTA spec: 1–4 distinct scales in [0.5, 2]. */
export function validateTta(t: Tta): Tta {
  if (!Array.isArray(t.scales) || t.scales.length < 1 || t.scales.length > 4 || t.scales.some((v) => !(v >= 0.5 && v <= 2)) || new Set(t.scales).size !== t.scales.length) {
    throw new Error(`test-time scales must be 1 to 4 distinct numbers in [0.5, 2], got ${JSON.stringify(t.scales)}`);
  }
  return t;
}

/** How many views a spec runs: each scale, and its mirror image with `flip`. */
export const ttaViewCount = (t: Tta) => t.scales.length * (t.flip ? 2 : 1);

/** 'scales[/flip]', e.g. '1' (none), '1,1.25/flip'. */
export const ttaKey = (t: Tta) => `${t.scales.join(',')}${t.flip ? '/flip' : ''}`;

export function parseTta(s: string): Tta {
  const [sc, extra, ...rest] = s.split('/');
  if (rest.length || (extra !== undefined && extra !== 'flip')) throw new Error(`test-time augmentation '${s}': expected scales[/flip], e.g. 1,1.25/flip`);
  return validateTta({ scales: sc!.split(',').map(Number), flip: extra === 'flip' });
}
