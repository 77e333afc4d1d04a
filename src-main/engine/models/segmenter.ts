/**
 * The four segmentation models behind one interface. A saved model is `config()` (JSON) plus
 * `getWeights()`; `loadSegmenter(config, weights)` rebuilds it without touching the original
 * pretrained folder.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import {
  DEFAULT_LRP_POOL,
  DEFAULT_LRP_TOP_RELEVANCE,
  downsamples,
  type EncodedBatch,
  type EncoderSpec,
  type LrpPoolRule,
  type ForwardOptions,
  type ForwardResult,
  type SegMethod,
  type Segmenter,
  type SegmenterConfig,
  type WeightMap,
} from './types.js';
import { Encoder, type EncoderTrace, smallEncoderSpec, type SmallEncoderOptions } from './encoder.js';
import { importKerasBackbone } from './keras-import.js';
import { gradcamDecode } from './gradcam.js';
import { DEFAULT_LRP_RULE, type LrpRuleName, lrpDecode } from './lrp.js';
import { UNetDecoder } from './unet.js';
import { glorotUniform, resizeBilinearLinear } from './ops.js';

const posInt = z.number().int().positive();
const pair = z.tuple([posInt, posInt]);
const name = z.string().min(1);
const layerSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('conv'), name, filters: posInt, kernel: pair, strides: pair, padding: z.enum(['same', 'valid']) }),
  z.strictObject({ type: z.literal('relu'), name }),
  z.strictObject({ type: z.literal('leaky'), name, alpha: z.number().min(0).lt(1) }),
  z.strictObject({ type: z.literal('maxpool'), name, pool: pair }),
  z.strictObject({
    type: z.literal('pad'),
    name,
    pad: z.tuple([
      z.tuple([z.number().int().min(0), z.number().int().min(0)]),
      z.tuple([z.number().int().min(0), z.number().int().min(0)]),
    ]),
  }),
]);

export const segmenterConfigSchema = z.strictObject({
  format: z.literal('heatseg-segmenter'),
  version: z.literal(1),
  method: z.enum(['lrp', 'gradcam', 'unet', 'mtunet']),
  classes: posInt,
  inputSize: posInt,
  encoder: z.strictObject({
    family: z.enum(['small', 'keras']),
    inputChannels: posInt,
    layers: z.array(layerSchema).min(1),
    source: z.string().optional(),
  }),
  gradcamRelu: z.boolean().default(false),
  lrpDepth: z.number().int().min(0).max(8).default(0),
  lrpRule: z.enum(['lrp0', 'epsilon', 'zplus', 'alphabeta', 'composite']).default('lrp0'),
  lrpPool: z.enum(['winner', 'proportional']).default('winner'),
  lrpTopRelevance: z.boolean().default(false),
  unetConvsPerStage: posInt.default(1),
  seed: z.number().int().default(1),
});

/** Validates a config read from disk (or anywhere untrusted). */
export function parseSegmenterConfig(json: unknown): SegmenterConfig {
  const r = segmenterConfigSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`invalid segmenter config${issue ? ` at ${issue.path.join('.') || '(root)'}: ${issue.message}` : ''}`);
  }
  const { source, ...encoder } = r.data.encoder;
  return { ...r.data, encoder: source === undefined ? encoder : { ...encoder, source } };
}

export type EncoderChoice = ({ kind: 'small' } & SmallEncoderOptions) | { kind: 'pretrained'; path: string };

export interface CreateSegmenterOptions {
  method: SegMethod;
  classes: number;
  inputSize: number;
  /** Default: the small VGG-style encoder with its default options. */
  encoder?: EncoderChoice;
  gradcamRelu?: boolean;
  /** A number, or 'auto' (the default): DEFAULT_LRP_DEPTH, or fewer when the encoder has fewer stages. */
  lrpDepth?: number | 'auto';
  /** LRP rule set (default DEFAULT_LRP_RULE). */
  lrpRule?: LrpRuleName;
  /** LRP max-pool rule (default DEFAULT_LRP_POOL). */
  lrpPool?: LrpPoolRule;
  /** LRP: add the relevance at the last feature map to the stop's (SegmenterConfig.lrpTopRelevance). */
  lrpTopRelevance?: boolean;
  unetConvsPerStage?: number;
  seed?: number;
}

