/**
 * One training step (crops, forward + backward; the optimizer excluded) under tf.profile: the FLOPs the
 * executed convolutions and matrix products actually do (from each kernel's input/output shapes),
 * and time per kernel name. `bench speed` divides its step times by these FLOPs, so GFLOP/s
 * compares methods on the work they really do; `--profile` prints the per-op table.
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../engine/data.js';
import type { Segmenter } from '../engine/models/index.js';
import { localStep } from '../engine/parallel.js';

export interface OpProfile {
  name: string;
  calls: number;
  ms: number;
  flops: number;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Multiply-add FLOPs (2 per MAC) of one kernel call, from its shapes; 0 for kernels that are not convs / matmuls. */
export function kernelFlops(name: string, inputs: number[][], outputs: number[][]): number {
  const out = outputs[0] ?? [];
  switch (name) {
    case 'Conv2D':
    case 'FusedConv2D': {
      const f = inputs[1]!; // [kh, kw, ci, co]
      return 2 * prod(out) * f[0]! * f[1]! * f[2]!;
    }
    case 'Conv2DBackpropInput': {
      const dy = inputs[0]!, f = inputs[1]!;
      return 2 * prod(dy) * f[0]! * f[1]! * f[2]!;
    }
    case 'Conv2DBackpropFilter': {
      const dy = inputs[1]!; // out = filter [kh, kw, ci, co]
      return 2 * prod(dy) * out[0]! * out[1]! * out[2]!;
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D': {
      const f = inputs[1]!;
      return 2 * prod(out) * f[0]! * f[1]!;
    }
    case 'BatchMatMul':
    case '_FusedMatMul': {
      const a = inputs[0]!, b = inputs[1]!;
      const batch = prod(out.slice(0, -2)) || 1;
      const k = Math.round(Math.sqrt((prod(a) * prod(b)) / (batch * prod(out))));
      return 2 * prod(out) * k;
    }
    default:
      return 0;
  }
}

/** Profiles one forward + backward of a batch like the trainer's (same shapes, decode lists and losses). */
export async function profileStep(
  model: Segmenter,
  data: Dataset,
  batch: number,
  size: number,
  opts: {
    /**
     * Give every variable a new tensor (same values) after the warm-up, as the optimizer's update
     * does each training step: what is cached per weight tensor (XNNPACK's packed filters, the
     * flipped kernels of the input gradient) is built again inside the profiled step.
     */
    freshWeights?: boolean;
  } = {},
): Promise<{ flops: number; ms: number; ops: OpProfile[] }> {
  const usesTags = model.method !== 'unet';
  const decodes = model.method === 'lrp' || model.method === 'gradcam';
  const idx = data.samples.map((_, i) => i);
  const labelled = idx.filter((i) => data.samples[i]!.labels);
  const tagged = idx.filter((i) => !data.samples[i]!.labels);
  const nLab = usesTags ? Math.max(1, Math.floor(batch / 2)) : batch;
  const lab = Array.from({ length: nLab }, (_, j) => labelled[j % labelled.length]!);
  const tag = usesTags ? Array.from({ length: batch - nLab }, (_, j) => tagged[j % tagged.length]!) : [];
  const draw = { lab, tag, labSeeds: lab.map((_, j) => j + 1), tagSeeds: tag.map((_, j) => j + 101), segWeight: 1 };
  const spec = { decodes, usesTags, heatNorm: 'pixel' as const, classes: data.classes.length, augment: { maxScale: 1, flip: false, jitter: 0, size } };
  const logScale = tf.variable(tf.scalar(Math.log(decodes ? 1e-3 : 1)), decodes, 'bench/logScale');
  const varList = [...Object.values(model.namedVariables()), logScale];
  const once = async () => {
    const r = await localStep(model, logScale, varList, data.samples, draw, spec);
    tf.dispose(r.grads.filter((g): g is tf.Tensor => g !== null));
  };
  await once(); // warm-up: kernel set-up is not part of a step
  // (a copy of the values: a clone would share the data, and with it what is cached on it)
  if (opts.freshWeights) for (const v of Object.values(model.namedVariables())) tf.tidy(() => v.assign(tf.tensor(v.dataSync(), v.shape, v.dtype)));
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    await once();
    return [];
  });
  const ms = performance.now() - t0;
  logScale.dispose();
  const byName = new Map<string, OpProfile>();
  let flops = 0;
  const backend = tf.getBackend();
  for (const k of info.kernels) {
    // the profile also lists named scopes around kernels (op wrappers, 'backward'): count kernels only
    if (!tf.getKernel(k.name, backend)) continue;
    const f = kernelFlops(k.name, k.inputShapes, k.outputShapes);
    flops += f;
    const t = await k.kernelTimeMs;
    const e = byName.get(k.name) ?? { name: k.name, calls: 0, ms: 0, flops: 0 };
    e.calls++;
    e.ms += typeof t === 'number' ? t : 0;
    e.flops += f;
    byName.set(k.name, e);
  }
  return { flops, ms, ops: [...byName.values()].sort((a, b) => b.ms - a.ms) };
}
