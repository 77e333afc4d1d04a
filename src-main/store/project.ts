/**
 * A heatseg project: a self-contained, movable folder
 *   heatseg.sqlite   SQLite database (WAL, foreign keys on)
 *   images/          imported image files, named by the sha256 of their bytes
 *   models/          training run checkpoints, one folder per run id
 * All paths inside the database are relative to the folder, so the folder can be moved or copied.
 *
 * ProjectStore is the facade callers use. The work is done by one module per stage, all on one
 * connection (connection.ts, with its transaction helpers): images.ts (image rows, listing),
 * classes.ts (classes and image tags), labels.ts (label rasters, counts, stroke patches) and
 * runs.ts (training runs, cached predictions). Operations that span stages (an import's image with
 * its tags and labels, deleting a class with its pixels) are composed here in one transaction.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { ClassInfo, ImagePage, ImageSummary, ProjectSummary } from '../../src-shared/api.js';
import { ApiError } from '../../src-shared/api.js';
import type { Rect } from '../../src-shared/labels.js';
import { ClassStore } from './classes.js';
import { DB_FILE, openConnection, type Connection } from './connection.js';
import { ImageStore, type ImageQuery, type ImageRow, type NewImage } from './images.js';
import { LabelStore, type LabelRaster } from './labels.js';
import { loadMigrations, schemaVersion } from './migrations.js';
import { RunStore, type PredictionRow, type RunRow } from './runs.js';

export { DB_FILE, IMAGES_DIR, MODELS_DIR } from './connection.js';
export { CHECKPOINT_SUFFIX, type PredictionRow, type RunRow } from './runs.js';
export { inflateRaster, type LabelRaster } from './labels.js';
export type { NewImage } from './images.js';

export function isProjectDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, DB_FILE));
}

export class ProjectStore {
  readonly db: Database.Database;
  readonly dir: string;
  /** Schema version the project had before this open upgraded it (null: no upgrade). */
  upgradedFrom: number | null = null;
  private readonly conn: Connection;
  private readonly imageStage: ImageStore;
  private readonly classStage: ClassStore;
  private readonly labelStage: LabelStore;
  private readonly runStage: RunStore;

  private constructor(conn: Connection) {
    this.conn = conn;
    this.db = conn.db;
    this.dir = conn.dir;
    this.imageStage = new ImageStore(conn);
    this.classStage = new ClassStore(conn, this.imageStage);
    this.labelStage = new LabelStore(conn, this.imageStage, this.classStage);
    this.runStage = new RunStore(conn);
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

  private static openDb(abs: string, create: boolean, readOnly = false): ProjectStore {
    const { conn, upgradedFrom } = openConnection(abs, create, readOnly);
    const store = new ProjectStore(conn);
    store.upgradedFrom = upgradedFrom;
    try {
      if (!readOnly) conn.damageChecked(() => store.markInterruptedRuns());
    } catch (e) {
      store.close();
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

  static latestSchemaVersion(): number {
    return loadMigrations().length;
  }

  // ---- across stages ----

  /** Inserts an image whose file is already in images/, with its tags and labels, in one transaction. */
  addImage(img: NewImage, tags: number[], labels: Uint8Array | null): number {
    return this.conn.write(() => this.addImageInTx(img, tags, labels));
  }

  /**
   * addImage unless the same image (hash and name) is already there — checked inside the write
   * transaction, so a concurrent import of the same image is a duplicate, not a UNIQUE failure.
   * Returns the new id, or null for a duplicate.
   */
  addImageIfNew(img: NewImage, tags: number[], labels: Uint8Array | null): number | null {
    return this.conn.write(() => (this.findImage(img.hash, img.originalName) !== undefined ? null : this.addImageInTx(img, tags, labels)));
  }

  private addImageInTx(img: NewImage, tags: number[], labels: Uint8Array | null): number {
    return this.conn.atomic(() => {
      const imageId = this.imageStage.insertImageRow(img);
      this.classStage.setTagsInTx(imageId, tags);
      if (labels) this.labelStage.writeLabels(imageId, img.width, img.height, labels);
      return imageId;
    });
  }

  /** Deletes a class, its tags, and clears its pixels from every label raster (they become unlabelled). */
  removeClass(id: number): { removedLabelPixels: number; removedTags: number } {
    return this.conn.write(() => {
      const cls = this.classStage.classById(id);
      const removedLabelPixels = this.labelStage.clearClassPixelsInTx(id, cls.labelValue);
      const removedTags = this.classStage.deleteClassRowInTx(id);
      return { removedLabelPixels, removedTags };
    });
  }

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

  // ---- images (images.ts) ----

  imagePath(fileName: string): string {
    return this.imageStage.imagePath(fileName);
  }
  findImage(hash: string, originalName: string): number | undefined {
    return this.imageStage.findImage(hash, originalName);
  }
  imageRow(id: number): ImageRow {
    return this.imageStage.imageRow(id);
  }
  thumbnail(id: number): Uint8Array | null {
    return this.imageStage.thumbnail(id);
  }
  imageSummary(id: number): ImageSummary {
    return this.imageStage.imageSummary(id);
  }
  listImages(q: ImageQuery): ImagePage {
    return this.imageStage.listImages(q);
  }
  allImageIds(): number[] {
    return this.imageStage.allImageIds();
  }

  // ---- classes and tags (classes.ts) ----

  classes(): ClassInfo[] {
    return this.classStage.classes();
  }
  classById(id: number): ClassInfo {
    return this.classStage.classById(id);
  }
  classByName(name: string): ClassInfo | undefined {
    return this.classStage.classByName(name);
  }
  addClass(name: string, color?: string, isBackground = false): ClassInfo {
    return this.classStage.addClass(name, color, isBackground);
  }
  ensureClass(name: string): { cls: ClassInfo; created: boolean } {
    return this.classStage.ensureClass(name);
  }
  updateClass(id: number, change: { name?: string; color?: string; position?: number }): ClassInfo {
    return this.classStage.updateClass(id, change);
  }
  setTags(imageId: number, classIds: number[]): ImageSummary {
    return this.classStage.setTags(imageId, classIds);
  }
  toggleTag(imageId: number, classId: number, on: boolean): ImageSummary {
    return this.classStage.toggleTag(imageId, classId, on);
  }
  bulkTag(imageIds: number[], classId: number, on: boolean): { changed: number; changedIds: number[] } {
    return this.classStage.bulkTag(imageIds, classId, on);
  }

  // ---- labels (labels.ts) ----

  labelledClassIds(imageId: number): number[] {
    return this.labelStage.labelledClassIds(imageId);
  }
  labels(imageId: number): LabelRaster | null {
    return this.labelStage.labels(imageId);
  }
  warmRaster(imageId: number): Promise<void> {
    return this.labelStage.warmRaster(imageId);
  }
  labelsCompressed(imageId: number): { width: number; height: number; revision: number; data: Uint8Array } {
    return this.labelStage.labelsCompressed(imageId);
  }
  labelsOrEmpty(imageId: number): LabelRaster {
    return this.labelStage.labelsOrEmpty(imageId);
  }
  writeLabels(imageId: number, width: number, height: number, raster: Uint8Array, opts: { skipClassCheck?: boolean } = {}): { revision: number; labelledPixels: number } {
    return this.labelStage.writeLabels(imageId, width, height, raster, opts);
  }
  patchLabels(imageId: number, rect: Rect, patch: Uint8Array): { revision: number; labelledPixels: number } {
    return this.labelStage.patchLabels(imageId, rect, patch);
  }

  // ---- training runs and cached predictions (runs.ts) ----

  createRun(method: string, backbone: string, config: unknown): RunRow {
    return this.runStage.createRun(method, backbone, config);
  }
  run(id: number): RunRow {
    return this.runStage.run(id);
  }
  runs(): RunRow[] {
    return this.runStage.runs();
  }
  resumeSource(id: number): { dir: string; checkpoint: { epoch: number; step: number } | null; config: Record<string, unknown> } {
    return this.runStage.resumeSource(id);
  }
  latestCompletedRun(): RunRow | undefined {
    return this.runStage.latestCompletedRun();
  }
  finishRun(id: number, status: 'completed' | 'cancelled' | 'failed', fields: { backend?: string; metrics?: unknown; error?: string; keepCheckpoint?: boolean }): void {
    this.runStage.finishRun(id, status, fields);
  }
  markInterruptedRuns(): number {
    return this.runStage.markInterruptedRuns();
  }
  prediction(runId: number, imageId: number): PredictionRow | undefined {
    return this.runStage.prediction(runId, imageId);
  }
  putPrediction(row: Omit<PredictionRow, 'created_at'>): void {
    this.runStage.putPrediction(row);
  }
}
