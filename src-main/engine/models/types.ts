/**
 * Shapes of the segmentation models: an architecture is plain JSON (`SegmenterConfig`), the
 * parameters are a flat name → float32 array map (`WeightMap`); together they are a saved model.
 */
import type * as tf from '@tensorflow/tfjs';

export type SegMethod = 'lrp' | 'gradcam' | 'unet' | 'mtunet';

/** Named LRP rule sets of the decoder (what each means: models/lrp.ts). Kept here, free of TF.js, for the CLI. */
export type LrpRuleName = 'lrp0' | 'epsilon' | 'zplus' | 'alphabeta' | 'composite';
export const LRP_RULES: readonly LrpRuleName[] = ['lrp0', 'epsilon', 'zplus', 'alphabeta', 'composite'];
export const DEFAULT_LRP_RULE: LrpRuleName = 'lrp0';
/**
 * How the LRP decoder passes relevance down a max-pool (models/lrp.ts): 'winner' to the window's
 * largest input (the switch mask: Gradient×Input), 'proportional' shared by the window's inputs in
 * proportion to their positive activations (the pool treated as a sum-pool under the z+ rule).
 */
export type LrpPoolRule = 'winner' | 'proportional';
export const LRP_POOL_RULES: readonly LrpPoolRule[] = ['winner', 'proportional'];
export const DEFAULT_LRP_POOL: LrpPoolRule = 'winner';
/**
 * New LRP models read the relevance at two depths (SegmenterConfig.lrpTopRelevance): MSRC dev-val,
 * 3 seeds, with the tag head at lr / 10, +0.054 ± 0.013 mIoU over the stop alone (docs/EXPERIMENTS.md).
 * A saved config without the key is read as false (what it computed).
 */
export const DEFAULT_LRP_TOP_RELEVANCE = true;

/**
 * One layer of a plain feed-forward conv encoder. Activations are separate layers (not a conv
 * option) because the LRP decoder gates at activations and transposes at convolutions.
 */
export type EncoderLayer =
  | {
      type: 'conv';
      name: string;
      filters: number;
      kernel: [number, number];
      strides: [number, number];
      padding: 'same' | 'valid';
    }
  | { type: 'relu'; name: string }
  | { type: 'leaky'; name: string; alpha: number }
  /** Non-overlapping max-pool (stride = window), the only kind the switch masks describe. */
  | { type: 'maxpool'; name: string; pool: [number, number] }
  /** Explicit zero padding [[top, bottom], [left, right]] (Keras ZeroPadding2D). */
  | { type: 'pad'; name: string; pad: [[number, number], [number, number]] };

export interface EncoderSpec {
  /** 'small': VGG-style, trained from scratch; 'keras': imported from a TF.js layers model folder. */
  family: 'small' | 'keras';
  inputChannels: number;
  layers: EncoderLayer[];
  /** Where pretrained weights came from (informational; loading never reads it again). */
  source?: string;
}

/** Whether a layer downsamples: a max-pool, or a conv strided on either axis (the LRP depths' and U-Net's stages). */
export function downsamples(layer: EncoderLayer): boolean {
  return layer.type === 'maxpool' || (layer.type === 'conv' && (layer.strides[0] > 1 || layer.strides[1] > 1));
}

/**
 * The encoder's total downsampling factor along one axis (0: height, 1: width), the product of
 * conv strides and pool sizes: model input sides are multiples of it. The one definition behind
 * Encoder.stride, trainer.ts encoderStride and the ONNX export's `stride` metadata.
 */
export function specStride(spec: Pick<EncoderSpec, 'layers'>, axis: 0 | 1 = 0): number {
  return spec.layers.reduce((s, l) => s * (l.type === 'conv' ? l.strides[axis] : l.type === 'maxpool' ? l.pool[axis] : 1), 1);
}

