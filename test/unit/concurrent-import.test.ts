/** Issue 11 item 8: two `heatseg import` processes into one project at once serialise; only real failures are reported. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '../..');

function importProcess(dir: string, src: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/heatseg.mjs'), 'import', dir, src, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

describe('concurrent imports', () => {
  it('two processes importing the same mask folder into one project both succeed, and the data is whole', async () => {
    const src = tmpDir('heatseg-conc-src-');
    const N = 24;
    await writeShapesDataset(src, { count: N, seed: 4, width: 64, height: 48 });
    const dir = tmpDir('heatseg-conc-');
    ProjectStore.create(dir).close();
    const [a, b] = await Promise.all([importProcess(dir, src), importProcess(dir, src)]);
    for (const r of [a, b]) {
      expect(r.err, r.err).not.toMatch(/heatseg:|already exists|UNIQUE|SQLITE_BUSY|database is locked/);
      expect(r.code, r.out + r.err).toBe(0);
    }
    const ra = JSON.parse(a.out) as { imported: number; duplicates: number; skipped: unknown[]; classesCreated: string[] };
    const rb = JSON.parse(b.out) as typeof ra;
    expect(ra.skipped).toEqual([]);
    expect(rb.skipped).toEqual([]);
    expect(ra.imported + rb.imported).toBe(N);
    expect(ra.imported + ra.duplicates).toBe(N);
    expect(rb.imported + rb.duplicates).toBe(N);
    const store = ProjectStore.open(dir);
    const s = store.summary();
    expect(s.images).toBe(N);
    expect(s.labelledImages).toBe(N);
    expect(new Set(s.classes.map((c) => c.name.toLowerCase())).size).toBe(s.classes.length);
    expect([...ra.classesCreated, ...rb.classesCreated].sort()).toEqual(s.classes.map((c) => c.name).sort());
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    store.close();
  }, 120_000);
});
