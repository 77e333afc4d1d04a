/**
 * Picks and initializes the TF.js backend for training in Node/Electron-main.
 * Preference: native tensorflow (tfjs-node-gpu, then tfjs-node; optional, detected at run time)
 * > webgpu on a real GPU (Dawn through the `webgpu` package; a CPU fallback adapter such as
 * SwiftShader or llvmpipe is used only when forced) > wasm (+ our fast gradient kernels)
 * > cpu (pure JS, ~300x slower than wasm for training).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { registerFastWasmKernels } from './kernels/index';
import { registerModelGradients } from './models/ops';
import { diagnoseNoAdapter, gpuDriverHint, preloadVulkanLoader, useSwiftShaderIfNoDriver, vulkanMissing } from './vulkan';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

/** The WebGPU adapter Dawn gave (GPUAdapterInfo). */
export interface GpuAdapter {
  vendor: string;
  architecture: string;
  description: string;
  device: string;
  /** A CPU implementation (SwiftShader, llvmpipe/lavapipe, WARP…), not a GPU. */
  software: boolean;
}

export interface BackendInfo {
  name: BackendName;
  /** e.g. 'tfjs-node-gpu', 'tfjs-node', 'webgpu on nvidia hopper (NVIDIA H200)', 'wasm simd, 1 thread', 'cpu (pure JS)' */
  detail: string;
  simd?: boolean;
  threads?: number;
  adapter?: GpuAdapter;
  /** Why a preferred backend was passed over (e.g. webgpu found only a CPU fallback adapter). */
  note?: string;
}

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
const INSTALL_NATIVE_HINT =
  'install it with `npm install @tensorflow/tfjs-node` (or `@tensorflow/tfjs-node-gpu` for CUDA), ' +
  'same major/minor version as @tensorflow/tfjs; its install script downloads libtensorflow, so it needs internet';

let current: BackendInfo | null = null;
/** Serializes initBackend calls: tf.setBackend is async and global. */
let queue: Promise<unknown> = Promise.resolve();

export function backendName(): BackendName | null {
  return current?.name ?? null;
}

export function backendInfo(): BackendInfo | null {
  return current ? { ...current } : null;
}

/**
 * Initializes (once) and activates a backend. Without `preferred`, a repeated call returns the
 * backend chosen first; with one, it switches to it (throwing if it cannot be loaded).
 */
export function initBackend(preferred?: BackendName): Promise<BackendInfo> {
  const run = queue.then(() => init(preferred));
  queue = run.catch(() => undefined);
  return run;
}

async function init(preferred?: BackendName): Promise<BackendInfo> {
  registerModelGradients();
  if (current && (preferred === undefined || preferred === current.name)) {
    // something else may have switched tf's global backend meanwhile (e.g. tests using 'cpu')
    if (tf.getBackend() !== current.name) await activate(current.name);
    return { ...current };
  }
  let info: BackendInfo;
  if (preferred === 'tensorflow') info = await initNative(true);
  else if (preferred === 'webgpu') info = await initWebgpu(true);
  else if (preferred === 'wasm') info = await initWasm(true);
  else if (preferred === 'cpu') info = await initCpu();
  else {
    const gpu = (await initNative(false)) ?? (await initWebgpu(false));
    if (gpu && 'name' in gpu) info = gpu;
    else {
      info = (await initWasm(false)) ?? (await initCpu());
      if (gpu?.skipped) info = { ...info, note: `webgpu not used: ${gpu.skipped}` };
    }
  }
  current = info;
  return { ...info };
}

async function activate(name: string): Promise<boolean> {
  return tf.setBackend(name);
}

function isModuleNotFound(err: unknown, spec: string): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const msg = typeof e?.message === 'string' ? e.message : '';
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && msg.includes(spec);
}

