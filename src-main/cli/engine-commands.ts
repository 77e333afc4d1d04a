/** `heatseg train | predict | eval | export`: engine work runs in a worker thread; this side shows progress and owns the run rows. */
import fs from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { readJsonFile } from '../json-file.js';
import { JobCancelled, type RunningJob, startJob } from '../engine/client.js';
import type { JobEvent } from '../engine/jobs.js';
import { STRATEGIES, type Strategy } from '../../src-shared/acquisition.js';
import type { TrainConfig } from '../engine/trainer.js';
import { IMAGE_EXTENSIONS } from '../images/decode.js';
import { CHECKPOINT_SUFFIX, ProjectStore, isProjectDir } from '../store/project.js';
import { openProject } from './open.js';
import { progressBar } from './progress.js';
import { DEFAULT_BACKBONE, SHIPPED_BACKBONES, resolveBackbone } from '../backbones.js';
import { LRP_POOL_RULES, LRP_RULES, type LrpPoolRule, type LrpRuleName } from '../engine/models/types.js';
import { DEFAULT_TTA, NO_TTA, parseTta, ttaKey } from '../../src-shared/tta.js';
import { DEFAULT_REFINE, parseRefine, refineKey } from '../../src-shared/refine.js';

const BACKBONE_HELP = `${Object.keys(SHIPPED_BACKBONES).join(' | ')} (shipped, ImageNet-pretrained) | 'small' (VGG-style, trained from scratch) | a TF.js layers model folder`;

const BACKENDS = ['tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
const METHODS = ['lrp', 'gradcam', 'unet', 'mtunet'] as const;

function num(kind: 'int' | 'float', min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n)) || n < min) {
      throw new InvalidArgumentError(`expected ${kind === 'int' ? 'an integer' : 'a number'} ≥ ${min}`);
    }
    return n;
  };
}

/** Cancels the job on Ctrl+C (a second Ctrl+C exits at once). */
function cancelOnSigint(job: RunningJob<unknown>, say: (s: string) => void): () => void {
  let asked = false;
  const handler = () => {
    if (asked) process.exit(130);
    asked = true;
    say('\ncancelling after the current step (Ctrl+C again to quit now)…\n');
    job.cancel();
  };
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}

function fmt(x: number | undefined | null, d = 3): string {
  return x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(d);
}

/** Model folder from a MODEL argument: a model folder, or a project (its latest completed run). */
export function resolveModelDir(arg: string): string {
  if (fs.existsSync(path.join(arg, 'heatseg-model.json'))) return path.resolve(arg);
  if (isProjectDir(arg)) {
    const store = ProjectStore.open(arg, { readOnly: true });
    try {
      const run = store.latestCompletedRun();
      if (!run?.checkpoint_dir) throw new Error(`${arg} has no completed training run: run \`heatseg train ${arg}\` first`);
      return path.join(store.dir, run.checkpoint_dir);
    } finally {
      store.close();
    }
  }
  const ckpt = `${path.resolve(arg)}${CHECKPOINT_SUFFIX}`;
  if (fs.existsSync(path.join(ckpt, 'heatseg-model.json'))) {
    throw new Error(
      `${arg} is not a heatseg model: its training did not finish; its last epoch checkpoint is ${ckpt} ` +
        '(continue the run with `heatseg train PROJECT --resume N`, or predict with the checkpoint folder itself)',
    );
  }
  throw new Error(`${arg} is neither a heatseg model folder (no heatseg-model.json) nor a project`);
}

/** An epoch checkpoint of a run that did not finish is usable, but not silently taken for a finished model. */
function warnIfCheckpoint(modelDir: string): void {
  let training: { checkpoint?: { epoch?: number } } | undefined;
  try {
    training = (readJsonFile(path.join(modelDir, 'heatseg-model.json')) as { training?: typeof training }).training;
  } catch {
    return; // the job reports a bad model folder itself
  }
  if (training?.checkpoint) {
    process.stderr.write(
      `warning: ${modelDir} is the epoch-${training.checkpoint.epoch ?? '?'} checkpoint of a training run that did not finish, not a finished model ` +
        `(continue the run with \`heatseg train PROJECT --resume N\`)\n`,
    );
    return;
  }
  // A run folder inside a project (one written by an older heatseg, which kept epoch checkpoints
  // there): its run row says whether it finished.
  const m = /^run-(\d+)$/.exec(path.basename(modelDir));
  const project = path.dirname(path.dirname(modelDir));
  if (!m || path.basename(path.dirname(modelDir)) !== 'models' || !isProjectDir(project)) return;
  let row: { status: string; error: string | null };
  try {
    const store = ProjectStore.open(project, { readOnly: true });
    try {
      row = store.run(Number(m[1]));
    } finally {
      store.close();
    }
  } catch {
    return; // no such run row, or an old project: nothing to say about this folder
  }
  if (row.status !== 'completed') {
    process.stderr.write(`warning: ${modelDir} belongs to run ${m[1]}, which is ${row.status}${row.error ? ` (${row.error})` : ''}: it is not a finished model\n`);
  }
}

