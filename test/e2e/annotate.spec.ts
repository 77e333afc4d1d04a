import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from '@playwright/test';
import sharp from 'sharp';
import type { ClassInfo, ImagePage, ImageSummary, LabelRasterWire, ProjectSummary } from '../../src-shared/api';
import { compressRaster, decompressRaster, fromBase64, toBase64 } from '../../src-shared/labels';
import { expect, test, type Heatseg } from './fixtures';

/**
 * Annotation in browser mode: strokes drawn with the mouse reach the label raster through the API
 * and are durable in the project's SQLite file; undo, redo, eraser, fill, class and tag keys; and
 * the failure paths (a failing write retried, a deleted image, undecodable and oversized images).
 */

// Each test drives many strokes through a real server on a shared machine: allow more than the default 30 s.
test.describe.configure({ timeout: 60_000 });

const W = 200;
const H = 150;

/** split.png: left half red, right half blue (fill targets); plain.png and third.png: grey. */
async function setUp(heatseg: { tmp: (n: string) => string; start: () => Promise<Heatseg> }) {
  const src = heatseg.tmp('images');
  const split = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) split.set(x < W / 2 ? [200, 40, 40] : [40, 40, 200], (y * W + x) * 3);
  await sharp(split, { raw: { width: W, height: H, channels: 3 } }).png().toFile(path.join(src, 'a_split.png'));
  for (const name of ['b_plain.png', 'c_third.png']) {
    await sharp({ create: { width: 160, height: 120, channels: 3, background: '#707070' } }).png().toFile(path.join(src, name));
  }
  const app = await heatseg.start();
  await app.call('images.import', { source: src, masks: false, labels: false });
  const cat = await app.call<ClassInfo>('classes.add', { name: 'cat' });
  const dog = await app.call<ClassInfo>('classes.add', { name: 'dog' });
  const { items } = await app.call<ImagePage>('images.list', { limit: 10 });
  const byName = (n: string) => items.find((i) => i.originalName === n)!;
  return { app, cat, dog, split: byName('a_split.png'), plain: byName('b_plain.png'), third: byName('c_third.png') };
}

async function apiRaster(app: Heatseg, imageId: number): Promise<Uint8Array> {
  const wire = await app.call<LabelRasterWire>('labels.get', { imageId });
  return decompressRaster(fromBase64(wire.data), wire.width, wire.height);
}

/** The raster as committed in the project's heatseg.sqlite (read by a second connection). */
function dbRaster(app: Heatseg, imageId: number, width: number, height: number): { raster: Uint8Array; counts: Record<number, number> } {
  const db = new Database(path.join(app.projectDir!, 'heatseg.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT data FROM label_rasters WHERE image_id = ?').get(imageId) as { data: Buffer } | undefined;
    const counts = Object.fromEntries(
      (db.prepare('SELECT class_id, pixels FROM label_counts WHERE image_id = ?').all(imageId) as Array<{ class_id: number; pixels: number }>).map(
        (r) => [r.class_id, r.pixels],
      ),
    );
    return { raster: row ? decompressRaster(row.data, width, height) : new Uint8Array(width * height), counts };
  } finally {
    db.close();
  }
}

const countOf = (r: Uint8Array, v: number) => r.reduce((n, x) => n + (x === v ? 1 : 0), 0);

/** expect.poll with short intervals: saves take tens of milliseconds, not seconds. */
const poll = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { intervals: [50, 100, 200, 400] });

async function openImage(page: Page, id: number): Promise<void> {
  await page.locator(`[data-testid="image-card"][data-image-id="${id}"] [data-focus-target]`).click();
  await expect(page.locator(`[data-testid="label-canvas"][data-image-id="${id}"]`)).toHaveAttribute('data-state', 'ready');
}

/** Screen position of image pixel coordinates, from the canvas's view transform. */
async function toScreen(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  const canvas = page.getByTestId('label-canvas');
  const box = (await page.getByTestId('stage-host').boundingBox())!;
  const [scale, ox, oy] = await Promise.all(['data-scale', 'data-offset-x', 'data-offset-y'].map(async (a) => Number(await canvas.getAttribute(a))));
  return { x: box.x + ox! + x * scale!, y: box.y + oy! + y * scale! };
}