async function initNative(required: true): Promise<BackendInfo>;
async function initNative(required: false): Promise<BackendInfo | null>;
async function initNative(required: boolean): Promise<BackendInfo | null> {
  const problems: string[] = [];
  for (const spec of NATIVE_PACKAGES) {
    try {
      // variable specifier: optional packages, absent at build time, must not be bundled/type-checked
      const specifier: string = spec;
      await import(/* @vite-ignore */ specifier);
    } catch (err) {
      problems.push(isModuleNotFound(err, spec) ? `${spec} is not installed` : `${spec} failed to load: ${String(err)}`);
      continue;
    }
    // The package registers 'tensorflow' with the tfjs-core it resolves; a second copy of
    // tfjs-core (version mismatch) leaves ours without it.
    if (tf.findBackendFactory('tensorflow') == null) {
      problems.push(
        `${spec} loaded but registered with another copy of @tensorflow/tfjs-core (version mismatch with @tensorflow/tfjs ${tf.version_core})`,
      );
      continue;
    }
    if (!(await activate('tensorflow'))) {
      problems.push(`${spec} loaded but the 'tensorflow' backend failed to initialize`);
      continue;
    }
    return { name: 'tensorflow', detail: spec.replace('@tensorflow/', '') };
  }
  if (!required) return null;
  throw new Error(`backend 'tensorflow' is unavailable: ${problems.join('; ')}. To use it, ${INSTALL_NATIVE_HINT}.`);
}

/** CPU implementations of WebGPU/Vulkan/D3D12, by the names their adapters report. */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i;

export function isSoftwareAdapter(info: { vendor?: string; architecture?: string; description?: string; device?: string; isFallbackAdapter?: boolean }): boolean {
  return info.isFallbackAdapter === true || SOFTWARE_ADAPTER.test([info.vendor, info.architecture, info.description, info.device].join(' '));
}

export function adapterDetail(a: GpuAdapter): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const extra = [a.description, a.software ? 'CPU fallback, not a GPU' : ''].filter(Boolean).join(', ');
  return `webgpu on ${name}${extra ? ` (${extra})` : ''}`;
}

let webgpuInfo: BackendInfo | null = null;

/**
 * The `webgpu` backend through Dawn. Without `required` it is taken only on a real GPU and
 * answers `{ skipped }` otherwise; with `required` a CPU fallback adapter is accepted (tests,
 * forced runs) and any failure throws a message saying what is missing and what to install.
 */
async function initWebgpu(required: true): Promise<BackendInfo>;
async function initWebgpu(required: false): Promise<BackendInfo | { skipped: string }>;
async function initWebgpu(required: boolean): Promise<BackendInfo | { skipped: string }> {
  const fail = (problem: string): { skipped: string } => {
    if (required) throw new Error(`backend 'webgpu' is unavailable: ${problem}`);
    return { skipped: problem };
  };
  if (webgpuInfo) {
    if (!required && webgpuInfo.adapter?.software) return { skipped: `only a CPU fallback adapter (${webgpuInfo.detail})` };
    if (!(await activate('webgpu')) || tf.getBackend() !== 'webgpu') return fail("the 'webgpu' backend failed to activate again");
    return { ...webgpuInfo };
  }
  preloadVulkanLoader();
  if (required) useSwiftShaderIfNoDriver();
  const missing = vulkanMissing();
  if (missing) return fail(missing);
  let dawn: { create(options: string[]): GPU; globals: object };
  try {
    dawn = (await import('webgpu')) as typeof dawn;
  } catch (err) {
    return fail(
      isModuleNotFound(err, 'webgpu')
        ? `the \`webgpu\` package (Dawn) is not installed; install it with \`npm install webgpu\``
        : `Dawn (the \`webgpu\` package) failed to load on ${process.platform}-${process.arch}: ${String(err).split('\n')[0]}. ${gpuDriverHint()}`,
    );
  }
  let gpu: GPU;
  let adapter: GPUAdapter | null;
  try {
    Object.assign(globalThis, dawn.globals);
    gpu = dawn.create([]);
    // the same preference tfjs-backend-webgpu asks for, so the adapter reported is the one it uses
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return fail(`Dawn failed to start: ${String(err).split('\n')[0]}. ${gpuDriverHint()}`);
  }
  if (!adapter) return fail(diagnoseNoAdapter());
  const raw = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const info: GpuAdapter = {
    vendor: raw.vendor ?? '',
    architecture: raw.architecture ?? '',
    description: raw.description ?? '',
    device: raw.device ?? '',
    software: isSoftwareAdapter(raw),
  };
  if (!required && info.software) return { skipped: `only a CPU fallback adapter (${adapterDetail(info)})` };
  // tfjs-backend-webgpu registers itself at import when navigator.gpu exists, and asks it for an
  // adapter: hand it the one probed above (first request), Dawn's own afterwards.
  let probed: GPUAdapter | null = adapter;
  const navGpu = {
    requestAdapter: async (o?: GPURequestAdapterOptions): Promise<GPUAdapter | null> => {
      const a = probed ?? (await gpu.requestAdapter(o));
      probed = null;
      return a;
    },
    getPreferredCanvasFormat: () => gpu.getPreferredCanvasFormat(),
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
  };
  // Node 20 has no navigator; Node 21+ has one without gpu (a configurable getter)
  const prevNav = (globalThis as { navigator?: object }).navigator;
  Object.defineProperty(globalThis, 'navigator', { value: { ...(prevNav ?? {}), gpu: navGpu }, configurable: true, writable: true });
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (err) {
    return fail(`@tensorflow/tfjs-backend-webgpu failed to load: ${String(err).split('\n')[0]}; install it with \`npm install @tensorflow/tfjs-backend-webgpu@${tf.version_core}\``);
  }
  if (tf.findBackendFactory('webgpu') == null) {
    return fail(`@tensorflow/tfjs-backend-webgpu did not register with this @tensorflow/tfjs ${tf.version_core} (version mismatch, or it was imported before navigator.gpu existed)`);
  }
  if (!(await activate('webgpu')) || tf.getBackend() !== 'webgpu') {
    return fail(`the 'webgpu' backend failed to initialize on ${adapterDetail(info)} (see the warning above)`);
  }
  webgpuInfo = { name: 'webgpu', detail: adapterDetail(info), adapter: info };
  return { ...webgpuInfo };
}

