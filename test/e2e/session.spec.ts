/**
 * State that must survive, or must not leak across, the things a session goes through: switching
 * projects (training state is per project), a server restart under an open tab (unsaved strokes
 * are kept and land after signing in again), reloads and back/forward (the open image is in the
 * URL).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import sharp from 'sharp';
import type { ClassInfo, ImagePage, LabelRasterWire, TrainStatus } from '../../src-shared/api';
import { decompressRaster, fromBase64 } from '../../src-shared/labels';
import { expect, test, type Heatseg, type HeatsegFixture } from './fixtures';

/** A project with one grey 160×120 image and the class cat. */
async function setUp(heatseg: HeatsegFixture): Promise<{ app: Heatseg; cat: ClassInfo; imageId: number }> {
  const src = heatseg.tmp('images');
  await sharp({ create: { width: 160, height: 120, channels: 3, background: '#707070' } }).png().toFile(path.join(src, 'grey.png'));
  const app = await heatseg.start();
  await app.call('images.import', { source: src, masks: false, labels: false });
  const cat = await app.call<ClassInfo>('classes.add', { name: 'cat' });
  const { items } = await app.call<ImagePage>('images.list', {});
  return { app, cat, imageId: items[0]!.id };
}

async function catPixels(app: Heatseg, imageId: number, cat: ClassInfo): Promise<number> {
  const wire = await app.call<LabelRasterWire>('labels.get', { imageId });
  return decompressRaster(fromBase64(wire.data), wire.width, wire.height).filter((v) => v === cat.labelValue).length;
}

async function openImage(page: Page, id: number): Promise<void> {
  await page.locator(`[data-testid="image-card"][data-image-id="${id}"] [data-focus-target]`).click();
  await expect(page.locator(`[data-testid="label-canvas"][data-image-id="${id}"]`)).toHaveAttribute('data-state', 'ready');
}

/** A horizontal brush stroke across the middle of the image on screen. */
async function stroke(page: Page): Promise<void> {
  const canvas = page.getByTestId('label-canvas');
  const box = (await page.getByTestId('stage-host').boundingBox())!;
  const [scale, ox, oy] = await Promise.all(['data-scale', 'data-offset-x', 'data-offset-y'].map(async (a) => Number(await canvas.getAttribute(a))));
  const at = (x: number, y: number) => ({ x: box.x + ox! + x * scale!, y: box.y + oy! + y * scale! });
  await page.mouse.move(at(20, 60).x, at(20, 60).y);
  await page.mouse.down();
  await page.mouse.move(at(120, 60).x, at(120, 60).y, { steps: 3 });
  await page.mouse.up();
}

const journalEntries = (page: Page) => page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('heatseg.pending')).length);

/** Paints a stroke while the server is down, then restarts it on the same port with a new token. */
async function strokeAcrossRestart(page: Page, heatseg: HeatsegFixture): Promise<{ app2: Heatseg; cat: ClassInfo; imageId: number }> {
  const { app, cat, imageId } = await setUp(heatseg);
  await page.goto(app.url);
  await openImage(page, imageId);
  await app.close();
  await stroke(page);
  await expect(page.getByTestId('save-status')).toHaveAttribute('data-state', 'retrying');
  expect(await journalEntries(page)).toBe(1);
  const app2 = await heatseg.start({ project: app.projectDir!, port: app.port });
  expect(app2.token).not.toBe(app.token);
  return { app2, cat, imageId };
}

