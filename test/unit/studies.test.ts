/**
 * src-main/studies: the splits and the simulated annotator that `bench quality` and `bench active`
 * share (one copy each), on their own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMaskPng } from '../../src-main/dataset/maskfolder';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import type { Sample } from '../../src-main/engine/data';
import { annotatorLabels, chooseLabelled, scribbleSeed } from '../../src-main/studies/annotator';
import { imageFiles, splitByContent, splitPartsByContent } from '../../src-main/studies/splits';
import { tmpDir } from '../helpers/tmp';

describe('content splits', () => {
  let dir: string;
  let files: Map<string, string>;
  let ids: string[];
  beforeAll(() => {
    dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'images'));
    // 20 distinct photos, and a0 / a1 / a2 the same bytes under three names (as MSRC's duplicates)
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, 'images', `p${i}.jpg`), `photo ${i}`);
    for (let k = 0; k < 3; k++) fs.writeFileSync(path.join(dir, 'images', `a${k}.png`), 'same bytes');
    files = imageFiles(dir);
    ids = [...files.keys()].sort();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('imageFiles names each image by its file name without extension', () => {
    expect(ids).toHaveLength(23);
    expect(files.get('a1')).toBe(path.join(dir, 'images', 'a1.png'));
    expect(files.get('p7')).toBe(path.join(dir, 'images', 'p7.jpg'));
  });

  it('splitByContent: every id once, identical photos on one side, the fraction counted in groups, one split per seed', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const [a, b] = splitByContent(ids, files, 0.5, seed);
      expect([...a, ...b].sort()).toEqual(ids);
      const dupSide = ['a0', 'a1', 'a2'].map((id) => a.includes(id));
      expect(new Set(dupSide).size).toBe(1);
      // 21 groups: round(10.5) = 11 go first
      expect(a.length).toBe(dupSide[0] ? 13 : 11);
      expect(splitByContent(ids, files, 0.5, seed)).toEqual([a, b]);
    }
    const sides = new Set([1, 2, 3, 4, 5].map((seed) => splitByContent(ids, files, 0.5, seed)[0].sort().join()));
    expect(sides.size).toBeGreaterThan(1);
  });

  it('splitPartsByContent: disjoint parts covering every id, duplicates together; two parts are splitByContent', () => {
    const parts = splitPartsByContent(ids, files, [60, 20, 20], 3);
    expect(parts).toHaveLength(3);
    expect(parts.flat().sort()).toEqual(ids);
    expect(parts.filter((p) => p.includes('a0') && p.includes('a1') && p.includes('a2'))).toHaveLength(1);
    // groups: round(21 · 0.6) = 13, round(21 · 0.8) − 13 = 4, the rest 4
    const groupsOf = (p: string[]) => p.filter((id) => !/^a[12]$/.test(id)).length;
    expect(parts.map(groupsOf)).toEqual([13, 4, 4]);
    expect(splitPartsByContent(ids, files, [0.75, 0.25], 9)).toEqual(splitByContent(ids, files, 0.75, 9));
  });
});

describe('simulated annotator', () => {
  let dir: string;
  let ids: string[];
  beforeAll(async () => {
    dir = tmpDir();
    ids = await writeShapesDataset(dir, { count: 4, width: 48, height: 40, seed: 3 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('scribbleSeed depends on the run seed and the image, not on the order of picking', () => {
    expect(scribbleSeed(1, 'shape_0001')).toBe(scribbleSeed(1, 'shape_0001'));
    expect(scribbleSeed(2, 'shape_0001') - scribbleSeed(1, 'shape_0001')).toBe(1);
    expect(scribbleSeed(1, 'shape_0001')).not.toBe(scribbleSeed(1, 'shape_0002'));
    // the first 6 hex digits of the id's md5, as the committed results were made with
    expect(scribbleSeed(0, 'abc')).toBe(0x900150);
  });

  it('gives the whole mask, or scribbles inside it that a seed fixes', () => {
    const id = ids[0]!;
    const mask = readMaskPng(path.join(dir, 'masks', `${id}.png`));
    expect(annotatorLabels(dir, id, 'masks', 1)).toEqual(mask);
    const s1 = annotatorLabels(dir, id, 'scribbles', 1);
    expect([s1.width, s1.height]).toEqual([mask.width, mask.height]);
    let labelled = 0;
    for (let p = 0; p < s1.data.length; p++) {
      if (s1.data[p] === 255) continue;
      labelled++;
      expect(s1.data[p]).toBe(mask.data[p]);
    }
    expect(labelled).toBeGreaterThan(0);
    expect(labelled).toBeLessThan(s1.data.length / 2);
    expect(annotatorLabels(dir, id, 'scribbles', 1).data).toEqual(s1.data);
    expect(annotatorLabels(dir, id, 'scribbles', 2).data).not.toEqual(s1.data);
  });

  it('chooseLabelled picks tagged images only, covering each class before repeating one', () => {
    const sample = (id: string, tags: number[]): Sample => ({ id, rgb: new Uint8Array(0), width: 1, height: 1, tags, labels: null, origWidth: 1, origHeight: 1 });
    const samples = [sample('a', [0]), sample('b', [0]), sample('c', [0, 1]), sample('d', []), sample('e', [2]), sample('f', [0])];
    for (const seed of [1, 2, 3]) {
      const three = chooseLabelled(samples, 3, 3, seed).map((s) => s.id);
      expect(three).not.toContain('d');
      // classes 0, 1, 2 are all covered by three images only through c and e
      expect(three).toEqual(expect.arrayContaining(['c', 'e']));
      expect(chooseLabelled(samples, 3, 3, seed).map((s) => s.id)).toEqual(three);
      // never the untagged one, even when asked for all
      expect(chooseLabelled(samples, 6, 3, seed).map((s) => s.id).sort()).toEqual(['a', 'b', 'c', 'e', 'f']);
    }
  });
});
