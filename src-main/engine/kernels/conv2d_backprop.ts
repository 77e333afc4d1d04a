/**
 * Conv2D gradients for the wasm backend, both expressed as ONE forward convolution so that
 * XNNPACK's conv does the arithmetic (TFJS-NOTES: 5-6x faster than im2col+matMul for the filter
 * gradient; stock Conv2DBackpropInput is a naive loop ~7x slower than XNNPACK's conv2d).
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
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { assertNHWC, f32, free, freeAlias, heapF32, runWasm, shape4, type BackendWasm } from './wasm_util';

type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

function conv(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, pad: ExplicitPad, dilations: [number, number]): TensorInfo {
  const attrs = { strides: [1, 1], pad, dataFormat: 'NHWC', dilations } as unknown as NamedAttrMap;
  return runWasm(backend, Conv2D, { x, filter }, attrs);
}

/**
 * dW[i,j,ci,co] = sum_{n,oh,ow} x[n, oh*s+i-pt, ow*s+j-pl, ci] * dy[n,oh,ow,co]
 * is a stride-1 convolution of x viewed as [Ci, H, W, N] with dy viewed as a [Ho, Wo, N, Co]
 * filter dilated by the stride; the [Ci, kh', kw', Co] result is cropped to kh x kw.
 */
type ConvInfo = ReturnType<typeof backend_util.computeConv2DInfo>;

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

export function conv2dBackpropFilter(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: BackendWasm; attrs: Conv2DBackpropFilterAttrs }): TensorInfo {
  const { x, dy } = args.inputs;
  const info = filterGradInfo(x, dy, args.attrs);
  return process.env['HEATSEG_DW'] === 'conv' ? filterGradConv(args.backend, x, dy, info) : filterGradGemm(args.backend, x, dy, info);
}

/** The one-convolution formulation (see the file comment). */
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
  const r = conv(backend, xt, dyt, [[0, 0], [pt, pb], [pl, pr], [0, 0]], [sh, sw]);
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
 * dW as one GEMM, [kh*kw*Ci, N*Ho*Wo] x [N*Ho*Wo, Co]: the left side is x's patches laid out
 * tap-major (built here from x transposed to [Ci, N, H, W], so each row is a run of shifted row
 * copies), the right side is dy as it is. XNNPACK's fully-connected GEMM then streams long
 * contiguous rows, where the convolution formulation iterates taps of only N channels and
 * re-packs the whole dy as a filter on every call.
 */
export function filterGradGemm(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: ConvInfo, chunk = gemmChunk()): TensorInfo {
  const { batchSize: n, inHeight: H, inWidth: W, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const m = kh * kw * ci;
  const out = backend.makeOutput([kh, kw, ci, co], 'float32');
  f32(backend, out).fill(0);
  if (n * ho * wo === 0) return out;
  // Blocks of whole output rows: XNNPACK's GEMM does not block K, so a K of 10^5 streams both
  // operands from memory; ~chunk columns keep them in cache and bound the patch buffer.
  const rowsPer = Math.max(1, Math.min(n * ho, Math.floor(chunk / wo)));
  const kMax = rowsPer * wo;
  const xt = runWasm(backend, Transpose, { x }, { perm: [3, 0, 1, 2] });
  const a = backend.makeOutput([1, m, kMax], 'float32');
  const plane = n * H * W;
  const dyOffset = backend.dataIdMap.get(dy.dataId).memoryOffset;
  for (let r0 = 0; r0 < n * ho; r0 += rowsPer) {
    const rows = Math.min(rowsPer, n * ho - r0);
    const k = rows * wo;
    {
      const { heap, at: srcAt } = heapF32(backend, xt);
      const dstAt = heapF32(backend, a).at;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          // output columns whose input column ow*sw + j - pl lies inside [0, W)
          const lo = Math.min(wo, Math.max(0, Math.ceil((pl - j) / sw)));
          const hi = Math.max(lo, Math.min(wo, Math.floor((W - 1 + pl - j) / sw) + 1));
          for (let c = 0; c < ci; c++) {
            let d = dstAt + ((i * kw + j) * ci + c) * k;
            const cBase = srcAt + c * plane;
            for (let r = r0; r < r0 + rows; r++, d += wo) {
              const b = Math.floor(r / ho);
              const y = (r - b * ho) * sh + i - pt;
              if (y < 0 || y >= H) {
                heap.fill(0, d, d + wo);
                continue;
              }
              if (lo > 0) heap.fill(0, d, d + lo);
              if (hi < wo) heap.fill(0, d + hi, d + wo);
              const s = cBase + (b * H + y) * W + lo * sw + j - pl;
              if (sw === 1) {
                heap.copyWithin(d + lo, s, s + hi - lo);
              } else {
                for (let ox = lo, t = s; ox < hi; ox++, t += sw) heap[d + ox] = heap[t]!;
              }
            }
          }
        }
      }
    }
    const aView: TensorInfo = { dataId: a.dataId, shape: [1, m, k], dtype: 'float32' };
    // dy's rows r0.. are contiguous in NHWC: borrow them in place
    const b = backend.makeOutput([1, k, co], 'float32', dyOffset + r0 * wo * co * 4);
    const part = runWasm(backend, BatchMatMul, { a: aView, b }, { transposeA: false, transposeB: false });
    freeAlias(backend, b);
    const acc = f32(backend, out);
    const p = f32(backend, part);
    for (let e = 0; e < acc.length; e++) acc[e] = acc[e]! + p[e]!;
    free(backend, part);
  }
  free(backend, xt, a);
  return out;
}