/**
 * Makes the tensors' values readable with dataSync()/arraySync(): the webgpu backend cannot read
 * the GPU synchronously in Node (it needs OffscreenCanvas), but serves values it has downloaded
 * before. No-op cost on the CPU backends. Call before code that reads synchronously (getWeights).
 */
export async function prefetch(tensors: tf.Tensor[]): Promise<void> {
  if (tf.getBackend() !== 'webgpu') return;
  await Promise.all(tensors.map((t) => t.data()));
}

let wasmPathsSet = false;

async function initWasm(required: true): Promise<BackendInfo>;
async function initWasm(required: false): Promise<BackendInfo | null>;
async function initWasm(required: boolean): Promise<BackendInfo | null> {
  let problem: string;
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (!wasmPathsSet && tf.engine().registry['wasm'] == null) {
      // Node loads the .wasm binaries from disk: point the loader at the installed dist/ folder
      // (emscripten's default prefix is wrong once bundled).
      const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(path.dirname(main) + path.sep);
      wasmPathsSet = true;
    }
    // registered before activation, so the engine's per-backend kernel setup sees the final table
    registerFastWasmKernels();
    if (await activate('wasm')) {
      const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
      const threads = wasm.getThreadsCount();
      return {
        name: 'wasm',
        detail: `wasm${simd ? ' simd' : ''}, ${threads} thread${threads === 1 ? '' : 's'}`,
        simd,
        threads,
      };
    }
    problem = "the 'wasm' backend failed to initialize (see the warning above)";
  } catch (err) {
    problem = isModuleNotFound(err, '@tensorflow/tfjs-backend-wasm')
      ? '@tensorflow/tfjs-backend-wasm is not installed'
      : `@tensorflow/tfjs-backend-wasm failed to load: ${String(err)}`;
  }
  if (!required) return null;
  throw new Error(
    `backend 'wasm' is unavailable: ${problem}. Install it with \`npm install @tensorflow/tfjs-backend-wasm@${tf.version_core}\` ` +
      '(same version as @tensorflow/tfjs) and keep its dist/*.wasm files next to its JS.',
  );
}

async function initCpu(): Promise<BackendInfo> {
  if (!(await activate('cpu'))) throw new Error("backend 'cpu' failed to initialize (it ships with @tensorflow/tfjs)");
  return { name: 'cpu', detail: 'cpu (pure JS)' };
}
