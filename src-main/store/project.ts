/**
 * A heatseg project: a self-contained, movable folder
 *   heatseg.sqlite   SQLite database (WAL, foreign keys on)
 *   images/          imported image files, named by the sha256 of their bytes
 *   models/          training run checkpoints, one folder per run id
 * All paths inside the database are relative to the folder, so the folder can be moved or copied.
 */
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import type { ClassInfo, ImagePage, ImageSummary, ProjectSummary } from '../../src-shared/api.js';
import { ApiError } from '../../src-shared/api.js';
import { readJsonFile } from '../json-file.js';
import { PATCH_KEEP, UNLABELLED, histogram, type Rect } from '../../src-shared/labels.js';
import { defaultClassColor } from '../../src-shared/colors.js';
import { DamagedProjectError, MigrationNeededError, NewerSchemaError, checkDatabaseHeader, headerSchemaVersion, isDamageError, loadMigrations, migrate, schemaVersion } from './migrations.js';

export const DB_FILE = 'heatseg.sqlite';
export const IMAGES_DIR = 'images';
export const MODELS_DIR = 'models';
/** meta key: the highest class id ever deleted (ids are not reused). */
const CLASS_ID_HIGH = 'class_id_high';
/** A run's epoch checkpoints: `models/run-N.checkpoint`, beside (never inside) its model folder. */
export const CHECKPOINT_SUFFIX = '.checkpoint';

interface ClassRow {
  id: number;
  name: string;
  color: string;
  position: number;
  label_value: number;
  is_background: number;
}
interface ImageRow {
  id: number;
  hash: string;
  file_name: string;
  original_name: string;
  width: number;
  height: number;
  status: 'active' | 'excluded';
}

export interface NewImage {
  hash: string;
  fileName: string;
  originalName: string;
  width: number;
  height: number;
  thumbnail: Uint8Array | null;
}

export interface RunRow {
  id: number;
  status: 'running' | 'completed' | 'cancelled' | 'failed';
  method: string;
  backbone: string;
  backend: string | null;
  config: string;
  metrics: string | null;
  checkpoint_dir: string | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface PredictionRow {
  run_id: number;
  image_id: number;
  /** JSON, src-main/api/prediction-map.ts CachedPredictionMeta (the mask holds model class indices). */
  tag_probs: string;
  mask: Buffer | Uint8Array | null;
  heatmaps: Buffer | Uint8Array | null;
  heatmaps_format: string | null;
  score: number | null;
  created_at: string;
}

export interface LabelRaster {
  width: number;
  height: number;
  revision: number;
  raster: Uint8Array;
}

function toClass(r: ClassRow): ClassInfo {
  return {
    id: r.id,
    name: r.name,
    color: r.color,
    position: r.position,
    labelValue: r.label_value,
    isBackground: r.is_background === 1,
  };
}

/*
 * Label rasters in the database are zlib, the format of src-shared/labels.ts; here, on the main
 * side, Node's native zlib reads and writes them, several times faster than the pure-JS codec on a
 * 4096×4096 raster, which keeps a stroke's save (read, patch, write back) well under 100 ms.
 */
function deflateRaster(raster: Uint8Array, level = 6): Uint8Array {
  return zlib.deflateSync(raster, { level });
}

/** Rasters above this many pixels are deflated at level 3 on a patch: ~5× faster than 6, ~1.5–2× larger. */
const FAST_DEFLATE_ABOVE = 4_000_000;
/** Decompressed rasters of recently patched images kept in memory. */
const RASTER_CACHE_BYTES = 64 * 1024 * 1024;

const inflateAsync = promisify(zlib.inflate) as (data: Uint8Array, opts: zlib.ZlibOptions) => Promise<Buffer>;

export function inflateRaster(data: Uint8Array, width: number, height: number, what: string): Uint8Array {
  let raw: Uint8Array;
  try {
    // One output buffer of the known size instead of many chunks joined at the end.
    const buf = zlib.inflateSync(data, { chunkSize: Math.max(64 * 1024, width * height) });
    // A plain Uint8Array view (no copy), like the pure-JS codec returns.
    raw = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  } catch (e) {
    throw new Error(`${what}: corrupt compressed data (${(e as Error).message})`, { cause: e });
  }
  if (raw.length !== width * height) {
    throw new Error(`${what}: holds ${raw.length} pixels, expected ${width}×${height} = ${width * height}`);
  }
  return raw;
}

export function isProjectDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, DB_FILE));
}

export class ProjectStore {
  readonly db: Database.Database;
  private readonly rasterCache = new Map<number, { revision: number; raster: Uint8Array }>();
  private constructor(
    readonly dir: string,
    db: Database.Database,
  ) {
    this.db = db;
  }

