/**
 * The user story of issue 12: a new user imports 10 of their own photos, makes 5 classes, tags 9
 * images, scribbles on 4, and presses Train with every default (the shipped pretrained backbone).
 * The trained model's mask must follow scribbles it never saw (on the other images) better than
 * the tag-fill control (the tag head's top class painted over the whole image), and the tag head must
 * have learnt (its top class alone right on over a third of those pixels). Real photos: ten
 * MSRC-21 images from ../shared, copied at test time (skipped without them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TrainStatus } from '../../src-shared/api';
import { decompressRaster, fromBase64 } from '../../src-shared/labels';
import { simulateScribbles } from '../../src-shared/scribbles';
import { Session } from '../../src-main/api/handlers';
import { importFolder } from '../../src-main/dataset/import';
import { readLabelsJson, readMaskPng, writeMaskPng } from '../../src-main/dataset/maskfolder';
import { ProjectStore } from '../../src-main/store/project';
import { MSRC21, hasMsrc21, tmpDir } from '../helpers/tmp';

const CLASSES = ['building', 'grass', 'tree', 'cow', 'sky'];
if (!hasMsrc21) console.warn(`first-train test skipped: ${MSRC21}/classes.json not found (../shared/datasets/msrc21 from the repo root)`);

/** Ten photos showing only the five classes: each combination of tags first, then in id order. */
function pickPhotos(): string[] {
  const labels = readLabelsJson(path.join(MSRC21, 'labels.json'));
  const fits = Object.keys(labels)
    .sort()
    .filter((id) => labels[id]!.length >= 2 && labels[id]!.every((c) => CLASSES.includes(c)));
  const seen = new Set<string>();
  const first = fits.filter((id) => {
    const key = [...labels[id]!].sort().join('+');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return [...first, ...fits.filter((id) => !first.includes(id))].slice(0, 10);
}

describe.skipIf(!hasMsrc21)('first Train on 10 real photos with the defaults', () => {
  it('gives masks that agree with held-out scribbles on more pixels than tag-fill', { timeout: 600_000 }, async () => {
    const msrcClasses = (JSON.parse(fs.readFileSync(path.join(MSRC21, 'classes.json'), 'utf8')) as { classes: string[] }).classes;
    const toOurs = new Uint8Array(256).fill(255);
    CLASSES.forEach((c, k) => (toOurs[msrcClasses.indexOf(c)] = k));
    const ids = pickPhotos();
    expect(ids).toHaveLength(10);
    const labels = readLabelsJson(path.join(MSRC21, 'labels.json'));
    const src = tmpDir();
    fs.mkdirSync(path.join(src, 'images'));
    fs.mkdirSync(path.join(src, 'masks'));
    const scribbled = new Set(ids.slice(0, 4));
    const untagged = ids[9]!;
    const heldOut = new Map<string, { width: number; height: number; scribbles: Uint8Array }>();
    for (const [i, id] of ids.entries()) {
      fs.copyFileSync(path.join(MSRC21, 'images', `${id}.jpg`), path.join(src, 'images', `${id}.jpg`));
      const m = readMaskPng(path.join(MSRC21, 'masks', `${id}.png`));
      const ours = m.data.map((v) => toOurs[v]!);
      const s = simulateScribbles(ours, m.width, m.height, { seed: 100 + i }).scribbles;
      if (scribbled.has(id)) writeMaskPng(path.join(src, 'masks', `${id}.png`), m.width, m.height, s, []);
      else heldOut.set(id, { width: m.width, height: m.height, scribbles: s });
    }
    const tags = Object.fromEntries(ids.filter((id) => id !== untagged).map((id) => [id, labels[id]!]));
    fs.writeFileSync(path.join(src, 'classes.json'), JSON.stringify({ classes: CLASSES, ignore_index: 255 }));
    fs.writeFileSync(path.join(src, 'labels.json'), JSON.stringify(tags));

    const store = ProjectStore.create(tmpDir());
    const report = await importFolder(store, src);
    expect(report.imported).toBe(10);
    const s = new Session({ transport: 'http', version: 'test', emit: () => {} });
    s.openProject(store);
    // Every default: method, backbone (the shipped darknet-tiny), epochs, size, seed.
    const started = await s.dispatch('train.start', {});
    let st: TrainStatus = started;
    while (st.state !== 'done' && st.state !== 'failed') {
      await new Promise((r) => setTimeout(r, 250));
      st = await s.dispatch('train.status', {});
    }
    expect(st.message).toMatch(/finished/);
    expect((await s.dispatch('runs.list', {}))[0]).toMatchObject({ status: 'completed', backbone: 'darknet-tiny' });

    const byName = new Map(store.allImageIds().map((i) => [store.imageSummary(i).originalName.replace(/\.[^.]+$/, ''), i]));
    const classes = store.classes();
    const valueOf = (k: number) => classes.find((c) => c.name === CLASSES[k])!.labelValue;
    let agree = 0, fillAgree = 0, total = 0;
    for (const [id, h] of heldOut) {
      const pred = await s.dispatch('predictions.get', { imageId: byName.get(id)! });
      expect([pred.width, pred.height]).toEqual([h.width, h.height]);
      const mask = decompressRaster(fromBase64(pred.mask), pred.width, pred.height);
      const top = Number(Object.entries(pred.tagProbs).sort((a, b) => b[1] - a[1])[0]![0]);
      const topValue = classes.find((c) => c.id === top)!.labelValue;
      for (let p = 0; p < h.scribbles.length; p++) {
        const k = h.scribbles[p]!;
        if (k === 255) continue;
        total++;
        if (mask[p] === valueOf(k)) agree++;
        if (topValue === valueOf(k)) fillAgree++;
      }
    }
    console.log(`held-out scribble pixels: ${total}; model agrees on ${(agree / total).toFixed(3)}, tag-fill on ${(fillAgree / total).toFixed(3)}`);
    expect(total).toBeGreaterThan(1000);
    expect(agree).toBeGreaterThan(fillAgree);
    // The tags were learnt too (issue 12: from scratch the tag loss stayed at the uniform level): the
    // tag head's top class alone paints over a third of the held-out scribble pixels right. With the
    // old default ('small', from scratch) these photos give 0.247 here (masks 0.622), the shipped
    // darknet-tiny 0.459 (masks 0.580) without the tag probe, 0.451 (masks 0.513) with it at L2 3 / images;
    // a fixed L2 0.01 over-fitted the 9 tagged images here (0.263): the mask check alone passes with either.
    expect(fillAgree / total).toBeGreaterThan(1 / 3);
  });
});
