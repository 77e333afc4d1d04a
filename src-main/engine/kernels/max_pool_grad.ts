/**
 * MaxPoolGrad for wasm. The stock kernel misroutes the gradient in windows whose max is <= 0
 * (wrong after LeakyReLU) and took 162 of 559 ms of a 224 encoder step. Routing rule (as TF):
 * each output's gradient goes to ONE input, the first maximum of its window in row-major order;
 * padding never wins.
 */
import { backend_util, MaxPoolGrad, type KernelConfig, type KernelFunc, type MaxPoolGradAttrs, type TensorInfo } from '@tensorflow/tfjs';
import { f32, shape4, type BackendWasm } from './wasm_util';

export function maxPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo; output?: TensorInfo };
  backend: BackendWasm;
  attrs: MaxPoolGradAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  const xs = shape4(input, MaxPoolGrad);
  const info = backend_util.computePool2DInfo(xs, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const [n, H, W, C] = xs;
  const { outHeight: ho, outWidth: wo } = info;
  const [dn, dh, dw, dc] = shape4(dy, MaxPoolGrad);
  if (dn !== n || dh !== ho || dw !== wo || dc !== C) {
    throw new Error(`${MaxPoolGrad}: dy shape [${dy.shape.join(',')}] does not match [${info.outShape.join(',')}]`);
  }
  const dx = backend.makeOutput(xs, 'float32');
  const x = f32(backend, input);
  const g = f32(backend, dy);
  const o = f32(backend, dx);
  const fh = info.filterHeight;
  const fw = info.filterWidth;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const y = inputs.output;
  const yOk = y != null && y.dtype === 'float32' && y.shape.length === 4 && y.shape.every((d, i) => d === dy.shape[i]);
  const dims: PoolDims = { n, H, W, C, ho, wo };
  if (yOk && fh === 2 && fw === 2 && info.strideHeight === 2 && info.strideWidth === 2 && pt === 0 && pl === 0) {
    pool2x2s2(x, f32(backend, y), g, o, dims);
  } else {
    general(x, g, o, dims, { fh, fw, sh: info.strideHeight, sw: info.strideWidth, pt, pl });
  }
  return dx;
}

/** Input [n, H, W, C] and output [n, ho, wo, C] sizes (NHWC). */
interface PoolDims {
  n: number;
  H: number;
  W: number;
  C: number;
  ho: number;
  wo: number;
}

const bits = (a: Float32Array): Int32Array => new Int32Array(a.buffer, a.byteOffset, a.length);

/**
 * Non-overlapping 2x2 windows (covers 'valid' and 'same', whose pads are then bottom/right only).
 * Random data makes every compare-and-branch a coin flip (~20 ns per window in V8), so full
 * windows are done branch-free on the bit patterns: a cell is "the max" if its bits equal the
 * forward output's (maxPool copies one of its inputs; +0/-0 count as equal), the first such cell
 * gets dy, and dy is routed with AND masks. Every covered cell is written exactly once.
 */
function pool2x2s2(x: Float32Array, y: Float32Array, g: Float32Array, o: Float32Array, dims: PoolDims): void {
  const { n, H, W, C, ho, wo } = dims;
  if (2 * ho < H || 2 * wo < W) o.fill(0); // 'valid' with odd sizes leaves the last row/col out
  const xi = bits(x);
  const yi = bits(y);
  const gi = bits(g);
  const oi = bits(o);
  const rowStride = W * C;
  const fullH = Math.min(ho, H >> 1);
  const fullW = Math.min(wo, W >> 1);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < fullH; oy++) {
      let p00 = (b * H + 2 * oy) * W * C;
      let q = (b * ho + oy) * wo * C;
      for (let ox = 0; ox < fullW; ox++, p00 += 2 * C, q += C) {
        const p01 = p00 + C;
        const p10 = p00 + rowStride;
        const p11 = p10 + C;
        for (let c = 0; c < C; c++) {
          const m = yi[q + c]!;
          const d = gi[q + c]!;
          // compare without the sign bit when the max is a zero
          const mask = ~((((m & 0x7fffffff) - 1) >>> 31) << 31);
          let t = (xi[p00 + c]! ^ m) & mask;
          const e0 = ~((t | -t) >> 31);
          t = (xi[p01 + c]! ^ m) & mask;
          const e1 = ~((t | -t) >> 31) & ~e0;
          t = (xi[p10 + c]! ^ m) & mask;
          const e2 = ~((t | -t) >> 31) & ~(e0 | e1);
          const e3 = ~(e0 | e1 | e2);
          oi[p00 + c] = d & e0;
          oi[p01 + c] = d & e1;
          oi[p10 + c] = d & e2;
          oi[p11 + c] = d & e3;
        }
      }
      for (let ox = fullW; ox < wo; ox++) edgeWindow(x, g, o, dims, b, oy, ox);
    }
    for (let oy = fullH; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) edgeWindow(x, g, o, dims, b, oy, ox);
    }
  }
}

/** A window cut by the bottom/right border ('same' padding with odd sizes). */
function edgeWindow(x: Float32Array, g: Float32Array, o: Float32Array, dims: PoolDims, b: number, oy: number, ox: number): void {
  const { H, W, C, ho, wo } = dims;
  const y0 = 2 * oy;
  const x0 = 2 * ox;
  const p00 = ((b * H + y0) * W + x0) * C;
  const q = ((b * ho + oy) * wo + ox) * C;
  const p01 = x0 + 1 < W ? p00 + C : -1;
  const p10 = y0 + 1 < H ? p00 + W * C : -1;
  const p11 = p01 >= 0 && p10 >= 0 ? p10 + C : -1;
  for (let c = 0; c < C; c++) {
    let best = x[p00 + c]!;
    let at = p00;
    o[p00 + c] = 0;
    for (const p of [p01, p10, p11]) {
      if (p < 0) continue;
      o[p + c] = 0;
      if (x[p + c]! > best) {
        best = x[p + c]!;
        at = p;
      }
    }
    o[at + c] = g[q + c]!;
  }
}

/** Any window: filter fh×fw, strides sh×sw, padding pt (top) and pl (left); overlapping windows add up. */
function general(
  x: Float32Array,
  g: Float32Array,
  o: Float32Array,
  dims: PoolDims,
  win: { fh: number; fw: number; sh: number; sw: number; pt: number; pl: number },
): void {
  const { n, H, W, C, ho, wo } = dims;
  const { fh, fw, sh, sw, pt, pl } = win;
  o.fill(0);
  const best = new Float32Array(C);
  const at = new Int32Array(C);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < ho; oy++) {
      const yStart = oy * sh - pt;
      for (let ox = 0; ox < wo; ox++) {
        const xStart = ox * sw - pl;
        best.fill(-Infinity);
        at.fill(-1);
        for (let i = 0; i < fh; i++) {
          const y = yStart + i;
          if (y < 0 || y >= H) continue;
          for (let j = 0; j < fw; j++) {
            const xx = xStart + j;
            if (xx < 0 || xx >= W) continue;
            const p = ((b * H + y) * W + xx) * C;
            for (let c = 0; c < C; c++) {
              const v = x[p + c]!;
              // at < 0: the first in-bounds cell is taken even if it is -Infinity or NaN
              if (v > best[c]! || at[c]! < 0) {
                best[c] = v;
                at[c] = p + c;
              }
            }
          }
        }
        const q = ((b * ho + oy) * wo + ox) * C;
        for (let c = 0; c < C; c++) {
          const a = at[c]!;
          if (a >= 0) o[a] = o[a]! + g[q + c]!;
        }
      }
    }
  }
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
