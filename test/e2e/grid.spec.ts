import type { ImageSummary, ImportReport, ProjectSummary } from '../../src-shared/api';
import { expect, expectThumbnailsLoaded, test } from './fixtures';

test.describe('image grid', () => {
  test('shows an imported mask-folder dataset: cards, thumbnails, tag chips, label badges and classes', async ({ page, heatseg }) => {
    const source = await heatseg.shapes({ count: 12, masks: 'dense' });
    const app = await heatseg.start();
    const report = await app.call<ImportReport>('images.import', { source });
    expect(report.imported).toBe(12);

    await page.goto(app.url);
    await expect(page.getByTestId('project-title')).toHaveText('e2e-project');
    await expect(page.getByTestId('image-count')).toHaveText('12 images');
    await expect(page.getByTestId('image-grid')).toBeVisible();
    const cards = page.getByTestId('image-card');
    await expect(cards).toHaveCount(12);
    await expectThumbnailsLoaded(page, 12);

    // Cards show what the API says about each image, in list order.
    const listed = await app.call<{ items: ImageSummary[] }>('images.list', { offset: 0, limit: 100 });
    const ids = await cards.evaluateAll((els) => els.map((el) => Number((el as HTMLElement).dataset.imageId)));
    expect(ids).toEqual(listed.items.map((i) => i.id));
    const first = listed.items[0]!;
    const firstCard = cards.first();
    await expect(firstCard).toContainText(first.originalName);
    await expect(firstCard).toContainText(`${first.width} × ${first.height}`);
    // Dense masks: every image has labelled pixels and its classes as tags.
    await expect(page.getByTestId('label-badge')).toHaveCount(12);
    expect(first.tags.length).toBeGreaterThan(0);
    await expect(firstCard.getByTestId('tag-chip')).toHaveCount(Math.min(3, first.tags.length));
    const firstChipColor = await firstCard
      .getByTestId('tag-chip')
      .first()
      .evaluate((el) => getComputedStyle(el).getPropertyValue('--c').trim());
    const summary = await app.call<ProjectSummary>('project.summary');
    const firstTag = summary.classes.find((c) => c.id === first.tags[0])!;
    expect(firstChipColor).toBe(firstTag.color);

    // Sidebar: the 5 classes with their counts from the summary.
    const items = page.getByTestId('class-list').getByTestId('class-item');
    await expect(items).toHaveCount(5);
    await expect(items.getByTestId('class-name')).toHaveText(['sand', 'water', 'disc', 'square', 'triangle']);
    for (const [i, cls] of summary.classes.entries()) {
      await expect(items.nth(i).getByTestId('class-tagged')).toHaveText(String(cls.taggedImages));
    }
  });

  test('filters by label state and by class, and toggles tags from the card', async ({ page, heatseg }) => {
    const source = await heatseg.shapes({ count: 10, masks: 'scribbles', maskedImages: 4 });
    const app = await heatseg.start();
    await app.call('images.import', { source });
    const summary = await app.call<ProjectSummary>('project.summary');

    await page.goto(app.url);
    await expect(page.getByTestId('image-card')).toHaveCount(10);
    await page.getByTestId('filter-select').selectOption('labelled');
    await expect(page.getByTestId('image-card')).toHaveCount(4);
    await expect(page.getByTestId('shown-count')).toHaveText('4 of 10 images');
    await page.getByTestId('filter-select').selectOption('unlabelled');
    await expect(page.getByTestId('image-card')).toHaveCount(6);
    await expect(page.getByTestId('label-badge')).toHaveCount(0);
    await page.getByTestId('filter-select').selectOption('all');

    // Class filter from the sidebar: only images tagged (or labelled) with that class.
    const disc = summary.classes.find((c) => c.name === 'disc')!;
    const withDisc = await app.call<{ total: number }>('images.list', { classId: disc.id, limit: 100 });
    await page.getByTestId('class-item').filter({ hasText: 'disc' }).getByRole('button').click();
    await expect(page.getByTestId('image-card')).toHaveCount(withDisc.total);
    await expect(page.getByTestId('class-filter')).toHaveValue(String(disc.id));
    await page.getByTestId('class-item').filter({ hasText: 'disc' }).getByRole('button').click();
    await expect(page.getByTestId('image-card')).toHaveCount(10);

    // Toggle a tag the first image does not have, through the popover.
    const first = (await app.call<{ items: ImageSummary[] }>('images.list', { limit: 1 })).items[0]!;
    const missing = summary.classes.find((c) => !first.tags.includes(c.id))!;
    const card = page.locator(`[data-testid="image-card"][data-image-id="${first.id}"]`);
    await card.getByTestId('tag-button').click();
    const editor = page.getByTestId('tag-editor');
    await expect(editor).toBeVisible();
    const toggle = editor.locator(`[data-testid="tag-toggle"][data-class-id="${missing.id}"]`);
    await toggle.check();
    await expect.poll(async () => (await app.call<ImageSummary>('images.get', { id: first.id })).tags).toContain(missing.id);
    // The server has the tag; the renderer is done with it once the box is enabled again (a
    // disabled, focused box does not pass the Escape on).
    await expect(toggle).toBeEnabled();
    await page.keyboard.press('Escape');
    await expect(editor).toBeHidden();
    // The chip button got focus back; the card now lists the new tag (it may be behind "+N").
    await expect(card.getByTestId('tag-button')).toBeFocused();
    await expect(card.getByTestId('tag-button')).toHaveAttribute('aria-label', new RegExp(missing.name));
    const tagged = summary.classes.find((c) => c.id === missing.id)!.taggedImages;
    await expect(page.getByTestId('class-item').filter({ hasText: missing.name }).getByTestId('class-tagged')).toHaveText(
      String(tagged + 1),
    );
  });

  test('adds a class from the sidebar and shows the server error for a duplicate', async ({ page, heatseg }) => {
    const app = await heatseg.start();
    await page.goto(app.url);
    await expect(page.getByTestId('grid-empty')).toContainText('No images yet');
    await page.getByTestId('class-name-input').fill('road');
    await page.getByTestId('class-add').click();
    await expect(page.getByTestId('class-item')).toHaveCount(1);
    await expect(page.getByTestId('class-item').getByTestId('class-name')).toHaveText('road');
    const classes = await app.call<Array<{ name: string }>>('classes.list');
    expect(classes.map((c) => c.name)).toEqual(['road']);

    await page.getByTestId('class-name-input').fill('road');
    await page.getByTestId('class-add').click();
    await expect(page.getByTestId('class-error')).toBeVisible();
    await expect(page.getByTestId('class-item')).toHaveCount(1);
  });
});

