/** Issue 11, items 3, 9, 10, 11: bad input to import and to project opening gets a named, content-free error and a decision. */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src-main/cli/main';
import { importFolder } from '../../src-main/dataset/import';
import { readMaskPng } from '../../src-main/dataset/maskfolder';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { probeImage } from '../../src-main/images/decode';
import { loadMigrations, migrate, schemaVersion } from '../../src-main/store/migrations';
import { DB_FILE, ProjectStore } from '../../src-main/store/project';
import { cliHarness } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const SECRET = 'hunter2-SECRET-7f3a';

async function shapes(count: number): Promise<string> {
  const src = tmpDir('heatseg-shapes-');
  await writeShapesDataset(src, { count, seed: 5, width: 40, height: 30 });
  return src;
}

async function importError(store: ProjectStore, src: string, opts: Parameters<typeof importFolder>[2]): Promise<string> {
  try {
    await importFolder(store, src, opts);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('import did not fail');
}

describe('images.import: labels/masks pointing at any readable file (item 3)', () => {
  it('names the file and the problem and never echoes its content', async () => {
    const src = await shapes(1);
    const store = ProjectStore.create(tmpDir());
    const dir = tmpDir();
    const cases: Array<[string, string, RegExp]> = [
      ['environ', `PATH=/usr/bin\0TOKEN=${SECRET}\0`, /not a JSON file/],
      ['shadow', `root:${SECRET}:19000:0:99999:7:::\n`, /not a JSON file/],
      ['bad.json', `{"user": ${SECRET}}`, /not valid JSON \(syntax error/],
      ['cut.json', `{"user": "${SECRET}`, /not valid JSON/],
      ['record.json', `{"${SECRET}": "${SECRET}"}`, /entry 1 of 1: expected a list of class names, found a string/],
      ['list.json', `["${SECRET}"]`, /expected an object .* found a list/],
      ['nested.json', `{"a": [{"${SECRET}": 1}]}`, /entry 1 of 1: item 1 is an object, expected a class name/],
    ];
    for (const [name, content, problem] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, content);
      const msg = await importError(store, src, { labels: file });
      expect(msg, name).toContain(file);
      expect(msg, name).toMatch(problem);
      expect(msg, name).not.toContain(SECRET);
      expect(msg, name).not.toContain('root:');
    }
    // a folder, a device
    expect(await importError(store, src, { labels: dir })).toMatch(/is a folder, expected a JSON file/);
    expect(await importError(store, src, { labels: '/dev/null' })).toMatch(/not a regular file/);
    // masks pointing at a file
    const masksFile = path.join(dir, 'shadow');
    const m = await importError(store, src, { masks: masksFile });
    expect(m).toMatch(/masks must be a folder of PNG masks, not a file/);
    expect(m).not.toContain(SECRET);
    // classes.json with a secret: the zod issue names the field, not the value
    fs.writeFileSync(path.join(src, 'classes.json'), JSON.stringify({ classes: SECRET }));
    const c = await importError(store, src, {});
    expect(c).toMatch(/classes\.json: classes: Invalid input: expected array/);
    expect(c).not.toContain(SECRET);
    store.close();
  });
});

describe('import decisions (item 9)', () => {
  it('refuses classes.json names that differ only by case, naming the file and both names', async () => {
    const src = await shapes(1);
    const file = path.join(src, 'classes.json');
    const cls = JSON.parse(fs.readFileSync(file, 'utf8')) as { classes: string[] };
    cls.classes.push(cls.classes[1]!.toUpperCase());
    fs.writeFileSync(file, JSON.stringify(cls));
    const store = ProjectStore.create(tmpDir());
    const msg = await importError(store, src, {});
    expect(msg).toContain(file);
    expect(msg).toContain(`"${cls.classes[1]}" and classes[${cls.classes.length - 1}] "${cls.classes[1]!.toUpperCase()}" differ only by case`);
    expect(store.summary().images).toBe(0);
    expect(store.classes()).toEqual([]);
    store.close();
  });

  it('follows a symlinked image, reports a dangling link and a .bmp by name, and cleans only its own leftover temporaries', async () => {
    const src = await shapes(2);
    const other = tmpDir();
    fs.copyFileSync(path.join(src, 'images', 'shape_0000.jpg'), path.join(other, 'elsewhere.jpg'));
    fs.symlinkSync(path.join(other, 'elsewhere.jpg'), path.join(src, 'images', 'linked.jpg'));
    fs.symlinkSync(path.join(other, 'gone.jpg'), path.join(src, 'images', 'dangling.jpg'));
    fs.writeFileSync(path.join(src, 'images', 'old.bmp'), Buffer.from('BM fake bitmap'));
    const store = ProjectStore.create(tmpDir());
    // leftovers of a killed import (a pid that cannot be alive), and a user's own .tmp file
    const sha = 'a'.repeat(64);
    const leftover = store.imagePath(`${sha}.jpg.999999999.heatseg-import.tmp`);
    const oldStyle = store.imagePath(`${sha}.png.999999998.tmp`);
    const mine = store.imagePath('notes.tmp');
    for (const f of [leftover, oldStyle, mine]) fs.writeFileSync(f, 'x');
    const report = await importFolder(store, src);
    expect(report.imported).toBe(3);
    expect(store.listImages({ offset: 0, limit: 10 }).items.map((i) => i.originalName)).toContain('linked.jpg');
    const byFile = Object.fromEntries(report.skipped.map((s) => [s.file, s.reason]));
    expect(byFile['images/dangling.jpg']).toMatch(/broken symbolic link: its target .*gone\.jpg does not exist/);
    expect(byFile['images/old.bmp']).toMatch(/BMP images are not supported .* convert it to PNG/);
    expect(report.notices?.join('\n')).toMatch(/removed 2 unfinished image file\(s\)/);
    expect(fs.existsSync(leftover) || fs.existsSync(oldStyle)).toBe(false);
    expect(fs.readFileSync(mine, 'utf8')).toBe('x');
    store.close();
  });
});

describe('an unreadable subfolder (item 9)', () => {
  it('is reported by name and the rest is imported', async () => {
    const src = await shapes(2);
    const locked = path.join(src, 'images', 'locked');
    fs.mkdirSync(locked);
    fs.copyFileSync(path.join(src, 'images', 'shape_0000.jpg'), path.join(locked, 'hidden.jpg'));
    // Permission bits do not stop root (tests may run as root): the refusal is injected.
    const real = fs.readdirSync;
    const spy = vi.spyOn(fs, 'readdirSync').mockImplementation(((p: fs.PathLike, o?: unknown) => {
      if (String(p) === locked) throw Object.assign(new Error(`EACCES: permission denied, scandir '${locked}'`), { code: 'EACCES' });
      return (real as (p: fs.PathLike, o?: unknown) => unknown)(p, o);
    }) as typeof fs.readdirSync);
    const store = ProjectStore.create(tmpDir());
    try {
      const report = await importFolder(store, src);
      expect(report.imported).toBe(2);
      expect(report.skipped).toEqual([{ file: 'images/locked/', reason: 'cannot read this folder (EACCES); its images were not imported' }]);
    } finally {
      spy.mockRestore();
      store.close();
    }
  });
});

/** A PNG whose header claims w×h (only the header: enough for the size check). */
function pngHeader(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(1))), chunk('IEND', Buffer.alloc(0))]);
}

