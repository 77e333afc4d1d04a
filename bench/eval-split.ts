/**
 * Issue 11 items 18 and 19 on the built-in demo project (48 shapes images, all tagged, 8 with
 * scribbles), trained as the Train button does (its defaults: lrp, 20 epochs, 128 px, 20 % held
 * out → 2 of the 8 scribbled images): the Evaluate tab's held-out mIoU beside the training-set
 * mIoU it used to lead with, and the tag-trust gate (final tag loss against the image-blind guess)
 * for the trained run and for a barely trained one (1 epoch). One fresh demo project per seed.
 *
 *   npx tsx bench/eval-split.ts [--seeds 1,2,3]   (results: bench/results/eval-split.txt)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TrainStatus } from '../src-shared/api.js';
import { tagTrust } from '../src-shared/tag-trust.js';
import { Session } from '../src-main/api/handlers.js';
import { arg, machineLine } from './browser.js';

const seeds = arg('seeds', '1,2,3').split(',').map(Number);

async function until(s: Session, pred: (st: TrainStatus) => boolean): Promise<TrainStatus> {
  for (;;) {
    const st = await s.dispatch('train.status', {});
    if (pred(st)) return st;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function trainOnce(s: Session, epochs: number, seed: number) {
  const started = await s.dispatch('train.start', { epochs, seed });
  const end = await until(s, (st) => st.state === 'done' || st.state === 'failed' || st.state === 'cancelled');
  if (end.state !== 'done') throw new Error(`run ${started.runId}: ${end.state} (${end.message})`);
  const run = (await s.dispatch('runs.list', {})).find((r) => r.id === started.runId)!;
  return { runId: started.runId!, trust: tagTrust(run.metrics) };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const se = (xs: number[]) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1) / xs.length) : NaN);
const f = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

console.log(machineLine());
console.log(`demo project, Train panel defaults (lrp, 20 epochs, 128 px, held out 20 %), seeds ${seeds.join(', ')}`);
const rows: Array<{ seed: number; heldOut: number | null; training: number | null; images: number; trainImages: number; trusted: boolean; tagLoss: number | null; baseline: number | null; early: { trusted: boolean; tagLoss: number | null } }> = [];
for (const seed of seeds) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-eval-split-'));
  process.env.HEATSEG_DEMO_DIR = path.join(dir, 'demo');
  const s = new Session({ transport: 'http', version: 'bench' });
  try {
    await s.dispatch('project.openDemo', {});
    const early = await trainOnce(s, 1, seed);
    const full = await trainOnce(s, 20, seed);
    const ev = await s.dispatch('eval.run', {});
    if (ev.runId !== full.runId || ev.scope !== 'held-out') throw new Error(`seed ${seed}: evaluated run ${ev.runId}, scope ${ev.scope}`);
    rows.push({
      seed,
      heldOut: ev.miou,
      training: ev.trainingSet?.miou ?? null,
      images: ev.images,
      trainImages: ev.trainingSet?.images ?? 0,
      trusted: full.trust.trusted,
      tagLoss: full.trust.tagLoss,
      baseline: full.trust.baseline,
      early: { trusted: early.trust.trusted, tagLoss: early.trust.tagLoss },
    });
    const r = rows[rows.length - 1]!;
    console.log(
      `seed ${seed}: mIoU held out ${f(r.heldOut)} (${r.images} images), training set ${f(r.training)} (${r.trainImages} images); ` +
        `tag loss ${f(r.tagLoss)} vs image-blind ${f(r.baseline)} → fixes ${r.trusted ? 'shown' : 'hidden'}; after 1 epoch ${f(r.early.tagLoss)} → ${r.early.trusted ? 'shown' : 'hidden'}`,
    );
  } finally {
    s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
const held = rows.map((r) => r.heldOut ?? NaN);
const train = rows.map((r) => r.training ?? NaN);
console.log(`mean ± s.e. over ${rows.length} seeds: held-out mIoU ${f(mean(held))} ± ${f(se(held))}, training-set mIoU ${f(mean(train))} ± ${f(se(train))}`);
console.log(JSON.stringify({ seeds, heldOutMiou: mean(held), heldOutSe: se(held), trainingMiou: mean(train), trainingSe: se(train), rows }));
