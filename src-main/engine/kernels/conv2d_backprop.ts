/**
 * Conv2D gradients for the wasm backend, with XNNPACK doing the arithmetic.
 * - input gradient: one forward conv with the flipped, in/out-swapped kernel (stock
 *   Conv2DBackpropInput is a naive loop, ~11x slower).
 * - filter gradient (missing in wasm): by default a blocked GEMM on x's patches (1.3-2x faster
 *   than the one-convolution formulation of TFJS-NOTES on VGG-lite layers, see
 *   bench/results/kernels.txt); the one-convolution version is kept as an option.
 */
import {
  backend_util,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  BatchMatMul,
  Transpose,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { assertNHWC, borrow, f32, free, heapF32, release, runWasm, shape4, wasmKernel, type BackendWasm } from './wasm_util';

export type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

function conv(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, pad: ExplicitPad, dilations: [number, number]): TensorInfo {
  const attrs = { strides: [1, 1], pad, dataFormat: 'NHWC', dilations } as unknown as NamedAttrMap;
  return runWasm(backend, Conv2D, { x, filter }, attrs);
}

export type ConvInfo = ReturnType<typeof backend_util.computeConv2DInfo>;

function filterGradInfo(x: TensorInfo, dy: TensorInfo, attrs: Conv2DBackpropFilterAttrs): ConvInfo {
  assertNHWC(attrs.dataFormat, Conv2DBackpropFilter);
  const info = backend_util.computeConv2DInfo(
    shape4(x, Conv2DBackpropFilter),
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const [dn, dh, dw, dc] = shape4(dy, Conv2DBackpropFilter);
  if (dn !== info.batchSize || dh !== info.outHeight || dw !== info.outWidth || dc !== info.outChannels) {
    throw new Error(`${Conv2DBackpropFilter}: dy shape [${dy.shape.join(',')}] does not match [${info.outShape.join(',')}]`);
  }
  return info;
}

export interface FilterGradOptions {
  /** 'gemm' (default, fastest measured) or 'conv' (the one-convolution formulation). */
  method: 'gemm' | 'conv';
  /** Target GEMM columns (N*Ho*Wo positions) per block; 4096 measured best for VGG-lite. */
  gemmChunk: number;
  /** Cap on the patch buffer, in floats (it holds kh*kw*Ci rows of one block). */
  maxPatchFloats: number;
}

const filterGradOptions: FilterGradOptions = { method: 'gemm', gemmChunk: 4096, maxPatchFloats: 4 << 20 };

/** For benchmarks and tests; returns the previous options. */
export function setFilterGradOptions(options: Partial<FilterGradOptions>): FilterGradOptions {
  const previous = { ...filterGradOptions };
  Object.assign(filterGradOptions, options);
  return previous;
}

export function conv2dBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropFilterAttrs;
}): TensorInfo {
  const { x, dy } = args.inputs;
  const info = filterGradInfo(x, dy, args.attrs);
  return filterGradOptions.method === 'conv' ? filterGradConv(args.backend, x, dy, info) : filterGradGemm(args.backend, x, dy, info);
}

/**
 * dW[i,j,ci,co] = sum_{n,oh,ow} x[n, oh*s+i-pt, ow*s+j-pl, ci] * dy[n,oh,ow,co]
 * is a stride-1 convolution of x viewed as [Ci, H, W, N] with dy viewed as a [Ho, Wo, N, Co]
 * filter dilated by the stride; the [Ci, kh', kw', Co] result is cropped to kh x kw.
 * Slower than the GEMM: its taps carry only N channels each, and XNNPACK re-packs all of dy as
 * a filter (transpose + pack) on every call.
 */