export interface SegmenterConfig {
  format: 'heatseg-segmenter';
  version: 1;
  method: SegMethod;
  /** Number of classes C of the tag head (and of U-Net's output channels). */
  classes: number;
  /** Nominal training input size (square); forward accepts any size divisible by the encoder stride. */
  inputSize: number;
  encoder: EncoderSpec;
  /** Grad-CAM only: ReLU on the class activation map before upsampling (default false). */
  gradcamRelu: boolean;
  /**
   * LRP only: how many downsampling stages above the input the decoder stops (0 = input pixels,
   * Gradient×Input; d > 0 = relevance at the input of the d-th downsampling layer, upsampled
   * bilinearly to input size — smoother maps, cheaper decoder).
   */
  lrpDepth: number;
  /** LRP only: the rule set of the decoder's conv layers (see lrp.ts; absent or 'lrp0' = Gradient×Input). */
  lrpRule?: LrpRuleName;
  /** LRP only: the max-pool rule (absent or 'winner' = the switch mask, Gradient×Input). */
  lrpPool?: LrpPoolRule;
  /**
   * LRP only: also read the relevance at the last feature map (R = A ⊙ w_c / (h·w), 1/16 for
   * darknet-tiny) and add it to the stop's, both as relevance per input pixel: the explanation at
   * two depths of the same decoder. (The top term is Grad-CAM's map without the ReLU, scaled.)
   */
  lrpTopRelevance?: boolean;
  /** U-Net only: 3×3 conv+ReLU layers per decoder stage. */
  unetConvsPerStage: number;
  /** Seed of the random initialisation of every parameter not loaded from a file. */
  seed: number;
}

export interface WeightEntry {
  shape: number[];
  data: Float32Array;
}
export type WeightMap = Record<string, WeightEntry>;

export interface ForwardOptions {
  /**
   * [N, K] int32 class indices to decode per image; -1 marks a padding slot, which yields an
   * all-zero channel that losses and argmax must mask (see `maskPaddedChannels` in losses.ts).
   * Indices are not range-checked (that would need a GPU→CPU read); one ≥ C also decodes to zeros.
   * LRP / Grad-CAM produce `seg` only when this is given; U-Net always produces `seg` (all C
   * channels without it, the selected K channels with it).
   */
  decodeClasses?: tf.Tensor2D;
  /** Only the tag logits are wanted (tag-only images): U-Nets skip their decoder. */
  tagsOnly?: boolean;
  /** Also return the globally average-pooled encoder features (the tag head's input). */
  pooled?: boolean;
}

export interface ForwardResult {
  /** [N, C] tag logits (absent for plain U-Net). */
  logits?: tf.Tensor2D;
  /** [N, H, W, K] per-pixel segmentation logits for the decoded classes (K = C for U-Net without decodeClasses). */
  seg?: tf.Tensor4D;
  /** [N, Cf] average-pooled encoder features (only with `pooled`). */
  pooled?: tf.Tensor2D;
}

/** An encoder pass kept for decoding (Segmenter.encode). */
export interface EncodedBatch {
  /** The encoder's trace (input, features, gates, switch masks, skips). */
  readonly trace: unknown;
  /** [N, C] tag logits (absent for plain U-Net). */
  readonly logits?: tf.Tensor2D;
}

export interface Segmenter {
  readonly method: SegMethod;
  readonly classes: number;
  readonly inputSize: number;
  /** All trainable variables; the encoder's are shared by the tied LRP decoder, so their gradients add. */
  variables(): tf.Variable[];
  /** The same variables by weight name (prefixes 'encoder/', 'head/', 'unet/'), e.g. for per-group learning rates. */
  namedVariables(): Record<string, tf.Variable>;
  /** Caller owns (and must dispose) the returned tensors. */
  forward(x: tf.Tensor4D, opts?: ForwardOptions): ForwardResult;
  /**
   * Inference in two halves, for choosing the classes to decode from the tag logits first without
   * running the encoder twice: `encode` keeps the encoder's pass (with LRP's gates) and the tag
   * logits; `decodeEncoded` gives what `forward(x, { decodeClasses })` gives as `seg`, from it.
   * Same values as forward. The caller disposes the pass with `disposeEncoded` (and owns `seg`).
   */
  encode(x: tf.Tensor4D): EncodedBatch;
  decodeEncoded(enc: EncodedBatch, decodeClasses?: tf.Tensor2D): tf.Tensor4D;
  disposeEncoded(enc: EncodedBatch): void;
  getWeights(): WeightMap;
  /** Refuses unknown names and shape mismatches; refuses missing names unless `allowMissing`. */
  setWeights(weights: WeightMap, opts?: { allowMissing?: boolean }): void;
  /** JSON-serialisable; `buildSegmenter(config())` + `setWeights(getWeights())` reproduces the model. */
  config(): SegmenterConfig;
  dispose(): void;
}
