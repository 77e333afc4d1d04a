/**
 * ONNX export of a saved heatseg model folder (docs/ONNX.md is the consumer's side).
 *
 * The graph is built from standard ONNX operators (opset 17) and written with the generated ONNX
 * protobuf classes of onnx-proto. It computes for ALL C classes what the app computes for the
 * classes it decodes:
 *   image      [N, 3, H, W] float32, RGB / 255 (normalisation NOT baked in: feed values in 0..1)
 *   tag_logits [N, C]        GAP + dense tag head (absent for plain U-Net)
 *   seg_logits [N, C, H, W]  LRP / Grad-CAM: the decoded heatmaps of every class, through
 *                            heatLogits (× heatScale, per-pixel normalised over all C classes when
 *                            heatNorm is 'pixel'); U-Net / multi-task U-Net: the decoder's logits.
 * The LRP decoder is the tied one of METHOD.md unrolled: ConvTranspose nodes read the very same
 * weight initializers as the encoder's Conv nodes; activation gates are Greater → Cast (ReLU) or
 * Greater → Where(1, alpha) (leaky ReLU); max-pool switch masks are `1 - step(up(maxPool(a)) - a)`
 * as Not(Greater(Resize_nearest(MaxPool(a)), a)), de-duplicated so that a tie keeps only the
 * first position of its window in row-major order (a second MaxPool over the mask times a tiled
 * priority pattern, exactly as ops.ts switchMask does); the relevance of all classes is carried as
 * one [N·C, ch, h, w] tensor, reshaped to [N, C, ch, h, w] where gates broadcast over classes.
 *
 * H and W are dynamic whenever every layer's padding does not depend on the size (true for 'same'
 * convolutions of stride 1, hence for the small encoder and darknet-tiny): then any H, W that are
 * multiples of the encoder stride work. Otherwise they are fixed to the training size.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { onnx as OnnxNamespace } from 'onnx-proto';
import { TEMP_MARK } from '../safe-fs.js';
import { readModelMeta, readModelWeights } from './model-io.js';
import { downsamples, type EncoderLayer, parseSegmenterConfig, specStride, type SegmenterConfig, type WeightEntry, type WeightMap } from './models/index.js';
import { COLOUR_BINS, DEFAULT_REFINE } from './refine.js';
import { DECODE_DEFAULTS, DEFAULT_TTA, ttaViewCount, HEAT_NORM_EPS, HEAT_NORM_FLOOR, NORMALISATION_NOTE, PIXEL_SCALE } from './prepost.js';

// onnx-proto is CommonJS whose named exports Node's ESM loader cannot detect, so it is required.
const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNamespace };

export const ONNX_OPSET = 17;
/** IR version 8 (ONNX 1.10–1.12): what onnx-proto's schema describes and what opset 17 pairs with. */
const IR_VERSION = 8;
export const ONNX_FORMAT = 'heatseg-onnx';

export interface ExportOnnxOptions {
  /** Also write the JSON description beside the model as `<outFile>.json` (default true). */
  writeJson?: boolean;
  /** Fix H and W to the training size even where the architecture allows dynamic sizes. */
  staticSize?: boolean;
}

export interface OnnxTensorInfo {
  name: string;
  /** Dimensions; strings are symbolic (dynamic) dimensions. */
  shape: Array<number | string>;
  doc: string;
}

export interface OnnxExportInfo {
  file: string;
  /** The sidecar description, or null when not written. */
  jsonFile: string | null;
  opset: number;
  method: SegmenterConfig['method'];
  /** Operator types used, sorted. */
  ops: string[];
  nodes: number;
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  /** Whether H / W may differ from the training size (multiples of `stride`, at least `minSize`). */
  dynamicSize: { height: boolean; width: boolean };
  stride: [number, number];
  minSize: [number, number];
}

/** How to read the outputs; stored in the model's metadata and in the sidecar JSON (from prepost.ts's constants). */
export const ONNX_READING_NOTE =
  `Input "image": float32 NCHW [N, 3, H, W], RGB channels divided by ${PIXEL_SCALE} (values 0..1, no mean/std), H and W multiples of ` +
  '"stride" (any such size when "dynamic_size" is true, else exactly input_size). Output "tag_logits" [N, C]: sigmoid gives the ' +
  'probability that class c is present (absent for method unet). Output "seg_logits" [N, C, H, W]: per-pixel logits of every ' +
  `class. The app decodes only the classes the tag head predicts, so to get its masks: take the classes with sigmoid(tag) >= ${DECODE_DEFAULTS.threshold} ` +
  `(i.e. tag_logit >= ${Math.log(DECODE_DEFAULTS.threshold / (1 - DECODE_DEFAULTS.threshold)).toFixed(3)}), at least the ${DECODE_DEFAULTS.minClasses === 1 ? 'single most probable one' : `${DECODE_DEFAULTS.minClasses} most probable`} ` +
  `(the app also caps the list at the ${DECODE_DEFAULTS.maxClasses} most probable), add the classes listed in "always_decode" ` +
  '(the project\'s background: decoded on every image whatever its tag says), and take the ' +
  'per-pixel argmax of seg_logits over those classes only (all classes for method unet). Letting all C heatmaps compete is a different, ' +
  'much worse segmentation. Softmax over the chosen classes gives per-pixel probabilities.';

