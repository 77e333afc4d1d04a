/**
 * U-Net decoder (baseline of METHOD.md): free weights, one stage per encoder downsampling step,
 * each stage = nearest upsample → concatenate the encoder map of that resolution (the first
 * kernel's input channels are [upsampled, skip]) → 3×3 conv+ReLU (× convsPerStage) with as many
 * channels as the skip; a final 1×1 conv to C logits.
 * Nearest upsample + conv rather than a learned transposed conv: no checkerboard artefacts and
 * fewer weights; the up-sampling is the reshape/broadcast one whose gradient is right on cpu too.
 */
import * as tf from '@tensorflow/tfjs';
import type { EncoderSpec } from './types.js';
import type { EncoderTrace } from './encoder.js';
import { glorotUniform, heNormal, upsampleNearest } from './ops.js';

interface Conv {
  name: string;
  kernel: tf.Variable;
  bias: tf.Variable;
}

export class UNetDecoder {
  /** Decoder stages, deepest first; each a list of 3×3 convs. */
  private readonly stages: Conv[][] = [];
  private readonly out: Conv;

  constructor(spec: EncoderSpec, classes: number, convsPerStage: number, seed: number) {
    if (!Number.isInteger(convsPerStage) || convsPerStage < 1) throw new Error(`U-Net: convsPerStage must be ≥ 1, got ${convsPerStage}`);
    // channels of the map entering each downsampling layer, and of the last feature map
    const skipChannels: number[] = [];
    let channels = spec.inputChannels;
    for (const layer of spec.layers) {
      if (layer.type === 'maxpool') skipChannels.push(channels);
      if (layer.type === 'conv') {
        if (layer.strides[0] > 1 || layer.strides[1] > 1) skipChannels.push(channels);
        channels = layer.filters;
      }
    }
    let s = seed + 104729;
    const conv = (name: string, kh: number, cin: number, cout: number, relu: boolean): Conv => ({
      name,
      kernel: tf.variable(
        relu ? heNormal([kh, kh, cin, cout], kh * kh * cin, s++) : glorotUniform([kh, kh, cin, cout], kh * kh * cin, kh * kh * cout, s++),
      ),
      bias: tf.variable(tf.zeros([cout])),
    });
    for (let j = skipChannels.length - 1; j >= 0; j--) {
      const skipC = skipChannels[j]!;
      const stage: Conv[] = [];
      for (let m = 0; m < convsPerStage; m++) {
        stage.push(conv(`stage${j + 1}_conv${m + 1}`, 3, m === 0 ? channels + skipC : skipC, skipC, true));
      }
      this.stages.push(stage);
      channels = skipC;
    }
    this.out = conv('out', 1, channels, classes, false);
  }

  namedVariables(prefix = 'unet/'): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const c of [...this.stages.flat(), this.out]) {
      out[`${prefix}${c.name}/kernel`] = c.kernel;
      out[`${prefix}${c.name}/bias`] = c.bias;
    }
    return out;
  }

  /** [N, H, W, C] logits at the resolution of the shallowest skip (the input resolution). */
  forward(trace: EncoderTrace): tf.Tensor4D {
    return tf.tidy(() => {
      let h = trace.features;
      this.stages.forEach((stage, s) => {
        const skip = trace.skips[trace.skips.length - 1 - s];
        if (!skip) throw new Error('U-Net: encoder trace has fewer skips than decoder stages');
        const fy = skip.shape[1] / h.shape[1];
        const fx = skip.shape[2] / h.shape[2];
        if (!Number.isInteger(fy) || !Number.isInteger(fx)) {
          throw new Error(`U-Net: cannot upsample ${h.shape[1]}×${h.shape[2]} to skip ${skip.shape[1]}×${skip.shape[2]}`);
        }
        const up = upsampleNearest(h, fy, fx);
        const [first, ...rest] = stage;
        if (!first) throw new Error('U-Net: empty decoder stage');
        // conv over concat([up, skip]) computed as the sum of two convs with the kernel split along
        // its input channels: same weights and result, but no Concat/SplitV (SplitV is slow on wasm)
        const [kh, kw, cin, cout] = first.kernel.shape as [number, number, number, number];
        const cu = up.shape[3];
        const fromUp = tf.conv2d(up, first.kernel.slice([0, 0, 0, 0], [kh, kw, cu, cout]) as tf.Tensor4D, 1, 'same');
        h = tf.fused.conv2d({
          x: skip,
          filter: first.kernel.slice([0, 0, cu, 0], [kh, kw, cin - cu, cout]) as tf.Tensor4D,
          strides: 1,
          pad: 'same',
          bias: first.bias,
        });
        h = tf.relu(h.add(fromUp));
        for (const c of rest) {
          h = tf.fused.conv2d({ x: h, filter: c.kernel as tf.Tensor4D, strides: 1, pad: 'same', bias: c.bias, activation: 'relu' });
        }
      });
      return tf.fused.conv2d({ x: h, filter: this.out.kernel as tf.Tensor4D, strides: 1, pad: 'same', bias: this.out.bias });
    });
  }

  dispose(): void {
    for (const c of [...this.stages.flat(), this.out]) {
      c.kernel.dispose();
      c.bias.dispose();
    }
  }
}