  /** Creates a new project folder (which may exist but must not hold a project). */
  static create(dir: string): ProjectStore {
    const abs = path.resolve(dir);
    if (isProjectDir(abs)) throw new ApiError('conflict', `${abs} already holds a heatseg project`);
    if (fs.existsSync(abs) && !fs.statSync(abs).isDirectory()) throw new ApiError('invalid_input', `${abs} is a file, not a folder`);
    fs.mkdirSync(abs, { recursive: true });
    return ProjectStore.openDb(abs, true);
  }

  /**
   * Opens a project. `readOnly`: for commands that only read (info, export…): the database is
   * opened read-only, nothing in the folder is written, and an older project is not upgraded
   * (MigrationNeededError says how to). Otherwise an older project is upgraded and
   * `upgradedFrom` tells the caller, who says so.
   */
  static open(dir: string, opts: { readOnly?: boolean } = {}): ProjectStore {
    const abs = path.resolve(dir);
    if (!isProjectDir(abs)) {
      throw new ApiError('not_found', `${abs} is not a heatseg project (no ${DB_FILE}); create one with \`heatseg init ${dir}\``);
    }
    return ProjectStore.openDb(abs, false, opts.readOnly ?? false);
  }

  /** Schema version the project had before this open upgraded it (null: no upgrade). */
  upgradedFrom: number | null = null;

