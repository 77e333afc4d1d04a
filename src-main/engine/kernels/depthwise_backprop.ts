/**
 * Depthwise conv gradients, missing from the wasm backend (training a depthwise layer fails with
 * "Kernel not registered"). Plain loops over the heap: correct and O(work), not XNNPACK-fast.
 */
import {
  backend_util,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { f32, shape4, type BackendWasm } from './wasm_util';

type Geometry = ReturnType<typeof backend_util.computeConv2DInfo>;

/** Calls visit(xOffset, dyOffset, filterOffset) for every in-bounds tap of every output pixel. */
function forEachTap(info: Geometry, visit: (xo: number, dyo: number, fo: number) => void): void {
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
            const x = ox * sw + j * dw - pl;
            if (x < 0 || x >= W) continue;
            visit(((b * H + y) * W + x) * ci, dyo, (i * kw + j) * ci * m);
          }
        }
      }
    }
  }
}

export function depthwiseBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: DepthwiseConv2dNativeBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const fShape = shape4(inputs.filter, DepthwiseConv2dNativeBackpropInput);
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape, fShape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true,
  );
  const dx = backend.makeOutput(attrs.inputShape, 'float32');
  const g = f32(backend, inputs.dy);
  const w = f32(backend, inputs.filter);
  const o = f32(backend, dx);
  o.fill(0);
  const ci = info.inChannels;
  const m = fShape[3];
  forEachTap(info, (xo, dyo, fo) => {
    for (let c = 0; c < ci; c++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += g[dyo + c * m + k]! * w[fo + c * m + k]!;
      o[xo + c] = o[xo + c]! + s;
    }
  });
  return dx;
}

export function depthwiseBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const info = backend_util.computeConv2DInfo(
    shape4(inputs.x, DepthwiseConv2dNativeBackpropFilter), attrs.filterShape, attrs.strides, attrs.dilations,
    attrs.pad, attrs.dimRoundingMode, true,
  );
  const dw = backend.makeOutput(attrs.filterShape, 'float32');
  const x = f32(backend, inputs.x);
  const g = f32(backend, inputs.dy);
  const o = f32(backend, dw);
  o.fill(0);
  const ci = info.inChannels;
  const m = attrs.filterShape[3];
  forEachTap(info, (xo, dyo, fo) => {
    for (let c = 0; c < ci; c++) {
      const v = x[xo + c]!;
      for (let k = 0; k < m; k++) o[fo + c * m + k] = o[fo + c * m + k]! + v * g[dyo + c * m + k]!;
    }
  });
  return dw;
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
