/**
 * Fault/abuse pass (issue 11): reruns the bad-input cases, kills writing processes at random
 * moments, and sends forged requests to a real `heatseg serve`, then prints one table:
 *   case / tried / handled cleanly (named error) / committed data lost.
 *
 * - bad input: each case runs the real CLI (in this process, `main()`), or the import library
 *   where the CLI has no switch for it; "handled" = it failed (or skipped the file) with a message
 *   that names the file and the problem, quotes no secret planted in the file, and no input,
 *   user file or project was modified.
 * - kills: child processes that write label patches (one stroke = one `labels.patch`, printed only
 *   after it committed) or import a mask folder are SIGKILLed at a random moment; then every
 *   printed stroke must be in the database, the database must pass integrity_check, and an import
 *   must hold only whole images.
 * - forged HTTP: `node bin/heatseg.mjs serve` started as a child (its PID) and stopped by that PID.
 *
 *   npx tsx bench/abuse.ts [--kills N] [--out FILE]
 * Writes the table to FILE (default bench/results/abuse.txt) with the command at the top.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { main } from '../src-main/cli/main.js';
import { importFolder } from '../src-main/dataset/import.js';
import { writeShapesDataset } from '../src-main/demo/shapes.js';
import { loadMigrations, migrate } from '../src-main/store/migrations.js';
import { DB_FILE, ProjectStore } from '../src-main/store/project.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BIN = path.join(ROOT, 'bin/heatseg.mjs');
const SECRET = `SECRET-${crypto.randomBytes(6).toString('hex')}`;
const W = 512;

function argValue(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

// ---------------------------------------------------------------- child mode: a patch writer
if (process.argv[2] === '--child-patch') {
  const [dir, imageId, value] = [process.argv[3]!, Number(process.argv[4]), Number(process.argv[5])];
  const store = ProjectStore.open(dir);
  process.stdout.write('ready\n');
  for (let k = 0; ; k = (k + 1) % W) {
    store.patchLabels(imageId, { x: 0, y: k, width: W, height: 1 }, new Uint8Array(W).fill(value));
    // Pipes are synchronous on Linux: once this line is out, the stroke was committed.
    process.stdout.write(`committed ${k}\n`);
  }
}

// ---------------------------------------------------------------- helpers
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-abuse-'));
let tmpN = 0;
const tmp = (name = 'd') => {
  const d = path.join(tmpRoot, `${name}-${tmpN++}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
};

interface Row {
  group: string;
  name: string;
  tried: number;
  handled: number;
  lost: number;
  note: string;
}
const rows: Row[] = [];
function record(group: string, name: string, tried: number, handled: number, lost: number, note: string): void {
  rows.push({ group, name, tried, handled, lost, note: note.replace(/\s+/g, ' ').slice(0, 150) });
  process.stderr.write(`  ${handled === tried && lost === 0 ? 'ok  ' : 'FAIL'} ${group}: ${name} — ${note.replace(/\s+/g, ' ').slice(0, 150)}\n`);
}

/** Runs the CLI in this process; returns exit code, stdout and stderr. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const realErr = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string | Uint8Array) => {
    err += String(s);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'heatseg', ...args], (s) => (out += s));
    return { code, out, err };
  } finally {
    process.stderr.write = realErr;
    process.exitCode = undefined;
  }
}

const hashFile = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
function hashTree(dir: string): string {
  const h = crypto.createHash('sha256');
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      h.update(path.relative(dir, p));
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) h.update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** A named, content-free failure: mentions `file` and matches `problem`, quotes no secret. */
function clean(msg: string, file: string | null, problem: RegExp): boolean {
  return (file === null || msg.includes(file)) && problem.test(msg) && !msg.includes(SECRET) && !msg.includes('root:x:') && !/\n\s+at /.test(msg);
}

async function shapes(count: number, w = 48, h = 40): Promise<string> {
  const d = tmp('src');
  await writeShapesDataset(d, { count, seed: 9, width: w, height: h });
  return d;
}

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
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(1))), chunk('IEND', Buffer.alloc(0))]);
}

