/**
 * UnsortedSegmentSum for wasm (the gradient of gather; missing from the backend). Ids outside
 * [0, numSegments) are dropped, as in TF.
 */
import { UnsortedSegmentSum, util, type TensorInfo, type UnsortedSegmentSumAttrs } from '@tensorflow/tfjs';
import { wasmKernel, type BackendWasm } from './wasm_util';

export function unsortedSegmentSum(args: {
  inputs: { x: TensorInfo; segmentIds: TensorInfo };
  backend: BackendWasm;
  attrs: UnsortedSegmentSumAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, segmentIds } = inputs;
  const idShape = segmentIds.shape;
  if (idShape.some((d, i) => x.shape[i] !== d)) {
    throw new Error(`${UnsortedSegmentSum}: segmentIds shape [${idShape.join(',')}] is not a prefix of [${x.shape.join(',')}]`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`${UnsortedSegmentSum}: unsupported dtype ${x.dtype}`);
  const numSegments = attrs.numSegments;
  const inner = util.sizeFromShape(x.shape.slice(idShape.length));
  const out = backend.makeOutput([numSegments, ...x.shape.slice(idShape.length)], x.dtype);
  const xs = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = backend.typedArrayFromHeap(segmentIds);
  const o = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  o.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= numSegments) continue;
    const s = i * inner;
    const d = id * inner;
    for (let k = 0; k < inner; k++) o[d + k] = o[d + k]! + xs[s + k]!;
  }
  return out;
}

export const unsortedSegmentSumConfig = wasmKernel(UnsortedSegmentSum, unsortedSegmentSum);
