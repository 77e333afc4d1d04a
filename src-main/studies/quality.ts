/**
 * `heatseg bench quality`: the claim of the method. Every training image gets its tags; N images
 * (chosen reproducibly, class-balanced) also get pixel labels — full masks or simulated scribbles —
 * and each method trains under the same budget, then is evaluated on held-out images.
 * Ends with one JSON line. Run: npx heatseg bench quality --help
 */
import os from 'node:os';
import path from 'node:path';
import { Confusion, type TagMetrics, foregroundIou, meanSe, summarize, tagMetrics } from '../../src-shared/metrics.js';
import { readClassesJson } from '../dataset/maskfolder.js';
import type { ResolvedBackbone } from '../backbones.js';
import { initBackend, type BackendName } from '../engine/backend.js';
import { type Dataset, IGNORE, datasetFromMaskFolder, resizeLabels } from '../engine/data.js';
import { DECODE_DEFAULTS } from '../engine/prepost.js';
import { DEFAULT_TTA, predict, type Tta, ttaKey } from '../engine/infer.js';
import { DEFAULT_REFINE, type Refine, refineKey } from '../engine/refine.js';
import { DEFAULT_LRP_POOL, DEFAULT_LRP_RULE, DEFAULT_LRP_TOP_RELEVANCE, type LrpPoolRule, type LrpRuleName, createSegmenter, type SegMethod, type Segmenter } from '../engine/models/index.js';
import { DEFAULT_HEAD_LR_RULE, DEFAULT_TRAIN, type EvalResult, type TrainConfig, encoderStride, evaluate, train } from '../engine/trainer.js';
import { annotatorLabels, chooseLabelled } from './annotator.js';
import { imageFiles, splitByContent, splitPartsByContent } from './splits.js';

export interface QualityOptions {
  train: string;
  test?: string;
  /** Without --test: fraction of --train used for training (the rest is the test split). */
  split: number;
  /**
   * Without --test: dev-train / dev-val / dev-test fractions of --train (by content, seed
   * `splitSeed`); training uses dev-train, evaluation the part `evalPart`. Overrides `split`.
   */
  parts?: [number, number, number];
  evalPart?: 'val' | 'test';
  /** Seed of the split (default: the first seed, as single-seed runs always did). */
  splitSeed?: number;
  labeled: number;
  labels: 'scribbles' | 'masks';
  methods: Array<SegMethod | 'tagfill'>;
  /** What to train on (src-main/backbones.ts): the CLI's default is the shipped darknet-tiny. */
  backbone: ResolvedBackbone;
  minutes?: number;
  epochs?: number;
  size: number;
  batch: number;
  /** Each seed is a whole run (labelled images, scribbles, initialisation, batches); results are averaged. */
  seeds: number[];
  backend?: BackendName;
  lr?: number;
  encoderLr?: number;
  /** Learning rate of the tag head (TrainConfig.headLr; default lr, Grad-CAM lr / 10). */
  headLr?: number;
  warmupSteps?: number;
  heatScaleInit?: number;
  learnHeatScale?: boolean;
  segWeight?: number;
  lrpDepth?: number;
  heatNorm?: 'none' | 'pixel';
  lrpRule?: LrpRuleName;
  /** LRP max-pool rule (default DEFAULT_LRP_POOL). */
  lrpPool?: LrpPoolRule;
  /** LRP: add the relevance at the last feature map (SegmenterConfig.lrpTopRelevance). */
  lrpTopRelevance?: boolean;
  tagWarmupSteps?: number;
  tagBalance?: 'none' | 'balanced';
  /** Fit the tag head on the frozen pretrained features first (TrainConfig.tagProbe; default on). */
  tagProbe?: boolean;
  /** A class name treated as the background: always decoded, and `foreground_iou` is reported. */
  background?: string;
  /** Decode rule of predicted tags used for `miou` (default the app's: p ≥ 0.5, at least 1, at most 4). */
  decode?: DecodeSpec;
  /** Decode rules measured beside `decode` (default DECODE_VARIANTS). */
  decodeVariants?: DecodeSpec[];
  /**
   * Test-time augmentations also measured on each trained model (decode rule `decode`): keys
   * `tta:<ttaKey>` (predicted tags) and `tta-given:<ttaKey>` (true tags) in decode_rules.
   */
  ttaVariants?: Tta[];
  /** Refinements with the image (refine.ts) also measured on each trained model (keys refine:… / refine-given:…). */
  refineVariants?: Refine[];
  /** What --minutes measures (default cpu: the same compute per method whatever else runs). */
  budgetClock?: 'wall' | 'cpu';
}

