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
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ImageOutputs, type Strategy, rank } from '../../src-shared/acquisition.js';
import { readClassesJson } from '../dataset/maskfolder.js';
import { initBackend, type BackendName } from '../engine/backend.js';
import { type Dataset, IGNORE, type Sample, datasetFromMaskFolder, resizeLabels } from '../engine/data.js';
import { NO_TTA, predict } from '../engine/infer.js';
import { NO_REFINE } from '../engine/refine.js';
import { createSegmenter, type SegMethod, type Segmenter, type WeightMap } from '../engine/models/index.js';
import {
  DEFAULT_HEAD_LR_RULE,
  DEFAULT_TRAIN,
  type EvalResult,
  type TrainConfig,
  type TrainResult,
  encoderStride,
  evaluate,
  train,
} from '../engine/trainer.js';
import { runSeedsInChildren } from './active-children.js';
import { summarise } from './active-report.js';
import { annotatorLabels, chooseLabelled } from './annotator.js';
import type { Curve } from './learning-curves.js';
import { imageFiles, splitByContent } from './splits.js';

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
  /** Learning rate of the tag head (TrainConfig.headLr; default lr, Grad-CAM lr / 10). */
  headLr?: number;
  warmupSteps?: number;
  /** Fit the tag head on the frozen pretrained features when a round starts from fresh weights (default on). */
  tagProbe?: boolean;
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
  const files = imageFiles(o.pool);
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
    head_lr: o.headLr ?? DEFAULT_HEAD_LR_RULE,
    encoder_lr: o.encoderLr ?? (o.backbone === 'small' ? (o.lr ?? DEFAULT_TRAIN.lr) : (o.lr ?? DEFAULT_TRAIN.lr) / 10),
    warmup_steps: o.warmupSteps ?? DEFAULT_TRAIN.warmupSteps,
    tag_probe: o.tagProbe ?? true,
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
        const m = annotatorLabels(o.pool, id, o.labels, seed);
        l = resizeLabels(m.data, m.width, m.height, s.width, s.height);
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
      ...(o.headLr !== undefined ? { headLr: o.headLr } : {}),
      // the λ warm-up lets a fresh tag head learn first: not needed after the tag stage, nor in a
      // warm-started round
      warmupSteps: tagStage ? 0 : round === 0 || o.cold ? (o.warmupSteps ?? DEFAULT_TRAIN.warmupSteps) : 0,
      ...(heatScaleInit !== undefined ? { heatScaleInit } : {}),
      // the tag-head probe only on fresh weights (the tag stage, or a round that starts from the
      // initial model); never over a head that has been trained
      tagProbe: (o.tagProbe ?? true) && (round < 0 || (!tagStage && (round === 0 || !!o.cold))),
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
            const p = await predict(model, s, { stride, heatScale, heatNorm, outWidth: outW, outHeight: outH, probs: true, tta: NO_TTA, refine: NO_REFINE });
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