const DIFFERENCES_NOTE =
  'seg_logits holds all C classes; the app decodes only predicted classes. With heat_norm "pixel" the per-pixel normaliser is the ' +
  'mean |heatmap| over all C classes here, over the decoded classes in the app: a positive per-pixel factor, so the argmax over any ' +
  'class subset is identical at model resolution (only softmax temperatures differ). Resizing the image to a multiple of the ' +
  'stride and resizing seg_logits back to the original size are left to the caller (the app: bilinear, half-pixel centres). ' +
  `The app also averages ${ttaViewCount(DEFAULT_TTA)} views of each image ("test_time_augmentation": the image resized to ` +
  `${DEFAULT_TTA.scales.join(', ')} × its working size${DEFAULT_TTA.flip ? ', each also mirrored left-right' : ''}): the views' tag probabilities are averaged before ` +
  'the classes are chosen, and their chosen, normalised logits (mirrored back, resized bilinearly to the largest view\'s grid) are averaged before the argmax.' +
  (DEFAULT_REFINE.radius > 0
    ? ` Then ("refine") it refines the chosen classes' softmax probabilities on that grid with the image: a colour guided filter (He et al.; ` +
      `guide = the RGB / 255 image resized bilinearly to the grid, window radius ${DEFAULT_REFINE.radius} pixels of the working size scaled to the grid, ` +
      `eps ${DEFAULT_REFINE.eps})` +
      (DEFAULT_REFINE.colour
        ? `, then multiplies each pixel's filtered probabilities by P(its colour | class)^${DEFAULT_REFINE.colour} from the image's own class colour ` +
          `histograms (${COLOUR_BINS} bins per RGB channel, each class's histogram weighted by its filtered probabilities over the grid, ` +
          `add-one smoothed: (h + 1/${COLOUR_BINS ** 3}) / (mass + 1)) and renormalises`
        : '') +
      `, and takes the argmax of the refined maps (engine/refine.ts).`
    : '');

type Attr = OnnxNamespace.IAttributeProto;
const A = onnx.AttributeProto.AttributeType;
const ints = (v: number[]): Attr => ({ type: A.INTS, ints: v });
const int = (v: number): Attr => ({ type: A.INT, i: v });
const float = (v: number): Attr => ({ type: A.FLOAT, f: v });
const str = (v: string): Attr => ({ type: A.STRING, s: new TextEncoder().encode(v) });

/** Minimal graph builder: unique tensor names, deduplicated constants, the op types used. */
class GraphBuilder {
  readonly nodes: OnnxNamespace.INodeProto[] = [];
  readonly initializers: OnnxNamespace.ITensorProto[] = [];
  private readonly constants = new Map<string, string>();
  private readonly names = new Set<string>();
  private count = 0;

  /** A fresh tensor name, `hint` made unique. */
  name(hint: string): string {
    let n = hint;
    while (this.names.has(n)) n = `${hint}_${++this.count}`;
    this.names.add(n);
    return n;
  }

  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, out = type.toLowerCase()): string {
    const output = this.name(out);
    this.nodes.push({
      opType: type,
      name: `${type}:${output}`,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([name, a]) => ({ name, ...a })),
    });
    return output;
  }

  floatTensor(name: string, dims: number[], data: Float32Array): string {
    const bytes = new Uint8Array(data.length * 4);
    const view = new DataView(bytes.buffer);
    data.forEach((v, i) => view.setFloat32(i * 4, v, true));
    const n = this.name(name);
    this.initializers.push({ name: n, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes });
    return n;
  }

  /** int64 constant (shapes, axes, pads) of the given values as a 1-D tensor. */
  i64(values: number[]): string {
    const key = `i64:${values.join(',')}`;
    let n = this.constants.get(key);
    if (!n) {
      const bytes = new Uint8Array(values.length * 8);
      const view = new DataView(bytes.buffer);
      values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
      n = this.name(`const_i64_${values.join('_').replaceAll('-', 'm')}`);
      this.initializers.push({ name: n, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: bytes });
      this.constants.set(key, n);
    }
    return n;
  }

  /** float32 constant with the given dims (default: a scalar). */
  f32(values: number[], dims: number[] = []): string {
    const key = `f32:${dims.join('x')}:${values.join(',')}`;
    let n = this.constants.get(key);
    if (!n) {
      n = this.floatTensor(`const_f32_${this.constants.size}`, dims, Float32Array.from(values));
      this.constants.set(key, n);
    }
    return n;
  }

  /** Gives the tensor produced by a node a public name (a graph output). */
  rename(tensor: string, to: string): void {
    if (this.names.has(to)) throw new Error(`tensor name '${to}' is taken`);
    for (const node of this.nodes) {
      node.output = node.output!.map((o) => (o === tensor ? to : o));
      node.input = node.input!.map((i) => (i === tensor ? to : i));
    }
    this.names.add(to);
  }

  opTypes(): string[] {
    return [...new Set(this.nodes.map((n) => n.opType!))].sort();
  }
}

// ---- geometry: the size of every layer along one axis, and whether it depends on the input size ----

interface ConvGeometry {
  /** Zero padding before / after (TF 'same' puts the odd pixel after, like ONNX SAME_UPPER). */
  pads: [number, number];
  /** Rows of the conv input that no output reads (valid / strided convs): ConvTranspose output_padding. */
  outputPadding: number;
}