/** A fast stroke: the pointer jumps between the points in `steps` moves each. */
async function stroke(page: Page, points: Array<[number, number]>, steps = 2): Promise<void> {
  const first = await toScreen(page, ...points[0]!);
  await page.mouse.move(first.x, first.y);
  await page.mouse.down();
  for (const p of points.slice(1)) {
    const s = await toScreen(page, ...p);
    await page.mouse.move(s.x, s.y, { steps });
  }
  await page.mouse.up();
}

async function saved(page: Page): Promise<void> {
  await expect(page.getByTestId('save-status')).toHaveAttribute('data-state', 'saved');
  await expect(page.getByTestId('save-status')).toHaveAttribute('data-pending', '0');
}

test('brush, undo, redo, class keys, eraser, fill and tag keys reach the API and the database, and survive a reload', async ({
  page,
  heatseg,
}) => {
  const { app, cat, dog, split } = await setUp(heatseg);
  await page.goto(app.url);
  await openImage(page, split.id);
  await expect(page.getByTestId('save-status')).toHaveAttribute('data-state', 'saved');

  // A fast horizontal stroke (three pointer events over 60 px) with the default 16 px brush.
  await stroke(page, [
    [20, 30],
    [80, 30],
  ]);
  await poll(async () => countOf(await apiRaster(app, split.id), cat.labelValue)).toBeGreaterThan(0);
  await saved(page);
  const afterBrush = await apiRaster(app, split.id);
  // Hard-edged and gap-free: only 0 or cat; the whole centre row of the stroke is painted; 8 px off it nothing.
  expect(new Set(afterBrush)).toEqual(new Set([0, cat.labelValue]));
  for (let x = 21; x < 80; x++) expect(afterBrush[30 * W + x], `pixel (${x}, 30)`).toBe(cat.labelValue);
  for (let x = 0; x < W; x++) expect(afterBrush[14 * W + x]).toBe(0);
  const painted = countOf(afterBrush, cat.labelValue);
  expect(painted).toBeGreaterThan(60 * 14);
  expect(painted).toBeLessThan(76 * 17);
  // Durable: the same raster is committed in SQLite, with its per-class count.
  const db1 = dbRaster(app, split.id, W, H);
  expect(db1.raster).toEqual(afterBrush);
  expect(db1.counts).toEqual({ [cat.id]: painted });
  await expect(page.getByTestId('label-canvas')).toHaveAttribute('data-labelled', String(painted));

  // Undo restores the pixels, in the API and the database; redo brings them back.
  await page.keyboard.press('Control+z');
  await poll(async () => countOf(await apiRaster(app, split.id), 0)).toBe(W * H);
  await saved(page);
  expect(countOf(dbRaster(app, split.id, W, H).raster, 0)).toBe(W * H);
  await page.keyboard.press('Control+Shift+z');
  await poll(async () => apiRaster(app, split.id)).toEqual(afterBrush);
  await saved(page);

  // Number key 2: paint with dog.
  await page.keyboard.press('2');
  await expect(page.locator(`[data-testid="paint-class"][data-class-id="${dog.id}"]`)).toBeChecked();
  await stroke(page, [
    [30, 110],
    [70, 110],
  ]);
  await poll(async () => (await apiRaster(app, split.id))[110 * W + 50]).toBe(dog.labelValue);
  await saved(page);

  // Eraser (own size, 24 px): a vertical stroke through the cat stroke clears it there.
  await page.keyboard.press('e');
  await expect(page.getByTestId('tool-eraser')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('size-label')).toHaveText('24px');
  await stroke(page, [
    [50, 5],
    [50, 60],
  ]);
  await poll(async () => (await apiRaster(app, split.id))[30 * W + 50]).toBe(0);
  await saved(page);
  const erased = await apiRaster(app, split.id);
  expect(erased[30 * W + 25]).toBe(cat.labelValue);
  expect(erased[30 * W + 75]).toBe(cat.labelValue);

  // Fill (with dog) a click on the blue half: exactly the right half, up to the colour edge.
  await page.keyboard.press('f');
  const blue = await toScreen(page, 150, 75);
  await page.mouse.click(blue.x, blue.y);
  await poll(async () => (await apiRaster(app, split.id))[75 * W + 150]).toBe(dog.labelValue);
  await saved(page);
  const filled = await apiRaster(app, split.id);
  for (let y = 0; y < H; y++) {
    expect(filled[y * W + W / 2]).toBe(dog.labelValue);
    expect(filled[y * W + W - 1]).toBe(dog.labelValue);
  }
  expect(filled[75 * W + W / 2 - 1]).toBe(0); // red side untouched
  expect(dbRaster(app, split.id, W, H).raster).toEqual(filled);

  // Preserve labels (P): a brush stroke with cat across the dog-filled edge paints only unlabelled pixels.
  await page.keyboard.press('b');
  await page.keyboard.press('1');
  await page.keyboard.press('p');
  await expect(page.getByTestId('preserve-labels')).toHaveAttribute('aria-pressed', 'true');
  await stroke(page, [
    [W / 2 - 40, 140],
    [W / 2 + 40, 140],
  ]);
  await poll(async () => (await apiRaster(app, split.id))[140 * W + W / 2 - 30]).toBe(cat.labelValue);
  await saved(page);
  const preserved = await apiRaster(app, split.id);
  // (one expect: thousands of Playwright expects cost a minute)
  const overwritten = [...filled.keys()].filter((i) => filled[i] && preserved[i] !== filled[i]);
  expect(overwritten, 'labelled pixels painted over').toEqual([]);
  expect(countOf(preserved, cat.labelValue)).toBeGreaterThan(countOf(filled, cat.labelValue));
  await page.keyboard.press('p');
  await expect(page.getByTestId('preserve-labels')).toHaveAttribute('aria-pressed', 'false');

  // Tag keys: Shift+1 tags cat, again untags it.
  await page.keyboard.press('Shift+Digit1');
  await poll(async () => (await app.call<ImageSummary>('images.get', { id: split.id })).tags).toEqual([cat.id]);
  await expect(page.getByTestId('image-chips').getByTestId('tag-chip')).toHaveText(['cat']);
  await page.keyboard.press('Shift+Digit1');
  await poll(async () => (await app.call<ImageSummary>('images.get', { id: split.id })).tags).toEqual([]);

  // Every shortcut is listed in the help overlay.
  await page.keyboard.press('?');
  await expect(page.getByTestId('help-dialog')).toBeVisible();
  await expect(page.getByTestId('help-dialog').getByTestId('shortcut')).toHaveCount(27);
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('help-dialog')).toBeHidden();

  // Reload: the labels come back from the server and are on screen.
  const labelled = preserved.reduce((n, v) => n + (v ? 1 : 0), 0);
  await page.reload();
  // The open image is in the URL: the reload returns to it.
  await expect(page.locator(`[data-testid="label-canvas"][data-image-id="${split.id}"]`)).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
  await expect(page.getByTestId('label-canvas')).toHaveAttribute('data-labelled', String(labelled));
  const at = await toScreen(page, 25.5, 30.5);
  const alpha = await page.getByTestId('stage-host').evaluate(
    (host, p) => {
      // Layers in order: image, labels, overlay, ui. Read the label layer's pixel under the stroke.
      const c = host.querySelectorAll('canvas')[1] as HTMLCanvasElement;
      const r = c.getBoundingClientRect();
      const k = c.width / r.width;
      return c.getContext('2d')!.getImageData(Math.floor((p.x - r.left) * k), Math.floor((p.y - r.top) * k), 1, 1).data[3];
    },
    { x: at.x, y: at.y },
  );
  expect(alpha).toBeGreaterThan(100);
});