const log = (s: string) => process.stderr.write(`${s}\n`);

interface MethodResult {
  miou: number;
  /** tagfill: whose tag head chose the classes it fills (the first tag-capable method the run trained, or its own tags-only classifier). */
  tag_source?: string;
  miou_given_tags: number | null;
  pixel_accuracy: number;
  tag_accuracy: number | null;
  tag_map: number | null;
  /** Per class: tag AP (null without a positive test image) and accuracy of the p ≥ 0.5 decision. */
  tag_per_class: Record<string, { ap: number | null; accuracy: number }> | null;
  foreground_iou: number | null;
  per_class: Record<string, number | null>;
  /** mIoU (predicted tags) under other decode rules, keyed `p<threshold>/min<k>/max<k>` (a measured choice). */
  decode_rules: Record<string, number>;
  train_s: number;
  cpu_s: number;
  steps: number;
  heat_loss: number | null;
  heat_loss_uniform: number | null;
}

/** A decode rule of predicted tags: threshold, at least / at most, soft weight w (prepost.ts). */
export interface DecodeSpec {
  threshold: number;
  minClasses: number;
  maxClasses: number;
  tagPrior?: number;
}

/** Other decode rules measured beside the one `miou` uses (the first is the default before p 0.3; the last three soft: top 4 or 6, w · ln p added). */
export const DECODE_VARIANTS: DecodeSpec[] = [
  { threshold: 0.5, minClasses: 1, maxClasses: 4 },
  { threshold: 0.5, minClasses: 2, maxClasses: 4 },
  { threshold: 0.5, minClasses: 1, maxClasses: 2 },
  { threshold: 0.7, minClasses: 1, maxClasses: 4 },
  { threshold: 0, minClasses: 4, maxClasses: 4, tagPrior: 1 },
  { threshold: 0, minClasses: 4, maxClasses: 4, tagPrior: 2 },
  { threshold: 0, minClasses: 6, maxClasses: 6, tagPrior: 1 },
];
export const ruleKey = (r: DecodeSpec) => `p${r.threshold}/min${r.minClasses}/max${r.maxClasses}${r.tagPrior ? `/w${r.tagPrior}` : ''}`;

function fromEval(e: EvalResult, extra: Omit<MethodResult, 'miou' | 'miou_given_tags' | 'pixel_accuracy' | 'tag_accuracy' | 'tag_map' | 'tag_per_class' | 'foreground_iou' | 'per_class'>): MethodResult {
  return {
    miou: e.predicted.miou,
    miou_given_tags: e.givenTags?.miou ?? null,
    pixel_accuracy: e.predicted.pixelAccuracy,
    tag_accuracy: e.tagAccuracy ?? null,
    tag_map: e.tags?.map ?? null,
    tag_per_class: e.tags?.perClass ?? null,
    foreground_iou: e.foregroundIou ?? null,
    per_class: e.predicted.perClass,
    ...extra,
  };
}

/** The control: the tag head's most likely class painted over the whole image. */
async function tagFill(model: Segmenter, test: Dataset, byFrequency: number[]): Promise<{ pred: Confusion; given: Confusion; tags: TagMetrics }> {
  const C = test.classes.length;
  const pred = new Confusion(C);
  const given = new Confusion(C);
  const stride = encoderStride(model);
  const probRows: Float32Array[] = [];
  const tagRows: number[][] = [];
  for (const s of test.samples) {
    if (!s.truth) continue;
    const p = await predict(model, s, { stride, maxClasses: 1 });
    probRows.push(p.tagProbs!);
    tagRows.push(s.tags);
    let best = 0;
    for (let c = 1; c < C; c++) if (p.tagProbs![c]! > p.tagProbs![best]!) best = c;
    pred.add(s.truth, new Uint8Array(s.truth.length).fill(best));
    // With true tags: of the image's tags, the one tagged on most training images.
    const rank = (c: number) => byFrequency.indexOf(c);
    const g = s.tags.length ? s.tags.reduce((a, b) => (rank(b) < rank(a) ? b : a)) : best;
    given.add(s.truth, new Uint8Array(s.truth.length).fill(g));
  }
  return { pred, given, tags: tagMetrics(probRows, tagRows, test.classes) };
}

