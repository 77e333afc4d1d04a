/**
 * Inference jobs split across threads: `suggest` scores its image list on N engine workers with the
 * same ranking as one thread, and a cancelled suggest fails cleanly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { importFolder } from '../../../src-main/dataset/import';
import { writeShapesDataset } from '../../../src-main/demo/shapes';
import { type JobEvent, type PredictJobResult, type SuggestJobResult, runJob } from '../../../src-main/engine/jobs';
import { ProjectStore } from '../../../src-main/store/project';
import { tmpDir } from '../../helpers/tmp';

let project: string;
let model: string;
let images: string[];

beforeAll(async () => {
  const src = tmpDir();
  await writeShapesDataset(src, { count: 14, width: 48, height: 40, masks: 'scribbles', maskedImages: 4, seed: 3 });
  const store = ProjectStore.create(tmpDir());
  await importFolder(store, src);
  images = fs.readdirSync(path.join(src, 'images')).sort().map((f) => path.join(src, 'images', f));
  project = store.dir;
  store.close();
  await runJob(
    { kind: 'train', project, modelDir: 'models/m', method: 'lrp', backbone: 'small', backend: 'wasm', config: { size: 32, batch: 4, epochs: 1, threads: 1 } },
    { emit: () => undefined, cancelled: () => false },
  );
  model = path.join(project, 'models/m');
});

describe('suggest on N threads', () => {
  it('ranks exactly as one thread does, with progress over all images', async () => {
    const run = async (threads: number) => {
      const progress: number[] = [];
      const r = (await runJob({ kind: 'suggest', project, model, strategy: 'diverse', n: 5, backend: 'wasm', threads }, {
        emit: (e: JobEvent) => (e.type === 'progress' ? progress.push(e.total) : 0),
        cancelled: () => false,
      })) as SuggestJobResult;
      return { r, progress };
    };
    const one = await run(1);
    const three = await run(3);
    expect(one.r.candidates).toBe(10);
    expect(three.r.suggestions).toEqual(one.r.suggestions);
    expect(three.progress.every((t) => t === 14)).toBe(true); // diverse scores labelled images too
  });

  it('a cancelled suggest on 2 threads fails with "cancelled" (its helper is cancelled with it)', async () => {
    let events = 0;
    const job = runJob({ kind: 'suggest', project, model, strategy: 'pixel-entropy', n: 3, backend: 'wasm', threads: 2 }, {
      emit: (e: JobEvent) => (e.type === 'progress' ? events++ : 0),
      cancelled: () => events >= 2,
    });
    await expect(job).rejects.toThrow(/cancelled/);
  });
});

describe('predict on N threads', () => {
  it('writes the same files as one thread, listed in image order', async () => {
    const run = async (threads: number) => {
      const out = tmpDir();
      const r = (await runJob({ kind: 'predict', model, images, out, backend: 'wasm', threads }, { emit: () => undefined, cancelled: () => false })) as PredictJobResult;
      return { r, out };
    };
    const one = await run(1);
    const two = await run(2);
    expect(two.r.written.map((w) => w.image)).toEqual(images);
    expect(two.r.written.map((w) => w.classes)).toEqual(one.r.written.map((w) => w.classes));
    for (const [i, w] of two.r.written.entries()) expect(fs.readFileSync(w.mask)).toEqual(fs.readFileSync(one.r.written[i]!.mask));
  });
});
