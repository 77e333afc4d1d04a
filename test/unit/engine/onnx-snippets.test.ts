/**
 * The README's ONNX snippets, run as written (the fenced blocks are extracted from README.md)
 * against a real exported model, and compared with the app's onnxruntime path (onnx-runtime.ts,
 * whose pre/post-processing is prepost.ts): the Node one always, the Python one where python3 has
 * onnxruntime, numpy and Pillow. The photo's shorter side is the model's input size and both sides
 * are multiples of the stride, so neither side resizes and the masks must be identical. Also: the
 * export's metadata comes from prepost.ts's constants and the one stride definition.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { onnx as OnnxNamespace } from 'onnx-proto';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../../../src-shared/random';
import { decodeToWorking } from '../../../src-main/engine/data';
import { saveModel } from '../../../src-main/engine/model-io';
import { createSegmenter, type Segmenter, specStride } from '../../../src-main/engine/models';
import { exportOnnx, ONNX_READING_NOTE } from '../../../src-main/engine/onnx-export';
import { OnnxSegmenter } from '../../../src-main/engine/onnx-runtime';
import { NO_REFINE } from '../../../src-main/engine/refine';
import { DECODE_DEFAULTS, NO_TTA, NORMALISATION_NOTE, PIXEL_SCALE, strideSide } from '../../../src-main/engine/prepost';
import { tmpDir } from '../../helpers/tmp';

const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNamespace };
const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const SIZE = 32;
const CLASSES = ['sky', 'grass', 'cow', 'road'];

/** The first ```lang fenced block after the line that starts with `caption`. */
function fenced(md: string, caption: string, lang: string): string {
  const lines = md.split('\n');
  const at = lines.findIndex((l) => l.startsWith(caption));
  expect(at, `no line starting with '${caption}'`).toBeGreaterThanOrEqual(0);
  const open = lines.findIndex((l, i) => i > at && l.trim() === '```' + lang);
  const close = lines.findIndex((l, i) => i > open && l.trim() === '```');
  expect(open).toBeGreaterThan(at);
  return lines.slice(open + 1, close).join('\n') + '\n';
}

/** "sky: 120 px, cow: 40 px" → { sky: 120, cow: 40 } in printed order. */
function counts(printed: string): Array<[string, number]> {
  return printed
    .trim()
    .split(', ')
    .map((part) => {
      const m = /^(.+): (\d+) px$/.exec(part);
      expect(m, `unexpected output '${printed.trim()}'`).not.toBeNull();
      return [m![1]!, Number(m![2])] as [string, number];
    });
}

