/**
 * ONNX export verified against onnxruntime: the exported graph, run by onnxruntime-node on CPU,
 * must reproduce the TF.js model's tag logits and its decoded heatmaps of all classes (through
 * heatLogits) for every method, at the training size and at another size with batch 2.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { onnx as OnnxNamespace } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type HeatNorm, heatLogits } from '../../../src-main/engine/losses';
import { saveModel } from '../../../src-main/engine/model-io';
import {
  buildSegmenter,
  createSegmenter,
  type CreateSegmenterOptions,
  type EncoderSpec,
  type Segmenter,
} from '../../../src-main/engine/models';
import { type ExportOnnxOptions, exportOnnx, type OnnxExportInfo } from '../../../src-main/engine/onnx-export';
import { main } from '../../../src-main/cli/main';
import { runJob } from '../../../src-main/engine/jobs';
import { ProjectStore } from '../../../src-main/store/project';
import { DARKNET, hasDarknet, tmpDir } from '../../helpers/tmp';
import { rng } from '../../../src-shared/random';

const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNamespace };

if (!hasDarknet)
  console.warn(`ONNX darknet-tiny test skipped: ${DARKNET}/model.json not found (../shared/models/darknet-tiny from the repo root)`);

const TOL = 1e-4;
let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
  tmp = tmpDir('heatseg-onnx-');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));


/** Random biases and head (the fresh model has zero biases), so every parameter path is exercised. */
function randomise(model: Segmenter, seed: number): void {
  const r = rng(seed);
  const w = model.getWeights();
  for (const [name, e] of Object.entries(w)) {
    if (name.endsWith('/bias')) e.data.forEach((_, i) => (e.data[i] = (r() - 0.5) * 0.2));
    else if (name === 'head/kernel') e.data.forEach((_, i) => (e.data[i] = (r() - 0.5) * 2));
  }
  model.setWeights(w);
}

interface Exported {
  model: Segmenter;
  info: OnnxExportInfo;
  session: ort.InferenceSession;
  heatScale: number;
  heatNorm: HeatNorm;
}

async function exportCase(
  name: string,
  opts: CreateSegmenterOptions | Segmenter,
  heat: { scale: number; norm: HeatNorm },
  seed: number,
  exportOpts: ExportOnnxOptions = {},
): Promise<Exported> {
  const model = 'forward' in opts ? opts : await createSegmenter(opts);
  randomise(model, seed);
  const dir = path.join(tmp, name);
  saveModel(dir, model, {
    classes: Array.from({ length: model.classes }, (_, c) => ({
      name: `class${c}`,
      color: `#${(c * 40).toString(16).padStart(2, '0')}8040`,
    })),
    inputSize: model.inputSize,
    normalisation: 'RGB / 255',
    method: model.method,
    backbone: model.config().encoder.source ?? 'small',
    heatScale: heat.scale,
    heatNorm: heat.norm,
    training: {},
    metrics: null,
  });
  const info = exportOnnx(dir, path.join(tmp, `${name}.onnx`), exportOpts);
  const session = await ort.InferenceSession.create(info.file);
  return { model, info, session, heatScale: heat.scale, heatNorm: heat.norm };
}

/** Random image batch in 0..1 as NCHW data; `block` > 1 makes constant block×block squares (exact max-pool ties). */
function images(n: number, h: number, w: number, seed: number, block = 1): Float32Array {
  const r = rng(seed);
  const bh = Math.ceil(h / block);
  const bw = Math.ceil(w / block);
  const values = new Float32Array(n * 3 * bh * bw).map(() => r());
  const out = new Float32Array(n * 3 * h * w);
  for (let i = 0; i < n * 3; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) out[(i * h + y) * w + x] = values[(i * bh + Math.floor(y / block)) * bw + Math.floor(x / block)]!;
  return out;
}

