/**
 * Depthwise conv gradients, missing from the wasm backend (training a depthwise layer fails with
 * "Kernel not registered"). Input gradient on XNNPACK; filter gradient as plain loops over the
 * heap (~3 ns per multiply-add in V8: correct, not fast).
 */
import {
  backend_util,
  DepthwiseConv2dNative,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
  Sum,
  Transpose,
} from '@tensorflow/tfjs';
import { transposedViaForward } from './conv2d_backprop';
import { f32, free, runWasm, shape4, type BackendWasm } from './wasm_util';

type Geometry = ReturnType<typeof backend_util.computeConv2DInfo>;

/**
 * The one loop nest both gradients share: for every output pixel and in-bounds tap, combine the
 * Ci*M channel vectors. mode 'input' accumulates dx, 'filter' accumulates dW. Inlined rather than
 * a per-tap callback, which V8 did not inline (5x slower).
 */
function depthwiseLoops(info: Geometry, mode: 'input' | 'filter', x: Float32Array, g: Float32Array, w: Float32Array): void {
  const { batchSize: n, inHeight: H, inWidth: W, inChannels: ci, outHeight: ho, outWidth: wo } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const m = info.outChannels / ci;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const dyo = ((b * ho + oy) * wo + ox) * ci * m;
        for (let i = 0; i < kh; i++) {
          const y = oy * sh + i * dh - pt;
          if (y < 0 || y >= H) continue;
          for (let j = 0; j < kw; j++) {
            const xx = ox * sw + j * dw - pl;
            if (xx < 0 || xx >= W) continue;
            const xo = ((b * H + y) * W + xx) * ci;
            const fo = (i * kw + j) * ci * m;
            if (m === 1) {
              if (mode === 'input') for (let c = 0; c < ci; c++) x[xo + c] = x[xo + c]! + g[dyo + c]! * w[fo + c]!;
              else for (let c = 0; c < ci; c++) w[fo + c] = w[fo + c]! + x[xo + c]! * g[dyo + c]!;
            } else if (mode === 'input') {
              for (let c = 0; c < ci; c++) {
                let s = 0;
                for (let k = 0; k < m; k++) s += g[dyo + c * m + k]! * w[fo + c * m + k]!;
                x[xo + c] = x[xo + c]! + s;
              }
            } else {
              for (let c = 0; c < ci; c++) {
                const v = x[xo + c]!;
                for (let k = 0; k < m; k++) w[fo + c * m + k] = w[fo + c * m + k]! + v * g[dyo + c * m + k]!;
              }
            }
          }
        }
      }
    }
  }
}

/**
 * dx as one XNNPACK depthwise conv of dy (zeros between samples for stride > 1) with the
 * spatially flipped kernel viewed as [kh, kw, Ci*M, 1]; a channel multiplier M > 1 then sums
 * each group of M channels.
 */
export function depthwiseBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: DepthwiseConv2dNativeBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const fShape = shape4(inputs.filter, DepthwiseConv2dNativeBackpropInput);
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    fShape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const [n, H, W, ci] = attrs.inputShape;
  const [kh, kw, , m] = fShape;
  if (size(info.outShape) === 0 || n * H * W * ci === 0) {
    const z = backend.makeOutput(attrs.inputShape, 'float32');
    f32(backend, z).fill(0);
    return z;
  }
  const wf = backend.makeOutput([kh, kw, ci * m, 1], 'float32');
  {
    const w = f32(backend, inputs.filter);
    const o = f32(backend, wf);
    const taps = ci * m;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const s0 = ((kh - 1 - i) * kw + (kw - 1 - j)) * taps;
        o.set(w.subarray(s0, s0 + taps), (i * kw + j) * taps);
      }
    }
  }
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const r = transposedViaForward(backend, inputs.dy, info, (kh - 1) * dh + 1, (kw - 1) * dw + 1, (src, pad) =>
    runWasm(backend, DepthwiseConv2dNative, { x: src, filter: wf }, {
      strides: [1, 1],
      pad,
      dilations: [dh, dw],
    } as unknown as NamedAttrMap),
  );
  free(backend, wf);
  if (m === 1) return r;
  const grouped: TensorInfo = { dataId: r.dataId, shape: [n, H, W, ci, m], dtype: 'float32' };
  const dx = runWasm(backend, Sum, { x: grouped }, { axis: [4], keepDims: false });
  free(backend, r);
  return dx;
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

export function depthwiseBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const info = backend_util.computeConv2DInfo(
    shape4(inputs.x, DepthwiseConv2dNativeBackpropFilter),
    attrs.filterShape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  if (attrs.filterShape[3] === 1 && info.dilationHeight === 1 && info.dilationWidth === 1 && size(info.outShape) > 0) {
    return filterGradDepthwiseConv(backend, inputs.x, inputs.dy, info);
  }
  const dw = backend.makeOutput(attrs.filterShape, 'float32');
  const x = f32(backend, inputs.x);
  const g = f32(backend, inputs.dy);
  const o = f32(backend, dw);
  o.fill(0);
  depthwiseLoops(info, 'filter', x, g, o);
  return dw;
}

/**
 * Multiplier 1: per channel, dW is the correlation of x with dy summed over the batch, i.e. one
 * XNNPACK depthwise conv of x viewed as [1, H, W, N*C] with dy viewed as a [Ho, Wo, N*C, 1]
 * filter dilated by the stride (as for Conv2DBackpropFilter's one-conv formulation), then a sum
 * over N of the kh x kw taps. ~1.5x faster than the loops.
 */
function filterGradDepthwiseConv(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: Geometry): TensorInfo {
  const { batchSize: n, inHeight: H, inWidth: W, inChannels: c, outHeight: ho, outWidth: wo } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const pb = Math.max(0, kh + (ho - 1) * sh - H - pt);
  const pr = Math.max(0, kw + (wo - 1) * sw - W - pl);
  const xt = runWasm(backend, Transpose, { x }, { perm: [1, 2, 0, 3] });
  const dyt = runWasm(backend, Transpose, { x: dy }, { perm: [1, 2, 0, 3] });
  const r = runWasm(
    backend,
    DepthwiseConv2dNative,
    {
      x: { dataId: xt.dataId, shape: [1, H, W, n * c], dtype: 'float32' },
      filter: { dataId: dyt.dataId, shape: [ho, wo, n * c, 1], dtype: 'float32' },
    },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [pt, pb],
        [pl, pr],
        [0, 0],
      ],
      dilations: [sh, sw],
    } as unknown as NamedAttrMap,
  );
  free(backend, xt, dyt);
  const rw = r.shape[2]!;
  const out = backend.makeOutput([kh, kw, c, 1], 'float32');
  const src = f32(backend, r);
  const dst = f32(backend, out);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const d = (i * kw + j) * c;
      const s0 = (i * rw + j) * n * c;
      for (let k = 0; k < c; k++) {
        let acc = 0;
        for (let b = 0; b < n; b++) acc += src[s0 + b * c + k]!;
        dst[d + k] = acc;
      }
    }
  }
  free(backend, r);
  return out;
}

export const depthwiseBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as KernelFunc,
};

export const depthwiseBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as unknown as KernelFunc,
};
