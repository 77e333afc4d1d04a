/**
 * Benchmark of the fast wasm training kernels vs the stock ones, and of a VGG-lite training
 * step. Run: npx tsx bench/kernels.ts [--quick] [--profile]
 * Output: human-readable lines, then one JSON line (last line).
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { NamedAttrMap } from '@tensorflow/tfjs';
import { initBackend } from '../src-main/engine/backend';
import {
  FAST_WASM_KERNELS,
  setFilterGradOptions,
  stockWasmKernel,
  useStockWasmKernels,
  type FilterGradOptions,
} from '../src-main/engine/kernels/index';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const PROFILE = args.has('--profile');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Wall-clock and process CPU milliseconds of one call. On a shared machine other jobs stretch the
 * wall time (waiting for a core); CPU time counts only our running time (plus V8's GC helper
 * threads), so it is the steadier figure when the load average is high.
 */
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
function timeIt(fn: () => void, warmup = 2, minMs = QUICK ? 300 : 1500, minReps = 5): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const samples: Timing[] = [];
  const t0 = performance.now();
  while (samples.length < minReps || (performance.now() - t0 < minMs && samples.length < 200)) samples.push(sample(fn));
  return { wall: Math.min(...samples.map((x) => x.wall)), cpu: Math.min(...samples.map((x) => x.cpu)) };
}

const fmt = (ms: number | null): string => (ms == null ? '      –' : ms.toFixed(2).padStart(7));

// ---------- kernel micro-benchmarks ----------

interface KernelCase {
  label: string;
  kernel: string;
  inputs: () => Record<string, tf.Tensor>;
  attrs: NamedAttrMap;
  flops?: number;
  /** runs around the timing (e.g. selecting a formulation) */
  options?: Partial<FilterGradOptions>;
}

function convCases(n: number, h: number, c: number): KernelCase[] {
  const xs: [number, number, number, number] = [n, h, h, c];
  const ws: [number, number, number, number] = [3, 3, c, c];
  const flops = 2 * n * h * h * c * c * 9;
  const common = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC' };
  return [
    {
      label: `Conv2D (forward, reference) ${xs.join('x')} k3 ->${c}`,
      kernel: 'Conv2D',
      inputs: () => ({ x: tf.randomNormal(xs), filter: tf.randomNormal(ws) }),
      attrs: { ...common, dilations: [1, 1] } as unknown as NamedAttrMap,
      flops,
    },
    {
      label: `Conv2DBackpropFilter ${xs.join('x')} k3 ->${c}`,
      kernel: 'Conv2DBackpropFilter',
      inputs: () => ({ x: tf.randomNormal(xs), dy: tf.randomNormal(xs) }),
      attrs: { ...common, filterShape: ws } as unknown as NamedAttrMap,
      flops,
    },
    {
      label: `Conv2DBackpropFilter [one-conv formulation] ${xs.join('x')} k3`,
      kernel: 'Conv2DBackpropFilter',
      inputs: () => ({ x: tf.randomNormal(xs), dy: tf.randomNormal(xs) }),
      attrs: { ...common, filterShape: ws } as unknown as NamedAttrMap,
      flops,
      options: { method: 'conv' },
    },
    {
      label: `Conv2DBackpropInput ${xs.join('x')} k3 ->${c}`,
      kernel: 'Conv2DBackpropInput',
      inputs: () => ({ dy: tf.randomNormal(xs), filter: tf.randomNormal(ws) }),
      attrs: { ...common, inputShape: xs } as unknown as NamedAttrMap,
      flops,
    },
  ];
}

function poolCases(n: number, h: number, c: number): KernelCase[] {
  const xs: [number, number, number, number] = [n, h, h, c];
  const ys = [n, h / 2, h / 2, c];
  return [
    {
      label: `MaxPoolGrad 2x2 s2 ${xs.join('x')}`,
      kernel: 'MaxPoolGrad',
      inputs: () => {
        const input = tf.randomNormal(xs) as tf.Tensor4D;
        return { dy: tf.randomNormal(ys), input, output: tf.maxPool(input, 2, 2, 'valid') };
      },
      attrs: { filterSize: [2, 2], strides: [2, 2], pad: 'valid' } as unknown as NamedAttrMap,
    },
    {
      label: `ResizeNearestNeighborGrad x2 ${ys.join('x')}->${xs.join('x')}`,
      kernel: 'ResizeNearestNeighborGrad',
      inputs: () => ({ images: tf.randomNormal(ys), dy: tf.randomNormal(xs) }),
      attrs: { alignCorners: false, halfPixelCenters: false, size: [h, h] } as unknown as NamedAttrMap,
    },
  ];
}

