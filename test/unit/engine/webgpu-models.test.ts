/**
 * Every model family trains correctly on the webgpu backend: the training loss (tag BCE + pixel CE
 * on decoded heatmaps, as trainer.ts builds it) and the gradient of every variable equal the `cpu`
 * backend's at tiny sizes (16–32 px, batch 2). Runs on whatever adapter Dawn finds; in CI that is
 * Chromium's SwiftShader (CPU Vulkan, found by backend.ts/vulkan.ts under /usr/lib/chromium) —
 * slow, hence the tiny sizes. Skips, saying why, where no adapter is found.
 *
 * Covered: LRP-0 gate form at the input (depth 0) and stopped one stage up (bilinear
 * upsampling), with per-pixel heat normalisation and without; Grad-CAM with and without ReLU;
 * U-Net; multi-task U-Net; an imported Keras backbone (zero padding, folded BatchNorm, LeakyReLU,
 * max-pool) decoded by LRP; then the trainer itself (Adam, heat-scale calibration, checkpoint
 * reads) on webgpu against cpu.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendInfo } from '../../../src-main/engine/backend.js';
import type { Dataset, Sample } from '../../../src-main/engine/data.js';
import { heatLogits, segmentationLoss, tagLoss, type HeatNorm } from '../../../src-main/engine/losses.js';
import { createSegmenter, type CreateSegmenterOptions, type Segmenter } from '../../../src-main/engine/models/index.js';
import { DEFAULT_TRAIN, train } from '../../../src-main/engine/trainer.js';

const gpu: BackendInfo | Error = await initBackend('webgpu').catch((e: unknown) => e as Error);
if (gpu instanceof Error) console.warn(`webgpu model tests skipped: ${gpu.message}`);
else console.info(`webgpu model tests on ${gpu.detail}`);
const haveGpu = !(gpu instanceof Error);

const DARKNET = fileURLToPath(new URL('../../../../shared/models/darknet-tiny', import.meta.url));
const haveDarknet = fs.existsSync(path.join(DARKNET, 'model.json'));
if (haveGpu && !haveDarknet) console.warn(`webgpu darknet-tiny test skipped: ${DARKNET}/model.json not found (../shared/models/darknet-tiny from the repo root)`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-webgpu-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const S = 16;
const C = 3;
const tiny = { kind: 'small' as const, channels: [4, 8, 8], convsPerBlock: 1 };

interface Outcome {
  loss: number;
  tag: number;
  seg: number;
  grads: Record<string, Float32Array>;
}

/** One training step's loss and gradients, built like trainer.ts does (tag BCE + heat CE). */
async function lossAndGrads(model: Segmenter, size: number, heatNorm: HeatNorm): Promise<Outcome> {
  const decodes = model.method === 'lrp' || model.method === 'gradcam';
  const x = tf.randomUniform([2, size, size, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
  // image 0 decodes classes 0 and 2, image 1 class 1 (+ a padding slot)
  const dc = decodes ? tf.tensor2d([0, 2, 1, -1], [2, 2], 'int32') : null;
  const labels = new Int32Array(2 * size * size);
  for (let i = 0; i < labels.length; i++) {
    const img = i < size * size ? 0 : 1;
    const p = i % (size * size);
    // every third pixel unlabelled; decoders: position in the decode list; U-Nets: class index
    labels[i] = p % 3 === 0 ? -1 : decodes ? (img === 0 ? p % 2 : 0) : img === 0 ? [0, 2][p % 2]! : 1;
  }
  const yPix = tf.tensor3d(labels, [2, size, size], 'int32');
  const yTag = tf.tensor2d([1, 0, 1, 0, 1, 0], [2, C]);
  const named = Object.entries(model.namedVariables());
  const vars = named.map(([, v]) => v);
  const parts: { tag: tf.Scalar | null; seg: tf.Scalar | null } = { tag: null, seg: null };
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forward(x, dc ? { decodeClasses: dc } : {});
    const scaled = decodes ? heatLogits(out.seg!, 3, heatNorm, dc ?? undefined) : out.seg!;
    parts.seg = tf.keep(segmentationLoss(scaled, yPix, dc ?? undefined));
    if (!out.logits) return parts.seg;
    parts.tag = tf.keep(tagLoss(out.logits, yTag));
    return parts.tag.add(parts.seg.mul(0.5)) as tf.Scalar;
  }, vars);
  const read = async (t: tf.Tensor | null) => (t ? (await t.data())[0]! : 0);
  const outcome: Outcome = { loss: await read(value), tag: await read(parts.tag), seg: await read(parts.seg), grads: {} };
  for (const [k, v] of named) outcome.grads[k] = (await grads[v.name]!.data()) as Float32Array;
  tf.dispose([value, x, yPix, yTag, ...(dc ? [dc] : []), ...Object.values(grads), ...[parts.tag, parts.seg].filter((t): t is tf.Scalar => t !== null)]);
  return outcome;
}

