import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AppEvent } from '../../src-shared/api';
import { decompressRaster, fromBase64 } from '../../src-shared/labels';
import { Session } from '../../src-main/api/handlers';
import { importFolder } from '../../src-main/dataset/import';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';
import { untilStatus } from '../helpers/train-status';

async function session() {
  const src = tmpDir();
  await writeShapesDataset(src, { count: 8, width: 48, height: 40, masks: 'scribbles', maskedImages: 3 });
  const store = ProjectStore.create(tmpDir());
  await importFolder(store, src);
  const events: AppEvent[] = [];
  const s = new Session({ transport: 'http', version: 'test', emit: (e) => events.push(e) });
  s.openProject(store);
  return { s, store, events };
}

describe('training through the API (worker thread)', () => {
  it('runs idle → preparing → training → done, streams losses, records a completed run with its model', async () => {
    const { s, store, events } = await session();
    expect((await s.dispatch('train.status', {})).state).toBe('idle');
    const started = await s.dispatch('train.start', { method: 'lrp', epochs: 2, size: 32, backend: 'wasm', threads: 2 });
    expect(started.state).toBe('preparing');
    await expect(s.dispatch('train.start', { size: 32 })).rejects.toThrow(/still training/);
    const done = await untilStatus(s, (st) => st.state === 'done' || st.state === 'failed');
    expect(done.message).toMatch(/finished \d+ steps/);
    expect(done.state).toBe('done');
    expect(done.backend).toMatch(/wasm/);
    // data-parallel: the panel shows the threads, the run row records them
    expect(done.threads).toBe(2);
    expect(done.backend).toMatch(/data-parallel on 2 threads/);
    expect(done.losses.length).toBe(done.step);
    const states = events.flatMap((e) => (e.type === 'train' ? [e.status.state] : []));
    expect(states).toContain('training');
    const runs = await s.dispatch('runs.list', {});
    // the API's default backbone is the shipped, pretrained darknet-tiny, and the run records it
    expect(runs[0]).toMatchObject({ id: started.runId, status: 'completed', method: 'lrp', backbone: 'darknet-tiny' });
    const modelJson = path.join(store.dir, 'models', `run-${started.runId}`, 'heatseg-model.json');
    expect(fs.existsSync(modelJson)).toBe(true);
    const saved = JSON.parse(fs.readFileSync(modelJson, 'utf8')) as { backbone: string; segmenter: { encoder: { family: string; source?: string } } };
    expect(saved.backbone).toBe('darknet-tiny');
    expect(saved.segmenter.encoder.family).toBe('keras');
    expect(saved.segmenter.encoder.source?.endsWith(path.join('resources', 'backbones', 'darknet-tiny'))).toBe(true);
    expect(runs[0]!.backend).toMatch(/data-parallel on 2 threads/);

    // Overlays: the prediction of an image, computed in the worker once, then from the cache.
    const img = store.imageSummary(1);
    const pred = await s.dispatch('predictions.get', { imageId: 1 });
    expect([pred.width, pred.height]).toEqual([img.width, img.height]);
    const mask = decompressRaster(fromBase64(pred.mask), pred.width, pred.height);
    const values = new Set(store.classes().map((c) => c.labelValue));
    expect([...new Set(mask)].every((v) => values.has(v))).toBe(true);
    expect(Object.keys(pred.tagProbs)).toHaveLength(store.classes().length);
    expect(store.prediction(pred.runId, 1)).toBeDefined();
    expect(await s.dispatch('predictions.get', { imageId: 1 })).toEqual(pred);

    // The export dialog's operation: both formats, into new folders.
    const outHeatseg = path.join(tmpDir(), 'seg');
    expect(await s.dispatch('model.export', { out: outHeatseg })).toMatchObject({ runId: started.runId, format: 'heatseg' });
    expect(fs.existsSync(path.join(outHeatseg, 'heatseg-model.json'))).toBe(true);
    const outOnnx = path.join(tmpDir(), 'onnx');
    await s.dispatch('model.export', { out: outOnnx, format: 'onnx' });
    expect(fs.existsSync(path.join(outOnnx, 'model.onnx'))).toBe(true);
    await expect(s.dispatch('model.export', { out: outOnnx })).rejects.toThrow(/not empty/);

    // Evaluation view: the model against the project's pixel labels, every labelled pixel counted once.
    const ev = await s.dispatch('eval.run', {});
    const labelledImages = store.listImages({ offset: 0, limit: 100 }).items.filter((i) => i.labelledPixels > 0);
    expect(ev.runId).toBe(started.runId);
    expect(ev.images).toBe(labelledImages.length);
    expect(ev.classes.map((c) => c.name)).toEqual(store.classes().map((c) => c.name));
    const total = ev.confusion.flat().reduce((a, b) => a + b, 0);
    expect(total).toBe(labelledImages.reduce((a, i) => a + i.labelledPixels, 0));
    const diagonal = ev.confusion.reduce((a, row, t) => a + row[t]!, 0);
    expect(ev.pixelAccuracy).toBeCloseTo(diagonal / total, 10);
    expect(ev.perClass).toHaveLength(ev.classes.length);
    // tag mAP and per-class tag accuracy / AP (project class order)
    expect(ev.tagPerClass).toHaveLength(ev.classes.length);
    expect(ev.tagMap).toBeGreaterThan(0);
    expect(ev.tagMap).toBeLessThanOrEqual(1);
    for (const t of ev.tagPerClass!) expect(t.accuracy).toBeGreaterThanOrEqual(0);
    const aps = ev.tagPerClass!.flatMap((t) => (t.ap === null ? [] : [t.ap]));
    expect(ev.tagMap).toBeCloseTo(aps.reduce((a, b) => a + b, 0) / aps.length, 10);
    // each cell lists the labelled images behind it, their pixels adding up to at most the cell
    for (const cell of ev.cells) {
      expect(cell.images.length).toBeGreaterThan(0);
      const sum = cell.images.reduce((a, i) => a + i.pixels, 0);
      expect(sum).toBeLessThanOrEqual(ev.confusion[cell.truth]![cell.predicted]!);
      for (const i of cell.images) expect(labelledImages.map((x) => x.id)).toContain(i.id);
    }
    expect(ev.cells.reduce((a, c) => a + c.images.reduce((b, i) => b + i.pixels, 0), 0)).toBe(total); // ≤ 12 images per cell here: all listed

    // Active learning: suggestions come only from images without pixel labels, best first.
    for (const strategy of ['pixel-entropy', 'diverse', 'coverage'] as const) {
      const sug = await s.dispatch('suggest.list', { strategy, n: 3 });
      expect(sug.candidates).toBe(5);
      expect(sug.suggestions).toHaveLength(3);
      for (const x of sug.suggestions) expect(store.imageSummary(x.id).labelledPixels).toBe(0);
      const scores = sug.suggestions.map((x) => x.score);
      if (strategy === 'pixel-entropy') expect([...scores].sort((a, b) => b - a)).toEqual(scores);
      // coverage says which of the project's classes an image brings, by name and count of labelled images
      const names = store.classes().map((c) => c.name);
      if (strategy === 'coverage') for (const x of sug.suggestions) expect(names.some((n) => new RegExp(`${n} \\(\\d+ labelled\\)`).test(x.reason))).toBe(true);
    }
    s.close();
  });

  it('keeps the training state per project: another project starts idle, and switching back shows its own run', async () => {
    const { s, store } = await session();
    const started = await s.dispatch('train.start', { method: 'lrp', epochs: 1, size: 32, backend: 'wasm' });
    const done = await untilStatus(s, (st) => st.state === 'done' || st.state === 'failed');
    expect(done.state).toBe('done');
    expect(done.losses.length).toBeGreaterThan(0);

    s.openProject(ProjectStore.create(tmpDir()));
    expect(await s.dispatch('train.status', {})).toMatchObject({ state: 'idle', runId: null, losses: [], backend: null, message: null });
    expect(await s.dispatch('runs.list', {})).toEqual([]);

    s.openProject(ProjectStore.open(store.dir));
    const back = await s.dispatch('train.status', {});
    expect(back).toMatchObject({ state: 'done', runId: started.runId, message: done.message });
    expect(back.losses).toEqual(done.losses);
    s.close();
  });

  it('cancels between steps (2 training threads) and marks the run cancelled', async () => {
    const { s } = await session();
    await s.dispatch('train.start', { method: 'gradcam', epochs: 500, size: 32, backend: 'wasm', threads: 2 });
    await untilStatus(s, (st) => st.step >= 2);
    await s.dispatch('train.cancel', {});
    const end = await untilStatus(s, (st) => st.state === 'cancelled' || st.state === 'done' || st.state === 'failed');
    expect(end.state).toBe('cancelled');
    const runs = await s.dispatch('runs.list', {});
    expect(runs[0]!.status).toBe('cancelled');
    s.close();
  });

  it('refuses bad input and a missing backbone folder with a clear message', async () => {
    const { s } = await session();
    await expect(s.dispatch('suggest.list', {})).rejects.toThrow(/no trained model yet/);
    await expect(s.dispatch('eval.run', {})).rejects.toThrow(/no trained model yet/);
    await expect(s.dispatch('model.export', { out: path.join(tmpDir(), 'x') })).rejects.toThrow(/no completed training run/);
    await expect(s.dispatch('train.start', { size: 33 })).rejects.toThrow(/size/);
    await expect(s.dispatch('train.start', { backbone: '/nope/model' })).rejects.toThrow(/model.json missing/);
    s.close();
  });
});
