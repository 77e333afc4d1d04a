/**
 * The demo, timed from the Train button (issue 5): browser mode with the real server in this
 * process and Debian Chromium, on a fresh copy of the built-in demo project (48 synthetic shapes
 * images, all tagged, 8 with scribbles). It clicks "Open the demo project", opens the Train panel,
 * clicks Start with the panel's defaults, and measures:
 *   - train_s: the click on Start to the panel showing "done" (the worker trained, saved the model
 *     and the run row; the panel heard of it through the event stream);
 *   - frames while training: the page's requestAnimationFrame intervals from Start to done
 *     (the UI thread must stay responsive: max, p99, and how many exceeded 50 ms);
 *   - whether it is visibly correct: the trained model's mIoU (and pixel accuracy) on all 48
 *     demo images against their full ground-truth masks (regenerated from the demo's seed), by
 *     the same evaluation `heatseg eval` runs; and, with --shot FILE, a screenshot of the
 *     predicted-mask overlay on a scribbled image.
 * Prints its configuration first and ends with one JSON line.
 *
 *   npx tsx bench/demo.ts [--renderer DIR] [--shot FILE]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { RecentProjects } from '../src-main/api/recent.js';
import { writeShapesDataset } from '../src-main/demo/shapes.js';
import { startJob } from '../src-main/engine/client.js';
import { startServer } from '../src-main/server/http.js';
import { arg, buildRenderer, launchChromium, machineLine, quantile, r1 } from './browser.js';

const VIEWPORT = { width: 1280, height: 800 };
/** The demo's generator settings (src-main/demo/demo.ts): the same seed gives the same images. */
const DEMO = { count: 48, seed: 7 };

/** Records every animation-frame interval from now on (window.__frames). */
async function watchFrames(page: Page): Promise<void> {
  // A string: tsx would wrap named functions in a helper the page does not have.
  await page.evaluate(`(() => {
    window.__frames = [];
    window.__framesOn = true;
    let last = performance.now();
    const tick = (t) => {
      if (!window.__framesOn) return;
      window.__frames.push(t - last);
      last = t;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame((t) => {
      last = t;
      requestAnimationFrame(tick);
    });
  })()`);
}

