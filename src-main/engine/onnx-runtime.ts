/**
 * Inference on exported ONNX segmenters (onnx-export.ts) with onnxruntime-node on the CPU — no
 * TF.js anywhere in this module's imports — with the app's pre/post-processing (prepost.ts, which infer.ts uses too):
 *   1. decode with sharp to the working resolution (shorter side = input_size, data.ts decodeToWorking);
 *   2. RGB / 255, resized bilinearly (half-pixel centres, as tf.image.resizeBilinear(…, false, true))
 *      so each side is a multiple of the stride, fed as NCHW (planarInput);
 *   3. decoded classes from tag_logits by the app's rule (chooseClasses with DECODE_DEFAULTS: p ≥ the
 *      threshold, at least the top one, at most 4; all for unet), plus the export's always_decode
 *      classes (the project's background);
 *   4. the chosen seg_logits channels (heat_norm 'pixel': renormalised over them, as the app does)
 *      resized bilinearly back to the original size, softmax, argmax (classMask, pixel by pixel:
 *      only bytes at the original size).
 * Remaining difference to the app (docs/ONNX.md): with heat_norm 'pixel' the graph normalises over
 * all C classes, the app over the decoded ones — a positive per-pixel factor, so argmaxes at model
 * resolution agree and only a few boundary pixels of the upsampled mask (and the probabilities) can.
 * `heatseg predict MODEL.onnx …` runs predictOnnxImages; the output files match the worker's
 * predict job (jobs.ts): `<stem>.png` indexed mask in the class colours, `<stem>.heatmap.png`.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { onnx as OnnxNamespace } from 'onnx-proto';
import { decodeToWorking } from './data.js';
import { DEFAULT_REFINE, type Refine, refineLogits, validateRefine } from './refine.js';
import type { Prediction } from './infer.js';
import { chooseClasses, classMask, type DecodeOptions, DEFAULT_TTA, flipPlanes, gatherPlanes, inputSides, planarInput, renormalise, resizeBilinearPlanar, sigmoid, type Tta, validateTta } from './prepost.js';
import { writePredictionPngs } from './prediction-png.js';

const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNamespace };

export type OnnxMethod = 'lrp' | 'gradcam' | 'unet' | 'mtunet';

/** What inference needs from an export's metadata (model metadata_props, else the sidecar JSON). */
export interface OnnxModelInfo {
  file: string;
  method: OnnxMethod;
  classes: Array<{ name: string; color: string }>;
  inputSize: number;
  /** [height, width] */
  stride: [number, number];
  minSize: [number, number];
  /** False: the graph takes exactly input_size × input_size. */
  dynamicSize: boolean;
  heatScale: number;
  heatNorm: 'none' | 'pixel';
  /** Classes decoded on every image whatever the tag head says (the project's background), as the app does. */
  alwaysDecode: number[];
}

/** What the onnxruntime path returns: the same as TF.js inference. */
export type OnnxPrediction = Prediction;

export interface OnnxPredictOptions extends DecodeOptions {
  outWidth?: number;
  outHeight?: number;
  /** Also return per-pixel probabilities (small outputs only). */
  probs?: boolean;
  /** Test-time augmentation, as infer.ts (default the app's DEFAULT_TTA); a fixed-size graph runs scale 1 only. */
  tta?: Tta;
  /** Classes always decoded (default: the export's always_decode, the project's background). */
  always?: number[];
  /** Refinement with the image, as infer.ts (default the app's DEFAULT_REFINE). */
  refine?: Refine;
}

function parseJson<T>(file: string, key: string, v: string | undefined): T {
  if (v === undefined) throw new Error(`${file}: the heatseg metadata has no '${key}'`);
  try {
    return JSON.parse(v) as T;
  } catch {
    throw new Error(`${file}: metadata '${key}' is not valid JSON`);
  }
}