describe('messages that name the file and the problem (item 11)', () => {
  it('a truncated mask PNG is named and called truncated, not "Offset is outside the bounds of the DataView"', async () => {
    const src = await shapes(2);
    const maskFile = path.join(src, 'masks', 'shape_0001.png');
    const bytes = fs.readFileSync(maskFile);
    fs.writeFileSync(maskFile, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    expect(() => readMaskPng(maskFile)).toThrow(new RegExp(`${maskFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: truncated PNG`));
    const store = ProjectStore.create(tmpDir());
    const report = await importFolder(store, src);
    expect(report.imported).toBe(1);
    expect(report.skipped[0]!.reason).toMatch(/^mask masks\/shape_0001\.png: truncated PNG/);
    expect(report.skipped[0]!.reason).not.toMatch(/DataView/);
    store.close();
  });

  it('the pixel-limit error states the image size and the limit', async () => {
    await expect(probeImage(pngHeader(20000, 20000))).rejects.toThrow(/image is 20,000×20,000 = 400,000,000 pixels, above heatseg's limit of 16,384×16,384 = 268,435,456 pixels/);
  });

  it('a mask of the stored (not displayed) size of an EXIF-rotated photo mentions the orientation', async () => {
    const src = await shapes(1);
    const img = path.join(src, 'images', 'shape_0000.jpg');
    // stored 40×30, displayed 30×40 (orientation 6); the mask is 40×30
    fs.writeFileSync(img, await sharp(fs.readFileSync(img)).withMetadata({ orientation: 6 }).jpeg().toBuffer());
    const store = ProjectStore.create(tmpDir());
    const report = await importFolder(store, src);
    expect(report.skipped[0]!.reason).toMatch(/mask masks\/shape_0000\.png is 40×30 but the image is 30×40 as displayed: its EXIF orientation \(6\) turns it by 90°/);
    store.close();
  });

  it('a newer-schema, older (read-only) or damaged project is a typed ApiError, so every transport answers 4xx, not internal', () => {
    const dir = tmpDir();
    const db = new Database(path.join(dir, DB_FILE));
    migrate(db, 'x', loadMigrations());
    db.pragma(`user_version = ${loadMigrations().length + 2}`);
    db.close();
    expect(() => ProjectStore.open(dir)).toThrow(expect.objectContaining({ code: 'conflict', message: expect.stringMatching(/newer heatseg/) }));
    const bad = tmpDir();
    fs.writeFileSync(path.join(bad, DB_FILE), 'x'.repeat(200));
    expect(() => ProjectStore.open(bad)).toThrow(expect.objectContaining({ code: 'invalid_input' }));
  });

  it('a corrupt or truncated heatseg.sqlite names the file', async () => {
    const garbage = tmpDir();
    fs.writeFileSync(path.join(garbage, DB_FILE), `not a database ${SECRET}`.repeat(40));
    expect(() => ProjectStore.open(garbage)).toThrow(new RegExp(`${DB_FILE} is not a heatseg project database or is damaged`));
    expect(() => ProjectStore.open(garbage)).not.toThrow(new RegExp(SECRET));
    const src = await shapes(6);
    const dir = tmpDir();
    const store = ProjectStore.create(dir);
    await importFolder(store, src);
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.close();
    const file = path.join(dir, DB_FILE);
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(() => ProjectStore.open(dir)).toThrow(/heatseg\.sqlite is not a heatseg project database or is damaged \(truncated/);
  });
});

describe('read-only commands do not migrate (item 10)', () => {
  const cli = cliHarness();

  it('heatseg info on an old-version project leaves it untouched and says how to upgrade; upgrade and write commands say they did', async () => {
    const migrations = loadMigrations();
    const dir = tmpDir();
    const file = path.join(dir, DB_FILE);
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    migrate(db, file, migrations, 1);
    db.prepare("INSERT INTO classes (name, color, position, label_value) VALUES ('cow', '#aa0000', 0, 1)").run();
    db.close();
    const before = fs.readFileSync(file);
    const listing = fs.readdirSync(dir).sort();
    let out = '';
    const code = await main(['node', 'heatseg', 'info', dir], (s) => (out += s));
    expect(code).toBe(1);
    expect(cli.stderr()).toMatch(/is a project of an older heatseg \(schema v1; this build uses v\d+\) and needs an upgrade/);
    expect(cli.stderr()).toContain(`heatseg upgrade ${dir}`);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(listing);
    const check = new Database(file, { readonly: true });
    expect(schemaVersion(check)).toBe(1);
    check.close();
    // export-labels reads only, too
    expect(await main(['node', 'heatseg', 'export-labels', dir, path.join(tmpDir(), 'out')], () => undefined)).toBe(1);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    // upgrade says it did; then info works
    out = '';
    expect(await main(['node', 'heatseg', 'upgrade', dir], (s) => (out += s))).toBe(0);
    expect(out).toMatch(new RegExp(`upgraded project .* from schema v1 to v${migrations.length}`));
    out = '';
    expect(await main(['node', 'heatseg', 'info', dir], (s) => (out += s))).toBe(0);
    expect(out).toMatch(/cow/);
  });

  it('a command that writes upgrades an old project with a notice on stderr', async () => {
    const dir = tmpDir();
    const file = path.join(dir, DB_FILE);
    const db = new Database(file);
    migrate(db, file, loadMigrations(), 1);
    db.close();
    const src = await shapes(1);
    expect(await main(['node', 'heatseg', 'import', dir, src], () => undefined)).toBe(0);
    expect(cli.stderr()).toMatch(/note: upgraded project .* from schema v1 to v\d+/);
  });
});
