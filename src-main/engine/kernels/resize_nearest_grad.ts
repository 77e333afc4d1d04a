/**
 * ResizeNearestNeighborGrad for wasm: scatter-add of dy onto the source pixel each output pixel
 * was copied from. Integer up-scaling (the decoder's x2 unpooling) is a block sum; anything else
 * replays the forward's source-index rule (same formula as the wasm/cpu forward kernels,
 * including halfPixelCenters, which the stock gradient kernels ignore).
 */
import {
  ResizeNearestNeighborGrad,
  type KernelConfig,
  type KernelFunc,
  type ResizeNearestNeighborGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { f32, shape4, type BackendWasm } from './wasm_util';

/** Source row/col of every output row/col, exactly as the forward ResizeNearestNeighbor picks it. */
export function nearestSourceIndex(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): Int32Array {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const idx = new Int32Array(outSize);
  for (let r = 0; r < outSize; r++) {
    const frac = halfPixelCenters ? ratio * (r + 0.5) : ratio * r;
    let s = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
    if (halfPixelCenters) s = Math.max(0, s);
    idx[r] = s;
  }
  return idx;
}

export function resizeNearestNeighborGrad(args: {
  inputs: { images: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: ResizeNearestNeighborGradAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { images, dy } = inputs;
  const [n, H, W, C] = shape4(images, ResizeNearestNeighborGrad);
  const [dn, Ho, Wo, dc] = shape4(dy, ResizeNearestNeighborGrad);
  if (dn !== n || dc !== C) {
    throw new Error(`${ResizeNearestNeighborGrad}: dy shape [${dy.shape.join(',')}] does not match images [${images.shape.join(',')}]`);
  }
  const alignCorners = Boolean(attrs.alignCorners);
  const halfPixel = Boolean(attrs.halfPixelCenters);
  const dx = backend.makeOutput([n, H, W, C], 'float32');
  const g = f32(backend, dy);
  const o = f32(backend, dx);
  const rows = nearestSourceIndex(H, Ho, alignCorners, halfPixel);
  const cols = nearestSourceIndex(W, Wo, alignCorners, halfPixel);
  const ky = Ho / H;
  const kx = Wo / W;
  // Integer factors without align-corners map output r to floor(r / k) (with or without half
  // pixel centers); verify on the index tables rather than trusting the algebra.
  const blocky =
    !alignCorners &&
    Number.isInteger(ky) &&
    Number.isInteger(kx) &&
    ky >= 1 &&
    kx >= 1 &&
    rows.every((s, r) => s === Math.floor(r / ky)) &&
    cols.every((s, c) => s === Math.floor(c / kx));
  if (blocky) {
    blockSum(g, o, n, H, W, C, ky, kx);
  } else {
    o.fill(0);
    for (let b = 0; b < n; b++) {
      for (let r = 0; r < Ho; r++) {
        const dstRow = (b * H + rows[r]!) * W;
        const srcRow = (b * Ho + r) * Wo;
        for (let c = 0; c < Wo; c++) {
          const d = (dstRow + cols[c]!) * C;
          const s = (srcRow + c) * C;
          for (let k = 0; k < C; k++) o[d + k] = o[d + k]! + g[s + k]!;
        }
      }
    }
  }
  return dx;
}

function blockSum(g: Float32Array, o: Float32Array, n: number, H: number, W: number, C: number, ky: number, kx: number): void {
  const Wo = W * kx;
  const rowLen = W * C;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < H; y++) {
      const dRow = (b * H + y) * rowLen;
      const srcBase = (b * H + y) * ky;
      if (ky === 2 && kx === 2) {
        const r0 = srcBase * Wo * C;
        const r1 = r0 + Wo * C;
        for (let x = 0; x < W; x++) {
          const d = dRow + x * C;
          const s0 = r0 + 2 * x * C;
          const s1 = r1 + 2 * x * C;
          for (let k = 0; k < C; k++) {
            o[d + k] = g[s0 + k]! + g[s0 + C + k]! + g[s1 + k]! + g[s1 + C + k]!;
          }
        }
        continue;
      }
      for (let k = 0; k < rowLen; k++) o[dRow + k] = 0;
      for (let a = 0; a < ky; a++) {
        const rBase = (srcBase + a) * Wo * C;
        for (let x = 0; x < W; x++) {
          const d = dRow + x * C;
          for (let bb = 0; bb < kx; bb++) {
            const s = rBase + (x * kx + bb) * C;
            for (let k = 0; k < C; k++) o[d + k] = o[d + k]! + g[s + k]!;
          }
        }
      }
    }
  }
}

export const resizeNearestNeighborGradConfig: KernelConfig = {
  kernelName: ResizeNearestNeighborGrad,
  backendName: 'wasm',
  kernelFunc: resizeNearestNeighborGrad as unknown as KernelFunc,
};
