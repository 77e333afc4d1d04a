/**
 * UI benchmark of the annotation workbench in browser mode (real server in this process, Debian
 * Chromium through playwright-core), on a project with one 4096×4096 image:
 *   - event_ms: pointer-to-paint latency per pointermove while brushing long strokes, measured in
 *     the page: from the start of the event's dispatch (a capturing window listener, which runs
 *     before the canvas's own handler) to the end of the animation frame that shows it (a rAF
 *     callback queued after the canvas's, so it runs once the label layer is drawn).
 *     Median and p95 over all events; the handler-only time is printed too.
 *   - durable_ms: pointer-up to the save indicator showing "saved", which it does only once the
 *     server has confirmed the patch (committed to SQLite). Median over strokes (max printed).
 *   - open_4096_ms: click on the card to the first frame with image and labels (median of 3).
 *   - grid_scroll_ms: a 10,000-image grid (list, summary and thumbnails answered by stubs, as in
 *     test/e2e/scale.spec.ts): median time per one-screen scroll step until every visible card
 *     shows its image's name (p95 and a jump to the middle printed too).
 * Prints its configuration first and ends with one JSON line.
 *
 *   npx tsx bench/ui.ts [--renderer DIR] [--strokes N] [--moves N]
 * (--renderer: an existing renderer build, e.g. out/renderer; default: build one into a temp folder.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import type { ClassInfo, ImagePage, ProjectSummary } from '../src-shared/api.js';
import { RecentProjects } from '../src-main/api/recent.js';
import { startServer } from '../src-main/server/http.js';
import { ProjectStore } from '../src-main/store/project.js';
import { STUB_ROUTE, stubLargeGrid } from './stub-grid.js';
import { CHROMIUM, arg, buildRenderer, launchChromium, machineLine, median, quantile, r1 } from './browser.js';

const VIEWPORT = { width: 1280, height: 800 };
const SIZE = 4096;
const GRID_TOTAL = 10_000;

/** A 4096×4096 JPEG with structure (gradients, discs), like a large photo or scan. */
async function bigImage(file: string): Promise<void> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#2a4d7a"/><stop offset="1" stop-color="#c9a45a"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    ${Array.from({ length: 40 }, (_, i) => `<circle cx="${(i * 977) % SIZE}" cy="${(i * 1543) % SIZE}" r="${80 + ((i * 37) % 300)}" fill="hsl(${(i * 47) % 360},60%,50%)"/>`).join('')}
  </svg>`;
  await sharp(Buffer.from(svg)).jpeg({ quality: 88 }).toFile(file);
}

/** In-page instrumentation: per pointermove, dispatch start → handlers done → the frame that paints it; pointerup → saved. */
async function instrument(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as {
      __bench: {
        events: Array<{ handler: number; paint: number }>;
        durable: number[];
        up: number | null;
        /** Per stroke, ms after pointer-up: the labels.patch request leaves, its response arrives. */
        phases: Array<{ sent: number; answered: number }>;
        cur: { sent: number; answered: number } | null;
      };
    };
    w.__bench = { events: [], durable: [], up: null, phases: [], cur: null };
    const fetch0 = window.fetch.bind(window);
    window.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
      const isPatch = String(input instanceof Request ? input.url : input).endsWith('/api/labels.patch');
      const up = w.__bench.up;
      const sent = performance.now();
      const res = await fetch0(input, init);
      if (isPatch && up !== null) w.__bench.cur = { sent: sent - up, answered: performance.now() - up };
      return res;
    };
    let start = 0;
    window.addEventListener('pointermove', (e) => e.buttons && (start = performance.now()), { capture: true });
    window.addEventListener('pointermove', (e) => {
      if (!e.buttons) return;
      const t0 = start;
      const handled = performance.now();
      requestAnimationFrame(() => w.__bench.events.push({ handler: handled - t0, paint: performance.now() - t0 }));
    });
    window.addEventListener('pointerup', () => (w.__bench.up = performance.now()), { capture: true });
    const status = document.querySelector('[data-testid="save-status"]')!;
    new MutationObserver(() => {
      if (status.getAttribute('data-state') === 'saved' && status.getAttribute('data-pending') === '0' && w.__bench.up !== null) {
        w.__bench.durable.push(performance.now() - w.__bench.up);
        w.__bench.phases.push(w.__bench.cur ?? { sent: NaN, answered: NaN });
        w.__bench.up = null;
        w.__bench.cur = null;
      }
    }).observe(status, { attributes: true });
  });
}

async function openTimed(page: Page, imageId: number): Promise<number> {
  return page.evaluate(async (id) => {
    const t0 = performance.now();
    performance.mark('heatseg.open.click');
    (document.querySelector(`[data-testid="image-card"][data-image-id="${id}"] [data-focus-target]`) as HTMLElement).click();
    for (;;) {
      await new Promise((r) => requestAnimationFrame(r));
      if (document.querySelector('[data-testid="label-canvas"][data-state="ready"]')) break;
    }
    // The frame after "ready" is the first one with the stage drawn.
    await new Promise((r) => requestAnimationFrame(r));
    performance.mark('heatseg.open.frame');
    return performance.now() - t0;
  }, imageId);
}

async function brushStrokes(page: Page, strokes: number, moves: number): Promise<void> {
  const box = (await page.getByTestId('stage-host').boundingBox())!;
  for (let s = 0; s < strokes; s++) {
    // A long sweep across most of the view: a sine wave, left to right or back.
    const y0 = box.y + box.height * (0.2 + (0.6 * s) / Math.max(1, strokes - 1));
    const at = (k: number) => {
      const t = k / moves;
      const x = box.x + box.width * (s % 2 ? 0.9 - 0.8 * t : 0.1 + 0.8 * t);
      return { x, y: y0 + Math.sin(t * Math.PI * 4) * box.height * 0.08 };
    };
    await page.mouse.move(at(0).x, at(0).y);
    await page.mouse.down();
    for (let k = 1; k <= moves; k++) await page.mouse.move(at(k).x, at(k).y);
    await page.mouse.up();
    await page.locator('[data-testid="save-status"][data-state="saved"][data-pending="0"]').waitFor({ timeout: 30_000 });
  }
}

async function gridScroll(page: Page, url: string, real: ProjectSummary): Promise<{ median: number; p95: number; jump: number; steps: number }> {
  await stubLargeGrid(page, { total: GRID_TOTAL, real, thumb: { width: 256, height: 192, format: 'webp' } });
  await page.goto(url);
  await page.locator('[data-testid="image-card"][data-index="0"]').waitFor();
  const steps = Number(arg('grid-steps', '40'));
  // No named functions inside evaluate: tsx (esbuild keepNames) would wrap them in a helper the page lacks.
  const result = await page.evaluate(async (n) => {
    const grid = document.querySelector('[data-testid="image-grid"]') as HTMLElement;
    const times: number[] = [];
    let jump = 0;
    for (let k = 0; k <= n; k++) {
      const t0 = performance.now();
      if (k < n) grid.scrollTop += grid.clientHeight;
      else grid.scrollTop = grid.scrollHeight / 2;
      // Until every card in view shows its item (no loading placeholder on screen).
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        const view = grid.getBoundingClientRect();
        const waiting = [...grid.querySelectorAll('.placeholder')].some((p) => {
          const b = p.getBoundingClientRect();
          return b.bottom > view.top && b.top < view.bottom;
        });
        if (!waiting && grid.querySelector('[data-testid="image-card"]')) break;
      }
      if (k < n) times.push(performance.now() - t0);
      else jump = performance.now() - t0;
    }
    return { times, jump };
  }, steps);
  await page.unroute(STUB_ROUTE);
  return { median: median(result.times), p95: quantile(result.times, 0.95), jump: result.jump, steps };
}

/** Memory of Chromium's renderer processes (MB): proportional set size (shared pages split between the processes that map them), from /proc (Linux). */
function rendererRssMb(): number | null {
  if (process.platform !== 'linux') return null;
  let kb = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('--type=renderer')) continue;
      const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // the process ended meanwhile
    }
  }
  return kb / 1024;
}

/**
 * A real 10,000-image project (rows in SQLite with their thumbnails, served by the real server, no
 * stubs): time from navigation to the first screen of cards with thumbnails, and the renderer's
 * memory after scrolling through the whole grid.
 */
async function realTenThousand(root: string, rendererDir: string): Promise<{ openMs: number; heapMb: number; rssOpenMb: number | null; rssMb: number | null }> {
  const store = ProjectStore.create(path.join(root, 'project-10k'));
  const cls = store.addClass('cat');
  const thumb = await sharp({ create: { width: 256, height: 192, channels: 3, background: '#3060a0' } }).webp().toBuffer();
  store.db.transaction(() => {
    for (let i = 0; i < GRID_TOTAL; i++) {
      const name = `img_${String(i).padStart(5, '0')}.jpg`;
      store.addImage({ hash: `h${i}`, fileName: `${name}`, originalName: name, width: 640, height: 480, thumbnail: thumb }, i % 2 ? [cls.id] : [], null);
    }
  })();
  const server = await startServer({ store, rendererDir, recent: new RecentProjects(path.join(root, 'recent-10k.json')) });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: VIEWPORT });
    const t0 = performance.now();
    await page.goto(server.url);
    const navMs = performance.now() - t0;
    await page.locator('[data-testid="image-card"]').first().waitFor();
    const cardsMs = performance.now() - t0;
    await page.locator('[data-testid="image-card"] img').first().waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="image-card"] img')].every((i) => (i as HTMLImageElement).complete));
    const openMs = performance.now() - t0;
    console.log(`  10k project: page loaded ${r1(navMs)} ms, first cards ${r1(cardsMs)} ms, thumbnails shown ${r1(openMs)} ms after navigation`);
    const rssOpen = rendererRssMb();
    // scroll through everything, a screen at a time, as a person skimming the grid would
    await page.getByTestId('image-grid').evaluate(async (el) => {
      while (el.scrollTop + el.clientHeight < el.scrollHeight - 1) {
        el.scrollTop += el.clientHeight * 4;
        await new Promise((r) => setTimeout(r, 16));
      }
    });
    await page.locator('[data-testid="image-card"][data-index="9999"]').waitFor();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('Performance.enable');
    const { metrics } = await cdp.send('Performance.getMetrics');
    const heap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? NaN;
    return { openMs, heapMb: heap / 2 ** 20, rssOpenMb: rssOpen, rssMb: rendererRssMb() };
  } finally {
    await browser.close();
    await server.close();
  }
}

async function main(): Promise<void> {
  const strokes = Number(arg('strokes', '6'));
  const moves = Number(arg('moves', '150'));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-bench-ui-'));
  process.env.HEATSEG_CONFIG_DIR = path.join(root, 'config');
  const t0 = performance.now();
  const renderer = buildRenderer();
  const src = path.join(root, 'images');
  fs.mkdirSync(src);
  await bigImage(path.join(src, 'big_4096.jpg'));
  const store = ProjectStore.create(path.join(root, 'project'));
  const server = await startServer({ store, rendererDir: renderer.dir, recent: new RecentProjects(path.join(root, 'recent.json')) });
  const call = <T>(m: string, input: unknown) => server.session.dispatch(m as never, input) as Promise<T>;
  await call('images.import', { source: src, masks: false, labels: false });
  await call<ClassInfo>('classes.add', { name: 'cat' });
  await call<ClassInfo>('classes.add', { name: 'dog' });
  const image = (await call<ImagePage>('images.list', { limit: 1 })).items[0]!;
  const browser = await launchChromium();
  console.log('heatseg UI benchmark (bench/ui.ts)');
  console.log(machineLine());
  console.log(`node ${process.version}; browser: Chromium ${browser.version()} (${CHROMIUM}, headless, software rendering: --disable-gpu)`);
  console.log(`viewport ${VIEWPORT.width}×${VIEWPORT.height} @1x; image ${image.width}×${image.height} JPEG; label raster uint8 ${image.width * image.height} px`);
  console.log(`strokes: ${strokes} long sweeps × ${moves} pointer moves at fit zoom, then ${strokes} more at 1:1; setup ${r1((performance.now() - t0) / 1000)} s`);

  const page = await browser.newPage({ viewport: VIEWPORT });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(server.url);
  await page.locator(`[data-testid="image-card"][data-image-id="${image.id}"]`).waitFor();

  // Opening the 4096×4096 image: three times (back to the grid in between).
  const opens: number[] = [];
  const phases: string[] = [];
  for (let i = 0; i < 3; i++) {
    opens.push(await openTimed(page, image.id));
    phases.push(
      await page.evaluate(() => {
        const marks = performance.getEntriesByType('mark').filter((m) => m.name.startsWith('heatseg.open.'));
        const start = marks.filter((m) => m.name === 'heatseg.open.click').pop()!;
        const last = marks.filter((m) => m.startTime >= start.startTime);
        performance.clearMarks();
        return last.map((m) => `${m.name.slice('heatseg.open.'.length)} +${Math.round(m.startTime - start.startTime)}`).join(', ');
      }),
    );
    if (i < 2) {
      await page.keyboard.press('Escape');
      await page.getByTestId('image-grid').waitFor();
    }
  }
  await instrument(page);
  // Fit zoom, a big brush: each event covers many image pixels.
  for (let i = 0; i < 6; i++) await page.keyboard.press(']');
  const fitSize = await page.getByTestId('size-label').textContent();
  await brushStrokes(page, strokes, moves);
  const fitEvents = await page.evaluate(() => (window as unknown as { __bench: { events: unknown[] } }).__bench.events.length);
  // Actual pixels (1:1): the label layer redraws a full view of the raster at full resolution.
  await page.keyboard.press('a');
  await page.keyboard.press('2');
  for (let i = 0; i < 5; i++) await page.keyboard.press('[');
  const oneSize = await page.getByTestId('size-label').textContent();
  await brushStrokes(page, strokes, moves);
  const m = await page.evaluate(
    () =>
      (window as unknown as { __bench: { events: Array<{ handler: number; paint: number }>; durable: number[]; phases: Array<{ sent: number; answered: number }> } })
        .__bench,
  );
  const labelled = Number(await page.getByTestId('label-canvas').getAttribute('data-labelled'));
  const saved = store.labels(image.id);
  const dbLabelled = saved ? saved.raster.reduce((n, v) => n + (v ? 1 : 0), 0) : 0;

  const paint = m.events.map((e) => e.paint);
  const handler = m.events.map((e) => e.handler);
  const fitPaint = paint.slice(0, fitEvents);
  const onePaint = paint.slice(fitEvents);
  console.log(`pointer events measured: ${paint.length} (fit zoom, brush ${fitSize}: ${fitPaint.length}; 1:1, brush ${oneSize}: ${onePaint.length})`);
  console.log(
    `event → painted frame ms: median ${r1(median(paint))}, p95 ${r1(quantile(paint, 0.95))}, max ${r1(Math.max(...paint))}` +
      ` (fit: median ${r1(median(fitPaint))} p95 ${r1(quantile(fitPaint, 0.95))}; 1:1: median ${r1(median(onePaint))} p95 ${r1(quantile(onePaint, 0.95))})`,
  );
  console.log(`event handler only ms: median ${r1(median(handler))}, p95 ${r1(quantile(handler, 0.95))}, max ${r1(Math.max(...handler))}`);
  console.log(
    `pointer-up → saved (durable) ms over ${m.durable.length} strokes: median ${r1(median(m.durable))}, max ${r1(Math.max(...m.durable))} (${m.durable.map(Math.round).join(', ')})`,
  );
  console.log(
    `  of which pointer-up → request sent ms: ${m.phases.map((p) => Math.round(p.sent)).join(', ')}; request answered (server + transport) ms: ${m.phases.map((p) => Math.round(p.answered - p.sent)).join(', ')}`,
  );
  console.log(`labelled pixels: canvas ${labelled}, SQLite ${dbLabelled}${labelled === dbLabelled ? ' (equal)' : ' (DIFFERENT)'}`);
  console.log(`open 4096×4096 ms: ${opens.map(r1).join(', ')} (ms after the click: ${phases.map((p) => `[${p}]`).join(' ')})`);

  const gridPage = await browser.newPage({ viewport: VIEWPORT });
  const grid = await gridScroll(gridPage, server.url, await call<ProjectSummary>('project.summary', {}));
  await browser.close();
  await server.close();
  const real = await realTenThousand(root, renderer.dir);
  renderer.cleanup();
  fs.rmSync(root, { recursive: true, force: true });
  console.log(
    `real ${GRID_TOTAL}-image project (SQLite rows + thumbnails, real server): first screen of cards with thumbnails ${r1(real.openMs)} ms after navigation; ` +
      `after scrolling the whole grid: JS heap ${r1(real.heapMb)} MB, renderer processes' PSS ${real.rssMb === null ? '–' : r1(real.rssMb)} MB (${real.rssOpenMb === null ? '–' : r1(real.rssOpenMb)} MB at the first screen)`,
  );
  console.log(`grid of ${GRID_TOTAL} images: ${grid.steps} one-screen scroll steps, median ${r1(grid.median)} ms, p95 ${r1(grid.p95)} ms; jump to the middle ${r1(grid.jump)} ms`);
  console.log(
    JSON.stringify({
      event_ms_median: r1(median(paint)),
      event_ms_p95: r1(quantile(paint, 0.95)),
      durable_ms: r1(median(m.durable)),
      durable_ms_max: r1(Math.max(...m.durable)),
      open_4096_ms: r1(median(opens)),
      grid_scroll_ms: r1(grid.median),
      open_10k_ms: r1(real.openMs),
      renderer_pss_mb: real.rssMb === null ? null : r1(real.rssMb),
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
