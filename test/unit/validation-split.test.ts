/**
 * Issue 11 item 19: a held-out part of the labelled images never reaches the trainer, the run
 * records it, and Evaluate leads with the held-out score and shows the training-set one as such.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AppEvent } from '../../src-shared/api';
import { tagPriorLoss } from '../../src-shared/tag-trust';
import { Session } from '../../src-main/api/handlers';
import { importFolder } from '../../src-main/dataset/import';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import type { Dataset, Sample } from '../../src-main/engine/data';
import { MIN_LABELLED_FOR_VAL, splitValidation } from '../../src-main/engine/validation';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';
import { untilStatus } from '../helpers/train-status';

const sample = (id: string, labelled: boolean): Sample => ({ id, rgb: new Uint8Array(3), width: 1, height: 1, origWidth: 1, origHeight: 1, tags: [0], labels: labelled ? new Uint8Array(1) : null });
const dataset = (labelled: number, tagOnly: number): Dataset => ({
  classes: ['a'],
  samples: [...Array.from({ length: labelled }, (_, i) => sample(`L${i}`, true)), ...Array.from({ length: tagOnly }, (_, i) => sample(`T${i}`, false))],
});

describe('splitValidation', () => {
  it('holds out 20 % of the labelled images (at least one) once 5 are labelled; tag-only images always train', () => {
    const { train, split } = splitValidation(dataset(10, 7), 0.2);
    expect(split.heldOut).toHaveLength(2);
    expect(split.trainedLabelled).toHaveLength(8);
    expect(train.samples).toHaveLength(15);
    for (const id of split.heldOut) expect(train.samples.some((s) => s.id === id)).toBe(false);
    expect(train.samples.filter((s) => !s.labels)).toHaveLength(7);
    expect(splitValidation(dataset(5, 0), 0.05).split.heldOut).toHaveLength(1);
    expect(splitValidation(dataset(MIN_LABELLED_FOR_VAL - 1, 3), 0.5).split.heldOut).toEqual([]);
    expect(splitValidation(dataset(10, 0), 0).split.heldOut).toEqual([]);
    expect(() => splitValidation(dataset(10, 0), 1)).toThrow(/validation fraction/);
  });
  it('is deterministic by image id, whatever the order of the samples', () => {
    const d = dataset(12, 0);
    const a = splitValidation(d, 0.25).split.heldOut;
    const b = splitValidation({ ...d, samples: [...d.samples].reverse() }, 0.25).split.heldOut;
    expect([...b].sort()).toEqual([...a].sort());
    expect(a).toHaveLength(3);
  });
});

describe('training with a validation split, and the Evaluate report (worker thread)', () => {
  it('keeps the held-out images out of training, records them, and leads the evaluation with them', async () => {
    const src = tmpDir();
    await writeShapesDataset(src, { count: 8, width: 48, height: 40, masks: 'scribbles', maskedImages: 6 });
    const store = ProjectStore.create(tmpDir());
    await importFolder(store, src);
    const events: AppEvent[] = [];
    const s = new Session({ transport: 'http', version: 'test', emit: (e) => events.push(e) });
    s.openProject(store);
    try {
      const all = store.listImages({ offset: 0, limit: 100 }).items;
      const labelled = all.filter((i) => i.labelledPixels > 0);
      expect(labelled).toHaveLength(6);
      const started = await s.dispatch('train.start', { method: 'lrp', epochs: 1, size: 32, backend: 'wasm', valFraction: 1 / 3 });
      expect((await untilStatus(s, (st) => st.state === 'done' || st.state === 'failed', 180_000)).state).toBe('done');

      const run = (await s.dispatch('runs.list', {})).find((r) => r.id === started.runId)!;
      const m = run.metrics as { validation: { fraction: number; heldOut: string[]; trainedLabelled: string[] }; tagPriorLoss: number };
      expect(m.validation.heldOut).toHaveLength(2);
      expect(m.validation.trainedLabelled).toHaveLength(4);
      const held = new Set(m.validation.heldOut.map(Number));
      // The trainer saw 6 images, 4 of them with pixel labels: the held-out two were not passed to it.
      const startMessages = events.flatMap((e) => (e.type === 'train' && e.status.state === 'training' ? [e.status.message] : []));
      expect(startMessages).toContain('6 images, 4 with pixel labels');
      // the model folder records the same split
      const meta = JSON.parse(fs.readFileSync(path.join(store.dir, 'models', `run-${started.runId}`, 'heatseg-model.json'), 'utf8')) as { training: { validation: unknown } };
      expect(meta.training.validation).toEqual(m.validation);
      // the tag-trust baseline is the image-blind loss on the images it trained on
      const classIndex = new Map(store.classes().map((c, k) => [c.id, k]));
      const trainedTags = all.filter((i) => !held.has(i.id)).map((i) => i.tags.map((t) => classIndex.get(t)!));
      expect(m.tagPriorLoss).toBeCloseTo(tagPriorLoss(trainedTags, store.classes().length)!, 10);

      // Evaluate: the headline on the two held-out images, the training-set score apart.
      const ev = await s.dispatch('eval.run', {});
      expect(ev.scope).toBe('held-out');
      expect(ev.images).toBe(2);
      expect(ev.valFraction).toBeCloseTo(1 / 3, 10);
      const total = ev.confusion.flat().reduce((a, b) => a + b, 0);
      expect(total).toBe(labelled.filter((i) => held.has(i.id)).reduce((a, i) => a + i.labelledPixels, 0));
      for (const c of ev.cells) for (const i of c.images) expect(held.has(i.id)).toBe(true);
      expect(ev.trainingSet?.images).toBe(4);
      expect(ev.trainingSet?.miou).not.toBeNull();
      expect(ev.notCounted).toBe(0);

      // No split (0 %): every labelled image trains, and the report says the score is the training set's.
      await s.dispatch('train.start', { method: 'lrp', epochs: 1, size: 32, backend: 'wasm', valFraction: 0 });
      expect((await untilStatus(s, (st) => st.state === 'done' || st.state === 'failed', 180_000)).state).toBe('done');
      const ev0 = await s.dispatch('eval.run', {});
      expect(ev0).toMatchObject({ scope: 'training', images: 6, trainingSet: null, valFraction: 0 });
    } finally {
      s.close();
    }
  });
});