export function addEngineCommands(program: Command, out: (s: string) => void): void {
  const train = program
    .command('train')
    .description('train a segmenter on the project\'s tags and pixel labels (in a worker thread)')
    .argument('<project>', 'project folder')
    .addOption(new Option('--method <method>', 'lrp | gradcam | unet | mtunet').choices(METHODS).default('lrp'))
    .option('--backbone <backbone>', BACKBONE_HELP, DEFAULT_BACKBONE)
    .option('--epochs <n>', 'epochs (passes over the tagged images)', num('int', 1))
    .option('--minutes <m>', 'time budget in minutes (stops at whichever of --epochs/--minutes comes first)', num('float', 0.05))
    .option('--size <px>', 'training crop size (multiple of the encoder stride)', num('int', 16), 128)
    .option('--batch <n>', 'images per step', num('int', 2), 8)
    .option('--lr <lr>', 'learning rate of the head (and of a from-scratch encoder)', num('float', 0))
    .addOption(new Option('--backend <backend>', 'force a TF.js backend').choices(BACKENDS))
    .option('--threads <n>', 'data-parallel training threads (default: physical cores)', num('int', 1))
    .option('--seed <k>', 'random seed', num('int', 0), 1)
    .option('--resume <run>', 'start from the weights of this run id; a run that did not finish (killed, crashed) continues from its last epoch checkpoint with its own settings and remaining epochs', num('int', 1));
  lrpDecoderOptions(train, 'LRP decoder stops this many downsampling stages above the input (0 = input pixels; default: the engine\'s)')
    .option('--tag-warmup <steps>', 'steps that train the tag head alone before the heatmap loss starts', num('int', 0))
    .addOption(new Option('--tag-balance <b>', 'class-balanced tag loss').choices(['none', 'balanced']))
    .option('--val-fraction <f>', 'part of the pixel-labelled images held out of training for evaluation (when at least 5 are labelled; 0: none)', (v: string) => {
      const f = num('float', 0)(v);
      if (f > 0.9) throw new InvalidArgumentError('expected a number from 0 to 0.9');
      return f;
    }, 0.2)
    .option('--json', 'print the summary as one JSON line')
    .action(async (dir: string, o: { method: (typeof METHODS)[number]; backbone: string; epochs?: number; minutes?: number; size: number; batch: number; lr?: number; backend?: (typeof BACKENDS)[number]; threads?: number; seed: number; resume?: number; lrpRule?: LrpRuleName; lrpDepth?: number; lrpPool?: LrpPoolRule; lrpTopRelevance?: boolean; tagWarmup?: number; tagBalance?: 'none' | 'balanced'; valFraction: number; json?: boolean }, cmd: Command) => {
      const store = openProject(dir);
      let resume: ReturnType<ProjectStore['resumeSource']> | null = null;
      try {
        resume = o.resume ? store.resumeSource(o.resume) : null;
      } catch (e) {
        store.close();
        throw e;
      }
      // Resuming: the run's own settings, unless given on this command line.
      const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
      const prev = resume?.config ?? {};
      const pick = <T,>(name: string, own: T): T => (resume && !given(name) && prev[name] !== undefined ? (prev[name] as T) : own);
      if (resume && o.resume) {
        const r = store.run(o.resume);
        if (!given('method')) o.method = r.method as (typeof METHODS)[number];
        if (!given('backbone')) o.backbone = r.backbone;
      }
      let resolved: ReturnType<typeof resolveBackbone>;
      try {
        resolved = resolveBackbone(o.backbone);
      } catch (e) {
        store.close();
        throw e;
      }
      const backbone = resolved.label;
      // A checkpoint continues its run: the epochs it had left, unless --epochs/--minutes say otherwise.
      const remaining =
        resume?.checkpoint && o.epochs === undefined && o.minutes === undefined && typeof prev.epochs === 'number'
          ? Math.max(1, prev.epochs - resume.checkpoint.epoch)
          : undefined;
      const epochs = o.epochs ?? remaining;
      const config: Partial<TrainConfig> = {
        size: pick('size', o.size),
        batch: pick('batch', o.batch),
        seed: pick('seed', o.seed),
        ...(epochs !== undefined || o.minutes === undefined ? { epochs: epochs ?? 30 } : { epochs: undefined }),
        ...(o.minutes !== undefined ? { minutes: o.minutes } : {}),
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
        ...(o.lr !== undefined ? { lr: o.lr } : prev.lr !== undefined && resume ? { lr: prev.lr as number } : resolved.dir ? { lr: 1e-3, encoderLr: 1e-4 } : {}),
        ...(resume && o.resume ? { resumedFrom: o.resume } : {}),
        ...(o.tagWarmup !== undefined ? { tagWarmupSteps: o.tagWarmup } : {}),
        ...(o.tagBalance !== undefined ? { tagBalance: o.tagBalance } : {}),
      };
      const lrpRule = pick('lrpRule', o.lrpRule);
      const lrpDepth = pick('lrpDepth', o.lrpDepth);
      const lrpPool = pick('lrpPool', o.lrpPool);
      const lrpTopRelevance = pick('lrpTopRelevance', o.lrpTopRelevance);
      const modelOpts = { ...(lrpRule ? { lrpRule } : {}), ...(lrpDepth !== undefined ? { lrpDepth } : {}), ...(lrpPool ? { lrpPool } : {}), ...(lrpTopRelevance !== undefined ? { lrpTopRelevance } : {}) };
      const resumeFrom = resume?.dir;
      if (resume && o.resume) {
        process.stderr.write(
          resume.checkpoint
            ? `resuming run ${o.resume} from its last checkpoint (epoch ${resume.checkpoint.epoch}, step ${resume.checkpoint.step}): ${config.epochs ?? '–'} more epochs\n`
            : `starting from the weights of run ${o.resume}\n`,
        );
      }
      const run = store.createRun(o.method, backbone, { ...config, ...modelOpts });
      const bar = progressBar(`train run ${run.id}`);
      let backendDetail = '';
      let lastStep: Extract<JobEvent, { type: 'step' }> | null = null;
      const onEvent = (e: JobEvent) => {
        if (e.type === 'backend') {
          backendDetail = e.backend.detail;
          process.stderr.write(`backend: ${e.backend.name} (${e.backend.detail})${e.backend.note ? `; ${e.backend.note}` : ''}\n`);
        } else if (e.type === 'log') process.stderr.write(`${e.message}\n`);
        else if (e.type === 'progress') bar.update(e.done, e.total, e.task);
        else if (e.type === 'step') {
          lastStep = e;
          const total = e.etaSec !== null ? e.step + Math.round(e.etaSec / Math.max(1e-3, 8 / e.imagesPerSec)) : e.step;
          bar.update(e.step, Math.max(total, e.step), `ep ${e.epoch} tag ${fmt(e.tagLoss)} heat ${fmt(e.segLoss)} ${e.imagesPerSec.toFixed(1)} img/s`);
        } else if (e.type === 'epoch') {
          process.stderr.write(`\nepoch ${e.epoch}: tag loss ${fmt(e.tagLoss)}, heatmap loss ${fmt(e.segLoss)} (uniform guess ${fmt(e.uniformSegLoss)})\n`);
        }
      };
      const job = startJob({ kind: 'train', project: store.dir, modelDir: run.checkpoint_dir!, method: o.method, backbone: resolved.dir ?? 'small', backboneLabel: backbone, backend: o.backend, config, model: modelOpts, valFraction: pick('valFraction', o.valFraction), ...(resumeFrom ? { resumeFrom } : {}) }, onEvent);
      const release = cancelOnSigint(job, (s) => process.stderr.write(s));
      try {
        const r = await job.result;
        bar.stop();
        const status = r.result.cancelled ? 'cancelled' : 'completed';
        store.finishRun(run.id, status, { backend: r.backend.detail, metrics: { final: r.result.final, steps: r.result.steps, seconds: r.result.seconds, tagPriorLoss: r.tagPriorLoss, validation: r.validation }, keepCheckpoint: r.result.steps > 0 });
        const summary = { run: run.id, status, method: o.method, backbone, backend: r.backend.name, backendDetail: r.backend.detail, ...r.result, model: r.result.steps > 0 ? r.modelDir : null };
        if (o.json) out(`${JSON.stringify(summary)}\n`);
        else {
          out(`run ${run.id} ${status}: ${o.method} on ${backbone}, backend ${r.backend.name} (${r.backend.detail})\n`);
          out(`${r.result.steps} steps, ${fmt(r.result.epochs, 1)} epochs in ${fmt(r.result.seconds, 0)} s\n`);
          out(`final tag loss ${fmt(r.result.final.tagLoss)}, heatmap loss ${fmt(r.result.final.segLoss)} (uniform guess ${fmt(r.result.final.uniformSegLoss)})\n`);
          if (r.result.steps > 0) out(`model: ${r.modelDir}\n`);
        }
        if (r.result.cancelled) process.exitCode = 130;
      } catch (e) {
        bar.stop();
        const cancelled = e instanceof JobCancelled;
        // Its last epoch checkpoint (models/run-N.checkpoint) stays: `--resume N` continues from it.
        store.finishRun(run.id, cancelled ? 'cancelled' : 'failed', { backend: backendDetail, error: (e as Error).message });
        if (!cancelled) throw e;
        process.exitCode = 130;
        void lastStep;
      } finally {
        release();
        store.close();
      }
    });

  program
    .command('predict')
    .description('write an indexed-PNG mask and a heatmap PNG per image')
    .argument('<model>', 'model folder (heatseg export), project (its latest completed run), or exported MODEL.onnx (run by onnxruntime, no TF.js)')
    .argument('<images...>', 'image files or folders')
    .requiredOption('--out <dir>', 'output folder')
    .addOption(new Option('--backend <backend>', 'force a TF.js backend').choices(BACKENDS))
    .option('--threads <n>', 'threads the images are split across (default: physical cores, ≥ 8 images each)', num('int', 1))
    .option('--tta <views>', `test-time views: scales[/flip] (default ${ttaKey(DEFAULT_TTA)}: 6 views, ~5× one view's time), or 'none' for one view`)
    .option('--refine <r/eps>', `refine the class probabilities with the image: RADIUS/EPS (guided filter), RADIUS/EPS/cW (then the image's class colour models, weight W), or 'none' (default ${refineKey(DEFAULT_REFINE)})`)
    .option('--json', 'print the result as one JSON line')
    .action(async (modelArg: string, inputs: string[], o: { out: string; backend?: (typeof BACKENDS)[number]; threads?: number; tta?: string; refine?: string; json?: boolean }) => {
      const tta = o.tta === undefined ? undefined : o.tta === 'none' ? NO_TTA : parseTta(o.tta);
      const refine = o.refine === undefined ? undefined : parseRefine(o.refine);
      // MODEL.onnx, or a folder with model.onnx and no heatseg-model.json: onnxruntime on the main thread
      const onnxFile = modelArg.toLowerCase().endsWith('.onnx') || (fs.existsSync(path.join(modelArg, 'model.onnx')) && !fs.existsSync(path.join(modelArg, 'heatseg-model.json')))
        ? path.resolve(fs.existsSync(modelArg) && fs.statSync(modelArg).isDirectory() ? path.join(modelArg, 'model.onnx') : modelArg)
        : null;
      if (onnxFile && !fs.existsSync(onnxFile)) throw new Error(`${onnxFile}: no such ONNX model`);
      const model = onnxFile ?? resolveModelDir(modelArg);
      if (!onnxFile) warnIfCheckpoint(model);
      const images: string[] = [];
      for (const i of inputs) {
        if (!fs.existsSync(i)) throw new Error(`${i}: no such file or folder`);
        if (fs.statSync(i).isDirectory()) {
          for (const f of fs.readdirSync(i).sort()) if (IMAGE_EXTENSIONS.includes(path.extname(f).toLowerCase())) images.push(path.join(i, f));
        } else images.push(i);
      }
      const report = (r: { written: Array<{ image: string; mask: string; heatmap: string; classes: string[] }>; failed: Array<{ image: string; reason: string }> }) => {
        if (o.json) out(`${JSON.stringify(r)}\n`);
        else {
          for (const w of r.written) out(`${w.image} -> ${w.mask}, ${w.heatmap} [${w.classes.join(', ')}]\n`);
          for (const f of r.failed) out(`failed ${f.image}: ${f.reason}\n`);
        }
        if (r.failed.length) process.exitCode = 3;
      };
      if (onnxFile) {
        const { predictOnnxImages, onnxRuntimeDetail } = await import('../engine/onnx-runtime.js');
        if (o.backend) process.stderr.write(`--backend ${o.backend} ignored: ${path.basename(onnxFile)} runs on onnxruntime\n`);
        process.stderr.write(`backend: onnxruntime (${onnxRuntimeDetail()})\n`);
        const bar = progressBar('predict');
        let stop = false;
        const onSigint = () => {
          if (stop) process.exit(130);
          stop = true;
        };
        process.on('SIGINT', onSigint);
        try {
          const r = await predictOnnxImages(onnxFile, images, o.out, { onProgress: (d, t) => bar.update(d, t), cancelled: () => stop, ...(tta ? { tta } : {}), ...(refine ? { refine } : {}) });
          bar.stop();
          report(r);
        } finally {
          process.off('SIGINT', onSigint);
          bar.stop();
        }
        return;
      }
      const bar = progressBar('predict');
      const job = startJob({ kind: 'predict', model, images, out: o.out, backend: o.backend, ...(o.threads ? { threads: o.threads } : {}), ...(tta ? { tta } : {}), ...(refine ? { refine } : {}) }, (e) => {
        if (e.type === 'backend') process.stderr.write(`backend: ${e.backend.name} (${e.backend.detail})\n`);
        else if (e.type === 'progress') bar.update(e.done, e.total);
      });
      const release = cancelOnSigint(job, (s) => process.stderr.write(s));
      try {
        const r = await job.result;
        bar.stop();
        report(r);
      } finally {
        release();
        bar.stop();
      }
    });

  program
    .command('eval')
    .description('mIoU, per-class IoU, pixel accuracy and confusion matrix against a mask folder; ends with one JSON line')
    .argument('<model>', 'model folder or project')
    .requiredOption('--data <maskfolder>', 'mask folder with classes.json, images/, masks/ (255 = ignored)')
    .addOption(new Option('--backend <backend>', 'force a TF.js backend').choices(BACKENDS))
    .action(async (modelArg: string, o: { data: string; backend?: (typeof BACKENDS)[number] }) => {
      const model = resolveModelDir(modelArg);
      if (!fs.existsSync(path.join(o.data, 'classes.json'))) throw new Error(`${o.data}: not a mask folder (classes.json missing)`);
      const bar = progressBar('eval');
      const job = startJob({ kind: 'eval', model, data: o.data, backend: o.backend }, (e) => {
        if (e.type === 'backend') process.stderr.write(`backend: ${e.backend.name} (${e.backend.detail})\n`);
        else if (e.type === 'progress') bar.update(e.done, e.total);
      });
      const r = await job.result;
      bar.stop();
      const m = r.metrics;
      out(`${r.images} images, backend ${r.backend.name} (${r.backend.detail})\n`);
      out(`mIoU ${fmt(m.predicted.miou)} (with true tags: ${fmt(m.givenTags?.miou)}), pixel accuracy ${fmt(m.predicted.pixelAccuracy)}, tag accuracy ${fmt(m.tagAccuracy)}\n`);
      for (const [name, iou] of Object.entries(m.predicted.perClass)) out(`  ${name.padEnd(14)} ${fmt(iou)}\n`);
      out(`${JSON.stringify({ images: r.images, backend: r.backend.name, miou: m.predicted.miou, miou_given_tags: m.givenTags?.miou ?? null, pixel_accuracy: m.predicted.pixelAccuracy, tag_accuracy: m.tagAccuracy ?? null, per_class: m.predicted.perClass, confusion: m.predicted.confusion })}\n`);
    });

  program
    .command('suggest')
    .description('rank the images without pixel labels: which to label next (uses the latest completed run)')
    .argument('<project>', 'project folder')
    .addOption(new Option('--strategy <s>', 'acquisition strategy').choices([...STRATEGIES]).default('coverage'))
    .option('-n <k>', 'how many to suggest', num('int', 1), 10)
    .option('--seed <k>', 'seed (random strategy)', num('int', 0), 1)
    .addOption(new Option('--backend <backend>', 'force a TF.js backend').choices(BACKENDS))
    .option('--json', 'print one JSON line')
    .option('--threads <n>', 'threads the images are scored on (default: physical cores, ≥ 8 images each)', num('int', 1))
    .action(async (dir: string, o: { strategy: Strategy; n: number; seed: number; backend?: (typeof BACKENDS)[number]; threads?: number; json?: boolean }) => {
      const model = resolveModelDir(dir);
      const bar = progressBar('score');
      const job = startJob({ kind: 'suggest', project: path.resolve(dir), model, strategy: o.strategy, n: o.n, seed: o.seed, backend: o.backend, ...(o.threads ? { threads: o.threads } : {}) }, (e) => {
        if (e.type === 'progress') bar.update(e.done, e.total);
      });
      const r = await job.result;
      bar.stop();
      if (o.json) out(`${JSON.stringify(r)}\n`);
      else {
        out(`${r.candidates} images without pixel labels, ranked by ${r.strategy} (backend ${r.backend.name}):\n`);
        r.suggestions.forEach((s, i) => out(`${String(i + 1).padStart(3)}. ${s.name} (image ${s.id}): ${s.reason}\n`));
      }
    });

  program
    .command('export')
    .description(
      'write a trained segmenter: --format heatseg (default) copies its self-contained folder (weights.bin + heatseg-model.json); ' +
        '--format onnx writes OUT/model.onnx (opset 17, onnxruntime-ready, see docs/ONNX.md) and OUT/model.onnx.json (classes, colours, I/O contract)',
    )
    .argument('<project>', 'project folder')
    .argument('<out>', 'output folder (new or empty)')
    .option('--run <id>', 'run id (default: the latest completed run)', num('int', 1))
    .addOption(new Option('--format <format>', 'heatseg model folder or ONNX').choices(['heatseg', 'onnx']).default('heatseg'))
    .action(async (dir: string, outDir: string, o: { run?: number; format: 'heatseg' | 'onnx' }) => {
      // opened here only to refuse a non-project with the usual message; the export runs in the engine worker
      ProjectStore.open(dir, { readOnly: true }).close();
      const r = await startJob({ kind: 'export', project: path.resolve(dir), out: path.resolve(outDir), format: o.format, ...(o.run ? { runId: o.run } : {}) }).result;
      out(`exported run ${r.runId} (${r.method}, ${r.backbone}) ${r.what}to ${r.out}\n`);
    });
}