// ---------------------------------------------------------------- bad input
async function badInput(): Promise<void> {
  const G = 'bad input';
  const project = () => {
    const p = path.join(tmp('p'), 'proj');
    ProjectStore.create(p).close();
    return p;
  };

  // labels / masks pointing at files that are not theirs
  {
    const src = await shapes(2);
    const p = project();
    const secrets: Array<[string, string, RegExp]> = [
      ['shadow-like', `root:x:0:0:${SECRET}:/root:/bin/bash\n`, /not a JSON file/],
      ['env-like', `PATH=/usr/bin\0TOKEN=${SECRET}\0`, /not a JSON file/],
      ['json with secret key', `{"${SECRET}": "${SECRET}"}`, /entry 1 of 1: expected a list/],
      ['broken json with secret', `{"a": ${SECRET}}`, /not valid JSON/],
    ];
    let handled = 0;
    const notes: string[] = [];
    for (const [name, content, problem] of secrets) {
      const f = path.join(tmp('f'), name.replace(/\W+/g, '-'));
      fs.writeFileSync(f, content);
      const r = await cli('import', p, src, '--labels', f);
      if (r.code === 1 && clean(r.err, f, problem)) handled++;
      else notes.push(`${name}: ${r.err.trim()}`);
    }
    const environ = await cli('import', p, src, '--labels', '/proc/self/environ');
    // a leak would quote the environment: any long value (paths of this checkout aside) in the message
    const envLeak = Object.values(process.env).some((v) => v && v.length >= 16 && !ROOT.includes(v) && !tmpRoot.includes(v) && environ.err.includes(v));
    if (environ.code === 1 && !envLeak && /\/proc\/self\/environ: /.test(environ.err)) handled++;
    else notes.push(`/proc/self/environ: ${environ.err.trim()}`);
    const maskFile = path.join(tmp('f'), 'not-a-folder');
    fs.writeFileSync(maskFile, SECRET);
    const m = await cli('import', p, src, '--masks', maskFile);
    if (m.code === 1 && clean(m.err, maskFile, /masks must be a folder/)) handled++;
    else notes.push(`masks=file: ${m.err.trim()}`);
    record(G, 'import --labels/--masks at an unrelated file (secret planted)', secrets.length + 2, handled, 0, notes.join(' | ') || 'file named, content never echoed');
  }

  // classes.json names equal but for case
  {
    const src = await shapes(1);
    fs.writeFileSync(path.join(src, 'classes.json'), JSON.stringify({ classes: ['cat', 'Cat'] }));
    const p = project();
    const r = await cli('import', p, src);
    const ok = r.code === 1 && clean(r.err, path.join(src, 'classes.json'), /"cat" and classes\[1\] "Cat" differ only by case/);
    record(G, 'classes.json ["cat","Cat"]', 1, ok ? 1 : 0, 0, r.err.trim());
  }

  // bad image files: truncated JPEG, empty, text as .png, .bmp, dangling link, huge header, truncated mask, EXIF-rotated mask
  {
    const src = await shapes(4, 64, 48);
    const img = (n: string) => path.join(src, 'images', n);
    const good = fs.readFileSync(img('shape_0000.jpg'));
    fs.writeFileSync(img('truncated.jpg'), good.subarray(0, good.length >> 1));
    fs.writeFileSync(img('empty.png'), '');
    fs.writeFileSync(img('notes.png'), `${SECRET}\n`);
    fs.writeFileSync(img('old.bmp'), Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]));
    fs.symlinkSync(path.join(tmpRoot, 'gone.jpg'), img('dangling.jpg'));
    fs.writeFileSync(img('huge.png'), pngHeader(20000, 20000));
    const mask = path.join(src, 'masks', 'shape_0001.png');
    const mb = fs.readFileSync(mask);
    fs.writeFileSync(mask, mb.subarray(0, Math.floor(mb.length * 0.6)));
    fs.writeFileSync(img('shape_0002.jpg'), await sharp(fs.readFileSync(img('shape_0002.jpg'))).withMetadata({ orientation: 6 }).jpeg().toBuffer());
    const expected: Record<string, RegExp> = {
      'images/truncated.jpg': /premature end|truncated/i,
      'images/empty.png': /empty file/,
      'images/notes.png': /unsupported image format/,
      'images/old.bmp': /BMP images are not supported/,
      'images/dangling.jpg': /broken symbolic link/,
      'images/huge.png': /image is 20,000×20,000 = 400,000,000 pixels, above heatseg's limit of 16,384×16,384/,
      'images/shape_0001.jpg': /mask masks\/shape_0001\.png: truncated PNG/,
      'images/shape_0002.jpg': /EXIF orientation \(6\)/,
    };
    const p = project();
    const r = await cli('import', p, src, '--json');
    let report: { imported: number; skipped: Array<{ file: string; reason: string }> } = { imported: 0, skipped: [] };
    try {
      report = JSON.parse(r.out) as typeof report;
    } catch {
      // reported below
    }
    const by = Object.fromEntries(report.skipped.map((s) => [s.file, s.reason]));
    const notes: string[] = [];
    let handled = 0;
    for (const [file, re] of Object.entries(expected)) {
      const reason = by[file] ?? '(not reported)';
      if (re.test(reason) && !reason.includes(SECRET)) handled++;
      else notes.push(`${file}: ${reason}`);
    }
    record(G, 'import: truncated jpg, empty, text .png, .bmp, dangling link, 20000² header, truncated mask, EXIF-rotated mask', Object.keys(expected).length, handled, 0, notes.join(' | ') || `all skipped by name (exit ${r.code}), ${report.imported} good images imported`);
  }

  // project files: garbage / truncated heatseg.sqlite, newer schema, old schema under a read-only command
  {
    const notes: string[] = [];
    let handled = 0;
    let lost = 0;
    const garbage = tmp('garbage');
    fs.writeFileSync(path.join(garbage, DB_FILE), `${SECRET} not a database`.repeat(50));
    const g = await cli('info', garbage);
    if (g.code === 1 && clean(g.err, path.join(garbage, DB_FILE), /is not a heatseg project database or is damaged/)) handled++;
    else notes.push(`garbage db: ${g.err.trim()}`);
    const trunc = path.join(tmp('trunc'), 'p');
    const s = ProjectStore.create(trunc);
    await importFolder(s, await shapes(6));
    s.db.pragma('wal_checkpoint(TRUNCATE)');
    s.close();
    const dbf = path.join(trunc, DB_FILE);
    fs.writeFileSync(dbf, fs.readFileSync(dbf).subarray(0, fs.statSync(dbf).size >> 1));
    const t = await cli('info', trunc);
    if (t.code === 1 && clean(t.err, dbf, /is not a heatseg project database or is damaged/)) handled++;
    else notes.push(`truncated db: ${t.err.trim()}`);
    const newer = tmp('newer');
    const ndb = new Database(path.join(newer, DB_FILE));
    migrate(ndb, 'x', loadMigrations());
    ndb.pragma(`user_version = ${loadMigrations().length + 5}`);
    ndb.close();
    const n = await cli('info', newer);
    if (n.code === 1 && clean(n.err, path.join(newer, DB_FILE), /newer heatseg/)) handled++;
    else notes.push(`newer: ${n.err.trim()}`);
    const old = tmp('old');
    const odb = new Database(path.join(old, DB_FILE));
    odb.pragma('journal_mode = WAL');
    migrate(odb, 'x', loadMigrations(), 1);
    odb.close();
    const before = hashTree(old);
    const o = await cli('info', old);
    if (hashTree(old) !== before) {
      lost++;
      notes.push('info modified an old project');
    }
    if (o.code === 1 && /needs an upgrade.*heatseg upgrade/.test(o.err)) handled++;
    else notes.push(`old: ${o.err.trim()}`);
    record(G, 'heatseg info: garbage db, truncated db, newer schema, old schema (must stay untouched)', 4, handled, lost, notes.join(' | ') || 'file named; old project byte-identical');
  }

  // predict never writes over an input; same-named inputs; export leaves the user's OUT.partial
  {
    const src = await shapes(6, 48, 48);
    const p = path.join(tmp('trained'), 'p');
    ProjectStore.create(p).close();
    await cli('import', p, src);
    const tr = await cli('train', p, '--epochs', '1', '--size', '32', '--batch', '2');
    const notes: string[] = [];
    let handled = 0;
    let lost = 0;
    if (tr.code !== 0) notes.push(`training for the predict cases failed: ${tr.err.trim().slice(-200)}`);
    const inDir = tmp('inputs');
    const a = path.join(inDir, 'x.png');
    await sharp(path.join(src, 'images', 'shape_0000.jpg')).png().toFile(a);
    const b = path.join(tmp('other'), 'x.png');
    await sharp(path.join(src, 'images', 'shape_0001.jpg')).png().toFile(b);
    const ha = hashFile(a);
    const r = await cli('predict', p, a, b, '--out', inDir, '--json');
    if (hashFile(a) !== ha) {
      lost++;
      notes.push('the input image was overwritten');
    }
    let written: Array<{ mask: string }> = [];
    try {
      written = (JSON.parse(r.out) as { written: typeof written }).written;
    } catch {
      notes.push(`predict: ${r.err.trim().slice(-200)}`);
    }
    const masks = new Set(written.map((w) => w.mask));
    if (r.code === 0 && masks.size === 2 && !masks.has(a)) handled += 2;
    else notes.push(`outputs: ${[...masks].join(', ')}`);
    // export with a user folder called OUT.partial beside OUT
    const outParent = tmp('export');
    const out = path.join(outParent, 'model');
    fs.mkdirSync(`${out}.partial`);
    fs.writeFileSync(path.join(`${out}.partial`, 'thesis.txt'), 'years of work');
    const before = hashTree(`${out}.partial`);
    const e1 = await cli('export', p, out);
    const e2 = await cli('export', p, path.join(outParent, 'model'));
    if (!fs.existsSync(`${out}.partial`) || hashTree(`${out}.partial`) !== before) {
      lost++;
      notes.push('export deleted or changed the user folder OUT.partial');
    }
    if (e1.code === 0) handled++;
    else notes.push(`export: ${e1.err.trim()}`);
    if (e2.code === 1 && /exists and is not empty/.test(e2.err)) handled++;
    else notes.push(`export again: ${e2.err.trim()}`);
    record(G, 'predict --out into the inputs\' folder, two inputs named x.png; export beside a user OUT.partial; export onto a non-empty OUT', 4, handled, lost, notes.join(' | ') || 'unique outputs, inputs and user folder byte-identical');
  }

  // CSV and CLI misuse
  {
    const p = path.join(tmp('csv'), 'p');
    ProjectStore.create(p).close();
    await cli('import', p, await shapes(2));
    const f = path.join(tmp('f'), 'tags.csv');
    fs.writeFileSync(f, `image,tags\n"${SECRET}\n`);
    const c = await cli('tag', p, '--csv', f);
    const u = await cli('tag', p, 'nope.jpg', '--add', 'disc');
    const i = await cli('import', p, path.join(tmpRoot, 'does-not-exist'));
    const ok = [c.code === 1 && clean(c.err, f, /not a valid CSV/), u.code === 1 && /nope\.jpg: no such image/.test(u.err), i.code === 1 && /does-not-exist: no such folder or file/.test(i.err)];
    record(G, 'tag --csv with a broken quote (secret planted), tag an unknown image, import a missing folder', 3, ok.filter(Boolean).length, 0, [c.err, u.err, i.err].map((s) => s.trim()).join(' | '));
  }
}