function relErr(a: Float32Array, b: Float32Array): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Builds the model once (same weights), runs the step on cpu and on webgpu, compares. */
async function compare(opts: CreateSegmenterOptions, heatNorm: HeatNorm = 'pixel'): Promise<{ worst: number; name: string }> {
  await initBackend('cpu');
  const model = await createSegmenter(opts);
  try {
    const ref = await lossAndGrads(model, opts.inputSize, heatNorm);
    await initBackend('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    const got = await lossAndGrads(model, opts.inputSize, heatNorm);
    expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-5);
    expect(Math.abs(got.tag - ref.tag)).toBeLessThanOrEqual(1e-5 * Math.abs(ref.tag));
    expect(Math.abs(got.seg - ref.seg)).toBeLessThanOrEqual(1e-5 * Math.abs(ref.seg));
    let worst = 0, name = '';
    expect(Object.keys(got.grads).sort()).toEqual(Object.keys(ref.grads).sort());
    for (const [k, g] of Object.entries(ref.grads)) {
      // a gradient that is identically zero on both would hide a broken op: the models' every
      // variable takes part in this loss
      expect(g.some((v) => v !== 0), `${k}: cpu gradient is all zero`).toBe(true);
      const e = relErr(got.grads[k]!, g);
      if (e > worst) [worst, name] = [e, k];
    }
    expect(worst, `worst gradient ${name}`).toBeLessThan(1e-4);
    console.info(`${opts.method}${opts.encoder?.kind === 'pretrained' ? ' (imported backbone)' : ''}: loss ${ref.loss.toPrecision(7)} vs ${got.loss.toPrecision(7)}, worst gradient relative error ${worst.toExponential(1)} (${name})`);
    return { worst, name };
  } finally {
    await initBackend('cpu');
    model.dispose();
  }
}

// SwiftShader compiles every shader on first use: minutes of wall time on a loaded machine, seconds of CPU
describe.skipIf(!haveGpu)('webgpu gradients equal cpu gradients, per model family', { timeout: 300_000 }, () => {
  it('LRP-0 to the input pixels (depth 0), per-pixel and raw heat normalisation', async () => {
    await compare({ method: 'lrp', classes: C, inputSize: S, encoder: tiny, lrpDepth: 0 });
    await compare({ method: 'lrp', classes: C, inputSize: S, encoder: tiny, lrpDepth: 0 }, 'none');
  });

  it('LRP-0 stopped one stage above the input (bilinear upsampling)', async () => {
    await compare({ method: 'lrp', classes: C, inputSize: S, encoder: tiny, lrpDepth: 1 });
  });

  it('Grad-CAM, with and without ReLU on the map', async () => {
    await compare({ method: 'gradcam', classes: C, inputSize: S, encoder: tiny });
    await compare({ method: 'gradcam', classes: C, inputSize: S, encoder: tiny, gradcamRelu: true });
  });

  it('U-Net and multi-task U-Net', async () => {
    await compare({ method: 'unet', classes: C, inputSize: S, encoder: tiny });
    await compare({ method: 'mtunet', classes: C, inputSize: S, encoder: tiny });
  });

  it('imported Keras backbone (zero padding, folded BatchNorm, LeakyReLU, max-pool) under LRP', async () => {
    await initBackend('cpu');
    const dir = await saveLeakyBackbone(path.join(tmp, 'leaky'));
    await compare({ method: 'lrp', classes: C, inputSize: S, encoder: { kind: 'pretrained', path: dir }, lrpDepth: 0 });
    await compare({ method: 'mtunet', classes: C, inputSize: S, encoder: { kind: 'pretrained', path: dir } });
  });

  it.skipIf(!haveDarknet)('darknet-tiny (../shared/models/darknet-tiny: 15 convs, LeakyReLU 0.1, 4 pools) under LRP at 16 px', async () => {
    await compare({ method: 'lrp', classes: C, inputSize: 16, encoder: { kind: 'pretrained', path: DARKNET }, lrpDepth: 0 });
  });

  it('the trainer runs on webgpu (Adam with explicit epsilon, async reads) and follows the cpu run', async () => {
    const data = tinyDataset();
    const cfg = { ...DEFAULT_TRAIN, epochs: 2, size: S, batch: 4, warmupSteps: 0, augment: { maxScale: 1, flip: false, jitter: 0 } };
    const run = async (backend: 'cpu' | 'webgpu') => {
      await initBackend(backend);
      const model = await createSegmenter({ method: 'lrp', classes: C, inputSize: S, encoder: tiny, lrpDepth: 0, seed: 3 });
      const losses: number[] = [];
      const result = await train(model, data, cfg, { onEvent: (e) => void (e.type === 'step' && losses.push(e.loss)) });
      // the checkpoint path: synchronous weight reads right after training
      const w = model.getWeights();
      model.dispose();
      return { losses, heatScale: result.heatScale, w };
    };
    const ref = await run('cpu');
    const got = await run('webgpu');
    await initBackend('cpu');
    expect(got.losses).toHaveLength(ref.losses.length);
    expect(ref.losses.length).toBe(4);
    got.losses.forEach((l, i) => expect(Math.abs(l - ref.losses[i]!) / ref.losses[i]!).toBeLessThan(1e-4));
    expect(Math.abs(got.heatScale - ref.heatScale) / ref.heatScale).toBeLessThan(1e-4);
    for (const [k, v] of Object.entries(ref.w)) expect(relErr(got.w[k]!.data, v.data), k).toBeLessThan(1e-3);
  });
});

