import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeShapesDataset } from '../../../src-main/demo/shapes';
import { shippedBackboneDir } from '../../../src-main/backbones';
import { initBackend } from '../../../src-main/engine/backend';
import { type Dataset, augmentedCrop, datasetFromMaskFolder } from '../../../src-main/engine/data';
import { tagLoss } from '../../../src-main/engine/losses';
import { createSegmenter } from '../../../src-main/engine/models';
import { DEFAULT_PROBE, fitLogistic, pooledFeatures, probeTagHead } from '../../../src-main/engine/tag-probe';
import { DEFAULT_TRAIN, type TrainEvent, defaultHeadLr, train } from '../../../src-main/engine/trainer';
import { rng } from '../../../src-shared/random';
import { tmpDir } from '../../helpers/tmp';

const SIZE = 32;
const DARKNET = shippedBackboneDir('darknet-tiny');
const augment = { ...DEFAULT_TRAIN.augment, size: SIZE };
let data: Dataset;

beforeAll(async () => {
  await initBackend('wasm');
  const dir = tmpDir();
  await writeShapesDataset(dir, { count: 10, width: 48, height: 40, masks: 'scribbles', maskedImages: 3, seed: 7 });
  data = await datasetFromMaskFolder(dir, SIZE, { withLabels: true });
});

describe('fitLogistic', () => {
  it('fits badly scaled, offset features and maps the fit back to the raw scale exactly', async () => {
    const n = 240, f = 5, C = 3;
    const r = rng(3);
    const scale = [100, 0.01, 1, 30, 5], offset = [50, -2, 0, 1000, 3];
    const x = new Float32Array(n * f), y = new Float32Array(n * C);
    for (let i = 0; i < n; i++) {
      const u = Array.from({ length: f }, () => r() * 2 - 1);
      u.forEach((v, j) => (x[i * f + j] = v * scale[j]! + offset[j]!));
      // class 0: u0 > 0; class 1: u1 + u2 > 0.2; class 2: u3 < -0.5 (rare)
      y[i * C] = u[0]! > 0 ? 1 : 0;
      y[i * C + 1] = u[1]! + u[2]! > 0.2 ? 1 : 0;
      y[i * C + 2] = u[3]! < -0.5 ? 1 : 0;
    }
    const fit = await fitLogistic(x, y, n, f, C, { iterations: 400, l2: 1e-4 });
    expect(fit.lossAfter).toBeLessThan(fit.lossBefore / 3);
    let hits = 0;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < C; c++) {
        let z = fit.bias[c]!;
        for (let j = 0; j < f; j++) z += x[i * f + j]! * fit.kernel[j * C + c]!;
        if (z > 0 === (y[i * C + c] === 1)) hits++;
      }
    }
    expect(hits / (n * C)).toBeGreaterThan(0.95);
    expect([...fit.kernel, ...fit.bias].every(Number.isFinite)).toBe(true);
  });

  it('a constant feature and an always-present class give finite weights', async () => {
    const n = 20, f = 2, C = 2;
    const x = new Float32Array(n * f), y = new Float32Array(n * C);
    for (let i = 0; i < n; i++) {
      x[i * f] = 7; // constant
      x[i * f + 1] = i;
      y[i * C] = 1; // every image
      y[i * C + 1] = i >= 10 ? 1 : 0;
    }
    const fit = await fitLogistic(x, y, n, f, C, { iterations: 100, l2: 1e-2 });
    expect([...fit.kernel, ...fit.bias].every(Number.isFinite)).toBe(true);
    expect(fit.bias[0]!).toBeGreaterThan(3); // prior log-odds of an always-present class
  });
});

describe('probeTagHead', () => {
  it('sets only the head: its logits on the probe views equal the fit, and the tag loss falls', async () => {
    const model = await createSegmenter({ method: 'lrp', classes: data.classes.length, inputSize: SIZE, encoder: { kind: 'pretrained', path: DARKNET }, seed: 3 });
    const before = model.getWeights();
    const opts = { views: 2, iterations: 200, l2PerImage: 0.1, augment, seed: 11 };
    const feats = await pooledFeatures(model, data.samples, data.classes.length, opts);
    const loss = (m: typeof model) =>
      tf.tidy(() => {
        const logits = tf.tensor2d(feats.x, [feats.n, feats.f]).matMul(m.namedVariables()['head/kernel']!).add(m.namedVariables()['head/bias']!) as tf.Tensor2D;
        return tagLoss(logits, tf.tensor2d(feats.y, [feats.n, data.classes.length])).dataSync()[0]!;
      });
    const lossRandomHead = loss(model);
    const p = await probeTagHead(model, data.samples, data.classes.length, opts);
    expect(p.images).toBe(data.samples.filter((s) => s.tags.length).length);
    expect(p.l2).toBeCloseTo(0.1 / p.images, 12); // the prior's weight against the mean loss falls with the images
    expect(loss(model)).toBeLessThan(lossRandomHead / 2);
    // the pooled features are the head's input: the model's own forward gives the same logits
    const centre = await pooledFeatures(model, data.samples.slice(0, 3), data.classes.length, { ...opts, views: 1 });
    const x = tf.tensor4d(Float32Array.from(data.samples.slice(0, 3).flatMap((s) => [...augmentedCrop(s, augment, null).x])), [3, SIZE, SIZE, 3]);
    const own = model.forward(x, { tagsOnly: true }).logits!;
    const viaFeatures = tf.tensor2d(centre.x, [3, centre.f]).matMul(model.namedVariables()['head/kernel']!).add(model.namedVariables()['head/bias']!);
    expect(tf.abs(own.sub(viaFeatures)).max().dataSync()[0]!).toBeLessThan(1e-3 * (1 + tf.abs(own).max().dataSync()[0]!));
    tf.dispose([x, own, viaFeatures]);
    const after = model.getWeights();
    for (const [name, w] of Object.entries(after)) {
      if (name.startsWith('head/')) expect(w.data).not.toEqual(before[name]!.data);
      else expect(w.data).toEqual(before[name]!.data);
    }
    model.dispose();
  });

  it('refuses a model without a tag head', async () => {
    const unet = await createSegmenter({ method: 'unet', classes: data.classes.length, inputSize: SIZE, seed: 1 });
    await expect(probeTagHead(unet, data.samples, data.classes.length, { views: 1, iterations: 1, l2PerImage: 0, augment, seed: 1 })).rejects.toThrow(/no tag head/);
    unet.dispose();
  });
});