// ---------------------------------------------------------------- kills
function spawnNode(args: string[]): ChildProcess {
  return spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

function inflateRaster(data: Buffer): Uint8Array {
  return new Uint8Array(zlib.inflateSync(data));
}

async function killPatchWriters(n: number): Promise<void> {
  const dir = path.join(tmp('kill'), 'p');
  const store = ProjectStore.create(dir);
  store.addClass('a');
  store.addClass('b');
  const imgDir = tmp('killimg');
  await sharp({ create: { width: W, height: W, channels: 3, background: '#406080' } }).png().toFile(path.join(imgDir, 'canvas.png'));
  await importFolder(store, imgDir);
  const imageId = store.allImageIds()[0]!;
  store.close();
  let tried = 0;
  let survived = 0;
  let lostStrokes = 0;
  let committedTotal = 0;
  const notes: string[] = [];
  for (let r = 0; r < n; r++) {
    const value = (r % 2) + 1; // alternate so a lost stroke would show the previous run's value
    const child = spawnNode(['--import', 'tsx', path.join(ROOT, 'bench/abuse.ts'), '--child-patch', dir, String(imageId), String(value)]);
    const committed: number[] = [];
    let buf = '';
    let ready = false;
    const readyP = new Promise<void>((resolve) => {
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) {
          if (l === 'ready' && !ready) {
            ready = true;
            resolve();
          }
          const m = /^committed (\d+)$/.exec(l);
          if (m) committed.push(Number(m[1]));
        }
      });
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await Promise.race([readyP, exited]);
    await new Promise((res) => setTimeout(res, Math.floor(Math.random() * 1200)));
    child.kill('SIGKILL');
    await exited;
    tried++;
    // strokes of this run: the last W committed rows at most (a row painted again later holds the same value)
    const rowsOfRun = [...new Set(committed.slice(-W))];
    committedTotal += committed.length;
    const db = new Database(path.join(dir, DB_FILE));
    const integrity = db.pragma('integrity_check', { simple: true });
    const row = db.prepare('SELECT width, height, data FROM label_rasters WHERE image_id = ?').get(imageId) as { width: number; height: number; data: Buffer } | undefined;
    db.close();
    let lost = 0;
    if (rowsOfRun.length) {
      const raster = row ? inflateRaster(row.data) : new Uint8Array(W * W);
      for (const k of rowsOfRun) {
        for (let x = 0; x < W; x++) {
          if (raster[k * W + x] !== value) {
            lost++;
            break;
          }
        }
      }
    }
    if (integrity !== 'ok') notes.push(`run ${r}: integrity ${String(integrity)}`);
    if (lost === 0 && integrity === 'ok') survived++;
    lostStrokes += lost;
  }
  record('kills', `SIGKILL a labels.patch writer at a random moment (0–1.2 s after ready), ${W}×${W} raster`, tried, survived, lostStrokes, notes.join(' | ') || `${committedTotal} strokes committed in all; every committed stroke found after each kill; integrity_check ok`);
}