test('training state belongs to its project: a new project shows no run, and switching back shows its own', async ({ page, heatseg }) => {
  test.setTimeout(120_000);
  const app = await heatseg.start();
  const source = await heatseg.shapes({ count: 6, width: 48, height: 40, masks: 'scribbles', maskedImages: 3 });
  await app.call('images.import', { source });
  await app.call('train.start', { epochs: 1, size: 32, backend: 'wasm' });
  await expect
    .poll(async () => (await app.call<TrainStatus>('train.status')).state, { timeout: 90_000 })
    .toBe('done');

  await page.goto(app.url);
  await page.getByTestId('train-open').click();
  await expect(page.getByTestId('train-state')).toHaveAttribute('data-state', 'done');
  await expect(page.getByTestId('train-start')).toHaveText('Train again');
  await expect(page.getByTestId('run-item')).toHaveCount(1);
  await expect(page.getByTestId('loss-chart')).not.toHaveAttribute('data-points', '0');

  // A new project: nothing of the other project's training.
  const fresh = path.join(heatseg.tmp('fresh'), 'fresh-project');
  await page.getByTestId('switch-project').click();
  await page.getByTestId('create-path').fill(fresh);
  await page.getByTestId('create-button').click();
  await expect(page.getByTestId('project-title')).toHaveText('fresh-project');
  await expect(page.getByTestId('train-badge')).toHaveCount(0);
  await page.getByTestId('train-open').click();
  await expect(page.getByTestId('train-state')).toHaveAttribute('data-state', 'idle');
  await expect(page.getByTestId('train-start')).toHaveText('Train');
  await expect(page.getByTestId('run-item')).toHaveCount(0);
  await expect(page.getByTestId('loss-chart')).toHaveAttribute('data-points', '0');
  await expect(page.getByTestId('train-backend-used')).toHaveText('–');

  // Back to the first project: its own finished run again.
  await page.getByTestId('switch-project').click();
  await page.getByTestId('open-path').fill(app.projectDir!);
  await page.getByTestId('open-button').click();
  await expect(page.getByTestId('project-title')).toHaveText('e2e-project');
  await page.getByTestId('train-open').click();
  await expect(page.getByTestId('train-state')).toHaveAttribute('data-state', 'done');
  await expect(page.getByTestId('train-start')).toHaveText('Train again');
  await expect(page.getByTestId('run-item')).toHaveCount(1);
  await expect(page.getByTestId('loss-chart')).not.toHaveAttribute('data-points', '0');
});

test('a server restart under an open tab: the unsaved stroke is held (not retried forever), the page says why, and it lands after signing in with the new URL', async ({
  page,
  heatseg,
}) => {
  test.setTimeout(60_000);
  const { app2, cat, imageId } = await strokeAcrossRestart(page, heatseg);
  // The next retry meets the new server: 401, which no retry can fix.
  const status = page.getByTestId('save-status');
  await expect(status).toHaveAttribute('data-state', 'signed-out', { timeout: 15_000 });
  await expect(status).toContainText('sign in again to save');
  const dialog = page.getByTestId('signin-dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('Nothing you drew is lost');
  expect(await catPixels(app2, imageId, cat)).toBe(0);
  // "Later" closes it; the save indicator opens it again.
  await dialog.getByRole('button', { name: 'Later' }).click();
  await expect(dialog).toBeHidden();
  await expect(status).toHaveAttribute('data-state', 'signed-out');
  await page.getByTestId('save-signin').click();
  await expect(dialog).toBeVisible();

  // A wrong token is refused in words; another server's address is explained.
  await page.getByTestId('signin-input').fill('f'.repeat(48));
  await page.getByTestId('signin-button').click();
  await expect(page.getByTestId('signin-error')).toContainText('does not accept that token');
  await page.getByTestId('signin-input').fill(`http://127.0.0.1:1/?token=${app2.token}`);
  await page.getByTestId('signin-button').click();
  await expect(page.getByTestId('signin-error')).toContainText(`heatseg serve --port ${app2.port}`);

  await page.getByTestId('signin-input').fill(app2.url);
  await page.getByTestId('signin-button').click();
  await expect(dialog).toBeHidden();
  await expect(status).toHaveAttribute('data-state', 'saved');
  await expect.poll(() => catPixels(app2, imageId, cat)).toBeGreaterThan(100 * 10);
  expect(await journalEntries(page)).toBe(0);
  // Painting goes on as usual.
  await stroke(page);
  await expect(status).toHaveAttribute('data-state', 'saved');
});

test('a server restart under an open tab: opening the new URL in the tab replays the kept stroke', async ({ page, heatseg }) => {
  test.setTimeout(60_000);
  const { app2, cat, imageId } = await strokeAcrossRestart(page, heatseg);
  await expect(page.getByTestId('save-status')).toHaveAttribute('data-state', 'signed-out', { timeout: 15_000 });
  // Leaving the page asks first (there are unsaved strokes): say yes.
  page.on('dialog', (d) => void d.accept());
  await page.goto(app2.url);
  await expect(page.getByTestId('project-title')).toHaveText('e2e-project');
  await expect.poll(() => catPixels(app2, imageId, cat)).toBeGreaterThan(100 * 10);
  await expect.poll(() => journalEntries(page)).toBe(0);
  await expect(page.getByTestId('save-status')).toHaveAttribute('data-state', 'saved');
});

test('the open image is in the URL: a reload returns to it, back and forward move between the grid and the images', async ({ page, heatseg }) => {
  test.setTimeout(120_000);
  const app = await heatseg.start();
  const source = await heatseg.shapes({ count: 3, width: 48, height: 40 });
  await app.call('images.import', { source });
  const { items } = await app.call<ImagePage>('images.list', {});
  const [a, b] = [items[0]!.id, items[1]!.id];
  const hash = () => page.evaluate(() => window.location.hash);

  await page.goto(app.url);
  await expect(page.getByTestId('image-card')).toHaveCount(3);
  await openImage(page, a);
  expect(await hash()).toBe(`#/image/${a}`);
  await page.reload();
  // (A reload loads everything again: slow on a busy machine.)
  await expect(page.locator(`[data-testid="label-canvas"][data-image-id="${a}"]`)).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });

  await page.goBack();
  await expect(page.getByTestId('image-card')).toHaveCount(3);
  await expect(page.getByTestId('label-canvas')).toHaveCount(0);
  await page.goForward();
  await expect(page.locator(`[data-testid="label-canvas"][data-image-id="${a}"]`)).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
  await page.goBack();
  await openImage(page, b);
  expect(await hash()).toBe(`#/image/${b}`);
  await page.goBack();
  expect(await hash()).not.toMatch(/image/);
  await expect(page.getByTestId('label-canvas')).toHaveCount(0);

  // An address naming an image that is not in the project says so and shows the grid.
  await page.goto(`http://127.0.0.1:${app.port}/#/image/999`);
  await expect(page.getByTestId('grid-message')).toContainText('Cannot open image 999', { timeout: 30_000 });
  await expect(page.getByTestId('image-card')).toHaveCount(3);
  expect(await hash()).toBe('#/');
});

