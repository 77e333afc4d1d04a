import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { importFolder } from '../../src-main/dataset/import';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { DB_FILE, ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '../..');

describe('crash safety', () => {
  it('SIGKILL in the middle of an import leaves an intact database holding only whole images', async () => {
    const src = tmpDir('heatseg-crash-src-');
    const N = 80;
    await writeShapesDataset(src, { count: N, seed: 11, width: 480, height: 360 });
    const dir = tmpDir('heatseg-crash-');
    ProjectStore.create(dir).close();
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/heatseg.mjs'), 'import', dir, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    // Kill once the import has committed some images (progress lines come every 10%).
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('import never reported progress')), 60_000);
      child.stderr.on('data', (d: Buffer) => {
        const m = /import: (\d+)\//.exec(d.toString());
        if (m && Number(m[1]) >= 16) {
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));

    const db = new Database(path.join(dir, DB_FILE));
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    const images = db.prepare('SELECT id, file_name, width, height FROM images').all() as Array<{ id: number; file_name: string; width: number; height: number }>;
    expect(images.length).toBeGreaterThan(0);
    expect(images.length).toBeLessThan(N);
    for (const img of images) {
      expect(fs.existsSync(path.join(dir, 'images', img.file_name)), `file of image ${img.id}`).toBe(true);
      const lr = db.prepare('SELECT width, height, labelled_pixels FROM label_rasters WHERE image_id = ?').get(img.id) as
        | { width: number; height: number; labelled_pixels: number }
        | undefined;
      expect(lr, `labels of image ${img.id}`).toMatchObject({ width: img.width, height: img.height, labelled_pixels: img.width * img.height });
      const tags = db.prepare('SELECT COUNT(*) n FROM image_tags WHERE image_id = ?').get(img.id) as { n: number };
      expect(tags.n).toBeGreaterThan(0);
    }
    db.close();

    // The interrupted import resumes: importing again completes it without duplicates.
    const store = ProjectStore.open(dir);
    const report = await importFolder(store, src);
    expect(report.imported + report.duplicates).toBe(N);
    expect(report.duplicates).toBe(images.length);
    expect(store.summary().images).toBe(N);
    store.close();
  }, 120_000);
});