async function killImports(n: number): Promise<void> {
  const src = await shapes(40, 320, 240);
  let tried = 0;
  let clean_ = 0;
  let lost = 0;
  const notes: string[] = [];
  for (let r = 0; r < n; r++) {
    const dir = path.join(tmp('ikill'), 'p');
    ProjectStore.create(dir).close();
    const child = spawnNode([BIN, 'import', dir, src]);
    let started = false;
    const progress = new Promise<void>((resolve) => {
      child.stderr!.on('data', (d: Buffer) => {
        if (!started && /import: \d+\//.test(d.toString())) {
          started = true;
          resolve();
        }
      });
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await Promise.race([progress, exited]);
    await new Promise((res) => setTimeout(res, Math.floor(Math.random() * 2500)));
    child.kill('SIGKILL');
    await exited;
    tried++;
    const db = new Database(path.join(dir, DB_FILE));
    const integrity = db.pragma('integrity_check', { simple: true });
    const images = db.prepare('SELECT i.id, i.file_name, i.width, i.height, l.labelled_pixels FROM images i LEFT JOIN label_rasters l ON l.image_id = i.id').all() as Array<{ id: number; file_name: string; width: number; height: number; labelled_pixels: number | null }>;
    db.close();
    let bad = 0;
    for (const i of images) if (!fs.existsSync(path.join(dir, 'images', i.file_name)) || i.labelled_pixels !== i.width * i.height) bad++;
    // the interrupted import completes on a rerun, without duplicates, cleaning its leftovers
    const store = ProjectStore.open(dir);
    const rep = await importFolder(store, src);
    const total = store.summary().images;
    store.close();
    const leftovers = fs.readdirSync(path.join(dir, 'images')).filter((f) => f.endsWith('.tmp')).length;
    if (integrity === 'ok' && bad === 0 && total === 40 && rep.duplicates === images.length && leftovers === 0) clean_++;
    else notes.push(`run ${r}: integrity ${String(integrity)}, ${bad} partial images, ${total}/40 after rerun, ${leftovers} tmp left`);
    lost += bad;
  }
  record('kills', 'SIGKILL `heatseg import` (40 images + masks) at a random moment, then import again', tried, clean_, lost, notes.join(' | ') || 'only whole images after each kill; rerun completes to 40 without duplicates; no .tmp left');
}

// ---------------------------------------------------------------- forged HTTP
interface Reply {
  status: number;
  body: string;
}
function request(port: number, opts: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string; bodyBytes?: number }): Promise<Reply> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path, headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        if (body.length < 4000) body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (e) => resolve({ status: 0, body: String(e.message) }));
    if (opts.bodyBytes) {
      // a huge JSON string, streamed
      const chunk = Buffer.alloc(1 << 20, 0x61);
      let sent = 0;
      req.write('{"x":"');
      const pump = () => {
        while (sent < opts.bodyBytes!) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end('"}');
      };
      pump();
    } else req.end(opts.body);
  });
}

function vmHwmKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function forgedHttp(): Promise<void> {
  const dir = path.join(tmp('serve'), 'p');
  ProjectStore.create(dir).close();
  const newer = tmp('newer-http');
  const ndb = new Database(path.join(newer, DB_FILE));
  migrate(ndb, 'x', loadMigrations());
  ndb.pragma(`user_version = ${loadMigrations().length + 5}`);
  ndb.close();
  const child = spawn(process.execPath, [BIN, 'serve', dir, '--port', '0', '--no-open'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  const url = await new Promise<URL>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('serve printed no URL')), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /open in your browser: (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(new URL(m[1]!));
      }
    });
  });
  const port = Number(url.port);
  const token = url.searchParams.get('token')!;
  const host = `127.0.0.1:${port}`;
  const json = { 'content-type': 'application/json', host };
  const auth = { ...json, 'x-heatseg-token': token };
  const cases: Array<{ name: string; run: () => Promise<Reply>; want: (r: Reply) => boolean }> = [
    { name: 'no token', run: () => request(port, { path: '/api/project.summary', headers: json, body: '{}' }), want: (r) => r.status === 401 },
    { name: 'wrong token', run: () => request(port, { path: '/api/project.summary', headers: { ...json, 'x-heatseg-token': 'x'.repeat(48) }, body: '{}' }), want: (r) => r.status === 401 },
    { name: 'wrong Host (DNS rebinding)', run: () => request(port, { path: '/api/project.summary', headers: { ...auth, host: `evil.example:${port}` }, body: '{}' }), want: (r) => r.status === 403 },
    { name: 'wrong Origin (CSRF)', run: () => request(port, { path: '/api/project.summary', headers: { ...auth, origin: 'http://evil.example' }, body: '{}' }), want: (r) => r.status === 403 },
    { name: 'form post (text/plain)', run: () => request(port, { path: '/api/project.summary', headers: { ...auth, 'content-type': 'text/plain' }, body: '{}' }), want: (r) => r.status === 415 },
    { name: 'malformed % in the URL path', run: () => request(port, { method: 'GET', path: '/%E0%A4%A', headers: { host } }), want: (r) => r.status === 400 },
    { name: 'malformed % in an API path', run: () => request(port, { path: '/api/%ZZ', headers: auth, body: '{}' }), want: (r) => r.status === 400 || r.status === 404 },
    { name: 'malformed % in the cookie', run: () => request(port, { path: '/api/project.summary', headers: { ...json, cookie: `heatseg_token_${port}=%E0%A4%A` }, body: '{}' }), want: (r) => r.status === 400 || r.status === 401 },
    { name: 'invalid JSON body', run: () => request(port, { path: '/api/project.summary', headers: auth, body: '{"a":' }), want: (r) => r.status === 400 },
    { name: 'input failing the zod contract', run: () => request(port, { path: '/api/images.list', headers: auth, body: '{"limit":-5}' }), want: (r) => r.status === 400 },
    { name: 'labels pointed at a secret over HTTP', run: async () => {
      const f = path.join(tmp('f'), 'secret.txt');
      fs.writeFileSync(f, `TOKEN=${SECRET}\n`);
      return request(port, { path: '/api/images.import', headers: auth, body: JSON.stringify({ source: dir, labels: f }) });
    }, want: (r) => r.status === 400 && !r.body.includes(SECRET) && r.body.includes('secret.txt') },
    { name: 'open a newer-schema project over HTTP', run: () => request(port, { path: '/api/project.open', headers: auth, body: JSON.stringify({ path: newer }) }), want: (r) => r.status >= 400 && r.status < 500 && /newer heatseg/.test(r.body) },
  ];
  for (const c of cases) {
    const r = await c.run();
    const ok = c.want(r);
    record('forged HTTP', c.name, 1, ok ? 1 : 0, 0, `${r.status} ${r.body.replace(/\s+/g, ' ').slice(0, 110)}`);
  }
  // huge authenticated body: must be refused early (413) without the server's memory growing by it
  const before = vmHwmKb(pid);
  const big = await request(port, { path: '/api/labels.patch', headers: auth, bodyBytes: 200 * 1024 * 1024 });
  const grewMb = Math.round((vmHwmKb(pid) - before) / 1024);
  record('forged HTTP', '200 MB authenticated JSON body', 1, big.status === 413 && grewMb < 100 ? 1 : 0, 0, `${big.status} ${big.body.slice(0, 80)}; server peak RSS grew ${grewMb} MB`);
  // stop the server by its PID
  process.kill(pid, 'SIGTERM');
  const stopped = await Promise.race([new Promise<boolean>((res) => child.once('exit', () => res(true))), new Promise<boolean>((res) => setTimeout(() => res(false), 15_000))]);
  if (!stopped) process.kill(pid, 'SIGKILL');
  record('forged HTTP', `server stopped by its PID (${pid}) with SIGTERM`, 1, stopped ? 1 : 0, 0, stopped ? 'exited' : 'had to be killed');
}

