/**
 * Tag-head probe settings on dev-val (developer script): fits the tag head on the frozen shipped
 * backbone's pooled features of dev-train (60/20/20 by content, split seed 1) for several L2 / view
 * / iteration settings and prints dev-val tag mAP — the probe alone, before any fine-tuning.
 *   npx tsx bench/probe-devval.ts [--size 128] [--data ../shared/datasets/msrc21]
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src-main/engine/backend.js';
import { datasetFromMaskFolder } from '../src-main/engine/data.js';
import { createSegmenter } from '../src-main/engine/models/index.js';
import { fitLogistic, pooledFeatures } from '../src-main/engine/tag-probe.js';
import { DEFAULT_TRAIN } from '../src-main/engine/trainer.js';
import { imageFiles, splitPartsByContent } from '../src-main/studies/splits.js';
import { tagMetrics } from '../src-shared/metrics.js';
import { resolveBackbone } from '../src-main/backbones.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '128' }, data: { type: 'string', default: '../shared/datasets/msrc21' } } });
const size = Number(values.size);
const dir = path.resolve(values.data!);
const backend = await initBackend();
const files = imageFiles(dir);
const [tr, va] = splitPartsByContent([...files.keys()].sort(), files, [60, 20, 20], 1);
const train = await datasetFromMaskFolder(dir, size, { withLabels: false, ids: tr! });
const val = await datasetFromMaskFolder(dir, size, { ids: va! });
const C = train.classes.length;
const bb = resolveBackbone('darknet-tiny');
const model = await createSegmenter({ method: 'lrp', classes: C, inputSize: size, encoder: { kind: 'pretrained', path: bb.dir! }, seed: 1 });
console.log(`probe dev-val: ${train.samples.length} dev-train / ${val.samples.length} dev-val images, ${size} px, backbone ${bb.label}, backend ${backend.name} (${backend.detail}), ${os.cpus().length} cpus`);
const augment = { ...DEFAULT_TRAIN.augment, size };
const tagged = train.samples.filter((s) => s.tags.length);
const t0 = Date.now();
const featsByViews = new Map<number, Awaited<ReturnType<typeof pooledFeatures>>>();
for (const views of [1, 2, 4]) featsByViews.set(views, await pooledFeatures(model, tagged, C, { views, augment, seed: 8000 }));
const vf = await pooledFeatures(model, val.samples, C, { views: 1, augment, seed: 1 });
console.log(`features: ${((Date.now() - t0) / 1000).toFixed(1)} s for 1+2+4 views + dev-val`);
for (const views of [1, 2, 4]) {
  for (const l2 of [1e-4, 1e-3, 1e-2, 3e-2]) {
    for (const iterations of [150, 300, 600]) {
      const tr = featsByViews.get(views)!;
      const t1 = Date.now();
      const fit = await fitLogistic(tr.x, tr.y, tr.n, tr.f, C, { iterations, l2 });
      const fitS = (Date.now() - t1) / 1000;
      const probs: Float32Array[] = [];
      for (let r = 0; r < vf.n; r++) {
        const p = new Float32Array(C);
        for (let c = 0; c < C; c++) {
          let z = fit.bias[c]!;
          for (let j = 0; j < vf.f; j++) z += vf.x[r * vf.f + j]! * fit.kernel[j * C + c]!;
          p[c] = 1 / (1 + Math.exp(-z));
        }
        probs.push(p);
      }
      const m = tagMetrics(probs, val.samples.map((s) => s.tags), val.classes);
      console.log(`views ${views} l2 ${l2} iters ${iterations}: dev-val tag mAP ${m.map.toFixed(3)}, accuracy ${m.accuracy.toFixed(3)}  (fit ${fitS.toFixed(1)} s, loss ${fit.lossAfter.toFixed(3)})`);
    }
  }
}
tf.disposeVariables();
