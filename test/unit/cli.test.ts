import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { cliHarness } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const cli = cliHarness();
const { run } = cli;

describe('heatseg CLI', () => {
  it('init, import, info, export-labels work end to end', async () => {
    const src = tmpDir();
    await writeShapesDataset(src, { count: 4, width: 48, height: 32 });
    const p = path.join(tmpDir(), 'proj');
    expect((await run('init', p)).code).toBe(0);
    const imp = await run('import', p, src);
    expect(imp.code).toBe(0);
    expect(imp.out).toMatch(/imported 4 images \(4 with pixel labels\)/);
    const info = await run('info', p, '--json');
    const summary = JSON.parse(info.out) as { images: number; classes: Array<{ name: string; labelledPixels: number }> };
    expect(summary.images).toBe(4);
    expect(summary.classes.reduce((a, c) => a + c.labelledPixels, 0)).toBe(4 * 48 * 32);
    const table = await run('info', p);
    expect(table.out).toMatch(/images: 4, tagged: 4, with pixel labels: 4/);
    const out = path.join(tmpDir(), 'out');
    expect((await run('export-labels', p, out, '--format', 'coco')).code).toBe(0);
    expect(fs.existsSync(path.join(out, 'annotations.json'))).toBe(true);
  });

  it('exits non-zero with a clear message on bad arguments and bad files', async () => {
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('import')).code).toBe(2);
    expect(cli.stderr()).toMatch(/missing required argument 'dir'/);
    const notProject = tmpDir();
    const r = await run('info', notProject);
    expect(r.code).toBe(1);
    expect(cli.stderr()).toContain(`${notProject} is not a heatseg project`);
    const p = path.join(tmpDir(), 'p');
    await run('init', p);
    expect((await run('init', p)).code).toBe(1);
    expect(cli.stderr()).toMatch(/already holds a heatseg project/);
    expect((await run('import', p, path.join(p, 'nope'))).code).toBe(1);
    expect(cli.stderr()).toMatch(/nope: no such folder/);
    expect((await run('export-labels', p, tmpDir(), '--format', 'tiff')).code).toBe(1);
    expect(cli.stderr()).toMatch(/--format must be maskfolder or coco/);
  });

  it('import exits 3 and names each bad file while importing the good ones', async () => {
    const src = tmpDir();
    await writeShapesDataset(src, { count: 2, width: 32, height: 32, masks: 'none' });
    fs.writeFileSync(path.join(src, 'images', 'broken.png'), 'nope');
    const p = path.join(tmpDir(), 'p');
    await run('init', p);
    const r = await run('import', p, src);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/imported 2 images/);
    expect(r.out).toMatch(/skipped images\/broken.png: cannot decode/);
  });

  it('has --help for every command', async () => {
    for (const cmd of ['init', 'import', 'info', 'export-labels', 'serve']) {
      const r = await run(cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: heatseg ${cmd}`);
    }
  });
});