test('a failing write is retried until durable; a stroke on a deleted image is refused with a message', async ({ page, heatseg }) => {
  const { app, cat, plain, third } = await setUp(heatseg);
  let failures = 0;
  await page.route('**/api/labels.patch', async (route) => {
    if (failures < 2) {
      failures++;
      await route.fulfill({ status: 500, json: { ok: false, error: { code: 'io', message: 'database is locked (simulated)' } } });
    } else await route.continue();
  });
  await page.goto(app.url);
  await openImage(page, plain.id);
  await stroke(page, [
    [40, 60],
    [120, 60],
  ]);
  await expect(page.getByTestId('save-status')).toHaveAttribute('data-state', 'retrying');
  await expect(page.getByTestId('save-status')).toContainText('retrying');
  await expect(page.getByTestId('save-status')).toHaveAttribute('title', /database is locked/);
  await saved(page);
  expect(failures).toBe(2);
  const committed = dbRaster(app, plain.id, 160, 120);
  expect(committed.raster[60 * 160 + 80]).toBe(cat.labelValue);
  expect(committed.counts[cat.id]).toBeGreaterThan(500);

  // Another process deletes the next image while it is open: the stroke is refused, visibly.
  await page.keyboard.press('ArrowRight');
  await expect(page.locator(`[data-testid="label-canvas"][data-image-id="${third.id}"]`)).toHaveAttribute('data-state', 'ready');
  const db = new Database(path.join(app.projectDir!, 'heatseg.sqlite'));
  db.prepare('DELETE FROM images WHERE id = ?').run(third.id);
  db.close();
  await stroke(page, [
    [40, 60],
    [120, 60],
  ]);
  await expect(page.getByTestId('image-gone')).toContainText('deleted');
  await expect(page.getByTestId('canvas-message')).toContainText(/not saved.*no image with id/);
  await expect(page.getByTestId('save-refusal')).toBeVisible();
  await saved(page);
  // Further strokes there are refused on the spot, not queued.
  await stroke(page, [
    [20, 20],
    [60, 20],
  ]);
  await expect(page.getByTestId('canvas-message')).toContainText('no longer exists');
  await expect(page.getByTestId('save-status')).toHaveAttribute('data-pending', '0');
});

