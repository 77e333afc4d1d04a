/**
 * Train / test splits of a mask folder for the studies (`heatseg bench quality`, `bench active`):
 * by content hash, so identical photos (e.g. MSRC's duplicates) never sit on both sides, and by a
 * seeded shuffle, so a split seed names one split.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { rng } from '../../src-shared/random.js';

/** A mask folder's images by id (file name without extension) → path. */
export function imageFiles(folder: string): Map<string, string> {
  return new Map(fs.readdirSync(path.join(folder, 'images')).map((f) => [path.basename(f, path.extname(f)), path.join(folder, 'images', f)]));
}

/**
 * Groups ids by content hash (identical photos, e.g. MSRC's duplicates, form one group) and orders
 * the groups by a seeded shuffle: the one step both splits below share.
 */
function shuffledContentGroups(ids: string[], files: Map<string, string>, seed: number): { keys: string[]; groups: Map<string, string[]> } {
  const groups = new Map<string, string[]>();
  for (const id of ids) {
    const h = crypto.createHash('sha256').update(fs.readFileSync(files.get(id)!)).digest('hex');
    groups.set(h, [...(groups.get(h) ?? []), id]);
  }
  const r = rng(seed);
  const keys = [...groups.keys()].sort().map((k) => ({ k, o: r() })).sort((a, b) => a.o - b.o).map((e) => e.k);
  return { keys, groups };
}

/** Splits ids into parts of the given fractions by content hash (identical photos stay together). */
export function splitPartsByContent(ids: string[], files: Map<string, string>, fractions: number[], seed: number): string[][] {
  const { keys, groups } = shuffledContentGroups(ids, files, seed);
  const total = fractions.reduce((a, b) => a + b, 0);
  const out: string[][] = [];
  let at = 0, acc = 0;
  for (const f of fractions) {
    acc += f;
    const end = Math.round((keys.length * acc) / total);
    out.push(keys.slice(at, end).flatMap((k) => groups.get(k)!));
    at = end;
  }
  return out;
}

/** Splits ids so identical photos (same bytes) land on the same side; `frac` of the groups go first. */
export function splitByContent(ids: string[], files: Map<string, string>, frac: number, seed: number): [string[], string[]] {
  const { keys, groups } = shuffledContentGroups(ids, files, seed);
  const nTrain = Math.round(keys.length * frac);
  return [keys.slice(0, nTrain).flatMap((k) => groups.get(k)!), keys.slice(nTrain).flatMap((k) => groups.get(k)!)];
}