function otherCases(n: number, h: number, c: number): KernelCase[] {
  const xs: [number, number, number, number] = [n, h, h, c];
  const ws: [number, number, number, number] = [3, 3, c, 1];
  const common = { strides: [1, 1], dilations: [1, 1], pad: 'same' };
  return [
    {
      label: `DepthwiseConv2dNativeBackpropFilter ${xs.join('x')} k3`,
      kernel: 'DepthwiseConv2dNativeBackpropFilter',
      inputs: () => ({ x: tf.randomNormal(xs), dy: tf.randomNormal(xs) }),
      attrs: { ...common, filterShape: ws } as unknown as NamedAttrMap,
      flops: 2 * n * h * h * c * 9,
    },
    {
      label: `DepthwiseConv2dNativeBackpropInput ${xs.join('x')} k3`,
      kernel: 'DepthwiseConv2dNativeBackpropInput',
      inputs: () => ({ dy: tf.randomNormal(xs), filter: tf.randomNormal(ws) }),
      attrs: { ...common, inputShape: xs } as unknown as NamedAttrMap,
      flops: 2 * n * h * h * c * 9,
    },
    {
      label: 'UnsortedSegmentSum 65536x64 -> 1000 segments',
      kernel: 'UnsortedSegmentSum',
      inputs: () => ({ x: tf.randomNormal([65536, 64]), segmentIds: tf.randomUniform([65536], 0, 1000, 'int32') }),
      attrs: { numSegments: 1000 } as unknown as NamedAttrMap,
    },
  ];
}

interface KernelResult {
  label: string;
  kernel: string;
  fastMs: number;
  fastCpuMs: number;
  stockMs: number | null;
  stockCpuMs: number | null;
  speedup: number | null;
  gflops: number | null;
}

function benchKernel(c: KernelCase): KernelResult {
  const inputs = c.inputs();
  const run = (): void => {
    tf.tidy(() => {
      tf.engine().runKernel(c.kernel, inputs, c.attrs);
    });
  };
  const isOurs = FAST_WASM_KERNELS.some((k) => k.kernelName === c.kernel);
  const previous = setFilterGradOptions(c.options ?? {});
  let fast: Timing;
  try {
    fast = timeIt(run);
  } finally {
    setFilterGradOptions(previous);
  }
  let stock: Timing | null = null;
  if (isOurs && stockWasmKernel(c.kernel)) {
    useStockWasmKernels(true, [c.kernel]);
    try {
      stock = timeIt(run, 1, QUICK ? 300 : 1500, 3);
    } finally {
      useStockWasmKernels(false, [c.kernel]);
    }
  }
  tf.dispose(Object.values(inputs));
  return {
    label: c.label,
    kernel: c.kernel,
    fastMs: fast.wall,
    fastCpuMs: fast.cpu,
    stockMs: stock?.wall ?? null,
    stockCpuMs: stock?.cpu ?? null,
    speedup: stock == null ? null : stock.cpu / fast.cpu,
    gflops: c.flops ? c.flops / fast.cpu / 1e6 : null,
  };
}

// ---------- VGG-lite training step ----------

const CHANNELS = [16, 32, 64, 128];
const CLASSES = 21;

interface StepResult {
  kernels: 'fast' | 'stock';
  size: number;
  batch: number;
  /** wall clock, median and minimum */
  msPerStep: number;
  minMsPerStep: number;
  /** process CPU time, median; GFLOP/s are computed from it */
  cpuMsPerStep: number;
  gflopPerStep: number;
  gflops: number;
  steps: number;
}

/** conv FLOPs counted as 3x forward (fwd, input grad, filter grad) minus the unused first-layer input grad. */
function stepFlops(size: number, batch: number): number {
  let fwd = 0;
  let first = 0;
  let h = size;
  let cin = 3;
  CHANNELS.forEach((c, i) => {
    const f = 2 * batch * h * h * cin * c * 9;
    fwd += f;
    if (i === 0) first = f;
    h /= 2;
    cin = c;
  });
  fwd += 2 * batch * cin * CLASSES;
  return 3 * fwd - first;
}

function makeModel(): { vars: tf.Variable[]; loss: (x: tf.Tensor4D, y: tf.Tensor2D) => tf.Scalar } {
  const vars: tf.Variable[] = [];
  let cin = 3;
  for (const c of CHANNELS) {
    vars.push(tf.variable(tf.randomNormal([3, 3, cin, c], 0, Math.sqrt(2 / (9 * cin)))));
    vars.push(tf.variable(tf.zeros([c])));
    cin = c;
  }
  vars.push(tf.variable(tf.randomNormal([cin, CLASSES], 0, Math.sqrt(1 / cin))));
  vars.push(tf.variable(tf.zeros([CLASSES])));
  const loss = (x: tf.Tensor4D, y: tf.Tensor2D): tf.Scalar => {
    let h = x;
    for (let i = 0; i < CHANNELS.length; i++) {
      const z = tf.fused.conv2d({
        x: h,
        filter: vars[2 * i] as tf.Tensor4D,
        strides: 1,
        pad: 'same',
        bias: vars[2 * i + 1],
        activation: 'relu',
      });
      h = tf.maxPool(z, 2, 2, 'valid');
    }
    const logits = tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, vars[8] as tf.Tensor2D).add(vars[9]!);
    return tf.losses.sigmoidCrossEntropy(y, logits) as tf.Scalar;
  };
  return { vars, loss };
}