/** 8 tagged images, half with scribbles; random pixels (the loss, not the task, is under test). */
function tinyDataset(): Dataset {
  const r = mulberry(5);
  const samples: Sample[] = Array.from({ length: 8 }, (_, i) => {
    const tags = [i % C, (i + 1) % C].sort((a, b) => a - b);
    const labels = i % 2 === 0 ? Uint8Array.from({ length: S * S }, (_, p) => (p % 5 === 0 ? tags[p % 2]! : 255)) : null;
    return { id: String(i), rgb: Uint8Array.from({ length: S * S * 3 }, () => Math.floor(r() * 256)), width: S, height: S, tags, labels, origWidth: S, origHeight: S };
  });
  return { classes: ['a', 'b', 'c'], samples };
}

function mulberry(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A Darknet-style Keras classifier (ZeroPadding → conv + BN → LeakyReLU(0.1) → max-pool → conv +
 * BN → LeakyReLU → classifier), saved as a TF.js layers model folder like darknet.test.ts does.
 */
async function saveLeakyBackbone(dir: string): Promise<string> {
  const input = tf.input({ shape: [S, S, 3], name: 'img' });
  const layers: tf.layers.Layer[] = [
    tf.layers.zeroPadding2d({ padding: 1, name: 'zp' }),
    tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'valid', useBias: false, name: 'c1', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
    tf.layers.batchNormalization({ name: 'bn1', epsilon: 1e-3 }),
    tf.layers.leakyReLU({ alpha: 0.1, name: 'lr1' }),
    tf.layers.maxPooling2d({ poolSize: 2, name: 'mp1' }),
    tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, name: 'c2', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    tf.layers.batchNormalization({ name: 'bn2', epsilon: 1e-3 }),
    tf.layers.leakyReLU({ alpha: 0.1, name: 'lr2' }),
    tf.layers.conv2d({ filters: 5, kernelSize: 1, useBias: true, name: 'classifier' }),
    tf.layers.globalAveragePooling2d({ name: 'gap' }),
  ];
  let h = input as tf.SymbolicTensor;
  for (const l of layers) h = l.apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: h });
  const rnd = (shape: number[], seed: number, lo: number, hi: number) => tf.randomUniform(shape, lo, hi, 'float32', seed);
  model.getLayer('bn1').setWeights([rnd([4], 1, 0.5, 2), rnd([4], 2, -1, 1), rnd([4], 3, -1, 1), rnd([4], 4, 0.2, 3)]);
  model.getLayer('bn2').setWeights([rnd([6], 5, 0.5, 2), rnd([6], 6, -1, 1), rnd([6], 7, -1, 1), rnd([6], 8, 0.2, 3)]);
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const parts = Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData!];
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(parts.map((p) => Buffer.from(p))));
      const json = { format: 'layers-model', modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
  return dir;
}