/** The app's numbers for all classes: forward logits, and heatLogits of the decoded heatmaps as NCHW. */
function reference(e: Exported, nchw: Float32Array, n: number, h: number, w: number): { tags: Float32Array | null; seg: Float32Array } {
  const out = tf.tidy(() => {
    const x = tf.tensor4d(nchw, [n, 3, h, w]).transpose([0, 2, 3, 1]) as tf.Tensor4D;
    const C = e.model.classes;
    const decodes = e.model.method === 'lrp' || e.model.method === 'gradcam';
    const dc = decodes
      ? tf.tensor2d(
          Array.from({ length: n * C }, (_, i) => i % C),
          [n, C],
          'int32',
        )
      : undefined;
    const r = e.model.forward(x, dc ? { decodeClasses: dc } : {});
    const seg = decodes ? heatLogits(r.seg!, e.heatScale, e.heatNorm) : r.seg!;
    return { seg: seg.transpose([0, 3, 1, 2]), ...(r.logits ? { tags: r.logits } : {}) };
  }) as { seg: tf.Tensor; tags?: tf.Tensor };
  const result = { tags: out.tags ? (out.tags.dataSync() as Float32Array) : null, seg: out.seg.dataSync() as Float32Array };
  tf.dispose([out.seg, ...(out.tags ? [out.tags] : [])]);
  return result;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / Math.max(scale, 1e-12);
}

/** The same NCHW data with the class axis rotated by one: what a mixed-up class order would give. */
function rotateClasses(seg: Float32Array, n: number, c: number): Float32Array {
  const plane = seg.length / (n * c);
  const out = new Float32Array(seg.length);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < c; k++) out.set(seg.subarray((i * c + k) * plane, (i * c + k + 1) * plane), (i * c + ((k + 1) % c)) * plane);
  return out;
}

async function compare(e: Exported, n: number, h: number, w: number, seed: number, block = 1): Promise<{ seg: number; tags: number }> {
  const data = images(n, h, w, seed, block);
  const out = await e.session.run({ image: new ort.Tensor('float32', data, [n, 3, h, w]) });
  const C = e.model.classes;
  const ref = reference(e, data, n, h, w);
  const seg = out.seg_logits!;
  expect(seg.dims).toEqual([n, C, h, w]);
  const segErr = relErr(seg.data as Float32Array, ref.seg);
  // the comparison is sharp: the same maps with classes mixed up are far off
  expect(relErr(seg.data as Float32Array, rotateClasses(ref.seg, n, C))).toBeGreaterThan(100 * TOL);
  let tagErr = 0;
  if (ref.tags) {
    const tags = out.tag_logits!;
    expect(tags.dims).toEqual([n, C]);
    tagErr = relErr(tags.data as Float32Array, ref.tags);
  } else {
    expect(out.tag_logits).toBeUndefined();
  }
  return { seg: segErr, tags: tagErr };
}

const small = (activation: 'relu' | 'leaky') => ({ kind: 'small' as const, channels: [4, 8, 8], activation, alpha: 0.2 });

const CASES: Array<{ name: string; opts: CreateSegmenterOptions; heat: { scale: number; norm: HeatNorm }; ops: string[] }> = [
  {
    name: 'lrp depth 0, leaky ReLU, per-pixel normalised heatmaps',
    opts: { method: 'lrp', classes: 3, inputSize: 32, encoder: small('leaky'), lrpDepth: 0, seed: 3 },
    heat: { scale: 2.5, norm: 'pixel' },
    ops: ['ConvTranspose', 'Where', 'Tile', 'ReduceMean', 'Abs'],
  },
  {
    name: 'lrp depth 2, ReLU',
    opts: { method: 'lrp', classes: 4, inputSize: 32, encoder: small('relu'), lrpDepth: 2, seed: 4 },
    heat: { scale: 1, norm: 'none' },
    ops: ['ConvTranspose', 'Cast', 'Resize'],
  },
  {
    name: 'lrp depth 1 read at two depths (lrpTopRelevance), leaky ReLU, per-pixel normalised',
    opts: { method: 'lrp', classes: 3, inputSize: 32, encoder: small('leaky'), lrpDepth: 1, lrpTopRelevance: true, seed: 8 },
    heat: { scale: 1.5, norm: 'pixel' },
    ops: ['ConvTranspose', 'Conv', 'ReduceProd', 'Resize'],
  },
  {
    name: 'gradcam with ReLU on the map, leaky encoder',
    opts: { method: 'gradcam', classes: 3, inputSize: 32, encoder: small('leaky'), gradcamRelu: true, seed: 5 },
    heat: { scale: 3, norm: 'none' },
    ops: ['Conv', 'Resize', 'Relu'],
  },
  {
    name: 'unet, ReLU encoder',
    opts: { method: 'unet', classes: 3, inputSize: 32, encoder: small('relu'), seed: 6 },
    heat: { scale: 1, norm: 'none' },
    ops: ['Concat', 'Resize'],
  },
  {
    name: 'mtunet, leaky encoder',
    opts: { method: 'mtunet', classes: 3, inputSize: 32, encoder: small('leaky'), unetConvsPerStage: 2, seed: 7 },
    heat: { scale: 1, norm: 'none' },
    ops: ['Concat', 'Gemm'],
  },
];