/** The LRP decoder's options of a new model (train and bench quality). */
function lrpDecoderOptions(cmd: Command, depthHelp: string): Command {
  return cmd
    .addOption(new Option('--lrp-rule <rule>', 'LRP rule set: lrp0 (Gradient×Input) | epsilon | zplus / alphabeta (lower third) | composite (z+ low, ε middle, 0 top)').choices([...LRP_RULES]))
    .option('--lrp-depth <d>', depthHelp, num('int', 0))
    .addOption(new Option('--lrp-pool <rule>', 'LRP max-pool rule: winner (switch mask, Gradient×Input) | proportional (shared by positive activations)').choices([...LRP_POOL_RULES]))
    .option('--lrp-top-relevance', 'LRP: add the relevance at the last feature map to the decoder stop\'s (the explanation at two depths; the default for new LRP models)')
    .option('--no-lrp-top-relevance', 'LRP: read the relevance at the decoder stop only (the default before the eighth session)');
}

/** The training options `bench quality` and `bench active` share: input size, batch, learning rates, heatmap-loss warm-up. */
function trainingOptions(cmd: Command, warmupHelp: string): Command {
  return cmd
    .option('--size <px>', 'input size', num('int', 16), 128)
    .option('--batch <n>', 'batch size', num('int', 2), 8)
    .option('--lr <lr>', 'learning rate', num('float', 0))
    .option('--encoder-lr <lr>', 'learning rate of a pretrained encoder', num('float', 0))
    .option('--head-lr <lr>', 'learning rate of the tag head (default --lr; Grad-CAM --lr / 10)', num('float', 0))
    .option('--warmup <steps>', warmupHelp, num('int', 0))
    .addOption(new Option('--tag-probe <onoff>', 'fit the tag head on the frozen pretrained features before training (default on)').choices(['on', 'off']));
}

