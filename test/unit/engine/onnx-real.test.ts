/**
 * Exported TRAINED models against the app, on real images (a few msrc21 images when
 * ../shared/datasets/msrc21 is present, generated shapes otherwise):
 * - the same input through TF.js and onnxruntime: seg/tag logits within 1e-4 of the logit range,
 *   argmax over all classes identical on ≥ 99.9 % of pixels;
 * - the whole pipeline (the app's infer.ts predict vs onnx-runtime.ts): same decoded classes,
 *   masks identical on ≥ 99.9 % of pixels;
 * - `heatseg predict MODEL.onnx` vs `heatseg predict MODELFOLDER`: masks identical on ≥ 99.9 %.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src-main/cli/main';
import { readMaskPng } from '../../../src-main/dataset/maskfolder';
import { writeShapesDataset } from '../../../src-main/demo/shapes';
import { initBackend } from '../../../src-main/engine/backend';
import { type Dataset, datasetFromMaskFolder, decodeToWorking } from '../../../src-main/engine/data';
import { predict } from '../../../src-main/engine/infer';
import { heatLogits } from '../../../src-main/engine/losses';
import { saveModel } from '../../../src-main/engine/model-io';
import { createSegmenter, type SegMethod, type Segmenter } from '../../../src-main/engine/models';
import { exportOnnx } from '../../../src-main/engine/onnx-export';
import { OnnxSegmenter, onnxInput } from '../../../src-main/engine/onnx-runtime';
import { DEFAULT_TRAIN, encoderStride, train } from '../../../src-main/engine/trainer';
import { MSRC21, hasMsrc21, tmpDir } from '../../helpers/tmp';

const SIZE = 48;
const METHODS: SegMethod[] = ['lrp', 'gradcam', 'unet', 'mtunet'];
let tmp: string;
let source: string;
let data: Dataset;
let imageFiles: string[];

beforeAll(async () => {
  await initBackend('wasm');
  tmp = tmpDir('heatseg-onnx-real-');
  if (hasMsrc21) {
    source = MSRC21;
    const all = fs.readdirSync(path.join(MSRC21, 'images')).sort();
    // 8 images spread over the set for training, the first 4 of them for the comparison
    const picked = Array.from({ length: 8 }, (_, i) => all[Math.floor((i * all.length) / 8)]!);
    data = await datasetFromMaskFolder(MSRC21, SIZE, { withLabels: true, ids: picked.map((f) => path.parse(f).name) });
    imageFiles = picked.slice(0, 4).map((f) => path.join(MSRC21, 'images', f));
  } else {
    console.warn(`${MSRC21} not found: comparing on generated shapes images`);
    source = path.join(tmp, 'shapes');
    await writeShapesDataset(source, { count: 8, width: 80, height: 60, seed: 4 });
    data = await datasetFromMaskFolder(source, SIZE, { withLabels: true });
    imageFiles = fs
      .readdirSync(path.join(source, 'images'))
      .sort()
      .slice(0, 4)
      .map((f) => path.join(source, 'images', f));
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Trained {
  model: Segmenter;
  dir: string;
  onnxFile: string;
  heatScale: number;
}

/** 1 epoch at SIZE px on `data` (small encoder, default LRP depth and heatmap normalisation), saved and exported. */
async function trainAndExport(method: SegMethod): Promise<Trained> {
  const model = await createSegmenter({
    method,
    classes: data.classes.length,
    inputSize: SIZE,
    encoder: { kind: 'small', channels: [8, 16, 32, 32] },
    seed: 3,
  });
  const r = await train(model, data, { ...DEFAULT_TRAIN, size: SIZE, batch: 4, epochs: 1, warmupSteps: 1, lr: 3e-3 });
  expect(r.steps).toBeGreaterThan(0);
  const dir = path.join(tmp, method);
  saveModel(dir, model, {
    classes: data.classes.map((name, k) => ({ name, color: `#${((k * 0x2f1b3d) & 0xffffff).toString(16).padStart(6, '0')}` })),
    inputSize: SIZE,
    normalisation: 'RGB / 255',
    method,
    backbone: 'small',
    heatScale: r.heatScale,
    heatNorm: 'pixel',
    training: {},
    metrics: null,
  });
  const info = exportOnnx(dir, path.join(tmp, `${method}-onnx`, 'model.onnx'));
  return { model, dir, onnxFile: info.file, heatScale: r.heatScale };
}