function gemmChunk(): number {
  const v = Number(process.env['HEATSEG_DW_CHUNK']);
  return Number.isFinite(v) && v > 0 ? v : 8192;
}

/**
 * dx = conv(dy with (s-1) zeros between samples, W flipped in space with in/out swapped),
 * padded by k-1-pad on the top/left; negative paddings are turned into crops.
 */
export function conv2dBackpropInput(args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: BackendWasm; attrs: Conv2DBackpropInputAttrs }): TensorInfo {
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
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const [dn, dh, dw, dc] = shape4(dy, Conv2DBackpropInput);
  if (dn !== n || dh !== ho || dw !== wo || dc !== co) {
    throw new Error(`${Conv2DBackpropInput}: dy shape [${dy.shape.join(',')}] does not match [${info.outShape.join(',')}]`);
  }
  const inShape = [n, H, W, ci];
  if (ho === 0 || wo === 0 || n === 0 || H === 0 || W === 0) {
    const z = backend.makeOutput(inShape, 'float32');
    f32(backend, z).fill(0);
    return z;
  }
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;

  // Spatially flipped kernel with in/out channels swapped: [kh, kw, Co, Ci].
  const wf = backend.makeOutput([kh, kw, co, ci], 'float32');
  {
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
  }

  let src = dy;
  const hd = (ho - 1) * sh + 1;
  const wd = (wo - 1) * sw + 1;
  if (sh > 1 || sw > 1) {
    src = backend.makeOutput([n, hd, wd, co], 'float32');
    const d = f32(backend, dy);
    const u = f32(backend, src);
    u.fill(0);
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < ho; y++) {
        for (let x = 0; x < wo; x++) {
          const s = ((b * ho + y) * wo + x) * co;
          u.set(d.subarray(s, s + co), ((b * hd + y * sh) * wd + x * sw) * co);
        }
      }
    }
  }

  const top = kh - 1 - pt;
  const bottom = H - hd + pt;
  const left = kw - 1 - pl;
  const right = W - wd + pl;
  const r = conv(
    backend,
    src,
    wf,
    [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]],
    [1, 1],
  );
  free(backend, wf);
  if (src !== dy) free(backend, src);
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) {
    r.shape = inShape;
    return r;
  }
  // Explicit paddings larger than the kernel: crop the oversize result.
  const [, rh, rw] = shape4(r, Conv2DBackpropInput);
  const oy = Math.max(-top, 0);
  const ox = Math.max(-left, 0);
  const out = backend.makeOutput(inShape, 'float32');
  const a = f32(backend, r);
  const o = f32(backend, out);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < H; y++) {
      const s = ((b * rh + y + oy) * rw + ox) * ci;
      o.set(a.subarray(s, s + W * ci), (b * H + y) * W * ci);
    }
  }
  free(backend, r);
  return out;
}

export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter as unknown as KernelFunc,
};

export const conv2dBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropInput as unknown as KernelFunc,
};
