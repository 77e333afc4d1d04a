/**
 * `heatseg bench active`: does an acquisition strategy save labelling work? A simulated annotator
 * works through a pool of images that all carry their image-level tags. Round 0: `start` images,
 * chosen reproducibly and class-balanced (the same for every strategy given the seed), get pixel
 * labels (simulated scribbles, or full masks); the model trains. Rounds 1..R: the strategy ranks
 * the still-unlabelled pool images with the current model (the outputs `heatseg suggest` uses, at a
 * 64-px-wide map), the top `step` get pixel labels from the ground truth, and the model trains on.
 * After every round the mIoU (classes decoded from the predicted tags) on the test images is
 * recorded, so each strategy yields a learning curve of R + 1 points: start, start + step, …
 *
 * Warm start (default): the model of round r continues from round r−1's weights and heatmap
 * temperature; each round starts a fresh Adam state and the heatmap-loss warm-up (λ ramp) runs only
 * in round 0. Round 0 is identical for all strategies, so it is trained once per seed and its
 * weights are copied. `cold: true` rebuilds the model (same init seed) every round instead.
 *
 * Reported: the curves (mean over seeds, and per seed), the labelled images each strategy needs to
 * reach random's final mIoU (linear interpolation on its mean curve; null if it never does) and the
 * saving against random's final count, an SVG plot, and one JSON line (printed by the CLI).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ImageOutputs, type Strategy, rank } from '../../src-shared/acquisition.js';
import { simulateScribbles } from '../../src-shared/scribbles.js';
import { readClassesJson, readMaskPng } from '../dataset/maskfolder.js';
import { initBackend, type BackendName } from '../engine/backend.js';
import { type Dataset, IGNORE, type Sample, datasetFromMaskFolder, resizeLabels } from '../engine/data.js';
import { predict } from '../engine/infer.js';
import { createSegmenter, type SegMethod, type Segmenter, type WeightMap } from '../engine/models/index.js';
import {
  DEFAULT_TRAIN,
  type EvalResult,
  type TrainConfig,
  type TrainResult,
  encoderStride,
  evaluate,
  train,
} from '../engine/trainer.js';
import { chooseLabelled, splitByContent } from './quality.js';

export interface ActiveOptions {
  pool: string;
  /** Test mask folder; default: a held-out split of the pool (by content hash, as bench quality). */
  test?: string;
  /** Without `test`: fraction of the pool kept as the pool (the rest is the test split). */
  split: number;
  /** Seed of that split (1 = the split `bench quality --seed 1` uses), the same for all seeds. */
  splitSeed: number;
  strategies: Strategy[];
  start: number;
  step: number;
  rounds: number;
  labels: 'scribbles' | 'masks';
  seeds: number[];
  minutesPerRound?: number;
  /** What `minutesPerRound` measures (default cpu: the same compute per round whatever else runs, as bench quality). */
  budgetClock?: 'wall' | 'cpu';
  /** LRP decoder stop depth (default 'auto', the engine's default). */
  lrpDepth?: number | 'auto';
  epochsPerRound?: number;
  backbone: string;
  size: number;
  batch: number;
  method: SegMethod;
  /**
   * Restart every round from the same weights instead of continuing from the previous round: the
   * tag-stage weights when `tagEpochs` > 0, else the initial ones. Then a point of the curve depends
   * on which images are labelled, not on how many rounds of training came before it.
   */
  cold?: boolean;
  /**
   * Tag stage: before round 0, train this many epochs on the tags of every pool image with no pixel
   * labels (once per seed, shared by all strategies). The annotator has tagged the whole pool before
   * scribbling, so the tag head can be trained to convergence first; rounds then skip the λ warm-up.
   */
  tagEpochs?: number;
  backend?: BackendName;
  lr?: number;
  encoderLr?: number;
  warmupSteps?: number;
  /** SVG output path (null: no plot). */
  plot: string | null;
  /**
   * Seeds run at once, each in its own process (wasm trains on one thread, so one seed per core).
   * Needs `childArgv`. 1 (default): the seeds run one after another in this process.
   */
  jobs?: number;
  /** The command line that reruns this benchmark (node script + arguments, without --seed(s), --jobs, --plot). */
  childArgv?: string[];
  /** Child mode: run the one seed given and write its SeedRun and config as JSON to this file. */
  seedRunOut?: string;
  /** Table and summary lines (the CLI prints them on stdout); progress goes to stderr. */
  print?: (s: string) => void;
}