const pythonReady = (() => {
  try {
    execFileSync('python3', ['-c', 'import onnxruntime, numpy, PIL'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!pythonReady) console.warn('README Python snippet not run: python3 with onnxruntime, numpy and Pillow is not installed here');

let tmp: string;
let model: Segmenter;
let onnxFile: string;

/** Blocky random RGB (classes then get distinct heatmaps) as a PNG. */
async function photo(file: string, width: number, height: number, seed: number): Promise<void> {
  const r = rng(seed);
  const blocks = Array.from({ length: 6 * 6 * 3 }, () => Math.floor(r() * 256));
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++)
        px[(y * width + x) * 3 + c] = blocks[(Math.floor((y * 6) / height) * 6 + Math.floor((x * 6) / width)) * 3 + c]!;
  await sharp(px, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(file);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
  tmp = tmpDir('heatseg-onnx-snippets-');
  // the snippets import onnxruntime-node and sharp: resolve them from the repo's node_modules
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');
  model = await createSegmenter({ method: 'lrp', classes: CLASSES.length, inputSize: SIZE, seed: 3 });
  // random biases and head (the fresh model has zero biases)
  const r = rng(5);
  const w = model.getWeights();
  for (const [name, e] of Object.entries(w)) {
    if (name === 'head/bias')
      e.data.set([3, 2, 1, -6]); // three classes present, and 'road' absent but always decoded (as a background): all compete
    else if (name.endsWith('/bias')) e.data.forEach((_, i) => (e.data[i] = (r() - 0.5) * 0.2));
    else if (name === 'head/kernel') e.data.forEach((_, i) => (e.data[i] = (r() - 0.5) * 0.2));
  }
  model.setWeights(w);
  const dir = path.join(tmp, 'model');
  saveModel(dir, model, {
    classes: CLASSES.map((name, c) => ({ name, color: `#${(c * 50).toString(16).padStart(2, '0')}8040` })),
    inputSize: SIZE,
    normalisation: 'RGB / 255',
    method: 'lrp',
    backbone: 'small',
    heatScale: 2,
    heatNorm: 'pixel',
    alwaysDecode: [3],
    training: {},
    metrics: null,
  });
  fs.mkdirSync(path.join(tmp, 'OUT'));
  onnxFile = exportOnnx(dir, path.join(tmp, 'OUT', 'model.onnx')).file;
}, 120_000);
afterAll(() => {
  model?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The app's onnxruntime path at the model's resolution (no resize on either side): class → pixels. */
async function appCounts(file: string): Promise<Map<string, number>> {
  const seg = await OnnxSegmenter.load(onnxFile);
  try {
    const img = await decodeToWorking(fs.readFileSync(file), SIZE);
    const p = await seg.predict(img, { outWidth: img.width, outHeight: img.height, tta: NO_TTA, refine: NO_REFINE }); // the snippets run one view, unrefined
    return new Map(p.classes.map((c) => [CLASSES[c]!, p.mask.filter((m) => m === c).length]));
  } finally {
    await seg.release();
  }
}

describe('the ONNX export describes itself with the pipeline constants', () => {
  it('normalisation, decode defaults and stride in the metadata and the sidecar', () => {
    const proto = onnx.ModelProto.decode(fs.readFileSync(onnxFile));
    const props = Object.fromEntries(proto.metadataProps.map((p) => [p.key, p.value]));
    const spec = model.config().encoder;
    expect(props.normalisation).toBe(NORMALISATION_NOTE);
    expect(props.pixel_scale).toBe(String(PIXEL_SCALE));
    expect(JSON.parse(props.decode_defaults!)).toEqual(DECODE_DEFAULTS);
    expect(JSON.parse(props.stride!)).toEqual([specStride(spec, 0), specStride(spec, 1)]);
    expect(props.how_to_read).toBe(ONNX_READING_NOTE);
    expect(ONNX_READING_NOTE).toContain(`sigmoid(tag) >= ${DECODE_DEFAULTS.threshold} (i.e. tag_logit >= ${Math.log(DECODE_DEFAULTS.threshold / (1 - DECODE_DEFAULTS.threshold)).toFixed(3)})`);
    expect(ONNX_READING_NOTE).toContain(`caps the list at the ${DECODE_DEFAULTS.maxClasses} most probable`);
    const side = JSON.parse(fs.readFileSync(`${onnxFile}.json`, 'utf8'));
    expect(side).toMatchObject({ normalisation: NORMALISATION_NOTE, decodeDefaults: DECODE_DEFAULTS, stride: JSON.parse(props.stride!) });
  });
});

describe('README snippets', () => {
  it('Node: the same classes and mask as heatseg predict MODEL.onnx', async () => {
    const script = path.join(tmp, 'segment.mjs');
    fs.writeFileSync(script, fenced(README, 'Node (onnxruntime-node', 'js'));
    const [stride] = JSON.parse(fs.readFileSync(`${onnxFile}.json`, 'utf8')).stride as [number, number];
    expect(SIZE % stride).toBe(0);
    const seen = new Set<string>();
    for (const [i, [w, h]] of [
      [SIZE + 2 * stride, SIZE],
      [SIZE, SIZE + stride],
      [SIZE + 3 * stride, SIZE],
    ].entries()) {
      const file = path.join(tmp, `photo${i}.png`);
      await photo(file, w!, h!, 10 + i);
      const { stdout } = await run(process.execPath, [script, onnxFile, file], { cwd: tmp });
      const got = counts(stdout);
      got.forEach(([name]) => seen.add(name));
      expect(new Map(got)).toEqual(await appCounts(file));
      expect(got.reduce((s, [, n]) => s + n, 0)).toBe(w! * h!);
    }
    expect(seen.size).toBeGreaterThan(1); // not one class everywhere
    expect(seen.has('road')).toBe(true); // the always-decoded class reaches the mask, its tag notwithstanding
  }, 120_000);

  it('Node: a photo that needs resizing gives a mask at a multiple of the stride', async () => {
    const script = path.join(tmp, 'segment.mjs');
    fs.writeFileSync(script, fenced(README, 'Node (onnxruntime-node', 'js'));
    const [sh, sw] = JSON.parse(fs.readFileSync(`${onnxFile}.json`, 'utf8')).stride as [number, number];
    const file = path.join(tmp, 'odd.png');
    await photo(file, 50, 37, 21);
    const { stdout } = await run(process.execPath, [script, onnxFile, file], { cwd: tmp });
    const k = SIZE / 37;
    expect(counts(stdout).reduce((s, [, n]) => s + n, 0)).toBe(strideSide(37 * k, sh) * strideSide(50 * k, sw));
  }, 60_000);

  it.skipIf(!pythonReady)(
    'Python: the same classes and mask as heatseg predict MODEL.onnx',
    async () => {
      const script = path.join(tmp, 'segment.py');
      fs.writeFileSync(script, fenced(README, 'Python (onnxruntime', 'python'));
      // the snippet reads OUT/model.onnx and photo.jpg from its working folder: a real JPEG, compared with the app on that file
      await photo(path.join(tmp, 'py.png'), SIZE + 16, SIZE, 31);
      await sharp(path.join(tmp, 'py.png')).jpeg({ quality: 100 }).toFile(path.join(tmp, 'photo.jpg'));
      const { stdout } = await run('python3', [script], { cwd: tmp });
      const got = counts(stdout);
      const app = await appCounts(path.join(tmp, 'photo.jpg'));
      expect(got.map(([name]) => name).sort()).toEqual([...app.keys()].sort());
      // two JPEG decoders (libjpeg in Pillow, libvips' in sharp) may differ by a level here and there
      const total = got.reduce((s, [, n]) => s + n, 0);
      for (const [name, n] of got) expect(Math.abs(n - app.get(name)!)).toBeLessThanOrEqual(0.01 * total);
    },
    60_000,
  );
});
