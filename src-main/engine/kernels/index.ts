/**
 * Fast/correct training kernels for the wasm backend (see shared/docs/TFJS-NOTES.md).
 * registerFastWasmKernels() is idempotent; the stock configs it replaces are kept so that the
 * benchmark (and tests) can switch back and compare.
 */
import { findBackend, getKernel, registerKernel, unregisterKernel, version_core, type KernelConfig } from '@tensorflow/tfjs';
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { conv2dBackpropFilterConfig, conv2dBackpropInputConfig } from './conv2d_backprop';
import { gatherV2Config, setGatherFallback } from './gather';
import { castConfig, identityConfig, setIdentityFallbacks } from './identity';
import { unsortedSegmentSumConfig } from './unsorted_segment_sum';

export { conv2dBackpropFilter, conv2dBackpropInput, setFilterGradOptions, sweepKernelCaches, type FilterGradOptions } from './conv2d_backprop';
export { unsortedSegmentSum } from './unsorted_segment_sum';
export { gatherV2 } from './gather';

export const FAST_WASM_KERNELS: readonly KernelConfig[] = [
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  unsortedSegmentSumConfig,
  gatherV2Config,
  identityConfig,
  castConfig,
];

/**
 * The tfjs release these kernels were verified against. They reach into private wasm-backend
 * internals (dataIdMap, makeOutput at an offset, disposeData), which any release may change.
 */
export const VERIFIED_TFJS_VERSION = '4.22.0';

/** Throws a clear error unless the installed tfjs-core and tfjs-backend-wasm are the verified release. */
export function checkKernelTfjsVersion(installed = { core: version_core, wasm: version_wasm }): void {
  const wrong = Object.entries(installed).filter(([, v]) => v !== VERIFIED_TFJS_VERSION);
  if (wrong.length === 0) return;
  const found = wrong.map(([pkg, v]) => `tfjs-${pkg === 'core' ? 'core' : 'backend-wasm'} ${v}`).join(', ');
  throw new Error(
    `heatseg's wasm training kernels were verified against tfjs ${VERIFIED_TFJS_VERSION} and use its private ` +
      `wasm-backend internals, but ${found} is installed; install @tensorflow/tfjs@${VERIFIED_TFJS_VERSION} and ` +
      `@tensorflow/tfjs-backend-wasm@${VERIFIED_TFJS_VERSION} (package.json pins them), or re-verify the kernels (test/unit/engine/kernels.test.ts)`,
  );
}

let registered = false;
/** Stock wasm configs replaced by ours (absent key: wasm has no such kernel). */
const stock = new Map<string, KernelConfig>();

function swapIn(config: KernelConfig): void {
  const current = getKernel(config.kernelName, 'wasm');
  if (current === config) return;
  // unregister first: registerKernel only warns and overwrites, which would spam the console
  if (current != null) unregisterKernel(config.kernelName, 'wasm');
  registerKernel(config);
}

/**
 * Registers the kernels for 'wasm'. Our kernels have no setupFunc, so this works before or after
 * the backend is initialized; the stock kernels they call (Conv2D, Transpose) are set up at init.
 */
export function registerFastWasmKernels(): void {
  if (registered) return;
  checkKernelTfjsVersion();
  for (const config of FAST_WASM_KERNELS) {
    const current = getKernel(config.kernelName, 'wasm');
    if (current != null && current !== config) stock.set(config.kernelName, current);
    swapIn(config);
  }
  setIdentityFallbacks(stock.get(identityConfig.kernelName)?.kernelFunc, stock.get(castConfig.kernelName)?.kernelFunc);
  setGatherFallback(stock.get(gatherV2Config.kernelName)?.kernelFunc);
  registered = true;
}

export function fastWasmKernelsRegistered(): boolean {
  return registered;
}

/** The stock wasm config a fast kernel replaced, or undefined if wasm has none. */
export function stockWasmKernel(kernelName: string): KernelConfig | undefined {
  return stock.get(kernelName);
}

/**
 * For benchmarks and tests: use the stock wasm kernel (where one exists; kernels missing from
 * wasm stay ours) or ours for the named kernels (default all).
 */
export function useStockWasmKernels(useStock: boolean, names?: readonly string[]): void {
  if (!registered) throw new Error('registerFastWasmKernels() has not run');
  for (const config of FAST_WASM_KERNELS) {
    if (names && !names.includes(config.kernelName)) continue;
    const old = stock.get(config.kernelName);
    if (old == null) continue;
    const want = useStock ? old : config;
    if (getKernel(config.kernelName, 'wasm') === want) continue;
    unregisterKernel(config.kernelName, 'wasm');
    registerKernel(want);
    // The engine runs setupFuncs only when a backend is activated; a stock kernel swapped out
    // before that never got its wasm function bound.
    if (want.setupFunc) {
      const backend = findBackend('wasm');
      if (backend != null) want.setupFunc(backend);
    }
  }
}