describe('the trainer runs the probe', () => {
  const logs = async (method: 'lrp' | 'unet', pretrained: boolean, tagProbe?: boolean) => {
    const model = await createSegmenter({
      method,
      classes: data.classes.length,
      inputSize: SIZE,
      ...(pretrained ? { encoder: { kind: 'pretrained' as const, path: DARKNET } } : {}),
      seed: 2,
    });
    const events: TrainEvent[] = [];
    await train(model, data, { ...DEFAULT_TRAIN, size: SIZE, batch: 4, epochs: 1, warmupSteps: 1, ...(tagProbe !== undefined ? { tagProbe } : {}) }, { onEvent: (e) => events.push(e) });
    model.dispose();
    return events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
  };

  it('by default on a pretrained encoder with a tag head, not when switched off, not from scratch, not for U-Net', async () => {
    expect((await logs('lrp', true)).some((m) => /tag head fitted on the pretrained features of \d+ tagged images × 2 views/.test(m))).toBe(true);
    expect((await logs('lrp', true, false)).some((m) => /tag head fitted/.test(m))).toBe(false);
    expect((await logs('lrp', false)).some((m) => /tag head fitted/.test(m))).toBe(false);
    expect((await logs('unet', true)).some((m) => /tag head fitted/.test(m))).toBe(false);
  }, 120_000);

  it('headLr sets the tag head\'s own learning rate: at 0 the probed head leaves training as the probe set it', async () => {
    const make = () => createSegmenter({ method: 'lrp', classes: data.classes.length, inputSize: SIZE, encoder: { kind: 'pretrained', path: DARKNET }, seed: 2 });
    const cfg = { ...DEFAULT_TRAIN, size: SIZE, batch: 4, epochs: 1, warmupSteps: 1 };
    const probed = await make();
    await probeTagHead(probed, data.samples, data.classes.length, { ...DEFAULT_PROBE, augment, seed: cfg.seed + 7919 });
    const probeHead = probed.getWeights()['head/kernel']!.data;
    probed.dispose();
    const model = await make();
    const start = model.getWeights();
    await train(model, data, { ...cfg, headLr: 0 });
    const end = model.getWeights();
    expect(end['head/kernel']!.data).toEqual(probeHead);
    expect(end['head/kernel']!.data).not.toEqual(start['head/kernel']!.data);
    const enc = Object.keys(start).find((n) => n.startsWith('encoder/'))!;
    expect(end[enc]!.data).not.toEqual(start[enc]!.data);
    model.dispose();
    // the default (lr) moves it
    const moved = await make();
    await train(moved, data, cfg);
    expect(moved.getWeights()['head/kernel']!.data).not.toEqual(probeHead);
    moved.dispose();
  }, 120_000);

  it('Grad-CAM\'s tag head learns at lr / 10 by default (its heatmap is the head\'s kernel), so does LRP read at two depths; LRP read at its stop at lr', async () => {
    expect(defaultHeadLr('lrp', 1e-3)).toBe(1e-3);
    // a new LRP model reads its relevance at two depths (the top term is f · w_c): its head learns at lr / 10 too
    const lrpDefault = await createSegmenter({ method: 'lrp', classes: 3, inputSize: SIZE, seed: 2 });
    const lrpStop = await createSegmenter({ method: 'lrp', classes: 3, inputSize: SIZE, seed: 2, lrpTopRelevance: false });
    expect(lrpDefault.config().lrpTopRelevance).toBe(true);
    expect(defaultHeadLr(lrpDefault, 1e-3)).toBe(1e-4);
    expect(defaultHeadLr(lrpStop, 1e-3)).toBe(1e-3);
    lrpDefault.dispose();
    lrpStop.dispose();
    const make = () => createSegmenter({ method: 'gradcam', classes: data.classes.length, inputSize: SIZE, encoder: { kind: 'pretrained', path: DARKNET }, seed: 2 });
    const cfg = { ...DEFAULT_TRAIN, size: SIZE, batch: 4, epochs: 1, warmupSteps: 1 };
    const run = async (headLr?: number) => {
      const m = await make();
      const logs: string[] = [];
      await train(m, data, headLr === undefined ? cfg : { ...cfg, headLr }, { onEvent: (e: TrainEvent) => { if (e.type === 'log') logs.push(e.message); } });
      const w = m.getWeights()['head/kernel']!.data;
      m.dispose();
      return { w, logs };
    };
    const byDefault = await run();
    const tenth = await run(cfg.lr / 10);
    const full = await run(cfg.lr);
    expect(byDefault.w).toEqual(tenth.w);
    expect(byDefault.w).not.toEqual(full.w);
    expect(byDefault.logs.some((m) => /tag head learning rate 0\.00010/.test(m))).toBe(true);
    expect(full.logs.some((m) => /tag head learning rate/.test(m))).toBe(false);
  }, 180_000);
});
