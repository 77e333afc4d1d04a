/**
 * Benchmark of heatseg's wasm training kernels (src-main/engine/kernels) on the app's own encoders
 * — the shipped default darknet-tiny and 'small' (from scratch) — at the app's training size
 * (128 px, batch 8, one thread):
 *   1. usage: which of the replaced kernels one training step calls, per method (lrp, gradcam,
 *      unet, mtunet) × encoder (calls counted through wrapped kernels, at 64 px, batch 4);
 *   2. kernels: each replaced kernel at every shape the 128 px LRP step calls it with, ours vs the
 *      wasm backend's own where wasm has one (Identity and Cast left out);
 *   3. steps: the app's training step (trainer.train, LRP, λ on) with our kernels vs the wasm
 *      backend's own wherever it has one, over 3 seeds (model init and data), mean ± s.e. of each
 *      seed's median step.
 * Run: npx tsx bench/kernels.ts [--quick]
 * Output: human-readable lines, then one JSON line (last line).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap } from '@tensorflow/tfjs';
import { shippedBackboneDir } from '../src-main/backbones';
import { writeShapesDataset } from '../src-main/demo/shapes';
import { initBackend } from '../src-main/engine/backend';
import { type Dataset, datasetFromMaskFolder } from '../src-main/engine/data';
import { FAST_WASM_KERNELS, stockWasmKernel, useStockWasmKernels } from '../src-main/engine/kernels/index';
import { createSegmenter, type EncoderChoice, type SegMethod } from '../src-main/engine/models/index';
import { DEFAULT_TRAIN, train } from '../src-main/engine/trainer';

const QUICK = process.argv.includes('--quick');
const SIZE = 128;
const BATCH = 8;
const SEEDS = [1, 2, 3];
const METHODS: SegMethod[] = ['lrp', 'gradcam', 'unet', 'mtunet'];
const ENCODERS: Array<{ label: string; choice: EncoderChoice }> = [
  { label: 'darknet-tiny', choice: { kind: 'pretrained', path: shippedBackboneDir('darknet-tiny') } },
  { label: 'small', choice: { kind: 'small' } },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
/** standard error of the mean */
const se = (xs: number[]): number => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1) / xs.length));
const fmt = (ms: number | null): string => (ms == null ? '      –' : ms.toFixed(2).padStart(7));

/** Wall-clock and process CPU ms (other jobs on a shared machine stretch wall time; CPU time counts only ours). */
interface Timing {
  wall: number;
  cpu: number;
}
function sample(fn: () => void): Timing {
  const c = process.cpuUsage();
  const t = performance.now();
  fn();
  const wall = performance.now() - t;
  const d = process.cpuUsage(c);
  return { wall, cpu: (d.user + d.system) / 1000 };
}
/** Per-call minima (other jobs only ever add time), warm-up calls excluded. */
function timeIt(fn: () => void, warmup: number, minMs: number, minReps: number): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const samples: Timing[] = [];
  const t0 = performance.now();
  while (samples.length < minReps || (performance.now() - t0 < minMs && samples.length < 100)) samples.push(sample(fn));
  return { wall: Math.min(...samples.map((x) => x.wall)), cpu: Math.min(...samples.map((x) => x.cpu)) };
}

// ---------- the app's training step ----------

/** Step events of the current trainSteps run (recordCalls tags each call with it). */
let stepEvents = 0;