export function filterGradConv(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: ConvInfo): TensorInfo {
  const { inHeight: H, inWidth: W, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  // Extra bottom/right zeros so that the result has at least kh x kw taps; a negative need
  // (input rows the forward conv never read, e.g. 'valid' with stride 2) is cropped instead.
  const pb = Math.max(0, kh + (ho - 1) * sh - H - pt);
  const pr = Math.max(0, kw + (wo - 1) * sw - W - pl);
  const rh = H + pt + pb - (ho - 1) * sh;
  const rw = W + pl + pr - (wo - 1) * sw;

  const out = backend.makeOutput([kh, kw, ci, co], 'float32');
  if (ho === 0 || wo === 0 || info.batchSize === 0) {
    f32(backend, out).fill(0);
    return out;
  }
  const xt = runWasm(backend, Transpose, { x }, { perm: [3, 1, 2, 0] });
  const dyt = runWasm(backend, Transpose, { x: dy }, { perm: [1, 2, 0, 3] });
  const r = conv(
    backend,
    xt,
    dyt,
    [
      [0, 0],
      [pt, pb],
      [pl, pr],
      [0, 0],
    ],
    [sh, sw],
  );
  free(backend, xt, dyt);
  const src = f32(backend, r);
  const dst = f32(backend, out);
  // [Ci, rh, rw, Co] -> [kh, kw, Ci, Co], keeping the first kh x kw taps.
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const dBase = (i * kw + j) * ci * co;
      for (let c = 0; c < ci; c++) {
        const s = ((c * rh + i) * rw + j) * co;
        dst.set(src.subarray(s, s + co), dBase + c * co);
      }
    }
  }
  free(backend, r);
  return out;
}

/**
 * dW = P x dy, with P = [kh*kw*Ci, N*Ho*Wo] the patch matrix of x (tap-major rows, so the result
 * is HWIO as it stands; built from x transposed to [Ci, N, H, W], each row a few block copies)
 * and dy read in place as [N*Ho*Wo, Co]. XNNPACK's fully-connected GEMM streams long contiguous
 * rows; it packs dy as its weights, one cheap pass.
 */
export function filterGradGemm(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: ConvInfo): TensorInfo {
  const { batchSize: n, inHeight: H, inWidth: W, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const m = kh * kw * ci;
  const out = backend.makeOutput([kh, kw, ci, co], 'float32');
  f32(backend, out).fill(0);
  if (n * ho * wo === 0) return out;
  // Blocks of whole output rows: XNNPACK's GEMM does not block K, so a K of 10^5 streams both
  // operands from memory; ~chunk columns keep them in cache and bound the patch buffer.
  const chunk = Math.min(filterGradOptions.gemmChunk, Math.floor(filterGradOptions.maxPatchFloats / m));
  const rowsPer = Math.max(1, Math.min(n * ho, Math.floor(chunk / wo)));
  const kMax = rowsPer * wo;
  const xt = runWasm(backend, Transpose, { x }, { perm: [3, 0, 1, 2] });
  const a = backend.makeOutput([1, m, kMax], 'float32');
  const plane = n * H * W;
  for (let r0 = 0; r0 < n * ho; r0 += rowsPer) {
    const rows = Math.min(rowsPer, n * ho - r0);
    const k = rows * wo;
    {
      const { heap, at: srcAt } = heapF32(backend, xt);
      const dstAt = heapF32(backend, a).at;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          for (let c = 0; c < ci; c++) {
            patchRow(heap, dstAt + ((i * kw + j) * ci + c) * k, srcAt + c * plane, r0, rows, i, j, info);
          }
        }
      }
    }
    const aView: TensorInfo = { dataId: a.dataId, shape: [1, m, k], dtype: 'float32' };
    // dy's rows r0.. are contiguous in NHWC: read them in place
    const b = borrow(backend, dy, [1, k, co], r0 * wo * co);
    const part = runWasm(backend, BatchMatMul, { a: aView, b }, { transposeA: false, transposeB: false });
    release(backend, b);
    const acc = f32(backend, out);
    const p = f32(backend, part);
    for (let e = 0; e < acc.length; e++) acc[e] = acc[e]! + p[e]!;
    free(backend, part);
  }
  free(backend, xt, a);
  return out;
}

/**
 * One row of the patch matrix: tap (i, j) of one input channel for output rows r0..r0+rows
 * (row = image * Ho + oh), i.e. x[n, oh*sh + i - pt, ow*sw + j - pl] with zeros outside.
 * src indexes that channel's [N, H, W] plane. For stride 1 with Wo == W ('same') the rows of one
 * image are a single shifted block copy plus a zeroed border column.
 */
