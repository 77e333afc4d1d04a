/**
 * The project's background flag is decoded in every image (training and inference), and the tag
 * levers: tag-head warm-up before λ's ramp, class-balanced tag loss.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { importFolder } from '../../../src-main/dataset/import';
import { writeShapesDataset } from '../../../src-main/demo/shapes';
import { runJob, type TrainJobResult } from '../../../src-main/engine/jobs';
import { tagLoss } from '../../../src-main/engine/losses';
import { loadModel } from '../../../src-main/engine/model-io';
import { predict } from '../../../src-main/engine/infer';
import { balancedTagWeights, encoderStride, segWeightAt } from '../../../src-main/engine/trainer';
import { ProjectStore } from '../../../src-main/store/project';
import { tmpDir } from '../../helpers/tmp';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

describe('tag levers', () => {
  it('λ stays 0 during the tag warm-up, then ramps linearly', () => {
    const cfg = { segWeight: 2, warmupSteps: 100, tagWarmupSteps: 10 };
    expect(segWeightAt(cfg, 0)).toBe(0);
    expect(segWeightAt(cfg, 10)).toBe(0);
    expect(segWeightAt(cfg, 60)).toBeCloseTo(1);
    expect(segWeightAt(cfg, 500)).toBe(2);
    expect(segWeightAt({ segWeight: 1, warmupSteps: 0 }, 0)).toBe(1);
  });

  it('class-balanced weights: N/(2·positives) and N/(2·negatives), 1 for a class never or always tagged, capped at 10', () => {
    const pool = [{ tags: [0, 1] }, { tags: [1] }, { tags: [1] }, { tags: [1] }];
    const w = balancedTagWeights(pool, 3);
    expect(w.pos[0]).toBeCloseTo(2);
    expect(w.neg[0]).toBeCloseTo(4 / 6);
    expect([w.pos[1], w.neg[1], w.pos[2], w.neg[2]]).toEqual([1, 1, 1, 1]);
    const many = Array.from({ length: 100 }, (_, i) => ({ tags: i === 0 ? [0] : [] }));
    expect(balancedTagWeights(many, 1).pos[0]).toBe(10);
  });

  it('the weighted tag loss is the per-class weighted BCE', () => {
    const logits = tf.tensor2d([[0.5, -1], [2, 0.3]]);
    const targets = tf.tensor2d([[1, 0], [0, 1]]);
    const w = { pos: [2, 3], neg: [0.5, 0.25] };
    const got = tagLoss(logits, targets, undefined, w).dataSync()[0]!;
    const bce = (x: number, z: number) => Math.log(1 + Math.exp(x)) - x * z;
    const want = (2 * bce(0.5, 1) + 0.25 * bce(-1, 0) + 0.5 * bce(2, 0) + 3 * bce(0.3, 1)) / 4;
    expect(got).toBeCloseTo(want, 5);
    expect(tagLoss(logits, targets).dataSync()[0]).toBeCloseTo((bce(0.5, 1) + bce(-1, 0) + bce(2, 0) + bce(0.3, 1)) / 4, 5);
  });
});

describe("the project's background class", () => {
  it('is saved with the model and decoded in every prediction, whatever the tag head says', { timeout: 300_000 }, async () => {
    const src = tmpDir();
    await writeShapesDataset(src, { count: 10, width: 32, height: 32, seed: 9 });
    const store = ProjectStore.create(tmpDir());
    store.addClass('water', undefined, true); // background, before the import creates the rest
    await importFolder(store, src);
    const k = store.classes().findIndex((c) => c.isBackground);
    expect(k).toBeGreaterThanOrEqual(0);
    store.close();
    const r = (await runJob(
      { kind: 'train', project: store.dir, modelDir: 'models/run-1', method: 'lrp', backbone: 'small', backend: 'cpu', config: { epochs: 1, size: 32, batch: 4 } },
      { emit: () => {}, cancelled: () => false },
    )) as TrainJobResult;
    expect(r.result.steps).toBeGreaterThan(0);
    const { segmenter, meta } = loadModel(r.modelDir);
    try {
      expect(meta.alwaysDecode).toEqual([k]);
      expect(JSON.parse(fs.readFileSync(path.join(r.modelDir, 'heatseg-model.json'), 'utf8')).training.config.alwaysDecode).toEqual([k]);
      const other = (k + 1) % meta.classes.length;
      const sample = { id: 'x', rgb: new Uint8Array(32 * 32 * 3).fill(90), width: 32, height: 32, origWidth: 32, origHeight: 32, tags: [], labels: null };
      const stride = encoderStride(segmenter);
      const withBg = await predict(segmenter, sample, { stride, givenTags: [other], always: meta.alwaysDecode, heatNorm: meta.heatNorm, heatScale: meta.heatScale });
      expect(withBg.classes).toEqual([k, other].sort((a, b) => a - b));
      const without = await predict(segmenter, sample, { stride, givenTags: [other], heatNorm: meta.heatNorm, heatScale: meta.heatScale });
      expect(without.classes).toEqual([other]);
      const predicted = await predict(segmenter, sample, { stride, always: meta.alwaysDecode, heatNorm: meta.heatNorm, heatScale: meta.heatScale, maxClasses: 1 });
      expect(predicted.classes).toContain(k);
    } finally {
      segmenter.dispose();
    }
  });
});

describe('ONNX export and LRP rules', () => {
  it('refuses a model whose decoder uses a rule set other than LRP-0, naming it', async () => {
    const { buildSegmenter, smallEncoderSpec } = await import('../../../src-main/engine/models/index');
    const { saveModel } = await import('../../../src-main/engine/model-io');
    const { exportOnnx } = await import('../../../src-main/engine/onnx-export');
    const model = buildSegmenter({ format: 'heatseg-segmenter', version: 1, method: 'lrp', classes: 2, inputSize: 32, encoder: smallEncoderSpec({ channels: [4, 8] }), gradcamRelu: false, lrpDepth: 0, lrpRule: 'composite', unetConvsPerStage: 1, seed: 1 });
    const dir = path.join(tmpDir(), 'm');
    saveModel(dir, model, { classes: [{ name: 'a', color: '#000000' }, { name: 'b', color: '#ffffff' }], inputSize: 32, normalisation: 'RGB / 255', method: 'lrp', backbone: 'small', heatScale: 1, heatNorm: 'none', training: {}, metrics: null });
    model.dispose();
    const loaded = loadModel(dir);
    expect(loaded.segmenter.config().lrpRule).toBe('composite'); // the rule survives saving
    loaded.segmenter.dispose();
    expect(() => exportOnnx(dir, path.join(tmpDir(), 'out', 'model.onnx'))).toThrow(/LRP-0 \(gate form\) decoder only; this model uses the 'composite' rule set/);
  });
});
