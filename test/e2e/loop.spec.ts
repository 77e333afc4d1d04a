/**
 * The loop, end to end in browser mode: train from the Train panel (the state machine and loss
 * curves live), overlay the predicted mask on a scribbled image, accept the prediction as labels
 * (one undo step), and let active learning pick the next image to label.
 */
import fs from 'node:fs';
import type { ImageSummary, LabelRasterWire, PredictionWire, RunInfo } from '../../src-shared/api';
import { decompressRaster, fromBase64 } from '../../src-shared/labels';
import { tagTrust } from '../../src-shared/tag-trust';
import { expect, test } from './fixtures';

/** Screenshots for a person to look at (HEATSEG_E2E_SHOTS=folder); skipped otherwise. */
const SHOTS = process.env.HEATSEG_E2E_SHOTS;
function shot(name: string): { path: string } | undefined {
  if (!SHOTS) return undefined;
  fs.mkdirSync(SHOTS, { recursive: true });
  return { path: `${SHOTS}/${name}.png` };
}

function labelsOf(wire: LabelRasterWire): Uint8Array {
  return wire.revision === 0 ? new Uint8Array(wire.width * wire.height) : decompressRaster(fromBase64(wire.data), wire.width, wire.height);
}

test('train, watch it live, overlay the prediction, accept it, and open the next suggested image', async ({ page, heatseg }) => {
  test.setTimeout(240_000);
  // Ten 48×40 shapes images, all tagged, four of them with scribbles.
  const source = await heatseg.shapes({ count: 10, width: 48, height: 40, masks: 'scribbles', maskedImages: 4 });
  const app = await heatseg.start();
  await app.call('images.import', { source });
  const { items } = await app.call<{ items: ImageSummary[] }>('images.list', { limit: 100 });
  expect(items.filter((i) => i.labelledPixels > 0)).toHaveLength(4);
  expect(items.every((i) => i.tags.length > 0)).toBe(true);

  await page.goto(app.url);
  await expect(page.getByTestId('image-card')).toHaveCount(10);

  // Before any run: no model, so N explains instead of failing.
  await page.keyboard.press('n');
  await expect(page.getByTestId('loop-message')).toContainText('No trained model yet');

  // ---- Train ----
  await page.getByTestId('train-open').click();
  const panel = page.getByTestId('train-panel');
  await expect(panel).toBeVisible();
  const state = page.getByTestId('train-state');
  await expect(state).toHaveAttribute('data-state', 'idle');
  await expect(page.getByTestId('train-method')).toHaveValue('lrp');
  await expect(page.getByTestId('train-epochs')).toHaveValue('20');
  await expect(page.getByTestId('train-size')).toHaveValue('128');
  await expect(page.getByTestId('train-backbone-darknet')).toBeChecked();
  // A size that is no multiple of 16 is refused before it reaches the server.
  await page.getByTestId('train-size').fill('40');
  await expect(page.getByTestId('train-start')).toBeDisabled();
  await page.getByTestId('train-size').fill('32');
  await page.getByTestId('train-epochs').fill('4');

  // Every state the panel shows, in order (a fast step could slip between two polls).
  await state.evaluate((el) => {
    const seen: string[] = [el.getAttribute('data-state') ?? ''];
    (window as unknown as { trainStates: string[] }).trainStates = seen;
    new MutationObserver(() => {
      const s = el.getAttribute('data-state') ?? '';
      if (seen[seen.length - 1] !== s) seen.push(s);
    }).observe(el, { attributes: true, attributeFilter: ['data-state'] });
  });
  await page.getByTestId('train-start').click();
  await expect(page.getByTestId('train-cancel')).toBeVisible();
  await expect(page.getByTestId('train-epochs')).toBeDisabled();
  // Live: epochs of 4, loss curves growing, the uniform-guess line, the backend.
  await expect(state).toContainText(/Epoch \d\/4|Done/, { timeout: 90_000 });
  await expect.poll(async () => Number(await page.getByTestId('loss-chart').getAttribute('data-points')), { timeout: 90_000 }).toBeGreaterThan(2);
  await expect(page.getByTestId('train-backend-used')).not.toHaveText('–');
  await expect(page.getByTestId('train-threads')).toHaveText(/^\d+$/); // data-parallel threads (default: physical cores)
  if ((await state.getAttribute('data-state')) === 'training') await page.screenshot(shot('train-panel-training'));
  await expect(state).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  const states = await page.evaluate(() => (window as unknown as { trainStates: string[] }).trainStates);
  expect(states[0]).toBe('idle');
  expect(states).toContain('training');
  expect(states[states.length - 1]).toBe('done');
  await expect(state).toContainText('Done');
  await expect(page.getByTestId('train-badge')).toHaveText('done');
  await expect(page.getByTestId('heat-curve')).toHaveCount(1);
  await expect(page.getByTestId('tag-curve')).toHaveCount(1);
  await expect(page.getByTestId('uniform-line')).toHaveCount(1);
  const runs = await app.call<RunInfo[]>('runs.list');
  expect(runs[0]!.status).toBe('completed');
  const run = page.locator(`[data-testid="run-item"][data-run-id="${runs[0]!.id}"]`);
  await expect(run).toHaveAttribute('data-status', 'completed');
  await expect(run).toContainText('current model');
  await page.screenshot(shot('train-panel-done'));

  // ---- Evaluation view: per-class IoU and a confusion matrix whose cells open the images ----
  await page.getByTestId('drawer-tab-eval').click();
  await page.getByTestId('eval-run').click();
  await expect(page.getByTestId('eval-summary')).toBeVisible({ timeout: 90_000 });
  const report = await app.call<{ miou: number; confusion: number[][]; scope: string }>('eval.run');
  await expect(page.getByTestId('eval-miou')).toHaveText((report.miou * 100).toFixed(1));
  // 4 labelled images (< 5): none held out, and the panel says the score is the training set's.
  expect(report.scope).toBe('training');
  await expect(page.getByTestId('eval-scope')).toHaveAttribute('data-scope', 'training');
  await expect(page.getByTestId('eval-scope')).toContainText('Training-set score');
  const cells = page.locator('[data-testid="eval-cell"]:not([disabled])');
  expect(await cells.count()).toBeGreaterThan(0);
  const first = cells.first();
  const [t, p] = [Number(await first.getAttribute('data-truth')), Number(await first.getAttribute('data-predicted'))];
  expect(report.confusion[t]![p]).toBeGreaterThan(0);
  await first.click();
  const cellImage = page.getByTestId('eval-cell-image').first();
  await expect(cellImage).toBeVisible();
  const evalImageId = Number(await cellImage.getAttribute('data-image-id'));
  expect(items.find((i) => i.id === evalImageId)!.labelledPixels).toBeGreaterThan(0);
  await page.screenshot(shot('eval-panel'));
  await cellImage.click();
  await expect(page.getByTestId('label-canvas')).toHaveAttribute('data-image-id', String(evalImageId));
  await page.getByTestId('back-button').click();
  await page.getByTestId('drawer-tab-train').click();

  await page.getByTestId('drawer-close').click();
  await expect(page.getByTestId('loop-drawer')).toHaveCount(0);

  // ---- Overlay on a scribbled image ----
  const scribbled = items.find((i) => i.labelledPixels > 0)!;
  await page.locator(`[data-testid="image-card"][data-image-id="${scribbled.id}"] [data-focus-target]`).click();
  const canvas = page.getByTestId('label-canvas');
  await expect(canvas).toHaveAttribute('data-state', 'ready');
  const predPanel = page.getByTestId('prediction-panel');
  await expect(predPanel).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await expect(canvas).toHaveAttribute('data-overlays', '');
  await page.keyboard.press('m');
  await expect(canvas).toHaveAttribute('data-overlays', 'mask');
  await expect(page.getByTestId('overlay-mask')).toBeChecked();
  await page.keyboard.press('h');
  await expect(canvas).toHaveAttribute('data-overlays', 'heatmap mask');
  await page.getByTestId('overlay-mask').uncheck();
  await expect(canvas).toHaveAttribute('data-overlays', 'heatmap');
  await page.screenshot(shot('overlay-heatmap'));
  await page.getByTestId('overlay-mask').check();
  await page.keyboard.press('h');
  await expect(canvas).toHaveAttribute('data-overlays', 'mask');
  // Tag probabilities beside the tags, one per class, disagreements flagged by the rule.
  const probs = page.getByTestId('tag-prob');
  await expect(probs).toHaveCount(5);

  const pred = await app.call<PredictionWire>('predictions.get', { imageId: scribbled.id });
  expect([pred.width, pred.height]).toEqual([48, 40]);
  // Fixes are offered only when the run's tag head beat the image-blind guess; otherwise the panel says why.
  const trust = tagTrust(runs[0]!.metrics);
  if (trust.trusted) await expect(page.getByTestId('tag-fixes-hidden')).toHaveCount(0);
  else await expect(page.getByTestId('tag-fixes-hidden')).toContainText('Tag fixes are hidden');
  for (const [classId, p] of Object.entries(pred.tagProbs)) {
    const tagged = scribbled.tags.includes(Number(classId));
    const expected = !trust.trusted ? '' : p >= 0.5 && !tagged ? 'untagged-but-predicted' : p < 0.5 && tagged ? 'tagged-but-unlikely' : '';
    await expect(page.locator(`[data-testid="tag-prob"][data-class-id="${classId}"]`)).toHaveAttribute('data-flag', expected);
  }
  // The predicted mask agrees with the scribbles on most scribbled pixels.
  const mask = decompressRaster(fromBase64(pred.mask), pred.width, pred.height);
  const scribbles = labelsOf(await app.call<LabelRasterWire>('labels.get', { imageId: scribbled.id }));
  let labelled = 0;
  let agree = 0;
  scribbles.forEach((v, i) => {
    if (!v) return;
    labelled++;
    if (mask[i] === v) agree++;
  });
  expect(labelled).toBe(scribbled.labelledPixels);
  expect(agree / labelled).toBeGreaterThan(0.5);
  // The overlay is drawn: the canvas shows the predicted class colours over the image.
  await page.screenshot(shot('overlay-mask'));

  // ---- Accept the prediction: labels the unlabelled pixels, keeps the scribbles, one undo step ----
  await page.getByTestId('accept-prediction').click();
  await expect(page.getByTestId('canvas-message')).toContainText('Labelled');
  const predictedPixels = mask.reduce((n, v) => n + (v ? 1 : 0), 0);
  await expect
    .poll(async () => (await app.call<ImageSummary>('images.get', { id: scribbled.id })).labelledPixels)
    .toBeGreaterThanOrEqual(predictedPixels);
  const accepted = labelsOf(await app.call<LabelRasterWire>('labels.get', { imageId: scribbled.id }));
  scribbles.forEach((v, i) => {
    if (v && accepted[i] !== v) throw new Error(`pixel ${i}: scribble ${v} became ${accepted[i]}`);
    if (!v && mask[i] && accepted[i] !== mask[i]) throw new Error(`pixel ${i}: predicted ${mask[i]} but labelled ${accepted[i]}`);
  });
  await expect(canvas).toHaveAttribute('data-labelled', String(await app.call<ImageSummary>('images.get', { id: scribbled.id }).then((i) => i.labelledPixels)));
  await page.screenshot(shot('accepted'));
  await page.getByTestId('undo').click();
  await expect
    .poll(async () => (await app.call<ImageSummary>('images.get', { id: scribbled.id })).labelledPixels)
    .toBe(scribbled.labelledPixels);
  await expect(canvas).toHaveAttribute('data-labelled', String(scribbled.labelledPixels));

  // ---- Active learning: the next suggested image has no pixel labels ----
  await page.getByTestId('next-suggested').click();
  // (the message goes by itself after a few seconds: looked for first)
  await expect(page.getByTestId('loop-message')).toContainText('Suggested', { timeout: 60_000 });
  await expect(canvas).not.toHaveAttribute('data-image-id', String(scribbled.id), { timeout: 60_000 });
  await expect(canvas).toHaveAttribute('data-state', 'ready');
  const nextId = Number(await canvas.getAttribute('data-image-id'));
  expect((await app.call<ImageSummary>('images.get', { id: nextId })).labelledPixels).toBe(0);
  await expect(page.getByTestId('image-labelled')).toContainText('No pixel labels');

  // The queue lists the ranking with scores and reasons; N from the keyboard moves on to another one.
  await page.getByTestId('train-open').click();
  await page.getByTestId('drawer-tab-queue').click();
  const list = page.getByTestId('suggest-item');
  await expect(list.first()).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('suggest-strategy')).toHaveValue('coverage');
  const listed = await list.evaluateAll((els) => els.map((el) => Number((el as HTMLElement).dataset.imageId)));
  expect(listed.length).toBe(6);
  for (const id of listed) expect(items.find((i) => i.id === id)!.labelledPixels).toBe(0);
  await page.screenshot(shot('suggest-queue'));
  await page.getByTestId('back-button').focus();
  await page.keyboard.press('n');
  await expect(canvas).not.toHaveAttribute('data-image-id', String(nextId), { timeout: 60_000 });
  const third = Number(await canvas.getAttribute('data-image-id'));
  expect(listed).toContain(third);
  // N again: the next image of the same ranking, without ranking every image again
  let rankings = 0;
  const countRankings = (req: { url(): string }) => void (req.url().endsWith('/api/suggest.list') && rankings++);
  page.on('request', countRankings);
  await page.getByTestId('back-button').focus();
  await page.keyboard.press('n');
  await expect(canvas).not.toHaveAttribute('data-image-id', String(third), { timeout: 60_000 });
  const fourth = Number(await canvas.getAttribute('data-image-id'));
  expect(listed).toContain(fourth);
  expect(rankings).toBe(0);
  page.off('request', countRankings);

  // The help overlay lists the loop's keys.
  await page.keyboard.press('?');
  await expect(page.getByTestId('help-dialog').getByTestId('loop-shortcut')).toHaveCount(3);
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('help-dialog')).not.toBeVisible();

  // ---- A second, long run, cancelled midway: the completed run stays the model ----
  await page.getByTestId('drawer-tab-train').click();
  await expect(state).toHaveAttribute('data-state', 'done');
  await page.getByTestId('train-epochs').fill('500');
  await page.getByTestId('train-start').click();
  await expect(state).toHaveAttribute('data-state', 'training', { timeout: 90_000 });
  await expect(state).toContainText(/Epoch \d+\/500/);
  await expect.poll(async () => Number(await page.getByTestId('loss-chart').getAttribute('data-points')), { timeout: 60_000 }).toBeGreaterThan(3);
  await expect(page.getByTestId('train-eta')).not.toHaveText('–');
  await expect(page.getByTestId('train-speed')).toContainText('images/s');
  await expect(page.getByTestId('train-badge')).toHaveText(/\d+\/500/);
  await page.screenshot(shot('train-panel-training'));
  await page.getByTestId('train-cancel').click();
  await expect(state).toHaveAttribute('data-state', 'cancelled', { timeout: 60_000 });
  await expect(page.getByTestId('train-start')).toBeEnabled();
  const second = runs[0]!.id + 1;
  await expect(page.locator(`[data-testid="run-item"][data-run-id="${second}"]`)).toHaveAttribute('data-status', 'cancelled');
  await expect(page.locator(`[data-testid="run-item"][data-run-id="${runs[0]!.id}"]`)).toContainText('current model');
  await page.screenshot(shot('train-panel-cancelled'));
});
