/**
 * The one SQLite connection of an open project, shared by every stage of the store (images.ts,
 * classes.ts, labels.ts, runs.ts), and its transaction helpers. Opening checks the file, refuses a
 * newer (or, read-only, an older) schema, switches to WAL and applies pending migrations.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DamagedProjectError, MigrationNeededError, NewerSchemaError, checkDatabaseHeader, headerSchemaVersion, isDamageError, loadMigrations, migrate, schemaVersion } from './migrations.js';

export const DB_FILE = 'heatseg.sqlite';
export const IMAGES_DIR = 'images';
export const MODELS_DIR = 'models';

export class Connection {
  constructor(
    /** the project folder (absolute) */
    readonly dir: string,
    readonly db: Database.Database,
  ) {}

  /**
   * `fn` in one write transaction, begun IMMEDIATE (the write lock is taken at once, so another
   * process's write is waited for, not failed on); a savepoint when the caller is in one already.
   */
  write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** `fn` inside the caller's transaction, or in a new (deferred) one: the parts of a larger write. */
  atomic<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Runs `fn`; an SQLite "not a database / corrupt" error from it becomes a DamagedProjectError. */
  damageChecked<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (isDamageError(e)) throw new DamagedProjectError(path.join(this.dir, DB_FILE), (e as Error).message);
      throw e;
    }
  }
}

/**
 * Opens (or, `create`, creates) `abs`/heatseg.sqlite. `readOnly`: nothing is written and an older
 * project is refused with MigrationNeededError; otherwise pending migrations are applied and
 * `upgradedFrom` is the version the project had before (null: no upgrade).
 */
export function openConnection(abs: string, create: boolean, readOnly = false): { conn: Connection; upgradedFrom: number | null } {
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
  return { conn: new Connection(abs, db), upgradedFrom: applied.length && from > 0 ? from : null };
}
