/**
 * Backend selection: order, forcing, idempotence, and the fast wasm kernels being in place.
 * Tests run in order and share tf's global state (one process per file).
 */
import { installed } from '../../helpers/installed';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { backendInfo, backendName, initBackend } from '../../../src-main/engine/backend';
import {
  FAST_WASM_KERNELS,
  VERIFIED_TFJS_VERSION,
  checkKernelTfjsVersion,
  registerFastWasmKernels,
} from '../../../src-main/engine/kernels/index';


const hasNative = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');

describe('initBackend', () => {
  it('reports nothing before initialization', () => {
    expect(backendName()).toBeNull();
    expect(backendInfo()).toBeNull();
  });

  it('picks tensorflow when a native package is installed, else wasm (with SIMD in Node 20)', async () => {
    const info = await initBackend();
    if (hasNative) {
      expect(info.name).toBe('tensorflow');
      return;
    }
    expect(info.name).toBe('wasm');
    expect(info.detail).toMatch(/^wasm simd, \d+ threads?$/);
    expect(info.simd).toBe(true);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(tf.getBackend()).toBe('wasm');
    expect(backendName()).toBe('wasm');
    for (const cfg of FAST_WASM_KERNELS) expect(tf.getKernel(cfg.kernelName, 'wasm')).toBe(cfg);
  });

  it('is idempotent, also under concurrent calls, and registers the kernels once', async () => {
    const before = tf.getKernelsForBackend('wasm').length;
    const [a, b] = await Promise.all([initBackend(), initBackend()]);
    const c = await initBackend();
    expect(a).toEqual(b);
    expect(c).toEqual(a);
    registerFastWasmKernels();
    expect(tf.getKernelsForBackend('wasm').length).toBe(before);
    for (const cfg of FAST_WASM_KERNELS) expect(tf.getKernel(cfg.kernelName, 'wasm')).toBe(cfg);
  });

  it.skipIf(hasNative)('forcing tensorflow without tfjs-node throws a clear error and keeps the backend', async () => {
    const err: unknown = await initBackend('tensorflow').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toContain('@tensorflow/tfjs-node');
    expect(msg).toContain('not installed');
    expect(msg).toContain('npm install @tensorflow/tfjs-node');
    expect(backendName()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    // the queue survives a rejected call
    expect((await initBackend()).name).toBe('wasm');
  });

  it('switches when forced, and a plain call restores the chosen backend after outside switches', async () => {
    const cpu = await initBackend('cpu');
    expect(cpu).toEqual({ name: 'cpu', detail: 'cpu (pure JS)' });
    expect(tf.getBackend()).toBe('cpu');
    expect(backendName()).toBe('cpu');
    const wasm = await initBackend('wasm');
    expect(wasm.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');

    await tf.setBackend('cpu'); // e.g. a test computing a reference
    const again = await initBackend();
    expect(again).toEqual(wasm);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('trains a conv layer on wasm (kernels that stock wasm lacks are present)', async () => {
    await initBackend('wasm');
    const w = tf.variable(tf.randomNormal([3, 3, 2, 4], 0, 0.3, 'float32', 1));
    const x = tf.randomNormal([2, 8, 8, 2], 0, 1, 'float32', 2) as tf.Tensor4D;
    const opt = tf.train.sgd(0.05);
    const loss = (): tf.Scalar =>
      tf
        .maxPool(tf.conv2d(x, w as tf.Tensor4D, 2, 'same'), 2, 2, 'same')
        .square()
        .mean() as tf.Scalar;
    const l0 = tf.tidy(() => loss().dataSync()[0]!);
    for (let i = 0; i < 5; i++) opt.minimize(loss);
    const l1 = tf.tidy(() => loss().dataSync()[0]!);
    expect(l1).toBeLessThan(l0);
    tf.dispose([w, x]);
    opt.dispose();
  });
});

describe('checkKernelTfjsVersion', () => {
  it('accepts the installed tfjs (the pinned, verified release)', () => {
    expect(tf.version_core).toBe(VERIFIED_TFJS_VERSION);
    expect(() => checkKernelTfjsVersion()).not.toThrow();
  });

  it('fails fast naming the package, the version found and the verified one', () => {
    expect(() => checkKernelTfjsVersion({ core: VERIFIED_TFJS_VERSION, wasm: '4.23.0' })).toThrow(
      /verified against tfjs 4\.22\.0.*tfjs-backend-wasm 4\.23\.0 is installed/,
    );
    expect(() => checkKernelTfjsVersion({ core: '5.0.0', wasm: '5.0.0' })).toThrow(/tfjs-core 5\.0\.0, tfjs-backend-wasm 5\.0\.0/);
  });
});
