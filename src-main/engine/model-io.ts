/**
 * A trained segmenter on disk — a self-contained folder:
 *   heatseg-model.json  classes, colours, input size, normalisation, method, backbone, heatmap
 *                       temperature, training summary, metrics, and the weight manifest
 *   weights.bin         float32 little-endian tensors, in manifest order
 * Written into a fresh temporary folder beside it (safe-fs.ts) and renamed into place, so a killed
 * run never leaves a folder that looks complete, and nothing of the user's is ever replaced.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { FileError, describeIssues, readJsonFile } from '../json-file.js';
import { onlyHolds, tempDirBeside } from '../safe-fs.js';
import { CHECKPOINT_SUFFIX } from '../store/project.js';
import { loadSegmenter, parseSegmenterConfig, type Segmenter, type SegmenterConfig, type WeightMap } from './models/index.js';

export const MODEL_FILE = 'heatseg-model.json';
export const WEIGHTS_FILE = 'weights.bin';

export interface ModelMeta {
  format: 'heatseg-model';
  version: 1;
  /** In model order; `id`: the project's class id it was trained on (models from a project only). */
  classes: Array<{ name: string; color: string; id?: number }>;
  inputSize: number;
  normalisation: string;
  method: SegmenterConfig['method'];
  backbone: string;
  /** Multiplies decoded heatmaps before the softmax (argmax does not depend on it). */
  heatScale: number;
  /** Per-pixel normalisation applied with heatScale (see losses.ts heatLogits). */
  heatNorm: 'none' | 'pixel';
  /** Classes decoded in every image whatever the tag head says (the project's background class). */
  alwaysDecode: number[];
  /** How inference sizes images (documentation for users of the exported model). */
  inference: string;
  training: Record<string, unknown>;
  metrics: Record<string, unknown> | null;
  createdAt: string;
}

const metaSchema = z.object({
  format: z.literal('heatseg-model'),
  version: z.literal(1),
  classes: z.array(z.object({ name: z.string(), color: z.string(), id: z.number().int().positive().optional() })).min(1),
  inputSize: z.number().int().positive(),
  normalisation: z.string(),
  method: z.enum(['lrp', 'gradcam', 'unet', 'mtunet']),
  backbone: z.string(),
  heatScale: z.number().positive(),
  heatNorm: z.enum(['none', 'pixel']).default('none'),
  alwaysDecode: z.array(z.number().int().nonnegative()).default([]),
  inference: z.string(),
  training: z.record(z.string(), z.unknown()),
  metrics: z.record(z.string(), z.unknown()).nullable(),
  createdAt: z.string(),
  segmenter: z.unknown(),
  weights: z.array(z.object({ name: z.string(), shape: z.array(z.number().int().nonnegative()), offset: z.number().int().nonnegative() })),
});

export const INFERENCE_NOTE =
  'The image is resized (bilinear, aspect kept) so its shorter side is inputSize and both sides are multiples of the encoder stride; ' +
  'pixels are RGB divided by 255; heatmaps of the decoded classes (those the tag head predicts with p >= 0.5, at least the top one, ' +
  'at most 4) are resized bilinearly back to the original size, multiplied by heatScale, and the per-pixel argmax is the mask.';

export function saveModel(
  dir: string,
  model: Segmenter,
  meta: Omit<ModelMeta, 'format' | 'version' | 'createdAt' | 'inference' | 'alwaysDecode'> & { alwaysDecode?: number[] },
): void {
  const abs = path.resolve(dir);
  // Replaces only a model folder heatseg wrote (its two files, nothing else).
  if (fs.existsSync(abs) && !onlyHolds(abs, [MODEL_FILE, WEIGHTS_FILE])) {
    throw new Error(`${abs} exists and holds files heatseg did not write there; not replacing it (choose a new folder)`);
  }
  const tmp = tempDirBeside(abs);
  try {
    const weights = model.getWeights();
    const manifest: Array<{ name: string; shape: number[]; offset: number }> = [];
    let offset = 0;
    for (const [name, w] of Object.entries(weights)) {
      manifest.push({ name, shape: w.shape, offset });
      offset += w.data.length * 4;
    }
    const buf = Buffer.alloc(offset);
    for (const m of manifest) {
      const w = weights[m.name]!;
      for (let i = 0; i < w.data.length; i++) buf.writeFloatLE(w.data[i]!, m.offset + i * 4);
    }
    fs.writeFileSync(path.join(tmp, WEIGHTS_FILE), buf);
    const json = { format: 'heatseg-model', version: 1, ...meta, alwaysDecode: meta.alwaysDecode ?? [], inference: INFERENCE_NOTE, createdAt: new Date().toISOString(), segmenter: model.config(), weights: manifest };
    fs.writeFileSync(path.join(tmp, MODEL_FILE), JSON.stringify(json, null, 1));
    if (fs.existsSync(abs)) {
      // The previous version of this model (checked above to be heatseg's) moves aside, then goes.
      const old = `${tmp}-old`;
      fs.renameSync(abs, old);
      fs.renameSync(tmp, abs);
      fs.rmSync(old, { recursive: true, force: true });
    } else fs.renameSync(tmp, abs);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Where a training run writes its epoch checkpoints: beside its model folder, never inside it. */
export function checkpointDirOf(modelDir: string): string {
  return `${modelDir}${CHECKPOINT_SUFFIX}`;
}

export interface LoadedModel {
  segmenter: Segmenter;
  meta: ModelMeta;
  dir: string;
}

export function readModelMeta(dir: string): ModelMeta & { segmenter: unknown; weights: Array<{ name: string; shape: number[]; offset: number }> } {
  const file = path.join(path.resolve(dir), MODEL_FILE);
  if (!fs.existsSync(file)) {
    const ckpt = checkpointDirOf(path.resolve(dir));
    const partial = fs.existsSync(path.join(ckpt, MODEL_FILE))
      ? ` (its training did not finish; its last epoch checkpoint is ${ckpt}: continue it with \`heatseg train PROJECT --resume N\`)`
      : '';
    throw new Error(`${dir} is not a heatseg model: ${MODEL_FILE} is missing${partial}`);
  }
  const r = metaSchema.safeParse(readJsonFile(file));
  if (!r.success) throw new FileError(file, describeIssues(r.error.issues));
  return r.data as ModelMeta & { segmenter: unknown; weights: Array<{ name: string; shape: number[]; offset: number }> };
}

/** The tensors of weights.bin by name, as the manifest of `meta` lists them (no tfjs involved). */
export function readModelWeights(dir: string, meta: Pick<ReturnType<typeof readModelMeta>, 'weights'>): WeightMap {
  const file = path.join(path.resolve(dir), WEIGHTS_FILE);
  if (!fs.existsSync(file)) throw new Error(`${dir}: ${WEIGHTS_FILE} is missing`);
  const buf = fs.readFileSync(file);
  const weights: WeightMap = {};
  for (const m of meta.weights) {
    const n = m.shape.reduce((a, b) => a * b, 1);
    if (m.offset + n * 4 > buf.length) throw new Error(`${file}: too short for weight ${m.name} (file truncated?)`);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(m.offset + i * 4);
    weights[m.name] = { shape: m.shape, data };
  }
  return weights;
}

export function loadModel(dir: string): LoadedModel {
  const meta = readModelMeta(dir);
  const weights = readModelWeights(dir, meta);
  const config = parseSegmenterConfig(meta.segmenter);
  const segmenter = loadSegmenter(config, weights);
  const { segmenter: _s, weights: _w, ...rest } = meta;
  return { segmenter, meta: rest, dir: path.resolve(dir) };
}
