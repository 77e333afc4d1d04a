/**
 * Numbered forward migrations from `migrations/NNN_name.sql`, applied in order, each inside its own
 * transaction together with the `PRAGMA user_version` bump, so a crash leaves the old or the new
 * version, never a half-migrated schema. A project from a newer heatseg is refused, not touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
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

export class NewerSchemaError extends Error {
  constructor(file: string, found: number, known: number) {
    super(
      `${file} was written by a newer heatseg (project schema v${found}; this build knows up to v${known}). ` +
        `Update heatseg to open it; the project was not modified.`,
    );
    this.name = 'NewerSchemaError';
  }
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
