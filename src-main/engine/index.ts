/**
 * heatseg's engine as a library (Node): load an exported segmenter, predict masks for images,
 * evaluate against a mask folder. Runs in the calling thread; the app and CLI use the worker
 * (client.ts) instead so that a UI never blocks.
 *
 *   import { loadSegmenterFolder, predictImage } from 'heatseg/src-main/engine/index.js';
 *   const m = await loadSegmenterFolder('my-model');
 *   const { mask, classes } = await predictImage(m, fs.readFileSync('cow.jpg'));
 */
import { initBackend, type BackendInfo, type BackendName } from './backend.js';
import { datasetFromMaskFolder, decodeToWorking } from './data.js';
import { type Prediction, predict } from './infer.js';
import { type LoadedModel, loadModel } from './model-io.js';
import { type EvalResult, encoderStride, evaluate } from './trainer.js';

export type { LoadedModel, Prediction, EvalResult, BackendInfo };

export async function loadSegmenterFolder(dir: string, backend?: BackendName): Promise<LoadedModel & { backend: BackendInfo }> {
  const info = await initBackend(backend);
  return { ...loadModel(dir), backend: info };
}

/**
 * Mask (class index per pixel, original size), the winning probability per pixel (× 255), tag
 * probabilities, and with `probs: true` the per-pixel probabilities (float32 H·W·K: large).
 */
export async function predictImage(model: LoadedModel, bytes: Uint8Array, opts: { givenTags?: string[]; probs?: boolean } = {}): Promise<Prediction & { classNames: string[] }> {
  const img = await decodeToWorking(bytes, model.meta.inputSize);
  const names = model.meta.classes.map((c) => c.name);
  const givenTags = opts.givenTags?.map((t) => {
    const k = names.indexOf(t);
    if (k < 0) throw new Error(`unknown class "${t}"; the model knows ${names.join(', ')}`);
    return k;
  });
  const p = await predict(model.segmenter, { id: '', ...img, tags: [], labels: null }, {
    stride: encoderStride(model.segmenter),
    heatScale: model.meta.heatScale,
    heatNorm: model.meta.heatNorm,
    ...(givenTags ? { givenTags } : {}),
    ...(opts.probs ? { probs: true } : {}),
  });
  return { ...p, classNames: names };
}

export async function evaluateFolder(model: LoadedModel, maskFolder: string): Promise<EvalResult> {
  const data = await datasetFromMaskFolder(maskFolder, model.meta.inputSize, { withTruth: true });
  return evaluate(model.segmenter, data, { heatScale: model.meta.heatScale, heatNorm: model.meta.heatNorm, withGivenTags: true });
}