describe('ONNX export matches the TF.js model under onnxruntime', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const e = await exportCase(c.name.replace(/[^a-z0-9]+/gi, '-'), c.opts, c.heat, c.opts.seed ?? 1);
      try {
        expect(e.info.dynamicSize).toEqual({ height: true, width: true });
        expect(e.info.stride).toEqual([4, 4]);
        for (const op of c.ops) expect(e.info.ops).toContain(op);
        expect(e.session.inputNames).toEqual(['image']);
        expect([...e.session.outputNames].sort()).toEqual(c.opts.method === 'unet' ? ['seg_logits'] : ['seg_logits', 'tag_logits']);
        // training size, batch 1; another size, batch 2
        const a = await compare(e, 1, 32, 32, 11);
        const b = await compare(e, 2, 48, 40, 12);
        console.log(
          `${c.name}: ops ${e.info.ops.join(' ')} (${e.info.nodes} nodes); rel. error seg ${a.seg.toExponential(1)} / ${b.seg.toExponential(1)}, tags ${a.tags.toExponential(1)} / ${b.tags.toExponential(1)}`,
        );
        expect(a.seg).toBeLessThan(TOL);
        expect(a.tags).toBeLessThan(TOL);
        expect(b.seg).toBeLessThan(TOL);
        expect(b.tags).toBeLessThan(TOL);
      } finally {
        e.model.dispose();
        await e.session.release();
      }
    });
  }

  it('routes relevance through the first maximum of tied max-pool windows, as the app does', async () => {
    // inside 8×8 constant squares every 3×3 conv sees the same values, so whole 2×2 pool windows tie exactly
    const e = await exportCase(
      'lrp-ties',
      { method: 'lrp', classes: 3, inputSize: 32, encoder: small('leaky'), lrpDepth: 0, seed: 8 },
      { scale: 1, norm: 'none' },
      8,
    );
    try {
      const r = await compare(e, 2, 32, 32, 13, 8);
      expect(r.seg).toBeLessThan(TOL);
      expect(r.tags).toBeLessThan(TOL);
    } finally {
      e.model.dispose();
      await e.session.release();
    }
  });

  // Keras-style geometry: asymmetric zero padding, a strided valid conv (ConvTranspose output_padding),
  // a strided 'same' conv with kernel = stride; stride 8 overall, still size-independent
  const keras: EncoderSpec = {
    family: 'keras',
    inputChannels: 3,
    layers: [
      {
        type: 'pad',
        name: 'pad1',
        pad: [
          [1, 1],
          [0, 1],
        ],
      },
      { type: 'conv', name: 'conv1', filters: 6, kernel: [3, 3], strides: [2, 2], padding: 'valid' },
      { type: 'leaky', name: 'act1', alpha: 0.1 },
      { type: 'conv', name: 'conv2', filters: 8, kernel: [3, 3], strides: [1, 1], padding: 'same' },
      { type: 'relu', name: 'act2' },
      { type: 'maxpool', name: 'pool2', pool: [2, 2] },
      { type: 'conv', name: 'conv3', filters: 8, kernel: [2, 2], strides: [2, 2], padding: 'same' },
      { type: 'leaky', name: 'act3', alpha: 0.1 },
      { type: 'conv', name: 'conv4', filters: 8, kernel: [1, 1], strides: [1, 1], padding: 'same' },
      { type: 'relu', name: 'act4' },
    ],
  };
  const kerasModel = (method: 'lrp' | 'gradcam', lrpDepth: number) =>
    buildSegmenter({
      format: 'heatseg-segmenter',
      version: 1,
      method,
      classes: 3,
      inputSize: 32,
      encoder: keras,
      gradcamRelu: false,
      lrpDepth,
      unetConvsPerStage: 1,
      seed: 12,
    });
  for (const [method, depth] of [
    ['lrp', 0],
    ['lrp', 1],
    ['gradcam', 0],
  ] as const) {
    it(`padding, strided and valid convolutions: ${method}${method === 'lrp' ? ` depth ${depth}` : ''}`, async () => {
      const e = await exportCase(`keras-${method}-${depth}`, kerasModel(method, depth), { scale: 1, norm: 'pixel' }, 12 + depth);
      try {
        expect(e.info.dynamicSize).toEqual({ height: true, width: true });
        expect(e.info.stride).toEqual([8, 8]);
        // depth 1 stops at the strided conv's input (the padded image), so only depth 0 crops the padding off again
        if (method === 'lrp')
          expect(e.info.ops).toEqual(expect.arrayContaining(depth === 0 ? ['Pad', 'Slice', 'ConvTranspose'] : ['Pad', 'ConvTranspose']));
        const a = await compare(e, 1, 32, 32, 21);
        const b = await compare(e, 2, 48, 40, 22);
        expect(Math.max(a.seg, a.tags, b.seg, b.tags)).toBeLessThan(TOL);
      } finally {
        e.model.dispose();
        await e.session.release();
      }
    });
  }

  it('can fix H and W to the training size (staticSize)', async () => {
    const e = await exportCase(
      'static',
      { method: 'lrp', classes: 2, inputSize: 16, encoder: small('leaky'), lrpDepth: 0, seed: 13 },
      { scale: 1, norm: 'none' },
      13,
      { staticSize: true },
    );
    try {
      expect(e.info.dynamicSize).toEqual({ height: false, width: false });
      expect(e.info.inputs[0]!.shape).toEqual(['N', 3, 16, 16]);
      const r = await compare(e, 2, 16, 16, 23);
      expect(Math.max(r.seg, r.tags)).toBeLessThan(TOL);
      await expect(e.session.run({ image: new ort.Tensor('float32', images(1, 32, 32, 1), [1, 3, 32, 32]) })).rejects.toThrow();
    } finally {
      e.model.dispose();
      await e.session.release();
    }
  });

  it('describes itself: metadata props, symbolic N/H/W, sidecar JSON', async () => {
    const e = await exportCase(
      'meta',
      { method: 'gradcam', classes: 2, inputSize: 32, encoder: small('relu'), seed: 9 },
      { scale: 1.5, norm: 'pixel' },
      9,
    );
    try {
      const proto = onnx.ModelProto.decode(fs.readFileSync(e.info.file));
      expect(Number(proto.opsetImport[0]!.version)).toBe(17);
      const props = Object.fromEntries(proto.metadataProps.map((p) => [p.key, p.value]));
      expect(JSON.parse(props.classes!)).toEqual(['class0', 'class1']);
      expect(JSON.parse(props.colors!)).toHaveLength(2);
      expect(props).toMatchObject({
        method: 'gradcam',
        input_size: '32',
        stride: '[4,4]',
        dynamic_size: 'true',
        heat_scale: '1.5',
        heat_norm: 'pixel',
      });
      expect(props.normalisation).toMatch(/RGB \/ 255/);
      const dims = (proto.graph?.input?.[0]?.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || Number(d.dimValue));
      expect(dims).toEqual(['N', 3, 'H', 'W']);
      // conv weights are stored once, shared by Conv and (for LRP) ConvTranspose
      expect((proto.graph?.initializer ?? []).filter((t) => t.name === 'encoder/block1_conv1/kernel')).toHaveLength(1);
      const side = JSON.parse(fs.readFileSync(e.info.jsonFile!, 'utf8'));
      expect(side).toMatchObject({ format: 'heatseg-onnx', file: 'meta.onnx', model: { method: 'gradcam', heatScale: 1.5 } });
      expect(side.model.weights).toBeUndefined();
    } finally {
      e.model.dispose();
      await e.session.release();
    }
  });

  it("carries the project's always-decoded classes (background): onnxruntime decodes them as the app does", async () => {
    const model = await createSegmenter({ method: 'gradcam', classes: 3, inputSize: 32, encoder: small('relu'), seed: 12 });
    randomise(model, 12);
    // class 2's tag says "absent" on any image: only the always-decode list can bring it in
    const w = model.getWeights();
    w['head/bias']!.data[2] = -30;
    model.setWeights(w);
    const dir = path.join(tmp, 'always');
    const classes = ['cat', 'dog', 'background'].map((name) => ({ name, color: '#808080' }));
    const base = { classes, inputSize: 32, normalisation: 'RGB / 255', method: 'gradcam' as const, backbone: 'small', heatScale: 1, heatNorm: 'pixel' as const, training: {}, metrics: null };
    saveModel(dir, model, { ...base, alwaysDecode: [2] });
    const file = path.join(tmp, 'always.onnx');
    exportOnnx(dir, file);
    const props = Object.fromEntries(onnx.ModelProto.decode(fs.readFileSync(file)).metadataProps.map((p) => [p.key, p.value]));
    expect(JSON.parse(props.always_decode!)).toEqual([2]);
    expect(props.how_to_read).toMatch(/always_decode/);
    expect(JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')).alwaysDecode).toEqual([2]);
    const { OnnxSegmenter, readOnnxModelInfo } = await import('../../../src-main/engine/onnx-runtime');
    const { predict } = await import('../../../src-main/engine/infer');
    const onnxModel = await OnnxSegmenter.load(file);
    try {
      expect(onnxModel.info.alwaysDecode).toEqual([2]);
      const r = rng(5);
      const img = { id: 'x', rgb: Uint8Array.from({ length: 32 * 40 * 3 }, () => Math.floor(r() * 256)), width: 40, height: 32, origWidth: 40, origHeight: 32, tags: [], labels: null };
      const got = await onnxModel.predict(img);
      expect(got.tagProbs![2]).toBeLessThan(1e-6);
      expect(got.classes).toContain(2);
      const app = await predict(model, img, { stride: 4, heatScale: 1, heatNorm: 'pixel', always: [2] });
      expect(got.classes).toEqual(app.classes);
      // the caller may override it (an empty list: the tag head alone)
      expect((await onnxModel.predict(img, { always: [] })).classes).not.toContain(2);
      // an export without the list (as before this key existed) decodes the tag head's classes only
      const plain = path.join(tmp, 'always-none');
      saveModel(plain, model, base);
      exportOnnx(plain, `${plain}.onnx`);
      expect(readOnnxModelInfo(`${plain}.onnx`).alwaysDecode).toEqual([]);
    } finally {
      await onnxModel.release();
      model.dispose();
    }
  });

  it('shares the tied weights: Conv and ConvTranspose of an LRP export read one initializer', async () => {
    const e = await exportCase(
      'tied',
      // read at its stop only: the two-depth term adds a Conv on the head kernel, which is no encoder weight
      { method: 'lrp', classes: 2, inputSize: 16, encoder: small('relu'), lrpDepth: 0, lrpTopRelevance: false, seed: 10 },
      { scale: 1, norm: 'none' },
      10,
    );
    try {
      const proto = onnx.ModelProto.decode(fs.readFileSync(e.info.file));
      const users = (op: string) => (proto.graph?.node ?? []).filter((n) => n.opType === op).map((n) => n.input?.[1]);
      expect(users('ConvTranspose').sort()).toEqual(users('Conv').sort());
    } finally {
      e.model.dispose();
      await e.session.release();
    }
  });

  // depth 0 is the full 15-conv tied decoder; undefined is createSegmenter's default depth
  for (const lrpDepth of [0, undefined]) {
    it.skipIf(!hasDarknet)(
      `darknet-tiny backbone (../shared/models/darknet-tiny), LRP depth ${lrpDepth ?? 'default'} at 64×64`,
      async () => {
        const e = await exportCase(
          `darknet-${lrpDepth ?? 'default'}`,
          {
            method: 'lrp',
            classes: 3,
            inputSize: 64,
            encoder: { kind: 'pretrained', path: DARKNET },
            ...(lrpDepth === undefined ? {} : { lrpDepth }),
            seed: 11,
          },
          { scale: 1, norm: 'none' },
          11,
        );
        try {
          expect(e.info.stride).toEqual([16, 16]);
          const r = await compare(e, 1, 64, 64, 14);
          console.log(
            `darknet-tiny lrp depth ${e.model.config().lrpDepth}: ops ${e.info.ops.join(' ')} (${e.info.nodes} nodes); rel. error seg ${r.seg.toExponential(1)}, tags ${r.tags.toExponential(1)}`,
          );
          expect(r.seg).toBeLessThan(TOL);
          expect(r.tags).toBeLessThan(TOL);
        } finally {
          e.model.dispose();
          await e.session.release();
        }
      },
    );
  }
});

