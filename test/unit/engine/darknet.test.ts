import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { createSegmenter, Encoder, importKerasBackbone, type EncoderSpec, type WeightMap } from '../../../src-main/engine/models/index.js';

const DARKNET = fileURLToPath(new URL('../../../../shared/models/darknet-tiny', import.meta.url));
const haveDarknet = fs.existsSync(path.join(DARKNET, 'model.json'));
if (!haveDarknet)
  console.warn(`darknet-tiny tests skipped: ${DARKNET}/model.json not found (../shared/models/darknet-tiny from the repo root)`);

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-keras-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** An encoder holding the imported (folded) weights. */
function encoderWith(spec: EncoderSpec, weights: WeightMap): Encoder {
  const enc = new Encoder(spec, 0);
  const vars = enc.namedVariables();
  expect(Object.keys(weights).sort()).toEqual(Object.keys(vars).sort());
  for (const [k, v] of Object.entries(vars)) v.assign(tf.tensor(weights[k]!.data, v.shape));
  return enc;
}

function relErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]! / Math.max(b.abs().max().dataSync()[0]!, 1e-12));
}

/** Saves a tfjs-layers model as model.json + one shard, the layout tfjs converters write. */
async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const parts = Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData!];
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(parts.map((p) => Buffer.from(p))));
      const json = {
        format: 'layers-model',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

function rand(shape: number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  return tf.randomUniform(shape, lo, hi, 'float32', seed);
}

/**
 * input 8×8×3 → ZeroPadding(1) → Conv 3×3 valid + bias → BN → LeakyReLU → MaxPool
 * → Conv 3×3 same (no bias) → BN(center=false) → Activation relu → [extra] → Conv 1×1 classifier → GAP → softmax
 */
function syntheticModel(extra?: tf.layers.Layer): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3], name: 'img' });
  const layers: tf.layers.Layer[] = [
    tf.layers.zeroPadding2d({ padding: 1, name: 'zp' }),
    tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'valid', useBias: true, name: 'c1' }),
    tf.layers.batchNormalization({ name: 'bn1', epsilon: 1e-3 }),
    tf.layers.leakyReLU({ alpha: 0.1, name: 'lr1' }),
    tf.layers.maxPooling2d({ poolSize: 2, name: 'mp1' }),
    tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, name: 'c2' }),
    tf.layers.batchNormalization({ name: 'bn2', center: false, epsilon: 1e-2 }),
    tf.layers.activation({ activation: 'relu', name: 'act2' }),
    ...(extra ? [extra] : []),
    tf.layers.conv2d({ filters: 5, kernelSize: 1, useBias: true, name: 'classifier' }),
    tf.layers.globalAveragePooling2d({ name: 'gap' }),
    tf.layers.activation({ activation: 'softmax', name: 'probs' }),
  ];
  let h = input as tf.SymbolicTensor;
  for (const l of layers) h = l.apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: h });
  let seed = 1;
  const bn1 = model.getLayer('bn1');
  bn1.setWeights([rand([4], seed++, 0.5, 2), rand([4], seed++), rand([4], seed++), rand([4], seed++, 0.2, 3)]);
  const bn2 = model.getLayer('bn2');
  bn2.setWeights([rand([6], seed++, 0.5, 2), rand([6], seed++), rand([6], seed++, 0.1, 2)]);
  model.getLayer('c1').setWeights([rand([3, 3, 3, 4], seed++), rand([4], seed)]);
  return model;
}

