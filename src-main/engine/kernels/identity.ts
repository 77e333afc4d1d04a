/**
 * Identity and same-dtype Cast that share the input's buffer (refcounted) instead of copying it;
 * Cast to bool computed as x != 0 (stock wasm kept the raw value).
 * While recording gradients the engine clones every tensor it saves for the backward pass
 * (Engine.saveTensorsForBackwardMode -> Identity), and the relu gradient casts float32 to float32;
 * stock wasm copies each time (~13 ms of a 165 ms 128px VGG-lite step). Tensors are immutable, so
 * sharing is what the cpu backend does too and what wasm's own Reshape does.
 */
import { Cast, Identity, type CastAttrs, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import { wasmKernel, type BackendWasm } from './wasm_util';

/** The stock kernels, for what we do not handle (strings, real casts); set at registration. */
const fallback: { identity?: KernelFunc; cast?: KernelFunc } = {};

export function setIdentityFallbacks(identity: KernelFunc | undefined, cast: KernelFunc | undefined): void {
  fallback.identity = identity;
  fallback.cast = cast;
}

function share(backend: BackendWasm, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

function identity(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs?: object }): TensorInfo | TensorInfo[] {
  const { x } = args.inputs;
  if (x.dtype !== 'string') return share(args.backend, x);
  if (!fallback.identity) throw new Error('stock wasm Identity kernel missing');
  return fallback.identity(args as unknown as Parameters<KernelFunc>[0]);
}

function cast(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: CastAttrs }): TensorInfo | TensorInfo[] {
  const { x } = args.inputs;
  const { backend } = args;
  if (x.dtype === args.attrs.dtype && x.dtype !== 'string') return share(backend, x);
  if (args.attrs.dtype === 'bool' && (x.dtype === 'float32' || x.dtype === 'int32')) {
    // stock wasm copies the raw numbers into the bool buffer (2 stays 2); TF casts to x != 0
    const out = backend.makeOutput(x.shape, 'bool');
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    for (let k = 0; k < src.length; k++) dst[k] = src[k] !== 0 ? 1 : 0;
    return out;
  }
  if (!fallback.cast) throw new Error('stock wasm Cast kernel missing');
  return fallback.cast(args as unknown as Parameters<KernelFunc>[0]);
}

export const identityConfig = wasmKernel(Identity, identity);

export const castConfig = wasmKernel(Cast, cast);