interface AxisPlan {
  /** Input size of every layer, then the last feature map's. */
  sizes: number[];
  conv: (ConvGeometry | null)[];
}

function planAxis(layers: EncoderLayer[], size: number, axis: 0 | 1): AxisPlan | null {
  const sizes = [size];
  const conv: (ConvGeometry | null)[] = [];
  let cur = size;
  for (const l of layers) {
    let g: ConvGeometry | null = null;
    if (l.type === 'conv') {
      const k = l.kernel[axis];
      const s = l.strides[axis];
      const out = l.padding === 'same' ? Math.ceil(cur / s) : Math.floor((cur - k) / s) + 1;
      if (out < 1) return null;
      const total = l.padding === 'same' ? Math.max((out - 1) * s + k - cur, 0) : 0;
      const before = Math.floor(total / 2);
      g = { pads: [before, total - before], outputPadding: cur + total - ((out - 1) * s + k) };
      cur = out;
    } else if (l.type === 'maxpool') {
      if (cur % l.pool[axis] !== 0) return null;
      cur /= l.pool[axis];
    } else if (l.type === 'pad') {
      cur += l.pad[axis][0] + l.pad[axis][1];
    }
    conv.push(g);
    sizes.push(cur);
  }
  return { sizes, conv };
}

/** What must not change with the input size for a dynamic axis: paddings, and U-Net's upsampling factors. */
function signature(cfg: SegmenterConfig, plan: AxisPlan): string {
  const layers = cfg.encoder.layers;
  if (cfg.method !== 'unet' && cfg.method !== 'mtunet') return JSON.stringify({ conv: plan.conv });
  const down = layers.flatMap((l, i) => (downsamples(l) ? [i] : []));
  const factors: number[] = [];
  let h = plan.sizes[layers.length]!;
  for (let j = down.length - 1; j >= 0; j--) {
    const skip = plan.sizes[down[j]!]!;
    factors.push(skip / h);
    h = skip;
  }
  return JSON.stringify({ conv: plan.conv, factors, unetOutIsInput: h === plan.sizes[0] });
}

interface AxisGeometry {
  plan: AxisPlan;
  dynamic: boolean;
  stride: number;
  minSize: number;
}

function axisGeometry(cfg: SegmenterConfig, axis: 0 | 1, forceStatic: boolean): AxisGeometry {
  const layers = cfg.encoder.layers;
  const stride = specStride(cfg.encoder, axis);
  const plan = planAxis(layers, cfg.inputSize, axis);
  if (!plan) throw new Error(`the model's own input size ${cfg.inputSize} does not pass through its encoder`);
  // sizes are periodic in (size / stride) modulo the strides, so a few multiples cover every case
  const valid: Array<{ size: number; plan: AxisPlan }> = [];
  for (let m = 1; m <= 3 * stride + 3; m++) {
    const p = planAxis(layers, m * stride, axis);
    if (p) valid.push({ size: m * stride, plan: p });
  }
  const ref = signature(cfg, plan);
  const dynamic = !forceStatic && valid.every((v) => signature(cfg, v.plan) === ref);
  return { plan, dynamic, stride, minSize: dynamic ? (valid[0]?.size ?? cfg.inputSize) : cfg.inputSize };
}

// ---- weights ----

function weight(weights: WeightMap, name: string): WeightEntry {
  const w = weights[name];
  if (!w) throw new Error(`the model folder has no weight '${name}'`);
  return w;
}