async function main(): Promise<void> {
  const shotFile = arg('shot', '');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-bench-demo-'));
  process.env.HEATSEG_CONFIG_DIR = path.join(root, 'config');
  process.env.HEATSEG_DEMO_DIR = path.join(root, 'demo-project');
  const renderer = buildRenderer();
  const server = await startServer({ store: null, rendererDir: renderer.dir, recent: new RecentProjects(path.join(root, 'recent.json')) });
  const browser = await launchChromium();
  console.log('heatseg demo benchmark (bench/demo.ts): the demo project trained from the Train button with its defaults');
  console.log(machineLine());
  console.log(`node ${process.version}; browser: Chromium ${browser.version()} (headless, --disable-gpu); viewport ${VIEWPORT.width}×${VIEWPORT.height}`);
  try {
    const page = await browser.newPage({ viewport: VIEWPORT });
    page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    await page.goto(server.url);
    await page.getByTestId('demo-button').click();
    await page.getByTestId('project-title').filter({ hasText: 'demo-project' }).waitFor({ timeout: 120_000 });
    const summary = server.session.project.summary();
    console.log(`demo project: ${summary.images} images, ${summary.taggedImages} tagged, ${summary.labelledImages} with scribbles, classes ${summary.classes.map((c) => c.name).join(', ')}`);

    await page.getByTestId('train-open').click();
    const form = {
      method: await page.getByTestId('train-method').inputValue(),
      epochs: await page.getByTestId('train-epochs').inputValue(),
      size: await page.getByTestId('train-size').inputValue(),
      backbone: (await page.getByTestId('train-backbone-darknet').isChecked()) ? 'darknet-tiny' : (await page.getByTestId('train-backbone-small').isChecked()) ? 'small' : 'folder',
    };
    console.log(`Train panel defaults: ${JSON.stringify(form)}`);
    const state = page.getByTestId('train-state');
    await watchFrames(page);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await page.getByTestId('train-start').click();
    let firstEpochS: number | null = null;
    for (;;) {
      const s = await state.getAttribute('data-state');
      if (firstEpochS === null && /Epoch [2-9]|Epoch \d\d/.test((await state.textContent()) ?? '')) firstEpochS = (performance.now() - t0) / 1000;
      if (s === 'done') break;
      if (s === 'failed' || s === 'cancelled') throw new Error(`training ended ${s}: ${await state.textContent()}`);
      if (performance.now() - t0 > 20 * 60_000) throw new Error('training did not finish within 20 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const trainS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const frames = await page.evaluate(() => {
      const w = window as unknown as { __frames: number[]; __framesOn: boolean };
      w.__framesOn = false;
      return w.__frames;
    });
    const backend = (await page.getByTestId('train-backend-used').textContent())?.trim() ?? '?';
    console.log(`Start → done: ${r1(trainS)} s (first epoch over after ${firstEpochS === null ? '–' : r1(firstEpochS)} s); backend ${backend}`);
    console.log(`server process CPU while training: ${r1((cpu.user + cpu.system) / 1e6)} s (the worker thread's included)`);
    const over50 = frames.filter((f) => f > 50).length;
    console.log(
      `frames while training: ${frames.length}, interval median ${r1(quantile(frames, 0.5))} ms, p99 ${r1(quantile(frames, 0.99))} ms, max ${r1(Math.max(...frames))} ms, over 50 ms: ${over50}`,
    );

    if (shotFile) {
      // A scribbled image with the predicted mask over it.
      await page.keyboard.press('Escape');
      const store = server.session.project;
      const scribbled = store.listImages({ offset: 0, limit: 100 }).items.find((i) => i.labelledPixels > 0)!;
      await page.locator(`[data-testid="image-card"][data-image-id="${scribbled.id}"] [data-focus-target]`).click();
      await page.locator('[data-testid="label-canvas"][data-state="ready"]').waitFor();
      await page.locator('[data-testid="prediction-panel"][data-state="ready"]').waitFor({ timeout: 120_000 });
      await page.keyboard.press('m');
      await page.locator('[data-testid="label-canvas"][data-overlays="mask"]').waitFor();
      await page.waitForTimeout(300);
      fs.mkdirSync(path.dirname(path.resolve(shotFile)), { recursive: true });
      await page.screenshot({ path: shotFile });
      console.log(`screenshot: ${path.resolve(shotFile)}`);
    }

    // Visibly correct? The trained model against the full truth of all demo images.
    const store = server.session.project;
    const run = store.latestCompletedRun();
    if (!run?.checkpoint_dir) throw new Error('no completed run with a model');
    const truth = path.join(root, 'truth');
    await writeShapesDataset(truth, { ...DEMO, masks: 'dense' });
    const job = startJob({ kind: 'eval', model: path.join(store.dir, run.checkpoint_dir), data: truth });
    const ev = await job.result;
    const m = ev.metrics;
    console.log(
      `run ${run.id} (${run.method}) on all ${ev.images} demo images against full masks: mIoU ${m.predicted.miou.toFixed(3)} (with the given tags ${m.givenTags?.miou.toFixed(3) ?? '–'}), pixel accuracy ${m.predicted.pixelAccuracy.toFixed(3)}, tag accuracy ${m.tagAccuracy?.toFixed(3) ?? '–'}`,
    );
    for (const [name, iou] of Object.entries(m.predicted.perClass)) console.log(`  ${name.padEnd(8)} IoU ${iou === null ? '–' : iou.toFixed(3)}`);
    console.log(
      JSON.stringify({
        train_s: r1(trainS),
        backend,
        method: run.method,
        epochs: Number(form.epochs),
        size: Number(form.size),
        frames: frames.length,
        frame_ms_p99: r1(quantile(frames, 0.99)),
        frame_ms_max: r1(Math.max(...frames)),
        frames_over_50ms: over50,
        miou: Number(m.predicted.miou.toFixed(4)),
        pixel_accuracy: Number(m.predicted.pixelAccuracy.toFixed(4)),
      }),
    );
  } finally {
    await browser.close();
    await server.close();
    renderer.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