function patchRow(heap: Float32Array, d: number, src: number, r0: number, rows: number, i: number, j: number, info: ConvInfo): void {
  const { inHeight: H, inWidth: W, outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const shift = j - pl;
  const rEnd = r0 + rows;
  if (sh === 1 && sw === 1 && wo === W && Math.abs(shift) < W) {
    for (let r = r0; r < rEnd;) {
      const b = Math.floor(r / ho);
      const ohA = r - b * ho;
      const ohB = Math.min(rEnd - b * ho, ho);
      const vlo = Math.min(ohB, Math.max(ohA, pt - i));
      const vhi = Math.min(ohB, Math.max(vlo, H + pt - i));
      const base = d + (b * ho - r0) * wo; // index of row oh is base + oh * wo
      if (vlo > ohA) heap.fill(0, base + ohA * wo, base + vlo * wo);
      if (vhi > vlo) {
        const dd = base + vlo * wo;
        const ss = src + (b * H + vlo + i - pt) * W;
        const len = (vhi - vlo) * W;
        if (shift >= 0) {
          heap.copyWithin(dd, ss + shift, ss + len);
          for (let q = dd + W - shift; q < dd + len; q += W) for (let z = 0; z < shift; z++) heap[q + z] = 0;
        } else {
          heap.copyWithin(dd - shift, ss, ss + len + shift);
          for (let q = dd; q < dd + len; q += W) for (let z = 0; z < -shift; z++) heap[q + z] = 0;
        }
      }
      if (ohB > vhi) heap.fill(0, base + vhi * wo, base + ohB * wo);
      r = b * ho + ohB;
    }
    return;
  }
  // output columns whose input column ow*sw + j - pl lies inside [0, W)
  const lo = Math.min(wo, Math.max(0, Math.ceil(-shift / sw)));
  const hi = Math.max(lo, Math.min(wo, Math.floor((W - 1 - shift) / sw) + 1));
  for (let r = r0; r < rEnd; r++, d += wo) {
    const b = Math.floor(r / ho);
    const y = (r - b * ho) * sh + i - pt;
    if (y < 0 || y >= H) {
      heap.fill(0, d, d + wo);
      continue;
    }
    if (lo > 0) heap.fill(0, d, d + lo);
    if (hi < wo) heap.fill(0, d + hi, d + wo);
    const s = src + (b * H + y) * W + lo * sw + shift;
    if (sw === 1) {
      heap.copyWithin(d + lo, s, s + hi - lo);
    } else {
      for (let ox = lo, t = s; ox < hi; ox++, t += sw) heap[d + ox] = heap[t]!;
    }
  }
}

/**
 * dx = conv(dy with (s-1) zeros between samples, W flipped in space with in/out swapped),
 * padded by k-1-pad on the top/left; negative paddings are turned into crops.
 */
export function conv2dBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  assertNHWC(attrs.dataFormat, Conv2DBackpropInput);
  const fShape = shape4(filter, Conv2DBackpropInput);
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    fShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: n, inHeight: H, inWidth: W, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const [dn, dh, dw, dc] = shape4(dy, Conv2DBackpropInput);
  if (dn !== n || dh !== ho || dw !== wo || dc !== co) {
    throw new Error(`${Conv2DBackpropInput}: dy shape [${dy.shape.join(',')}] does not match [${info.outShape.join(',')}]`);
  }
  if (ho === 0 || wo === 0 || n === 0 || H === 0 || W === 0) {
    const z = backend.makeOutput([n, H, W, ci], 'float32');
    f32(backend, z).fill(0);
    return z;
  }

  const wf = flippedKernel(backend, filter, kh, kw, ci, co);
  return transposedViaForward(backend, dy, info, kh, kw, (src, pad) => conv(backend, src, wf, pad, [1, 1]));
}

/**
 * Flipped kernels kept per filter tensor. A training step runs several input gradients through
 * each filter (the backward pass, and the LRP decoder's relevance pass and its own backward), and
 * every new kernel tensor makes XNNPACK create and pack a convolution operator again: ~1 ms a call
 * at darknet-tiny's sizes whatever the batch, so a fixed cost every data-parallel shard paid again
 * (bench/batch-cost.ts). Keyed by the filter's dataId object — a tensor's values never change under
 * one dataId — and freed (with the operators XNNPACK cached on it) once the filter's data is gone.
 */
const flippedCache = new WeakMap<BackendWasm, Map<object, TensorInfo>>();
/** Entries kept at most (a model's filters, a few times over: older ones are freed first). */
const FLIPPED_CACHE_MAX = 512;

