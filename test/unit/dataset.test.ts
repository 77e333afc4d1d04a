import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRle, rleFromString } from '../../src-shared/coco-rle';
import { exportLabels } from '../../src-main/dataset/export';
import { importFolder } from '../../src-main/dataset/import';
import { readMaskPng } from '../../src-main/dataset/maskfolder';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { ProjectStore } from '../../src-main/store/project';
import { MSRC21, hasMsrc21, tmpDir } from '../helpers/tmp';

async function shapes(count: number, masks: 'dense' | 'scribbles' = 'dense') {
  const src = tmpDir('heatseg-shapes-');
  await writeShapesDataset(src, { count, masks, seed: 3, width: 64, height: 48 });
  return src;
}

function masksEqual(a: string, b: string): void {
  const files = fs.readdirSync(path.join(a, 'masks')).sort();
  expect(fs.readdirSync(path.join(b, 'masks')).sort()).toEqual(files);
  for (const f of files) {
    const x = readMaskPng(path.join(a, 'masks', f));
    const y = readMaskPng(path.join(b, 'masks', f));
    expect([y.width, y.height]).toEqual([x.width, x.height]);
    expect(Buffer.from(y.data).equals(Buffer.from(x.data)), `${f} pixel values`).toBe(true);
  }
}

describe('import', () => {
  it('imports a mask folder: images, classes in order, tags and pixel labels', async () => {
    const src = await shapes(6);
    const store = ProjectStore.create(tmpDir());
    const progress: number[] = [];
    const report = await importFolder(store, src, { onProgress: (d) => progress.push(d) });
    expect(report).toMatchObject({ imported: 6, duplicates: 0, skipped: [], labelledImages: 6 });
    expect(store.classes().map((c) => c.name)).toEqual(['sand', 'water', 'disc', 'square', 'triangle']);
    const labels = JSON.parse(fs.readFileSync(path.join(src, 'labels.json'), 'utf8')) as Record<string, string[]>;
    const first = store.listImages({ offset: 0, limit: 1 }).items[0]!;
    const names = first.tags.map((t) => store.classById(t).name).sort();
    expect(names).toEqual([...labels['shape_0000']!].sort());
    expect(first.labelledPixels).toBe(64 * 48);
    expect(progress.at(-1)).toBe(6);
    expect(fs.readdirSync(path.join(store.dir, 'images'))).toHaveLength(6);
  });

  it('is idempotent: importing the same folder again adds nothing', async () => {
    const src = await shapes(4);
    const store = ProjectStore.create(tmpDir());
    await importFolder(store, src);
    const again = await importFolder(store, src);
    expect(again).toMatchObject({ imported: 0, duplicates: 4 });
    expect(store.summary().images).toBe(4);
  });

  it('reports a truncated JPEG, a zero-byte file and a text file named .png by name, and imports the rest', async () => {
    const src = await shapes(3);
    const good = fs.readFileSync(path.join(src, 'images', 'shape_0000.jpg'));
    fs.writeFileSync(path.join(src, 'images', 'truncated.jpg'), good.subarray(0, Math.floor(good.length / 2)));
    fs.writeFileSync(path.join(src, 'images', 'empty.png'), '');
    fs.writeFileSync(path.join(src, 'images', 'notes.png'), 'this is text, not a picture\n');
    const store = ProjectStore.create(tmpDir());
    const report = await importFolder(store, src);
    expect(report.imported).toBe(3);
    const byFile = Object.fromEntries(report.skipped.map((s) => [s.file, s.reason]));
    expect(Object.keys(byFile).sort()).toEqual(['images/empty.png', 'images/notes.png', 'images/truncated.jpg']);
    expect(byFile['images/empty.png']).toMatch(/empty file/);
    expect(byFile['images/truncated.jpg']).toMatch(/premature end|truncated/i);
    expect(byFile['images/notes.png']).toMatch(/unsupported image format/);
  });

  it('skips an image whose mask has the wrong size or an unknown value, naming the mask', async () => {
    const src = await shapes(2);
    const m = readMaskPng(path.join(src, 'masks', 'shape_0001.png'));
    m.data[5] = 42;
    const { writeMaskPng } = await import('../../src-main/dataset/maskfolder');
    writeMaskPng(path.join(src, 'masks', 'shape_0001.png'), m.width, m.height, m.data, []);
    const store = ProjectStore.create(tmpDir());
    const report = await importFolder(store, src);
    expect(report.imported).toBe(1);
    expect(report.skipped[0]!.reason).toMatch(/mask masks\/shape_0001.png has value 42 .* 5 classes/);
  });

  it('imports a plain folder of images (no masks, no tags)', async () => {
    const src = await shapes(2);
    const store = ProjectStore.create(tmpDir());
    const report = await importFolder(store, path.join(src, 'images'));
    expect(report).toMatchObject({ imported: 2, labelledImages: 0 });
    expect(store.summary().taggedImages).toBe(0);
  });
});

