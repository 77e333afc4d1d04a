/**
 * The labels stage of the store: one sparse label raster per image (zlib uint8, value = the
 * class's label value, 0 = unlabelled), its per-class pixel counts kept in the same transaction,
 * and stroke patches applied in place with a small cache of recently patched rasters.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { ApiError } from '../../src-shared/api.js';
import { PATCH_KEEP, UNLABELLED, histogram, type Rect } from '../../src-shared/labels.js';
import type { ClassStore } from './classes.js';
import type { Connection } from './connection.js';
import type { ImageStore } from './images.js';

export interface LabelRaster {
  width: number;
  height: number;
  revision: number;
  raster: Uint8Array;
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

export class LabelStore {
  private readonly db;
  private readonly rasterCache = new Map<number, { revision: number; raster: Uint8Array }>();
  constructor(
    private readonly conn: Connection,
    private readonly images: ImageStore,
    private readonly classes: ClassStore,
  ) {
    this.db = conn.db;
  }

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
      const img = this.images.imageRow(imageId);
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
    const img = this.images.imageRow(imageId);
    const row = this.db.prepare('SELECT width, height, data, revision FROM label_rasters WHERE image_id = ?').get(imageId) as
      | { width: number; height: number; data: Buffer; revision: number }
      | undefined;
    if (row) return row;
    return { width: img.width, height: img.height, revision: 0, data: deflateRaster(new Uint8Array(img.width * img.height)) };
  }

  /** Labels of an image, or an all-unlabelled raster of the image's size. */
  labelsOrEmpty(imageId: number): LabelRaster {
    const img = this.images.imageRow(imageId);
    return this.labels(imageId) ?? { width: img.width, height: img.height, revision: 0, raster: new Uint8Array(img.width * img.height) };
  }

  /** Replaces an image's label raster (and its per-class counts) inside the caller's or a new transaction. */
  writeLabels(imageId: number, width: number, height: number, raster: Uint8Array, opts: { skipClassCheck?: boolean } = {}): { revision: number; labelledPixels: number } {
    return this.conn.atomic(() => {
      const img = this.images.imageRow(imageId);
      if (img.width !== width || img.height !== height) {
        throw new ApiError('invalid_input', `label raster is ${width}×${height} but image ${img.original_name} is ${img.width}×${img.height}`);
      }
      if (raster.length !== width * height) throw new ApiError('invalid_input', `label raster holds ${raster.length} values, expected ${width * height}`);
      const hist = histogram(raster);
      const byValue = this.classes.classIdsByLabelValue();
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
    });
  }

  /**
   * Makes the pixels of one class (by id and label value) unlabelled on every image that has any
   * (inside the caller's transaction, before the class is deleted). Returns how many pixels.
   */
  clearClassPixelsInTx(classId: number, labelValue: number): number {
    let removed = 0;
    const affected = this.db.prepare('SELECT image_id FROM label_counts WHERE class_id = ?').all(classId) as { image_id: number }[];
    for (const { image_id } of affected) {
      const lr = this.labels(image_id);
      if (!lr) continue;
      for (let i = 0; i < lr.raster.length; i++) {
        if (lr.raster[i] === labelValue) {
          lr.raster[i] = UNLABELLED;
          removed++;
        }
      }
      this.writeLabels(image_id, lr.width, lr.height, lr.raster, { skipClassCheck: true });
    }
    return removed;
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
      return this.conn.write(() => this.patchInTx(imageId, rect, patch));
    } catch (e) {
      // The cached raster may hold a half-applied patch: forget it.
      this.rasterCache.delete(imageId);
      throw e;
    }
  }

  private patchInTx(imageId: number, rect: Rect, patch: Uint8Array): { revision: number; labelledPixels: number } {
    const img = this.images.imageRow(imageId);
    const { width, height } = img;
    if (patch.length !== rect.width * rect.height) {
      throw new ApiError('invalid_input', `label patch holds ${patch.length} pixels, expected ${rect.width}×${rect.height}`);
    }
    if (rect.x + rect.width > width || rect.y + rect.height > height) {
      throw new ApiError('invalid_input', `label patch ${rect.width}×${rect.height} at (${rect.x}, ${rect.y}) does not fit the ${width}×${height} image`);
    }
    const byValue = this.classes.classIdsByLabelValue();
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
}
