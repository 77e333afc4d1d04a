/**
 * `heatseg bench speed`: ms per training step and images/s for each method and available backend
 * at two input sizes (batch 8, half pixel-labelled), with effective GFLOP/s and peak RSS.
 * FLOPs are estimated from the architecture: forward convs 2·Ho·Wo·kh·kw·Cin·Cout per image, a
 * training step 3× forward (forward + input and weight gradients); the LRP decoder adds per
 * decoded class one transposed pass of the encoder's convs (+ its two gradients, 3×); Grad-CAM's
 * decoder is negligible; U-Net decoders are counted like their convs.
 * Warm-up steps are excluded. A backend that cannot start (or fails) gives rows with `error` and
 * ms_per_step null; webgpu rows carry the `adapter` (vendor, architecture, description).
 *
 * Then (unless `inference: false`) inference per image, batch 1, square images of each size: per
 * method a model is saved, exported to ONNX, and timed forward in TF.js (wasm) and onnxruntime-node
 * (CPU, default threads) on the same input, warm-up runs excluded:
 *   tfjs_ms / onnx_ms          the exported graph's work: tag logits + seg logits of ALL classes
 *                              (TF.js: forward decoding every class, then heatLogits);
 *   tfjs_app_ms / onnx_app_ms  the app's whole predict (infer.ts predict / OnnxSegmenter.predict:
 *                              resize, tags, decode ≤ 4 predicted classes — TF.js decodes only
 *                              those, the ONNX graph always all C —, resize back, softmax, argmax).
 * Ends with one JSON line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendInfo, type BackendName } from '../src-main/engine/backend.js';
import type { Dataset, Sample } from '../src-main/engine/data.js';
import { predict } from '../src-main/engine/infer.js';
import { heatLogits } from '../src-main/engine/losses.js';
import { saveModel } from '../src-main/engine/model-io.js';
import { createSegmenter, type EncoderSpec, type SegMethod, type Segmenter } from '../src-main/engine/models/index.js';
import { exportOnnx } from '../src-main/engine/onnx-export.js';
import { OnnxSegmenter, onnxInput, onnxRuntimeDetail } from '../src-main/engine/onnx-runtime.js';
import { DEFAULT_TRAIN, encoderStride, train } from '../src-main/engine/trainer.js';
import { rng } from '../src-shared/random.js';

export interface SpeedOptions {
  backends: BackendName[];
  methods: SegMethod[];
  sizes: number[];
  batch: number;
  steps: number;
  warmup: number;
  backbone: string;
  classes: number;
  /** Classes per image (decoded by LRP / Grad-CAM). */
  tagsPerImage: number;
  /** Also time inference per image in TF.js (wasm) and onnxruntime (default true). */
  inference?: boolean;
}