const f3 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '  –  ' : x.toFixed(3));

export async function benchQuality(o: QualityOptions): Promise<Record<string, unknown>> {
  const backend = await initBackend(o.backend);
  const { classes } = readClassesJson(path.join(o.train, 'classes.json'));
  const C = classes.length;
  if (o.seeds.length === 0) throw new Error('give at least one seed');
  const background = o.background === undefined ? null : classes.indexOf(o.background);
  if (background === -1) throw new Error(`--background ${o.background}: no such class in ${path.join(o.train, 'classes.json')} (classes: ${classes.join(', ')})`);
  const always = background === null ? [] : [background];
  const files = imageFiles(o.train);
  let trainIds = [...files.keys()].sort();
  const testDir = o.test ?? o.train;
  let testIds: string[] | undefined;
  const splitSeed = o.splitSeed ?? o.seeds[0]!;
  let testDescription: string;
  if (o.test) testDescription = o.test;
  else if (o.parts) {
    const [tr, va, te] = splitPartsByContent(trainIds, files, o.parts, splitSeed);
    trainIds = tr!;
    testIds = o.evalPart === 'test' ? te! : va!;
    testDescription = `dev-${o.evalPart ?? 'val'} part of a ${o.parts.join('/')} dev-train/dev-val/dev-test split of --train by content (split seed ${splitSeed})`;
  } else {
    [trainIds, testIds] = splitByContent(trainIds, files, o.split, splitSeed);
    testDescription = `${Math.round((1 - o.split) * 100)}% split of --train (seed ${splitSeed}, duplicates kept together)`;
  }
  log(`heatseg bench quality — ${new Date().toISOString()}`);
  log(`machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, node ${process.version}, backend ${backend.name} (${backend.detail})`);
  const base = o.size;
  const trainData = await datasetFromMaskFolder(o.train, base, { withLabels: true, ids: trainIds });
  const testData = await datasetFromMaskFolder(testDir, base, { withTruth: true, ...(testIds ? { ids: testIds } : {}) });
  // Classes by how many training images show them, for the "true tags" control.
  const freq = new Array<number>(C).fill(0);
  for (const s of trainData.samples) for (const c of s.tags) freq[c]!++;
  const byFrequency = [...freq.keys()].sort((a, b) => freq[b]! - freq[a]!);
  const decode: DecodeSpec = o.decode ?? { ...DECODE_DEFAULTS };

  const config = {
    train: o.train,
    test: testDescription,
    train_images: trainData.samples.length,
    test_images: testData.samples.length,
    // image tags: labels.json, or (none there) the classes each mask shows
    train_tags: trainData.tagsFrom ?? null,
    test_tags: testData.tagsFrom ?? null,
    labeled: o.labeled,
    labels: o.labels,
    backbone: o.backbone.label,
    backbone_dir: o.backbone.dir,
    size: o.size,
    batch: o.batch,
    minutes: o.minutes ?? null,
    budget_clock: o.budgetClock ?? 'cpu',
    load_average_start: os.loadavg().map((x) => +x.toFixed(2)),
    epochs: o.epochs ?? null,
    seeds: o.seeds,
    split_seed: splitSeed,
    lrp_depth: o.lrpDepth ?? 'auto',
    lrp_rule: o.lrpRule ?? DEFAULT_LRP_RULE,
    lrp_pool: o.lrpPool ?? DEFAULT_LRP_POOL,
    lrp_top_relevance: o.lrpTopRelevance ?? DEFAULT_LRP_TOP_RELEVANCE,
    heat_norm: o.heatNorm ?? DEFAULT_TRAIN.heatNorm,
    tag_warmup_steps: o.tagWarmupSteps ?? 0,
    tag_balance: o.tagBalance ?? 'none',
    tag_probe: o.tagProbe ?? true,
    warmup_steps: o.warmupSteps ?? DEFAULT_TRAIN.warmupSteps,
    head_lr: o.headLr ?? DEFAULT_HEAD_LR_RULE,
    background: o.background ?? null,
    decode: ruleKey(decode),
    // the test-time views of every evaluation (files from before 2026-12-03 13:00 used one view and lack the key)
    tta: ttaKey(DEFAULT_TTA),
    // the refinement with the image of every evaluation (files from before 2026-12-03 16:00 lack the key: none)
    refine: refineKey(DEFAULT_REFINE),
  };
  log(`config: ${JSON.stringify(config)}`);

  const perSeed: Array<{ seed: number; labelled_fraction: number; results: Record<string, MethodResult> }> = [];
  for (const seed of o.seeds) {
    log(`\n######## seed ${seed}`);
    // Pixel labels only for the chosen N images (chosen per seed).
    const chosen = new Set(chooseLabelled(trainData.samples, o.labeled, C, seed));
    let labelledPx = 0, totalPx = 0;
    for (const s of trainData.samples) {
      if (!chosen.has(s)) {
        s.labels = null;
        continue;
      }
      const m = annotatorLabels(o.train, s.id, o.labels, seed);
      const full = m.data;
      for (let p = 0; p < full.length; p++) {
        totalPx++;
        if (full[p] !== IGNORE) labelledPx++;
      }
      s.labels = resizeLabels(full, m.width, m.height, s.width, s.height);
    }
    const results = await runSeed(o, seed, trainData, testData, byFrequency, always, decode);
    perSeed.push({ seed, labelled_fraction: totalPx ? labelledPx / totalPx : 0, results });
  }

  // Mean ± s.e. over seeds per method; paired differences LRP − each other method.
  const methods: Record<string, unknown> = {};
  const names = Object.keys(perSeed[0]!.results);
  const col = (m: string, k: keyof MethodResult) => perSeed.map((r) => r.results[m]![k] as number | null).filter((x): x is number => x !== null && !Number.isNaN(x));
  for (const m of names) {
    const ms = (k: keyof MethodResult) => {
      const v = col(m, k);
      return v.length ? meanSe(v) : null;
    };
    const first = perSeed[0]!.results[m]!;
    const meanRecord = (get: (r: MethodResult) => Record<string, number | null>) =>
      Object.fromEntries(
        Object.keys(get(first)).map((key) => {
          const v = perSeed.map((r) => get(r.results[m]!)[key]).filter((x): x is number => x !== null && x !== undefined && !Number.isNaN(x));
          return [key, v.length ? meanSe(v).mean : null];
        }),
      );
    methods[m] = {
      miou: ms('miou')?.mean ?? null,
      miou_se: ms('miou')?.se ?? null,
      miou_given_tags: ms('miou_given_tags')?.mean ?? null,
      miou_given_tags_se: ms('miou_given_tags')?.se ?? null,
      pixel_accuracy: ms('pixel_accuracy')?.mean ?? null,
      tag_accuracy: ms('tag_accuracy')?.mean ?? null,
      tag_map: ms('tag_map')?.mean ?? null,
      tag_map_se: ms('tag_map')?.se ?? null,
      foreground_iou: ms('foreground_iou')?.mean ?? null,
      foreground_iou_se: ms('foreground_iou')?.se ?? null,
      heat_loss: ms('heat_loss')?.mean ?? null,
      heat_loss_uniform: ms('heat_loss_uniform')?.mean ?? null,
      steps: ms('steps')?.mean ?? null,
      cpu_s: ms('cpu_s')?.mean ?? null,
      per_class: meanRecord((r) => r.per_class),
      tag_per_class: first.tag_per_class
        ? Object.fromEntries(
            Object.keys(first.tag_per_class).map((k) => {
              const aps = perSeed.map((r) => r.results[m]!.tag_per_class?.[k]?.ap).filter((x): x is number => typeof x === 'number');
              const acc = perSeed.map((r) => r.results[m]!.tag_per_class?.[k]?.accuracy).filter((x): x is number => typeof x === 'number');
              return [k, { ap: aps.length ? meanSe(aps).mean : null, accuracy: acc.length ? meanSe(acc).mean : null }];
            }),
          )
        : null,
      decode_rules: meanRecord((r) => r.decode_rules),
      ...(first.tag_source ? { tag_source: first.tag_source } : {}),
      per_seed: perSeed.map((r) => {
        const x = r.results[m]!;
        return { seed: r.seed, miou: x.miou, miou_given_tags: x.miou_given_tags, tag_map: x.tag_map, foreground_iou: x.foreground_iou, steps: x.steps, cpu_s: x.cpu_s, heat_loss: x.heat_loss, heat_loss_uniform: x.heat_loss_uniform, decode_rules: x.decode_rules };
      }),
    };
  }
  const paired: Record<string, unknown> = {};
  if (names.includes('lrp')) {
    for (const m of names.filter((n) => n !== 'lrp')) {
      const d = perSeed.map((r) => r.results.lrp!.miou - r.results[m]!.miou);
      const { mean, se } = meanSe(d);
      paired[`lrp-${m}`] = { miou_diff: mean, se, per_seed: d };
    }
  }

  log(`\n== ${o.seeds.length} seed(s): mean ± s.e. over seeds`);
  log('method    mIoU            mIoU|tags       tag mAP  fg IoU  heat loss (uniform)  steps');
  for (const m of names) {
    const r = methods[m] as Record<string, number | null>;
    log(`${m.padEnd(8)}  ${f3(r.miou)} ± ${f3(r.miou_se)}  ${f3(r.miou_given_tags)} ± ${f3(r.miou_given_tags_se)}  ${f3(r.tag_map)}    ${f3(r.foreground_iou)}   ${f3(r.heat_loss)} (${f3(r.heat_loss_uniform)})        ${r.steps?.toFixed(0) ?? '–'}`);
  }
  for (const [k, v] of Object.entries(paired)) {
    const p = v as { miou_diff: number; se: number };
    log(`paired ${k}: ${p.miou_diff >= 0 ? '+' : ''}${p.miou_diff.toFixed(3)} ± ${p.se.toFixed(3)}`);
  }
  log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  return {
    methods,
    paired,
    backend: backend.name,
    backend_detail: backend.detail,
    ...config,
    labelled_fraction: meanSe(perSeed.map((r) => r.labelled_fraction)).mean,
    load_average_end: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

async function runSeed(
  o: QualityOptions,
  seed: number,
  trainData: Dataset,
  testData: Dataset,
  byFrequency: number[],
  always: number[],
  decode: DecodeSpec,
): Promise<Record<string, MethodResult>> {
  const C = trainData.classes.length;
  const encoder = o.backbone.dir ? ({ kind: 'pretrained', path: o.backbone.dir } as const) : ({ kind: 'small' } as const);
  const results: Record<string, MethodResult> = {};
  let tagModel: Segmenter | null = null;
  let tagSource = '';
  const trainMethods = o.methods.filter((m): m is SegMethod => m !== 'tagfill');
  for (const method of trainMethods) {
    const cfg: TrainConfig = {
      ...DEFAULT_TRAIN,
      size: o.size,
      batch: o.batch,
      seed,
      epochs: o.epochs,
      minutes: o.minutes,
      ...(o.lr !== undefined ? { lr: o.lr } : {}),
      ...(o.encoderLr !== undefined ? { encoderLr: o.encoderLr } : {}),
      ...(o.headLr !== undefined ? { headLr: o.headLr } : {}),
      ...(o.warmupSteps !== undefined ? { warmupSteps: o.warmupSteps } : {}),
      ...(o.heatScaleInit !== undefined ? { heatScaleInit: o.heatScaleInit } : {}),
      ...(o.learnHeatScale !== undefined ? { learnHeatScale: o.learnHeatScale } : {}),
      ...(o.segWeight !== undefined ? { segWeight: o.segWeight } : {}),
      ...(o.heatNorm !== undefined ? { heatNorm: o.heatNorm } : {}),
      ...(o.tagWarmupSteps !== undefined ? { tagWarmupSteps: o.tagWarmupSteps } : {}),
      ...(o.tagBalance !== undefined ? { tagBalance: o.tagBalance } : {}),
      ...(o.tagProbe !== undefined ? { tagProbe: o.tagProbe } : {}),
      alwaysDecode: always,
      budgetClock: o.budgetClock ?? 'cpu',
    };
    if (!cfg.epochs && !cfg.minutes) cfg.epochs = 30;
    const model = await createSegmenter({
      method,
      classes: C,
      inputSize: o.size,
      encoder,
      seed,
      lrpDepth: method === 'lrp' ? (o.lrpDepth ?? 'auto') : 0,
      ...(method === 'lrp' && o.lrpRule ? { lrpRule: o.lrpRule } : {}),
      ...(method === 'lrp' && o.lrpPool ? { lrpPool: o.lrpPool } : {}),
      ...(method === 'lrp' && o.lrpTopRelevance !== undefined ? { lrpTopRelevance: o.lrpTopRelevance } : {}),
    });
    log(`\n== ${method} (seed ${seed}): training (${cfg.minutes ? `${cfg.minutes} min` : `${cfg.epochs} epochs`})`);
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
    const evalOpts = { heatScale: r.heatScale, heatNorm: cfg.heatNorm ?? 'pixel', always } as const;
    const ev = await evaluate(model, testData, { ...evalOpts, withGivenTags: method === 'lrp' || method === 'gradcam', ...decode });
    const rules: Record<string, number> = { [ruleKey(decode)]: ev.predicted.miou };
    if (method !== 'unet') {
      // How the choice of decoded classes at test time matters: measured, for choosing on dev-val.
      for (const rule of o.decodeVariants ?? DECODE_VARIANTS) {
        if (ruleKey(rule) === ruleKey(decode)) continue;
        const v = await evaluate(model, testData, { ...evalOpts, withGivenTags: false, ...rule });
        rules[ruleKey(rule)] = v.predicted.miou;
      }
      for (const tta of o.ttaVariants ?? []) {
        const v = await evaluate(model, testData, { ...evalOpts, withGivenTags: method === 'lrp' || method === 'gradcam', ...decode, tta });
        rules[`tta:${ttaKey(tta)}`] = v.predicted.miou;
        if (v.givenTags) rules[`tta-given:${ttaKey(tta)}`] = v.givenTags.miou;
      }
      for (const refine of o.refineVariants ?? []) {
        const v = await evaluate(model, testData, { ...evalOpts, withGivenTags: method === 'lrp' || method === 'gradcam', ...decode, refine });
        rules[`refine:${refineKey(refine)}`] = v.predicted.miou;
        if (v.givenTags) rules[`refine-given:${refineKey(refine)}`] = v.givenTags.miou;
      }
      log(`  decode rules: ${Object.entries(rules).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
    }
    results[method] = fromEval(ev, {
      decode_rules: rules,
      train_s: r.seconds,
      cpu_s: r.cpuSeconds,
      steps: r.steps,
      heat_loss: Number.isNaN(r.final.segLoss) ? null : r.final.segLoss,
      heat_loss_uniform: Number.isNaN(r.final.uniformSegLoss) ? null : r.final.uniformSegLoss,
    });
    log(
      `  ${method}: mIoU ${f3(ev.predicted.miou)}${ev.givenTags ? ` (true tags ${f3(ev.givenTags.miou)})` : ''}` +
        `${ev.tags ? `, tag mAP ${f3(ev.tags.map)}` : ''}${ev.foregroundIou !== undefined ? `, foreground IoU ${f3(ev.foregroundIou)}` : ''}, ${r.steps} steps in ${r.seconds.toFixed(0)} s (${r.cpuSeconds.toFixed(0)} CPU s)`,
    );
    if (!tagModel && model.method !== 'unet') {
      tagModel = model;
      tagSource = method;
    }
    else model.dispose();
  }
  if (o.methods.includes('tagfill')) {
    if (!tagModel) {
      log('\n== tagfill: training a classifier (tags only)');
      tagModel = await createSegmenter({ method: 'gradcam', classes: C, inputSize: o.size, encoder, seed });
      tagSource = 'tags-only classifier';
      await train(tagModel, { ...trainData, samples: trainData.samples.map((s) => ({ ...s, labels: null })) }, { ...DEFAULT_TRAIN, size: o.size, batch: o.batch, seed, epochs: o.epochs, minutes: o.minutes, budgetClock: o.budgetClock ?? 'cpu' });
    }
    const t = await tagFill(tagModel, testData, byFrequency);
    const p = summarize(t.pred, trainData.classes);
    results.tagfill = {
      miou: p.miou,
      tag_source: tagSource,
      miou_given_tags: t.given.miou(),
      pixel_accuracy: p.pixelAccuracy,
      tag_accuracy: t.tags.accuracy,
      tag_map: t.tags.map,
      tag_per_class: t.tags.perClass,
      foreground_iou: always.length ? foregroundIou(t.pred, always[0]!) : null,
      per_class: p.perClass,
      decode_rules: {},
      train_s: 0,
      cpu_s: 0,
      steps: 0,
      heat_loss: null,
      heat_loss_uniform: null,
    };
    log(`  tagfill (seed ${seed}): mIoU ${f3(p.miou)} (true tags ${f3(t.given.miou())}), the classes of the ${tagSource}${tagSource === 'tags-only classifier' ? '' : ' model'}'s tag head`);
  }
  tagModel?.dispose();
  return results;
}
