/**
 * One training step (forward + backward, the optimizer excluded) under tf.profile: the FLOPs the
 * executed convolutions and matrix products actually do (from each kernel's input/output shapes),
 * and time per kernel name. `bench speed` divides its step times by these FLOPs, so GFLOP/s
 * compares methods on the work they really do; `--profile` prints the per-op table.
 */
import * as tf from '@tensorflow/tfjs';
import { type Dataset, augmentedCrop } from '../src-main/engine/data.js';
import { planDecode } from '../src-main/engine/losses.js';
import type { Segmenter } from '../src-main/engine/models/index.js';
import { shardGradients, wholeBatch } from '../src-main/engine/parallel.js';
import { makeStepBatch } from '../src-main/engine/trainer.js';

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
export async function profileStep(model: Segmenter, data: Dataset, batch: number, size: number): Promise<{ flops: number; ms: number; ops: OpProfile[] }> {
  const C = data.classes.length;
  const usesTags = model.method !== 'unet';
  const decodes = model.method === 'lrp' || model.method === 'gradcam';
  const labelled = data.samples.filter((s) => s.labels);
  const tagged = data.samples.filter((s) => !s.labels);
  const nLab = usesTags ? Math.max(1, Math.floor(batch / 2)) : batch;
  const lab = labelled.slice(0, nLab);
  const tag = usesTags ? tagged.slice(0, batch - nLab) : [];
  const aug = { maxScale: 1, flip: false, jitter: 0, size };
  const labCrops = lab.map((s) => augmentedCrop(s, aug, null));
  const tagCrops = tag.map((s) => augmentedCrop(s, aug, null));
  const plan = decodes ? planDecode({ classes: C, tags: lab.map((s) => s.tags), pixelLabels: labCrops.map((c) => c.labels), pixels: size * size }) : null;
  const b = makeStepBatch({ size, classes: C, lab, tag, labCrops, tagCrops, plan, usesTags, segWeight: 1 });
  const logScale = tf.variable(tf.scalar(Math.log(decodes ? 1e-3 : 1)), decodes, 'bench/logScale');
  const named = model.namedVariables();
  const varList = [...Object.values(named), logScale];
  const spec = { decodes, usesTags, heatNorm: 'pixel' as const };
  const once = () => {
    const r = shardGradients(model, logScale, varList, wholeBatch(b), spec);
    tf.dispose(r.grads.filter((g): g is tf.Tensor => g !== null));
  };
  once(); // warm-up: kernel set-up is not part of a step
  const t0 = performance.now();
  const info = await tf.profile(() => {
    once();
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