test('zoom, pan and brush size by wheel and keys; keyboard-only painting; undo history kept per image', async ({ page, heatseg }) => {
  const { app, cat, plain, third } = await setUp(heatseg);
  await page.goto(app.url);
  await openImage(page, plain.id);
  const canvas = page.getByTestId('label-canvas');
  const attr = async (a: string) => Number(await canvas.getAttribute(a));
  const centre = await toScreen(page, 80, 60);
  await page.mouse.move(centre.x, centre.y);
  // Wheel zooms around the pointer; Ctrl+wheel sizes the brush; [ and ] too.
  const fitScale = await attr('data-scale');
  await page.mouse.wheel(0, -300);
  await poll(() => attr('data-scale')).toBeGreaterThan(fitScale * 1.2);
  await page.keyboard.down('Control');
  await page.mouse.wheel(0, -100);
  await page.keyboard.up('Control');
  await expect(page.getByTestId('size-label')).toHaveText('19px');
  await page.keyboard.press('[');
  await expect(page.getByTestId('size-label')).toHaveText('16px');
  // Space-drag pans and paints nothing.
  const x0 = await attr('data-offset-x');
  await page.keyboard.down('Space');
  await page.mouse.down();
  await page.mouse.move(centre.x + 60, centre.y + 10, { steps: 3 });
  await page.mouse.up();
  await page.keyboard.up('Space');
  await poll(() => attr('data-offset-x')).toBeCloseTo(x0 + 60, 0);
  await page.keyboard.press('z');
  await poll(() => attr('data-scale')).toBeCloseTo(fitScale, 5);
  expect(await canvas.getAttribute('data-labelled')).toBe('0');
  // L hides the labels, L shows them.
  await page.keyboard.press('l');
  await expect(page.getByTestId('labels-visible')).not.toBeChecked();
  await page.keyboard.press('l');
  await expect(page.getByTestId('labels-visible')).toBeChecked();

  // Keyboard only: focus the canvas, Enter puts the pen down, arrows paint, Enter lifts it.
  await page.getByTestId('stage-host').focus();
  await page.keyboard.press('Enter');
  for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  await poll(async () => countOf(await apiRaster(app, plain.id), cat.labelValue)).toBeGreaterThan(16 * 16);
  await saved(page);
  const keyboardStroke = await apiRaster(app, plain.id);
  // The stroke runs right from the centre (80, 60): 4 steps of at least a pixel each.
  expect(keyboardStroke[60 * 160 + 80]).toBe(cat.labelValue);
  expect(keyboardStroke[60 * 160 + 85]).toBe(cat.labelValue);

  // History is per image and survives going to another image and back.
  await page.getByTestId('back-button').focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.locator(`[data-testid="label-canvas"][data-image-id="${third.id}"]`)).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('undo')).toBeDisabled();
  await page.keyboard.press('ArrowLeft');
  await expect(page.locator(`[data-testid="label-canvas"][data-image-id="${plain.id}"]`)).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('undo')).toBeEnabled();
  await page.keyboard.press('Control+z');
  await poll(async () => countOf(await apiRaster(app, plain.id), 0)).toBe(160 * 120);
  await expect(page.getByTestId('canvas-message')).toContainText('Undid');
});

