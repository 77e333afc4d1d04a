import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  buildSegmenter,
  Encoder,
  lrpDecode,
  type EncoderSpec,
  type LrpTrace,
  type Segmenter,
  type SegmenterConfig,
  type WeightMap,
} from '../../../src-main/engine/models/index.js';
import { maxPoolSwitched, noGrad, switchMask } from '../../../src-main/engine/models/ops.js';
import { segmentationLoss } from '../../../src-main/engine/losses.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

/** Leaky + plain ReLU, two max-pools, explicit padding before a valid conv, a stride-2 conv. */
const mixedSpec: EncoderSpec = {
  family: 'small',
  inputChannels: 3,
  layers: [
    { type: 'conv', name: 'c1', filters: 6, kernel: [3, 3], strides: [1, 1], padding: 'same' },
    { type: 'leaky', name: 'a1', alpha: 0.1 },
    { type: 'maxpool', name: 'p1', pool: [2, 2] },
    {
      type: 'pad',
      name: 'z2',
      pad: [
        [1, 1],
        [1, 1],
      ],
    },
    { type: 'conv', name: 'c2', filters: 8, kernel: [3, 3], strides: [1, 1], padding: 'valid' },
    { type: 'relu', name: 'a2' },
    { type: 'maxpool', name: 'p2', pool: [2, 2] },
    { type: 'conv', name: 'c3', filters: 8, kernel: [3, 3], strides: [2, 2], padding: 'same' },
    { type: 'leaky', name: 'a3', alpha: 0.2 },
  ],
};

function config(spec: EncoderSpec, classes: number, inputSize: number): SegmenterConfig {
  return {
    format: 'heatseg-segmenter',
    version: 1,
    method: 'lrp',
    classes,
    inputSize,
    encoder: spec,
    gradcamRelu: false,
    lrpDepth: 0,
    unetConvsPerStage: 1,
    seed: 7,
  };
}

/** Nonzero biases, so gates depend on them and the test sees whether bias gradients leak through gates. */
function randomizeBiases(model: Segmenter, seed: number): void {
  const w = model.getWeights();
  const out: WeightMap = {};
  for (const [k, v] of Object.entries(w)) {
    if (k.endsWith('/bias'))
      out[k] = { shape: v.shape, data: tf.tidy(() => tf.randomNormal(v.shape, 0, 0.1, 'float32', seed++).dataSync() as Float32Array) };
  }
  model.setWeights(out, { allowMissing: true });
}

/** The classifier written independently with stock tf ops (native maxPool and its gradient). */
function referenceLogits(x: tf.Tensor4D, w: WeightMap, spec: EncoderSpec): tf.Tensor2D {
  const t = (k: string) => {
    const e = w[k];
    if (!e) throw new Error(`no weight ${k}`);
    return tf.tensor(e.data, e.shape);
  };
  let h: tf.Tensor4D = x;
  for (const l of spec.layers) {
    if (l.type === 'conv')
      h = tf.conv2d(h, t(`encoder/${l.name}/kernel`) as tf.Tensor4D, l.strides, l.padding).add(t(`encoder/${l.name}/bias`));
    else if (l.type === 'relu') h = tf.relu(h);
    else if (l.type === 'leaky') h = tf.leakyRelu(h, l.alpha);
    else if (l.type === 'maxpool') h = tf.maxPool(h, l.pool, l.pool, 'valid');
    else h = tf.pad(h, [[0, 0], l.pad[0], l.pad[1], [0, 0]]);
  }
  return h.mean([1, 2]).matMul(t('head/kernel')).add(t('head/bias')) as tf.Tensor2D;
}

/** Σ_rgb x ⊙ ∂y_c/∂x by tf.grad, for each decode slot; [N, H, W, K]. */
function gradientTimesInput(x: tf.Tensor4D, w: WeightMap, spec: EncoderSpec, decode: number[][], classes: number): tf.Tensor4D {
  return tf.tidy(() => {
    const k = decode[0]!.length;
    const maps: tf.Tensor3D[] = [];
    for (let slot = 0; slot < k; slot++) {
      const pick = tf.tensor2d(decode.map((row) => Array.from({ length: classes }, (_, c) => (c === row[slot] ? 1 : 0))));
      const g = tf.grad((xx: tf.Tensor) =>
        referenceLogits(xx as tf.Tensor4D, w, spec)
          .mul(pick)
          .sum(),
      )(x);
      maps.push(x.mul(g).sum(-1) as tf.Tensor3D);
    }
    return tf.stack(maps, 3) as tf.Tensor4D;
  });
}

function maxRelErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]! / Math.max(b.abs().max().dataSync()[0]!, 1e-12));
}