/** tfjs conv kernel [kh, kw, cin, cout] → ONNX [cout, cin, kh, kw] (also ConvTranspose's layout for the tied decoder). */
function oihw(w: WeightEntry): { dims: number[]; data: Float32Array } {
  const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
  const out = new Float32Array(w.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = w.data[((y * kw + x) * cin + i) * cout + o]!;
  return { dims: [cout, cin, kh, kw], data: out };
}

// ---- the graph ----

interface BuiltGraph {
  g: GraphBuilder;
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
}

function buildGraph(
  cfg: SegmenterConfig,
  weights: WeightMap,
  heatScale: number,
  heatNorm: 'none' | 'pixel',
  geo: [AxisGeometry, AxisGeometry],
): BuiltGraph {
  const g = new GraphBuilder();
  const layers = cfg.encoder.layers;
  const C = cfg.classes;
  const method = cfg.method;
  const [gh, gw] = geo;
  const image = g.name('image');
  const downsampling = layers.flatMap((l, i) => (downsamples(l) ? [i] : []));
  const lrpStop = method === 'lrp' && cfg.lrpDepth > 0 ? downsampling[cfg.lrpDepth - 1]! : 0;
  if (method === 'lrp' && (cfg.lrpPool ?? 'winner') !== 'winner')
    throw new Error(`ONNX export writes the winner-take-all max-pool of the LRP-0 decoder only; this model uses the '${cfg.lrpPool}' pool rule: export it in heatseg format`);
  if (method === 'lrp' && (cfg.lrpRule ?? 'lrp0') !== 'lrp0')
    throw new Error(`ONNX export writes the LRP-0 (gate form) decoder only; this model uses the '${cfg.lrpRule}' rule set: export it in heatseg format`);
  if (method === 'lrp' && cfg.lrpDepth > downsampling.length)
    throw new Error(`lrpDepth ${cfg.lrpDepth} exceeds the encoder's ${downsampling.length} stages`);

  // shapes built from Shape slices, cached by tensor
  const shapeCache = new Map<string, string>();
  const shapeOf = (t: string, start: number, end?: number): string => {
    const key = `${t}:${start}:${end ?? ''}`;
    let s = shapeCache.get(key);
    if (!s) {
      s = g.op('Shape', [t], end === undefined ? { start: int(start) } : { start: int(start), end: int(end) }, 'shape');
      shapeCache.set(key, s);
    }
    return s;
  };
  /** Sizes [N, C-of-`channelsOf`, H, W of `spatialOf`] for Resize. */
  const resizeSizes = (channelsOf: string, spatialOf: string): string =>
    g.op('Concat', [shapeOf(channelsOf, 0, 2), shapeOf(spatialOf, 2, 4)], { axis: int(0) }, 'sizes');
  const resizeNearest = (x: string, to: string): string =>
    g.op(
      'Resize',
      [x, '', '', resizeSizes(x, to)],
      { mode: str('nearest'), coordinate_transformation_mode: str('asymmetric'), nearest_mode: str('floor') },
      'upsampled',
    );
  const resizeNearestBy = (x: string, kh: number, kw: number): string =>
    g.op(
      'Resize',
      [x, '', g.f32([1, 1, kh, kw], [4])],
      { mode: str('nearest'), coordinate_transformation_mode: str('asymmetric'), nearest_mode: str('floor') },
      'upsampled',
    );
  /** Bilinear, half-pixel centres, edges clamped: ops.ts resizeBilinearLinear and tf.image.resizeBilinear(…, halfPixelCenters). */
  const resizeBilinearToImage = (x: string): string =>
    g.op(
      'Resize',
      [x, '', '', resizeSizes(x, image)],
      { mode: str('linear'), coordinate_transformation_mode: str('half_pixel') },
      'resized',
    );

  // ---- encoder ----
  const xs: string[] = [image]; // xs[i]: input of layer i; xs[layers.length]: last feature map
  const gates = new Map<number, string>(); // LRP: gate (activations) or switch mask (max-pools) per layer
  const kernels = new Map<string, string>();
  layers.forEach((layer, i) => {
    const x = xs[i]!;
    let y: string;
    const lrpNeeds = method === 'lrp' && i >= lrpStop;
    switch (layer.type) {
      case 'conv': {
        const k = oihw(weight(weights, `encoder/${layer.name}/kernel`));
        const kernel = g.floatTensor(`encoder/${layer.name}/kernel`, k.dims, k.data);
        kernels.set(layer.name, kernel);
        const b = weight(weights, `encoder/${layer.name}/bias`);
        const bias = g.floatTensor(`encoder/${layer.name}/bias`, b.shape, b.data);
        const ch = gh.plan.conv[i]!;
        const cw = gw.plan.conv[i]!;
        y = g.op(
          'Conv',
          [x, kernel, bias],
          { kernel_shape: ints(layer.kernel), strides: ints(layer.strides), pads: ints([ch.pads[0], cw.pads[0], ch.pads[1], cw.pads[1]]) },
          layer.name,
        );
        break;
      }
      case 'relu':
        y = g.op('Relu', [x], {}, layer.name);
        if (lrpNeeds)
          gates.set(
            i,
            g.op('Cast', [g.op('Greater', [x, g.f32([0])])], { to: int(onnx.TensorProto.DataType.FLOAT) }, `${layer.name}/gate`),
          );
        break;
      case 'leaky':
        y = g.op('LeakyRelu', [x], { alpha: float(layer.alpha) }, layer.name);
        if (lrpNeeds)
          gates.set(i, g.op('Where', [g.op('Greater', [x, g.f32([0])]), g.f32([1]), g.f32([layer.alpha])], {}, `${layer.name}/gate`));
        break;
      case 'maxpool': {
        const [kh, kw] = layer.pool;
        const pool = { kernel_shape: ints([kh, kw]), strides: ints([kh, kw]) };
        y = g.op('MaxPool', [x], pool, layer.name);
        if (lrpNeeds) gates.set(i, switchMask(g, x, y, kh, kw, pool, resizeNearestBy, shapeOf, layer.name));
        break;
      }
      case 'pad': {
        const [[t, b], [l, r]] = layer.pad;
        y = g.op('Pad', [x, g.i64([0, 0, t, l, 0, 0, b, r])], {}, layer.name);
        break;
      }
    }
    xs.push(y);
  });
  const features = xs[layers.length]!;

  // ---- tag head ----
  const outputs: OnnxTensorInfo[] = [];
  const dimN = 'N';
  const dimH: number | string = gh.dynamic ? 'H' : cfg.inputSize;
  const dimW: number | string = gw.dynamic ? 'W' : cfg.inputSize;
  let headKernel: string | null = null;
  let tagLogits: string | null = null;
  if (method !== 'unet') {
    const hk = weight(weights, 'head/kernel');
    const hb = weight(weights, 'head/bias');
    headKernel = g.floatTensor('head/kernel', hk.shape, hk.data);
    const headBias = g.floatTensor('head/bias', hb.shape, hb.data);
    const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [features], {}, 'gap')], { axis: int(1) }, 'gap_flat');
    tagLogits = g.op('Gemm', [pooled, headKernel, headBias], {}, 'tags');
  }

  // ---- segmentation ----
  /** The class activation map Σ_f w_cf A_f: a 1×1 conv whose filters are the head kernel's columns (the same initializer, transposed). */
  const classActivationMap = (): string => {
    const cf = weight(weights, 'head/kernel').shape[0]!;
    const filters = g.op(
      'Reshape',
      [g.op('Transpose', [headKernel!], { perm: ints([1, 0]) }, 'head_t'), g.i64([C, cf, 1, 1])],
      {},
      'cam_filters',
    );
    return g.op('Conv', [features, filters], { kernel_shape: ints([1, 1]) }, 'cam');
  };
  let seg: string;
  if (method === 'lrp') {
    seg = lrpGraph(g, cfg, xs, gates, kernels, headKernel!, lrpStop, geo, shapeOf, resizeNearestBy);
    if (lrpStop > 0) seg = resizeBilinearToImage(seg);
    if (cfg.lrpTopRelevance) {
      // + the relevance at the last feature map per input pixel: the class activation map over the stop's area (segmenter.ts)
      const cam = classActivationMap();
      const stopArea = g.op(
        'Cast',
        [g.op('ReduceProd', [shapeOf(xs[lrpStop]!, 2, 4)], { keepdims: int(0) }, 'stop_area')],
        { to: int(onnx.TensorProto.DataType.FLOAT) },
        'stop_area_f',
      );
      seg = g.op('Add', [seg, g.op('Div', [resizeBilinearToImage(cam), stopArea], {}, 'top_relevance')], {}, 'lrp_two_depths');
    }
  } else if (method === 'gradcam') {
    let cam = classActivationMap();
    if (cfg.gradcamRelu) cam = g.op('Relu', [cam], {}, 'cam_relu');
    seg = resizeBilinearToImage(cam);
  } else {
    seg = unetGraph(g, cfg, weights, xs, downsampling, resizeNearest);
    // the decoder ends at the resolution of the shallowest skip, which differs from the input only behind padding / valid convs
    if (!JSON.parse(signature(cfg, gh.plan)).unetOutIsInput || !JSON.parse(signature(cfg, gw.plan)).unetOutIsInput)
      seg = resizeBilinearToImage(seg);
  }

  // ---- heatLogits (losses.ts): per-pixel normalisation over all C classes, then × heatScale ----
  const decodes = method === 'lrp' || method === 'gradcam';
  if (decodes && heatNorm === 'pixel') {
    const abs = g.op('Abs', [seg], {}, 'abs');
    const perPixel = g.op('ReduceMean', [abs], { axes: ints([1]), keepdims: int(1) }, 'abs_mean_pixel');
    const imageMean = g.op('ReduceMean', [abs], { axes: ints([1, 2, 3]), keepdims: int(1) }, 'abs_mean_image');
    const floor = g.op('Add', [g.op('Mul', [imageMean, g.f32([HEAT_NORM_FLOOR])], {}, 'floor'), g.f32([HEAT_NORM_EPS])], {}, 'floor');
    seg = g.op('Div', [seg, g.op('Add', [perPixel, floor], {}, 'normaliser')], {}, 'normalised');
  }
  if (decodes && heatScale !== 1) seg = g.op('Mul', [seg, g.f32([heatScale])], {}, 'scaled');

  g.rename(seg, 'seg_logits');
  const segDoc = decodes
    ? `per-class segmentation logits of all ${C} classes: decoded ${method === 'lrp' ? 'LRP' : 'Grad-CAM'} heatmaps${heatNorm === 'pixel' ? ', divided per pixel by their mean |value| over all classes (+ a small per-image floor)' : ''}, × heatScale ${heatScale}; argmax over the classes the tag head predicts`
    : `per-class segmentation logits of all ${C} classes (U-Net decoder)`;
  outputs.push({ name: 'seg_logits', shape: [dimN, C, dimH, dimW], doc: segDoc });
  if (tagLogits) {
    g.rename(tagLogits, 'tag_logits');
    outputs.push({ name: 'tag_logits', shape: [dimN, C], doc: `multi-label tag logits; sigmoid ≥ ${DECODE_DEFAULTS.threshold} (logit ≥ ${Math.log(DECODE_DEFAULTS.threshold / (1 - DECODE_DEFAULTS.threshold)).toFixed(3)}) = class present` });
  }
  const inputs: OnnxTensorInfo[] = [
    {
      name: 'image',
      shape: [dimN, cfg.encoder.inputChannels, dimH, dimW],
      doc: `float32 NCHW, RGB / ${PIXEL_SCALE} (0..1), H and W multiples of the stride`,
    },
  ];
  return { g, inputs, outputs };
}