describe('heatseg export --format', () => {
  it('writes model.onnx + model.onnx.json for onnx and the model folder for heatseg', async () => {
    const project = path.join(tmp, 'project');
    const store = ProjectStore.create(project);
    try {
      const run = store.createRun('gradcam', 'small', {});
      const model = await createSegmenter({ method: 'gradcam', classes: 2, inputSize: 16, encoder: small('relu') });
      saveModel(path.join(store.dir, run.checkpoint_dir!), model, {
        classes: [
          { name: 'sky', color: '#0000ff' },
          { name: 'grass', color: '#00ff00' },
        ],
        inputSize: 16,
        normalisation: 'RGB / 255',
        method: 'gradcam',
        backbone: 'small',
        heatScale: 1,
        heatNorm: 'none',
        training: {},
        metrics: null,
      });
      model.dispose();
      store.finishRun(run.id, 'completed', { keepCheckpoint: true });
    } finally {
      store.close();
    }
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const run = async (...args: string[]) => {
        let out = '';
        const code = await main(['node', 'heatseg', ...args], (s) => (out += s));
        return { code, out };
      };
      const onnxOut = path.join(tmp, 'export-onnx');
      const r = await run('export', project, onnxOut, '--format', 'onnx');
      expect(r.code).toBe(0);
      expect(fs.readdirSync(onnxOut).sort()).toEqual(['model.onnx', 'model.onnx.json']);
      expect(r.out).toMatch(/ONNX/);
      const session = await ort.InferenceSession.create(path.join(onnxOut, 'model.onnx'));
      const res = await session.run({ image: new ort.Tensor('float32', images(1, 16, 16, 1), [1, 3, 16, 16]) });
      expect(res.seg_logits!.dims).toEqual([1, 2, 16, 16]);
      await session.release();

      const folder = path.join(tmp, 'export-heatseg');
      expect((await run('export', project, folder)).code).toBe(0);
      expect(fs.readdirSync(folder).sort()).toEqual(['heatseg-model.json', 'weights.bin']);
      expect((await run('export', project, path.join(tmp, 'export-bad'), '--format', 'tflite')).code).not.toBe(0);
    } finally {
      vi.restoreAllMocks();
      process.exitCode = undefined;
    }
  });
});

