/**
 * File-system helpers that never write over or delete a file heatseg did not create: temporary
 * folders are made by mkdtemp (a fresh, unique name: nothing of the user's can be there) and new
 * files are created exclusively (O_EXCL), so an existing file is never replaced.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Marker in the names of heatseg's temporary folders and files. */
export const TEMP_MARK = '.heatseg-tmp-';

/**
 * A new, empty temporary folder beside `target` (in its parent, so a rename moves it into place on
 * the same file system), named `.<target name>.heatseg-tmp-XXXXXX`. Creates the parent if needed.
 */
export function tempDirBeside(target: string): string {
  const abs = path.resolve(target);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  return fs.mkdtempSync(path.join(path.dirname(abs), `.${path.basename(abs)}${TEMP_MARK}`));
}

/** True when `p` is a folder whose entries are all in `allowed` (an empty folder qualifies). */
export function onlyHolds(p: string, allowed: readonly string[]): boolean {
  if (!fs.statSync(p).isDirectory()) return false;
  return fs.readdirSync(p).every((e) => allowed.includes(e));
}

/** Writes a new file; throws EEXIST rather than replace one that exists. */
export function writeNewFile(file: string, data: Uint8Array | string): void {
  fs.writeFileSync(file, data, { flag: 'wx' });
}

/**
 * Writes `files` as new files named `${stem}${suffix}` in `dir`, choosing the first stem of
 * `stem`, `stem~2`, `stem~3`… for which none of them exists yet. Creation is exclusive, so neither
 * an input image, nor an earlier output, nor a concurrent writer's file is ever replaced.
 * Returns the paths written, in the order of `files`.
 */
export function writeNewFilesUnique(dir: string, stem: string, files: Array<{ suffix: string; data: Uint8Array | string }>): string[] {
  for (let k = 1; k < 100_000; k++) {
    const s = k === 1 ? stem : `${stem}~${k}`;
    const paths = files.map((f) => path.join(dir, `${s}${f.suffix}`));
    if (paths.some((p) => fs.existsSync(p))) continue;
    const written: string[] = [];
    try {
      paths.forEach((p, i) => {
        try {
          writeNewFile(p, files[i]!.data);
        } catch (e) {
          // A half-written file of ours (disk full…) goes too; one that already existed stays.
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') written.push(p);
          throw e;
        }
        written.push(p);
      });
      return paths;
    } catch (e) {
      // Only what this call created is removed.
      for (const w of written) fs.rmSync(w, { force: true });
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error(`${dir}: no free output name for ${stem}`);
}