/** Builds a fresh model; a pretrained encoder is read from its TF.js layers model folder. */
export async function createSegmenter(opts: CreateSegmenterOptions): Promise<Segmenter> {
  const base = {
    format: 'heatseg-segmenter' as const,
    version: 1 as const,
    method: opts.method,
    classes: opts.classes,
    inputSize: opts.inputSize,
    gradcamRelu: opts.gradcamRelu ?? false,
    lrpDepth: 0,
    lrpRule: opts.lrpRule ?? DEFAULT_LRP_RULE,
    lrpPool: opts.lrpPool ?? DEFAULT_LRP_POOL,
    lrpTopRelevance: opts.lrpTopRelevance ?? (opts.method === 'lrp' && DEFAULT_LRP_TOP_RELEVANCE),
    unetConvsPerStage: opts.unetConvsPerStage ?? 1,
    seed: opts.seed ?? 1,
  };
  const choice = opts.encoder ?? { kind: 'small' };
  const depth = (spec: EncoderSpec) => {
    const stages = spec.layers.filter(downsamples).length;
    return opts.lrpDepth === undefined || opts.lrpDepth === 'auto' ? Math.min(DEFAULT_LRP_DEPTH, stages) : opts.lrpDepth;
  };
  if (choice.kind === 'pretrained') {
    const backbone = await importKerasBackbone(choice.path);
    const model = buildSegmenter({ ...base, lrpDepth: depth(backbone.spec), encoder: { ...backbone.spec, source: choice.path } });
    model.setWeights(backbone.weights, { allowMissing: true });
    return model;
  }
  const { kind: _kind, ...small } = choice;
  const spec = smallEncoderSpec(small);
  return buildSegmenter({ ...base, lrpDepth: depth(spec), encoder: spec });
}

/**
 * LRP decoders stop at the input of the 4th downsampling layer by default (1/8 resolution; fewer
 * stages when the encoder has fewer), then upsample: Gradient×Input at full resolution stayed pixel
 * noise that the heatmap loss could not shape on MSRC, relevance read at 1/4 resolution learned, and
 * at 1/8 it learned faster and segmented better (docs/EXPERIMENTS.md, q5–q7).
 */
export const DEFAULT_LRP_DEPTH = 4;

