/**
 * GatherV2 for wasm (batchDims 0, numeric dtypes) as block copies: out[o, i, :] = x[o, idx[i], :].
 * Stock wasm gathers element by element (~100 ms a step for the LRP decoder's per-pair gates at
 * 128 px); whole rows are one copyWithin each. Out-of-range indices are an error, as on cpu.
 */
import { GatherV2, util, type GatherV2Attrs, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import { wasmKernel, type BackendWasm } from './wasm_util';

/** The stock kernel, for what we do not handle (batchDims > 0, bool / string); set at registration. */
const fallback: { gather?: KernelFunc } = {};

export function setGatherFallback(gather: KernelFunc | undefined): void {
  fallback.gather = gather;
}

export function gatherV2(args: { inputs: { x: TensorInfo; indices: TensorInfo }; backend: BackendWasm; attrs: GatherV2Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, indices } = inputs;
  const axis = util.parseAxisParam(attrs.axis, x.shape)[0]!;
  if ((attrs.batchDims ?? 0) !== 0 || (x.dtype !== 'float32' && x.dtype !== 'int32')) {
    if (!fallback.gather) throw new Error('stock wasm GatherV2 kernel missing');
    return fallback.gather(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  const outer = util.sizeFromShape(x.shape.slice(0, axis));
  const dim = x.shape[axis]!;
  const inner = util.sizeFromShape(x.shape.slice(axis + 1));
  const nIdx = util.sizeFromShape(indices.shape);
  const out = backend.makeOutput([...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], x.dtype);
  if (util.sizeFromShape(out.shape) === 0) return out;
  const ids = backend.typedArrayFromHeap(indices);
  for (let i = 0; i < nIdx; i++) {
    const id = ids[i]!;
    if (!(id >= 0 && id < dim)) {
      backend.disposeData(out.dataId);
      throw new Error(`GatherV2: index ${id} is outside [0, ${dim - 1}]`);
    }
  }
  // views after makeOutput (the heap may have grown)
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const heap = new Float32Array(src.buffer);
  const s0 = src.byteOffset >> 2;
  const d0 = dst.byteOffset >> 2;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < nIdx; i++) {
      const s = s0 + (o * dim + ids[i]!) * inner;
      heap.copyWithin(d0 + (o * nIdx + i) * inner, s, s + inner);
    }
  }
  return out;
}

export const gatherV2Config = wasmKernel(GatherV2, gatherV2);