test.describe('image view', () => {
  test('opens the full image from a card and returns to the grid with Escape', async ({ page, heatseg }) => {
    const source = await heatseg.shapes({ count: 6, masks: 'dense', width: 200, height: 150 });
    const app = await heatseg.start();
    await app.call('images.import', { source });
    const { items } = await app.call<{ items: ImageSummary[] }>('images.list', { limit: 10 });

    await page.goto(app.url);
    const second = page.locator(`[data-testid="image-card"][data-image-id="${items[1]!.id}"]`);
    await second.locator('[data-focus-target]').click();

    const view = page.getByTestId('image-view');
    await expect(view).toBeVisible();
    await expect(page.getByTestId('image-grid')).toHaveCount(0);
    await expect(page.getByTestId('image-name')).toHaveText(items[1]!.originalName);
    // The label canvas decoded the full image (200 px wide) and is ready to paint.
    const canvas = page.getByTestId('label-canvas');
    await expect(canvas).toHaveAttribute('data-state', 'ready');
    await expect(canvas).toHaveAttribute('data-width', '200');
    await expect(page.getByTestId('canvas-host')).toBeVisible();
    await expect(page.getByTestId('tool-palette')).toBeVisible();
    await expect(page.getByTestId('image-tags').getByTestId('tag-chip')).toHaveCount(items[1]!.tags.length);

    // Tool shortcuts and image navigation.
    await page.keyboard.press('e');
    await expect(page.getByTestId('tool-eraser')).toHaveAttribute('aria-pressed', 'true');
    await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId('image-name')).toHaveText(items[2]!.originalName);

    await page.keyboard.press('Escape');
    await expect(view).toHaveCount(0);
    await expect(page.getByTestId('image-grid')).toBeVisible();
    await expect(page.getByTestId('image-card')).toHaveCount(6);
    // Focus returns to the card of the image that was open, for keyboard users.
    await expect(page.locator(`[data-testid="image-card"][data-image-id="${items[2]!.id}"] [data-focus-target]`)).toBeFocused();
    await expectThumbnailsLoaded(page, 6);
  });
});
