/**
 * Export of labels: the mask-folder format (indexed 8-bit PNG masks, value = class position,
 * 255 = unlabelled, so that import(export(p)) round-trips bit-exactly) and COCO with RLE masks.
 * Files are written into a temporary folder next to OUT and renamed into place at the end, so an
 * interrupted export never leaves a half-written dataset that looks complete.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ExportReport } from '../../src-shared/api.js';
import { ApiError } from '../../src-shared/api.js';
import { encodeRle, rleToString } from '../../src-shared/coco-rle.js';
import { hexToRgb } from '../../src-shared/colors.js';
import { tempDirBeside } from '../safe-fs.js';
import type { ProjectStore } from '../store/project.js';
import { IGNORE_INDEX, stemOf, writeMaskPng } from './maskfolder.js';

export interface ExportOptions {
  format?: 'maskfolder' | 'coco';
  onProgress?: (done: number, total: number) => void;
}

function prepareOut(out: string): string {
  const abs = path.resolve(out);
  if (fs.existsSync(abs) && fs.readdirSync(abs).length > 0) {
    throw new ApiError('conflict', `${abs} exists and is not empty; choose a new folder`);
  }
  // A fresh mkdtemp folder beside OUT: never a name of the user's, so removing it on failure is safe.
  const tmp = tempDirBeside(abs);
  fs.mkdirSync(path.join(tmp, 'images'));
  return tmp;
}

function finish(tmp: string, out: string): void {
  const abs = path.resolve(out);
  if (fs.existsSync(abs)) fs.rmdirSync(abs);
  fs.renameSync(tmp, abs);
}

/** Unique output names: the original file name, or name~id when two images share a stem. */
function outputNames(store: ProjectStore, ids: number[]): Map<number, { image: string; stem: string }> {
  const taken = new Set<string>();
  const names = new Map<number, { image: string; stem: string }>();
  for (const id of ids) {
    const row = store.imageRow(id);
    const base = path.basename(row.original_name);
    let stem = stemOf(base);
    if (taken.has(stem)) stem = `${stem}~${id}`;
    taken.add(stem);
    names.set(id, { image: `${stem}${path.extname(base)}`, stem });
  }
  return names;
}

export function exportLabels(store: ProjectStore, out: string, opts: ExportOptions = {}): ExportReport {
  const format = opts.format ?? 'maskfolder';
  const classes = store.classes();
  if (classes.length === 0) throw new ApiError('invalid_input', `${store.dir} has no classes to export`);
  const tmp = prepareOut(out);
  try {
    const ids = store.allImageIds();
    const names = outputNames(store, ids);
    const byId = new Map(classes.map((c) => [c.id, c]));
    // label value -> position index in classes.json
    const lut = new Uint8Array(256).fill(IGNORE_INDEX);
    classes.forEach((c, k) => (lut[c.labelValue] = k));
    let files = 0;
    const labelsJson: Record<string, string[]> = {};
    const coco = {
      info: { description: `heatseg export of ${store.name}`, date_created: new Date().toISOString() },
      images: [] as object[],
      annotations: [] as object[],
      categories: classes.map((c, k) => ({ id: k + 1, name: c.name, supercategory: 'heatseg', color: c.color })),
    };
    if (format === 'maskfolder') fs.mkdirSync(path.join(tmp, 'masks'));
    ids.forEach((id, i) => {
      opts.onProgress?.(i, ids.length);
      const row = store.imageRow(id);
      const name = names.get(id)!;
      fs.copyFileSync(store.imagePath(row.file_name), path.join(tmp, 'images', name.image));
      files++;
      const summary = store.imageSummary(id);
      const tagNames = summary.tags.map((t) => byId.get(t)!).sort((a, b) => a.position - b.position).map((c) => c.name);
      labelsJson[name.stem] = tagNames;
      const lr = store.labels(id);
      if (format === 'maskfolder') {
        if (lr) {
          const mask = new Uint8Array(lr.raster.length);
          for (let p = 0; p < mask.length; p++) mask[p] = lut[lr.raster[p]!]!;
          writeMaskPng(path.join(tmp, 'masks', `${name.stem}.png`), lr.width, lr.height, mask, classes.map((c) => hexToRgb(c.color)));
          files++;
        }
        return;
      }
      coco.images.push({ id, file_name: `images/${name.image}`, width: row.width, height: row.height, heatseg_tags: tagNames });
      if (!lr) return;
      classes.forEach((c, k) => {
        let area = 0;
        let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
        for (let p = 0; p < lr.raster.length; p++) {
          if (lr.raster[p] !== c.labelValue) continue;
          area++;
          const x = p % lr.width, y = (p - x) / lr.width;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
        if (!area) return;
        const counts = encodeRle(lr.width, lr.height, (p) => lr.raster[p] === c.labelValue);
        coco.annotations.push({
          id: coco.annotations.length + 1,
          image_id: id,
          category_id: k + 1,
          segmentation: { size: [lr.height, lr.width], counts: rleToString(counts) },
          area,
          bbox: [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
          iscrowd: 0,
        });
      });
    });
    if (format === 'maskfolder') {
      fs.writeFileSync(
        path.join(tmp, 'classes.json'),
        JSON.stringify(
          { classes: classes.map((c) => c.name), ignore_index: IGNORE_INDEX, colors: classes.map((c) => c.color), source: `heatseg export of ${store.name}` },
          null,
          1,
        ),
      );
      fs.writeFileSync(path.join(tmp, 'labels.json'), JSON.stringify(labelsJson, null, 1));
      files += 2;
    } else {
      fs.writeFileSync(path.join(tmp, 'annotations.json'), JSON.stringify(coco));
      files++;
    }
    opts.onProgress?.(ids.length, ids.length);
    finish(tmp, out);
    return { out: path.resolve(out), format, images: ids.length, files };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
