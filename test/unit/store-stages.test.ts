/** The store's stage modules on their own, on one shared connection (ProjectStore composes them). */
import { describe, expect, it } from 'vitest';
import { ClassStore } from '../../src-main/store/classes';
import { openConnection } from '../../src-main/store/connection';
import { ImageStore } from '../../src-main/store/images';
import { LabelStore } from '../../src-main/store/labels';
import { RunStore } from '../../src-main/store/runs';
import { tmpDir } from '../helpers/tmp';

function stages() {
  const { conn, upgradedFrom } = openConnection(tmpDir(), true);
  const images = new ImageStore(conn);
  const classes = new ClassStore(conn, images);
  const labels = new LabelStore(conn, images, classes);
  const runs = new RunStore(conn);
  return { conn, upgradedFrom, images, classes, labels, runs };
}

const img = { hash: 'h', fileName: 'h.jpg', originalName: 'a.jpg', width: 4, height: 2, thumbnail: null };

describe('store stages on one connection', () => {
  it('a new database is not an upgrade; the stages see each other\'s writes', () => {
    const { conn, upgradedFrom, images, classes, labels } = stages();
    expect(upgradedFrom).toBeNull();
    const cow = classes.addClass('cow');
    const id = conn.write(() => images.insertImageRow(img));
    labels.writeLabels(id, 4, 2, Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 1]));
    classes.toggleTag(id, cow.id, true);
    expect(images.imageSummary(id)).toMatchObject({ tags: [cow.id], labelledPixels: 3 });
    expect(labels.labelledClassIds(id)).toEqual([cow.id]);
    conn.db.close();
  });

  it('write() rolls back whole; a failing nested write is a savepoint the outer one survives', () => {
    const { conn, images, classes } = stages();
    expect(() =>
      conn.write(() => {
        classes.addClass('cow');
        images.insertImageRow(img);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(classes.classes()).toEqual([]);
    expect(images.allImageIds()).toEqual([]);
    conn.write(() => {
      classes.addClass('cow');
      expect(() => classes.addClass('COW')).toThrow(/already exists/);
      classes.addClass('grass');
    });
    expect(classes.classes().map((c) => c.name)).toEqual(['cow', 'grass']);
    conn.db.close();
  });

  it('deleting a class row: pixels cleared by the labels stage first, tags gone, its id never reused', () => {
    const { conn, images, classes, labels } = stages();
    const cow = classes.addClass('cow');
    const grass = classes.addClass('grass');
    const id = conn.write(() => images.insertImageRow(img));
    labels.writeLabels(id, 4, 2, Uint8Array.from([1, 2, 1, 0, 0, 2, 0, 0]));
    classes.setTags(id, [cow.id, grass.id]);
    const removed = conn.write(() => ({ pixels: labels.clearClassPixelsInTx(cow.id, cow.labelValue), tags: classes.deleteClassRowInTx(cow.id) }));
    expect(removed).toEqual({ pixels: 2, tags: 1 });
    expect([...labels.labels(id)!.raster]).toEqual([0, 2, 0, 0, 0, 2, 0, 0]);
    expect(labels.labelledClassIds(id)).toEqual([grass.id]);
    expect(images.imageSummary(id).tags).toEqual([grass.id]);
    const sheep = classes.addClass('sheep');
    expect(sheep.id).toBeGreaterThan(grass.id);
    expect(sheep.labelValue).toBe(cow.labelValue); // label values are reused, ids are not
    conn.db.close();
  });

  it('runs: a created run is running with its model folder named by id, and a finished one is listed', () => {
    const { conn, runs } = stages();
    const r = runs.createRun('lrp', 'small', { epochs: 1 });
    expect(r).toMatchObject({ status: 'running', checkpoint_dir: `models/run-${r.id}` });
    runs.finishRun(r.id, 'completed', { metrics: { miou: 0.5 }, keepCheckpoint: true });
    expect(runs.latestCompletedRun()).toMatchObject({ id: r.id, metrics: '{"miou":0.5}' });
    conn.db.close();
  });
});