const KNOWN_BACKENDS: string[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'] satisfies BackendName[];
const log = (s: string) => process.stderr.write(`${s}\n`);
const loadAvg = () => os.loadavg().map((l) => l.toFixed(2)).join(' / ');

function encoderForwardFlops(spec: EncoderSpec, size: number): number {
  let h = size, w = size, c = spec.inputChannels, flops = 0;
  for (const l of spec.layers) {
    if (l.type === 'conv') {
      const ho = l.padding === 'same' ? Math.ceil(h / l.strides[0]) : Math.floor((h - l.kernel[0]) / l.strides[0]) + 1;
      const wo = l.padding === 'same' ? Math.ceil(w / l.strides[1]) : Math.floor((w - l.kernel[1]) / l.strides[1]) + 1;
      flops += 2 * ho * wo * l.kernel[0] * l.kernel[1] * c * l.filters;
      h = ho;
      w = wo;
      c = l.filters;
    } else if (l.type === 'maxpool') {
      h = Math.floor(h / l.pool[0]);
      w = Math.floor(w / l.pool[1]);
    } else if (l.type === 'pad') {
      h += l.pad[0][0] + l.pad[0][1];
      w += l.pad[1][0] + l.pad[1][1];
    }
  }
  return flops;
}

/** The model a row of the benchmark measures. */
function segmenterFor(o: SpeedOptions, method: SegMethod, size: number): Promise<Segmenter> {
  return createSegmenter({
    method,
    classes: o.classes,
    inputSize: size,
    encoder: o.backbone === 'small' ? { kind: 'small' } : { kind: 'pretrained', path: o.backbone },
  });
}

function syntheticData(o: SpeedOptions, size: number): Dataset {
  const r = rng(3);
  const samples: Sample[] = Array.from({ length: 32 }, (_, i) => {
    const rgb = Uint8Array.from({ length: size * size * 3 }, () => Math.floor(r() * 256));
    // tagsPerImage distinct classes starting at a random one
    const first = Math.floor(r() * o.classes);
    const tags = Array.from({ length: o.tagsPerImage }, (_, k) => (first + k) % o.classes).sort((a, b) => a - b);
    const labels = i % 2 === 0 ? Uint8Array.from({ length: size * size }, (_, p) => (p % 7 === 0 ? tags[p % tags.length]! : 255)) : null;
    return { id: String(i), rgb, width: size, height: size, tags, labels, origWidth: size, origHeight: size };
  });
  return { classes: Array.from({ length: o.classes }, (_, c) => `c${c}`), samples };
}

export async function benchSpeed(o: SpeedOptions): Promise<Record<string, unknown>> {
  log(`heatseg bench speed — ${new Date().toISOString()}`);
  log(`machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load average ${loadAvg()}`);
  log(`batch ${o.batch} (half pixel-labelled), ${o.tagsPerImage} tags per image of ${o.classes} classes, ${o.warmup} warm-up + ${o.steps} timed steps, backbone ${o.backbone}`);
  const rows: Array<Record<string, unknown>> = [];
  // A backend that cannot start, or a run that fails on it, is a row with the reason (ms_per_step null).
  const failed = (backend: string, method: SegMethod, size: number, reason: string, info?: BackendInfo) =>
    rows.push({ backend, backend_detail: info?.detail ?? null, adapter: info?.adapter ?? null, method, size, ms_per_step: null, error: reason });
  const firstLine = (e: unknown) => ((e as Error).message ?? String(e)).split('\n')[0]!;
  for (const want of o.backends) {
    let backend;
    try {
      if (!KNOWN_BACKENDS.includes(want)) throw new Error(`unknown backend '${want}' (known: ${KNOWN_BACKENDS.join(', ')})`);
      backend = await initBackend(want);
    } catch (e) {
      log(`backend ${want}: unavailable (${firstLine(e)})`);
      for (const size of o.sizes) for (const method of o.methods) failed(want, method, size, firstLine(e));
      continue;
    }
    log(`backend ${backend.name}: ${backend.detail}`);
    for (const size of o.sizes) {
      for (const method of o.methods) {
        const model = await segmenterFor(o, method, size);
        const data = syntheticData(o, size);
        const times: number[] = [];
        let last = Date.now();
        const { epochs: _e, ...untimed } = DEFAULT_TRAIN;
        let error: string | null = null;
        await train(model, data, { ...untimed, size, batch: o.batch, warmupSteps: 0, augment: { maxScale: 1, flip: false, jitter: 0 } }, {
          onEvent: (e) => {
            if (e.type !== 'step') return;
            const now = Date.now();
            if (e.step > o.warmup) times.push(now - last);
            last = now;
          },
          shouldStop: () => times.length >= o.steps,
        }).catch((e: unknown) => void (error = firstLine(e)));
        if (error !== null) {
          log(`${backend.name.padEnd(10)} ${method.padEnd(7)} ${String(size).padStart(4)} px  failed: ${error}`);
          failed(backend.name, method, size, error, backend);
          model.dispose();
          continue;
        }
        const encF = encoderForwardFlops(model.config().encoder, size);
        const nLab = method === 'unet' ? o.batch : Math.floor(o.batch / 2);
        let flops = 3 * encF * o.batch;
        if (method === 'lrp') flops += 3 * encF * nLab * o.tagsPerImage;
        if (method === 'unet' || method === 'mtunet') flops += 3 * encF * nLab; // decoder convs ≈ encoder's
        const ms = times.reduce((a, b) => a + b, 0) / Math.max(1, times.length);
        const row = {
          backend: backend.name,
          backend_detail: backend.detail,
          adapter: backend.adapter ?? null,
          method,
          size,
          ms_per_step: Math.round(ms),
          images_per_s: +((o.batch * 1000) / ms).toFixed(2),
          gflop_per_step: +(flops / 1e9).toFixed(2),
          gflops: +(flops / 1e6 / ms).toFixed(2),
          tensors: tf.memory().numTensors,
        };
        rows.push(row);
        log(`${backend.name.padEnd(10)} ${method.padEnd(7)} ${String(size).padStart(4)} px  ${String(row.ms_per_step).padStart(6)} ms/step  ${row.images_per_s.toFixed(1).padStart(6)} img/s  ${row.gflops.toFixed(1).padStart(6)} GFLOP/s`);
        model.dispose();
      }
    }
  }
  const inference = o.inference === false ? null : await benchInference(o);
  const peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  log(`peak RSS ${peakRssMiB} MiB; load average at the end ${loadAvg()} (other processes share the ${os.cpus().length} cores)`);
  return { rows, ...(inference ? { inference } : {}), peak_rss_mib: peakRssMiB, batch: o.batch, steps: o.steps, backbone: o.backbone };
}

/** Mean ms of `runs` timed calls after `warmup` untimed ones. */
async function timeIt(warmup: number, runs: number, f: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < warmup; i++) await f();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await f();
  return (performance.now() - t0) / runs;
}

