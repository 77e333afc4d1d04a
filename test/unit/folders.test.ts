import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Session } from '../../src-main/api/handlers';
import { importFolder } from '../../src-main/dataset/import';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';

async function session() {
  const src = tmpDir();
  await writeShapesDataset(src, { count: 2, width: 24, height: 20 });
  const store = ProjectStore.create(tmpDir());
  await importFolder(store, src);
  const s = new Session({ transport: 'http', version: 'test' });
  s.openProject(store);
  return { s, store };
}

describe('paths typed or chosen in the app', () => {
  it('an export to a relative path goes inside the project folder, not the server’s working directory', async () => {
    const { s, store } = await session();
    const cwd = tmpDir();
    const was = process.cwd();
    process.chdir(cwd);
    try {
      const r = await s.dispatch('export.labels', { out: 'exports/masks' });
      expect(r.out).toBe(path.join(store.dir, 'exports', 'masks'));
      expect(fs.existsSync(path.join(store.dir, 'exports', 'masks', 'classes.json'))).toBe(true);
      expect(fs.existsSync(path.join(cwd, 'exports'))).toBe(false);
      // An absolute path stays as given.
      const abs = path.join(tmpDir(), 'elsewhere');
      expect((await s.dispatch('export.labels', { out: abs })).out).toBe(abs);
      // The model export resolves the same way (no run yet: refused, naming the project).
      await expect(s.dispatch('model.export', { out: 'model' })).rejects.toThrow(/no completed training run/);
      expect(fs.existsSync(path.join(cwd, 'model'))).toBe(false);
    } finally {
      process.chdir(was);
      s.close();
    }
  });

  it('folders.list: the sub-folders of an absolute folder (no files, no hidden ones), its parent; the project folder by default', async () => {
    const { s, store } = await session();
    const root = tmpDir();
    for (const d of ['b', 'a', '.hidden', 'c/deeper']) fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.writeFileSync(path.join(root, 'file.txt'), 'secret');
    fs.symlinkSync(path.join(root, 'a'), path.join(root, 'link-to-a'));
    fs.symlinkSync(path.join(root, 'nowhere'), path.join(root, 'dangling'));
    const listing = await s.dispatch('folders.list', { path: root });
    expect(listing).toEqual({ path: root, parent: path.dirname(root), folders: ['a', 'b', 'c', 'link-to-a'], truncated: false });
    expect(JSON.stringify(listing)).not.toContain('file.txt');
    expect((await s.dispatch('folders.list', {})).path).toBe(store.dir);
    expect((await s.dispatch('folders.list', { path: '/' })).parent).toBeNull();

    await expect(s.dispatch('folders.list', { path: 'relative/dir' })).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/absolute/) });
    await expect(s.dispatch('folders.list', { path: path.join(root, 'missing') })).rejects.toMatchObject({ code: 'not_found' });
    await expect(s.dispatch('folders.list', { path: path.join(root, 'file.txt') })).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/is a file, not a folder/) });
    await expect(s.dispatch('folders.list', { path: root, extra: 1 })).rejects.toMatchObject({ code: 'invalid_input' });
    s.close();
  });
});
