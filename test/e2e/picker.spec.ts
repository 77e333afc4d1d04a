import fs from 'node:fs';
import path from 'node:path';
import type { AppInfo } from '../../src-shared/api';
import { expect, expectThumbnailsLoaded, test } from './fixtures';

test.describe('project picker', () => {
  test('creates a project from a typed path, imports through the import form, and lists it as recent', async ({ page, heatseg }) => {
    const app = await heatseg.start({ project: null });
    const source = await heatseg.shapes({ count: 6, masks: 'scribbles', maskedImages: 2 });
    // A file that is not an image must be reported, not crash the import.
    fs.writeFileSync(path.join(source, 'images', 'broken.png'), 'this is not a png');
    const projectDir = path.join(heatseg.tmp('projects'), 'my-shapes');

    await page.goto(app.url);
    const picker = page.getByTestId('picker');
    await expect(picker).toBeVisible();
    await expect(page.getByTestId('recent-list')).toHaveCount(0);

    // An error from the server is shown inline, in its own words.
    await page.getByTestId('open-path').fill(path.join(projectDir, 'nowhere'));
    await page.getByTestId('open-button').click();
    await expect(page.getByTestId('open-error')).toContainText('is not a heatseg project');

    await page.getByTestId('create-path').fill(projectDir);
    await page.getByTestId('create-button').click();
    await expect(picker).toHaveCount(0);
    await expect(page.getByTestId('project-title')).toHaveText('my-shapes');
    await expect(page.getByTestId('image-count')).toHaveText('0 images');
    expect(fs.existsSync(projectDir)).toBe(true);

    await page.getByTestId('import-open').click();
    const dialog = page.getByTestId('import-dialog');
    await expect(dialog).toBeVisible();
    await expect(page.getByTestId('import-source')).toBeFocused();
    await page.getByTestId('import-source').fill(path.join(source, 'missing'));
    await page.getByTestId('import-button').click();
    await expect(page.getByTestId('import-error')).toContainText('no such folder');

    await page.getByTestId('import-source').fill(source);
    await page.getByTestId('import-button').click();
    const report = page.getByTestId('import-report');
    await expect(report).toContainText('Imported 6 images, 2 with pixel labels');
    await expect(report).toContainText('New classes: sand, water, disc, square, triangle');
    await expect(page.getByTestId('import-skipped')).toContainText('broken.png');
    await dialog.getByRole('button', { name: 'Done' }).click();
    await expect(dialog).toBeHidden();

    await expect(page.getByTestId('image-count')).toHaveText('6 images');
    await expect(page.getByTestId('labelled-count')).toHaveText('2 labelled');
    await expect(page.getByTestId('image-card')).toHaveCount(6);
    await expectThumbnailsLoaded(page, 6);
    await expect(page.getByTestId('class-item')).toHaveCount(5);

    // Importing again adds nothing: the images are recognised.
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-button').click();
    await expect(page.getByTestId('import-report')).toContainText('Imported 0 images');
    await expect(page.getByTestId('import-report')).toContainText('6 images were already in the project');
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();

    // Back in the picker, the project is the most recent one.
    await page.getByTestId('switch-project').click();
    await expect(page.getByTestId('recent-list').getByRole('button').first()).toContainText(projectDir);
    const info = await app.call<AppInfo>('app.info');
    expect(info.recent[0]).toBe(projectDir);
    await page.keyboard.press('Escape');
    await expect(page.getByTestId('project-title')).toHaveText('my-shapes');
  });

  test('opens the demo project and scrolls its grid', async ({ page, heatseg }, testInfo) => {
    const app = await heatseg.start({ project: null });
    await page.goto(app.url);
    await page.getByTestId('demo-button').click();
    await expect(page.getByTestId('project-title')).toHaveText('demo-project', { timeout: 20_000 });
    expect(fs.existsSync(process.env.HEATSEG_DEMO_DIR!)).toBe(true);
    await expect(page.getByTestId('image-count')).toHaveText('48 images');
    await expect(page.getByTestId('labelled-count')).toHaveText('8 labelled');
    await expect(page.getByTestId('class-item')).toHaveCount(5);

    // Only the rows on screen (plus a little overscan) are in the DOM.
    const cards = page.getByTestId('image-card');
    await expect(cards.first()).toBeVisible();
    const rendered = await cards.count();
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(48);
    await expectThumbnailsLoaded(page, rendered);
    await expect(page.getByTestId('label-badge').first()).toBeVisible();

    const shot = process.env.HEATSEG_E2E_SCREENSHOT ?? testInfo.outputPath('demo-grid.png');
    await page.screenshot({ path: shot });

    // Keyboard: End jumps to the last image, which the grid scrolls into view.
    await cards.first().locator('[data-focus-target]').focus();
    await page.keyboard.press('End');
    await expect(page.locator('[data-testid="image-card"][data-index="47"] [data-focus-target]')).toBeFocused();
    await expect(page.locator('[data-testid="image-card"][data-index="0"]')).toHaveCount(0);
  });
});
