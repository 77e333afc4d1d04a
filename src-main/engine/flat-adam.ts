/**
 * Adam over plain Float32Arrays, bit for bit the arithmetic of tfjs 4.22's AdamOptimizer on the
 * cpu and wasm backends (every operation rounded to float32 as their kernels do: Math.fround after
 * each add, multiply, divide and square root, the constants as float32 scalars). tf.train.adam runs
 * ~12 elementwise kernels per variable — about 700 kernel calls and 12 ms per step for darknet-tiny's
 * 60 variables on wasm, a serial share of every data-parallel step; this is one loop per variable.
 * The moments are kept per variable (tfjs keys them by position in the list it is given).
 *
 * Used by the trainer on the CPU backends only: on a GPU backend the weights stay on the device
 * and tf.train.adam runs there.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ADAM_EPSILON } from './adam.js';

const f = Math.fround;

export class FlatAdam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  /** β1^t and β2^t as float32 (tfjs' accBeta variables): start at β, multiplied once per step. */
  private acc1: number;
  private acc2: number;
  private readonly b1: number;
  private readonly b2: number;
  private readonly omb1: number;
  private readonly omb2: number;
  private readonly eps: number;
  private readonly negLr: number;

  constructor(
    readonly sizes: readonly number[],
    lr: number,
    beta1 = 0.9,
    beta2 = 0.999,
    epsilon = ADAM_EPSILON,
  ) {
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
    this.b1 = f(beta1);
    this.b2 = f(beta2);
    this.acc1 = this.b1;
    this.acc2 = this.b2;
    // tfjs multiplies by the JS numbers 1 - β (then a float32 scalar), adds ε and multiplies by -lr likewise
    this.omb1 = f(1 - beta1);
    this.omb2 = f(1 - beta2);
    this.eps = f(epsilon);
    this.negLr = f(-lr);
  }

  /**
   * One step: `weights[i] -= lr · m̂ / (√v̂ + ε)` in place for every variable with a gradient (null:
   * left alone, its moments too). The bias corrections advance once per call, as tfjs' do.
   */
  apply(weights: readonly Float32Array[], grads: ReadonlyArray<ArrayLike<number> | null>): void {
    if (weights.length !== this.sizes.length || grads.length !== this.sizes.length) {
      throw new Error(`FlatAdam: ${this.sizes.length} variables, got ${weights.length} weights and ${grads.length} gradients`);
    }
    const oma1 = f(1 - this.acc1), oma2 = f(1 - this.acc2);
    const { b1, b2, omb1, omb2, eps, negLr } = this;
    for (let i = 0; i < this.sizes.length; i++) {
      const g = grads[i];
      if (!g) continue;
      const w = weights[i]!, m = this.m[i]!, v = this.v[i]!;
      const n = this.sizes[i]!;
      if (w.length !== n || g.length !== n) throw new Error(`FlatAdam: variable ${i} has ${n} values, got ${w.length} weights and ${g.length} gradients`);
      for (let e = 0; e < n; e++) {
        const ge = g[e]!;
        const m1 = f(f(m[e]! * b1) + f(ge * omb1));
        const v1 = f(f(v[e]! * b2) + f(f(ge * ge) * omb2));
        m[e] = m1;
        v[e] = v1;
        const den = f(f(Math.sqrt(f(v1 / oma2))) + eps);
        w[e] = f(f(f(f(m1 / oma1) / den) * negLr) + w[e]!);
      }
    }
    this.acc1 = f(this.acc1 * b1);
    this.acc2 = f(this.acc2 * b2);
  }
}

let enabled = true;
/** For tests and benchmarks: make the trainer use tf.train.adam everywhere (false) or FlatAdam where it may (true). */
export function useFlatAdam(on: boolean): void {
  enabled = on;
}

/** Whether the trainer uses FlatAdam: backends whose tensors live in CPU memory (same arithmetic). */
export function flatAdamBackend(name: string): boolean {
  return enabled && (name === 'wasm' || name === 'cpu');
}

/** Copies the values of `vars` out (the optimizer's working copy of the weights). */
export function readWeights(vars: readonly tf.Variable[]): Float32Array[] {
  return vars.map((v) => Float32Array.from(v.dataSync() as Float32Array));
}

/** The wasm backend when it is the active one (its tensors live on its heap), else null. */
function wasmBackend(): BackendWasm | null {
  return tf.getBackend() === 'wasm' ? (tf.backend() as BackendWasm) : null;
}

/**
 * A float32 tensor's values without a copy where the backend keeps them in CPU memory (a view of
 * the wasm heap; the cpu backend's own array), else dataSync's copy. Read-only, and valid only
 * until the next tensor allocation (the wasm heap may grow and move): use it at once. dataSync on
 * wasm slices a new ArrayBuffer per call; a training step read ~4 MB of gradients that way per
 * thread, garbage that kept V8's collector marking about once a step.
 */
export function valuesView(t: tf.Tensor): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`valuesView: expected a float32 tensor, got ${t.dtype}`);
  const wasm = wasmBackend();
  return (wasm ? wasm.typedArrayFromHeap(t) : t.dataSync()) as Float32Array;
}

/**
 * Writes values into the variables (those with `which[i]`, default all), each as a new tensor
 * assigned to the variable. Not in place: the wasm backend's XNNPACK operators cache packed
 * filters by tensor id, so a variable must get a new id when its values change. wasm copies the
 * values onto its heap (the array may be a view of a buffer that changes later); the cpu backend
 * keeps the array it is given as the tensor's storage — the trainer's working copy only ever
 * changes to the values it then writes here, so that sharing is harmless.
 */
export function writeWeights(vars: readonly tf.Variable[], weights: readonly Float32Array[], which?: readonly boolean[]): void {
  vars.forEach((v, i) => {
    if (which && !which[i]) return;
    const w = weights[i]!;
    if (w.length !== v.size) throw new Error(`writeWeights: variable ${v.name} has ${v.size} values, got ${w.length}`);
    const t = tf.tensor(w, v.shape, 'float32');
    v.assign(t);
    t.dispose();
  });
}
