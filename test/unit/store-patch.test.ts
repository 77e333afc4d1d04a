import { describe, expect, it } from 'vitest';
import { PATCH_KEEP, histogram } from '../../src-shared/labels';
import { rng } from '../../src-shared/random';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';

/** What label_counts and labelled_pixels must say, recomputed from the stored raster. */
function recount(store: ProjectStore, id: number) {
  const raster = store.labels(id)!.raster;
  const h = histogram(raster);
  const byValue = new Map(store.classes().map((c) => [c.labelValue, c.id]));
  const expected: Record<number, number> = {};
  for (let v = 1; v < 255; v++) if (h[v] && byValue.has(v)) expected[byValue.get(v)!] = h[v]!;
  const counts = Object.fromEntries(
    (store.db.prepare('SELECT class_id, pixels FROM label_counts WHERE image_id = ?').all(id) as Array<{ class_id: number; pixels: number }>).map(
      (r) => [r.class_id, r.pixels],
    ),
  );
  const row = store.db.prepare('SELECT labelled_pixels FROM label_rasters WHERE image_id = ?').get(id) as { labelled_pixels: number };
  return { raster, expected, counts, labelled: row.labelled_pixels, nonzero: raster.length - h[0]! };
}

describe('label patches (incremental counts, cached raster)', () => {
  it('keep counts, labelled pixels and the raster equal to a full recount, across other writers', () => {
    const store = ProjectStore.create(tmpDir());
    const classes = ['a', 'b', 'c'].map((n) => store.addClass(n));
    const W = 64;
    const H = 48;
    const id = store.addImage({ hash: 'h', fileName: 'h.png', originalName: 'x.png', width: W, height: H, thumbnail: null }, [], null);
    const mirror = new Uint8Array(W * H);
    const rand = rng(9);
    for (let k = 0; k < 60; k++) {
      const w = 1 + Math.floor(rand() * 20);
      const h = 1 + Math.floor(rand() * 20);
      const x = Math.floor(rand() * (W - w));
      const y = Math.floor(rand() * (H - h));
      const patch = new Uint8Array(w * h).map(() => {
        const r = rand();
        return r < 0.4 ? PATCH_KEEP : r < 0.55 ? 0 : classes[Math.floor(rand() * 3)]!.labelValue;
      });
      const res = store.patchLabels(id, { x, y, width: w, height: h }, patch);
      for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) if (patch[r * w + c] !== PATCH_KEEP) mirror[(y + r) * W + x + c] = patch[r * w + c]!;
      const got = recount(store, id);
      expect(got.raster).toEqual(mirror);
      expect(got.counts).toEqual(got.expected);
      expect(got.labelled).toBe(got.nonzero);
      expect(res).toEqual({ revision: k + 1 + (k >= 30 ? 1 : 0), labelledPixels: got.nonzero });
      // Half way, another writer replaces the raster: the next patch must start from that, not the cache.
      if (k === 29) {
        mirror.fill(classes[2]!.labelValue, 0, W);
        store.writeLabels(id, W, H, mirror);
      }
    }
  });

  it('a refused patch changes nothing, cached or not', () => {
    const store = ProjectStore.create(tmpDir());
    const a = store.addClass('a');
    const id = store.addImage({ hash: 'h', fileName: 'h.png', originalName: 'x.png', width: 8, height: 8, thumbnail: null }, [], null);
    store.patchLabels(id, { x: 0, y: 0, width: 2, height: 1 }, new Uint8Array([a.labelValue, a.labelValue]));
    expect(() => store.patchLabels(id, { x: 0, y: 0, width: 2, height: 1 }, new Uint8Array([0, 99]))).toThrow(/belongs to no class/);
    expect(() => store.patchLabels(id, { x: 7, y: 0, width: 2, height: 1 }, new Uint8Array([0, 0]))).toThrow(/does not fit/);
    const after = store.patchLabels(id, { x: 2, y: 0, width: 1, height: 1 }, new Uint8Array([a.labelValue]));
    expect(after).toEqual({ revision: 2, labelledPixels: 3 });
    expect(Array.from(store.labels(id)!.raster.slice(0, 4))).toEqual([a.labelValue, a.labelValue, a.labelValue, 0]);
  });

  it('a raster warmed on open is used only while nobody else wrote the labels', async () => {
    const dir = tmpDir();
    const store = ProjectStore.create(dir);
    const a = store.addClass('a');
    const b = store.addClass('b');
    const id = store.addImage({ hash: 'h', fileName: 'h.png', originalName: 'x.png', width: 8, height: 4, thumbnail: null }, [], null);
    await store.warmRaster(id); // nothing stored yet: nothing to warm, no error
    store.patchLabels(id, { x: 0, y: 0, width: 2, height: 1 }, new Uint8Array([a.labelValue, a.labelValue]));
    store.close();
    const one = ProjectStore.open(dir);
    await one.warmRaster(id);
    // another process (the CLI, a second window) replaces the labels meanwhile
    const other = ProjectStore.open(dir);
    other.writeLabels(id, 8, 4, new Uint8Array(32).fill(b.labelValue));
    other.close();
    const res = one.patchLabels(id, { x: 7, y: 3, width: 1, height: 1 }, new Uint8Array([a.labelValue]));
    expect(res.labelledPixels).toBe(32);
    const raster = one.labels(id)!.raster;
    expect(raster.filter((v) => v === b.labelValue)).toHaveLength(31);
    expect(raster[31]).toBe(a.labelValue);
    // warmed from the current revision: patches keep building on it correctly
    await one.warmRaster(id);
    one.patchLabels(id, { x: 0, y: 0, width: 1, height: 1 }, new Uint8Array([0]));
    expect(Array.from(one.labels(id)!.raster.slice(0, 2))).toEqual([0, b.labelValue]);
    expect(one.labels(id)!.raster[31]).toBe(a.labelValue);
    one.close();
    // a save that lands while the warm-up inflates wins: the warm-up does not bring back the older raster
    const two = ProjectStore.open(dir);
    const warming = two.warmRaster(id);
    two.patchLabels(id, { x: 1, y: 0, width: 1, height: 1 }, new Uint8Array([a.labelValue]));
    await warming;
    two.patchLabels(id, { x: 2, y: 0, width: 1, height: 1 }, new Uint8Array([a.labelValue]));
    expect(Array.from(two.labels(id)!.raster.slice(0, 4))).toEqual([0, a.labelValue, a.labelValue, b.labelValue]);
    two.close();
  });
});
