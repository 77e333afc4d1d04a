/**
 * A run's prediction in the project's terms. A model knows its classes by index (its training
 * order); the project's classes can since have been reordered, renamed, deleted or added. The
 * cache keeps what the model said (class indices) with the model's class list, and every read maps
 * index → class by the stable class id the model recorded (by name for models older than that),
 * never by today's position. A class the model knew that is gone refuses the prediction: its
 * pixels would otherwise be shown — and accepted as labels — as some other class.
 */
import type { ClassInfo, PredictionWire } from '../../src-shared/api.js';
import { ApiError } from '../../src-shared/api.js';

export interface ModelClassRef {
  name: string;
  /** The project class id the model was trained on (absent in models from before it was recorded). */
  id?: number;
}

/** What the `predictions` cache row's `tag_probs` JSON holds (format 2: model indices). */
export interface CachedPredictionMeta {
  format: 2;
  modelClasses: ModelClassRef[];
  /** Model indices of the decoded classes. */
  decoded: number[];
  /** Tag head probability per model index (null: the method has no tag head). */
  tagProbs: number[] | null;
  width: number;
  height: number;
}

export function parseCachedMeta(json: string): CachedPredictionMeta | null {
  try {
    const m = JSON.parse(json) as Partial<CachedPredictionMeta>;
    return m.format === 2 && Array.isArray(m.modelClasses) && Array.isArray(m.decoded) ? (m as CachedPredictionMeta) : null;
  } catch {
    return null;
  }
}

/** The project's class for each model index; refuses (conflict) when a class the model knew is gone. */
export function resolveModelClasses(runId: number, model: ModelClassRef[], current: ClassInfo[]): ClassInfo[] {
  const byId = new Map(current.map((c) => [c.id, c]));
  const byName = new Map(current.map((c) => [c.name.toLowerCase(), c]));
  return model.map((m) => {
    const cls = m.id !== undefined ? byId.get(m.id) : byName.get(m.name.toLowerCase());
    if (cls) return cls;
    throw new ApiError(
      'conflict',
      m.id !== undefined
        ? `run ${runId} was trained with the class "${m.name}", which has since been deleted: train again to see its predictions`
        : `run ${runId} was trained with a class named "${m.name}", which the project no longer has (deleted or renamed): train again to see its predictions`,
    );
  });
}

/**
 * The wire form of a cached prediction: the mask as today's label values, tag probabilities and
 * decoded classes by class id. `indexMask` holds model indices per pixel.
 */
export function mapPrediction(
  runId: number,
  imageId: number,
  meta: CachedPredictionMeta,
  indexMask: Uint8Array,
  current: ClassInfo[],
): Omit<PredictionWire, 'mask' | 'confidence'> & { values: Uint8Array } {
  const classes = resolveModelClasses(runId, meta.modelClasses, current);
  if (meta.decoded.some((k) => !classes[k])) throw new ApiError('internal', `the cached prediction of image ${imageId} names a class index outside its model`);
  const lut = new Uint8Array(256);
  classes.forEach((c, k) => (lut[k] = c.labelValue));
  const values = new Uint8Array(indexMask.length);
  for (let q = 0; q < values.length; q++) {
    const k = indexMask[q]!;
    if (k >= classes.length) throw new ApiError('internal', `the cached prediction of image ${imageId} holds class index ${k} of a ${classes.length}-class model`);
    values[q] = lut[k]!;
  }
  const tagProbs: Record<number, number> = {};
  meta.tagProbs?.forEach((p, k) => {
    if (classes[k]) tagProbs[classes[k].id] = p;
  });
  return { runId, imageId, width: meta.width, height: meta.height, classIds: meta.decoded.map((k) => classes[k]!.id), tagProbs, values };
}