  private static openDb(abs: string, create: boolean, readOnly = false): ProjectStore {
    const file = path.join(abs, DB_FILE);
    checkDatabaseHeader(file);
    if (readOnly) {
      // An older project is refused before SQLite opens it (and leaves its -shm file behind).
      const known = loadMigrations().length;
      const v = headerSchemaVersion(file);
      if (v !== null && v < known) throw new MigrationNeededError(file, v, known);
    }
    let db: Database.Database;
    try {
      db = new Database(file, { fileMustExist: !create, readonly: readOnly });
    } catch (e) {
      if (isDamageError(e)) throw new DamagedProjectError(file, (e as Error).message);
      throw e;
    }
    let from: number;
    let applied: number[] = [];
    try {
      // Wait for another process's write (two imports at once) instead of failing at once.
      db.pragma('busy_timeout = 5000');
      // Refuse a newer project before anything (even the WAL switch) writes to it.
      const known = loadMigrations().length;
      from = schemaVersion(db);
      if (from > known) throw new NewerSchemaError(file, from, known);
      if (readOnly && from < known) throw new MigrationNeededError(file, from, known);
      if (!readOnly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
      }
      db.pragma('foreign_keys = ON');
      if (!readOnly) {
        applied = migrate(db, file);
        fs.mkdirSync(path.join(abs, IMAGES_DIR), { recursive: true });
        fs.mkdirSync(path.join(abs, MODELS_DIR), { recursive: true });
      }
    } catch (e) {
      db.close();
      if (isDamageError(e)) throw new DamagedProjectError(file, (e as Error).message);
      throw e;
    }
    const store = new ProjectStore(abs, db);
    if (applied.length && from > 0) store.upgradedFrom = from;
    try {
      if (!readOnly) store.markInterruptedRuns();
    } catch (e) {
      store.close();
      if (isDamageError(e)) throw new DamagedProjectError(file, (e as Error).message);
      throw e;
    }
    return store;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  get name(): string {
    return path.basename(this.dir);
  }

  imagePath(fileName: string): string {
    return path.join(this.dir, IMAGES_DIR, fileName);
  }

  // ---- classes ----

  classes(): ClassInfo[] {
    return (this.db.prepare('SELECT * FROM classes ORDER BY position, id').all() as ClassRow[]).map(toClass);
  }

  classById(id: number): ClassInfo {
    const row = this.db.prepare('SELECT * FROM classes WHERE id = ?').get(id) as ClassRow | undefined;
    if (!row) throw new ApiError('not_found', `no class with id ${id}`);
    return toClass(row);
  }

  classByName(name: string): ClassInfo | undefined {
    const row = this.db.prepare('SELECT * FROM classes WHERE name = ? COLLATE NOCASE').get(name) as ClassRow | undefined;
    return row ? toClass(row) : undefined;
  }

  addClass(name: string, color?: string, isBackground = false): ClassInfo {
    const trimmed = name.trim();
    if (!trimmed) throw new ApiError('invalid_input', 'class name is empty');
    return this.db
      .transaction(() => {
        if (this.classByName(trimmed)) throw new ApiError('conflict', `a class named "${trimmed}" already exists`);
        const used = new Set((this.db.prepare('SELECT label_value v FROM classes').all() as { v: number }[]).map((r) => r.v));
        let value = 1;
        while (used.has(value)) value++;
        if (value > 254) throw new ApiError('conflict', 'a project holds at most 254 classes');
        const position = (this.db.prepare('SELECT COALESCE(MAX(position) + 1, 0) p FROM classes').get() as { p: number }).p;
        // Never a deleted class's id again: models and cached predictions name classes by id.
        const nextId = (this.db.prepare(`SELECT MAX(COALESCE((SELECT MAX(id) FROM classes), 0), COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '${CLASS_ID_HIGH}'), 0)) + 1 n`).get() as { n: number }).n;
        const info = this.db
          .prepare('INSERT INTO classes (id, name, color, position, label_value, is_background) VALUES (?, ?, ?, ?, ?, ?)')
          .run(nextId, trimmed, (color ?? defaultClassColor(position)).toLowerCase(), position, value, isBackground ? 1 : 0);
        return this.classById(Number(info.lastInsertRowid));
      })
      .immediate();
  }

  /**
   * The class of this name (matched without regard to case), created when missing, in one write
   * transaction: two processes importing into one project at once both get the same class and
   * neither fails (the second finds what the first created).
   */
  ensureClass(name: string): { cls: ClassInfo; created: boolean } {
    return this.db
      .transaction(() => {
        const existing = this.classByName(name.trim());
        if (existing) return { cls: existing, created: false };
        return { cls: this.addClass(name), created: true };
      })
      .immediate();
  }

  updateClass(id: number, change: { name?: string; color?: string; position?: number }): ClassInfo {
    return this.db
      .transaction(() => {
        const cls = this.classById(id);
        if (change.name !== undefined && change.name.trim() !== cls.name) {
          const other = this.classByName(change.name.trim());
          if (other && other.id !== id) throw new ApiError('conflict', `a class named "${change.name.trim()}" already exists`);
          this.db.prepare('UPDATE classes SET name = ? WHERE id = ?').run(change.name.trim(), id);
        }
        if (change.color !== undefined) this.db.prepare('UPDATE classes SET color = ? WHERE id = ?').run(change.color.toLowerCase(), id);
        if (change.position !== undefined) {
          const order = this.classes().filter((c) => c.id !== id);
          order.splice(Math.min(change.position, order.length), 0, cls);
          const set = this.db.prepare('UPDATE classes SET position = ? WHERE id = ?');
          order.forEach((c, i) => set.run(i, c.id));
        }
        return this.classById(id);
      })
      .immediate();
  }

  /** Deletes a class, its tags, and clears its pixels from every label raster (they become unlabelled). */
  removeClass(id: number): { removedLabelPixels: number; removedTags: number } {
    return this.db
      .transaction(() => {
        const cls = this.classById(id);
        const removedTags = this.db.prepare('DELETE FROM image_tags WHERE class_id = ?').run(id).changes;
        let removedLabelPixels = 0;
        const affected = this.db.prepare('SELECT image_id FROM label_counts WHERE class_id = ?').all(id) as { image_id: number }[];
        for (const { image_id } of affected) {
          const lr = this.labels(image_id);
          if (!lr) continue;
          for (let i = 0; i < lr.raster.length; i++) {
            if (lr.raster[i] === cls.labelValue) {
              lr.raster[i] = UNLABELLED;
              removedLabelPixels++;
            }
          }
          this.writeLabels(image_id, lr.width, lr.height, lr.raster, { skipClassCheck: true });
        }
        this.db.prepare('DELETE FROM classes WHERE id = ?').run(id);
        this.db
          .prepare(`INSERT INTO meta (key, value) VALUES ('${CLASS_ID_HIGH}', ?) ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`)
          .run(String(id));
        return { removedLabelPixels, removedTags };
      })
      .immediate();
  }

  // ---- images ----

  findImage(hash: string, originalName: string): number | undefined {
    const row = this.db.prepare('SELECT id FROM images WHERE hash = ? AND original_name = ?').get(hash, originalName) as
      | { id: number }
      | undefined;
    return row?.id;
  }

  /** Inserts an image whose file is already in images/, with its tags and labels, in one transaction. */
  addImage(img: NewImage, tags: number[], labels: Uint8Array | null): number {
    return this.db.transaction(() => this.addImageInTx(img, tags, labels)).immediate();
  }

  /**
   * addImage unless the same image (hash and name) is already there — checked inside the write
   * transaction, so a concurrent import of the same image is a duplicate, not a UNIQUE failure.
   * Returns the new id, or null for a duplicate.
   */
  addImageIfNew(img: NewImage, tags: number[], labels: Uint8Array | null): number | null {
    return this.db
      .transaction(() => (this.findImage(img.hash, img.originalName) !== undefined ? null : this.addImageInTx(img, tags, labels)))
      .immediate();
  }

  private addImageInTx(img: NewImage, tags: number[], labels: Uint8Array | null): number {
    return this.db
      .transaction(() => {
        const info = this.db
          .prepare('INSERT INTO images (hash, file_name, original_name, width, height, thumbnail) VALUES (?, ?, ?, ?, ?, ?)')
          .run(img.hash, img.fileName, img.originalName, img.width, img.height, img.thumbnail);
        const imageId = Number(info.lastInsertRowid);
        this.setTagsInTx(imageId, tags);
        if (labels) this.writeLabels(imageId, img.width, img.height, labels);
        return imageId;
      })();
  }

  imageRow(id: number): ImageRow {
    const row = this.db
      .prepare('SELECT id, hash, file_name, original_name, width, height, status FROM images WHERE id = ?')
      .get(id) as ImageRow | undefined;
    if (!row) throw new ApiError('not_found', `no image with id ${id} (it may have been deleted)`);
    return row;
  }

  thumbnail(id: number): Uint8Array | null {
    const row = this.db.prepare('SELECT thumbnail FROM images WHERE id = ?').get(id) as { thumbnail: Buffer | null } | undefined;
    if (!row) throw new ApiError('not_found', `no image with id ${id}`);
    return row.thumbnail;
  }

  imageSummary(id: number): ImageSummary {
    const page = this.listImages({ ids: [id], offset: 0, limit: 1 });
    const item = page.items[0];
    if (!item) throw new ApiError('not_found', `no image with id ${id} (it may have been deleted)`);
    return item;
  }

  listImages(q: {
    offset: number;
    limit: number;
    classId?: number;
    filter?: 'all' | 'untagged' | 'tagged' | 'labelled' | 'unlabelled';
    ids?: number[];
  }): ImagePage {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.ids) {
      where.push(`i.id IN (${q.ids.map(() => '?').join(',') || 'NULL'})`);
      params.push(...q.ids);
    }
    if (q.classId !== undefined) {
      where.push('(EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id AND t.class_id = ?) OR EXISTS (SELECT 1 FROM label_counts c WHERE c.image_id = i.id AND c.class_id = ?))');
      params.push(q.classId, q.classId);
    }
    switch (q.filter ?? 'all') {
      case 'untagged':
        where.push('NOT EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id)');
        break;
      case 'tagged':
        where.push('EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id)');
        break;
      case 'labelled':
        where.push('COALESCE(l.labelled_pixels, 0) > 0');
        break;
      case 'unlabelled':
        where.push('COALESCE(l.labelled_pixels, 0) = 0');
        break;
      case 'all':
        break;
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (
      this.db.prepare(`SELECT COUNT(*) n FROM images i LEFT JOIN label_rasters l ON l.image_id = i.id ${clause}`).get(...params) as {
        n: number;
      }
    ).n;
    const rows = this.db
      .prepare(
        `SELECT i.id, i.original_name, i.width, i.height, i.status, COALESCE(l.labelled_pixels, 0) labelled,
                (SELECT group_concat(class_id) FROM image_tags t WHERE t.image_id = i.id) tags
         FROM images i LEFT JOIN label_rasters l ON l.image_id = i.id ${clause}
         ORDER BY i.id LIMIT ? OFFSET ?`,
      )
      .all(...params, q.limit, q.offset) as Array<{
      id: number;
      original_name: string;
      width: number;
      height: number;
      status: 'active' | 'excluded';
      labelled: number;
      tags: string | null;
    }>;
    return {
      total,
      offset: q.offset,
      items: rows.map((r) => ({
        id: r.id,
        originalName: r.original_name,
        width: r.width,
        height: r.height,
        status: r.status,
        labelledPixels: r.labelled,
        tags: r.tags ? r.tags.split(',').map(Number).sort((a, b) => a - b) : [],
      })),
    };
  }

  allImageIds(): number[] {
    return (this.db.prepare('SELECT id FROM images ORDER BY id').all() as { id: number }[]).map((r) => r.id);
  }

  // ---- tags ----

  private setTagsInTx(imageId: number, classIds: number[]): void {
    this.db.prepare('DELETE FROM image_tags WHERE image_id = ?').run(imageId);
    const ins = this.db.prepare('INSERT OR IGNORE INTO image_tags (image_id, class_id) VALUES (?, ?)');
    for (const c of classIds) {
      this.classById(c);
      ins.run(imageId, c);
    }
  }

  setTags(imageId: number, classIds: number[]): ImageSummary {
    this.db
      .transaction(() => {
        this.imageRow(imageId);
        this.setTagsInTx(imageId, classIds);
      })
      .immediate();
    return this.imageSummary(imageId);
  }

  toggleTag(imageId: number, classId: number, on: boolean): ImageSummary {
    this.db
      .transaction(() => {
        this.imageRow(imageId);
        this.classById(classId);
        if (on) this.db.prepare('INSERT OR IGNORE INTO image_tags (image_id, class_id) VALUES (?, ?)').run(imageId, classId);
        else this.db.prepare('DELETE FROM image_tags WHERE image_id = ? AND class_id = ?').run(imageId, classId);
      })
      .immediate();
    return this.imageSummary(imageId);
  }

  /** Adds (on) or removes one class's tag on many images in one transaction; returns the images it changed. */
  bulkTag(imageIds: number[], classId: number, on: boolean): { changed: number; changedIds: number[] } {
    return this.db
      .transaction(() => {
        this.classById(classId);
        const ids = [...new Set(imageIds)];
        for (const id of ids) this.imageRow(id);
        const stmt = on
          ? this.db.prepare('INSERT OR IGNORE INTO image_tags (image_id, class_id) VALUES (?, ?)')
          : this.db.prepare('DELETE FROM image_tags WHERE image_id = ? AND class_id = ?');
        const changedIds = ids.filter((id) => stmt.run(id, classId).changes > 0);
        return { changed: changedIds.length, changedIds };
      })
      .immediate();
  }

  // ---- labels ----

  /** Ids of the classes an image has pixel labels of (from the per-class counts). */
  labelledClassIds(imageId: number): number[] {
    return (this.db.prepare('SELECT class_id FROM label_counts WHERE image_id = ? AND pixels > 0 ORDER BY class_id').all(imageId) as Array<{ class_id: number }>).map(
      (r) => r.class_id,
    );
  }

  labels(imageId: number): LabelRaster | null {
    const row = this.db.prepare('SELECT width, height, data, revision FROM label_rasters WHERE image_id = ?').get(imageId) as
      | { width: number; height: number; data: Buffer; revision: number }
      | undefined;
    if (!row) return null;
    return {
      width: row.width,
      height: row.height,
      revision: row.revision,
      raster: inflateRaster(row.data, row.width, row.height, `label raster of image ${imageId}`),
    };
  }

  /**
   * Decompresses an image's stored labels into the patch cache ahead of its first stroke (the
   * image was just opened for painting), so that stroke's save does not pay for the inflate. The
   * inflate runs on libuv's thread pool: the server keeps answering meanwhile (the image itself is
   * being fetched at that moment). A save that comes first reads the raster itself; its newer
   * revision is never replaced by this one.
   */
  async warmRaster(imageId: number): Promise<void> {
    const row = this.db.prepare('SELECT width, height, revision, data FROM label_rasters WHERE image_id = ?').get(imageId) as
      | { width: number; height: number; revision: number; data: Buffer }
      | undefined;
    const cached = this.rasterCache.get(imageId);
    if (!row) {
      // No labels yet: an all-unlabelled raster, its pages touched now (on a VM, faulting in 16 MB
      // of fresh memory inside the first stroke's save costs tens of ms).
      const img = this.imageRow(imageId);
      if (cached?.revision === 0 && cached.raster.length === img.width * img.height) return;
      this.cacheRaster(imageId, 0, new Uint8Array(img.width * img.height).fill(0));
      return;
    }
    if (cached && cached.revision === row.revision) return;
    const n = row.width * row.height;
    let buf: Buffer;
    try {
      buf = await inflateAsync(row.data, { chunkSize: Math.max(64 * 1024, n) });
    } catch {
      return; // corrupt: the save that needs it reports that
    }
    if (buf.length !== n || !this.db.open) return;
    const now = this.db.prepare('SELECT revision FROM label_rasters WHERE image_id = ?').get(imageId) as { revision: number } | undefined;
    const current = this.rasterCache.get(imageId);
    if (now?.revision !== row.revision || (current && current.revision >= row.revision)) return;
    this.cacheRaster(imageId, row.revision, new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
  }

  /** Labels of an image as stored (zlib), or an all-unlabelled raster of the image's size: the wire form without re-encoding. */
  labelsCompressed(imageId: number): { width: number; height: number; revision: number; data: Uint8Array } {
    const img = this.imageRow(imageId);
    const row = this.db.prepare('SELECT width, height, data, revision FROM label_rasters WHERE image_id = ?').get(imageId) as
      | { width: number; height: number; data: Buffer; revision: number }
      | undefined;
    if (row) return row;
    return { width: img.width, height: img.height, revision: 0, data: deflateRaster(new Uint8Array(img.width * img.height)) };
  }

  /** Labels of an image, or an all-unlabelled raster of the image's size. */
  labelsOrEmpty(imageId: number): LabelRaster {
    const img = this.imageRow(imageId);
    return this.labels(imageId) ?? { width: img.width, height: img.height, revision: 0, raster: new Uint8Array(img.width * img.height) };
  }

  /** Replaces an image's label raster (and its per-class counts) inside the caller's or a new transaction. */
  writeLabels(imageId: number, width: number, height: number, raster: Uint8Array, opts: { skipClassCheck?: boolean } = {}): { revision: number; labelledPixels: number } {
    return this.db.transaction(() => {
      const img = this.imageRow(imageId);
      if (img.width !== width || img.height !== height) {
        throw new ApiError('invalid_input', `label raster is ${width}×${height} but image ${img.original_name} is ${img.width}×${img.height}`);
      }
      if (raster.length !== width * height) throw new ApiError('invalid_input', `label raster holds ${raster.length} values, expected ${width * height}`);
      const hist = histogram(raster);
      const byValue = new Map(this.classes().map((c) => [c.labelValue, c.id]));
      this.db.prepare('DELETE FROM label_counts WHERE image_id = ?').run(imageId);
      const ins = this.db.prepare('INSERT INTO label_counts (image_id, class_id, pixels) VALUES (?, ?, ?)');
      for (let v = 1; v < 256; v++) {
        const n = hist[v]!;
        if (!n) continue;
        const classId = byValue.get(v);
        if (classId === undefined) {
          if (opts.skipClassCheck) continue;
          throw new ApiError('invalid_input', `label value ${v} on image ${img.original_name} belongs to no class`);
        }
        ins.run(imageId, classId, n);
      }
      const n = raster.length - hist[UNLABELLED]!;
      const prev = this.db.prepare('SELECT revision FROM label_rasters WHERE image_id = ?').get(imageId) as { revision: number } | undefined;
      const revision = (prev?.revision ?? 0) + 1;
      this.putRasterRow(imageId, width, height, deflateRaster(raster), n, revision);
      return { revision, labelledPixels: n };
    })();
  }

  /**
   * Applies a stroke patch atomically (read-modify-write inside one write transaction). Only the
   * patch's rectangle is visited: per-class counts change by what the patch changed, and the raster
   * of a recently patched image comes from a small cache (checked against the stored revision, so a
   * write by anything else invalidates it). The rest of the cost is one deflate of the raster, at a
   * fast level for large rasters, which keeps a stroke on a 4096×4096 image durable in tens of ms.
   */
  patchLabels(imageId: number, rect: Rect, patch: Uint8Array): { revision: number; labelledPixels: number } {
    try {
      return this.db.transaction(() => this.patchInTx(imageId, rect, patch)).immediate();
    } catch (e) {
      // The cached raster may hold a half-applied patch: forget it.
      this.rasterCache.delete(imageId);
      throw e;
    }
  }

  private patchInTx(imageId: number, rect: Rect, patch: Uint8Array): { revision: number; labelledPixels: number } {
    const img = this.imageRow(imageId);
    const { width, height } = img;
    if (patch.length !== rect.width * rect.height) {
      throw new ApiError('invalid_input', `label patch holds ${patch.length} pixels, expected ${rect.width}×${rect.height}`);
    }
    if (rect.x + rect.width > width || rect.y + rect.height > height) {
      throw new ApiError('invalid_input', `label patch ${rect.width}×${rect.height} at (${rect.x}, ${rect.y}) does not fit the ${width}×${height} image`);
    }
    const byValue = new Map(this.classes().map((c) => [c.labelValue, c.id]));
    const present = new Uint8Array(256);
    for (let i = 0; i < patch.length; i++) present[patch[i]!] = 1;
    for (let v = 1; v < PATCH_KEEP; v++) {
      if (present[v] && !byValue.has(v)) throw new ApiError('invalid_input', `label value ${v} on image ${img.original_name} belongs to no class`);
    }
    const row = this.db.prepare('SELECT width, height, revision, labelled_pixels FROM label_rasters WHERE image_id = ?').get(imageId) as
      | { width: number; height: number; revision: number; labelled_pixels: number }
      | undefined;
    if (row && (row.width !== width || row.height !== height)) {
      throw new ApiError('invalid_input', `stored labels are ${row.width}×${row.height} but image ${img.original_name} is ${width}×${height}`);
    }
    const cached = this.rasterCache.get(imageId);
    let raster: Uint8Array;
    if (row && cached && cached.revision === row.revision && cached.raster.length === width * height) raster = cached.raster;
    // revision 0 in the cache: the untouched all-unlabelled raster warmRaster prepared
    else if (!row && cached && cached.revision === 0 && cached.raster.length === width * height) raster = cached.raster;
    else raster = row ? this.labels(imageId)!.raster : new Uint8Array(width * height);
    this.rasterCache.delete(imageId);

    // Apply, counting what changed per value (index = value).
    const delta = new Int32Array(256);
    for (let r = 0; r < rect.height; r++) {
      const src = r * rect.width;
      const dst = (rect.y + r) * width + rect.x;
      for (let c = 0; c < rect.width; c++) {
        const v = patch[src + c]!;
        const old = raster[dst + c]!;
        if (v !== PATCH_KEEP && old !== v) {
          raster[dst + c] = v;
          delta[old]!--;
          delta[v]!++;
        }
      }
    }
    const counts = new Map(
      (this.db.prepare('SELECT class_id, pixels FROM label_counts WHERE image_id = ?').all(imageId) as Array<{ class_id: number; pixels: number }>).map(
        (r) => [r.class_id, r.pixels],
      ),
    );
    const upsert = this.db.prepare(
      'INSERT INTO label_counts (image_id, class_id, pixels) VALUES (?, ?, ?) ON CONFLICT (image_id, class_id) DO UPDATE SET pixels = excluded.pixels',
    );
    const remove = this.db.prepare('DELETE FROM label_counts WHERE image_id = ? AND class_id = ?');
    for (let v = 1; v < PATCH_KEEP; v++) {
      if (!delta[v]) continue;
      // Pixels of a value that belongs to no class (left by a deleted class) are not counted anyway.
      const classId = byValue.get(v);
      if (classId === undefined) continue;
      const n = (counts.get(classId) ?? 0) + delta[v]!;
      if (n > 0) upsert.run(imageId, classId, n);
      else remove.run(imageId, classId);
    }
    const labelledPixels = (row?.labelled_pixels ?? 0) - delta[UNLABELLED]!;
    const revision = (row?.revision ?? 0) + 1;
    const level = raster.length > FAST_DEFLATE_ABOVE ? 3 : 6;
    this.putRasterRow(imageId, width, height, deflateRaster(raster, level), labelledPixels, revision);
    this.cacheRaster(imageId, revision, raster);
    return { revision, labelledPixels };
  }

  /** Inserts or replaces an image's stored raster row (inside the caller's transaction). */
  private putRasterRow(imageId: number, width: number, height: number, data: Uint8Array, labelledPixels: number, revision: number): void {
    this.db
      .prepare(
        `INSERT INTO label_rasters (image_id, width, height, data, labelled_pixels, revision, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         ON CONFLICT (image_id) DO UPDATE SET width = excluded.width, height = excluded.height, data = excluded.data,
           labelled_pixels = excluded.labelled_pixels, revision = excluded.revision, updated_at = excluded.updated_at`,
      )
      .run(imageId, width, height, data, labelledPixels, revision);
  }

  private cacheRaster(imageId: number, revision: number, raster: Uint8Array): void {
    this.rasterCache.set(imageId, { revision, raster });
    let bytes = 0;
    for (const c of this.rasterCache.values()) bytes += c.raster.length;
    // Oldest first (Map order): keep the cache under its budget.
    for (const [id, c] of this.rasterCache) {
      if (bytes <= RASTER_CACHE_BYTES || id === imageId) break;
      this.rasterCache.delete(id);
      bytes -= c.raster.length;
    }
  }

  // ---- training runs ----

  createRun(method: string, backbone: string, config: unknown): RunRow {
    const id = Number(
      this.db
        .prepare("INSERT INTO runs (status, method, backbone, config) VALUES ('running', ?, ?, ?)")
        .run(method, backbone, JSON.stringify({ ...(config as object), pid: process.pid })).lastInsertRowid,
    );
    const dir = `${MODELS_DIR}/run-${id}`;
    this.db.prepare('UPDATE runs SET checkpoint_dir = ? WHERE id = ?').run(dir, id);
    return this.run(id);
  }

  run(id: number): RunRow {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    if (!row) throw new ApiError('not_found', `no training run ${id} in ${this.dir}`);
    return row;
  }

  runs(): RunRow[] {
    return this.db.prepare('SELECT * FROM runs ORDER BY id DESC').all() as RunRow[];
  }

  /**
   * The weights `heatseg train --resume N` starts from: run N's model folder when it has one
   * (completed or cancelled), else the last epoch checkpoint of a run that did not finish (killed,
   * crashed, failed). Also the run's config, so a resume can continue it. ApiError when neither.
   */
  resumeSource(id: number): { dir: string; checkpoint: { epoch: number; step: number } | null; config: Record<string, unknown> } {
    const run = this.run(id);
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(run.config) as Record<string, unknown>;
    } catch {
      // an unreadable config: resume with the command's own options
    }
    const modelDir = run.checkpoint_dir ?? `${MODELS_DIR}/run-${id}`;
    if (fs.existsSync(path.join(this.dir, modelDir, 'heatseg-model.json'))) return { dir: modelDir, checkpoint: null, config };
    const ckpt = `${MODELS_DIR}/run-${id}${CHECKPOINT_SUFFIX}`;
    const meta = path.join(this.dir, ckpt, 'heatseg-model.json');
    if (fs.existsSync(meta)) {
      let checkpoint = { epoch: 0, step: 0 };
      try {
        const m = readJsonFile(meta) as { training?: { checkpoint?: { epoch?: number; step?: number } } };
        checkpoint = { epoch: m.training?.checkpoint?.epoch ?? 0, step: m.training?.checkpoint?.step ?? 0 };
      } catch {
        // the weights may still load; the epoch count is unknown
      }
      return { dir: ckpt, checkpoint, config };
    }
    throw new ApiError(
      'not_found',
      `run ${id} (${run.status}) has no saved weights to resume from: it ended before its first epoch finished` + (run.status === 'running' ? ' or is still training' : ''),
    );
  }

  /** Latest completed run (the project's current segmenter). */
  latestCompletedRun(): RunRow | undefined {
    return this.db.prepare("SELECT * FROM runs WHERE status = 'completed' ORDER BY id DESC LIMIT 1").get() as RunRow | undefined;
  }

  finishRun(id: number, status: 'completed' | 'cancelled' | 'failed', fields: { backend?: string; metrics?: unknown; error?: string; keepCheckpoint?: boolean }): void {
    this.db
      .prepare(
        `UPDATE runs SET status = ?, backend = COALESCE(?, backend), metrics = ?, error = ?,
           checkpoint_dir = CASE WHEN ? THEN checkpoint_dir ELSE NULL END,
           finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`,
      )
      .run(status, fields.backend ?? null, fields.metrics === undefined ? null : JSON.stringify(fields.metrics), fields.error ?? null, fields.keepCheckpoint ? 1 : 0, id);
  }

  /** Runs left 'running' by a process that no longer exists (killed, crashed) become 'failed'. */
  markInterruptedRuns(): number {
    let n = 0;
    for (const r of this.db.prepare("SELECT id, config FROM runs WHERE status = 'running'").all() as Array<{ id: number; config: string }>) {
      let pid: number;
      try {
        pid = (JSON.parse(r.config) as { pid?: number }).pid ?? 0;
      } catch {
        pid = 0;
      }
      let alive = false;
      if (pid && pid !== process.pid) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch {
          alive = false;
        }
      }
      if (!alive && pid !== process.pid) {
        const ckpt = fs.existsSync(path.join(this.dir, `${MODELS_DIR}/run-${r.id}${CHECKPOINT_SUFFIX}`, 'heatseg-model.json'));
        this.finishRun(r.id, 'failed', {
          error: `interrupted: the process training it ended before it finished${ckpt ? `; its last epoch checkpoint is kept: continue it with \`heatseg train ${this.dir} --resume ${r.id}\`` : ''}`,
        });
        n++;
      }
    }
    return n;
  }

  // ---- predictions (cache of a run's outputs for the overlays) ----

  prediction(runId: number, imageId: number): PredictionRow | undefined {
    return this.db.prepare('SELECT * FROM predictions WHERE run_id = ? AND image_id = ?').get(runId, imageId) as PredictionRow | undefined;
  }

  putPrediction(row: Omit<PredictionRow, 'created_at'>): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO predictions (run_id, image_id, tag_probs, mask, heatmaps, heatmaps_format, score)
         VALUES (@run_id, @image_id, @tag_probs, @mask, @heatmaps, @heatmaps_format, @score)`,
      )
      .run(row);
  }

  // ---- summary ----

  summary(): ProjectSummary {
    const one = (sql: string) => (this.db.prepare(sql).get() as { n: number }).n;
    const perClass = this.db
      .prepare(
        `SELECT c.id,
                (SELECT COUNT(*) FROM image_tags t WHERE t.class_id = c.id) tagged,
                (SELECT COALESCE(SUM(pixels), 0) FROM label_counts l WHERE l.class_id = c.id) pixels
         FROM classes c`,
      )
      .all() as { id: number; tagged: number; pixels: number }[];
    const stats = new Map(perClass.map((r) => [r.id, r]));
    return {
      path: this.dir,
      name: this.name,
      schemaVersion: schemaVersion(this.db),
      images: one('SELECT COUNT(*) n FROM images'),
      taggedImages: one('SELECT COUNT(DISTINCT image_id) n FROM image_tags'),
      labelledImages: one('SELECT COUNT(*) n FROM label_rasters WHERE labelled_pixels > 0'),
      classes: this.classes().map((c) => ({
        ...c,
        taggedImages: stats.get(c.id)?.tagged ?? 0,
        labelledPixels: stats.get(c.id)?.pixels ?? 0,
      })),
    };
  }

  static latestSchemaVersion(): number {
    return loadMigrations().length;
  }
}
