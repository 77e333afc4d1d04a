/**
 * Numbered forward migrations from `migrations/NNN_name.sql`, applied in order, each inside its own
 * transaction together with the `PRAGMA user_version` bump, so a crash leaves the old or the new
 * version, never a half-migrated schema. A project from a newer heatseg is refused, not touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { ApiError } from '../../src-shared/api.js';
import { resourcePath } from '../paths.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function migrationsDir(): string {
  return resourcePath('migrations');
}

export function loadMigrations(dir = migrationsDir()): Migration[] {
  const files = fs.readdirSync(dir).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f));
  const migrations = files
    .map((f) => ({ version: Number(f.slice(0, 3)), name: f, sql: fs.readFileSync(path.join(dir, f), 'utf8') }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations: expected version ${i + 1} but found ${m.name} in ${dir}`);
  });
  return migrations;
}

/** Typed (an ApiError 'conflict'), so every transport answers it as such: HTTP 409, not 500. */
export class NewerSchemaError extends ApiError {
  constructor(file: string, found: number, known: number) {
    super(
      'conflict',
      `${file} was written by a newer heatseg (project schema v${found}; this build knows up to v${known}). ` +
        `Update heatseg to open it; the project was not modified.`,
    );
    this.name = 'NewerSchemaError';
  }
}

/** An older project opened by a command that only reads: it is not upgraded behind the user's back. */
export class MigrationNeededError extends ApiError {
  constructor(
    readonly file: string,
    readonly found: number,
    readonly known: number,
  ) {
    const dir = path.dirname(file);
    super(
      'conflict',
      `${dir} is a project of an older heatseg (schema v${found}; this build uses v${known}) and needs an upgrade. ` +
        `This command only reads, so it left the project as it is: run \`heatseg upgrade ${dir}\` to upgrade it in place ` +
        `(commands that write, such as import, train and serve, upgrade it too and say so).`,
    );
    this.name = 'MigrationNeededError';
  }
}

/** heatseg.sqlite that is not an SQLite database, or is truncated or corrupt. */
export class DamagedProjectError extends ApiError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super('invalid_input', `${file} is not a heatseg project database or is damaged (${detail}); restore it from a backup or copy`);
    this.name = 'DamagedProjectError';
  }
}

/**
 * Checks the 100-byte SQLite header of `file` without SQLite: the magic string, and the page count
 * it declares against the file's length (a truncated copy is shorter). Throws DamagedProjectError.
 */
export function checkDatabaseHeader(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return; // missing or unreadable: the caller's open reports it
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return; // a new database
    const h = Buffer.alloc(100);
    const n = fs.readSync(fd, h, 0, 100, 0);
    if (n < 100 || h.toString('latin1', 0, 16) !== 'SQLite format 3\0') throw new DamagedProjectError(file, 'not an SQLite database');
    const rawPage = h.readUInt16BE(16);
    const pageSize = rawPage === 1 ? 65536 : rawPage;
    const pages = h.readUInt32BE(28);
    // The header's page count is valid when its change counter matches "version-valid-for".
    if (h.readUInt32BE(24) === h.readUInt32BE(92) && pages > 0 && size < pages * pageSize) {
      throw new DamagedProjectError(file, `truncated: the file is ${size} bytes, its header says ${pages * pageSize}`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * user_version as the database file's header holds it, read without SQLite (so without creating
 * the -wal/-shm files a read-only SQLite connection leaves behind); null when the header may be
 * stale (a non-empty -wal file holds newer pages) or unreadable.
 */
export function headerSchemaVersion(file: string): number | null {
  try {
    if (fs.existsSync(`${file}-wal`) && fs.statSync(`${file}-wal`).size > 0) return null;
    const fd = fs.openSync(file, 'r');
    try {
      const h = Buffer.alloc(100);
      if (fs.readSync(fd, h, 0, 100, 0) < 100) return null;
      return h.readUInt32BE(60);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** SQLite error codes that mean "this file is not (or no longer) a sound database". */
export function isDamageError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(NOTADB|CORRUPT)/.test(code);
}

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Applies pending migrations up to `target` (default: all). Returns the versions applied. */
export function migrate(db: Database.Database, file: string, migrations = loadMigrations(), target = migrations.length): number[] {
  const current = schemaVersion(db);
  if (current > migrations.length) throw new NewerSchemaError(file, current, migrations.length);
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= current || m.version > target) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
    applied.push(m.version);
  }
  return applied;
}