/** TF.js seg (through heatLogits) and tag logits for all classes, NCHW, for an NCHW input. */
function tfLogits(t: Trained, x: Float32Array, h: number, w: number): { seg: Float32Array; tags: Float32Array | null } {
  const m = t.model;
  const C = m.classes;
  const decodes = m.method === 'lrp' || m.method === 'gradcam';
  const out = tf.tidy(() => {
    const input = tf.tensor4d(x, [1, 3, h, w]).transpose([0, 2, 3, 1]) as tf.Tensor4D;
    const dc = decodes
      ? tf.tensor2d(
          Array.from({ length: C }, (_, c) => c),
          [1, C],
          'int32',
        )
      : undefined;
    const r = m.forward(input, dc ? { decodeClasses: dc } : {});
    const seg = decodes ? heatLogits(r.seg!, t.heatScale, 'pixel') : r.seg!;
    return [seg.transpose([0, 3, 1, 2]), ...(r.logits ? [r.logits] : [])];
  });
  const seg = out[0]!.dataSync() as Float32Array;
  const tags = out[1] ? (out[1].dataSync() as Float32Array) : null;
  tf.dispose(out);
  return { seg, tags };
}

/** max |a - b| / (max(b) - min(b)) */
function relToRange(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0,
    lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    lo = Math.min(lo, b[i]!);
    hi = Math.max(hi, b[i]!);
  }
  return d / Math.max(hi - lo, 1e-12);
}

/** Per-pixel argmax over the class axis of NCHW [1, C, h, w]. */
function argmaxClasses(seg: Float32Array, C: number, plane: number): Uint8Array {
  const out = new Uint8Array(plane);
  for (let p = 0; p < plane; p++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (seg[c * plane + p]! > seg[best * plane + p]!) best = c;
    out[p] = best;
  }
  return out;
}

const agreement = (a: Uint8Array, b: Uint8Array) => {
  expect(a.length).toBe(b.length);
  return a.reduce((n, v, i) => n + (v === b[i] ? 1 : 0), 0) / a.length;
};

it('onnx-runtime.ts reaches no TF.js through its imports (predict MODEL.onnx runs without it)', () => {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^import\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)) {
      const [, typeOnly, spec] = m;
      if (typeOnly) continue; // erased at run time
      if (spec!.startsWith('.')) visit(path.resolve(path.dirname(file), spec!.replace(/\.js$/, '.ts')));
      else packages.add(spec!);
    }
  };
  visit(path.resolve(__dirname, '../../../src-main/engine/onnx-runtime.ts'));
  expect(seen.size).toBeGreaterThan(2);
  expect(packages).toContain('onnxruntime-node');
  expect([...packages].filter((p) => p.startsWith('@tensorflow'))).toEqual([]);
});

