/**
 * Issue 11 item 4: a run's predictions are mapped to the project's classes by the class ids the
 * model was trained on, never by today's class order; a class the run knew that is gone refuses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClassInfo } from '../../src-shared/api';
import { decompressRaster, fromBase64 } from '../../src-shared/labels';
import { Session } from '../../src-main/api/handlers';
import { mapPrediction, resolveModelClasses } from '../../src-main/api/prediction-map';
import { importFolder } from '../../src-main/dataset/import';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { classMismatch } from '../../src-main/engine/jobs';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';
import { untilStatus } from '../helpers/train-status';

const cls = (id: number, name: string, labelValue: number, position: number): ClassInfo => ({ id, name, color: '#ffffff', position, labelValue, isBackground: false });

describe('class ids are never reused', () => {
  it('a class added after the newest one was deleted gets a new id', () => {
    const store = ProjectStore.create(tmpDir());
    store.addClass('a');
    const b = store.addClass('b');
    store.removeClass(b.id);
    const c = store.addClass('c');
    expect(c.id).toBeGreaterThan(b.id);
    // the label value may be reused (its pixels were cleared); identity is the id
    store.close();
    const again = ProjectStore.open(store.dir);
    expect(again.addClass('d').id).toBeGreaterThan(c.id);
    again.close();
  });
});

describe('mapping a prediction to the project classes', () => {
  const meta = { format: 2 as const, modelClasses: [{ name: 'a', id: 1 }, { name: 'b', id: 2 }], decoded: [0, 1], tagProbs: [0.9, 0.2], width: 3, height: 1 };
  it('maps model indices by id, whatever the order and names now', () => {
    const now = [cls(2, 'B renamed', 7, 0), cls(1, 'a', 3, 1), cls(5, 'new', 1, 2)];
    const r = mapPrediction(4, 9, meta, Uint8Array.from([0, 1, 1]), now);
    expect([...r.values]).toEqual([3, 7, 7]);
    expect(r.tagProbs).toEqual({ 1: 0.9, 2: 0.2 });
    expect(r.classIds).toEqual([1, 2]);
  });
  it('refuses, naming the class, when a class the run knew is deleted', () => {
    expect(() => mapPrediction(4, 9, meta, Uint8Array.from([0]), [cls(1, 'a', 1, 0), cls(3, 'c', 2, 1)])).toThrow(/run 4 was trained with the class "b", which has since been deleted/);
  });
  it('maps models without recorded ids by name (case-insensitive), refusing a missing name', () => {
    expect(resolveModelClasses(1, [{ name: 'Cat' }, { name: 'dog' }], [cls(8, 'dog', 1, 0), cls(9, 'cat', 2, 1)]).map((c) => c.id)).toEqual([9, 8]);
    expect(() => resolveModelClasses(1, [{ name: 'cat' }], [cls(8, 'dog', 1, 0)])).toThrow(/no longer has \(deleted or renamed\)/);
  });
  it('refuses to resume a model on reordered classes', () => {
    const data = { classes: ['a', 'b'], classIds: [2, 1], samples: [] };
    expect(classMismatch([{ name: 'a', id: 1 }, { name: 'b', id: 2 }], data)).toMatch(/not the project's/);
    expect(classMismatch([{ name: 'b', id: 2 }, { name: 'a', id: 1 }], data)).toBeNull();
  });
});

describe('predictions.get after the classes change (trained run)', () => {
  it('maps a run trained on [a b c] correctly after a reorder, and refuses once a class it knew is deleted', async () => {
    const src = tmpDir();
    await writeShapesDataset(src, { count: 6, width: 48, height: 40, masks: 'scribbles', maskedImages: 3 });
    const store = ProjectStore.create(tmpDir());
    await importFolder(store, src);
    const s = new Session({ transport: 'http', version: 'test' });
    s.openProject(store);
    try {
      const started = await s.dispatch('train.start', { method: 'lrp', epochs: 1, size: 32, backend: 'wasm' });
      expect((await untilStatus(s, (st) => st.state === 'done' || st.state === 'failed')).state).toBe('done');
      const before = store.classes();
      const model = JSON.parse(fs.readFileSync(path.join(store.dir, 'models', `run-${started.runId}`, 'heatseg-model.json'), 'utf8')) as { classes: Array<{ id: number }> };
      expect(model.classes.map((c) => c.id)).toEqual(before.map((c) => c.id));

      // predicted class id per pixel, given the classes at the time of the call
      const idsOf = async (): Promise<number[]> => {
        const p = await s.dispatch('predictions.get', { imageId: 1 });
        const byValue = new Map(store.classes().map((c) => [c.labelValue, c.id]));
        return [...decompressRaster(fromBase64(p.mask), p.width, p.height)].map((v) => byValue.get(v) ?? -1);
      };
      const first = await idsOf();
      expect(first.every((id) => id > 0)).toBe(true);

      // rotate the class order (every class changes position) and predict afresh: the same classes
      store.db.prepare('DELETE FROM predictions').run();
      await s.dispatch('classes.update', { id: before[0]!.id, position: before.length - 1 });
      expect(store.classes().map((c) => c.id)).not.toEqual(before.map((c) => c.id));
      expect(await idsOf()).toEqual(first);
      // … and from the cache too
      expect(await idsOf()).toEqual(first);

      // delete the newest class the run knew and add another: the count is the same, the prediction refused
      const gone = before[before.length - 1]!;
      await s.dispatch('classes.remove', { id: gone.id });
      await s.dispatch('classes.add', { name: 'newcomer' });
      await expect(s.dispatch('predictions.get', { imageId: 1 })).rejects.toThrow(new RegExp(`class "${gone.name}", which has since been deleted`));
      store.db.prepare('DELETE FROM predictions').run();
      await expect(s.dispatch('predictions.get', { imageId: 1 })).rejects.toThrow(/has since been deleted: train again/);
    } finally {
      s.close();
    }
  });
});