/** Those options as the studies take them (only the ones given). */
function trainingOverrides(o: Record<string, unknown>): { lr?: number; encoderLr?: number; headLr?: number; warmupSteps?: number; tagProbe?: boolean } {
  return {
    ...(o.tagProbe !== undefined ? { tagProbe: o.tagProbe === 'on' } : {}),
    ...(o.lr !== undefined ? { lr: o.lr as number } : {}),
    ...(o.encoderLr !== undefined ? { encoderLr: o.encoderLr as number } : {}),
    ...(o.headLr !== undefined ? { headLr: o.headLr as number } : {}),
    ...(o.warmup !== undefined ? { warmupSteps: o.warmup as number } : {}),
  };
}

export function addBenchCommands(program: Command, out: (s: string) => void): void {
  const bench = program.command('bench').description('benchmarks (print their configuration; end with one JSON line)');
  const quality = bench
    .command('quality')
    .description('train each method with N pixel-labelled images + tags for all, evaluate on held-out images')
    .requiredOption('--train <maskfolder>', 'training mask folder')
    .option('--test <maskfolder>', 'test mask folder (default: a held-out split of --train)')
    .option('--split <f>', 'fraction of --train to train on when --test is absent', num('float', 0.05), 0.75)
    .option('--labeled <n>', 'images that get pixel labels', num('int', 0), 20)
    .addOption(new Option('--labels <kind>', 'pixel labels: simulated scribbles or full masks').choices(['scribbles', 'masks']).default('scribbles'))
    .option('--methods <list>', 'comma-separated: lrp,gradcam,unet,mtunet,tagfill', 'lrp,gradcam,unet,mtunet,tagfill')
    .option('--backbone <b>', BACKBONE_HELP, DEFAULT_BACKBONE)
    .option('--minutes <m>', 'training budget per method', num('float', 0.05))
    .addOption(new Option('--budget-clock <c>', 'what --minutes measures: this process\'s CPU time (fair under load) or wall time').choices(['cpu', 'wall']).default('cpu'))
    .option('--epochs <n>', 'epochs per method (when --minutes is absent)', num('int', 1));
  lrpDecoderOptions(trainingOptions(quality, 'heatmap-loss warm-up steps'), 'LRP decoder stops this many downsampling stages above the input (0 = input pixels)')
    .option('--heat-scale <s>', 'initial heatmap temperature (0 = method default)', num('float', 0))
    .option('--fixed-heat-scale', 'do not learn the heatmap temperature')
    .option('--seg-weight <w>', 'weight of the heatmap loss', num('float', 0))
    .addOption(new Option('--heat-norm <n>', 'per-pixel normalisation of heatmaps in the loss').choices(['none', 'pixel']))
    .option('--tag-warmup <steps>', 'steps that train the tag head alone before the heatmap loss starts', num('int', 0))
    .addOption(new Option('--tag-balance <b>', 'class-balanced tag loss').choices(['none', 'balanced']))
    .option('--background <class>', 'treat this class as the background: always decoded, and foreground IoU reported')
    .option('--decode <t,min,max[,w]>', 'decode rule of predicted tags for mIoU: threshold,min classes,max classes[,soft weight w: w·ln p added to each class\'s logits] (default the app\'s)')
    .option('--decode-variants <list>', "decode rules also measured on each trained model, ';'-separated t,min,max[,w] (default: a fixed set), or 'none'")
    .option('--tta-variants <list>', "test-time augmentations also measured on each trained model, ';'-separated scales[/flip], e.g. '1/flip;1,1.25/flip'")
    .option('--refine-variants <list>', "refinements of the class probabilities with the image also measured on each trained model, ';'-separated RADIUS/EPS (guided filter) or RADIUS/EPS/cWEIGHT (then the image's class colour models), e.g. '4/0.01;16/0.01/c1'")
    .addOption(new Option('--backend <backend>', 'force a TF.js backend').choices(BACKENDS))
    .option('--seed <k>', 'random seed (one run)', num('int', 0))
    .option('--seeds <list>', 'comma-separated seeds: one run each, mean ± s.e. and paired differences LRP − each method')
    .option('--split-seed <k>', 'seed of the train/test split (default: the first seed)', num('int', 0))
    .option('--parts <a,b,c>', 'without --test: dev-train/dev-val/dev-test fractions of --train by content (e.g. 60,20,20); trains on dev-train')
    .addOption(new Option('--eval-on <part>', 'with --parts: evaluate on dev-val (choosing settings) or dev-test (the report)').choices(['val', 'test']).default('val'))
    .action(async (o: Record<string, unknown>) => {
      const methods = String(o.methods).split(',').map((m) => m.trim());
      for (const m of methods) if (![...METHODS, 'tagfill'].includes(m)) throw new Error(`--methods: unknown method "${m}"`);
      if (o.seed !== undefined && o.seeds !== undefined) throw new Error('give --seed or --seeds, not both');
      const seeds = o.seeds !== undefined ? String(o.seeds).split(',').map((x) => num('int', 0)(x.trim())) : [(o.seed as number | undefined) ?? 1];
      if (new Set(seeds).size !== seeds.length) throw new Error('--seeds: a seed is listed twice');
      const list = (flag: string, v: unknown, n: number, upTo = n) => {
        const xs = String(v).split(',').map((x) => Number(x.trim()));
        if (xs.length < n || xs.length > upTo || xs.some((x) => !Number.isFinite(x) || x < 0)) throw new Error(`${flag}: expected ${n === upTo ? n : `${n}–${upTo}`} comma-separated non-negative numbers, got "${String(v)}"`);
        return xs;
      };
      const parts = o.parts !== undefined ? (list('--parts', o.parts, 3) as [number, number, number]) : undefined;
      if (parts && (o.test !== undefined || parts.some((x) => x <= 0))) throw new Error('--parts: three positive fractions, and no --test');
      const rule = (flag: string, v: string) => {
        const [threshold, minClasses, maxClasses, tagPrior] = list(flag, v, 3, 4);
        return { threshold: threshold!, minClasses: minClasses!, maxClasses: maxClasses!, ...(tagPrior ? { tagPrior } : {}) };
      };
      const decode = o.decode !== undefined ? rule('--decode', String(o.decode)) : undefined;
      const decodeVariants = o.decodeVariants === undefined ? undefined : String(o.decodeVariants) === 'none' ? [] : String(o.decodeVariants).split(';').map((v) => rule('--decode-variants', v));
      const ttaVariants = o.ttaVariants === undefined ? undefined : String(o.ttaVariants).split(';').map((v) => parseTta(v.trim()));
      const refineVariants = o.refineVariants === undefined ? undefined : String(o.refineVariants).split(';').map((v) => parseRefine(v.trim()));
      const { benchQuality } = await import('../studies/quality.js');
      const backbone = resolveBackbone(String(o.backbone));
      const result = await benchQuality({
        train: String(o.train),
        ...(o.test ? { test: String(o.test) } : {}),
        split: o.split as number,
        labeled: o.labeled as number,
        labels: o.labels as 'scribbles' | 'masks',
        methods: methods as Array<(typeof METHODS)[number] | 'tagfill'>,
        backbone,
        ...(o.minutes !== undefined ? { minutes: o.minutes as number } : {}),
        ...(o.epochs !== undefined ? { epochs: o.epochs as number } : {}),
        size: o.size as number,
        batch: o.batch as number,
        seeds,
        ...(o.splitSeed !== undefined ? { splitSeed: o.splitSeed as number } : {}),
        ...(parts ? { parts, evalPart: o.evalOn as 'val' | 'test' } : {}),
        ...(o.lrpRule !== undefined ? { lrpRule: o.lrpRule as LrpRuleName } : {}),
        ...(o.lrpPool !== undefined ? { lrpPool: o.lrpPool as LrpPoolRule } : {}),
        ...(o.lrpTopRelevance !== undefined ? { lrpTopRelevance: o.lrpTopRelevance as boolean } : {}),
        ...(o.tagWarmup !== undefined ? { tagWarmupSteps: o.tagWarmup as number } : {}),
        ...(o.tagBalance !== undefined ? { tagBalance: o.tagBalance as 'none' | 'balanced' } : {}),
        ...(o.background !== undefined ? { background: String(o.background) } : {}),
        ...(decode ? { decode } : {}),
        ...(decodeVariants ? { decodeVariants } : {}),
        ...(ttaVariants ? { ttaVariants } : {}),
        ...(refineVariants ? { refineVariants } : {}),
        ...(o.backend ? { backend: o.backend as (typeof BACKENDS)[number] } : {}),
        ...trainingOverrides(o),
        ...(o.heatScale !== undefined ? { heatScaleInit: o.heatScale as number } : {}),
        ...(o.fixedHeatScale ? { learnHeatScale: false } : {}),
        ...(o.segWeight !== undefined ? { segWeight: o.segWeight as number } : {}),
        ...(o.lrpDepth !== undefined ? { lrpDepth: o.lrpDepth as number } : {}),
        ...(o.heatNorm !== undefined ? { heatNorm: o.heatNorm as 'none' | 'pixel' } : {}),
        budgetClock: o.budgetClock as 'cpu' | 'wall',
      });
      out(`${JSON.stringify(result)}\n`);
    });
}

