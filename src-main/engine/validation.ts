/**
 * The held-out validation images of a training run: a deterministic part of the pixel-labelled
 * images, kept out of training whole (neither their scribbles nor their tags give a gradient), so
 * the Evaluate tab can lead with a score on labels the model never saw. Chosen by a hash of the
 * image id (not by position or import order), so the same labelled set always gives the same
 * split. Pure: no tfjs.
 */
import type { Dataset, Sample } from './data.js';

export const DEFAULT_VAL_FRACTION = 0.2;
/** Fewer pixel-labelled images than this: nothing is held out (every scribble is needed to train). */
export const MIN_LABELLED_FOR_VAL = 5;

/** What a run records about its split (image ids as the dataset names them). */
export interface ValidationSplit {
  fraction: number;
  /** Labelled images kept out of training. */
  heldOut: string[];
  /** Labelled images trained on. */
  trainedLabelled: string[];
}

/** FNV-1a, 32 bit: a stable, well-spread order of image ids. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Splits a dataset: round(fraction × labelled) labelled images (at least one) are held out when at
 * least MIN_LABELLED_FOR_VAL images have pixel labels and fraction > 0; the training dataset is the
 * rest. Tag-only images always train.
 */
export function splitValidation(data: Dataset, fraction: number): { train: Dataset; split: ValidationSplit } {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`the validation fraction must be in [0, 1), got ${fraction}`);
  const labelled = data.samples.filter((s) => s.labels);
  let held = new Set<Sample>();
  if (fraction > 0 && labelled.length >= MIN_LABELLED_FOR_VAL) {
    const k = Math.min(labelled.length - 1, Math.max(1, Math.round(fraction * labelled.length)));
    const ranked = [...labelled].sort((a, b) => hash(`heatseg-val:${a.id}`) - hash(`heatseg-val:${b.id}`) || (a.id < b.id ? -1 : 1));
    held = new Set(ranked.slice(0, k));
  }
  return {
    train: { ...data, samples: data.samples.filter((s) => !held.has(s)) },
    split: { fraction, heldOut: labelled.filter((s) => held.has(s)).map((s) => s.id), trainedLabelled: labelled.filter((s) => !held.has(s)).map((s) => s.id) },
  };
}

/** The split a model folder recorded (meta.training.validation), if any. */
export function recordedSplit(training: Record<string, unknown>): ValidationSplit | null {
  const v = training.validation as Partial<ValidationSplit> | undefined;
  if (!v || !Array.isArray(v.heldOut) || !Array.isArray(v.trainedLabelled) || typeof v.fraction !== 'number') return null;
  return { fraction: v.fraction, heldOut: v.heldOut.map(String), trainedLabelled: v.trainedLabelled.map(String) };
}
