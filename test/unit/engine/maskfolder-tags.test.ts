import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeShapesDataset } from '../../../src-main/demo/shapes';
import { datasetFromMaskFolder, maskClasses } from '../../../src-main/engine/data';
import { readMaskPng, writeMaskPng } from '../../../src-main/dataset/maskfolder';
import { tmpDir } from '../../helpers/tmp';

/** Image tags of a mask folder: labels.json when there is one, else the classes each mask shows. */
describe('mask-folder tags', () => {
  it('without labels.json, an image is tagged with the classes its mask shows (as labels.json says for the same folder)', async () => {
    const dir = tmpDir('maskfolder-tags');
    await writeShapesDataset(dir, { count: 6, width: 48, height: 40, masks: 'dense', seed: 3 });
    const withJson = await datasetFromMaskFolder(dir, 32, { withTruth: true });
    expect(withJson.tagsFrom).toBe('labels.json');
    fs.renameSync(path.join(dir, 'labels.json'), path.join(dir, 'labels.off'));
    for (const opts of [{ withTruth: true }, {}]) {
      const fromMasks = await datasetFromMaskFolder(dir, 32, opts);
      expect(fromMasks.tagsFrom).toBe('masks');
      expect(fromMasks.samples.map((s) => s.id)).toEqual(withJson.samples.map((s) => s.id));
      expect(fromMasks.samples.map((s) => s.tags)).toEqual(withJson.samples.map((s) => s.tags));
      expect(fromMasks.samples.every((s) => s.tags.length > 0)).toBe(true);
      // only asked-for truth is kept
      expect(fromMasks.samples.every((s) => (s.truth !== undefined) === ('withTruth' in opts))).toBe(true);
    }
  });

  it('an image without a mask gets no tags; a mask value that is no class is an error naming the mask', async () => {
    const dir = tmpDir('maskfolder-tags-bad');
    await writeShapesDataset(dir, { count: 3, width: 48, height: 40, masks: 'dense', seed: 4 });
    fs.rmSync(path.join(dir, 'labels.json'));
    const ids = fs.readdirSync(path.join(dir, 'masks')).sort();
    fs.rmSync(path.join(dir, 'masks', ids[0]!));
    const data = await datasetFromMaskFolder(dir, 32);
    expect(data.samples[0]!.tags).toEqual([]);
    expect(data.samples[1]!.tags.length).toBeGreaterThan(0);
    const bad = path.join(dir, 'masks', ids[1]!);
    const m = readMaskPng(bad);
    m.data[5] = 200;
    writeMaskPng(bad, m.width, m.height, m.data, [[0, 0, 0]]);
    await expect(datasetFromMaskFolder(dir, 32)).rejects.toThrow(`${bad}: mask value 200 is not a class`);
  });

  it('maskClasses: present values in order, 255 skipped', () => {
    expect(maskClasses(Uint8Array.from([3, 255, 0, 3, 255, 1]), 4, 'm.png')).toEqual([0, 1, 3]);
    expect(maskClasses(Uint8Array.from([255, 255]), 4, 'm.png')).toEqual([]);
    expect(() => maskClasses(Uint8Array.from([4]), 4, 'm.png')).toThrow('m.png: mask value 4 is not a class');
  });
});
