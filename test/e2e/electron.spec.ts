/**
 * Electron smoke test (issue 11 item 16): the built app (`npm run build` → out/) launched by
 * Playwright's Electron driver, the renderer served from app://heatseg/, the demo opened, one
 * brush stroke painted, and the stroke found committed in the demo project's SQLite file.
 * It runs wherever an Electron binary is installed and skips, saying why, where it is not (the
 * development machines cannot download it) or where the app has not been built.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { _electron as electron, expect, test } from '@playwright/test';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// the build global-setup.ts made for this run (it builds main, preload and renderer), else out/
const MAIN = process.env.HEATSEG_E2E_RENDERER_DIR
  ? path.join(path.dirname(process.env.HEATSEG_E2E_RENDERER_DIR), 'main', 'index.js')
  : path.join(ROOT, 'out', 'main', 'index.js');

/**
 * The Electron binary's path, or why there is none. Read from the package's path.txt rather than
 * require('electron'), which would try to download a missing binary.
 */
function electronBinary(): { path: string } | { why: string } {
  if (process.env.HEATSEG_E2E_ELECTRON) {
    return fs.existsSync(process.env.HEATSEG_E2E_ELECTRON) ? { path: process.env.HEATSEG_E2E_ELECTRON } : { why: `HEATSEG_E2E_ELECTRON=${process.env.HEATSEG_E2E_ELECTRON} does not exist` };
  }
  const pkg = path.join(ROOT, 'node_modules', 'electron');
  const pathTxt = path.join(pkg, 'path.txt');
  if (!fs.existsSync(pathTxt)) return { why: `no Electron binary (${path.relative(ROOT, pathTxt)} is missing: its download failed or was skipped)` };
  const bin = path.join(pkg, 'dist', fs.readFileSync(pathTxt, 'utf8').trim());
  return fs.existsSync(bin) ? { path: bin } : { why: `no Electron binary at ${bin}` };
}

const binary = electronBinary();

test('Electron: the built app opens the demo from app://, paints a stroke, and the store has it', async () => {
  const why = 'why' in binary ? `${binary.why}; it runs where \`npm ci\` could download Electron` : !fs.existsSync(MAIN) ? `${MAIN} is missing; run \`npm run build\` first` : null;
  if (why) console.log(`Electron smoke test skipped: ${why}`);
  test.skip(why !== null, `Electron smoke test skipped: ${why}`);
  test.setTimeout(180_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-electron-'));
  const demoDir = path.join(tmp, 'demo-project');
  const app = await electron.launch({
    executablePath: (binary as { path: string }).path,
    args: [MAIN],
    env: { ...process.env, HEATSEG_CONFIG_DIR: path.join(tmp, 'config'), HEATSEG_DEMO_DIR: demoDir, ELECTRON_RENDERER_URL: '' },
  });
  try {
    const page = await app.firstWindow();
    expect(new URL(page.url()).protocol).toBe('app:');
    await page.getByTestId('demo-button').click();
    await expect(page.getByTestId('project-title')).toContainText('demo-project', { timeout: 120_000 });
    // the first image, and one horizontal stroke across its middle with the default class
    await page.locator('[data-testid="image-card"] [data-focus-target]').first().click();
    const canvas = page.getByTestId('label-canvas');
    await expect(canvas).toHaveAttribute('data-state', 'ready');
    const imageId = Number(await canvas.getAttribute('data-image-id'));
    const before = Number(await canvas.getAttribute('data-labelled'));
    const box = (await page.getByTestId('stage-host').boundingBox())!;
    const [scale, ox, oy] = await Promise.all(['data-scale', 'data-offset-x', 'data-offset-y'].map(async (a) => Number(await canvas.getAttribute(a))));
    const at = (x: number, y: number) => ({ x: box.x + ox! + x * scale!, y: box.y + oy! + y * scale! });
    const a = at(20, 60),
      b = at(120, 60);
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    await page.mouse.move(b.x, b.y, { steps: 4 });
    await page.mouse.up();
    await expect(page.getByTestId('save-status')).toHaveAttribute('data-state', 'saved');
    await expect(page.getByTestId('save-status')).toHaveAttribute('data-pending', '0');
    await expect.poll(async () => Number(await canvas.getAttribute('data-labelled'))).toBeGreaterThan(before);
    // committed: the project's database, read by a second connection
    const db = new Database(path.join(demoDir, 'heatseg.sqlite'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('SELECT SUM(pixels) AS n FROM label_counts WHERE image_id = ?').get(imageId) as { n: number | null };
      expect(row.n ?? 0).toBeGreaterThan(before);
    } finally {
      db.close();
    }
  } finally {
    await app.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
