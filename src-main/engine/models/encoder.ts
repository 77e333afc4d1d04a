/**
 * Plain conv encoder over explicit tf.Variables (one per weight), shared by the classifier
 * forward pass, the tied LRP decoder and the U-Net skips.
 */
import * as tf from '@tensorflow/tfjs';
import { type EncoderLayer, type EncoderSpec, specStride } from './types.js';
import { heNormal, maxPoolLazySwitched, maxPoolSwitched, noGrad, switchMask } from './ops.js';

export type Shape4 = [number, number, number, number];

export interface EncoderTrace {
  /** The input image x0 (bottom of the LRP decoder). */
  input: tf.Tensor4D;
  /** Last feature map A (input of GAP + dense). */
  features: tf.Tensor4D;
  /** Input shape of every layer (output shapes of transposed convolutions, crops). */
  inputShapes: Shape4[];
  /**
   * Per layer, only when gates were asked for (the LRP decoder reads them): the gate G (relu /
   * leaky layers) or the max-pool switch mask M (maxpool layers); null elsewhere. Constants for the gradient.
   */
  constants: (tf.Tensor4D | null)[];
  /** The map entering each downsampling layer, shallowest first (U-Net skips). */
  skips: tf.Tensor4D[];
  /** The tensor entering every layer (LRP rules other than LRP-0 need activations and pre-activations). */
  layerInputs: tf.Tensor4D[];
}

export interface SmallEncoderOptions {
  /** Output channels per block; every block but the last ends in a 2×2 max-pool. */
  channels?: number[];
  /** 3×3 conv + ReLU layers per block. */
  convsPerBlock?: number;
  activation?: 'relu' | 'leaky';
  alpha?: number;
}

/**
 * VGG-style encoder for training from scratch. Default 16-32-64-128 with one conv per block, the
 * "VGG-lite" of TFJS-NOTES.md (a train step of a few hundred ms at 128 px on wasm), and no pool
 * after the last block so the last feature map is at 1/8 resolution (Grad-CAM and U-Net gain a level).
 */
export function smallEncoderSpec(opts: SmallEncoderOptions = {}): EncoderSpec {
  const channels = opts.channels ?? [16, 32, 64, 128];
  const convs = opts.convsPerBlock ?? 1;
  if (channels.length === 0 || channels.some((c) => !Number.isInteger(c) || c <= 0)) {
    throw new Error(`small encoder: channels must be positive integers, got ${JSON.stringify(channels)}`);
  }
  if (!Number.isInteger(convs) || convs < 1) throw new Error(`small encoder: convsPerBlock must be ≥ 1, got ${convs}`);
  const layers: EncoderLayer[] = [];
  channels.forEach((filters, b) => {
    for (let m = 0; m < convs; m++) {
      const id = `block${b + 1}_conv${m + 1}`;
      layers.push({ type: 'conv', name: id, filters, kernel: [3, 3], strides: [1, 1], padding: 'same' });
      layers.push(
        opts.activation === 'leaky' ? { type: 'leaky', name: `${id}_act`, alpha: opts.alpha ?? 0.1 } : { type: 'relu', name: `${id}_act` },
      );
    }
    if (b < channels.length - 1) layers.push({ type: 'maxpool', name: `block${b + 1}_pool`, pool: [2, 2] });
  });
  return { family: 'small', inputChannels: 3, layers };
}

interface ConvParams {
  kernel: tf.Variable;
  bias: tf.Variable;
}

export class Encoder {
  readonly spec: EncoderSpec;
  /** Conv parameters by layer name. */
  readonly convs = new Map<string, ConvParams>();
  /** Channels of the last feature map. */
  readonly outChannels: number;
  /** Total downsampling factor (specStride, along the height); input sizes must be divisible by it. */
  readonly stride: number;

  constructor(spec: EncoderSpec, seed: number) {
    validateSpec(spec);
    this.spec = spec;
    let channels = spec.inputChannels;
    spec.layers.forEach((layer, i) => {
      if (layer.type === 'conv') {
        const [kh, kw] = layer.kernel;
        const fanIn = kh * kw * channels;
        const next = spec.layers[i + 1];
        const alpha = next?.type === 'leaky' ? next.alpha : 0;
        this.convs.set(layer.name, {
          kernel: tf.variable(heNormal([kh, kw, channels, layer.filters], fanIn, seed + 7919 * (i + 1), alpha)),
          bias: tf.variable(tf.zeros([layer.filters])),
        });
        channels = layer.filters;
      }
    });
    this.outChannels = channels;
    this.stride = specStride(spec);
  }