test('model export in browser mode: a relative path goes inside the project folder (and says so), and a folder chooser picks the place', async ({
  page,
  heatseg,
}) => {
  test.setTimeout(120_000);
  const app = await heatseg.start();
  const source = await heatseg.shapes({ count: 6, width: 48, height: 40, masks: 'scribbles', maskedImages: 3 });
  await app.call('images.import', { source });
  await app.call('train.start', { epochs: 1, size: 32, backend: 'wasm' });
  await expect
    .poll(async () => (await app.call<TrainStatus>('train.status')).state, { timeout: 90_000 })
    .toBe('done');
  const projectDir = app.projectDir!;

  await page.goto(app.url);
  await page.getByTestId('train-open').click();
  await expect(page.getByTestId('export-hint')).toContainText(`A relative path goes inside the project folder (${projectDir})`);

  // The chooser starts in the project folder, lists folders only, walks down and up.
  await page.getByTestId('export-browse').click();
  const browser = page.getByTestId('folder-browser');
  await expect(browser).toBeVisible();
  await expect(page.getByTestId('folder-path')).toHaveText(projectDir);
  await expect(page.getByTestId('folder-item')).toHaveText(['📁 images', '📁 models']);
  await page.getByTestId('folder-item').filter({ hasText: 'models' }).click();
  await expect(page.getByTestId('folder-path')).toHaveText(path.join(projectDir, 'models'));
  await page.getByTestId('folder-up').click();
  await expect(page.getByTestId('folder-path')).toHaveText(projectDir);
  await page.getByTestId('folder-choose').click();
  await expect(browser).toBeHidden();
  await expect(page.getByTestId('export-out')).toHaveValue(path.join(projectDir, 'heatseg-model-run-1'));

  // A relative path: written inside the project, and the message names where.
  await page.getByTestId('export-out').fill('exports/segmenter');
  await page.getByTestId('export-format').selectOption('heatseg');
  await page.getByTestId('export-button').click();
  const where = path.join(projectDir, 'exports', 'segmenter');
  await expect(page.getByTestId('export-message')).toContainText(`to ${where}`, { timeout: 30_000 });
  expect(fs.existsSync(path.join(where, 'heatseg-model.json'))).toBe(true);
});
