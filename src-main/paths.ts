/**
 * Where the app's own files are (migrations, renderer build, resources) in every way it runs:
 * from the repo with tsx (CLI, browser mode, tests), bundled by electron-vite, or packaged
 * by electron-builder (which copies `migrations/` into resources via `extraResources`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function appRoot(): string {
  if (root) return root;
  const override = process.env.HEATSEG_APP_ROOT;
  if (override) return (root = override);
  const resources = (process as { resourcesPath?: string }).resourcesPath;
  if (resources && fs.existsSync(path.join(resources, 'migrations'))) return (root = resources);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'migrations')) && fs.existsSync(path.join(dir, 'package.json'))) return (root = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find heatseg's migrations/ folder above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export function resourcePath(...parts: string[]): string {
  return path.join(appRoot(), ...parts);
}
