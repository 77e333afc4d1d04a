import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { NewerSchemaError, loadMigrations, migrate, schemaVersion } from '../../src-main/store/migrations';
import { DB_FILE, ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';

const migrations = loadMigrations();

function tables(db: Database.Database): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
}

/** Data a project at schema version v could hold, written with that version's tables only. */
function seed(db: Database.Database, v: number): void {
  if (v >= 1) {
    db.prepare("INSERT INTO classes (name, color, position, label_value) VALUES ('cow', '#aa0000', 0, 1)").run();
    db.prepare("INSERT INTO images (hash, file_name, original_name, width, height) VALUES ('h1', 'h1.jpg', 'a.jpg', 4, 3)").run();
    db.prepare('INSERT INTO image_tags (image_id, class_id) VALUES (1, 1)').run();
  }
  if (v >= 2) {
    db.prepare("INSERT INTO runs (status, method, backbone) VALUES ('completed', 'lrp', 'small')").run();
  }
}

describe('migrations', () => {
  it('are numbered 1..N without gaps', () => {
    expect(migrations.length).toBeGreaterThanOrEqual(2);
    migrations.forEach((m, i) => expect(m.version).toBe(i + 1));
  });

  it('apply from an empty database to the latest version', () => {
    const db = new Database(':memory:');
    expect(migrate(db, 'mem', migrations)).toEqual(migrations.map((m) => m.version));
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(tables(db)).toEqual(expect.arrayContaining(['classes', 'images', 'image_tags', 'label_rasters', 'label_counts', 'runs', 'predictions']));
    expect(db.pragma('foreign_key_check')).toEqual([]);
  });

  for (let from = 1; from < migrations.length; from++) {
    it(`upgrade a project from v${from} keeping its data`, () => {
      const dir = tmpDir();
      const db = new Database(path.join(dir, DB_FILE));
      migrate(db, 'old', migrations, from);
      expect(schemaVersion(db)).toBe(from);
      seed(db, from);
      db.close();
      const store = ProjectStore.open(dir);
      expect(schemaVersion(store.db)).toBe(migrations.length);
      expect(store.classes().map((c) => c.name)).toEqual(['cow']);
      expect(store.imageSummary(1).tags).toEqual([1]);
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
      store.close();
    });
  }

  it('v3 drops the never-filled predictions.score column and keeps the cached predictions', () => {
    const dir = tmpDir();
    const db = new Database(path.join(dir, DB_FILE));
    migrate(db, 'old', migrations, 2);
    seed(db, 2);
    db.prepare("INSERT INTO predictions (run_id, image_id, tag_probs, mask, heatmaps, heatmaps_format, score) VALUES (1, 1, '{\"format\":2}', x'0102', x'03', 'confidence-u8', NULL)").run();
    db.close();
    const store = ProjectStore.open(dir);
    expect(store.upgradedFrom).toBe(2);
    const columns = (store.db.prepare('PRAGMA table_info(predictions)').all() as { name: string }[]).map((c) => c.name);
    expect(columns).not.toContain('score');
    expect(columns).toEqual(expect.arrayContaining(['run_id', 'image_id', 'tag_probs', 'mask', 'heatmaps', 'heatmaps_format', 'created_at']));
    const p = store.prediction(1, 1)!;
    expect(p.tag_probs).toBe('{"format":2}');
    expect([...p.mask!]).toEqual([1, 2]);
    expect([...p.heatmaps!]).toEqual([3]);
    expect(p.heatmaps_format).toBe('confidence-u8');
    // and the store writes predictions without the column
    store.putPrediction({ run_id: 1, image_id: 1, tag_probs: '{}', mask: null, heatmaps: null, heatmaps_format: null });
    expect(store.prediction(1, 1)!.tag_probs).toBe('{}');
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    store.close();
  });

  it('refuse a project from a newer heatseg without touching it', () => {
    const dir = tmpDir();
    const file = path.join(dir, DB_FILE);
    const db = new Database(file);
    migrate(db, file, migrations);
    db.pragma(`user_version = ${migrations.length + 3}`);
    db.close();
    const before = fs.readFileSync(file);
    expect(() => ProjectStore.open(dir)).toThrow(NewerSchemaError);
    expect(() => ProjectStore.open(dir)).toThrow(/newer heatseg \(project schema v\d+; this build knows up to v\d+\)/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it('roll a failing migration back whole', () => {
    const db = new Database(':memory:');
    const broken = [...migrations, { version: migrations.length + 1, name: 'broken', sql: 'CREATE TABLE extra (x); SELECT * FROM nope;' }];
    migrate(db, 'mem', migrations);
    expect(() => migrate(db, 'mem', broken)).toThrow(/nope/);
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(tables(db)).not.toContain('extra');
  });
});
