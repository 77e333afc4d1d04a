/**
 * `heatseg bench quality`: the claim of the method. Every training image gets its tags; N images
 * (chosen reproducibly, class-balanced) also get pixel labels — full masks or simulated scribbles —
 * and each method trains under the same budget, then is evaluated on held-out images.
 * Ends with one JSON line. Run: npx heatseg bench quality --help
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Confusion, summarize } from '../src-shared/metrics.js';
import { rng } from '../src-shared/random.js';
import { simulateScribbles } from '../src-shared/scribbles.js';
import { readClassesJson, readMaskPng } from '../src-main/dataset/maskfolder.js';
import type { ResolvedBackbone } from '../src-main/backbones.js';
import { initBackend, type BackendName } from '../src-main/engine/backend.js';
import { type Dataset, IGNORE, type Sample, datasetFromMaskFolder, resizeLabels } from '../src-main/engine/data.js';
import { predict } from '../src-main/engine/infer.js';
import { createSegmenter, type SegMethod, type Segmenter } from '../src-main/engine/models/index.js';
import { DEFAULT_TRAIN, type EvalResult, type TrainConfig, encoderStride, evaluate, train } from '../src-main/engine/trainer.js';

export interface QualityOptions {
  train: string;
  test?: string;
  /** Without --test: fraction of --train used for training (the rest is the test split). */
  split: number;
  labeled: number;
  labels: 'scribbles' | 'masks';
  methods: Array<SegMethod | 'tagfill'>;
  /** What to train on (src-main/backbones.ts): the CLI's default is the shipped darknet-tiny. */
  backbone: ResolvedBackbone;
  minutes?: number;
  epochs?: number;
  size: number;
  batch: number;
  seed: number;
  backend?: BackendName;
  lr?: number;
  encoderLr?: number;
  warmupSteps?: number;
  heatScaleInit?: number;
  learnHeatScale?: boolean;
  segWeight?: number;
  lrpDepth?: number;
  heatNorm?: 'none' | 'pixel';
  /** What --minutes measures (default cpu: the same compute per method whatever else runs). */
  budgetClock?: 'wall' | 'cpu';
}

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Splits ids so identical photos (same bytes, e.g. MSRC's duplicates) land on the same side. */
function splitByContent(ids: string[], files: Map<string, string>, frac: number, seed: number): [string[], string[]] {
  const groups = new Map<string, string[]>();
  for (const id of ids) {
    const h = crypto.createHash('sha256').update(fs.readFileSync(files.get(id)!)).digest('hex');
    groups.set(h, [...(groups.get(h) ?? []), id]);
  }
  const r = rng(seed);
  const keys = [...groups.keys()].sort().map((k) => ({ k, o: r() })).sort((a, b) => a.o - b.o).map((e) => e.k);
  const nTrain = Math.round(keys.length * frac);
  return [keys.slice(0, nTrain).flatMap((k) => groups.get(k)!), keys.slice(nTrain).flatMap((k) => groups.get(k)!)];
}

/** Greedy class-balanced choice: repeatedly take the image showing the least-covered class. */
export function chooseLabelled(samples: Sample[], n: number, classes: number, seed: number): Sample[] {
  const r = rng(seed);
  const pool = samples.map((s) => ({ s, k: r() })).sort((a, b) => a.k - b.k).map((e) => e.s);
  const count = new Array<number>(classes).fill(0);
  const chosen: Sample[] = [];
  while (chosen.length < Math.min(n, pool.length)) {
    let best = -1, bestScore = Infinity;
    pool.forEach((s, i) => {
      if (chosen.includes(s) || s.tags.length === 0) return;
      const score = Math.min(...s.tags.map((c) => count[c]!));
      if (score < bestScore) {
        bestScore = score;
        best = i;
      }
    });
    if (best < 0) break;
    chosen.push(pool[best]!);
    for (const c of pool[best]!.tags) count[c]!++;
  }
  return chosen;
}

interface MethodResult {
  miou: number;
  miou_given_tags: number | null;
  pixel_accuracy: number;
  tag_accuracy: number | null;
  per_class: Record<string, number | null>;
  train_s: number;
  cpu_s: number;
  steps: number;
  heat_loss: number | null;
  heat_loss_uniform: number | null;
}

function fromEval(e: EvalResult, extra: Omit<MethodResult, 'miou' | 'miou_given_tags' | 'pixel_accuracy' | 'tag_accuracy' | 'per_class'>): MethodResult {
  return {
    miou: e.predicted.miou,
    miou_given_tags: e.givenTags?.miou ?? null,
    pixel_accuracy: e.predicted.pixelAccuracy,
    tag_accuracy: e.tagAccuracy ?? null,
    per_class: e.predicted.perClass,
    ...extra,
  };
}

/** The control: the tag head's most likely class painted over the whole image. */
async function tagFill(model: Segmenter, test: Dataset, byFrequency: number[]): Promise<{ pred: Confusion; given: Confusion }> {
  const C = test.classes.length;
  const pred = new Confusion(C);
  const given = new Confusion(C);
  const stride = encoderStride(model);
  for (const s of test.samples) {
    if (!s.truth) continue;
    const p = await predict(model, s, { stride, maxClasses: 1 });
    let best = 0;
    for (let c = 1; c < C; c++) if (p.tagProbs![c]! > p.tagProbs![best]!) best = c;
    pred.add(s.truth, new Uint8Array(s.truth.length).fill(best));
    // With true tags: the image's most frequent tagged class (by training pixel frequency order).
    const rank = (c: number) => byFrequency.indexOf(c);
    const g = s.tags.length ? s.tags.reduce((a, b) => (rank(b) < rank(a) ? b : a)) : best;
    given.add(s.truth, new Uint8Array(s.truth.length).fill(g));
  }
  return { pred, given };
}

export async function benchQuality(o: QualityOptions): Promise<Record<string, unknown>> {
  const backend = await initBackend(o.backend);
  const { classes } = readClassesJson(path.join(o.train, 'classes.json'));
  const C = classes.length;
  const files = new Map(
    fs.readdirSync(path.join(o.train, 'images')).map((f) => [path.basename(f, path.extname(f)), path.join(o.train, 'images', f)]),
  );
  let trainIds = [...files.keys()].sort();
  const testDir = o.test ?? o.train;
  let testIds: string[] | undefined;
  if (!o.test) [trainIds, testIds] = splitByContent(trainIds, files, o.split, o.seed);
  log(`heatseg bench quality — ${new Date().toISOString()}`);
  log(`machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, node ${process.version}, backend ${backend.name} (${backend.detail})`);
  const base = o.size;
  const trainData = await datasetFromMaskFolder(o.train, base, { withLabels: true, ids: trainIds });
  const testData = await datasetFromMaskFolder(testDir, base, { withTruth: true, ...(testIds ? { ids: testIds } : {}) });
  // Pixel labels only for the chosen N images.
  const chosen = new Set(chooseLabelled(trainData.samples, o.labeled, C, o.seed));
  let labelledPx = 0, totalPx = 0, densePx = 0;
  for (const s of trainData.samples) {
    if (!chosen.has(s)) {
      s.labels = null;
      continue;
    }
    const m = readMaskPng(path.join(o.train, 'masks', `${s.id}.png`));
    const full = o.labels === 'masks' ? m.data : simulateScribbles(m.data, m.width, m.height, { seed: o.seed + Number.parseInt(crypto.createHash('md5').update(s.id).digest('hex').slice(0, 6), 16) }).scribbles;
    for (let p = 0; p < full.length; p++) {
      totalPx++;
      if (full[p] !== IGNORE) labelledPx++;
      if (m.data[p] !== IGNORE) densePx++;
    }
    s.labels = resizeLabels(full, m.width, m.height, s.width, s.height);
  }
  // Classes by how many training images show them, for the "true tags" control.
  const freq = new Array<number>(C).fill(0);
  for (const s of trainData.samples) for (const c of s.tags) freq[c]!++;
  const byFrequency = [...freq.keys()].sort((a, b) => freq[b]! - freq[a]!);

  const config = {
    train: o.train,
    test: o.test ?? `${Math.round((1 - o.split) * 100)}% split of --train (seed ${o.seed}, duplicates kept together)`,
    train_images: trainData.samples.length,
    test_images: testData.samples.length,
    labeled: chosen.size,
    labels: o.labels,
    labelled_fraction: totalPx ? labelledPx / totalPx : 0,
    labelled_fraction_of_dense: densePx ? labelledPx / densePx : 0,
    backbone: o.backbone.label,
    backbone_dir: o.backbone.dir,
    size: o.size,
    batch: o.batch,
    minutes: o.minutes ?? null,
    budget_clock: o.budgetClock ?? 'cpu',
    load_average_start: os.loadavg().map((x) => +x.toFixed(2)),
    epochs: o.epochs ?? null,
    seed: o.seed,
    lrp_depth: o.lrpDepth ?? 'auto',
    heat_norm: o.heatNorm ?? DEFAULT_TRAIN.heatNorm,
  };
  log(`config: ${JSON.stringify(config)}`);

  const results: Record<string, MethodResult> = {};
  let tagModel: Segmenter | null = null;
  const trainMethods = o.methods.filter((m): m is SegMethod => m !== 'tagfill');
  for (const method of trainMethods) {
    const cfg: TrainConfig = {
      ...DEFAULT_TRAIN,
      size: o.size,
      batch: o.batch,
      seed: o.seed,
      epochs: o.epochs,
      minutes: o.minutes,
      ...(o.lr !== undefined ? { lr: o.lr } : {}),
      ...(o.encoderLr !== undefined ? { encoderLr: o.encoderLr } : {}),
      ...(o.warmupSteps !== undefined ? { warmupSteps: o.warmupSteps } : {}),
      ...(o.heatScaleInit !== undefined ? { heatScaleInit: o.heatScaleInit } : {}),
      ...(o.learnHeatScale !== undefined ? { learnHeatScale: o.learnHeatScale } : {}),
      ...(o.segWeight !== undefined ? { segWeight: o.segWeight } : {}),
      ...(o.heatNorm !== undefined ? { heatNorm: o.heatNorm } : {}),
      budgetClock: o.budgetClock ?? 'cpu',
    };
    if (!cfg.epochs && !cfg.minutes) cfg.epochs = 30;
    const model = await createSegmenter({
      method,
      classes: C,
      inputSize: o.size,
      encoder: o.backbone.dir ? { kind: 'pretrained', path: o.backbone.dir } : { kind: 'small' },
      seed: o.seed,
      lrpDepth: method === 'lrp' ? (o.lrpDepth ?? 'auto') : 0,
    });
    log(`\n== ${method}: training (${cfg.minutes ? `${cfg.minutes} min` : `${cfg.epochs} epochs`})`);
    let lastLog = 0;
    const r = await train(model, trainData, cfg, {
      onEvent: (e) => {
        if (e.type === 'epoch') log(`  epoch ${e.epoch} step ${e.step}: tag ${e.tagLoss.toFixed(3)} heat ${e.segLoss.toFixed(3)} (uniform ${e.uniformSegLoss.toFixed(3)})`);
        else if (e.type === 'step' && Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          log(`  step ${e.step}: tag ${e.tagLoss.toFixed(3)} heat ${e.segLoss.toFixed(3)} scale ${e.heatScale.toFixed(1)} ${e.imagesPerSec.toFixed(1)} img/s`);
        } else if (e.type === 'log') log(`  ${e.message}`);
      },
    });
    const evalOpts = { heatScale: r.heatScale, heatNorm: cfg.heatNorm ?? 'pixel' } as const;
    const ev = await evaluate(model, testData, { ...evalOpts, withGivenTags: method === 'lrp' || method === 'gradcam' });
    if (method !== 'unet') {
      // How the choice of decoded classes at test time matters (reported, not tuned on the test set).
      for (const [threshold, minClasses] of [[0.3, 1], [0.5, 2]] as const) {
        const v = await evaluate(model, testData, { ...evalOpts, withGivenTags: false, threshold, minClasses });
        log(`  decode p>=${threshold}, at least ${minClasses}: mIoU ${v.predicted.miou.toFixed(3)}`);
      }
    }
    results[method] = fromEval(ev, {
      train_s: r.seconds,
      cpu_s: r.cpuSeconds,
      steps: r.steps,
      heat_loss: Number.isNaN(r.final.segLoss) ? null : r.final.segLoss,
      heat_loss_uniform: Number.isNaN(r.final.uniformSegLoss) ? null : r.final.uniformSegLoss,
    });
    log(
      `  ${method}: mIoU ${ev.predicted.miou.toFixed(3)}${ev.givenTags ? ` (true tags ${ev.givenTags.miou.toFixed(3)})` : ''}` +
        `${ev.tagAccuracy !== undefined ? `, tag accuracy ${ev.tagAccuracy.toFixed(3)}` : ''}, ${r.steps} steps in ${r.seconds.toFixed(0)} s`,
    );
    if (!tagModel && model.method !== 'unet') tagModel = model;
    else model.dispose();
  }
  if (o.methods.includes('tagfill')) {
    if (!tagModel) {
      log('\n== tagfill: training a classifier (tags only)');
      tagModel = await createSegmenter({ method: 'gradcam', classes: C, inputSize: o.size, encoder: o.backbone.dir ? { kind: 'pretrained', path: o.backbone.dir } : { kind: 'small' }, seed: o.seed });
      await train(tagModel, { ...trainData, samples: trainData.samples.map((s) => ({ ...s, labels: null })) }, { ...DEFAULT_TRAIN, size: o.size, batch: o.batch, seed: o.seed, epochs: o.epochs, minutes: o.minutes });
    }
    const t = await tagFill(tagModel, testData, byFrequency);
    const p = summarize(t.pred, classes);
    results.tagfill = {
      miou: p.miou,
      miou_given_tags: t.given.miou(),
      pixel_accuracy: p.pixelAccuracy,
      tag_accuracy: null,
      per_class: p.perClass,
      train_s: 0,
      cpu_s: 0,
      steps: 0,
      heat_loss: null,
      heat_loss_uniform: null,
    };
  }
  tagModel?.dispose();

  log('\nmethod    mIoU   mIoU|tags  pixacc  heat loss (uniform)  train s (cpu s)  steps');
  for (const [m, r] of Object.entries(results)) {
    const f = (x: number | null, d = 3) => (x === null || Number.isNaN(x) ? '  –  ' : x.toFixed(d));
    log(`${m.padEnd(8)}  ${f(r.miou)}  ${f(r.miou_given_tags)}      ${f(r.pixel_accuracy)}   ${f(r.heat_loss)} (${f(r.heat_loss_uniform)})     ${r.train_s.toFixed(0)} (${r.cpu_s.toFixed(0)})  ${r.steps}`);
  }
  log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  return { methods: results, backend: backend.name, backend_detail: backend.detail, ...config, load_average_end: os.loadavg().map((x) => +x.toFixed(2)) };
}