/** `bench speed --tags`: a class count 1–21 or 'msrc'. */
export function tagsOption(v: string): number | 'msrc' {
  if (v === 'msrc') return 'msrc';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 21) throw new InvalidArgumentError(`expected an integer 1–21 or 'msrc', got '${v}'`);
  return n;
}

export function addSpeedCommand(program: Command, out: (s: string) => void): void {
  const bench = program.commands.find((c) => c.name() === 'bench')!;
  bench
    .command('speed')
    .description('ms per training step, images/s and GFLOP/s per method and backend at two input sizes; then inference ms per image in TF.js (wasm) vs onnxruntime')
    .option('--backends <list>', 'comma-separated backends to try (one that cannot start is reported as a row)', 'tensorflow,wasm')
    .option('--threads <list>', 'comma-separated data-parallel thread counts', '1')
    .option('--profile', 'print the per-op time table of one profiled step per method and size')
    .option('--methods <list>', 'comma-separated methods', 'lrp,gradcam,unet,mtunet')
    .option('--sizes <list>', 'comma-separated input sizes', '128,224')
    .option('--batch <n>', 'batch size', num('int', 2), 8)
    .option('--steps <n>', 'timed steps', num('int', 1), 5)
    .option('--warmup <n>', 'untimed warm-up steps', num('int', 0), 2)
    .option('--backbone <b>', `${BACKBONE_HELP} (default here: small)`, 'small')
    .option('--no-inference', 'skip the inference section (TF.js wasm vs onnxruntime per image, same exported model)')
    .option('--tags <n|msrc>', "classes per synthetic image (1–21), or 'msrc': 1–7 as often as in MSRC-21, so LRP's decode lists are padded as in real training", tagsOption, 3)
    .action(async (o: { backends: string; threads: string; profile?: boolean; methods: string; sizes: string; batch: number; steps: number; warmup: number; backbone: string; inference: boolean; tags: number | 'msrc' }) => {
      const { benchSpeed } = await import('../studies/speed.js');
      const threads = o.threads.split(',').map(Number);
      if (threads.some((t) => !Number.isInteger(t) || t < 1)) throw new InvalidArgumentError(`--threads: expected positive integers, got ${o.threads}`);
      const result = await benchSpeed({
        backends: o.backends.split(',').map((b) => b.trim()),
        threads,
        profile: Boolean(o.profile),
        methods: o.methods.split(',') as Array<(typeof METHODS)[number]>,
        sizes: o.sizes.split(',').map(Number),
        batch: o.batch,
        steps: o.steps,
        warmup: o.warmup,
        backbone: resolveBackbone(o.backbone).dir ?? 'small',
        classes: 21,
        tagsPerImage: o.tags,
        inference: o.inference,
      });
      out(`${JSON.stringify(result)}\n`);
    });
}

