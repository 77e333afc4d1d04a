/**
 * The open project's warm engine thread (issue 11 item 14): predictions reuse one worker with the
 * model loaded, a newly completed run is picked up, and closing the project ends the thread.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { Session } from '../../src-main/api/handlers';
import { importFolder } from '../../src-main/dataset/import';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { initBackend } from '../../src-main/engine/backend';
import { EngineWorker, startJob } from '../../src-main/engine/client';
import { saveModel } from '../../src-main/engine/model-io';
import { createSegmenter } from '../../src-main/engine/models';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';

/** A completed run whose model is an untrained, seeded LRP segmenter (no training needed to test the plumbing). */
async function completedRun(store: ProjectStore, seed: number): Promise<{ id: number; dir: string }> {
  await initBackend('wasm');
  const run = store.createRun('lrp', 'small', { size: 32 });
  const dir = path.join(store.dir, run.checkpoint_dir!);
  const model = await createSegmenter({ method: 'lrp', classes: store.classes().length, inputSize: 32, seed });
  saveModel(dir, model, {
    classes: store.classes().map((c) => ({ name: c.name, color: c.color })),
    inputSize: 32,
    normalisation: 'RGB / 255',
    method: 'lrp',
    backbone: 'small',
    heatScale: 3,
    heatNorm: 'pixel',
    training: {},
    metrics: null,
  });
  model.dispose();
  store.finishRun(run.id, 'completed', { backend: 'wasm', keepCheckpoint: true });
  return { id: run.id, dir };
}

/** The label values of a wire mask (zlib, base64), whatever the compression level. */
function wireValues(mask: string): string {
  return zlib.inflateSync(Buffer.from(mask, 'base64')).toString('base64');
}

/** The label values predictions.get sends for a one-off worker's prediction with this model (the path before the warm engine). */
async function coldWireMask(store: ProjectStore, model: string, imageId: number): Promise<string> {
  const row = store.imageRow(imageId);
  const r = await startJob({ kind: 'predict-raw', model, images: [{ id: imageId, file: store.imagePath(row.file_name) }] }).result;
  const classes = store.classes();
  const p = r.predictions[0]!;
  return Buffer.from(Uint8Array.from(p.mask, (k) => classes[k]!.labelValue)).toString('base64');
}

let session: Session | null = null;
afterEach(() => {
  session?.close();
  session = null;
});

describe('warm engine worker', () => {
  it('two predictions reuse one thread; a newly completed run is picked up without a new thread; close ends it', async () => {
    const src = tmpDir();
    await writeShapesDataset(src, { count: 3, width: 48, height: 40, masks: 'none' });
    const store = ProjectStore.create(tmpDir());
    await importFolder(store, src);
    const [a, b] = store.allImageIds();
    const first = await completedRun(store, 1);
    session = new Session({ transport: 'http', version: 'test' });
    session.openProject(store);
    const engine = session.engine;

    const p1 = await session.dispatch('predictions.get', { imageId: a! });
    const p2 = await session.dispatch('predictions.get', { imageId: b! });
    expect([p1.runId, p2.runId]).toEqual([first.id, first.id]);
    expect(engine.threadsStarted).toBe(1);
    expect(engine.alive).toBe(true);

    // a new run completes (the Train button's path ends with finishRun): the next uncached prediction uses it
    const second = await completedRun(store, 2);
    const p3 = await session.dispatch('predictions.get', { imageId: a! });
    expect(p3.runId).toBe(second.id);
    expect(engine.threadsStarted).toBe(1);
    expect(wireValues(p3.mask)).toBe(await coldWireMask(store, second.dir, a!));
    expect(wireValues(p3.mask)).not.toBe(wireValues(p1.mask));
    // and the old one is not what it used
    expect(wireValues(p1.mask)).toBe(await coldWireMask(store, first.dir, a!));

    session.close();
    expect(engine.alive).toBe(false);
  });

  it('opening another project ends the thread; a job after close starts a new one; a failing job leaves the thread usable', async () => {
    const src = tmpDir();
    await writeShapesDataset(src, { count: 2, width: 40, height: 32, masks: 'none' });
    const store = ProjectStore.create(tmpDir());
    await importFolder(store, src);
    const run = await completedRun(store, 3);
    const engine = new EngineWorker();
    try {
      await expect(engine.run({ kind: 'load-model', model: path.join(store.dir, 'models', 'nope') })).rejects.toThrow(/no model folder/);
      expect((await engine.run({ kind: 'load-model', model: run.dir })).loaded).toBe(true);
      expect((await engine.run({ kind: 'load-model', model: run.dir })).loaded).toBe(false);
      expect(engine.threadsStarted).toBe(1);
      engine.close();
      expect(engine.alive).toBe(false);
      expect((await engine.run({ kind: 'load-model', model: run.dir })).loaded).toBe(true);
      expect(engine.threadsStarted).toBe(2);
    } finally {
      engine.close();
      store.close();
    }

    const other = ProjectStore.create(tmpDir());
    session = new Session({ transport: 'http', version: 'test' });
    session.openProject(ProjectStore.open(store.dir));
    await session.dispatch('predictions.get', { imageId: 1 });
    expect(session.engine.alive).toBe(true);
    session.openProject(other);
    expect(session.engine.alive).toBe(false);
  });

  it('model.export runs as a job in the engine thread (heatseg folder and ONNX), and its refusals keep their message', async () => {
    const src = tmpDir();
    await writeShapesDataset(src, { count: 2, width: 40, height: 32, masks: 'none' });
    const store = ProjectStore.create(tmpDir());
    await importFolder(store, src);
    const run = await completedRun(store, 4);
    session = new Session({ transport: 'http', version: 'test' });
    session.openProject(store);
    const engine = session.engine;
    const out = path.join(tmpDir(), 'exported');
    const started = engine.threadsStarted;
    const r = await session.dispatch('model.export', { out, format: 'heatseg' });
    expect(r).toMatchObject({ runId: run.id, format: 'heatseg', out });
    expect(fs.readFileSync(path.join(out, 'weights.bin'))).toEqual(fs.readFileSync(path.join(run.dir, 'weights.bin')));
    const onnxOut = path.join(tmpDir(), 'onnx');
    await session.dispatch('model.export', { out: onnxOut, format: 'onnx' });
    expect(fs.statSync(path.join(onnxOut, 'model.onnx')).size).toBeGreaterThan(1000);
    // the jobs ran in the (one) warm thread, not here
    expect(engine.threadsStarted).toBe(Math.max(1, started));
    expect(engine.alive).toBe(true);
    await expect(session.dispatch('model.export', { out, format: 'heatseg' })).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/not empty/) });
  });
});
