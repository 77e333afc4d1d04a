/** Issue 11 item 20 (CLI): classes add|rename|rm, tag --add/--remove, tags from a CSV, import of one image file. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { ProjectStore } from '../../src-main/store/project';
import { cliHarness } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const cli = cliHarness();
const { run } = cli;

function tagsOf(dir: string): Record<string, string[]> {
  const store = ProjectStore.open(dir);
  const names = new Map(store.classes().map((c) => [c.id, c.name]));
  const r: Record<string, string[]> = {};
  for (const i of store.listImages({ offset: 0, limit: 100 }).items) r[i.originalName] = i.tags.map((t) => names.get(t)!).sort();
  store.close();
  return r;
}

describe('heatseg classes / tag / import FILE', () => {
  it('creates, renames and removes classes, tags images by name, file or CSV, and imports a single image', async () => {
    const src = tmpDir();
    await writeShapesDataset(src, { count: 3, width: 32, height: 32, masks: 'none' });
    const p = path.join(tmpDir(), 'p');
    expect((await run('init', p)).code).toBe(0);
    // a single image file
    const one = await run('import', p, path.join(src, 'images', 'shape_0000.jpg'));
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/imported 1 images/);
    expect((await run('import', p, path.join(src, 'images'), '--no-labels')).code).toBe(0);
    expect(Object.keys(tagsOf(p)).sort()).toEqual(['shape_0000.jpg', 'shape_0001.jpg', 'shape_0002.jpg']);

    expect((await run('classes', 'add', p, 'cow', 'sheep')).code).toBe(0);
    expect((await run('classes', 'add', p, 'Cow')).code).toBe(1);
    expect(cli.stderr()).toMatch(/a class named "Cow" already exists/);
    expect((await run('classes', 'rename', p, 'cow', 'bull')).code).toBe(0);
    expect((await run('classes', 'list', p)).out).toMatch(/^bull\t#[0-9a-f]{6}\nsheep\t/);

    expect((await run('tag', p, 'shape_0000.jpg', path.join(src, 'images', 'shape_0001.jpg'), '--add', 'bull', 'sheep')).code).toBe(0);
    expect((await run('tag', p, 'id:1', '--remove', 'sheep')).code).toBe(0);
    expect(tagsOf(p)).toMatchObject({ 'shape_0000.jpg': ['bull'], 'shape_0001.jpg': ['bull', 'sheep'], 'shape_0002.jpg': [] });
    expect((await run('tag', p, 'nope.jpg', '--add', 'bull')).code).toBe(1);
    expect(cli.stderr()).toMatch(/nope\.jpg: no such image in/);

    // CSV: quoted multi-tag field; an unknown class fails the whole file, naming file and line
    const csv = path.join(tmpDir(), 'tags.csv');
    fs.writeFileSync(csv, 'image,tags\nshape_0002.jpg,"sheep;bull"\nshape_0000.jpg,goat\n');
    expect((await run('tag', p, '--csv', csv)).code).toBe(1);
    expect(cli.stderr()).toContain(`${csv} line 3: no class named "goat"`);
    expect(tagsOf(p)['shape_0002.jpg']).toEqual([]);
    expect((await run('tag', p, '--csv', csv, '--create-classes')).code).toBe(0);
    expect(tagsOf(p)).toMatchObject({ 'shape_0000.jpg': ['bull', 'goat'], 'shape_0002.jpg': ['bull', 'sheep'] });
    fs.writeFileSync(csv, 'image,tags\nshape_0000.jpg,sheep\n');
    expect((await run('tag', p, '--csv', csv, '--replace')).code).toBe(0);
    expect(tagsOf(p)['shape_0000.jpg']).toEqual(['sheep']);
    // a file that is not this CSV: named, not echoed
    const secret = path.join(tmpDir(), 'secret');
    fs.writeFileSync(secret, 'root,"x\nTOKEN=hunter2\n');
    expect((await run('tag', p, '--csv', secret)).code).toBe(1);
    expect(cli.stderr()).toMatch(/secret: (not a valid CSV|expected a header row)/);
    expect(cli.stderr()).not.toContain('hunter2');

    // rm refuses a class in use without --force
    expect((await run('classes', 'rm', p, 'sheep')).code).toBe(1);
    expect(cli.stderr()).toMatch(/class sheep tags 3 image\(s\) .* add --force/);
    expect((await run('classes', 'rm', p, 'sheep', '--force')).code).toBe(0);
    expect(tagsOf(p)['shape_0000.jpg']).toEqual([]);
  });
});