  namedVariables(prefix = 'encoder/'): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const [name, p] of this.convs) {
      out[`${prefix}${name}/kernel`] = p.kernel;
      out[`${prefix}${name}/bias`] = p.bias;
    }
    return out;
  }

  conv(name: string): ConvParams {
    const p = this.convs.get(name);
    if (!p) throw new Error(`encoder has no conv layer '${name}'`);
    return p;
  }

  /**
   * Runs the encoder, keeping what the decoders need. Allocates tensors in the caller's scope:
   * call inside tf.tidy (or a gradient function).
   */
  forward(x: tf.Tensor4D, opts: { gates: boolean }): EncoderTrace {
    if (x.shape[3] !== this.spec.inputChannels) {
      throw new Error(`encoder expects ${this.spec.inputChannels} input channels, got ${x.shape[3]}`);
    }
    const inputShapes: Shape4[] = [];
    const constants: (tf.Tensor4D | null)[] = [];
    const skips: tf.Tensor4D[] = [];
    const layerInputs: tf.Tensor4D[] = [];
    let h = x;
    for (const layer of this.spec.layers) {
      inputShapes.push([...h.shape]);
      layerInputs.push(h);
      let constant: tf.Tensor4D | null = null;
      const cur = h;
      switch (layer.type) {
        case 'conv': {
          if (layer.strides[0] > 1 || layer.strides[1] > 1) skips.push(cur);
          const p = this.conv(layer.name);
          h = tf.fused.conv2d({
            x: cur,
            filter: p.kernel as tf.Tensor4D,
            strides: layer.strides,
            pad: layer.padding,
            bias: p.bias,
          });
          break;
        }
        case 'relu':
          if (opts.gates) constant = noGrad(() => tf.step(cur) as tf.Tensor4D);
          h = tf.relu(cur);
          break;
        case 'leaky':
          if (opts.gates) constant = noGrad(() => tf.step(cur, layer.alpha) as tf.Tensor4D);
          h = tf.leakyRelu(cur, layer.alpha);
          break;
        case 'maxpool': {
          const [kh, kw] = layer.pool;
          if (cur.shape[1] % kh !== 0 || cur.shape[2] % kw !== 0) {
            throw new Error(
              `input ${x.shape[1]}×${x.shape[2]} does not divide evenly at max-pool '${layer.name}' ` +
                `(${cur.shape[1]}×${cur.shape[2]} by ${kh}×${kw}); use a multiple of ${this.stride}`,
            );
          }
          skips.push(cur);
          if (opts.gates) {
            // the LRP decoder routes relevance through these switches: made now, shared with the gradient
            const mask = noGrad(() => switchMask(cur, kh, kw));
            constant = mask;
            h = maxPoolSwitched(cur, mask, kh, kw);
          } else h = maxPoolLazySwitched(cur, kh, kw);
          break;
        }
        case 'pad': {
          const [[t, b], [l, r]] = layer.pad;
          h = tf.pad(cur, [
            [0, 0],
            [t, b],
            [l, r],
            [0, 0],
          ]);
          break;
        }
      }
      constants.push(constant);
    }
    return { input: x, features: h, inputShapes, constants, skips, layerInputs };
  }

  dispose(): void {
    for (const p of this.convs.values()) {
      p.kernel.dispose();
      p.bias.dispose();
    }
    this.convs.clear();
  }
}

function validateSpec(spec: EncoderSpec): void {
  if (!Number.isInteger(spec.inputChannels) || spec.inputChannels < 1) {
    throw new Error(`encoder: inputChannels must be a positive integer, got ${spec.inputChannels}`);
  }
  const names = new Set<string>();
  const positive = (v: number) => Number.isInteger(v) && v > 0;
  for (const layer of spec.layers) {
    if (names.has(layer.name)) throw new Error(`encoder: duplicate layer name '${layer.name}'`);
    names.add(layer.name);
    switch (layer.type) {
      case 'conv':
        if (!positive(layer.filters) || !layer.kernel.every(positive) || !layer.strides.every(positive)) {
          throw new Error(`encoder: conv '${layer.name}' needs positive integer filters, kernel and strides`);
        }
        break;
      case 'maxpool':
        if (!layer.pool.every(positive)) throw new Error(`encoder: max-pool '${layer.name}' needs a positive pool size`);
        break;
      case 'leaky':
        if (!(layer.alpha >= 0 && layer.alpha < 1)) throw new Error(`encoder: leaky ReLU '${layer.name}' needs 0 ≤ alpha < 1`);
        break;
      case 'pad':
        if (!layer.pad.flat().every((v) => Number.isInteger(v) && v >= 0)) {
          throw new Error(`encoder: padding '${layer.name}' must be non-negative integers`);
        }
        break;
      case 'relu':
        break;
    }
  }
  if (!spec.layers.some((l) => l.type === 'conv')) throw new Error('encoder: no conv layer');
}
