import sharp from 'sharp';
import type { ImageSummary, ProjectSummary } from '../../src-shared/api';
import { expect, test } from './fixtures';

/**
 * A 10,000-image project, simulated by answering the list, summary and thumbnail calls in the
 * browser (importing 10,000 files would take minutes): the grid must fetch only the pages it shows
 * and keep only the visible cards in the DOM.
 */
test('a 10,000-image grid fetches only visible pages and renders only visible cards', async ({ page, heatseg }) => {
  const TOTAL = 10_000;
  const app = await heatseg.start();
  const real = await app.call<ProjectSummary>('project.summary');
  const classes = [
    { id: 1, name: 'cat', color: '#e6194b', position: 0, labelValue: 1, isBackground: false, taggedImages: 5000, labelledPixels: 123456 },
    { id: 2, name: 'dog', color: '#3cb44b', position: 1, labelValue: 2, isBackground: false, taggedImages: 3334, labelledPixels: 0 },
  ];
  const summary: ProjectSummary = { ...real, images: TOTAL, taggedImages: 8334, labelledImages: 100, classes };
  const thumb = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3060a0' } })
    .png()
    .toBuffer();
  const listOffsets: number[] = [];
  let thumbnails = 0;

  await page.route(/\/api\/(project\.summary|images\.list|images\.thumbnail)$/, async (route) => {
    const method = new URL(route.request().url()).pathname.slice('/api/'.length);
    const input = route.request().postDataJSON() as { offset?: number; limit?: number; id?: number };
    if (method === 'project.summary') return route.fulfill({ json: { ok: true, result: summary } });
    if (method === 'images.thumbnail') {
      thumbnails++;
      return route.fulfill({ body: thumb, contentType: 'application/octet-stream' });
    }
    const offset = input.offset ?? 0;
    listOffsets.push(offset);
    const items: ImageSummary[] = [];
    for (let i = offset; i < Math.min(TOTAL, offset + (input.limit ?? 100)); i++) {
      items.push({
        id: i + 1,
        originalName: `img_${String(i).padStart(5, '0')}.jpg`,
        width: 640,
        height: 480,
        status: 'active',
        tags: i % 3 === 0 ? [] : i % 3 === 1 ? [1] : [1, 2],
        labelledPixels: i % 100 === 0 ? 500 : 0,
      });
    }
    return route.fulfill({ json: { ok: true, result: { total: TOTAL, offset, items } } });
  });

  await page.goto(app.url);
  await expect(page.getByTestId('image-count')).toHaveText('10,000 images');
  const grid = page.getByTestId('image-grid');
  const cards = page.getByTestId('image-card');
  await expect(cards.first()).toHaveAttribute('data-image-id', '1');
  await expect(page.getByTestId('shown-count')).toHaveText('10,000 of 10,000 images');
  const firstScreen = await cards.count();
  expect(firstScreen).toBeGreaterThan(4);
  expect(firstScreen).toBeLessThan(60);
  expect(listOffsets).toEqual([0]);

  // Jump to the middle: the pages around index ~5000 are fetched, nothing in between.
  await grid.evaluate((el) => (el.scrollTop = el.scrollHeight / 2));
  await expect(cards.first()).not.toHaveAttribute('data-index', '0');
  const middle = Number(await cards.first().getAttribute('data-index'));
  expect(middle).toBeGreaterThan(4500);
  expect(middle).toBeLessThan(5500);
  await expect(cards.first()).toHaveAttribute('data-image-id', String(middle + 1));
  expect(await cards.count()).toBeLessThan(60);
  expect(listOffsets.length).toBeLessThanOrEqual(3);
  for (const offset of listOffsets.slice(1)) expect(Math.abs(offset - middle)).toBeLessThan(200);

  // And to the end: the last image is there, and only on-screen thumbnails were ever requested.
  await grid.evaluate((el) => (el.scrollTop = el.scrollHeight));
  await expect(page.locator('[data-testid="image-card"][data-index="9999"]')).toBeVisible();
  await expect(page.locator('[data-testid="image-card"][data-index="9999"]')).toContainText('img_09999.jpg');
  expect(listOffsets.length).toBeLessThanOrEqual(5);
  expect(thumbnails).toBeLessThan(3 * 60);
  expect(await page.locator('img[src^="blob:"]').count()).toBeLessThan(60);
});