/** Reads the heatseg metadata of an exported model (its metadata_props; the sidecar `<file>.json` if they are missing). */
export function readOnnxModelInfo(file: string): OnnxModelInfo {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such ONNX model`);
  let proto: OnnxNamespace.ModelProto;
  try {
    proto = onnx.ModelProto.decode(fs.readFileSync(file));
  } catch (e) {
    throw new Error(`${file}: not a readable ONNX model (${(e as Error).message})`, { cause: e });
  }
  const props = Object.fromEntries(proto.metadataProps.map((p) => [p.key, p.value]));
  const side = `${file}.json`;
  if (!props['heatseg.format']) {
    if (!fs.existsSync(side))
      throw new Error(`${file}: not a heatseg ONNX export (no heatseg metadata and no ${path.basename(side)} beside it)`);
    const j = JSON.parse(fs.readFileSync(side, 'utf8')) as {
      stride: [number, number];
      minSize: [number, number];
      dynamicSize: { height: boolean; width: boolean };
      model: {
        method: OnnxMethod;
        classes: Array<{ name: string; color: string }>;
        inputSize: number;
        heatScale: number;
        heatNorm?: 'none' | 'pixel';
        alwaysDecode?: number[];
      };
    };
    return {
      file,
      method: j.model.method,
      classes: j.model.classes,
      inputSize: j.model.inputSize,
      stride: j.stride,
      minSize: j.minSize,
      dynamicSize: j.dynamicSize.height && j.dynamicSize.width,
      heatScale: j.model.heatScale,
      heatNorm: j.model.heatNorm ?? 'none',
      alwaysDecode: alwaysDecodeList(file, j.model.alwaysDecode ?? [], j.model.classes.length),
    };
  }
  const names = parseJson<string[]>(file, 'classes', props.classes);
  const colors = parseJson<string[]>(file, 'colors', props.colors);
  const method = props.method as OnnxMethod;
  if (!['lrp', 'gradcam', 'unet', 'mtunet'].includes(method)) throw new Error(`${file}: unknown method '${props.method}' in its metadata`);
  return {
    file,
    method,
    classes: names.map((name, k) => ({ name, color: colors[k] ?? '#ffffff' })),
    inputSize: Number(props.input_size),
    stride: parseJson<[number, number]>(file, 'stride', props.stride),
    minSize: parseJson<[number, number]>(file, 'min_size', props.min_size),
    dynamicSize: props.dynamic_size === 'true',
    heatScale: Number(props.heat_scale ?? 1),
    heatNorm: props.heat_norm === 'pixel' ? 'pixel' : 'none',
    // exports before always_decode existed carry it only inside heatseg.model_json
    alwaysDecode: alwaysDecodeList(
      file,
      props.always_decode !== undefined
        ? parseJson<unknown>(file, 'always_decode', props.always_decode)
        : props['heatseg.model_json'] !== undefined
          ? (parseJson<{ alwaysDecode?: unknown }>(file, 'heatseg.model_json', props['heatseg.model_json']).alwaysDecode ?? [])
          : [],
      names.length,
    ),
  };
}

/** Validates an export's always-decoded class list: integer class indices in range. */
function alwaysDecodeList(file: string, v: unknown, classes: number): number[] {
  if (!Array.isArray(v) || !v.every((c) => Number.isInteger(c) && c >= 0 && c < classes)) {
    throw new Error(`${file}: metadata 'always_decode' must list class indices 0..${classes - 1}`);
  }
  return v as number[];
}

/** The model input for a working-resolution RGB image (prepost.ts steps 1–2): RGB / 255, sides rounded to multiples of the stride, NCHW [1, 3, h, w]. */
export function onnxInput(
  img: { rgb: Uint8Array; width: number; height: number },
  info: Pick<OnnxModelInfo, 'stride' | 'minSize' | 'dynamicSize' | 'inputSize'>,
  scale = 1,
): { data: Float32Array; height: number; width: number } {
  const [sh, sw] = info.stride;
  const [h, w] = info.dynamicSize
    ? inputSides(Math.round(img.height * scale), Math.round(img.width * scale), sh, sw, info.minSize[0], info.minSize[1])
    : [info.inputSize, info.inputSize];
  return { data: planarInput(img, h, w), height: h, width: w };
}

export class OnnxSegmenter {
  private constructor(
    readonly info: OnnxModelInfo,
    readonly session: ort.InferenceSession,
  ) {}

  static async load(file: string, sessionOptions: ort.InferenceSession.SessionOptions = {}): Promise<OnnxSegmenter> {
    const info = readOnnxModelInfo(file);
    const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], ...sessionOptions });
    if (!session.inputNames.includes('image') || !session.outputNames.includes('seg_logits')) {
      await session.release();
      throw new Error(
        `${file}: expected input 'image' and output 'seg_logits', found ${session.inputNames.join(', ')} → ${session.outputNames.join(', ')}`,
      );
    }
    return new OnnxSegmenter(info, session);
  }

  /** Raw outputs for an NCHW batch: seg_logits [N, C, h, w] and tag_logits [N, C] (null for unet). */
  async run(data: Float32Array, n: number, h: number, w: number): Promise<{ seg: Float32Array; tags: Float32Array | null }> {
    const out = await this.session.run({ image: new ort.Tensor('float32', data, [n, 3, h, w]) });
    const seg = out.seg_logits!.data as Float32Array;
    const tags = out.tag_logits ? (out.tag_logits.data as Float32Array) : null;
    return { seg, tags };
  }

  /** infer.ts predict on a working-resolution image (decodeToWorking's result), test-time augmentation included. */
  async predict(
    img: { rgb: Uint8Array; width: number; height: number; origWidth: number; origHeight: number },
    opts: OnnxPredictOptions = {},
  ): Promise<OnnxPrediction> {
    const C = this.info.classes.length;
    const tta = validateTta(opts.tta ?? DEFAULT_TTA);
    const scales = this.info.dynamicSize ? tta.scales : [1];
    // per scale one run, the mirrored copy in the same batch
    const runs = await Promise.all(
      scales.map(async (scale) => {
        const x = onnxInput(img, this.info, scale);
        const n = tta.flip ? 2 : 1;
        const data = new Float32Array(n * x.data.length);
        data.set(x.data);
        if (tta.flip) data.set(flipPlanes(Float32Array.from(x.data), 3, x.height, x.width), x.data.length);
        return { ...x, n, ...(await this.run(data, n, x.height, x.width)) };
      }),
    );
    let tagProbs: Float32Array | null = null;
    if (this.info.method !== 'unet') {
      tagProbs = new Float32Array(C);
      let views = 0;
      for (const r of runs) {
        if (!r.tags) throw new Error(`${this.info.file}: method ${this.info.method} but no tag_logits output`);
        const p = sigmoid(r.tags);
        for (let i = 0; i < p.length; i++) tagProbs[i % C] = tagProbs[i % C]! + p[i]!;
        views += r.n;
      }
      for (let c = 0; c < C; c++) tagProbs[c] = tagProbs[c]! / views;
    }
    const classes = chooseClasses(tagProbs, C, { ...opts, always: opts.always ?? this.info.alwaysDecode });
    const K = classes.length;
    // the finest view's grid, as infer.ts
    const finest = runs.reduce((a, r) => (r.height * r.width > a.height * a.width ? r : a), runs[0]!);
    const [gh, gw] = [finest.height, finest.width];
    const sum = new Float32Array(K * gh * gw);
    let views = 0;
    for (const r of runs) {
      const plane = r.height * r.width;
      for (let v = 0; v < r.n; v++) {
        let chosen = gatherPlanes(r.seg.subarray(v * C * plane, (v + 1) * C * plane), classes, plane);
        if (this.info.heatNorm === 'pixel' && (this.info.method === 'lrp' || this.info.method === 'gradcam')) renormalise(chosen, K, plane, this.info.heatScale);
        if (v === 1) flipPlanes(chosen, K, r.height, r.width);
        if (r.height !== gh || r.width !== gw) chosen = resizeBilinearPlanar(chosen, K, r.height, r.width, gh, gw);
        for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + chosen[i]!;
        views++;
      }
    }
    if (views > 1) for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! / views;
    const logits = refineLogits(sum, K, gh, gw, img, validateRefine(opts.refine ?? DEFAULT_REFINE));
    const outH = opts.outHeight ?? img.origHeight;
    const outW = opts.outWidth ?? img.origWidth;
    // as infer.ts: bytes at the original size, never float maps there
    const out = classMask(logits, 'chw', classes, gh, gw, outH, outW, { probs: !!opts.probs });
    return { tagProbs, classes, ...out, width: outW, height: outH };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export interface OnnxPredictResult {
  backend: { name: 'onnxruntime'; detail: string };
  written: Array<{ image: string; mask: string; heatmap: string; classes: string[] }>;
  failed: Array<{ image: string; reason: string }>;
}

export function onnxRuntimeDetail(): string {
  return `onnxruntime-node ${ort.env.versions.common ?? ''}, CPU`.replace('  ', ' ');
}

/** `heatseg predict MODEL.onnx IMAGE… --out DIR`: the worker predict job's outputs, through onnxruntime. */
export async function predictOnnxImages(
  file: string,
  images: string[],
  outDir: string,
  opts: { onProgress?: (done: number, total: number) => void; cancelled?: () => boolean; tta?: Tta; refine?: Refine } = {},
): Promise<OnnxPredictResult> {
  const model = await OnnxSegmenter.load(file);
  const written: OnnxPredictResult['written'] = [];
  const failed: OnnxPredictResult['failed'] = [];
  try {
    fs.mkdirSync(outDir, { recursive: true });
    const colors = model.info.classes.map((c) => c.color);
    for (let i = 0; i < images.length; i++) {
      if (opts.cancelled?.()) break;
      opts.onProgress?.(i, images.length);
      const image = images[i]!;
      let img: Awaited<ReturnType<typeof decodeToWorking>>;
      try {
        img = await decodeToWorking(fs.readFileSync(image), model.info.inputSize);
      } catch (e) {
        failed.push({ image, reason: (e as Error).message });
        continue;
      }
      const p = await model.predict(img, { ...(opts.tta ? { tta: opts.tta } : {}), ...(opts.refine ? { refine: opts.refine } : {}) });
      const files = await writePredictionPngs(outDir, path.basename(image, path.extname(image)), p, colors);
      written.push({ image, ...files, classes: p.classes.map((c) => model.info.classes[c]!.name) });
    }
    opts.onProgress?.(images.length, images.length);
  } finally {
    await model.release();
  }
  return { backend: { name: 'onnxruntime', detail: onnxRuntimeDetail() }, written, failed };
}
