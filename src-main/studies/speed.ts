/**
 * `heatseg bench speed`: ms per training step and images/s for each backend, data-parallel thread
 * count, method and input size (batch 8, half pixel-labelled), with GFLOP/s and peak RSS. FLOPs are
 * measured, not estimated: one forward + backward is run under tf.profile and every executed conv /
 * matmul kernel is counted from its shapes (src-main/studies/profile.ts). (Until 2026-12 they were estimated
 * from the encoder alone, which counted a U-Net's decoder as ≈ the encoder although at 128 px it
 * does 5.4× the encoder's work: the source of "U-Net is 2–4× slower per GFLOP".)
 * A backend that cannot start, or a row that fails, is a row with its reason, not a crash.
 * Warm-up steps are excluded.
 * webgpu rows carry the `adapter` (vendor, architecture, description).
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
import { type BackendInfo, type BackendName, initBackend } from '../engine/backend.js';
import type { Dataset, Sample } from '../engine/data.js';
import { predict } from '../engine/infer.js';
import { heatLogits } from '../engine/losses.js';
import { saveModel } from '../engine/model-io.js';
import { createSegmenter, type SegMethod, type Segmenter } from '../engine/models/index.js';
import { physicalCores } from '../engine/parallel.js';
import { exportOnnx } from '../engine/onnx-export.js';
import { OnnxSegmenter, onnxInput, onnxRuntimeDetail } from '../engine/onnx-runtime.js';
import { DEFAULT_TRAIN, PARALLEL_TIMING_LOG, encoderStride, train } from '../engine/trainer.js';
import { rng } from '../../src-shared/random.js';
import { profileStep } from './profile.js';
import { msrcTagCount } from './msrc-tags.js';

export interface SpeedOptions {
  /** Backend names, passed through to the engine's backend selection; one that cannot start becomes a row with its reason. */
  backends: string[];
  /** Data-parallel thread counts (default [1]). */
  threads?: number[];
  /** Print the per-op time table of one profiled step per method and size. */
  profile?: boolean;
  methods: SegMethod[];
  sizes: number[];
  batch: number;
  steps: number;
  warmup: number;
  backbone: string;
  classes: number;
  /** Classes per image (decoded by LRP / Grad-CAM), or 'msrc': 1–7 as often as in MSRC-21 (uneven, so decode lists are padded as in real training). */
  tagsPerImage: number | 'msrc';
  /** Also time inference per image in TF.js (wasm) and onnxruntime (default true). */
  inference?: boolean;
}

