/**
 * Peak memory of the engine at real image sizes (issue 11 item 13): each case runs in a fresh
 * child process (so its peak RSS, process.resourceUsage().maxRSS, is its own), through the job
 * code the app's worker runs (jobs.ts runJob, in-process):
 *   predict-4096   predict-raw (the image view's overlay) on a 4096 × 4096 JPEG, model input 128
 *   predict-strip  predict-raw on a 1 × 60000 PNG, model input 64
 *   train-strip    one training epoch at size 64 on a project holding only that strip (tagged)
 * `--root DIR` takes the engine from another checkout (e.g. the commit before a change: extract it
 * with `git archive COMMIT src-main src-shared migrations package.json | tar -x -C DIR` and link
 * node_modules into it) so before/after come from one script. The model is an untrained LRP
 * segmenter (4 classes, seeded): memory depends on sizes and decoded classes, not on the weights.
 *
 *   npx tsx bench/memory.ts [--root DIR] [--cases predict-4096,predict-strip,train-strip]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Backend from '../src-main/engine/backend.js';
import type * as Jobs from '../src-main/engine/jobs.js';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const REPO = path.resolve(HERE, '..');
const CASES = ['predict-4096', 'predict-strip', 'train-strip'] as const;
type Case = (typeof CASES)[number];
const TIMEOUT_S = 600;

function opt(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const mb = (kb: number) => Math.round(kb / 1024);

interface ChildResult {
  case: Case;
  ok: boolean;
  /** Peak RSS of the whole process, MB. */
  peak_rss_mb: number;
  /** RSS once the engine is imported and the backend is up, before the job, MB. */
  base_rss_mb: number;
  seconds: number;
  detail: string;
}

/** In the child: one case, then one JSON line on stdout. */
async function child(c: Case, root: string, dir: string): Promise<void> {
  const jobs = (await import(pathToFileURL(path.join(root, 'src-main/engine/jobs.ts')).href)) as typeof Jobs;
  const { initBackend } = (await import(pathToFileURL(path.join(root, 'src-main/engine/backend.ts')).href)) as typeof Backend;
  await initBackend('wasm');
  const base = mb(process.resourceUsage().maxRSS);
  const ctx = { emit: () => undefined, cancelled: () => false };
  const t0 = performance.now();
  let ok = true;
  let detail: string;
  try {
    if (c === 'train-strip') {
      const r = (await jobs.runJob(
        { kind: 'train', project: path.join(dir, 'strip-project'), modelDir: 'models/bench', method: 'lrp', backbone: 'small', backend: 'wasm', config: { size: 64, epochs: 1, batch: 2, warmupSteps: 1 } },
        ctx,
      )) as Jobs.TrainJobResult;
      detail = `${r.result.steps} step(s)`;
    } else {
      const file = path.join(dir, c === 'predict-4096' ? 'big.jpg' : 'strip.png');
      const r = (await jobs.runJob(
        { kind: 'predict-raw', model: path.join(dir, c === 'predict-4096' ? 'model-128' : 'model-64'), images: [{ id: 1, file }], backend: 'wasm' },
        ctx,
      )) as Jobs.PredictRawJobResult;
      const p = r.predictions[0];
      if (!p) {
        ok = false;
        detail = `failed: ${r.failed[0]?.reason ?? '?'}`.slice(0, 200);
      } else detail = `mask ${p.width}×${p.height}, ${p.classes.length} decoded classes`;
    }
  } catch (e) {
    ok = false;
    detail = `failed: ${(e as Error).message}`.slice(0, 200);
  }
  const out: ChildResult = { case: c, ok, peak_rss_mb: mb(process.resourceUsage().maxRSS), base_rss_mb: base, seconds: +((performance.now() - t0) / 1000).toFixed(1), detail };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Inputs shared by every case (made once by the parent with the current checkout's code). */
async function prepare(dir: string): Promise<void> {
  const sharp = (await import('sharp')).default;
  const { createSegmenter } = await import('../src-main/engine/models/index.js');
  const { saveModel } = await import('../src-main/engine/model-io.js');
  const { initBackend } = await import('../src-main/engine/backend.js');
  const { ProjectStore } = await import('../src-main/store/project.js');
  const { importFolder } = await import('../src-main/dataset/import.js');
  await initBackend('wasm');
  for (const size of [64, 128]) {
    const m = await createSegmenter({ method: 'lrp', classes: 4, inputSize: size, seed: 3 });
    saveModel(path.join(dir, `model-${size}`), m, {
      classes: ['a', 'b', 'c', 'd'].map((name) => ({ name, color: '#808080' })),
      inputSize: size,
      normalisation: 'RGB / 255',
      method: 'lrp',
      backbone: 'small',
      heatScale: 4,
      heatNorm: 'pixel',
      training: {},
      metrics: null,
    });
    m.dispose();
  }
  const noise = { type: 'gaussian' as const, mean: 128, sigma: 40 };
  await sharp({ create: { width: 4096, height: 4096, channels: 3, background: '#000', noise } })
    .jpeg({ quality: 85 })
    .toFile(path.join(dir, 'big.jpg'));
  await sharp({ create: { width: 1, height: 60000, channels: 3, background: '#000', noise } })
    .png()
    .toFile(path.join(dir, 'strip.png'));
  const src = path.join(dir, 'strip-src');
  fs.mkdirSync(src);
  fs.copyFileSync(path.join(dir, 'strip.png'), path.join(src, 'strip.png'));
  const store = ProjectStore.create(path.join(dir, 'strip-project'));
  try {
    const a = store.addClass('a');
    store.addClass('b');
    await importFolder(store, src);
    store.setTags(store.allImageIds()[0]!, [a.id]);
  } finally {
    store.close();
  }
}

async function main(): Promise<void> {
  const childCase = opt('child', '');
  const root = path.resolve(opt('root', REPO));
  if (childCase) return child(childCase as Case, root, opt('dir', ''));
  const cases = opt('cases', CASES.join(',')).split(',') as Case[];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-bench-memory-'));
  try {
    console.log('heatseg memory benchmark (bench/memory.ts): peak RSS per case, each in a fresh process');
    console.log(`machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}`);
    console.log(`engine from: ${root === REPO ? 'this checkout' : root}`);
    await prepare(dir);
    const rows: ChildResult[] = [];
    for (const c of cases) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(HERE, 'memory.ts'), '--child', c, '--root', root, '--dir', dir], {
        cwd: REPO,
        encoding: 'utf8',
        timeout: TIMEOUT_S * 1000,
        maxBuffer: 64 * 2 ** 20,
      });
      const line = r.stdout.trim().split('\n').reverse().find((l) => l.startsWith('{"case"'));
      const row: ChildResult = line
        ? (JSON.parse(line) as ChildResult)
        : { case: c, ok: false, peak_rss_mb: NaN, base_rss_mb: NaN, seconds: NaN, detail: `child ${r.signal ? `killed (${r.signal})` : `exited ${r.status}`}: ${(r.stderr ?? '').split('\n').find((l) => /FATAL|Error/.test(l))?.trim() ?? ''}`.slice(0, 200) };
      rows.push(row);
      console.log(`${c.padEnd(14)} peak RSS ${String(row.peak_rss_mb).padStart(6)} MB (engine loaded: ${row.base_rss_mb} MB), ${row.seconds} s, ${row.detail}`);
    }
    console.log(JSON.stringify(Object.fromEntries(rows.map((r) => [r.case, { ok: r.ok, peak_rss_mb: r.peak_rss_mb, seconds: r.seconds }]))));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
