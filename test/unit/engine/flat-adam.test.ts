/**
 * FlatAdam (one loop per variable) against tf.train.adam: the same weights bit for bit on the cpu
 * and wasm backends, over steps with gradients of mixed signs and magnitudes.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { adam } from '../../../src-main/engine/adam';
import { initBackend } from '../../../src-main/engine/backend';
import { FlatAdam, readWeights, writeWeights } from '../../../src-main/engine/flat-adam';
import { rng } from '../../../src-shared/random';

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('FlatAdam', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`equals tf.train.adam bit for bit on ${backend} over 6 steps`, async () => {
      await initBackend(backend);
      const r = rng(11);
      const shapes = [[3, 3, 4, 5], [5], [7, 2]];
      const init = shapes.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => (r() - 0.5) * 2));
      const ref = shapes.map((s, i) => tf.variable(tf.tensor(init[i]!, s), true, `flat-adam-ref-${backend}-${i}`));
      const ours = shapes.map((s, i) => tf.variable(tf.tensor(init[i]!, s), true, `flat-adam-ours-${backend}-${i}`));
      const lr = 3e-3;
      const opt = adam(lr);
      const flat = new FlatAdam(ours.map((v) => v.size), lr);
      const weights = readWeights(ours);
      for (let step = 0; step < 6; step++) {
        // magnitudes from 1e-6 to 1e2, zeros included
        const grads = init.map((w) => Float32Array.from(w, (_, e) => (e % 9 === 0 ? 0 : (r() - 0.5) * 10 ** (Math.floor(r() * 9) - 6))));
        opt.applyGradients(ref.map((v, i) => ({ name: v.name, tensor: tf.tensor(grads[i]!, v.shape) })));
        flat.apply(weights, grads);
      }
      writeWeights(ours, weights);
      for (let i = 0; i < shapes.length; i++) {
        expect(Array.from(ours[i]!.dataSync())).toEqual(Array.from(ref[i]!.dataSync()));
        expect(Array.from(ours[i]!.dataSync())).not.toEqual(Array.from(init[i]!)); // it moved
      }
      opt.dispose();
      tf.dispose([...ref, ...ours]);
    });
  }

  it('leaves a variable without a gradient alone, and refuses mismatched sizes', () => {
    const flat = new FlatAdam([2, 3], 0.1);
    const w = [Float32Array.of(1, 2), Float32Array.of(3, 4, 5)];
    flat.apply(w, [Float32Array.of(1, -1), null]);
    expect(Array.from(w[1]!)).toEqual([3, 4, 5]);
    expect(w[0]![0]).toBeCloseTo(0.9, 5); // first Adam step moves by lr · sign(g)
    expect(w[0]![1]).toBeCloseTo(2.1, 5);
    expect(() => flat.apply(w, [Float32Array.of(1), null])).toThrow(/variable 0 has 2 values/);
    expect(() => flat.apply([w[0]!], [null])).toThrow(/2 variables/);
  });
});
