/**
 * State that must survive, or must not leak across, the things a session goes through: switching
 * projects (training state is per project), a server restart under an open tab (unsaved strokes
 * are kept and land after signing in again), reloads and back/forward (the open image is in the
 * URL).
 */
import path from 'node:path';
import type { TrainStatus } from '../../src-shared/api';
import { expect, test } from './fixtures';

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