describe(`exported trained models match the app (${hasMsrc21 ? 'msrc21 images' : 'generated shapes'})`, () => {
  const trained = new Map<SegMethod, Trained>();
  afterAll(() => trained.forEach((t) => t.model.dispose()));
  /** Trained once per method, shared by the comparison and the CLI test (either may run alone). */
  const trainedModel = async (method: SegMethod): Promise<Trained> => {
    if (!trained.has(method)) trained.set(method, await trainAndExport(method));
    return trained.get(method)!;
  };

  for (const method of METHODS) {
    it(`${method}: logits, argmax and masks`, async () => {
      const t = await trainedModel(method);
      const onnx = await OnnxSegmenter.load(t.onnxFile);
      const C = t.model.classes;
      const stride = encoderStride(t.model);
      let worst = 0,
        argmaxSame = 0,
        argmaxPixels = 0,
        maskSame = 0,
        maskPixels = 0;
      const argmaxValues = new Set<number>();
      try {
        for (const file of imageFiles) {
          const img = await decodeToWorking(fs.readFileSync(file), SIZE);
          // the same input through both runtimes
          const x = onnxInput(img, onnx.info);
          const ref = tfLogits(t, x.data, x.height, x.width);
          const got = await onnx.run(x.data, 1, x.height, x.width);
          const err = Math.max(relToRange(got.seg, ref.seg), ref.tags ? relToRange(got.tags!, ref.tags) : 0);
          worst = Math.max(worst, err);
          const plane = x.height * x.width;
          const a = argmaxClasses(got.seg, C, plane);
          const b = argmaxClasses(ref.seg, C, plane);
          b.forEach((v) => argmaxValues.add(v));
          argmaxSame += agreement(a, b) * plane;
          argmaxPixels += plane;
          // the comparison is sharp: another image's logits are far off
          if (file !== imageFiles[0]) {
            const other = await decodeToWorking(fs.readFileSync(imageFiles[0]!), SIZE);
            const ox = onnxInput(other, onnx.info);
            if (ox.height === x.height && ox.width === x.width)
              expect(relToRange((await onnx.run(ox.data, 1, ox.height, ox.width)).seg, ref.seg)).toBeGreaterThan(1e-2);
          }
          // the app's whole pipeline vs the ONNX one, at the original size
          const app = await predict(
            t.model,
            { id: file, ...img, tags: [], labels: null },
            { stride, heatScale: t.heatScale, heatNorm: 'pixel' },
          );
          const mine = await onnx.predict(img);
          expect(mine.classes).toEqual(app.classes);
          expect([mine.width, mine.height]).toEqual([img.origWidth, img.origHeight]);
          maskSame += agreement(mine.mask, app.mask) * app.mask.length;
          maskPixels += app.mask.length;
        }
      } finally {
        await onnx.release();
      }
      console.log(
        `${method}: logits max |ONNX - TF.js| / range ${worst.toExponential(1)}; argmax over all ${C} classes equal on ${((100 * argmaxSame) / argmaxPixels).toFixed(3)} % of ${argmaxPixels} px; ` +
          `masks at original size equal on ${((100 * maskSame) / maskPixels).toFixed(3)} % of ${maskPixels} px`,
      );
      expect(worst).toBeLessThanOrEqual(1e-4);
      expect(argmaxValues.size).toBeGreaterThan(1); // not a trivially constant map
      expect(argmaxSame / argmaxPixels).toBeGreaterThanOrEqual(0.999);
      expect(maskSame / maskPixels).toBeGreaterThanOrEqual(0.999);
    });
  }

  it('heatseg predict MODEL.onnx writes the same masks as heatseg predict MODELFOLDER', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const run = async (...args: string[]) => {
        let out = '';
        const code = await main(['node', 'heatseg', ...args], (s) => (out += s));
        return { code, out };
      };
      for (const method of METHODS) {
        const t = await trainedModel(method);
        const viaTf = path.join(tmp, `pred-${method}-tf`);
        const viaOnnx = path.join(tmp, `pred-${method}-onnx`);
        const a = await run('predict', t.dir, ...imageFiles, '--out', viaTf);
        expect(a.code).toBe(0);
        // the .onnx file for one method, its folder (model.onnx, no heatseg-model.json) for another
        const b = await run(
          'predict',
          method === 'unet' ? path.dirname(t.onnxFile) : t.onnxFile,
          ...imageFiles,
          '--out',
          viaOnnx,
          '--json',
        );
        expect(b.code).toBe(0);
        expect(JSON.parse(b.out).backend.name).toBe('onnxruntime');
        expect(stderr.mock.calls.some(([s]) => String(s).includes('backend: onnxruntime'))).toBe(true);
        let same = 0,
          total = 0,
          heatDiff = 0;
        for (const file of imageFiles) {
          const stem = path.parse(file).name;
          const ma = readMaskPng(path.join(viaTf, `${stem}.png`));
          const mb = readMaskPng(path.join(viaOnnx, `${stem}.png`));
          expect([mb.width, mb.height]).toEqual([ma.width, ma.height]);
          same += agreement(mb.data, ma.data) * ma.data.length;
          total += ma.data.length;
          // the same palette: the class colours of the model
          expect(fs.readFileSync(path.join(viaOnnx, `${stem}.png`)).includes(Buffer.from('PLTE'))).toBe(true);
          // heatmaps: the winning class's probability, coloured; equal up to rounding
          const [ha, hb] = await Promise.all(
            [viaTf, viaOnnx].map((d) =>
              sharp(path.join(d, `${stem}.heatmap.png`))
                .raw()
                .toBuffer(),
            ),
          );
          expect(hb!.length).toBe(ha!.length);
          heatDiff = Math.max(heatDiff, ha!.reduce((sum, v, i) => sum + Math.abs(v - hb![i]!), 0) / ha!.length);
        }
        console.log(
          `${method}: CLI masks (.onnx vs model folder) equal on ${((100 * same) / total).toFixed(3)} % of ${total} px; heatmap PNGs differ by ${heatDiff.toFixed(3)} / 255 on average`,
        );
        expect(heatDiff).toBeLessThan(1);
        expect(same / total).toBeGreaterThanOrEqual(0.999);
        if (method !== 'lrp') continue;
        // --tta none: one view through either runtime, the same masks, and not the 6-view ones
        const oneTf = path.join(tmp, `pred-${method}-tf-one`);
        const oneOnnx = path.join(tmp, `pred-${method}-onnx-one`);
        expect((await run('predict', t.dir, ...imageFiles, '--out', oneTf, '--tta', 'none')).code).toBe(0);
        expect((await run('predict', t.onnxFile, ...imageFiles, '--out', oneOnnx, '--tta', 'none')).code).toBe(0);
        let sameOne = 0, sameDefault = 0, n = 0;
        for (const file of imageFiles) {
          const stem = path.parse(file).name;
          const [x, y, z] = [oneTf, oneOnnx, viaTf].map((d) => readMaskPng(path.join(d, `${stem}.png`)).data);
          sameOne += agreement(y!, x!) * x!.length;
          sameDefault += agreement(z!, x!) * x!.length;
          n += x!.length;
        }
        expect(sameOne / n).toBeGreaterThanOrEqual(0.999);
        expect(sameDefault / n).toBeLessThan(0.999);
        expect((await run('predict', t.dir, ...imageFiles, '--out', oneTf, '--tta', '1,9')).code).not.toBe(0);
        expect(stderr.mock.calls.some(([s]) => String(s).includes('test-time scales must be'))).toBe(true);
      }
    } finally {
      vi.restoreAllMocks();
      process.exitCode = undefined;
    }
  });
});