/** The spatially flipped kernel with in/out channels swapped, [kh, kw, Co, Ci], of `filter` [kh, kw, Ci, Co]. */
function flippedKernel(backend: BackendWasm, filter: TensorInfo, kh: number, kw: number, ci: number, co: number): TensorInfo {
  let cache = flippedCache.get(backend);
  if (!cache) flippedCache.set(backend, (cache = new Map()));
  const hit = cache.get(filter.dataId);
  if (hit) return hit;
  sweepKernelCaches(backend);
  // still full: the oldest go (a Map iterates in insertion order)
  for (const [key, wf] of cache) {
    if (cache.size < FLIPPED_CACHE_MAX) break;
    free(backend, wf);
    cache.delete(key);
  }
  const wf = backend.makeOutput([kh, kw, co, ci], 'float32');
  const w = f32(backend, filter);
  const o = f32(backend, wf);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const sBase = ((kh - 1 - i) * kw + (kw - 1 - j)) * ci * co;
      const dBase = (i * kw + j) * co * ci;
      for (let c = 0; c < ci; c++) {
        const s = sBase + c * co;
        for (let d = 0; d < co; d++) o[dBase + d * ci + c] = w[s + d]!;
      }
    }
  }
  cache.set(filter.dataId, wf);
  return wf;
}

/**
 * Frees the cached flipped kernels whose filters are gone (a variable's old values after an
 * update); runs before every new entry. Returns how many entries remain.
 */
export function sweepKernelCaches(backend: BackendWasm): number {
  const cache = flippedCache.get(backend);
  if (!cache) return 0;
  for (const [key, wf] of cache) {
    if (backend.dataIdMap.has(key)) continue;
    free(backend, wf);
    cache.delete(key);
  }
  return cache.size;
}

/**
 * The input gradient of a stride-s convolution as a stride-1 forward one: dy gets s-1 zeros
 * between samples, then `forward` (a conv with an already flipped kernel of effective size
 * ekh x ekw) runs with top/left pads ek-1-pad; bottom/right pads make the result H x W, and
 * negative pads (explicit paddings past the kernel) become a crop. Frees nothing it was given.
 */
export function transposedViaForward(
  backend: BackendWasm,
  dy: TensorInfo,
  info: ConvInfo,
  ekh: number,
  ekw: number,
  forward: (src: TensorInfo, pad: ExplicitPad) => TensorInfo,
): TensorInfo {
  const { batchSize: n, inHeight: H, inWidth: W, outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const co = dy.shape[3]!;
  let src = dy;
  const hd = (ho - 1) * sh + 1;
  const wd = (wo - 1) * sw + 1;
  if (sh > 1 || sw > 1) {
    src = backend.makeOutput([n, hd, wd, co], 'float32');
    const { heap, at: from } = heapF32(backend, dy);
    const to = heapF32(backend, src).at;
    heap.fill(0, to, to + n * hd * wd * co);
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < ho; y++) {
        for (let x = 0; x < wo; x++) {
          const s = from + ((b * ho + y) * wo + x) * co;
          heap.copyWithin(to + ((b * hd + y * sh) * wd + x * sw) * co, s, s + co);
        }
      }
    }
  }
  const top = ekh - 1 - pt;
  const bottom = H - hd + pt;
  const left = ekw - 1 - pl;
  const right = W - wd + pl;
  const r = forward(src, [
    [0, 0],
    [Math.max(top, 0), Math.max(bottom, 0)],
    [Math.max(left, 0), Math.max(right, 0)],
    [0, 0],
  ]);
  if (src !== dy) free(backend, src);
  const [, rh, rw, rc] = shape4(r, 'transposed convolution');
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) return r;
  const oy = Math.max(-top, 0);
  const ox = Math.max(-left, 0);
  const out = backend.makeOutput([n, H, W, rc], 'float32');
  const { heap, at: from } = heapF32(backend, r);
  const to = heapF32(backend, out).at;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < H; y++) {
      const s = from + ((b * rh + y + oy) * rw + ox) * rc;
      heap.copyWithin(to + (b * H + y) * W * rc, s, s + W * rc);
    }
  }
  free(backend, r);
  return out;
}

export const conv2dBackpropFilterConfig = wasmKernel(Conv2DBackpropFilter, conv2dBackpropFilter);

export const conv2dBackpropInputConfig = wasmKernel(Conv2DBackpropInput, conv2dBackpropInput);