describe('LRP decoder = Gradient × Input', () => {
  it('matches tf.grad on a leaky/relu net with max-pools, padding and a strided conv (N=3, several classes)', () => {
    const classes = 4;
    const model = buildSegmenter(config(mixedSpec, classes, 16));
    randomizeBiases(model, 100);
    const decode = [
      [0, 2, 3],
      [1, 3, -1],
      [2, 0, 1],
    ];
    const x = tf.randomNormal([3, 16, 16, 3], 0.5, 0.5, 'float32', 3) as tf.Tensor4D;
    const dc = tf.tensor2d(decode, [3, 3], 'int32');
    const out = model.forward(x, { decodeClasses: dc });
    expect(out.seg!.shape).toEqual([3, 16, 16, 3]);
    const ref = gradientTimesInput(
      x,
      model.getWeights(),
      mixedSpec,
      decode.map((r) => r.map((c) => (c < 0 ? -99 : c))),
      classes,
    );
    expect(maxRelErr(out.seg!, ref)).toBeLessThan(1e-4);
    // the padding slot decodes to zeros
    const padded = tf.tidy(() => out.seg!.slice([1, 0, 0, 2], [1, 16, 16, 1]).abs().max().dataSync()[0]);
    expect(padded).toBe(0);
    // and the maps are not trivially zero
    expect(tf.tidy(() => ref.abs().max().dataSync()[0]!)).toBeGreaterThan(1e-3);
    tf.dispose([x, dc, out.seg!, out.logits!, ref]);
    model.dispose();
  });

  it('matches tf.grad for the default ReLU small encoder', () => {
    const classes = 3;
    const smallCfg = config(
      {
        family: 'small',
        inputChannels: 3,
        layers: [
          { type: 'conv', name: 'b1', filters: 4, kernel: [3, 3], strides: [1, 1], padding: 'same' },
          { type: 'relu', name: 'r1' },
          { type: 'maxpool', name: 'p1', pool: [2, 2] },
          { type: 'conv', name: 'b2', filters: 8, kernel: [3, 3], strides: [1, 1], padding: 'same' },
          { type: 'relu', name: 'r2' },
        ],
      },
      classes,
      8,
    );
    const model = buildSegmenter(smallCfg);
    randomizeBiases(model, 5);
    const decode = [
      [0, 1, 2],
      [2, 1, 0],
    ];
    const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const dc = tf.tensor2d(decode, [2, 3], 'int32');
    const out = model.forward(x, { decodeClasses: dc });
    const ref = gradientTimesInput(x, model.getWeights(), smallCfg.encoder, decode, classes);
    expect(maxRelErr(out.seg!, ref)).toBeLessThan(1e-4);
    tf.dispose([x, dc, out.seg!, out.logits!, ref]);
    model.dispose();
  });
});

