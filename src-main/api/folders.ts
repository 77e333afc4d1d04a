/**
 * Paths typed or chosen in the app: browser mode has no native folder dialog, so the server lists
 * folders for the renderer's chooser, and a relative output path means "inside the project folder"
 * (never the server's working directory, which the person cannot see from the page).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FolderListing } from '../../src-shared/api.js';
import { ApiError } from '../../src-shared/api.js';

const MAX_FOLDERS = 2000;

/** An output path as the app means it: absolute as given, relative against the project folder. */
export function resolveOutput(projectDir: string, out: string): string {
  return path.isAbsolute(out) ? path.normalize(out) : path.resolve(projectDir, out);
}

function isDir(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** The sub-folders of an absolute folder (names only, hidden ones left out, sorted). */
export function listFolders(dir: string): FolderListing {
  if (!path.isAbsolute(dir)) throw new ApiError('invalid_input', `${dir}: give an absolute folder path`);
  const target = path.resolve(dir);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(target, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ApiError('not_found', `${target}: no such folder`);
    if (code === 'ENOTDIR') throw new ApiError('invalid_input', `${target} is a file, not a folder`);
    if (code === 'EACCES' || code === 'EPERM') throw new ApiError('io', `${target}: permission denied`);
    throw new ApiError('io', `${target}: cannot be listed (${code ?? (e as Error).message})`);
  }
  const folders = entries
    .filter((e) => !e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && isDir(path.join(target, e.name)))))
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b));
  const parent = path.dirname(target);
  return { path: target, parent: parent === target ? null : parent, folders: folders.slice(0, MAX_FOLDERS), truncated: folders.length > MAX_FOLDERS };
}