/** Inference per image (batch 1) in TF.js wasm and onnxruntime, for the same saved and exported model. */
async function benchInference(o: SpeedOptions): Promise<Array<Record<string, unknown>>> {
  const backend = await initBackend('wasm');
  const runs = Math.max(1, o.steps);
  const warmup = Math.max(1, o.warmup);
  log(
    `\ninference per image, batch 1, ${o.classes} classes: TF.js ${backend.detail} vs ${onnxRuntimeDetail()} (default threads), ${warmup} warm-up + ${runs} timed runs each`,
  );
  log('  all = tag + seg logits of all classes (what the ONNX graph computes); app = whole predict (≤ 4 decoded classes in TF.js, all C in the ONNX graph)');
  log(`${'method'.padEnd(8)} ${'size'.padStart(5)}  ${'tfjs all'.padStart(9)} ${'onnx all'.padStart(9)} ${'speed-up'.padStart(8)}  ${'tfjs app'.padStart(9)} ${'onnx app'.padStart(9)}  decoded`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-bench-'));
  const rows: Array<Record<string, unknown>> = [];
  try {
    for (const size of o.sizes) {
      for (const method of o.methods) {
        const model = await segmenterFor(o, method, size);
        const heatScale = method === 'lrp' ? (size * size) / 4 : 1;
        const dir = path.join(tmp, `${method}-${size}`);
        saveModel(dir, model, {
          classes: Array.from({ length: o.classes }, (_, c) => ({ name: `c${c}`, color: '#808080' })),
          inputSize: size,
          normalisation: 'RGB / 255',
          method,
          backbone: o.backbone,
          heatScale,
          heatNorm: 'pixel',
          training: {},
          metrics: null,
        });
        const t0 = performance.now();
        const info = exportOnnx(dir, path.join(dir, 'model.onnx'));
        const exportMs = performance.now() - t0;
        const onnx = await OnnxSegmenter.load(info.file);
        const r = rng(size);
        const rgb = Uint8Array.from({ length: size * size * 3 }, () => Math.floor(r() * 256));
        const img = { rgb, width: size, height: size, origWidth: size, origHeight: size };
        const x = onnxInput(img, onnx.info);
        const C = o.classes;
        const decodes = method === 'lrp' || method === 'gradcam';
        const input = tf.tidy(() => tf.tensor4d(x.data, [1, 3, size, size]).transpose([0, 2, 3, 1]) as tf.Tensor4D);
        const all = decodes ? tf.tensor2d(Array.from({ length: C }, (_, c) => c), [1, C], 'int32') : null;
        const tfAll = async () => {
          const out = tf.tidy(() => {
            const res = model.forward(input, all ? { decodeClasses: all } : {});
            return [decodes ? heatLogits(res.seg!, heatScale, 'pixel') : res.seg!, ...(res.logits ? [res.logits] : [])];
          });
          await Promise.all(out.map((t) => t.data()));
          tf.dispose(out);
        };
        const stride = encoderStride(model);
        let decoded = C;
        const tfApp = async () => {
          const p = await predict(model, { id: 'x', ...img, tags: [], labels: null }, { stride, heatScale, heatNorm: 'pixel' });
          decoded = p.classes.length;
        };
        const row: Record<string, unknown> = {
          method,
          size,
          tfjs_backend: backend.detail,
          onnxruntime: onnxRuntimeDetail(),
          tfjs_ms: +(await timeIt(warmup, runs, tfAll)).toFixed(1),
          onnx_ms: +(await timeIt(warmup, runs, () => onnx.run(x.data, 1, x.height, x.width))).toFixed(1),
          tfjs_app_ms: +(await timeIt(warmup, runs, tfApp)).toFixed(1),
          onnx_app_ms: +(await timeIt(warmup, runs, () => onnx.predict(img))).toFixed(1),
          decoded_classes_app: decoded,
          onnx_nodes: info.nodes,
          onnx_mib: +(fs.statSync(info.file).size / 2 ** 20).toFixed(2),
          export_ms: Math.round(exportMs),
        };
        row.speedup = +((row.tfjs_ms as number) / (row.onnx_ms as number)).toFixed(2);
        rows.push(row);
        const ms = (v: unknown) => `${(v as number).toFixed(1)} ms`.padStart(9);
        log(
          `${method.padEnd(8)} ${String(size).padStart(5)}  ${ms(row.tfjs_ms)} ${ms(row.onnx_ms)} ${`${(row.speedup as number).toFixed(2)}×`.padStart(8)}  ${ms(row.tfjs_app_ms)} ${ms(row.onnx_app_ms)}  ${decoded} of ${C}`,
        );
        tf.dispose([input, ...(all ? [all] : [])]);
        await onnx.release();
        model.dispose();
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}
