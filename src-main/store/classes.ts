/**
 * The classes/tags stage of the store: the project's classes (name, colour, display order, the
 * stable label value written into rasters) and the image-level tags that name them.
 */
import type { ClassInfo, ImageSummary } from '../../src-shared/api.js';
import { ApiError } from '../../src-shared/api.js';
import { defaultClassColor } from '../../src-shared/colors.js';
import type { Connection } from './connection.js';
import type { ImageStore } from './images.js';

/** meta key: the highest class id ever deleted (ids are not reused). */
const CLASS_ID_HIGH = 'class_id_high';

interface ClassRow {
  id: number;
  name: string;
  color: string;
  position: number;
  label_value: number;
  is_background: number;
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

export class ClassStore {
  private readonly db;
  constructor(
    private readonly conn: Connection,
    private readonly images: ImageStore,
  ) {
    this.db = conn.db;
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

  /** Class id by the label value its pixels carry in the rasters. */
  classIdsByLabelValue(): Map<number, number> {
    return new Map(this.classes().map((c) => [c.labelValue, c.id]));
  }

  addClass(name: string, color?: string, isBackground = false): ClassInfo {
    const trimmed = name.trim();
    if (!trimmed) throw new ApiError('invalid_input', 'class name is empty');
    return this.conn.write(() => {
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
    });
  }

  /**
   * The class of this name (matched without regard to case), created when missing, in one write
   * transaction: two processes importing into one project at once both get the same class and
   * neither fails (the second finds what the first created).
   */
  ensureClass(name: string): { cls: ClassInfo; created: boolean } {
    return this.conn.write(() => {
      const existing = this.classByName(name.trim());
      if (existing) return { cls: existing, created: false };
      return { cls: this.addClass(name), created: true };
    });
  }

  updateClass(id: number, change: { name?: string; color?: string; position?: number }): ClassInfo {
    return this.conn.write(() => {
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
    });
  }

  /**
   * Deletes a class's row and its tags (inside the caller's transaction) and records its id as
   * never to be reused. Its pixels are the labels stage's to clear first (ProjectStore.removeClass).
   * Returns the number of tags removed.
   */
  deleteClassRowInTx(id: number): number {
    const removedTags = this.db.prepare('DELETE FROM image_tags WHERE class_id = ?').run(id).changes;
    this.db.prepare('DELETE FROM classes WHERE id = ?').run(id);
    this.db
      .prepare(`INSERT INTO meta (key, value) VALUES ('${CLASS_ID_HIGH}', ?) ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`)
      .run(String(id));
    return removedTags;
  }

  // ---- tags ----

  /** Replaces an image's tags (inside the caller's transaction); every class must exist. */
  setTagsInTx(imageId: number, classIds: number[]): void {
    this.db.prepare('DELETE FROM image_tags WHERE image_id = ?').run(imageId);
    const ins = this.db.prepare('INSERT OR IGNORE INTO image_tags (image_id, class_id) VALUES (?, ?)');
    for (const c of classIds) {
      this.classById(c);
      ins.run(imageId, c);
    }
  }

  setTags(imageId: number, classIds: number[]): ImageSummary {
    this.conn.write(() => {
      this.images.imageRow(imageId);
      this.setTagsInTx(imageId, classIds);
    });
    return this.images.imageSummary(imageId);
  }

  toggleTag(imageId: number, classId: number, on: boolean): ImageSummary {
    this.conn.write(() => {
      this.images.imageRow(imageId);
      this.classById(classId);
      if (on) this.db.prepare('INSERT OR IGNORE INTO image_tags (image_id, class_id) VALUES (?, ?)').run(imageId, classId);
      else this.db.prepare('DELETE FROM image_tags WHERE image_id = ? AND class_id = ?').run(imageId, classId);
    });
    return this.images.imageSummary(imageId);
  }

  /** Adds (on) or removes one class's tag on many images in one transaction; returns the images it changed. */
  bulkTag(imageIds: number[], classId: number, on: boolean): { changed: number; changedIds: number[] } {
    return this.conn.write(() => {
      this.classById(classId);
      const ids = [...new Set(imageIds)];
      for (const id of ids) this.images.imageRow(id);
      const stmt = on
        ? this.db.prepare('INSERT OR IGNORE INTO image_tags (image_id, class_id) VALUES (?, ?)')
        : this.db.prepare('DELETE FROM image_tags WHERE image_id = ? AND class_id = ?');
      const changedIds = ids.filter((id) => stmt.run(id, classId).changes > 0);
      return { changed: changedIds.length, changedIds };
    });
  }
}