describe('Keras layers-model import (synthetic)', () => {
  it('folds BatchNorm (with and without bias / center), keeps padding, drops the classifier, reproduces the features', async () => {
    const model = syntheticModel();
    const dir = path.join(tmp, 'ok');
    await saveLayersModel(model, dir);
    const backbone = await importKerasBackbone(dir);
    expect(backbone.spec.layers.map((l) => `${l.type}:${l.name}`)).toEqual([
      'pad:zp',
      'conv:c1',
      'leaky:lr1',
      'maxpool:mp1',
      'conv:c2',
      'relu:act2',
    ]);
    expect(backbone.dropped).toEqual(['classifier']);
    const enc = encoderWith(backbone.spec, backbone.weights);
    const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const ref = tf.model({ inputs: model.inputs, outputs: model.getLayer('act2').output as tf.SymbolicTensor }).predict(x) as tf.Tensor;
    const ours = tf.tidy(() => enc.forward(x, { gates: false }).features);
    expect(ours.shape).toEqual(ref.shape);
    expect(relErr(ours, ref)).toBeLessThan(1e-5);
    tf.dispose([x, ref, ours]);
    enc.dispose();
    model.dispose();
  });

  it('refuses an unsupported layer, naming the layer and its class', async () => {
    const model = syntheticModel(tf.layers.dropout({ rate: 0.5, name: 'my_dropout' }));
    const dir = path.join(tmp, 'dropout');
    await saveLayersModel(model, dir);
    await expect(importKerasBackbone(dir)).rejects.toThrow(/layer 'my_dropout' \(Dropout\).*unsupported layer class/);
    model.dispose();
  });

  it('refuses a BatchNorm that does not follow a conv, and non-chain topologies', async () => {
    const dir = path.join(tmp, 'bnafterpool');
    const input = tf.input({ shape: [4, 4, 2], name: 'in' });
    const a = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'c' }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.maxPooling2d({ poolSize: 2, name: 'p' }).apply(a) as tf.SymbolicTensor;
    const c = tf.layers.batchNormalization({ name: 'bn_late' }).apply(b) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: c });
    await saveLayersModel(m, dir);
    await expect(importKerasBackbone(dir)).rejects.toThrow(/layer 'bn_late' \(BatchNormalization\).*cannot be folded/);
    m.dispose();

    const dir2 = path.join(tmp, 'branch');
    const i2 = tf.input({ shape: [4, 4, 2], name: 'in2' });
    const c1 = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'left' }).apply(i2) as tf.SymbolicTensor;
    const c2 = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'right' }).apply(i2) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'merge' }).apply([c1, c2]) as tf.SymbolicTensor;
    const m2 = tf.model({ inputs: i2, outputs: sum });
    await saveLayersModel(m2, dir2);
    await expect(importKerasBackbone(dir2)).rejects.toThrow(/layer 'right' \(Conv2D\).*only plain chains/);
    m2.dispose();
  });

  it('names a missing weight shard', async () => {
    const model = syntheticModel();
    const dir = path.join(tmp, 'noshard');
    await saveLayersModel(model, dir);
    fs.rmSync(path.join(dir, 'weights.bin'));
    await expect(importKerasBackbone(dir)).rejects.toThrow(/weight shard 'weights\.bin' listed in .*model\.json is missing/);
    model.dispose();
  });
});

describe.skipIf(!haveDarknet)('darknet-tiny backbone (../shared/models/darknet-tiny)', () => {
  it('imports 15 folded convs with leaky ReLU and 4 pools, and matches the original Keras model at 64×64', async () => {
    const backbone = await importKerasBackbone(DARKNET);
    const convs = backbone.spec.layers.filter((l) => l.type === 'conv');
    expect(convs).toHaveLength(15);
    expect(backbone.spec.layers.filter((l) => l.type === 'maxpool')).toHaveLength(4);
    expect(backbone.spec.layers.filter((l) => l.type === 'leaky').every((l) => l.type === 'leaky' && Math.abs(l.alpha - 0.1) < 1e-6)).toBe(
      true,
    );
    expect(backbone.dropped[0]).toBe('conv2d_16');
    expect(convs.at(-1)).toMatchObject({ name: 'conv2d_15', filters: 128 });

    // reference: the untouched Keras model, loaded by tfjs-layers from the files read here independently
    const json = JSON.parse(fs.readFileSync(path.join(DARKNET, 'model.json'), 'utf8'));
    json.modelTopology.model_config.config.layers[0].config.batch_input_shape = [null, 64, 64, 3];
    const groups = json.weightsManifest as Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
    const bytes = Buffer.concat(groups.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(DARKNET, p)))));
    const keras = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: groups.flatMap((g) => g.weights),
        weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      }),
    );
    const features = tf.model({ inputs: keras.inputs, outputs: keras.getLayer('leaky_re_lu_15').output as tf.SymbolicTensor });
    const x = tf.randomUniform([2, 64, 64, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const ref = features.predict(x) as tf.Tensor;
    const enc = encoderWith(backbone.spec, backbone.weights);
    const ours = tf.tidy(() => enc.forward(x, { gates: false }).features);
    expect(ours.shape).toEqual([2, 4, 4, 128]);
    expect(relErr(ours, ref)).toBeLessThan(1e-4);
    tf.dispose([x, ref, ours]);
    enc.dispose();
    keras.dispose();
  });

  it('gives an LRP segmenter whose heatmaps equal Gradient × Input of its own logits', async () => {
    // 32×32 keeps the cpu backend's naive conv gradients to a few seconds
    const model = await createSegmenter({ method: 'lrp', classes: 3, inputSize: 32, encoder: { kind: 'pretrained', path: DARKNET }, lrpDepth: 0, lrpTopRelevance: false }); // the LRP-0 path read at its stop: exactly Gradient × Input
    expect(model.config().encoder).toMatchObject({ family: 'keras', source: DARKNET });
    const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
    const dc = tf.tensor2d([[2, 0]], [1, 2], 'int32');
    const out = model.forward(x, { decodeClasses: dc });
    expect(out.seg!.shape).toEqual([1, 32, 32, 2]);
    const ref = tf.tidy(() => {
      const maps = [2, 0].map((c) => {
        const g = tf.grad((xx: tf.Tensor) =>
          model
            .forward(xx as tf.Tensor4D)
            .logits!.slice([0, c], [1, 1])
            .sum(),
        )(x);
        return x.mul(g).sum(-1);
      });
      return tf.stack(maps, 3);
    });
    expect(relErr(out.seg!, ref)).toBeLessThan(1e-3);
    tf.dispose([x, dc, out.seg!, out.logits!, ref]);
    model.dispose();
  });
});