describe('ONNX export: bad input gives a clear message and leaves nothing that looks valid', () => {
  const classes = [
    { name: 'sky', color: '#0000ff' },
    { name: 'grass', color: '#00ff00' },
  ];
  /** A saved (untrained) gradcam model folder. */
  async function savedModel(dir: string): Promise<string> {
    const model = await createSegmenter({ method: 'gradcam', classes: 2, inputSize: 16, encoder: small('relu') });
    saveModel(dir, model, {
      classes,
      inputSize: 16,
      normalisation: 'RGB / 255',
      method: 'gradcam',
      backbone: 'small',
      heatScale: 1,
      heatNorm: 'none',
      training: {},
      metrics: null,
    });
    model.dispose();
    return dir;
  }
  /** A project whose latest completed run's model folder is returned. */
  async function projectWithRun(name: string): Promise<{ project: string; modelDir: string }> {
    const project = path.join(tmp, name);
    const store = ProjectStore.create(project);
    try {
      const run = store.createRun('gradcam', 'small', {});
      const modelDir = await savedModel(path.join(store.dir, run.checkpoint_dir!));
      store.finishRun(run.id, 'completed', { keepCheckpoint: true });
      return { project, modelDir };
    } finally {
      store.close();
    }
  }
  /** Runs the CLI, capturing stdout and stderr. */
  async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    try {
      const code = await main(['node', 'heatseg', ...args], (s) => (out += s));
      return { code, out, err };
    } finally {
      spy.mockRestore();
      process.exitCode = undefined;
    }
  }
  /** Files in `dir` (recursively), or [] when it does not exist. */
  const filesIn = (dir: string): string[] => (fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).sort() : []);
  /** Makes fs.writeFileSync write half of the file named like `match`, then fail as a full disk would. */
  function failWriteMidway(match: RegExp) {
    const real = fs.writeFileSync;
    return vi.spyOn(fs, 'writeFileSync').mockImplementation((file, data, ...rest) => {
      if (typeof file === 'string' && match.test(file)) {
        const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data as Uint8Array);
        real(file, bytes.subarray(0, bytes.length >> 1));
        throw Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), { code: 'ENOSPC' });
      }
      return real(file, data, ...(rest as []));
    });
  }

  it('a project without a trained model: names the project and what to do, writes nothing', async () => {
    const project = path.join(tmp, 'untrained');
    ProjectStore.create(project).close();
    const outDir = path.join(tmp, 'untrained-out');
    const r = await cli('export', project, outDir, '--format', 'onnx');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/untrained has no completed training run: train first \(`heatseg train .*untrained` or the Train button\)/);
    expect(fs.existsSync(outDir)).toBe(false);
    expect(fs.existsSync(`${outDir}.partial`)).toBe(false);
    // a model folder without heatseg-model.json
    fs.mkdirSync(path.join(tmp, 'empty-model'));
    expect(() => exportOnnx(path.join(tmp, 'empty-model'), path.join(tmp, 'empty-model-out', 'model.onnx'))).toThrow(
      /is not a heatseg model: heatseg-model\.json is missing/,
    );
    expect(fs.existsSync(path.join(tmp, 'empty-model-out'))).toBe(false);
  });

  it('an unsupported layer in the model config: the message names the layer and its type', async () => {
    const { project, modelDir } = await projectWithRun('unknown-layer');
    const file = path.join(modelDir, 'heatseg-model.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    json.segmenter.encoder.layers.splice(2, 0, { type: 'BatchNormalization', name: 'block1_bn' });
    fs.writeFileSync(file, JSON.stringify(json));
    const outFile = path.join(tmp, 'unknown-layer-out', 'model.onnx');
    expect(() => exportOnnx(modelDir, outFile)).toThrow(
      /heatseg-model\.json: encoder layer 2 'block1_bn' has type "BatchNormalization", which heatseg cannot convert to ONNX \(supported layer types: conv, relu, leaky, maxpool, pad\)/,
    );
    expect(filesIn(path.dirname(outFile))).toEqual([]);
    const outDir = path.join(tmp, 'unknown-layer-cli');
    const r = await cli('export', project, outDir, '--format', 'onnx');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/BatchNormalization/);
    expect(fs.existsSync(outDir) || fs.existsSync(`${outDir}.partial`)).toBe(false);
  });

  it('an LRP model with the proportional max-pool rule: refused with the rule named, nothing written', async () => {
    const model = await createSegmenter({ method: 'lrp', classes: 2, inputSize: 16, encoder: small('relu'), lrpPool: 'proportional' });
    const modelDir = path.join(tmp, 'prop-pool-model');
    saveModel(modelDir, model, { classes, inputSize: 16, normalisation: 'RGB / 255', method: 'lrp', backbone: 'small', heatScale: 1, heatNorm: 'none', training: {}, metrics: null });
    model.dispose();
    const outFile = path.join(tmp, 'prop-pool-out', 'model.onnx');
    expect(() => exportOnnx(modelDir, outFile)).toThrow(/winner-take-all max-pool .* 'proportional' pool rule: export it in heatseg format/);
    expect(filesIn(path.dirname(outFile))).toEqual([]);
  });

  it('an unwritable destination: a clear message, nothing left behind', async () => {
    const modelDir = await savedModel(path.join(tmp, 'unwritable-model'));
    // a path through a regular file cannot be created, even by root
    const blocker = path.join(tmp, 'not-a-folder');
    fs.writeFileSync(blocker, 'x');
    expect(() => exportOnnx(modelDir, path.join(blocker, 'out', 'model.onnx'))).toThrow(
      /cannot write the ONNX export to .*not-a-folder.*out: part of the path is a file, not a folder/,
    );
    const { project } = await projectWithRun('unwritable-project');
    const r = await cli('export', project, path.join(blocker, 'out'), '--format', 'onnx');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot write the (ONNX )?export to .*not-a-folder/);
    // a read-only folder (permission bits do not stop root, so the error is injected there)
    const readOnly = path.join(tmp, 'read-only');
    fs.mkdirSync(readOnly);
    fs.chmodSync(readOnly, 0o555);
    const denied =
      process.getuid?.() === 0
        ? vi.spyOn(fs, 'writeFileSync').mockImplementation((f) => {
            throw Object.assign(new Error(`EACCES: permission denied, open '${String(f)}'`), { code: 'EACCES' });
          })
        : null;
    try {
      expect(() => exportOnnx(modelDir, path.join(readOnly, 'model.onnx'))).toThrow(
        /cannot write the ONNX export to .*read-only: the folder is not writable/,
      );
    } finally {
      denied?.mockRestore();
      fs.chmodSync(readOnly, 0o755);
    }
    expect(filesIn(readOnly)).toEqual([]);
  });

  it('heatseg predict on a missing or foreign .onnx file says so', async () => {
    const image = path.join(tmp, 'predict-input.png');
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
      .png()
      .toFile(image);
    const missing = await cli('predict', path.join(tmp, 'nothing.onnx'), image, '--out', path.join(tmp, 'predict-missing'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nothing\.onnx: no such ONNX model/);
    // a valid ONNX model without heatseg's metadata or sidecar
    const foreign = path.join(tmp, 'foreign.onnx');
    fs.writeFileSync(
      foreign,
      onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name: 'g' } }).finish(),
    );
    const r = await cli('predict', foreign, image, '--out', path.join(tmp, 'predict-foreign'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/foreign\.onnx: not a heatseg ONNX export \(no heatseg metadata and no foreign\.onnx\.json beside it\)/);
    expect(fs.existsSync(path.join(tmp, 'predict-foreign'))).toBe(false);
  });

  it('a write that fails midway leaves no partial export (library and CLI)', async () => {
    const modelDir = await savedModel(path.join(tmp, 'midway-model'));
    const outDir = path.join(tmp, 'midway-out');
    // the model file breaks off half-way
    let spy = failWriteMidway(/model\.onnx\.heatseg-tmp-[\w-]+$/);
    try {
      expect(() => exportOnnx(modelDir, path.join(outDir, 'model.onnx'))).toThrow(
        /cannot write the ONNX export to .*midway-out: the disk is full.*nothing was left behind/,
      );
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    expect(filesIn(outDir)).toEqual([]);
    // the model is in place but renaming the sidecar fails: both are removed again
    const rename = vi
      .spyOn(fs, 'renameSync')
      .mockImplementationOnce(() => undefined)
      .mockImplementationOnce(() => {
        throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
      });
    try {
      expect(() => exportOnnx(modelDir, path.join(outDir, 'model.onnx'))).toThrow(/cannot write the ONNX export/);
    } finally {
      rename.mockRestore();
    }
    expect(filesIn(outDir)).toEqual([]);
    // the export job (what the CLI and the app run in the engine worker; run here, where the
    // failure can be injected): neither OUT nor OUT.partial remains
    const { project } = await projectWithRun('midway-project');
    const cliOut = path.join(tmp, 'midway-cli');
    spy = failWriteMidway(/model\.onnx\.json\.heatseg-tmp-[\w-]+$/);
    try {
      const job = runJob({ kind: 'export', project, out: cliOut, format: 'onnx' }, { emit: () => undefined, cancelled: () => false });
      await expect(job).rejects.toThrow(/the disk is full/);
    } finally {
      spy.mockRestore();
    }
    expect(fs.existsSync(cliOut)).toBe(false);
    expect(fs.readdirSync(path.dirname(cliOut)).filter((f) => f.includes('midway-cli') && f.includes('heatseg-tmp'))).toEqual([]);
    // and the same export succeeds once the disk is fine again
    expect((await cli('export', project, cliOut, '--format', 'onnx')).code).toBe(0);
    expect(filesIn(cliOut)).toEqual(['model.onnx', 'model.onnx.json']);
  });
});