/** `1 - step(up(maxPool(a)) - a)` keeping only the first maximum (row-major) of each window, as ops.ts switchMask. */
function switchMask(
  g: GraphBuilder,
  a: string,
  pooled: string,
  kh: number,
  kw: number,
  pool: Record<string, Attr>,
  resizeNearestBy: (x: string, kh: number, kw: number) => string,
  shapeOf: (t: string, start: number, end?: number) => string,
  name: string,
): string {
  const asFloat = (b: string, out: string) => g.op('Cast', [b], { to: int(onnx.TensorProto.DataType.FLOAT) }, out);
  const atMax = asFloat(g.op('Not', [g.op('Greater', [resizeNearestBy(pooled, kh, kw), a])]), `${name}/at_max`);
  if (kh * kw === 1) return atMax;
  const priority: number[] = [];
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) priority.push(kh * kw - (y * kw + x));
  const repeats = g.op('Concat', [g.i64([1, 1]), shapeOf(pooled, 2, 4)], { axis: int(0) }, 'repeats');
  const tiled = g.op('Tile', [g.f32(priority, [1, 1, kh, kw]), repeats], {}, `${name}/priority`);
  const score = g.op('Mul', [atMax, tiled], {}, `${name}/score`);
  const best = g.op('MaxPool', [score], pool, `${name}/best`);
  return asFloat(g.op('Not', [g.op('Greater', [resizeNearestBy(best, kh, kw), score])]), `${name}/switch`);
}

