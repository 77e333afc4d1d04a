import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeShapesDataset } from '../../../src-main/demo/shapes';
import { initBackend } from '../../../src-main/engine/backend';
import { type Dataset, augmentedCrop, datasetFromMaskFolder } from '../../../src-main/engine/data';
import { predict } from '../../../src-main/engine/infer';
import { loadModel, saveModel } from '../../../src-main/engine/model-io';
import { createSegmenter } from '../../../src-main/engine/models';
import { DEFAULT_TRAIN, type TrainEvent, encoderStride, train } from '../../../src-main/engine/trainer';
import { rng } from '../../../src-shared/random';
import { tmpDir } from '../../helpers/tmp';

let data: Dataset;
const SIZE = 32;
const cfg = { ...DEFAULT_TRAIN, size: SIZE, batch: 4, epochs: 2, warmupSteps: 2, lr: 3e-3 };

beforeAll(async () => {
  await initBackend('wasm');
  const dir = tmpDir();
  await writeShapesDataset(dir, { count: 12, width: 48, height: 40, masks: 'scribbles', maskedImages: 4, seed: 5 });
  data = await datasetFromMaskFolder(dir, SIZE, { withLabels: true });
});

describe('augmentation', () => {
  it('is reproducible for a seed and keeps labels aligned with the flip', () => {
    const s = data.samples[0]!;
    const a = augmentedCrop(s, { ...cfg.augment, size: SIZE }, rng(1));
    const b = augmentedCrop(s, { ...cfg.augment, size: SIZE }, rng(1));
    const c = augmentedCrop(s, { ...cfg.augment, size: SIZE }, rng(2));
    expect(a.x).toEqual(b.x);
    expect(a.labels).toEqual(b.labels);
    expect(a.x).not.toEqual(c.x);
    const plain = augmentedCrop(s, { maxScale: 1, flip: false, jitter: 0, size: SIZE }, null);
    expect(Math.max(...plain.x)).toBeLessThanOrEqual(1);
    expect(plain.x.length).toBe(SIZE * SIZE * 3);
  });
});

/** The crop written pixel by pixel from its definition (bilinear sample, colour jitter, nearest label). */
function referenceCrop(s: Dataset['samples'][number], o: { size: number; maxScale: number; flip: boolean; jitter: number }, rand: () => number) {
  const S = o.size;
  const scale = 1 + rand() * (o.maxScale - 1);
  const win = Math.min(s.width, s.height) / scale;
  const x0 = rand() * (s.width - win), y0 = rand() * (s.height - win);
  const flip = o.flip && rand() < 0.5;
  const [bright, contrast, sat] = [0, 0, 0].map(() => 1 + (rand() * 2 - 1) * o.jitter) as [number, number, number];
  const { width: W, height: H, rgb } = s;
  const x = new Float32Array(S * S * 3);
  const labels = new Uint8Array(S * S);
  for (let j = 0; j < S; j++)
    for (let i = 0; i < S; i++) {
      const ii = flip ? S - 1 - i : i;
      const fy = y0 + ((j + 0.5) * win) / S - 0.5, fx = x0 + ((ii + 0.5) * win) / S - 0.5;
      const yA = Math.max(0, Math.min(H - 1, Math.floor(fy))), xA = Math.max(0, Math.min(W - 1, Math.floor(fx)));
      const yB = Math.min(H - 1, yA + 1), xB = Math.min(W - 1, xA + 1);
      const wy = Math.max(0, Math.min(1, fy - yA)), wx = Math.max(0, Math.min(1, fx - xA));
      const v = [0, 1, 2].map((c) => (rgb[(yA * W + xA) * 3 + c]! * (1 - wx) + rgb[(yA * W + xB) * 3 + c]! * wx) * (1 - wy) + (rgb[(yB * W + xA) * 3 + c]! * (1 - wx) + rgb[(yB * W + xB) * 3 + c]! * wx) * wy);
      const grey = 0.299 * v[0]! + 0.587 * v[1]! + 0.114 * v[2]!;
      for (let c = 0; c < 3; c++) x[(j * S + i) * 3 + c] = Math.max(0, Math.min(255, ((grey + (v[c]! - grey) * sat - 128) * contrast + 128) * bright)) / 255;
      const ly = Math.max(0, Math.min(H - 1, Math.floor(y0 + ((j + 0.5) * win) / S))), lx = Math.max(0, Math.min(W - 1, Math.floor(x0 + ((ii + 0.5) * win) / S)));
      labels[j * S + i] = s.labels![ly * W + lx]!;
    }
  return { x, labels };
}

describe('augmentation, exactly', () => {
  it('equals the per-pixel definition, value for value (flipped and not)', () => {
    const s = data.samples.find((e) => e.labels)!;
    const o = { ...cfg.augment, size: SIZE, maxScale: 1.6, flip: true, jitter: 0.3 };
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const got = augmentedCrop(s, o, rng(seed));
      const want = referenceCrop(s, o, rng(seed));
      expect(got.x).toEqual(want.x);
      expect(got.labels).toEqual(want.labels);
    }
  });
});