test('undecodable and oversized images show a placeholder with the reason, without loading', async ({ page, heatseg }) => {
  const { app, plain, third } = await setUp(heatseg);
  const bytesRequested: number[] = [];
  await page.route('**/api/images.bytes', async (route) => {
    const id = (route.request().postDataJSON() as { id: number }).id;
    bytesRequested.push(id);
    if (id === plain.id) await route.fulfill({ body: Buffer.from('not an image at all'), contentType: 'application/octet-stream' });
    else await route.continue();
  });
  // The third image claims to be 16384 × 16384.
  await page.route('**/api/images.list', async (route) => {
    const reply = await route.fetch();
    const body = (await reply.json()) as { ok: boolean; result: ImagePage };
    for (const it of body.result.items) if (it.id === third.id) Object.assign(it, { width: 16384, height: 16384 });
    await route.fulfill({ json: body });
  });
  await page.goto(app.url);
  await openImageExpectingProblem(page, plain.id);
  await expect(page.getByTestId('image-problem')).toContainText('cannot be shown');
  await expect(page.getByTestId('image-problem-reason')).toContainText('cannot decode');
  await page.keyboard.press('ArrowRight');
  await expect(page.getByTestId('image-problem')).toContainText('too large');
  await expect(page.getByTestId('image-problem-reason')).toContainText('16,384 × 16,384 px (268 MP)');
  await expect(page.getByTestId('image-problem-reason')).toContainText('100 MP');
  expect(bytesRequested).not.toContain(third.id);
  // The window stays responsive: back to the grid with Escape.
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('image-grid')).toBeVisible();
});

async function openImageExpectingProblem(page: Page, id: number): Promise<void> {
  await page.locator(`[data-testid="image-card"][data-image-id="${id}"] [data-focus-target]`).click();
  await expect(page.getByTestId('image-problem')).toBeVisible();
}