async function shapes(size: number, seed: number): Promise<Dataset> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-kernels-'));
  try {
    await writeShapesDataset(dir, { count: 16, width: 160, height: 120, masks: 'scribbles', maskedImages: 8, seed });
    return await datasetFromMaskFolder(dir, size, { withLabels: true });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Trains `steps` steps (λ on from the first), returning the wall/CPU ms between successive step events. */
async function trainSteps(method: SegMethod, encoder: EncoderChoice, data: Dataset, size: number, batch: number, steps: number, seed: number): Promise<Timing[]> {
  const model = await createSegmenter({ method, classes: data.classes.length, inputSize: size, encoder, seed });
  const marks: Array<{ wall: number; cpu: NodeJS.CpuUsage }> = [];
  stepEvents = 0;
  try {
    await train(
      model,
      data,
      { ...DEFAULT_TRAIN, size, batch, epochs: 1000, warmupSteps: 0, tagWarmupSteps: 0, seed, threads: 1, validateEvery: 0 },
      {
        onEvent: (e) => {
          if (e.type !== 'step') return;
          marks.push({ wall: performance.now(), cpu: process.cpuUsage() });
          stepEvents++;
        },
        shouldStop: () => marks.length >= steps,
      },
    );
  } finally {
    model.dispose();
  }
  const out: Timing[] = [];
  for (let i = 1; i < marks.length; i++) {
    const a = marks[i - 1]!,
      b = marks[i]!;
    out.push({ wall: b.wall - a.wall, cpu: (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1000 });
  }
  return out;
}

// ---------- which replaced kernels run, with what ----------

interface Call {
  /** step events seen when the kernel ran: 1 = during the second step */
  step: number;
  kernel: string;
  shapes: Record<string, number[]>;
  dtypes: Record<string, string>;
  attrs: NamedAttrMap;
}

/** Runs `fn` with every replaced kernel wrapped to record its calls; the kernels are restored after. */
async function recordCalls(fn: () => Promise<unknown>): Promise<Call[]> {
  const calls: Call[] = [];
  const wrapped = FAST_WASM_KERNELS.filter((c) => tf.getKernel(c.kernelName, 'wasm') === c);
  for (const config of wrapped) {
    const kernelFunc = ((args: Parameters<KernelFunc>[0]) => {
      const inputs = Object.entries(args.inputs).filter(([, t]) => t != null);
      calls.push({
        step: stepEvents,
        kernel: config.kernelName,
        shapes: Object.fromEntries(inputs.map(([k, t]) => [k, [...t!.shape]])),
        dtypes: Object.fromEntries(inputs.map(([k, t]) => [k, t!.dtype])),
        attrs: { ...(args.attrs ?? {}) },
      });
      return config.kernelFunc(args);
    }) as KernelFunc;
    tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel({ ...config, kernelFunc } as KernelConfig);
  }
  try {
    await fn();
  } finally {
    for (const config of wrapped) {
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel(config);
    }
  }
  return calls;
}

/**
 * The calls of a training run's second step: the first also holds the heatmap-temperature
 * calibration before it and the optimizer's first-use set-up.
 */
async function secondStepCalls(fn: () => Promise<unknown>): Promise<Call[]> {
  return (await recordCalls(fn)).filter((c) => c.step === 1);
}

// ---------- one kernel at one shape ----------

interface KernelResult {
  encoder: string;
  kernel: string;
  shapes: Record<string, number[]>;
  callsPerStep: number;
  fastMs: number;
  fastCpuMs: number;
  stockMs: number | null;
  stockCpuMs: number | null;
  speedup: number | null;
}

function inputsFor(c: Call): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, s] of Object.entries(c.shapes)) {
    if (c.dtypes[k] === 'int32') {
      const hi = c.kernel === 'UnsortedSegmentSum' ? Number(c.attrs.numSegments) : 2;
      out[k] = tf.randomUniform(s, 0, hi, 'int32');
    } else out[k] = tf.randomNormal(s);
  }
  return out;
}

function benchCall(encoder: string, c: Call, callsPerStep: number): KernelResult {
  const inputs = inputsFor(c);
  const run = (): void => {
    tf.tidy(() => {
      tf.engine().runKernel(c.kernel, inputs, c.attrs);
    });
  };
  const fast = timeIt(run, 1, QUICK ? 200 : 500, QUICK ? 3 : 5);
  let stock: Timing | null = null;
  if (stockWasmKernel(c.kernel)) {
    useStockWasmKernels(true, [c.kernel]);
    try {
      stock = timeIt(run, 1, QUICK ? 200 : 500, 3);
    } finally {
      useStockWasmKernels(false, [c.kernel]);
    }
  }
  tf.dispose(Object.values(inputs));
  return {
    encoder,
    kernel: c.kernel,
    shapes: c.shapes,
    callsPerStep,
    fastMs: fast.wall,
    fastCpuMs: fast.cpu,
    stockMs: stock?.wall ?? null,
    stockCpuMs: stock?.cpu ?? null,
    speedup: stock == null ? null : stock.cpu / fast.cpu,
  };
}