const KNOWN_BACKENDS: string[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'] satisfies BackendName[];
const log = (s: string) => process.stderr.write(`${s}\n`);
const loadAvg = () => os.loadavg().map((l) => l.toFixed(2)).join(' / ');

/** The model a row of the benchmark measures. */
function segmenterFor(o: SpeedOptions, method: SegMethod, size: number): Promise<Segmenter> {
  return createSegmenter({
    method,
    classes: o.classes,
    inputSize: size,
    encoder: o.backbone === 'small' ? { kind: 'small' } : { kind: 'pretrained', path: o.backbone },
  });
}

export function syntheticData(o: Pick<SpeedOptions, 'classes' | 'tagsPerImage'>, size: number): Dataset {
  const r = rng(3);
  const samples: Sample[] = Array.from({ length: 32 }, (_, i) => {
    const rgb = Uint8Array.from({ length: size * size * 3 }, () => Math.floor(r() * 256));
    // tagsPerImage distinct classes starting at a random one
    const first = Math.floor(r() * o.classes);
    const count = Math.min(o.classes, o.tagsPerImage === 'msrc' ? msrcTagCount(r()) : o.tagsPerImage);
    const tags = Array.from({ length: count }, (_, k) => (first + k) % o.classes).sort((a, b) => a - b);
    const labels = i % 2 === 0 ? Uint8Array.from({ length: size * size }, (_, p) => (p % 7 === 0 ? tags[p % tags.length]! : 255)) : null;
    return { id: String(i), rgb, width: size, height: size, tags, labels, origWidth: size, origHeight: size };
  });
  return { classes: Array.from({ length: o.classes }, (_, c) => `c${c}`), samples };
}

/** The machine in one line: CPU model × logical CPUs (physical cores), memory, node. */
export function machineLine(): string {
  return `${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length} logical CPUs (${physicalCores()} physical cores), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.arch()}, node ${process.version}`;
}

export async function benchSpeed(o: SpeedOptions): Promise<Record<string, unknown>> {
  const threadsList = o.threads ?? [1];
  log(`heatseg bench speed — ${new Date().toISOString()}`);
  log(`machine: ${machineLine()}`);
  const loadStart = loadAvg();
  log(`load average (1 / 5 / 15 min) at the start: ${loadStart} — other processes share these cores`);
  log(`batch ${o.batch} (half pixel-labelled), ${o.tagsPerImage === 'msrc' ? '1–7 (as often as in MSRC-21)' : o.tagsPerImage} tags per image of ${o.classes} classes, ${o.warmup} warm-up + ${o.steps} timed steps, backbone ${o.backbone}`);
  log('GFLOP per step: the FLOPs the step\'s convolutions and matrix products execute (tf.profile of one forward + backward, src-main/studies/profile.ts)');
  log('threads: data-parallel training threads (src-main/engine/parallel.ts); CPU: CPU time of all threads per step (the work, unlike ms/step not inflated by other processes); peak RSS: the process\'s high-water mark so far (rows run in this order)');
  const rows: Array<Record<string, unknown>> = [];
  const flopsOf = new Map<string, number>();
  for (const want of o.backends) {
    let backend: BackendInfo;
    try {
      if (!KNOWN_BACKENDS.includes(want)) throw new Error(`unknown backend '${want}' (known: ${KNOWN_BACKENDS.join(', ')})`);
      backend = await initBackend(want as BackendName);
    } catch (e) {
      // a backend that cannot start is a row per size, method and thread count with its reason
      const reason = (e as Error).message.split('\n')[0]!;
      log(`backend ${want}: unavailable (${reason})`);
      for (const size of o.sizes)
        for (const method of o.methods)
          for (const threads of threadsList) rows.push({ backend: want, backend_detail: null, adapter: null, threads, method, size, ms_per_step: null, error: reason });
      continue;
    }
    log(`backend ${backend.name}: ${backend.detail}`);
    // thread counts innermost: the rows compared for the speed-up run back to back (similar load)
    for (const size of o.sizes) {
      for (const method of o.methods) {
        for (const threads of threadsList) {
          const base = { backend: backend.name, backend_detail: backend.detail, adapter: backend.adapter ?? null, threads, method, size };
          try {
            const data = syntheticData(o, size);
            const key = `${backend.name}/${method}/${size}`;
            if (!flopsOf.has(key)) {
              const m = await segmenterFor(o, method, size);
              try {
                const p = await profileStep(m, data, o.batch, size);
                flopsOf.set(key, p.flops);
                if (o.profile) {
                  log(`  profile ${method} ${size} px (one forward + backward, 1 thread): ${(p.flops / 1e9).toFixed(2)} GFLOP in ${p.ms.toFixed(0)} ms`);
                  for (const e of p.ops.slice(0, 12)) {
                    log(`    ${e.name.padEnd(24)} ${String(e.calls).padStart(4)} calls ${e.ms.toFixed(1).padStart(8)} ms${e.flops ? `  ${(e.flops / 1e9).toFixed(2)} GFLOP, ${(e.flops / 1e6 / Math.max(e.ms, 1e-3)).toFixed(1)} GFLOP/s` : ''}`);
                  }
                }
              } finally {
                m.dispose();
              }
            }
            const model = await segmenterFor(o, method, size);
            const times: number[] = [];
            const cpuTimes: number[] = [];
            const cpuNow = () => {
              const u = process.cpuUsage();
              return (u.user + u.system) / 1000;
            };
            let last = Date.now();
            let lastCpu = cpuNow();
            const { epochs: _e, ...untimed } = DEFAULT_TRAIN;
            try {
              await train(model, data, { ...untimed, size, batch: o.batch, warmupSteps: 0, tagProbe: false, threads, augment: { maxScale: 1, flip: false, jitter: 0 } }, {
                onEvent: (e) => {
                  if (e.type === 'log' && e.message.startsWith(PARALLEL_TIMING_LOG)) log(`  ${e.message}`);
                  if (e.type !== 'step') return;
                  const now = Date.now();
                  const cpu = cpuNow();
                  if (e.step > o.warmup) {
                    times.push(now - last);
                    cpuTimes.push(cpu - lastCpu);
                  }
                  last = now;
                  lastCpu = cpu;
                },
                shouldStop: () => times.length >= o.steps,
              });
            } finally {
              model.dispose();
            }
            const flops = flopsOf.get(key)!;
            const ms = times.reduce((a, b) => a + b, 0) / Math.max(1, times.length);
            const row = {
              ...base,
              ms_per_step: Math.round(ms),
              images_per_s: +((o.batch * 1000) / ms).toFixed(2),
              gflop_per_step: +(flops / 1e9).toFixed(2),
              gflops: +(flops / 1e6 / ms).toFixed(2),
              // CPU time of all this process's threads per step: the work, whatever the load
              cpu_ms_per_step: Math.round(cpuTimes.reduce((a, b) => a + b, 0) / Math.max(1, cpuTimes.length)),
              peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
              load_1min: +os.loadavg()[0]!.toFixed(2),
            };
            rows.push(row);
            log(
              `${backend.name.padEnd(10)} ${String(threads).padStart(2)} thr ${method.padEnd(7)} ${String(size).padStart(4)} px  ${String(row.ms_per_step).padStart(6)} ms/step  ${row.images_per_s.toFixed(1).padStart(6)} img/s  ${row.gflops.toFixed(1).padStart(6)} GFLOP/s  CPU ${String(row.cpu_ms_per_step).padStart(6)} ms/step  RSS ${row.peak_rss_mib} MiB  load ${row.load_1min}`,
            );
          } catch (e) {
            const reason = (e as Error).message.split('\n')[0]!;
            log(`${backend.name} ${threads} thr ${method} ${size} px: failed (${reason})`);
            rows.push({ ...base, ms_per_step: null, error: reason });
          }
        }
      }
    }
  }
  const inference = o.inference === false ? null : await benchInference(o);
  const peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  const loadEnd = loadAvg();
  log(`peak RSS ${peakRssMiB} MiB; load average at the end ${loadEnd} (other processes share the ${os.cpus().length} CPUs)`);
  const scaling = speedups(rows);
  for (const s of scaling) log(`speed-up ${s.backend} ${s.method} ${s.size} px: ${s.threads} threads ${s.speedup}× one thread (CPU time per step ${s.cpu_ratio}× one thread's)`);
  return {
    rows,
    ...(scaling.length ? { scaling } : {}),
    ...(inference ? { inference } : {}),
    machine: machineLine(),
    load_start: loadStart,
    load_end: loadEnd,
    peak_rss_mib: peakRssMiB,
    batch: o.batch,
    steps: o.steps,
    backbone: o.backbone,
    tags_per_image: o.tagsPerImage,
  };
}

/** Per backend / method / size, each thread count's ms/step relative to the 1-thread row measured just before it. */
function speedups(rows: Array<Record<string, unknown>>): Array<{ backend: string; method: string; size: number; threads: number; speedup: number; cpu_ratio: number }> {
  const out: Array<{ backend: string; method: string; size: number; threads: number; speedup: number; cpu_ratio: number }> = [];
  const one = new Map<string, Record<string, unknown>>();
  for (const r of rows) {
    if (typeof r.ms_per_step !== 'number') continue;
    const key = `${String(r.backend)}/${String(r.method)}/${String(r.size)}`;
    if (r.threads === 1) {
      one.set(key, r);
      continue;
    }
    const base = one.get(key);
    if (!base) continue;
    out.push({
      backend: String(r.backend),
      method: String(r.method),
      size: Number(r.size),
      threads: Number(r.threads),
      speedup: +((base.ms_per_step as number) / r.ms_per_step).toFixed(2),
      // CPU time per step of N threads / 1 thread: 1 = no extra work for going parallel
      cpu_ratio: +((r.cpu_ms_per_step as number) / (base.cpu_ms_per_step as number)).toFixed(2),
    });
  }
  return out;
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