/**
 * lrp.ts lrpDecode for all classes: relevance t as [N·C, ch, h, w]; constant factors (gates, switch
 * masks) of consecutive layers are multiplied together at batch level first and applied to t once.
 * Returns [N, C, h, w] at the input of layer `stop`.
 */
function lrpGraph(
  g: GraphBuilder,
  cfg: SegmenterConfig,
  xs: string[],
  gates: Map<number, string>,
  kernels: Map<string, string>,
  headKernel: string,
  stop: number,
  geo: [AxisGeometry, AxisGeometry],
  shapeOf: (t: string, start: number, end?: number) => string,
  resizeNearestBy: (x: string, kh: number, kw: number) => string,
): string {
  const C = cfg.classes;
  const layers = cfg.encoder.layers;
  const features = xs[layers.length]!;
  const cache = new Map<string, string>();
  const cached = (key: string, make: () => string): string => cache.get(key) ?? (cache.set(key, make()), cache.get(key)!);
  /** [N, C, ch, h, w] for a forward tensor [N, ch, h, w], and [N·C, ch, h, w] (as -1, ch, h, w). */
  const perClassShape = (ref: string) =>
    cached(`5:${ref}`, () => g.op('Concat', [shapeOf(ref, 0, 1), g.i64([C]), shapeOf(ref, 1)], { axis: int(0) }, 'shape5'));
  const mergedShape = (ref: string) => cached(`4:${ref}`, () => g.op('Concat', [g.i64([-1]), shapeOf(ref, 1)], { axis: int(0) }, 'shape4'));

  // top: GAP + dense gives ∂y_c/∂A = w_c / (h·w) everywhere on the last feature map; kept as a
  // broadcastable [1, C, Cf, 1, 1] until the first layer needs the full tensor
  const area = g.op(
    'Cast',
    [g.op('ReduceProd', [shapeOf(features, 2, 4)], { keepdims: int(0) }, 'area')],
    { to: int(onnx.TensorProto.DataType.FLOAT) },
    'area_f',
  );
  const cf = cfg.encoder.layers.reduce((c, l) => (l.type === 'conv' ? l.filters : c), cfg.encoder.inputChannels);
  const columns = g.op(
    'Reshape',
    [g.op('Transpose', [headKernel], { perm: ints([1, 0]) }, 'head_t'), g.i64([1, C, cf, 1, 1])],
    {},
    'lrp_top',
  );
  let t5: string | null = g.op('Div', [columns, area], {}, 'lrp_top');
  let t5Broadcast = true;
  let t4: string | null = null;
  let pending: string | null = null;

  /** Applies pending factors and returns t as [N, C, ch, h, w] (the full shape of forward tensor `ref`). */
  const flush5 = (ref: string): string => {
    let t = t5 ?? g.op('Reshape', [t4!, perClassShape(ref)], {}, 'lrp_t5');
    if (pending) {
      t = g.op('Mul', [t, g.op('Unsqueeze', [pending, g.i64([1])], {}, 'factor5')], {}, 'lrp_gated');
      pending = null;
      t5Broadcast = false;
    }
    if (t5Broadcast) t = g.op('Expand', [t, perClassShape(ref)], {}, 'lrp_t5');
    t5Broadcast = false;
    return t;
  };
  const flush4 = (ref: string): string => {
    if (t4 && !pending) return t4;
    const t = g.op('Reshape', [flush5(ref), mergedShape(ref)], {}, 'lrp_t');
    t5 = null;
    return t;
  };

  for (let i = layers.length - 1; i >= stop; i--) {
    const layer = layers[i]!;
    const out = xs[i + 1]!;
    switch (layer.type) {
      case 'relu':
      case 'leaky':
      case 'maxpool': {
        if (layer.type === 'maxpool') {
          t4 = resizeNearestBy(flush4(out), layer.pool[0], layer.pool[1]);
          t5 = null;
        }
        const factor = gates.get(i)!;
        pending = pending && layer.type !== 'maxpool' ? g.op('Mul', [pending, factor], {}, 'factor') : factor;
        break;
      }
      case 'conv': {
        const ch = geo[0].plan.conv[i]!;
        const cw = geo[1].plan.conv[i]!;
        t4 = g.op(
          'ConvTranspose',
          [flush4(out), kernels.get(layer.name)!],
          {
            kernel_shape: ints(layer.kernel),
            strides: ints(layer.strides),
            pads: ints([ch.pads[0], cw.pads[0], ch.pads[1], cw.pads[1]]),
            ...(ch.outputPadding || cw.outputPadding ? { output_padding: ints([ch.outputPadding, cw.outputPadding]) } : {}),
          },
          `${layer.name}/transposed`,
        );
        t5 = null;
        break;
      }
      case 'pad': {
        const [[top, bottom], [left, right]] = layer.pad;
        const end = (v: number) => (v > 0 ? -v : Number.MAX_SAFE_INTEGER);
        t4 = g.op('Slice', [flush4(out), g.i64([top, left]), g.i64([end(bottom), end(right)]), g.i64([2, 3])], {}, `${layer.name}/cropped`);
        t5 = null;
        break;
      }
    }
  }
  // bottom: Σ_ch a ⊙ t with a = the image (depth 0) or the map entering the stop layer
  const bottom = xs[stop]!;
  const t = flush5(bottom);
  return g.op(
    'ReduceSum',
    [g.op('Mul', [g.op('Unsqueeze', [bottom, g.i64([1])], {}, 'bottom5'), t], {}, 'relevance'), g.i64([2])],
    { keepdims: int(0) },
    'heat',
  );
}