describe('export', () => {
  it('mask folder round-trips bit-exactly: import(export(p)) has the same labels, tags and files', async () => {
    const src = await shapes(5, 'scribbles');
    const a = ProjectStore.create(tmpDir());
    await importFolder(a, src);
    const out = path.join(tmpDir(), 'export');
    const r = exportLabels(a, out);
    expect(r.images).toBe(5);
    masksEqual(src, out);
    const b = ProjectStore.create(tmpDir());
    await importFolder(b, out);
    for (const id of a.allImageIds()) {
      const la = a.labels(id)!;
      const lb = b.labels(id)!;
      expect(Buffer.from(lb.raster).equals(Buffer.from(la.raster))).toBe(true);
      expect(b.imageSummary(id).tags).toEqual(a.imageSummary(id).tags);
      expect(b.imageRow(id).hash).toBe(a.imageRow(id).hash);
    }
    expect(JSON.parse(fs.readFileSync(path.join(out, 'labels.json'), 'utf8'))).toEqual(
      JSON.parse(fs.readFileSync(path.join(src, 'labels.json'), 'utf8')),
    );
  });

  it('refuses a non-empty output folder and leaves no partial export behind', async () => {
    const src = await shapes(2);
    const store = ProjectStore.create(tmpDir());
    await importFolder(store, src);
    const out = tmpDir();
    fs.writeFileSync(path.join(out, 'keep.txt'), 'x');
    expect(() => exportLabels(store, out)).toThrow(/not empty/);
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);
  });

  it('COCO export: one RLE annotation per class and image that decodes to the labelled pixels', async () => {
    const src = await shapes(3);
    const store = ProjectStore.create(tmpDir());
    await importFolder(store, src);
    const out = path.join(tmpDir(), 'coco');
    exportLabels(store, out, { format: 'coco' });
    const coco = JSON.parse(fs.readFileSync(path.join(out, 'annotations.json'), 'utf8')) as {
      images: Array<{ id: number; width: number; height: number }>;
      categories: Array<{ id: number; name: string }>;
      annotations: Array<{ image_id: number; category_id: number; area: number; segmentation: { size: [number, number]; counts: string } }>;
    };
    expect(coco.images).toHaveLength(3);
    expect(coco.categories.map((c) => c.name)).toEqual(['sand', 'water', 'disc', 'square', 'triangle']);
    for (const ann of coco.annotations) {
      const [h, w] = ann.segmentation.size;
      const bin = decodeRle(w, h, rleFromString(ann.segmentation.counts));
      const cls = store.classes()[ann.category_id - 1]!;
      const raster = store.labels(ann.image_id)!.raster;
      let area = 0;
      for (let p = 0; p < bin.length; p++) {
        expect(bin[p]).toBe(raster[p] === cls.labelValue ? 1 : 0);
        area += bin[p]!;
      }
      expect(area).toBe(ann.area);
    }
  });
});

describe.skipIf(!hasMsrc21)('msrc21 (../shared/datasets/msrc21)', () => {
  it('imports 441 images with 21 classes and exports masks identical to the source, same file names', async () => {
    const store = ProjectStore.create(tmpDir());
    const report = await importFolder(store, MSRC21);
    expect(report).toMatchObject({ imported: 441, skipped: [], labelledImages: 441 });
    const s = store.summary();
    expect(s.classes).toHaveLength(21);
    expect(s.taggedImages).toBe(441);
    const out = path.join(tmpDir(), 'msrc-export');
    exportLabels(store, out);
    masksEqual(MSRC21, out);
  }, 180_000);
});
if (!hasMsrc21) console.warn('skipping msrc21 tests: ../shared/datasets/msrc21 is absent');
