/** The images stage of the store: imported image rows (files live in images/), listing and paging. */
import path from 'node:path';
import type { ImagePage, ImageSummary } from '../../src-shared/api.js';
import { ApiError } from '../../src-shared/api.js';
import { IMAGES_DIR, type Connection } from './connection.js';

export interface ImageRow {
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

export interface ImageQuery {
  offset: number;
  limit: number;
  classId?: number;
  filter?: 'all' | 'untagged' | 'tagged' | 'labelled' | 'unlabelled';
  ids?: number[];
}

export class ImageStore {
  private readonly db;
  constructor(private readonly conn: Connection) {
    this.db = conn.db;
  }

  imagePath(fileName: string): string {
    return path.join(this.conn.dir, IMAGES_DIR, fileName);
  }

  findImage(hash: string, originalName: string): number | undefined {
    const row = this.db.prepare('SELECT id FROM images WHERE hash = ? AND original_name = ?').get(hash, originalName) as
      | { id: number }
      | undefined;
    return row?.id;
  }

  /** Inserts the image row alone (inside the caller's transaction); returns its id. */
  insertImageRow(img: NewImage): number {
    const info = this.db
      .prepare('INSERT INTO images (hash, file_name, original_name, width, height, thumbnail) VALUES (?, ?, ?, ?, ?, ?)')
      .run(img.hash, img.fileName, img.originalName, img.width, img.height, img.thumbnail);
    return Number(info.lastInsertRowid);
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

  listImages(q: ImageQuery): ImagePage {
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
}