/** This command line without the options a per-seed child sets itself (--seed, --seeds, --jobs, --plot). */
function childArgv(argv: string[]): string[] {
  const drop = new Set(['--seed', '--seeds', '--jobs', '--plot', '--seed-run-out']);
  const out: string[] = [];
  if ((argv[1] === undefined || !fs.existsSync(argv[1])) && argv.includes('--jobs')) {
    throw new Error('--jobs reruns this command line for each seed: start it as `heatseg bench active …`');
  }
  const rest = argv.slice(1);
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const flag = a.split('=')[0]!;
    if (drop.has(flag)) {
      if (!a.includes('=')) i++; // its value
      continue;
    }
    if (a === '--no-plot') continue;
    out.push(a);
  }
  return out;
}

export function addActiveCommand(program: Command, out: (s: string) => void): void {
  const bench = program.commands.find((c) => c.name() === 'bench')!;
  const active = bench
    .command('active')
    .description(
      'simulated annotator: each round a strategy picks which pool images get pixel labels next, the model retrains, ' +
        'test mIoU is recorded; prints the learning curves, labels needed to reach random\'s final mIoU, writes an SVG plot',
    )
    .requiredOption('--pool <maskfolder>', 'pool mask folder (all images tagged; masks are the simulated annotator\'s ground truth)')
    .option('--test <maskfolder>', 'test mask folder (default: a held-out split of --pool, by content hash as in bench quality)')
    .option('--split <f>', 'fraction of --pool kept as the pool when --test is absent', num('float', 0.05), 0.75)
    .option('--split-seed <k>', 'seed of that split (fixed across --seeds; 1 = bench quality\'s split at --seed 1)', num('int', 0), 1)
    .option('--strategies <list>', `'all' or comma-separated: ${STRATEGIES.join(',')}`, 'random,pixel-entropy,diverse')
    .option('--start <n>', 'images labelled in round 0 (class-balanced, the same for every strategy)', num('int', 1), 5)
    .option('--step <n>', 'images labelled per round', num('int', 1), 5)
    .option('--rounds <r>', 'acquisition rounds after round 0', num('int', 1), 4)
    .addOption(new Option('--labels <kind>', 'pixel labels: simulated scribbles or full masks').choices(['scribbles', 'masks']).default('scribbles'))
    .option('--seed <k>', 'random seed', num('int', 0))
    .option('--seeds <list>', 'comma-separated seeds; curves are averaged over them')
    .option('--minutes-per-round <m>', 'training budget per round', num('float', 0.05))
    .addOption(new Option('--budget-clock <c>', 'what --minutes-per-round measures: this process\'s CPU time (fair under load) or wall time').choices(['cpu', 'wall']).default('cpu'))
    .option('--epochs-per-round <n>', 'epochs per round (default 2 when neither is given)', num('int', 1))
    .option('--cold', 'restart every round from the same weights (after the tag stage, else the initial ones) instead of continuing from the previous round')
    .option('--tag-epochs <n>', 'tag stage: first train this many epochs on the tags of every pool image (no pixel labels), shared by all strategies', num('int', 1))
    .addOption(new Option('--method <method>', 'segmenter').choices(METHODS).default('lrp'))
    .option('--backbone <b>', `${BACKBONE_HELP} (default here: small)`, 'small');
  trainingOptions(active, 'heatmap-loss warm-up steps (round 0 only when warm-starting)')
    .option('--lrp-depth <d>', 'LRP decoder stops this many downsampling stages above the input (default: the engine\'s)', num('int', 0))
    .option('--jobs <n>', 'seeds trained at once, each in its own process (wasm trains on one core: up to one per core)', num('int', 1), 1)
    .addOption(new Option('--seed-run-out <file>', 'child mode of --jobs: write the one seed\'s run as JSON').hideHelp())
    .option('--plot <file>', 'SVG output', 'bench/results/active.svg')
    .option('--no-plot', 'write no SVG')
    .addOption(new Option('--backend <backend>', 'force a TF.js backend').choices(BACKENDS))
    .action(async (o: Record<string, unknown>) => {
      const strategies = (o.strategies === 'all' ? [...STRATEGIES] : String(o.strategies).split(',').map((s) => s.trim()).filter(Boolean)) as Strategy[];
      for (const s of strategies) if (!STRATEGIES.includes(s)) throw new Error(`--strategies: unknown strategy "${s}" (known: ${STRATEGIES.join(', ')})`);
      if (new Set(strategies).size !== strategies.length) throw new Error('--strategies: a strategy is listed twice');
      if (o.seed !== undefined && o.seeds !== undefined) throw new Error('give --seed or --seeds, not both');
      if (o.minutesPerRound !== undefined && o.epochsPerRound !== undefined) throw new Error('give --minutes-per-round or --epochs-per-round, not both');
      const seeds = o.seeds !== undefined ? String(o.seeds).split(',').map((s) => num('int', 0)(s.trim())) : [(o.seed as number | undefined) ?? 1];
      if (new Set(seeds).size !== seeds.length) throw new Error('--seeds: a seed is listed twice');
      for (const [flag, dir] of [['--pool', o.pool], ['--test', o.test]] as const) {
        if (dir !== undefined && !fs.existsSync(path.join(String(dir), 'classes.json'))) throw new Error(`${flag} ${String(dir)}: not a mask folder (classes.json missing)`);
      }
      const backbone = resolveBackbone(String(o.backbone)).dir ?? 'small';
      const { benchActive } = await import('../studies/active.js');
      const result = await benchActive({
        pool: String(o.pool),
        ...(o.test ? { test: String(o.test) } : {}),
        split: o.split as number,
        splitSeed: o.splitSeed as number,
        strategies,
        start: o.start as number,
        step: o.step as number,
        rounds: o.rounds as number,
        labels: o.labels as 'scribbles' | 'masks',
        seeds,
        ...(o.minutesPerRound !== undefined ? { minutesPerRound: o.minutesPerRound as number } : {}),
        budgetClock: o.budgetClock as 'cpu' | 'wall',
        ...(o.lrpDepth !== undefined ? { lrpDepth: o.lrpDepth as number } : {}),
        ...(o.epochsPerRound !== undefined ? { epochsPerRound: o.epochsPerRound as number } : {}),
        backbone,
        size: o.size as number,
        batch: o.batch as number,
        method: o.method as (typeof METHODS)[number],
        cold: Boolean(o.cold),
        ...(o.tagEpochs !== undefined ? { tagEpochs: o.tagEpochs as number } : {}),
        ...(o.backend ? { backend: o.backend as (typeof BACKENDS)[number] } : {}),
        ...trainingOverrides(o),
        plot: typeof o.plot === 'string' ? o.plot : null,
        jobs: o.jobs as number,
        childArgv: childArgv((program as unknown as { rawArgs: string[] }).rawArgs),
        ...(o.seedRunOut ? { seedRunOut: String(o.seedRunOut) } : {}),
        print: out,
      });
      out(`${JSON.stringify(result)}\n`);
    });
}
