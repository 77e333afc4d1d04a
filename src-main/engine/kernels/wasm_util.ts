/**
 * Helpers shared by the fast wasm kernels: calling stock wasm kernels directly (no engine
 * bookkeeping, no gradient tape) and reading/writing tensors on the wasm heap.
 */
import { getKernel, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type { BackendWasm };

/** A wasm-backend kernel registration for one of our kernel functions (typed on BackendWasm). */
export function wasmKernel<F>(kernelName: string, kernelFunc: F): KernelConfig {
  return { kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as KernelFunc };
}

/** Runs a registered wasm kernel on raw TensorInfos; the caller owns (and must free) the result. */
export function runWasm(
  backend: BackendWasm,
  kernelName: string,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const config = getKernel(kernelName, 'wasm');
  if (config == null) throw new Error(`wasm kernel '${kernelName}' is not registered`);
  const out = config.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm kernel '${kernelName}' returned several outputs`);
  return out;
}

export function free(backend: BackendWasm, ...infos: (TensorInfo | null | undefined)[]): void {
  for (const info of infos) if (info != null) backend.disposeData(info.dataId);
}

/**
 * Float32 view of a tensor on the wasm heap. Views die when the heap grows, so take them only
 * after every makeOutput/kernel call that may allocate.
 */
export function f32(backend: BackendWasm, info: TensorInfo): Float32Array {
  if (info.dtype !== 'float32') throw new Error(`expected a float32 tensor, got ${info.dtype}`);
  return backend.typedArrayFromHeap(info) as Float32Array;
}

export function shape4(info: TensorInfo, what: string): [number, number, number, number] {
  const s = info.shape;
  if (s.length !== 4) throw new Error(`${what}: expected a rank-4 tensor, got shape [${s.join(',')}]`);
  return [s[0]!, s[1]!, s[2]!, s[3]!];
}

export function assertNHWC(dataFormat: unknown, kernel: string): void {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`${kernel} (fast wasm kernel) supports only NHWC, got ${String(dataFormat)}`);
  }
}

/**
 * The whole wasm heap as floats plus a tensor's float index in it, for copyWithin: copying rows
 * without creating a subarray object per row (those allocations dominated small-row copies).
 * Same lifetime caveat as f32().
 */
export function heapF32(backend: BackendWasm, info: TensorInfo): { heap: Float32Array; at: number } {
  const view = f32(backend, info);
  return { heap: new Float32Array(view.buffer), at: view.byteOffset >> 2 };
}

/**
 * A tensor id of our own over (part of) another tensor's heap memory, starting `floatOffset`
 * floats in. The backend's XNNPACK operator caches are keyed by tensor id (packed weights, not
 * shapes), so a private id also keeps a cached operator from being reused for another view of the
 * same data. Release with release(), never free(): the memory stays the owner's.
 */
export function borrow(backend: BackendWasm, owner: TensorInfo, shape: number[], floatOffset = 0): TensorInfo {
  const { memoryOffset } = backend.dataIdMap.get(owner.dataId);
  return backend.makeOutput(shape, owner.dtype, memoryOffset + floatOffset * 4);
}

export function release(backend: BackendWasm, borrowed: TensorInfo): void {
  const data = backend.dataIdMap.get(borrowed.dataId);
  // drops the id and the operators cached on it, without freeing the borrowed memory
  backend.wasm.tfjs.disposeData(data.id);
  backend.dataIdMap.delete(borrowed.dataId);
}