export type Curve = Array<[number, number]>;

export interface SeedRun {
  curves: Record<string, Curve>;
  /** The tag stage (`tagEpochs`), null without one: its cost and the test scores before any pixel label. */
  tag_stage?: {
    steps: number;
    train_s: number;
    cpu_s: number;
    tag_accuracy: number | null;
    miou: number;
    miou_given_tags: number | null;
  } | null;
  /** Per strategy: the image ids labelled in round 0, 1, …, R. */
  picks: Record<string, string[][]>;
  /** Per strategy and round: training seconds, steps, scoring seconds, tag accuracy. */
  rounds: Record<
    string,
    Array<{
      labelled: number;
      miou: number;
      /** mIoU with the true image tags given: how well the heatmaps segment when the classes are known. */
      miou_given_tags: number | null;
      tag_accuracy: number | null;
      /** Last epoch's mean heatmap loss and its uniform-guess level (null without pixel-labelled batches). */
      heat_loss: number | null;
      heat_loss_uniform: number | null;
      train_s: number;
      cpu_s: number;
      steps: number;
      score_s: number;
    }>
  >;
}

export interface ActiveResult {
  curves: Record<string, Curve>;
  /** The same curves measured with the true test tags given (segmentation alone, tag errors aside). */
  curves_given_tags: Record<string, Curve>;
  reach_random_final_given_tags: ActiveResult['reach_random_final'];
  seeds: number[];
  per_seed: Record<string, SeedRun>;
  random_final_miou: number | null;
  /** Labelled images to reach random's final mIoU (interpolated) and the saving vs random's count, in %. */
  reach_random_final: Record<string, { labelled: number | null; saving_pct: number | null; at_start: boolean }>;
  plot: string | null;
  config: Record<string, unknown>;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

const finite = (x: number) => (Number.isFinite(x) ? x : null);
function roundRecord(labelled: number, t: { r: TrainResult; ev: EvalResult }, scoreS: number): SeedRun['rounds'][string][number] {
  return {
    labelled,
    miou: t.ev.predicted.miou,
    miou_given_tags: t.ev.givenTags?.miou ?? null,
    tag_accuracy: t.ev.tagAccuracy ?? null,
    heat_loss: finite(t.r.final.segLoss),
    heat_loss_uniform: finite(t.r.final.uniformSegLoss),
    train_s: t.r.seconds,
    cpu_s: t.r.cpuSeconds,
    steps: t.r.steps,
    score_s: scoreS,
  };
}

/**
 * Labelled images a curve needs to reach `target`: the first crossing, linearly interpolated
 * between rounds; the first point when it starts at or above the target; null if it never gets there.
 */
export function labelsToReach(curve: Curve, target: number): number | null {
  if (curve.length === 0) return null;
  if (curve[0]![1] >= target) return curve[0]![0];
  for (let i = 1; i < curve.length; i++) {
    const [n0, m0] = curve[i - 1]!;
    const [n1, m1] = curve[i]!;
    if (m0 < target && m1 >= target) return n0 + ((target - m0) / (m1 - m0)) * (n1 - n0);
  }
  return null;
}

/** Pointwise mean of curves that share their labelled counts. */
export function meanCurve(curves: Curve[]): Curve {
  return curves[0]!.map(([n], i) => [n, curves.reduce((a, c) => a + c[i]![1], 0) / curves.length]);
}

const PALETTE: Record<string, string> = {
  random: '#777777',
  'tag-entropy': '#1f77b4',
  'tag-margin': '#17becf',
  'pixel-entropy': '#d62728',
  disagreement: '#ff7f0e',
  diverse: '#2ca02c',
  coverage: '#9467bd',
};
const EXTRA = ['#8c564b', '#e377c2', '#bcbd22', '#7f7f7f'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/**
 * Learning curves as a self-contained SVG: axes with ticks, one polyline (with point markers) per
 * strategy, a legend, and a dashed line at `reference` (random's final mIoU) when given.
 */
export function learningCurveSvg(
  curves: Record<string, Curve>,
  opts: { title?: string; reference?: number | null; yLabel?: string } = {},
): string {
  const W = 720,
    H = 440;
  // a title may have several lines ('\n')
  const titleLines = (opts.title ?? '').split('\n').filter(Boolean);
  const m = { l: 64, r: 180, t: 24 + 16 * Math.max(1, titleLines.length), b: 52 };
  const pw = W - m.l - m.r,
    ph = H - m.t - m.b;
  const pts = Object.values(curves).flat();
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  if (opts.reference !== undefined && opts.reference !== null) ys.push(opts.reference);
  let x0 = Math.min(...xs),
    x1 = Math.max(...xs);
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x1 + 1];
  let lo = Math.min(...ys),
    hi = Math.max(...ys);
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (hi - lo < 0.02) [lo, hi] = [lo - 0.01, hi + 0.01];
  const yStep = niceStep(hi - lo, 6);
  const y0 = Math.max(0, Math.floor(lo / yStep) * yStep);
  const y1 = Math.ceil(hi / yStep - 1e-9) * yStep;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.t + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const f = (v: number) => v.toFixed(1);
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  titleLines.forEach((line, i) => {
    o.push(`<text x="${W / 2}" y="${18 + 16 * i}" text-anchor="middle" font-size="14">${esc(line)}</text>`);
  });
  // grid and y ticks
  // decimals that show every tick exactly (a step of 0.025 needs three)
  const mag = Math.floor(Math.log10(yStep) + 1e-9);
  const yDec = Math.max(0, -mag + (Number.isInteger(Math.round((yStep / 10 ** mag) * 1e6) / 1e6) ? 0 : 1));
  for (let y = y0; y <= y1 + yStep / 2; y += yStep) {
    o.push(`<line x1="${m.l}" y1="${f(sy(y))}" x2="${m.l + pw}" y2="${f(sy(y))}" stroke="#e6e6e6"/>`);
    o.push(`<line x1="${m.l - 5}" y1="${f(sy(y))}" x2="${m.l}" y2="${f(sy(y))}" stroke="black"/>`);
    o.push(`<text x="${m.l - 8}" y="${f(sy(y) + 4)}" text-anchor="end">${y.toFixed(yDec)}</text>`);
  }
  // x ticks: the labelled counts (thinned to at most 12)
  const xt = [...new Set(xs)].sort((a, b) => a - b);
  const every = Math.ceil(xt.length / 12);
  xt.forEach((x, i) => {
    if (i % every !== 0 && i !== xt.length - 1) return;
    o.push(`<line x1="${f(sx(x))}" y1="${m.t + ph}" x2="${f(sx(x))}" y2="${m.t + ph + 5}" stroke="black"/>`);
    o.push(`<text x="${f(sx(x))}" y="${m.t + ph + 19}" text-anchor="middle">${x}</text>`);
  });
  o.push(`<line x1="${m.l}" y1="${m.t + ph}" x2="${m.l + pw}" y2="${m.t + ph}" stroke="black"/>`);
  o.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${m.t + ph}" stroke="black"/>`);
  o.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">images with pixel labels</text>`);
  o.push(
    `<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel ?? 'test mIoU (predicted tags)')}</text>`,
  );
  if (opts.reference !== undefined && opts.reference !== null) {
    o.push(
      `<line x1="${m.l}" y1="${f(sy(opts.reference))}" x2="${m.l + pw}" y2="${f(sy(opts.reference))}" stroke="#777777" stroke-dasharray="4 4"/>`,
    );
  }
  Object.entries(curves).forEach(([name, c], i) => {
    const colour = PALETTE[name] ?? EXTRA[i % EXTRA.length]!;
    o.push(
      `<polyline data-strategy="${esc(name)}" fill="none" stroke="${colour}" stroke-width="2" points="${c.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ')}"/>`,
    );
    for (const [x, y] of c) o.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3" fill="${colour}"/>`);
    const ly = m.t + 10 + i * 20;
    o.push(`<line x1="${m.l + pw + 16}" y1="${ly}" x2="${m.l + pw + 40}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    o.push(`<text x="${m.l + pw + 46}" y="${ly + 4}">${esc(name)}</text>`);
  });
  if (opts.reference !== undefined && opts.reference !== null) {
    const ly = m.t + 10 + Object.keys(curves).length * 20;
    o.push(`<line x1="${m.l + pw + 16}" y1="${ly}" x2="${m.l + pw + 40}" y2="${ly}" stroke="#777777" stroke-dasharray="4 4"/>`);
    o.push(`<text x="${m.l + pw + 46}" y="${ly + 4}">random, final</text>`);
  }
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

/** Stable per-image number (scribble seeds depend on the image, not on the order of picking). */
const idHash = (id: string) => Number.parseInt(crypto.createHash('md5').update(id).digest('hex').slice(0, 6), 16);

export async function benchActive(o: ActiveOptions): Promise<ActiveResult> {
  if (o.strategies.length === 0) throw new Error('no strategy given');
  if (o.seeds.length === 0) throw new Error('no seed given');
  if (o.minutesPerRound !== undefined && o.epochsPerRound !== undefined)
    throw new Error('give either minutes or epochs per round, not both');
  if ((o.jobs ?? 1) > 1 && o.seeds.length > 1) {
    if (!o.childArgv) throw new Error('jobs > 1 needs the command line to rerun (childArgv)');
    const t0 = Date.now();
    log(`heatseg bench active — ${new Date().toISOString()}: ${o.seeds.length} seeds, ${o.jobs} processes at once`);
    const { perSeed, config } = await runSeedsInChildren(o);
    return summarise(o, perSeed, config, t0);
  }
  const backend = await initBackend(o.backend);
  const { classes } = readClassesJson(path.join(o.pool, 'classes.json'));
  const C = classes.length;
  const files = new Map(
    fs.readdirSync(path.join(o.pool, 'images')).map((f) => [path.basename(f, path.extname(f)), path.join(o.pool, 'images', f)]),
  );
  let poolIds = [...files.keys()].sort();
  let testIds: string[] | undefined;
  if (!o.test) [poolIds, testIds] = splitByContent(poolIds, files, o.split, o.splitSeed);
  // only images with a ground-truth mask can be "annotated"
  poolIds = poolIds.filter((id) => fs.existsSync(path.join(o.pool, 'masks', `${id}.png`)));
  log(`heatseg bench active — ${new Date().toISOString()}`);
  log(
    `machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, node ${process.version}, backend ${backend.name} (${backend.detail})`,
  );
  const poolData = await datasetFromMaskFolder(o.pool, o.size, { ids: poolIds });
  const testData = await datasetFromMaskFolder(o.test ?? o.pool, o.size, { withTruth: true, ...(testIds ? { ids: testIds } : {}) });
  if (o.test) {
    const { classes: tc } = readClassesJson(path.join(o.test, 'classes.json'));
    if (tc.join('\n') !== classes.join('\n')) throw new Error(`${o.test}/classes.json lists other classes than ${o.pool}/classes.json`);
  }
  const need = o.start + o.rounds * o.step;
  if (need > poolData.samples.length)
    throw new Error(
      `--start ${o.start} + ${o.rounds} rounds × --step ${o.step} = ${need} images, but the pool has only ${poolData.samples.length} with masks`,
    );
  if (!testData.samples.some((s) => s.truth)) throw new Error('no test image has a mask');
  const epochs = o.minutesPerRound === undefined ? (o.epochsPerRound ?? 2) : undefined;
  const config = {
    pool: o.pool,
    test: o.test ?? `${Math.round((1 - o.split) * 100)}% split of --pool (split seed ${o.splitSeed}, duplicates kept together)`,
    pool_images: poolData.samples.length,
    test_images: testData.samples.length,
    classes: C,
    start: o.start,
    step: o.step,
    rounds: o.rounds,
    labels: o.labels,
    strategies: o.strategies,
    method: o.method,
    backbone: o.backbone,
    size: o.size,
    batch: o.batch,
    epochs_per_round: epochs ?? null,
    minutes_per_round: o.minutesPerRound ?? null,
    budget_clock: o.minutesPerRound !== undefined ? (o.budgetClock ?? 'cpu') : null,
    warm_start: !o.cold,
    tag_epochs: o.tagEpochs ?? 0,
    lr: o.lr ?? DEFAULT_TRAIN.lr,
    encoder_lr: o.encoderLr ?? (o.backbone === 'small' ? (o.lr ?? DEFAULT_TRAIN.lr) : (o.lr ?? DEFAULT_TRAIN.lr) / 10),
    warmup_steps: o.warmupSteps ?? DEFAULT_TRAIN.warmupSteps,
    backend: backend.name,
    backend_detail: backend.detail,
    machine: `${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}`,
    load_at_start: os.loadavg()[0],
    lrp_depth: null as number | null,
  };
  log(`config: ${JSON.stringify(config)}`);

  const encoder = o.backbone === 'small' ? ({ kind: 'small' } as const) : ({ kind: 'pretrained', path: o.backbone } as const);
  const build = (seed: number) =>
    createSegmenter({
      method: o.method,
      classes: C,
      inputSize: o.size,
      encoder,
      seed,
      lrpDepth: o.method === 'lrp' ? (o.lrpDepth ?? 'auto') : 0,
    });
  const heatNorm = DEFAULT_TRAIN.heatNorm ?? 'pixel';
  const byId = new Map(poolData.samples.map((s) => [s.id, s]));

  const t0 = Date.now();
  const runSeed = async (seed: number): Promise<SeedRun> => {
    // pixel labels as the simulated annotator draws them: fixed per (seed, image), whoever asks
    const labelCache = new Map<string, Uint8Array>();
    const pixelLabels = (id: string): Uint8Array => {
      let l = labelCache.get(id);
      if (!l) {
        const s = byId.get(id)!;
        const m = readMaskPng(path.join(o.pool, 'masks', `${id}.png`));
        const full = o.labels === 'masks' ? m.data : simulateScribbles(m.data, m.width, m.height, { seed: seed + idHash(id) }).scribbles;
        l = resizeLabels(full, m.width, m.height, s.width, s.height);
        labelCache.set(id, l);
      }
      return l;
    };
    const datasetWith = (labelled: Set<string>): Dataset => ({
      classes,
      samples: poolData.samples.map((s): Sample => ({ ...s, labels: labelled.has(s.id) ? pixelLabels(s.id) : null })),
    });
    const tagStage = (o.tagEpochs ?? 0) > 0;
    const cfgFor = (round: number, heatScaleInit?: number): TrainConfig => ({
      ...DEFAULT_TRAIN,
      size: o.size,
      batch: o.batch,
      seed: seed * 1000 + round,
      epochs,
      minutes: o.minutesPerRound,
      budgetClock: o.budgetClock ?? 'cpu',
      ...(o.lr !== undefined ? { lr: o.lr } : {}),
      ...(o.encoderLr !== undefined ? { encoderLr: o.encoderLr } : {}),
      // the λ warm-up lets a fresh tag head learn first: not needed after the tag stage, nor in a
      // warm-started round
      warmupSteps: tagStage ? 0 : round === 0 || o.cold ? (o.warmupSteps ?? DEFAULT_TRAIN.warmupSteps) : 0,
      ...(heatScaleInit !== undefined ? { heatScaleInit } : {}),
    });
    const trainRound = async (model: Segmenter, labelled: Set<string>, round: number, heatScaleInit: number | undefined, tag: string) => {
      const cfg = cfgFor(round, heatScaleInit);
      const r = await train(model, datasetWith(labelled), cfg, {
        onEvent: (e) => {
          if (e.type === 'epoch')
            log(
              `  [${tag}] epoch ${e.epoch} step ${e.step}: tag ${e.tagLoss.toFixed(3)} heat ${e.segLoss.toFixed(3)} (uniform ${e.uniformSegLoss.toFixed(3)})`,
            );
        },
      });
      const ev = await evaluate(model, testData, { heatScale: r.heatScale, heatNorm, withGivenTags: true });
      return { r, ev };
    };

    const initial = chooseLabelled(poolData.samples, o.start, C, seed).map((s) => s.id);
    if (initial.length < o.start) throw new Error(`only ${initial.length} pool images have tags; --start ${o.start} needs more`);
    log(`\n== seed ${seed}: round 0 (${initial.length} labelled, shared by all strategies): ${initial.join(' ')}`);
    // the weights a cold round restarts from: after the tag stage, or the fresh model's
    let wInit: WeightMap | null = null;
    let tagStageRecord: SeedRun['tag_stage'] = null;
    const initialWeights = async (): Promise<WeightMap> => {
      if (!wInit) {
        const fresh = await build(seed);
        wInit = fresh.getWeights();
        fresh.dispose();
      }
      return wInit;
    };
    const m0 = await build(seed);
    if (o.method === 'lrp') config.lrp_depth ??= m0.config().lrpDepth;
    if (tagStage) {
      const r = await train(m0, datasetWith(new Set()), { ...cfgFor(-1), epochs: o.tagEpochs, minutes: undefined }, {
        onEvent: (e) => {
          if (e.type === 'epoch') log(`  [seed ${seed} tag stage] epoch ${e.epoch} step ${e.step}: tag ${e.tagLoss.toFixed(3)}`);
        },
      });
      const ev = await evaluate(m0, testData, { heatScale: r.heatScale, heatNorm, withGivenTags: true });
      wInit = m0.getWeights();
      log(
        `  tag stage: ${r.steps} steps in ${r.seconds.toFixed(0)} s (cpu ${r.cpuSeconds.toFixed(0)} s); test tag accuracy ${ev.tagAccuracy?.toFixed(3) ?? '–'}, mIoU ${ev.predicted.miou.toFixed(3)} (true tags ${ev.givenTags?.miou.toFixed(3) ?? '–'}) before any pixel label`,
      );
      tagStageRecord = { steps: r.steps, train_s: r.seconds, cpu_s: r.cpuSeconds, tag_accuracy: ev.tagAccuracy ?? null, miou: ev.predicted.miou, miou_given_tags: ev.givenTags?.miou ?? null };
    }
    const first = await trainRound(m0, new Set(initial), 0, undefined, `seed ${seed} round 0`);
    const w0: WeightMap = m0.getWeights();
    m0.dispose();
    log(
      `  round 0 (lrp depth ${config.lrp_depth ?? '–'}): mIoU ${first.ev.predicted.miou.toFixed(3)}, heat loss ${first.r.final.segLoss.toFixed(3)} (uniform ${first.r.final.uniformSegLoss.toFixed(3)}), ${first.r.steps} steps in ${first.r.seconds.toFixed(0)} s`,
    );

    const run: SeedRun = { curves: {}, picks: {}, rounds: {}, tag_stage: tagStageRecord };
    for (const strategy of o.strategies) {
      const model = await build(seed);
      model.setWeights(w0);
      const labelled = new Set(initial);
      let heatScale = first.r.heatScale;
      const picks: string[][] = [[...initial]];
      const curve: Curve = [[labelled.size, first.ev.predicted.miou]];
      const rounds: SeedRun['rounds'][string] = [roundRecord(labelled.size, first, 0)];
      try {
        for (let round = 1; round <= o.rounds; round++) {
          // score the unlabelled pool with the current model, as `heatseg suggest` does
          const ts = Date.now();
          const stride = encoderStride(model);
          const outputs = async (s: Sample): Promise<ImageOutputs> => {
            if (strategy === 'random') return { id: s.id, tagProbs: [], classes: [], probs: [], mask: [] };
            // coverage: what the annotator gave — tags of a candidate, scribbled classes of a labelled image
            if (strategy === 'coverage' && labelled.has(s.id)) {
              const present = new Set<number>();
              for (const v of pixelLabels(s.id)) if (v !== IGNORE) present.add(v);
              return { id: s.id, tagProbs: [], classes: [], probs: [], mask: [], givenTags: [...present].sort((a, b) => a - b) };
            }
            const outW = Math.min(64, s.width);
            const outH = Math.max(1, Math.round((s.height / s.width) * outW));
            const p = await predict(model, s, { stride, heatScale, heatNorm, outWidth: outW, outHeight: outH, probs: true });
            return { id: s.id, tagProbs: p.tagProbs ?? new Float32Array(C), classes: p.classes, probs: p.probs!, mask: p.mask, givenTags: s.tags };
          };
          const candidates: ImageOutputs[] = [];
          const known: ImageOutputs[] = [];
          for (const s of poolData.samples) {
            if (!labelled.has(s.id)) candidates.push(await outputs(s));
            else if (strategy === 'diverse' || strategy === 'coverage') known.push(await outputs(s));
          }
          const ranked = rank(strategy, candidates, o.step, { seed: seed * 7919 + round, labelled: known, classNames: classes });
          const chosen = ranked.map((r) => String(r.id));
          for (const id of chosen) {
            if (labelled.has(id)) throw new Error(`internal: ${strategy} picked ${id} twice`);
            labelled.add(id);
          }
          const scoreS = (Date.now() - ts) / 1000;
          picks.push(chosen);
          if (o.cold) model.setWeights(await initialWeights());
          const { r, ev } = await trainRound(
            model,
            labelled,
            round,
            o.cold ? undefined : heatScale,
            `seed ${seed} ${strategy} round ${round}`,
          );
          heatScale = r.heatScale;
          curve.push([labelled.size, ev.predicted.miou]);
          rounds.push(roundRecord(labelled.size, { r, ev }, scoreS));
          log(
            `  seed ${seed} ${strategy} round ${round}: +${chosen.length} (${chosen.join(' ')}) → ${labelled.size} labelled, mIoU ${ev.predicted.miou.toFixed(3)}, heat loss ${r.final.segLoss.toFixed(3)} (uniform ${r.final.uniformSegLoss.toFixed(3)})` +
              ` (scoring ${scoreS.toFixed(0)} s, training ${r.steps} steps ${r.seconds.toFixed(0)} s; ${((Date.now() - t0) / 60000).toFixed(1)} min so far)`,
          );
        }
      } finally {
        model.dispose();
      }
      run.curves[strategy] = curve;
      run.picks[strategy] = picks;
      run.rounds[strategy] = rounds;
    }
    return run;
  };

  const perSeed: Record<string, SeedRun> = {};
  for (const seed of o.seeds) perSeed[String(seed)] = await runSeed(seed);
  if (o.seedRunOut) fs.writeFileSync(o.seedRunOut, JSON.stringify({ config, per_seed: perSeed }));
  return summarise(o, perSeed, config, t0);
}

/** Runs each seed in a child process (`jobs` at a time) and gathers their runs and config. */
async function runSeedsInChildren(o: ActiveOptions): Promise<{ perSeed: Record<string, SeedRun>; config: Record<string, unknown> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-active-'));
  const perSeed: Record<string, SeedRun> = {};
  let config: Record<string, unknown> = {};
  const children = new Set<ChildProcess>();
  const stop = () => children.forEach((c) => c.kill());
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const queue = [...o.seeds];
    const worker = async () => {
      for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
        const out = path.join(dir, `seed-${seed}.json`);
        const args = [...o.childArgv!, '--seeds', String(seed), '--jobs', '1', '--no-plot', '--seed-run-out', out];
        log(`[parent] seed ${seed}: ${path.basename(process.execPath)} ${args.join(' ')}`);
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        children.add(child);
        // the child's progress, each line marked with its seed
        let partial = '';
        child.stderr!.on('data', (b: Buffer) => {
          const lines = (partial + b.toString()).split('\n');
          partial = lines.pop()!;
          for (const l of lines) log(`[seed ${seed}] ${l}`);
        });
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        children.delete(child);
        if (code !== 0 || !fs.existsSync(out)) throw new Error(`the run of seed ${seed} failed (exit status ${code}); its log is above`);
        const r = JSON.parse(fs.readFileSync(out, 'utf8')) as { config: Record<string, unknown>; per_seed: Record<string, SeedRun> };
        Object.assign(perSeed, r.per_seed);
        config = r.config;
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.jobs ?? 1, o.seeds.length) }, worker));
  } catch (e) {
    stop();
    throw e;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { perSeed, config: { ...config, jobs: o.jobs, load_at_start: os.loadavg()[0] } };
}

function summarise(o: ActiveOptions, perSeed: Record<string, SeedRun>, config: Record<string, unknown>, t0: number): ActiveResult {
  const print = o.print ?? ((s: string) => process.stdout.write(s));

  const curves: Record<string, Curve> = {};
  for (const s of o.strategies) curves[s] = meanCurve(o.seeds.map((seed) => perSeed[String(seed)]!.curves[s]!));
  const curvesGiven: Record<string, Curve> = {};
  for (const s of o.strategies) {
    curvesGiven[s] = meanCurve(
      o.seeds.map((seed) => perSeed[String(seed)]!.rounds[s]!.map((r): [number, number] => [r.labelled, r.miou_given_tags ?? NaN])),
    );
  }
  const reachOf = (cs: Record<string, Curve>) => {
    const final = cs.random ? cs.random.at(-1)![1] : null;
    const count = cs.random ? cs.random.at(-1)![0] : null;
    const reach: ActiveResult['reach_random_final'] = {};
    for (const s of o.strategies) {
      const n = final === null ? null : labelsToReach(cs[s]!, final);
      reach[s] = {
        labelled: n,
        saving_pct: n === null || count === null ? null : (1 - n / count) * 100,
        // already at round 0: the true count is ≤ start, so the saving is a lower bound
        at_start: n !== null && final !== null && cs[s]![0]![1] >= final,
      };
    }
    return { final, count, reach };
  };
  const { final: randomFinal, count: randomCount, reach } = reachOf(curves);
  const given = reachOf(curvesGiven);

  // table
  const fmt = (x: number | null, d = 3) => (x === null || Number.isNaN(x) ? '–' : x.toFixed(d));
  const table = (title: string, cs: Record<string, Curve>) => {
    const names = Object.keys(cs);
    const w = names.map((n) => Math.max(6, n.length));
    let t = `\n${title}\nlabelled  ${names.map((n, i) => n.padStart(w[i]!)).join('  ')}\n`;
    cs[names[0]!]!.forEach(([n], r) => {
      t += `${String(n).padStart(8)}  ${names.map((s, i) => fmt(cs[s]![r]![1]).padStart(w[i]!)).join('  ')}\n`;
    });
    return t;
  };
  const seedsText = o.seeds.length > 1 ? `mean over seeds ${o.seeds.join(', ')}` : `seed ${o.seeds[0]}`;
  print(table(`test mIoU (predicted tags) by images with pixel labels — ${seedsText}`, curves));
  if (o.seeds.length > 1) for (const seed of o.seeds) print(table(`seed ${seed}`, perSeed[String(seed)]!.curves));
  const printReach = (what: string, r: ReturnType<typeof reachOf>) => {
    if (r.final === null) return print(`\n(no "random" strategy: labels to reach random's final ${what} not computed)\n`);
    print(`\nlabelled images to reach random's final ${what} ${r.final.toFixed(3)} (random: ${r.count}):\n`);
    const w = Math.max(8, ...o.strategies.map((s) => s.length));
    for (const s of o.strategies) {
      const x = r.reach[s]!;
      const n = x.labelled === null ? 'never' : `${x.at_start ? '≤ ' : ''}${x.labelled.toFixed(1)}`;
      const saving = x.saving_pct === null ? '–' : `${x.at_start ? '≥ ' : ''}${x.saving_pct.toFixed(1)} %`;
      print(`  ${s.padEnd(w)}  ${n.padStart(8)}  saving ${saving}\n`);
    }
    const rr = r.reach.random!;
    if (rr.labelled !== null && rr.labelled < r.count!) {
      print(`  (random's own curve is not monotonic: it first reaches its final value at ${rr.labelled.toFixed(1)} labelled images)\n`);
    }
  };
  printReach('mIoU', { final: randomFinal, count: randomCount, reach });
  print(table(`test mIoU with the true tags given — ${seedsText}`, curvesGiven));
  printReach('mIoU with the true tags given', given);
  let plot: string | null = null;
  if (o.plot) {
    fs.mkdirSync(path.dirname(path.resolve(o.plot)), { recursive: true });
    const perRound = o.minutesPerRound !== undefined ? `${o.minutesPerRound} min` : `${o.epochsPerRound ?? 2} ep`;
    const design = `${o.tagEpochs ? `tag stage ${o.tagEpochs} ep, ` : ''}${perRound}/round ${o.cold ? 'restarted' : 'continued'}`;
    const title = `Active learning: ${path.basename(path.resolve(o.pool))}, ${o.method}, ${o.backbone === 'small' ? 'small' : path.basename(o.backbone)} ${o.size} px, ${o.labels},\n${design}, ${seedsText}`;
    fs.writeFileSync(o.plot, learningCurveSvg(curves, { title, reference: randomFinal }));
    plot = path.resolve(o.plot);
    const givenPlot = plot.replace(/(\.svg)?$/i, '-given-tags.svg');
    fs.writeFileSync(givenPlot, learningCurveSvg(curvesGiven, { title, reference: given.final, yLabel: 'test mIoU (true tags given)' }));
    print(`plot: ${plot}, ${givenPlot}\n`);
  }
  log(
    `total ${((Date.now() - t0) / 60000).toFixed(1)} min, load now ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  return {
    curves,
    curves_given_tags: curvesGiven,
    reach_random_final_given_tags: given.reach,
    seeds: o.seeds,
    per_seed: perSeed,
    random_final_miou: randomFinal,
    reach_random_final: reach,
    plot,
    config,
  };
}