describe('trainer', () => {
  it('trains LRP on tags + scribbles: streams events, losses fall, no tensor leak', async () => {
    const model = await createSegmenter({ method: 'lrp', classes: data.classes.length, inputSize: SIZE, seed: 2 });
    const events: TrainEvent[] = [];
    const before = tf.memory().numTensors;
    const r = await train(model, data, { ...cfg, epochs: 6 }, { onEvent: (e) => events.push(e) });
    expect(tf.memory().numTensors).toBe(before);
    const steps = events.filter((e) => e.type === 'step');
    expect(events[0]!.type).toBe('start');
    expect(steps.length).toBe(r.steps);
    expect(steps.every((e) => e.type === 'step' && Number.isFinite(e.tagLoss) && Number.isFinite(e.segLoss) && e.imagesPerSec > 0)).toBe(true);
    const epochs = events.filter((e): e is Extract<TrainEvent, { type: 'epoch' }> => e.type === 'epoch');
    expect(epochs.length).toBe(6);
    expect(epochs.at(-1)!.tagLoss).toBeLessThan(epochs[0]!.tagLoss);
    expect(epochs[0]!.uniformSegLoss).toBeGreaterThan(0);
    model.dispose();
  });

  it('a run that throws mid-training frees its optimizers and temperature (no tensor leak)', async () => {
    const model = await createSegmenter({ method: 'lrp', classes: data.classes.length, inputSize: SIZE, seed: 3 });
    const before = tf.memory().numTensors;
    const failing = (e: TrainEvent) => {
      if (e.type === 'step' && e.step === 3) throw new Error('the event consumer failed');
    };
    await expect(train(model, data, { ...cfg, epochs: 6 }, { onEvent: failing })).rejects.toThrow(/the event consumer failed/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('a tag-only forward of the multi-task U-Net gives tag logits and skips the decoder', async () => {
    const model = await createSegmenter({ method: 'mtunet', classes: 5, inputSize: SIZE });
    const x = tf.zeros([2, SIZE, SIZE, 3]) as tf.Tensor4D;
    const out = model.forward(x, { tagsOnly: true });
    expect(out.logits!.shape).toEqual([2, 5]);
    expect(out.seg).toBeUndefined();
    const full = model.forward(x);
    expect(full.seg!.shape).toEqual([2, SIZE, SIZE, 5]);
    tf.dispose([x, out.logits!, full.logits!, full.seg!]);
    model.dispose();
  });

  it('stops when asked between steps and reports it', async () => {
    const model = await createSegmenter({ method: 'gradcam', classes: data.classes.length, inputSize: SIZE });
    let n = 0;
    const r = await train(model, data, { ...cfg, epochs: 50 }, { onEvent: (e) => (e.type === 'step' ? n++ : 0), shouldStop: () => n >= 3 });
    expect(r.cancelled).toBe(true);
    expect(r.steps).toBe(3);
    model.dispose();
  });

  it('refuses a U-Net without pixel labels and a project without tags, with a clear message', async () => {
    const noLabels = { ...data, samples: data.samples.map((s) => ({ ...s, labels: null })) };
    const unet = await createSegmenter({ method: 'unet', classes: data.classes.length, inputSize: SIZE });
    await expect(train(unet, noLabels, cfg)).rejects.toThrow(/learns only from pixel labels.*brush some scribbles/);
    const noTags = { ...data, samples: data.samples.map((s) => ({ ...s, tags: [] })) };
    const lrp = await createSegmenter({ method: 'lrp', classes: data.classes.length, inputSize: SIZE });
    await expect(train(lrp, noTags, cfg)).rejects.toThrow(/no image has tags/);
    unet.dispose();
    lrp.dispose();
  });

  for (const method of ['lrp', 'gradcam', 'unet', 'mtunet'] as const) {
    it(`${method}: a saved model folder reloads to identical predictions on an image of another size`, async () => {
      const model = await createSegmenter({ method, classes: data.classes.length, inputSize: SIZE, seed: 4 });
      const r = await train(model, data, { ...cfg, epochs: 1 });
      const dir = path.join(tmpDir(), 'model');
      saveModel(dir, model, { classes: data.classes.map((name) => ({ name, color: '#123456' })), inputSize: SIZE, normalisation: 'RGB / 255', method, backbone: 'small', heatScale: r.heatScale, heatNorm: 'none', training: {}, metrics: null });
      expect(fs.readdirSync(path.dirname(dir)).filter((f) => f.includes('.heatseg-tmp-'))).toEqual([]);
      const loaded = loadModel(dir);
      const s = { ...data.samples[1]!, origWidth: 50, origHeight: 37 };
      const a = await predict(model, s, { stride: encoderStride(model), heatScale: r.heatScale, probs: true });
      const b = await predict(loaded.segmenter, s, { stride: encoderStride(loaded.segmenter), heatScale: loaded.meta.heatScale, probs: true });
      expect([b.width, b.height]).toEqual([50, 37]);
      expect(b.mask).toEqual(a.mask);
      expect(b.classes).toEqual(a.classes);
      for (let i = 0; i < a.probs!.length; i += 97) expect(b.probs![i]).toBeCloseTo(a.probs![i]!, 5);
      model.dispose();
      loaded.segmenter.dispose();
    });
  }

  it('a model folder with a missing or truncated weights file is refused by name', async () => {
    const model = await createSegmenter({ method: 'gradcam', classes: 3, inputSize: SIZE });
    const dir = path.join(tmpDir(), 'm');
    saveModel(dir, model, { classes: [1, 2, 3].map((i) => ({ name: `c${i}`, color: '#000000' })), inputSize: SIZE, normalisation: '', method: 'gradcam', backbone: 'small', heatScale: 1, heatNorm: 'none', training: {}, metrics: null });
    const w = path.join(dir, 'weights.bin');
    fs.truncateSync(w, 100);
    expect(() => loadModel(dir)).toThrow(/weights.bin: too short for weight/);
    fs.rmSync(w);
    expect(() => loadModel(dir)).toThrow(/weights.bin is missing/);
    expect(() => loadModel(tmpDir())).toThrow(/heatseg-model.json is missing/);
    model.dispose();
  });
});
