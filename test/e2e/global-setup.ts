/**
 * Builds the renderer once per run into a temporary folder, so the tests exercise the current
 * sources and never race other builds of out/. Workers inherit the environment set here.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export default function globalSetup(): () => void {
  if (process.env.HEATSEG_E2E_RENDERER_DIR) {
    const dir = path.resolve(process.env.HEATSEG_E2E_RENDERER_DIR);
    if (!fs.existsSync(path.join(dir, 'index.html'))) throw new Error(`HEATSEG_E2E_RENDERER_DIR=${dir} holds no index.html`);
    process.env.HEATSEG_E2E_RENDERER_DIR = dir;
    return () => undefined;
  }
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-e2e-build-'));
  const cli = path.resolve('node_modules', 'electron-vite', 'bin', 'electron-vite.js');
  execFileSync(process.execPath, [cli, 'build', '--outDir', out, '--logLevel', 'warn'], { stdio: 'inherit' });
  process.env.HEATSEG_E2E_RENDERER_DIR = path.join(out, 'renderer');
  return () => fs.rmSync(out, { recursive: true, force: true });
}
