/** Issue 11, items 1–2: heatseg never writes over or deletes a file it did not create. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src-main/cli/main';
import { exportLabels } from '../../src-main/dataset/export';
import { exportRun } from '../../src-main/engine/export-run';
import { saveModel } from '../../src-main/engine/model-io';
import type { Segmenter } from '../../src-main/engine/models/index';
import { writePredictionPngs } from '../../src-main/engine/prediction-png';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';

/** A project whose run 1 is completed with a (fake) model folder: enough for a heatseg-format export. */
function projectWithFakeRun(): { store: ProjectStore; modelDir: string } {
  const store = ProjectStore.create(path.join(tmpDir(), 'p'));
  const run = store.createRun('lrp', 'small', {});
  const modelDir = path.join(store.dir, run.checkpoint_dir!);
  fs.mkdirSync(modelDir, { recursive: true });
  fs.writeFileSync(path.join(modelDir, 'heatseg-model.json'), '{"format":"heatseg-model"}');
  fs.writeFileSync(path.join(modelDir, 'weights.bin'), Buffer.alloc(8));
  store.finishRun(run.id, 'completed', { keepCheckpoint: true });
  return { store, modelDir };
}

function heatsegTemps(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.includes('.heatseg-tmp-'));
}

describe('export (heatseg export, model.export) never touches what heatseg did not create', () => {
  it('leaves an unrelated OUT.partial folder alone, on success and on failure', async () => {
    const { store } = projectWithFakeRun();
    const parent = tmpDir();
    const out = path.join(parent, 'model');
    fs.mkdirSync(`${out}.partial`);
    fs.writeFileSync(path.join(`${out}.partial`, 'precious.txt'), 'mine');
    const r = await exportRun(store, out, { format: 'heatseg' });
    expect(r.out).toBe(out);
    expect(fs.readdirSync(out).sort()).toEqual(['heatseg-model.json', 'weights.bin']);
    expect(fs.readFileSync(path.join(`${out}.partial`, 'precious.txt'), 'utf8')).toBe('mine');
    // A failing export (the fake model cannot become ONNX) removes only its own temporary folder.
    const out2 = path.join(parent, 'model2');
    fs.mkdirSync(`${out2}.partial`);
    fs.writeFileSync(path.join(`${out2}.partial`, 'precious.txt'), 'mine too');
    await expect(exportRun(store, out2, { format: 'onnx' })).rejects.toThrow();
    expect(fs.readFileSync(path.join(`${out2}.partial`, 'precious.txt'), 'utf8')).toBe('mine too');
    expect(fs.existsSync(out2)).toBe(false);
    expect(heatsegTemps(parent)).toEqual([]);
    store.close();
  });

  it('saveModel refuses to replace a folder holding files heatseg did not write, and leaves beside it no .partial of the user', () => {
    const dir = path.join(tmpDir(), 'm');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    fs.mkdirSync(`${dir}.partial`);
    fs.writeFileSync(path.join(`${dir}.partial`, 'keep.txt'), 'mine');
    const fake = { getWeights: () => ({ w: { shape: [2], data: new Float32Array([1, 2]) } }), config: () => ({}) } as unknown as Segmenter;
    const meta = { classes: [{ name: 'a', color: '#ff0000' }], inputSize: 16, normalisation: 'RGB / 255', method: 'lrp' as const, backbone: 'small', heatScale: 1, heatNorm: 'pixel' as const, training: {}, metrics: null };
    expect(() => saveModel(dir, fake, meta)).toThrow(/holds files heatseg did not write there; not replacing it/);
    expect(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    // A model folder of its own is replaced, and the user's .partial stays.
    const own = path.join(path.dirname(dir), 'own');
    saveModel(own, fake, meta);
    saveModel(own, fake, meta);
    expect(fs.readdirSync(own).sort()).toEqual(['heatseg-model.json', 'weights.bin']);
    expect(fs.readFileSync(path.join(`${dir}.partial`, 'keep.txt'), 'utf8')).toBe('mine');
    expect(heatsegTemps(path.dirname(dir))).toEqual([]);
  });
});

describe('export-labels never touches what heatseg did not create', () => {
  it('leaves a user folder named like the old temporary (OUT.partial-PID) alone', async () => {
    const { store } = projectWithFakeRun();
    store.addClass('a');
    const parent = tmpDir();
    const out = path.join(parent, 'labels');
    const theirs = `${out}.partial-${process.pid}`;
    fs.mkdirSync(theirs);
    fs.writeFileSync(path.join(theirs, 'keep.txt'), 'mine');
    exportLabels(store, out);
    expect(fs.existsSync(path.join(out, 'classes.json'))).toBe(true);
    expect(fs.readFileSync(path.join(theirs, 'keep.txt'), 'utf8')).toBe('mine');
    expect(heatsegTemps(parent)).toEqual([]);
    store.close();
  });
});

describe('predict output (heatseg predict --out) never writes over an input or an earlier output', () => {
  const pred = { width: 2, height: 1, mask: new Uint8Array([0, 1]), confidence: new Uint8Array([230, 204]), classes: [0, 1] };
  it('an input image in the output folder keeps its bytes; same-named inputs get unique outputs', async () => {
    const dir = tmpDir();
    const input = path.join(dir, 'x.png');
    fs.writeFileSync(input, 'the user photo');
    const a = await writePredictionPngs(dir, 'x', pred, ['#ff0000', '#00ff00']);
    expect(fs.readFileSync(input, 'utf8')).toBe('the user photo');
    expect(a.mask).toBe(path.join(dir, 'x~2.png'));
    expect(a.heatmap).toBe(path.join(dir, 'x~2.heatmap.png'));
    const b = await writePredictionPngs(dir, 'x', pred, ['#ff0000', '#00ff00']);
    expect(b.mask).toBe(path.join(dir, 'x~3.png'));
    expect(fs.readFileSync(a.mask).equals(fs.readFileSync(b.mask))).toBe(true);
    expect(fs.readFileSync(input, 'utf8')).toBe('the user photo');
  });
});

describe('predict on a run folder of a run that did not finish', () => {
  it('warns that it is not a finished model (folders left complete-looking by older builds)', async () => {
    const { store, modelDir } = projectWithFakeRun();
    const run = store.createRun('lrp', 'small', {});
    const failedDir = path.join(store.dir, run.checkpoint_dir!);
    fs.cpSync(modelDir, failedDir, { recursive: true });
    store.finishRun(run.id, 'failed', { error: 'interrupted', keepCheckpoint: true });
    store.close();
    let err = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      err += String(s);
      return true;
    });
    try {
      const image = path.join(tmpDir(), 'a.png');
      fs.writeFileSync(image, 'x');
      await main(['node', 'heatseg', 'predict', failedDir, image, '--out', tmpDir()], () => undefined);
    } finally {
      spy.mockRestore();
      process.exitCode = undefined;
    }
    expect(err).toMatch(new RegExp(`warning: .*run-${run.id} belongs to run ${run.id}, which is failed \\(interrupted\\): it is not a finished model`));
  });
});
