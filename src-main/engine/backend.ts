/**
 * Picks and initializes the TF.js backend for training in Node/Electron-main.
 * Preference: native tensorflow (tfjs-node-gpu, then tfjs-node; optional, detected at run time)
 * > wasm (+ our fast gradient kernels) > cpu (pure JS, ~300x slower than wasm for training).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { registerFastWasmKernels } from './kernels/index';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: BackendName;
  /** e.g. 'tfjs-node-gpu', 'tfjs-node', 'wasm simd, 1 thread', 'cpu (pure JS)' */
  detail: string;
  simd?: boolean;
  threads?: number;
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
  if (current && (preferred === undefined || preferred === current.name)) {
    // something else may have switched tf's global backend meanwhile (e.g. tests using 'cpu')
    if (tf.getBackend() !== current.name) await activate(current.name);
    return { ...current };
  }
  let info: BackendInfo;
  if (preferred === 'tensorflow') info = await initNative(true);
  else if (preferred === 'wasm') info = await initWasm(true);
  else if (preferred === 'cpu') info = await initCpu();
  else info = (await initNative(false)) ?? (await initWasm(false)) ?? (await initCpu());
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
