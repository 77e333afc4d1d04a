import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src-shared/api';
import { PATCH_KEEP } from '../../src-shared/labels';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';

function projectWithImage() {
  const store = ProjectStore.create(tmpDir());
  const cow = store.addClass('cow');
  const grass = store.addClass('grass', '#00AA00');
  const id = store.addImage({ hash: 'h', fileName: 'h.jpg', originalName: 'a.jpg', width: 4, height: 3, thumbnail: null }, [cow.id], null);
  return { store, cow, grass, id };
}

describe('project store', () => {
  it('opens with WAL and foreign keys', () => {
    const { store } = projectWithImage();
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
  });

  it('refuses to create a project over an existing one and to open a folder without one', () => {
    const { store } = projectWithImage();
    expect(() => ProjectStore.create(store.dir)).toThrow(/already holds a heatseg project/);
    expect(() => ProjectStore.open(tmpDir())).toThrow(/is not a heatseg project/);
  });

  it('gives classes stable label values, unique case-insensitive names and lowercase colours', () => {
    const { store, cow, grass } = projectWithImage();
    expect([cow.labelValue, grass.labelValue]).toEqual([1, 2]);
    expect(grass.color).toBe('#00aa00');
    expect(() => store.addClass('COW')).toThrow(/already exists/);
    store.updateClass(grass.id, { position: 0 });
    expect(store.classes().map((c) => c.name)).toEqual(['grass', 'cow']);
    expect(store.classById(grass.id).labelValue).toBe(2);
    store.removeClass(cow.id);
    expect(store.addClass('sheep').labelValue).toBe(1);
  });

  it('applies stroke patches, keeping pixels marked 255, and counts labelled pixels per class', () => {
    const { store, cow, grass, id } = projectWithImage();
    const patch = new Uint8Array([cow.labelValue, PATCH_KEEP, grass.labelValue, grass.labelValue]);
    const r1 = store.patchLabels(id, { x: 1, y: 1, width: 2, height: 2 }, patch);
    expect(r1).toEqual({ revision: 1, labelledPixels: 3 });
    const lr = store.labels(id)!;
    expect(Array.from(lr.raster)).toEqual([0, 0, 0, 0, 0, cow.labelValue, 0, 0, 0, grass.labelValue, grass.labelValue, 0]);
    // erase one grass pixel
    const r2 = store.patchLabels(id, { x: 1, y: 2, width: 1, height: 1 }, new Uint8Array([0]));
    expect(r2).toEqual({ revision: 2, labelledPixels: 2 });
    const s = store.summary();
    expect(s.classes.find((c) => c.name === 'grass')!.labelledPixels).toBe(1);
    expect(s.classes.find((c) => c.name === 'cow')!.labelledPixels).toBe(1);
  });

  it('rejects patches outside the image and values of no class, without changing anything', () => {
    const { store, cow, id } = projectWithImage();
    store.patchLabels(id, { x: 0, y: 0, width: 1, height: 1 }, new Uint8Array([cow.labelValue]));
    expect(() => store.patchLabels(id, { x: 3, y: 0, width: 2, height: 1 }, new Uint8Array([1, 1]))).toThrow(/does not fit the 4×3 image/);
    expect(() => store.patchLabels(id, { x: 0, y: 0, width: 1, height: 1 }, new Uint8Array([77]))).toThrow(/label value 77 .* belongs to no class/);
    expect(() => store.patchLabels(999, { x: 0, y: 0, width: 1, height: 1 }, new Uint8Array([1]))).toThrow(ApiError);
    const lr = store.labels(id)!;
    expect(lr.revision).toBe(1);
    expect(lr.raster[0]).toBe(cow.labelValue);
  });

  it('deleting a class clears its pixels and tags and says how many', () => {
    const { store, cow, grass, id } = projectWithImage();
    store.writeLabels(id, 4, 3, new Uint8Array([1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(store.removeClass(cow.id)).toEqual({ removedLabelPixels: 2, removedTags: 1 });
    expect(Array.from(store.labels(id)!.raster.slice(0, 4))).toEqual([0, 0, grass.labelValue, 0]);
    expect(store.imageSummary(id).tags).toEqual([]);
    expect(store.imageSummary(id).labelledPixels).toBe(1);
  });

  it('lists images with paging and filters', () => {
    const { store, cow } = projectWithImage();
    for (let i = 0; i < 5; i++) {
      store.addImage({ hash: `x${i}`, fileName: `x${i}.jpg`, originalName: `x${i}.jpg`, width: 2, height: 2, thumbnail: null }, [], null);
    }
    const page = store.listImages({ offset: 2, limit: 3 });
    expect(page.total).toBe(6);
    expect(page.items.map((i) => i.originalName)).toEqual(['x1.jpg', 'x2.jpg', 'x3.jpg']);
    expect(store.listImages({ offset: 0, limit: 10, filter: 'untagged' }).total).toBe(5);
    expect(store.listImages({ offset: 0, limit: 10, classId: cow.id }).items.map((i) => i.originalName)).toEqual(['a.jpg']);
    store.toggleTag(3, cow.id, true);
    expect(store.listImages({ offset: 0, limit: 10, filter: 'tagged' }).total).toBe(2);
  });
});

describe('training runs', () => {
  it('a run left running by a dead process is marked failed (interrupted) on the next open, its checkpoint not offered', () => {
    const { store } = projectWithImage();
    const run = store.createRun('lrp', 'small', {});
    // Pretend another process, long gone, owned it.
    store.db.prepare('UPDATE runs SET config = ? WHERE id = ?').run(JSON.stringify({ pid: 2 ** 22 + 12345 }), run.id);
    const live = store.createRun('gradcam', 'small', {});
    store.close();
    const again = ProjectStore.open(store.dir);
    expect(again.run(run.id)).toMatchObject({ status: 'failed', checkpoint_dir: null });
    expect(again.run(run.id).error).toMatch(/interrupted/);
    // a run of this very process is not touched
    expect(again.run(live.id).status).toBe('running');
    expect(again.latestCompletedRun()).toBeUndefined();
    again.finishRun(live.id, 'completed', { backend: 'wasm', keepCheckpoint: true });
    expect(again.latestCompletedRun()!.id).toBe(live.id);
    expect(again.latestCompletedRun()!.checkpoint_dir).toBe(`models/run-${live.id}`);
  });
});