// ---------------------------------------------------------------- main
async function run(): Promise<void> {
  const kills = Number(argValue('--kills', '32'));
  const outFile = argValue('--out', path.join(ROOT, 'bench/results/abuse.txt'));
  const t0 = Date.now();
  process.stderr.write('bad input…\n');
  await badInput();
  process.stderr.write('forged HTTP…\n');
  await forgedHttp();
  process.stderr.write(`kills (${kills})…\n`);
  const importKills = Math.max(1, Math.round(kills / 4));
  await killPatchWriters(kills - importKills);
  await killImports(importKills);

  const head = ['group', 'case', 'tried', 'handled cleanly (named error)', 'committed data lost', 'what happened'];
  const table = rows.map((r) => [r.group, r.name, String(r.tried), String(r.handled), String(r.lost), r.note]);
  const widths = head.map((h, i) => Math.min(i === 5 ? 150 : 80, Math.max(h.length, ...table.map((t) => t[i]!.length))));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const totals = rows.reduce((a, r) => ({ tried: a.tried + r.tried, handled: a.handled + r.handled, lost: a.lost + r.lost }), { tried: 0, handled: 0, lost: 0 });
  const text = [
    `$ npx tsx bench/abuse.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    `# ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} cores, ${Math.round((Date.now() - t0) / 1000)} s`,
    '',
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...table.map(line),
    '',
    `total: ${totals.tried} tried, ${totals.handled} handled cleanly, ${totals.tried - totals.handled} not, committed data lost: ${totals.lost}`,
    `not handled: ${rows.filter((r) => r.handled < r.tried).map((r) => `${r.group}: ${r.name}`).join('; ') || 'none'}`,
    '',
  ].join('\n');
  process.stdout.write(text);
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, text);
  fs.rmSync(tmpRoot, { recursive: true, force: true });
}

if (process.argv[2] !== '--child-patch') {
  run().catch((e: unknown) => {
    process.stderr.write(`abuse: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