// ---------- main ----------

async function main(): Promise<void> {
  const info = await initBackend('wasm');
  const cpus = os.cpus();
  const config = {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    logicalCores: cpus.length,
    node: process.version,
    tfjs: tf.version_core,
    backend: info.detail,
    size: SIZE,
    batch: BATCH,
    seeds: SEEDS,
    quick: QUICK,
    // other jobs on the machine inflate times: recorded so results can be judged
    loadAvg1mStart: Number(os.loadavg()[0]!.toFixed(2)),
  };
  console.log(`CPU: ${config.cpu} (${config.logicalCores} logical cores)`);
  console.log(`Node ${config.node}, @tensorflow/tfjs ${config.tfjs}, backend: ${config.backend}`);
  console.log(`load average (1 min) at start: ${config.loadAvg1mStart}\n`);

  // 1. usage
  const replaced = FAST_WASM_KERNELS.map((k) => k.kernelName);
  console.log(`1. Replaced kernels called by a training step (the second; 64 px, batch 4), calls per step; replaced: ${replaced.join(', ')}`);
  const small = await shapes(64, 1);
  const usage: Array<{ method: string; encoder: string; calls: Record<string, number> }> = [];
  for (const enc of ENCODERS) {
    for (const method of METHODS) {
      const calls = await secondStepCalls(() => trainSteps(method, enc.choice, small, 64, 4, 2, 1));
      const counts: Record<string, number> = {};
      for (const c of calls) counts[c.kernel] = (counts[c.kernel] ?? 0) + 1;
      usage.push({ method, encoder: enc.label, calls: counts });
      console.log(`  ${enc.label.padEnd(13)} ${method.padEnd(7)} ${replaced.map((k) => `${k} ${counts[k] ?? 0}`).join(', ')}`);
    }
  }
  const unused = replaced.filter((k) => usage.every((u) => !u.calls[k]));
  console.log(`  called by no model: ${unused.join(', ') || 'none'}\n`);

  // 2. kernels at the shapes of the 128 px LRP step
  console.log(`2. Replaced kernels at the shapes of a ${SIZE} px, batch ${BATCH} LRP training step: ms per call, minimum of >= 5 calls (3 for stock),`);
  console.log("   warm-up excluded, wall clock and process CPU; speedup from CPU time. stock = the wasm backend's own kernel; – = wasm has none");
  console.log(`   ${'encoder'.padEnd(13)} ${'kernel'.padEnd(21)} ${'inputs'.padEnd(44)} calls  fast wall/cpu    stock wall/cpu  speedup`);
  const kernelResults: KernelResult[] = [];
  const data = await shapes(SIZE, 1);
  for (const enc of ENCODERS) {
    const calls = await secondStepCalls(() => trainSteps('lrp', enc.choice, data, SIZE, BATCH, 2, 1));
    const groups = new Map<string, { call: Call; n: number }>();
    for (const c of calls) {
      if (c.kernel === 'Identity' || c.kernel === 'Cast') continue;
      const key = JSON.stringify([c.kernel, c.shapes, c.attrs]);
      const g = groups.get(key);
      if (g) g.n++;
      else groups.set(key, { call: c, n: 1 });
    }
    for (const { call, n } of groups.values()) {
      const r = benchCall(enc.label, call, n);
      kernelResults.push(r);
      const shapeText = Object.entries(r.shapes)
        .map(([k, s]) => `${k} ${s.join('x')}`)
        .join(', ');
      console.log(
        `   ${enc.label.padEnd(13)} ${r.kernel.padEnd(21)} ${shapeText.padEnd(44)} ${String(n).padStart(5)} ${fmt(r.fastMs)} ${fmt(r.fastCpuMs)}  ${fmt(r.stockMs)} ${fmt(r.stockCpuMs)} ${r.speedup == null ? '      –' : (r.speedup.toFixed(1) + 'x').padStart(7)}`,
      );
    }
  }
  for (const enc of ENCODERS) {
    const rows = kernelResults.filter((r) => r.encoder === enc.label);
    for (const kernel of [...new Set(rows.map((r) => r.kernel))]) {
      const of = rows.filter((r) => r.kernel === kernel);
      const fast = of.reduce((a, r) => a + r.callsPerStep * r.fastCpuMs, 0);
      const stock = of.every((r) => r.stockCpuMs != null) ? of.reduce((a, r) => a + r.callsPerStep * r.stockCpuMs!, 0) : null;
      console.log(`   ${enc.label}: ${kernel} per step ${fast.toFixed(1)} ms CPU (ours)${stock == null ? ', wasm has none' : ` vs ${stock.toFixed(1)} ms (stock)`}`);
    }
  }

  // 3. the app's training step, our kernels vs wasm's own (where it has one)
  const warm = 1;
  const reps = QUICK ? 2 : 3;
  const withStock = FAST_WASM_KERNELS.map((k) => k.kernelName).filter((k) => stockWasmKernel(k));
  console.log(
    `\n3. The app's training step (LRP, ${SIZE} px, batch ${BATCH}, 1 thread, λ on): ours vs stock = wasm's own ${withStock.join(', ')}; ` +
      `each seed's median of ${reps} steps after ${warm} warm-up, mean ± s.e. over seeds ${SEEDS.join(', ')}`,
  );
  const steps: Array<{ encoder: string; kernels: 'fast' | 'stock'; seed: number; wallMs: number; cpuMs: number }> = [];
  for (const enc of ENCODERS) {
    for (const seed of SEEDS) {
      const seedData = seed === 1 ? data : await shapes(SIZE, seed);
      for (const kernels of ['fast', 'stock'] as const) {
        useStockWasmKernels(kernels !== 'fast');
        try {
          const t = (await trainSteps('lrp', enc.choice, seedData, SIZE, BATCH, warm + reps + 1, seed)).slice(warm);
          steps.push({ encoder: enc.label, kernels, seed, wallMs: median(t.map((x) => x.wall)), cpuMs: median(t.map((x) => x.cpu)) });
        } finally {
          useStockWasmKernels(false);
        }
      }
    }
    const pick = (k: string) => steps.filter((s) => s.encoder === enc.label && s.kernels === k);
    const f = pick('fast'),
      s = pick('stock');
    const saved = f.map((x, i) => s[i]!.cpuMs - x.cpuMs);
    const ratio = f.map((x, i) => s[i]!.cpuMs / x.cpuMs);
    const pm = (xs: number[], d = 0) => `${mean(xs).toFixed(d)} ± ${se(xs).toFixed(d)}`;
    console.log(`   ${enc.label.padEnd(13)} ours:  wall ${pm(f.map((x) => x.wallMs))} ms/step, cpu ${pm(f.map((x) => x.cpuMs))} ms/step`);
    console.log(`   ${''.padEnd(13)} stock: wall ${pm(s.map((x) => x.wallMs))} ms/step, cpu ${pm(s.map((x) => x.cpuMs))} ms/step`);
    console.log(`   ${''.padEnd(13)} paired: stock − ours ${pm(saved)} ms CPU per step, stock / ours ${pm(ratio, 3)}`);
  }
  const loadAvg1mEnd = Number(os.loadavg()[0]!.toFixed(2));
  console.log(`load average (1 min) at end: ${loadAvg1mEnd}`);
  console.log(JSON.stringify({ config: { ...config, loadAvg1mEnd }, usage, unused, kernels: kernelResults, steps }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
