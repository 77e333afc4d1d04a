import type { ProjectSummary } from '../../src-shared/api';
import { stubLargeGrid } from '../../bench/stub-grid';
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
  const listOffsets: number[] = [];
  let thumbnails = 0;
  await stubLargeGrid(page, {
    total: TOTAL,
    real,
    tagsOf: (i) => (i % 3 === 0 ? [] : i % 3 === 1 ? [1] : [1, 2]),
    labelledOf: (i) => (i % 100 === 0 ? 500 : 0),
    onList: (offset) => listOffsets.push(offset),
    onThumbnail: () => thumbnails++,
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