async function benchStep(size: number, batch: number, kernels: 'fast' | 'stock'): Promise<StepResult> {
  useStockWasmKernels(kernels === 'stock');
  const { vars, loss } = makeModel();
  const opt = tf.train.adam(1e-3, 0.9, 0.999, 1e-7);
  const x = tf.randomUniform([batch, size, size, 3]) as tf.Tensor4D;
  const y = tf.cast(tf.randomUniform([batch, CLASSES]).greater(0.8), 'float32') as tf.Tensor2D;
  const step = (): void => {
    const cost = opt.minimize(() => loss(x, y), true);
    cost?.dataSync();
    cost?.dispose();
  };
  const warmup = 2;
  const reps = QUICK ? 2 : kernels === 'stock' ? 4 : 10;
  for (let i = 0; i < warmup; i++) step();
  const samples: Timing[] = [];
  for (let i = 0; i < reps; i++) samples.push(sample(step));
  if (PROFILE && kernels === 'fast') await profileStep(step, size);
  opt.dispose();
  tf.dispose([x, y, ...vars]);
  useStockWasmKernels(false);
  const wall = samples.map((x) => x.wall);
  const cpu = samples.map((x) => x.cpu);
  const flops = stepFlops(size, batch);
  return {
    kernels,
    size,
    batch,
    msPerStep: median(wall),
    minMsPerStep: Math.min(...wall),
    cpuMsPerStep: median(cpu),
    gflopPerStep: flops / 1e9,
    gflops: flops / median(cpu) / 1e6,
    steps: reps,
  };
}

/** Per-kernel time of one step (tf.profile times each kernel call), to see what is left. */
async function profileStep(step: () => void, size: number): Promise<void> {
  const info = await tf.profile(step);
  const totals = new Map<string, number>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const key = `${k.name} ${k.inputShapes.map((s) => (s ? s.join('x') : '')).join(',')}`;
    totals.set(key, (totals.get(key) ?? 0) + ms);
  }
  const rows = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20);
  const sum = [...totals.values()].reduce((a, b) => a + b, 0);
  console.log(`  profile of one ${size}px step: ${sum.toFixed(1)} ms in kernels; top kernels (ms, inputs):`);
  for (const [k, v] of rows) console.log(`    ${v.toFixed(1).padStart(7)}  ${k}`);
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
    quick: QUICK,
    // other jobs on the machine inflate times: recorded so results can be judged
    loadAvg1mStart: Number(os.loadavg()[0]!.toFixed(2)),
  };
  console.log(`CPU: ${config.cpu} (${config.logicalCores} logical cores)`);
  console.log(`Node ${config.node}, @tensorflow/tfjs ${config.tfjs}, backend: ${config.backend}`);
  console.log(`load average (1 min) at start: ${config.loadAvg1mStart}`);
  console.log('ms per call, minimum of >= 5 calls (3 for stock), warm-up excluded: wall clock and process CPU time;');
  console.log("speedup and GFLOP/s from CPU time. stock = the wasm backend's own kernel; – = wasm has none\n");

  const cases = [
    ...convCases(8, 112, 32),
    ...convCases(8, 56, 64),
    ...poolCases(8, 112, 32),
    ...poolCases(8, 56, 64),
    ...otherCases(8, 56, 64),
  ];
  const kernelResults: KernelResult[] = [];
  console.log(`${'kernel'.padEnd(62)}  fast wall/cpu    stock wall/cpu  speedup  GFLOP/s`);
  for (const c of cases) {
    const r = benchKernel(c);
    kernelResults.push(r);
    console.log(
      `${r.label.padEnd(62)} ${fmt(r.fastMs)} ${fmt(r.fastCpuMs)}  ${fmt(r.stockMs)} ${fmt(r.stockCpuMs)} ${r.speedup == null ? '      –' : (r.speedup.toFixed(1) + 'x').padStart(7)}  ${r.gflops == null ? '     –' : r.gflops.toFixed(1).padStart(6)}`,
    );
  }

  console.log('\nVGG-lite training step (fused conv3x3+bias+ReLU, maxpool2; 16-32-64-128, GAP, dense 21, sigmoid BCE, Adam), batch 8');
  console.log("stock = wasm's own kernels wherever we replace one (+ our Conv2DBackpropFilter: wasm has none)");
  const steps: StepResult[] = [];
  for (const size of [128, 224]) {
    for (const k of ['fast', 'stock'] as const) {
      const r = await benchStep(size, 8, k);
      steps.push(r);
      console.log(
        `  ${String(size).padStart(3)}px ${k.padEnd(5)}: wall ${r.msPerStep.toFixed(1).padStart(7)} ms/step (min ${r.minMsPerStep.toFixed(1).padStart(7)}), cpu ${r.cpuMsPerStep.toFixed(1).padStart(7)} ms/step; ${r.gflopPerStep.toFixed(2)} GFLOP/step, ${r.gflops.toFixed(1).padStart(5)} GFLOP/s (cpu); median of ${r.steps}`,
      );
    }
  }
  const loadAvg1mEnd = Number(os.loadavg()[0]!.toFixed(2));
  console.log(`load average (1 min) at end: ${loadAvg1mEnd}`);
  console.log(JSON.stringify({ config: { ...config, loadAvg1mEnd }, kernels: kernelResults, steps }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