/** unet.ts UNetDecoder.forward: nearest upsample → concat [up, skip] → 3×3 conv + ReLU stages → 1×1 conv. */
function unetGraph(
  g: GraphBuilder,
  cfg: SegmenterConfig,
  weights: WeightMap,
  xs: string[],
  downsampling: number[],
  resizeNearest: (x: string, to: string) => string,
): string {
  const conv = (name: string, x: string, relu: boolean): string => {
    const kw = weight(weights, `unet/${name}/kernel`);
    const k = oihw(kw);
    const kernel = g.floatTensor(`unet/${name}/kernel`, k.dims, k.data);
    const b = weight(weights, `unet/${name}/bias`);
    const bias = g.floatTensor(`unet/${name}/bias`, b.shape, b.data);
    const [kh, kwid] = [k.dims[2]!, k.dims[3]!];
    const pads = [Math.floor((kh - 1) / 2), Math.floor((kwid - 1) / 2), Math.ceil((kh - 1) / 2), Math.ceil((kwid - 1) / 2)];
    const y = g.op('Conv', [x, kernel, bias], { kernel_shape: ints([kh, kwid]), pads: ints(pads) }, `unet/${name}`);
    return relu ? g.op('Relu', [y], {}, `unet/${name}_relu`) : y;
  };
  let h = xs[cfg.encoder.layers.length]!;
  for (let j = downsampling.length - 1; j >= 0; j--) {
    const skip = xs[downsampling[j]!]!;
    h = g.op('Concat', [resizeNearest(h, skip), skip], { axis: int(1) }, `unet/stage${j + 1}_in`);
    for (let m = 0; m < cfg.unetConvsPerStage; m++) h = conv(`stage${j + 1}_conv${m + 1}`, h, true);
  }
  return conv('out', h, false);
}

