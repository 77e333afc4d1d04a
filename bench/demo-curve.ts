/**
 * The demo's mIoU as training goes on: the built-in demo project (48 synthetic shapes images, 8
 * with scribbles) trained as the Train button does with its defaults (LRP, darknet-tiny, 128 px,
 * 20 % of the scribbled images held out, every physical core), evaluated every few epochs on all
 * 48 images against their full masks (the measure bench/demo.ts reports at the end). Tells whether
 * fewer epochs (or stopping early) would give the same model sooner. Per seed, then mean ± s.e.
 *
 *   npx tsx bench/demo-curve.ts [--seeds 1,2,3] [--every 4] [--epochs 20] [--backbone darknet-tiny|small]
 *     [--warmup STEPS] [--tag-probe on|off]   (defaults: the trainer's)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveBackbone } from '../src-main/backbones.js';
import { ensureDemoProject } from '../src-main/demo/demo.js';
import { writeShapesDataset } from '../src-main/demo/shapes.js';
import { initBackend } from '../src-main/engine/backend.js';
import { datasetFromMaskFolder, datasetFromProject } from '../src-main/engine/data.js';
import { createSegmenter } from '../src-main/engine/models/index.js';
import { physicalCores } from '../src-main/engine/parallel.js';
import { DEFAULT_TRAIN, train } from '../src-main/engine/trainer.js';
import { DEFAULT_VAL_FRACTION, splitValidation } from '../src-main/engine/validation.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

async function main(): Promise<void> {
  const seeds = arg('seeds', '1,2,3').split(',').map(Number);
  const every = Number(arg('every', '4'));
  const epochs = Number(arg('epochs', '20'));
  const backbone = resolveBackbone(arg('backbone', 'darknet-tiny'));
  const warmupSteps = Number(arg('warmup', String(DEFAULT_TRAIN.warmupSteps)));
  const tagProbe = arg('tag-probe', 'on') === 'on';
  const threads = physicalCores();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-demo-curve-'));
  try {
    const info = await initBackend('wasm');
    const store = await ensureDemoProject(path.join(root, 'demo-project'));
    const always = store.classes().flatMap((c, k) => (c.isBackground ? [k] : []));
    const data = await datasetFromProject(store, 128);
    store.close();
    const { train: trainData, split } = splitValidation(data, DEFAULT_VAL_FRACTION);
    await writeShapesDataset(path.join(root, 'truth'), { count: 48, seed: 7, masks: 'dense' });
    const truth = await datasetFromMaskFolder(path.join(root, 'truth'), 128, { withTruth: true });
    console.log(`heatseg demo curve (bench/demo-curve.ts): demo mIoU on all ${truth.samples.length} images (full masks) every ${every} epochs`);
    console.log(`lrp, backbone ${backbone.label}, ${epochs} epochs, 128 px, ${split.heldOut.length} of ${split.heldOut.length + split.trainedLabelled.length} scribbled images held out, backend ${info.detail} per thread, ${threads} data-parallel threads, λ warm-up ${warmupSteps} steps, tag probe ${tagProbe ? 'on' : 'off'}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const byEpoch = new Map<number, number[]>();
    for (const seed of seeds) {
      const model = await createSegmenter({
        method: 'lrp',
        classes: data.classes.length,
        inputSize: 128,
        encoder: backbone.dir ? { kind: 'pretrained', path: backbone.dir } : { kind: 'small' },
        seed,
      });
      const t0 = Date.now();
      const r = await train(
        model,
        trainData,
        // as the Train button: a pretrained encoder learns at 1e-4 (src-main/api/training.ts)
        { ...DEFAULT_TRAIN, epochs, size: 128, seed, threads, warmupSteps, tagProbe, alwaysDecode: always, validateEvery: every, ...(backbone.dir ? { encoderLr: 1e-4 } : {}) },
        {
          onEvent: (e) => {
            if (e.type !== 'epoch' || !e.val) return;
            byEpoch.set(e.epoch, [...(byEpoch.get(e.epoch) ?? []), e.val.predicted.miou]);
            console.log(`seed ${seed} epoch ${String(e.epoch).padStart(3)}  mIoU ${e.val.predicted.miou.toFixed(3)}  (given tags ${e.val.givenTags?.miou.toFixed(3) ?? '–'})  ${((Date.now() - t0) / 1000).toFixed(0)} s incl. evaluations`);
          },
        },
        truth,
      );
      console.log(`seed ${seed}: ${r.steps} steps`);
      model.dispose();
    }
    const rows = [...byEpoch.entries()].map(([epoch, xs]) => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const se = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) / xs.length) : NaN;
      console.log(`epoch ${String(epoch).padStart(3)}: mIoU ${mean.toFixed(3)} ± ${se.toFixed(3)} (${xs.length} seeds)`);
      return { epoch, miou: Number(mean.toFixed(4)), se: Number(se.toFixed(4)), seeds: xs.length };
    });
    console.log(JSON.stringify({ backbone: backbone.label, epochs, every, seeds, threads, curve: rows }));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