/** Rebuilds a saved model from its config JSON and weights (all weights must be present). */
export function loadSegmenter(config: unknown, weights: WeightMap): Segmenter {
  const model = buildSegmenter(parseSegmenterConfig(config));
  try {
    model.setWeights(weights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

/** A randomly initialised model of the given architecture (seeded by `config.seed`). */
export function buildSegmenter(config: SegmenterConfig): Segmenter {
  return new TfSegmenter(parseSegmenterConfig(config));
}

/** decodeClasses must be [N, K] for a batch of N. */
function checkDecodeClasses(decode: tf.Tensor2D | undefined, n: number): void {
  if (decode && (decode.rank !== 2 || decode.shape[0] !== n)) {
    throw new Error(`decodeClasses must be [N, K] with N = ${n}, got [${decode.shape.join(', ')}]`);
  }
}

/** The class indices as int32 (the decoders gather with them); inside a tidy. */
function asInt(decode: tf.Tensor2D | undefined): tf.Tensor2D | undefined {
  return decode && decode.dtype !== 'int32' ? (decode.toInt() as tf.Tensor2D) : decode;
}

class TfSegmenter implements Segmenter {
  readonly method: SegMethod;
  readonly classes: number;
  readonly inputSize: number;
  private readonly cfg: SegmenterConfig;
  private readonly encoder: Encoder;
  private readonly head: { kernel: tf.Variable; bias: tf.Variable } | null;
  private readonly unet: UNetDecoder | null;
  private readonly vars: Record<string, tf.Variable>;
  /** Encoder layer indices that downsample (where the LRP decoder may stop), shallowest first. */
  private readonly downsamplingLayers: number[];

  constructor(cfg: SegmenterConfig) {
    this.cfg = structuredClone(cfg);
    this.method = cfg.method;
    this.classes = cfg.classes;
    this.inputSize = cfg.inputSize;
    const encoder = new Encoder(cfg.encoder, cfg.seed);
    this.encoder = encoder;
    this.downsamplingLayers = cfg.encoder.layers.flatMap((l, i) => (downsamples(l) ? [i] : []));
    if (cfg.lrpDepth > this.downsamplingLayers.length) {
      encoder.dispose();
      throw new Error(`lrpDepth ${cfg.lrpDepth} exceeds the encoder's ${this.downsamplingLayers.length} downsampling stages`);
    }
    if (cfg.inputSize % encoder.stride !== 0) {
      encoder.dispose();
      throw new Error(`inputSize ${cfg.inputSize} is not a multiple of the encoder's stride ${encoder.stride}`);
    }
    const c = encoder.outChannels;
    this.head =
      cfg.method === 'unet'
        ? null
        : {
            kernel: tf.variable(glorotUniform([c, cfg.classes], c, cfg.classes, cfg.seed + 15485863)),
            bias: tf.variable(tf.zeros([cfg.classes])),
          };
    try {
      this.unet =
        cfg.method === 'unet' || cfg.method === 'mtunet'
          ? new UNetDecoder(cfg.encoder, cfg.classes, cfg.unetConvsPerStage, cfg.seed)
          : null;
    } catch (err) {
      encoder.dispose();
      this.head?.kernel.dispose();
      this.head?.bias.dispose();
      throw err;
    }
    this.vars = {
      ...encoder.namedVariables(),
      ...(this.head ? { 'head/kernel': this.head.kernel, 'head/bias': this.head.bias } : {}),
      ...(this.unet ? this.unet.namedVariables() : {}),
    };
  }

  variables(): tf.Variable[] {
    return Object.values(this.vars);
  }

  namedVariables(): Record<string, tf.Variable> {
    return { ...this.vars };
  }

  forward(x: tf.Tensor4D, opts: ForwardOptions = {}): ForwardResult {
    const decode = opts.decodeClasses;
    checkDecodeClasses(decode, x.shape[0]);
    return tf.tidy(() => {
      const dc = asInt(decode);
      const trace = this.encoder.forward(x, { gates: this.method === 'lrp' && dc !== undefined });
      const out: ForwardResult = {};
      const pooled = trace.features.mean([1, 2]) as tf.Tensor2D;
      if (opts.pooled) out.pooled = pooled;
      if (this.head) out.logits = this.tagLogits(pooled);
      const seg = opts.tagsOnly && this.unet ? undefined : this.decodeTrace(trace, dc);
      if (seg) out.seg = seg;
      return out as tf.TensorContainerObject;
    }) as ForwardResult;
  }

  /** The tag head on pooled features [N, Cf]. */
  private tagLogits(pooled: tf.Tensor2D): tf.Tensor2D {
    return pooled.matMul(this.head!.kernel).add(this.head!.bias) as tf.Tensor2D;
  }

  /** The decoders' part of forward: per-pixel logits, at the input's size, from the encoder's trace (undefined: nothing to decode). */
  private decodeTrace(trace: EncoderTrace, dc: tf.Tensor2D | undefined): tf.Tensor4D | undefined {
    const [, h, w] = trace.input.shape;
    if (this.method === 'lrp' && dc && this.head) {
      const depth = this.cfg.lrpDepth;
      const stop = depth > 0 ? { layer: this.downsamplingLayers[depth - 1]!, activation: trace.skips[depth - 1]! } : undefined;
      const heat = lrpDecode(this.encoder, { ...trace, featureShape: trace.features.shape }, this.head.kernel as tf.Tensor2D, dc, stop, this.cfg.lrpRule ?? 'lrp0', this.cfg.lrpPool ?? 'winner');
      let seg = depth > 0 ? resizeBilinearLinear(heat, h, w) : heat;
      if (this.cfg.lrpTopRelevance) {
        // relevance per input pixel at both depths: the top's R = A ⊙ w_c / (fh·fw) per feature
        // cell spreads over (stop cells per feature cell) cells of the stop's map
        const [, hs, ws] = heat.shape;
        seg = seg.add(gradcamDecode(trace.features, this.head.kernel as tf.Tensor2D, dc, h, w, false).div(hs * ws));
      }
      return seg;
    }
    if (this.method === 'gradcam' && dc && this.head) return gradcamDecode(trace.features, this.head.kernel as tf.Tensor2D, dc, h, w, this.cfg.gradcamRelu);
    if (this.unet) {
      const all = this.unet.forward(trace);
      return dc ? selectChannels(all, dc) : all;
    }
    return undefined;
  }

  encode(x: tf.Tensor4D): EncodedBatch {
    const kept = tf.tidy(() => {
      // LRP's gates always: the classes are not known yet, and the tag logits do not depend on them
      const trace = this.encoder.forward(x, { gates: this.method === 'lrp' });
      const logits = this.head ? this.tagLogits(trace.features.mean([1, 2]) as tf.Tensor2D) : undefined;
      return { trace, ...(logits ? { logits } : {}) } as unknown as tf.TensorContainerObject;
    }) as unknown as { trace: EncoderTrace; logits?: tf.Tensor2D };
    return { trace: kept.trace, ...(kept.logits ? { logits: kept.logits } : {}) };
  }

  decodeEncoded(enc: EncodedBatch, decodeClasses?: tf.Tensor2D): tf.Tensor4D {
    const trace = enc.trace as EncoderTrace;
    checkDecodeClasses(decodeClasses, trace.input.shape[0]);
    const seg = tf.tidy(() => this.decodeTrace(trace, asInt(decodeClasses)));
    if (!seg) throw new Error(`a ${this.method} model decodes only given classes`);
    return seg;
  }

  disposeEncoded(enc: EncodedBatch): void {
    const t = enc.trace as EncoderTrace;
    // the input belongs to the caller; the lists share tensors (dispose is idempotent)
    tf.dispose([t.features, ...t.constants.filter((c): c is tf.Tensor4D => c !== null), ...t.skips.filter((s) => s !== t.input), ...t.layerInputs.filter((s) => s !== t.input), ...(enc.logits ? [enc.logits] : [])]);
  }

  getWeights(): WeightMap {
    const out: WeightMap = {};
    for (const [key, v] of Object.entries(this.vars)) out[key] = { shape: [...v.shape], data: new Float32Array(v.dataSync()) };
    return out;
  }

  setWeights(weights: WeightMap, opts: { allowMissing?: boolean } = {}): void {
    for (const [key, entry] of Object.entries(weights)) {
      const v = this.vars[key];
      if (!v) throw new Error(`unknown weight '${key}' for this ${this.method} model`);
      const size = v.shape.reduce((a, b) => a * b, 1);
      if (entry.shape.length !== v.shape.length || entry.shape.some((d, i) => d !== v.shape[i]) || entry.data.length !== size) {
        throw new Error(
          `weight '${key}' has shape [${entry.shape.join(', ')}] (${entry.data.length} values), the model needs [${v.shape.join(', ')}]`,
        );
      }
    }
    if (!opts.allowMissing) {
      const missing = Object.keys(this.vars).filter((key) => !(key in weights));
      if (missing.length > 0)
        throw new Error(`missing weights: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`);
    }
    for (const [key, entry] of Object.entries(weights)) {
      const v = this.vars[key]!;
      tf.tidy(() => v.assign(tf.tensor(entry.data, v.shape, 'float32')));
    }
  }

  config(): SegmenterConfig {
    return structuredClone(this.cfg);
  }

  dispose(): void {
    this.encoder.dispose();
    this.head?.kernel.dispose();
    this.head?.bias.dispose();
    this.unet?.dispose();
  }
}

/** Picks channels per image: [N, H, W, C] × decodeClasses [N, K] → [N, H, W, K] (-1 → zeros). */
function selectChannels(all: tf.Tensor4D, decodeClasses: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = all.shape;
    const k = decodeClasses.shape[1];
    const oneHot = tf
      .oneHot(decodeClasses.reshape([-1]) as tf.Tensor1D, c)
      .toFloat()
      .reshape([n, k, c]);
    return tf.matMul(all.reshape([n, h * w, c]), oneHot, false, true).reshape([n, h, w, k]) as tf.Tensor4D;
  });
}