describe('gates and switch masks are constants for the gradient', () => {
  const classes = 4;
  const decode = [
    [0, 3],
    [2, 1],
  ];
  const labelsArr = (n: number, h: number, w: number) => Array.from({ length: n * h * w }, (_, i) => (i % 3 === 0 ? -1 : (i * 7) % 2)); // mixed labelled / unlabelled

  function setup() {
    const encoder = new Encoder(mixedSpec, 21);
    const head = tf.variable(tf.randomNormal([8, classes], 0, 0.5, 'float32', 22));
    const biasInit = encoder.namedVariables();
    let s = 30;
    for (const [k, v] of Object.entries(biasInit)) if (k.endsWith('/bias')) v.assign(tf.randomNormal(v.shape, 0, 0.1, 'float32', s++));
    const x = tf.randomNormal([2, 16, 16, 3], 0.5, 0.5, 'float32', 23) as tf.Tensor4D;
    const dc = tf.tensor2d(decode, [2, 2], 'int32');
    const vars: Record<string, tf.Variable> = { ...encoder.namedVariables(), 'head/kernel': head };
    return { encoder, head, x, dc, vars };
  }

  /** Forward pass whose gates / masks are copied into fresh tensors: they cannot carry gradient. */
  function detachedTrace(encoder: Encoder, x: tf.Tensor4D): LrpTrace & { constants: (tf.Tensor4D | null)[] } {
    let trace: (LrpTrace & { constants: (tf.Tensor4D | null)[] }) | undefined;
    tf.tidy(() => {
      const t = encoder.forward(x, { gates: true });
      const constants = t.constants.map((c) => (c ? tf.keep(tf.tensor(c.dataSync(), c.shape) as tf.Tensor4D) : null));
      trace = { input: x, inputShapes: t.inputShapes, featureShape: t.features.shape, constants };
    });
    return trace!;
  }

  function gradsByName(vars: Record<string, tf.Variable>, f: () => tf.Scalar): Record<string, Float32Array> {
    const { value, grads } = tf.variableGrads(f, Object.values(vars));
    value.dispose();
    const out: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(vars)) {
      const g = grads[v.name];
      out[name] = g ? (g.dataSync() as Float32Array).slice() : new Float32Array(v.size);
    }
    tf.dispose(Object.values(grads));
    return out;
  }

  it('heatmap-loss gradients equal those with externally fed constant gates/masks, and biases get none', () => {
    const { encoder, head, x, dc, vars } = setup();
    const labels = tf.tensor3d(labelsArr(2, 16, 16), [2, 16, 16], 'int32');
    const internal = gradsByName(vars, () => {
      const t = encoder.forward(x, { gates: true });
      return segmentationLoss(lrpDecode(encoder, { ...t, featureShape: t.features.shape }, head as tf.Tensor2D, dc), labels, dc);
    });
    const trace = detachedTrace(encoder, x);
    const external = gradsByName(vars, () => segmentationLoss(lrpDecode(encoder, trace, head as tf.Tensor2D, dc), labels, dc));
    for (const name of Object.keys(vars)) {
      const a = internal[name]!;
      const b = external[name]!;
      const scale = Math.max(...b.map(Math.abs), 1e-12);
      const err = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
      expect(err / scale, name).toBeLessThan(1e-4);
      if (name.endsWith('/bias')) expect(Math.max(...a.map(Math.abs)), name).toBe(0);
      else expect(scale, name).toBeGreaterThan(1e-8);
    }
    tf.dispose([labels, x, dc, head, ...trace.constants.filter((c): c is tf.Tensor4D => c !== null)]);
    encoder.dispose();
  });

  it('decoder weight gradients match finite differences of the heatmap (linear in each weight for fixed gates)', () => {
    const { encoder, head, x, dc, vars } = setup();
    const trace = detachedTrace(encoder, x);
    const r = tf.randomNormal([2, 16, 16, 2], 0, 1, 'float32', 40);
    const lossInternal = () => {
      const t = encoder.forward(x, { gates: true });
      return lrpDecode(encoder, { ...t, featureShape: t.features.shape }, head as tf.Tensor2D, dc)
        .mul(r)
        .sum() as tf.Scalar;
    };
    const lossFixed = () =>
      tf.tidy(
        () =>
          lrpDecode(encoder, trace, head as tf.Tensor2D, dc)
            .mul(r)
            .sum()
            .dataSync()[0]!,
      );
    const analytic = gradsByName(vars, lossInternal);
    const probes: Array<[string, number]> = [
      ['encoder/c1/kernel', 5],
      ['encoder/c1/kernel', 100],
      ['encoder/c2/kernel', 17],
      ['encoder/c2/kernel', 300],
      ['encoder/c3/kernel', 42],
      ['head/kernel', 3],
      ['head/kernel', 30],
    ];
    for (const [name, idx] of probes) {
      const v = vars[name]!;
      const base = (v.dataSync() as Float32Array).slice();
      const eps = 0.5;
      const at = (delta: number) => {
        const d = base.slice();
        d[idx] = d[idx]! + delta;
        tf.tidy(() => v.assign(tf.tensor(d, v.shape)));
        return lossFixed();
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
      const g = analytic[name]![idx]!;
      expect(Math.abs(fd - g), `${name}[${idx}] fd=${fd} grad=${g}`).toBeLessThan(2e-3 * Math.max(Math.abs(g), 1e-2));
    }
    tf.dispose([r, x, dc, head, ...trace.constants.filter((c): c is tf.Tensor4D => c !== null)]);
    encoder.dispose();
  });

  it('noGrad stops the gradient', () => {
    const g = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) =>
          noGrad(() => x.square())
            .mul(x)
            .sum(),
        )(tf.tensor1d([3, -2]))
        .dataSync(),
    );
    expect(Array.from(g)).toEqual([9, 4]);
  });
});

describe('max-pool switch masks', () => {
  it('route ties to the first position of the window (row-major), once', () => {
    const a = tf.tensor4d([1, 1, 0, 1, /* */ 2, 5, 5, 5, /* */ 0, 0, 0, 0, /* */ -1, -3, -1, -1], [1, 4, 4, 1]);
    // windows (2×2): rows 0-1 × cols 0-1 = [1,1,2,5] → max 5 at (1,1); cols 2-3 = [0,1,5,5] → first 5 at (1,2)
    // rows 2-3 × cols 0-1 = [0,0,-1,-3] → first 0 at (2,0); cols 2-3 = [0,0,-1,-1] → first 0 at (2,2)
    const m = tf.tidy(() => switchMask(a, 2, 2));
    expect(Array.from(m.dataSync())).toEqual([0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
    tf.dispose([a, m]);
  });

  it('give the same gradient as tf.maxPool on cpu, including all-negative windows and ties', () => {
    const a = tf.tensor4d(
      Array.from({ length: 2 * 6 * 4 * 3 }, (_, i) => (i % 5 === 0 ? -1 : Math.sin(i * 12.9898) * -2)),
      [2, 6, 4, 3],
    );
    const dy = tf.randomNormal([2, 3, 2, 3], 0, 1, 'float32', 1);
    const ours = tf.tidy(() =>
      tf.grad((x: tf.Tensor) =>
        maxPoolSwitched(
          x as tf.Tensor4D,
          noGrad(() => switchMask(x as tf.Tensor4D, 2, 2)),
          2,
          2,
        )
          .mul(dy)
          .sum(),
      )(a),
    );
    const stock = tf.tidy(() =>
      tf.grad((x: tf.Tensor) =>
        tf
          .maxPool(x as tf.Tensor4D, 2, 2, 'valid')
          .mul(dy)
          .sum(),
      )(a),
    );
    expect(maxRelErr(ours, stock)).toBeLessThan(1e-6);
    tf.dispose([a, dy, ours, stock]);
  });
});