test('bulk tagging in the grid, and class rename, recolour, reorder and delete with a confirm that counts', async ({ page, heatseg }) => {
  const { app, cat, dog, split, plain, third } = await setUp(heatseg);
  // Some cat pixels and a cat tag, to be counted by the delete confirm.
  const patch = new Uint8Array(10 * 4).fill(cat.labelValue);
  await app.call('labels.patch', { imageId: split.id, x: 5, y: 5, width: 10, height: 4, data: toBase64(compressRaster(patch)) });
  await page.goto(app.url);
  await expect(page.getByTestId('image-card')).toHaveCount(3);
  // The grid's keys are in the help overlay too.
  await page.keyboard.press('?');
  await expect(page.getByTestId('help-dialog').getByTestId('grid-shortcut')).toHaveCount(7);
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('help-dialog')).toBeHidden();

  // Select two cards (checkbox, then Shift+click for the range) and tag them with dog at once.
  const card = (id: number) => page.locator(`[data-testid="image-card"][data-image-id="${id}"]`);
  await card(split.id).hover();
  await card(split.id).getByTestId('select-card').click();
  await card(plain.id).getByTestId('select-card').click({ modifiers: ['Shift'] });
  await expect(page.getByTestId('bulk-count')).toHaveText('2 selected');
  await expect(card(split.id).getByTestId('select-card')).toBeChecked();
  await expect(card(plain.id).getByTestId('select-card')).toBeChecked();
  await expect(card(third.id).getByTestId('select-card')).not.toBeChecked();
  await page.getByTestId('bulk-class').selectOption(String(dog.id));
  await page.getByTestId('bulk-add').click();
  await expect(page.getByTestId('grid-message')).toContainText('Tagged 2 images with dog');
  for (const id of [split.id, plain.id]) expect((await app.call<ImageSummary>('images.get', { id })).tags).toEqual([dog.id]);
  expect((await app.call<ImageSummary>('images.get', { id: third.id })).tags).toEqual([]);
  await expect(card(plain.id).getByTestId('tag-chip')).toHaveText(['dog']);
  // Keyboard: Shift+1 on a focused (unselected) card toggles cat on that card only.
  await page.getByTestId('bulk-clear').click();
  await card(third.id).locator('[data-focus-target]').focus();
  await page.keyboard.press('Shift+Digit1');
  await poll(async () => (await app.call<ImageSummary>('images.get', { id: third.id })).tags).toEqual([cat.id]);

  // Classes: rename, recolour, reorder.
  await page.getByTestId('classes-edit').click();
  const items = page.getByTestId('class-item');
  await items.nth(0).getByTestId('class-rename').fill('kitten');
  await items.nth(0).getByTestId('class-rename').press('Enter');
  await poll(async () => (await app.call<ClassInfo[]>('classes.list')).map((c) => c.name)).toEqual(['kitten', 'dog']);
  await items.nth(0).getByTestId('class-recolor').fill('#123456');
  await poll(async () => (await app.call<ClassInfo[]>('classes.list'))[0]!.color).toBe('#123456');
  await items.nth(0).getByTestId('class-down').click();
  await poll(async () => (await app.call<ClassInfo[]>('classes.list')).map((c) => c.name)).toEqual(['dog', 'kitten']);
  // Drag to reorder: kitten's grip dropped on the first row moves it back to the top. The list must
  // show the new order and the grips be draggable again (not while the previous update is running).
  await expect(items.nth(1).getByTestId('class-rename')).toHaveValue('kitten');
  await expect(items.nth(1).getByTestId('class-grip')).toHaveAttribute('draggable', 'true');
  await items.nth(1).getByTestId('class-grip').dragTo(items.nth(0));
  await poll(async () => (await app.call<ClassInfo[]>('classes.list')).map((c) => c.name)).toEqual(['kitten', 'dog']);
  await expect(items.nth(0).getByTestId('class-rename')).toHaveValue('kitten');

  // Delete kitten: the confirm states the pixels and tags that go with it.
  const before = (await app.call<ProjectSummary>('project.summary')).classes.find((c) => c.id === cat.id)!;
  expect(before.labelledPixels).toBe(40);
  expect(before.taggedImages).toBe(1);
  await page.locator(`[data-testid="class-item"][data-class-id="${cat.id}"]`).getByTestId('class-delete').click();
  await expect(page.getByTestId('class-delete-summary')).toContainText('40 labelled pixels');
  await expect(page.getByTestId('class-delete-summary')).toContainText('tag from 1 image');
  await page.getByTestId('class-delete-confirm-button').click();
  await expect(page.getByTestId('class-notice')).toContainText('40 labelled pixels and 1 tag removed');
  expect((await app.call<ClassInfo[]>('classes.list')).map((c) => c.name)).toEqual(['dog']);
  expect(countOf(await apiRaster(app, split.id), cat.labelValue)).toBe(0);
  expect(fs.existsSync(app.projectDir!)).toBe(true);
});