function tensorType(info: OnnxTensorInfo): OnnxNamespace.IValueInfoProto {
  return {
    name: info.name,
    docString: info.doc,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: info.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Encoder layer types the graph builder translates (models/types.ts EncoderLayer). */
export const ONNX_LAYER_TYPES = ['conv', 'relu', 'leaky', 'maxpool', 'pad'] as const;

/** A clear error naming the first encoder layer the export cannot translate (before the generic config validation). */
function checkLayerTypes(modelDir: string, segmenter: unknown): void {
  const layers = (segmenter as { encoder?: { layers?: unknown } } | null)?.encoder?.layers;
  if (!Array.isArray(layers)) return;
  layers.forEach((l: unknown, i) => {
    const { type, name } = (l ?? {}) as { type?: unknown; name?: unknown };
    if (!(ONNX_LAYER_TYPES as readonly unknown[]).includes(type))
      throw new Error(
        `${path.join(modelDir, 'heatseg-model.json')}: encoder layer ${i}${typeof name === 'string' ? ` '${name}'` : ''} has type ` +
          `${JSON.stringify(type)}, which heatseg cannot convert to ONNX (supported layer types: ${ONNX_LAYER_TYPES.join(', ')})`,
      );
  });
}

/**
 * Writes every file under a temporary name, then renames them into place in order; on any error
 * the temporaries and whatever this call already renamed are removed, and the error names the
 * folder. So an interrupted export never leaves a file that looks complete.
 */
function writeAllOrNothing(files: Array<{ final: string; data: Uint8Array | string }>): void {
  const placed: string[] = [];
  // Unique temporary names, created exclusively: an existing file is never written over or removed.
  const tag = `${TEMP_MARK}${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const temps = files.map((f) => `${f.final}${tag}`);
  const created: string[] = [];
  const existing = files.find((f) => fs.existsSync(f.final));
  if (existing) throw new Error(`${existing.final} already exists; not replacing it (choose a new folder)`);
  try {
    fs.mkdirSync(path.dirname(files[0]!.final), { recursive: true });
    files.forEach((f, i) => {
      try {
        fs.writeFileSync(temps[i]!, f.data, { flag: 'wx' });
      } catch (e) {
        // EEXIST: the name was someone else's, leave it; any other error: ours, half-written.
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') created.push(temps[i]!);
        throw e;
      }
      created.push(temps[i]!);
    });
    files.forEach((f, i) => {
      fs.renameSync(temps[i]!, f.final);
      placed.push(f.final);
    });
  } catch (e) {
    for (const t of [...created, ...placed]) {
      try {
        fs.rmSync(t, { force: true });
      } catch {
        // nothing can exist where the folder could not be made
      }
    }
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS'
        ? 'the folder is not writable'
        : err.code === 'ENOSPC'
          ? 'the disk is full'
          : err.code === 'ENOTDIR'
            ? 'part of the path is a file, not a folder'
            : 'write failed';
    throw new Error(`cannot write the ONNX export to ${path.dirname(files[0]!.final)}: ${why} (${err.message}); nothing was left behind`, {
      cause: e,
    });
  }
}

/**
 * Writes `outFile` (ONNX) from the heatseg model folder `modelDir`, and `<outFile>.json` beside
 * it: the model's heatseg-model.json (without the weight manifest) plus the ONNX I/O contract.
 * Pure JavaScript (no tfjs kernels run), so it is cheap on any thread.
 */
export function exportOnnx(modelDir: string, outFile: string, opts: ExportOnnxOptions = {}): OnnxExportInfo {
  const meta = readModelMeta(modelDir);
  checkLayerTypes(modelDir, meta.segmenter);
  const cfg = parseSegmenterConfig(meta.segmenter);
  const weights = readModelWeights(modelDir, meta);
  if (meta.classes.length !== cfg.classes)
    throw new Error(`${modelDir}: ${meta.classes.length} class names for a ${cfg.classes}-class model`);
  if (cfg.method !== meta.method)
    throw new Error(`${modelDir}: method ${meta.method} in the metadata, ${cfg.method} in the segmenter config`);
  const geo: [AxisGeometry, AxisGeometry] = [
    axisGeometry(cfg, 0, opts.staticSize ?? false),
    axisGeometry(cfg, 1, opts.staticSize ?? false),
  ];
  const { g, inputs, outputs } = buildGraph(cfg, weights, meta.heatScale, meta.heatNorm, geo);

  const { segmenter: _s, weights: _w, ...described } = meta;
  const contract = {
    format: ONNX_FORMAT,
    version: 1,
    opset: ONNX_OPSET,
    inputs,
    outputs,
    stride: [geo[0].stride, geo[1].stride],
    minSize: [geo[0].minSize, geo[1].minSize],
    dynamicSize: { height: geo[0].dynamic, width: geo[1].dynamic },
    normalisation: NORMALISATION_NOTE,
    decodeDefaults: DECODE_DEFAULTS,
    alwaysDecode: meta.alwaysDecode,
    testTimeAugmentation: DEFAULT_TTA,
    refine: DEFAULT_REFINE,
    reading: ONNX_READING_NOTE,
    differencesFromApp: DIFFERENCES_NOTE,
  };
  const props: Record<string, string> = {
    'heatseg.format': `${ONNX_FORMAT}/1`,
    method: cfg.method,
    classes: JSON.stringify(meta.classes.map((c) => c.name)),
    colors: JSON.stringify(meta.classes.map((c) => c.color)),
    input_size: String(cfg.inputSize),
    stride: JSON.stringify(contract.stride),
    min_size: JSON.stringify(contract.minSize),
    dynamic_size: String(geo[0].dynamic && geo[1].dynamic),
    normalisation: contract.normalisation,
    pixel_scale: String(PIXEL_SCALE),
    decode_defaults: JSON.stringify(DECODE_DEFAULTS),
    test_time_augmentation: JSON.stringify(DEFAULT_TTA),
    refine: JSON.stringify(DEFAULT_REFINE),
    input_layout: 'NCHW float32 [N, 3, H, W]',
    heat_scale: String(meta.heatScale),
    heat_norm: meta.heatNorm,
    always_decode: JSON.stringify(meta.alwaysDecode),
    outputs: JSON.stringify(outputs.map((o) => ({ name: o.name, shape: o.shape, doc: o.doc }))),
    how_to_read: ONNX_READING_NOTE,
    differences_from_app: DIFFERENCES_NOTE,
    'heatseg.model_json': JSON.stringify(described),
  };
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'heatseg',
    producerVersion: '1',
    docString: `heatseg ${cfg.method} segmenter (${meta.backbone}), ${cfg.classes} classes. ${ONNX_READING_NOTE}`,
    metadataProps: Object.entries(props).map(([key, value]) => ({ key, value })),
    graph: {
      name: `heatseg_${cfg.method}`,
      node: g.nodes,
      initializer: g.initializers,
      input: inputs.map(tensorType),
      output: outputs.map(tensorType),
    },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  const abs = path.resolve(outFile);
  const jsonFile = (opts.writeJson ?? true) ? `${abs}.json` : null;
  const files: Array<{ final: string; data: Uint8Array | string }> = [
    ...(jsonFile ? [{ final: jsonFile, data: JSON.stringify({ ...contract, file: path.basename(abs), model: described }, null, 1) }] : []),
    { final: abs, data: bytes }, // renamed last: a model.onnx that exists is complete, with its sidecar beside it
  ];
  writeAllOrNothing(files);
  return {
    file: abs,
    jsonFile,
    opset: ONNX_OPSET,
    method: cfg.method,
    ops: g.opTypes(),
    nodes: g.nodes.length,
    inputs,
    outputs,
    dynamicSize: contract.dynamicSize,
    stride: [geo[0].stride, geo[1].stride],
    minSize: [geo[0].minSize, geo[1].minSize],
  };
}
