/** src-main/studies/profile.ts: FLOPs of executed kernels from their shapes (what `bench speed` divides by). */
import { describe, expect, it } from 'vitest';
import { kernelFlops } from '../../src-main/studies/profile';

describe('kernelFlops', () => {
  it('counts 2 FLOPs per multiply-add of convolutions, their two gradients and matrix products', () => {
    // 3×3 conv, 16 → 32 channels, 2 images of 8×8 output: 2·(2·8·8·32)·(3·3·16)
    const conv = 2 * (2 * 8 * 8 * 32) * (3 * 3 * 16);
    expect(kernelFlops('Conv2D', [[2, 8, 8, 16], [3, 3, 16, 32]], [[2, 8, 8, 32]])).toBe(conv);
    expect(kernelFlops('FusedConv2D', [[2, 8, 8, 16], [3, 3, 16, 32], [32]], [[2, 8, 8, 32]])).toBe(conv);
    // input gradient: (dy, filter) → dx; filter gradient: (x, dy) → filter; same work as the forward conv
    expect(kernelFlops('Conv2DBackpropInput', [[2, 8, 8, 32], [3, 3, 16, 32]], [[2, 8, 8, 16]])).toBe(conv);
    expect(kernelFlops('Conv2DBackpropFilter', [[2, 8, 8, 16], [2, 8, 8, 32]], [[3, 3, 16, 32]])).toBe(conv);
    // [4, 5, 6] × [4, 6, 7] → [4, 5, 7]: K = 6
    expect(kernelFlops('BatchMatMul', [[4, 5, 6], [4, 6, 7]], [[4, 5, 7]])).toBe(2 * 4 * 5 * 7 * 6);
    expect(kernelFlops('Relu', [[2, 8, 8, 32]], [[2, 8, 8, 32]])).toBe(0);
  });
});
