/**
 * Imports a pretrained backbone from a Keras-converted TF.js layers model folder (model.json +
 * weight shards) read straight from disk: the topology is parsed here, not by tf.loadLayersModel,
 * because we need the weights as arrays to fold BatchNorm and a precise refusal for anything the
 * tied LRP decoder cannot invert. The classifier conv (the last conv before global average
 * pooling) and everything after it are dropped; the segmenter puts its own head on.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { EncoderLayer, EncoderSpec, WeightEntry, WeightMap } from './types.js';

export const SUPPORTED_KERAS_LAYERS = [
  'InputLayer',
  'Conv2D',
  'BatchNormalization',
  'ReLU',
  'LeakyReLU',
  'Activation',
  'MaxPooling2D',
  'ZeroPadding2D',
  'GlobalAveragePooling2D',
] as const;

export interface LayersModelFolder {
  modelJsonPath: string;
  /** `modelTopology` of model.json (Keras model config). */
  topology: Record<string, unknown>;
  /** Every weight of the manifest by name, as float32. */
  weights: Map<string, WeightEntry>;
}

export interface KerasBackbone {
  spec: EncoderSpec;
  /** Folded conv weights named like the segmenter's, `encoder/<layer>/kernel|bias`. */
  weights: WeightMap;
  /** Names of the Keras layers dropped with the classifier (classifier conv first). */
  dropped: string[];
}

/** Reads model.json and all weight shards of a TF.js layers model (a folder or a model.json path). */
export async function readLayersModelFolder(location: string): Promise<LayersModelFolder> {
  const modelJsonPath = location.endsWith('.json') ? location : path.join(location, 'model.json');
  const dir = path.dirname(modelJsonPath);
  let text: string;
  try {
    text = await fs.readFile(modelJsonPath, 'utf8');
  } catch (err) {
    throw new Error(`cannot read layers model ${modelJsonPath}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${modelJsonPath} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const root = record(json, modelJsonPath);
  const topology = record(root.modelTopology, `${modelJsonPath}: modelTopology`);
  const manifest = root.weightsManifest;
  if (!Array.isArray(manifest)) throw new Error(`${modelJsonPath} has no weightsManifest`);

  const weights = new Map<string, WeightEntry>();
  for (const [g, groupRaw] of manifest.entries()) {
    const group = record(groupRaw, `${modelJsonPath}: weightsManifest[${g}]`);
    const paths = group.paths;
    const specs = group.weights;
    if (!Array.isArray(paths) || !Array.isArray(specs)) throw new Error(`${modelJsonPath}: weightsManifest[${g}] needs paths and weights`);
    const buffers: Buffer[] = [];
    for (const p of paths) {
      const file = path.join(dir, String(p));
      try {
        buffers.push(await fs.readFile(file));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new Error(
          code === 'ENOENT'
            ? `weight shard '${String(p)}' listed in ${modelJsonPath} is missing (${file})`
            : `cannot read weight shard '${String(p)}' (${file}): ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    const bytes = Buffer.concat(buffers);
    let offset = 0;
    for (const specRaw of specs) {
      const spec = record(specRaw, `${modelJsonPath}: weight spec`);
      const name = String(spec.name);
      const shape = spec.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw new Error(`weight '${name}' in ${modelJsonPath} has an invalid shape`);
      }
      if (spec.quantization !== undefined)
        throw new Error(`weight '${name}' in ${modelJsonPath} is quantized; only float32 weights are supported`);
      if (spec.dtype !== 'float32')
        throw new Error(`weight '${name}' in ${modelJsonPath} has dtype ${String(spec.dtype)}; only float32 is supported`);
      const size = (shape as number[]).reduce((a, b) => a * b, 1);
      const end = offset + size * 4;
      if (end > bytes.length) {
        throw new Error(`weight shards ${paths.join(', ')} hold ${bytes.length} bytes, too few for weight '${name}' (needs ${end})`);
      }
      const data = new Float32Array(size);
      new Uint8Array(data.buffer).set(bytes.subarray(offset, end));
      weights.set(name, { shape: shape as number[], data });
      offset = end;
    }
  }
  return { modelJsonPath, topology, weights };
}

/** Reads a layers model folder and converts it into an encoder spec with BatchNorm folded in. */
export async function importKerasBackbone(location: string): Promise<KerasBackbone> {
  const folder = await readLayersModelFolder(location);
  return kerasBackboneFromTopology(folder.topology, folder.weights, folder.modelJsonPath);
}

interface KerasLayer {
  className: string;
  name: string;
  config: Record<string, unknown>;
  inbound: string[] | null;
}

interface ConvWeights {
  kernel: WeightEntry;
  bias: Float32Array;
}

export function kerasBackboneFromTopology(
  topology: Record<string, unknown>,
  weights: Map<string, WeightEntry>,
  source: string,
): KerasBackbone {
  const layers = listLayers(topology, source);
  const out: EncoderLayer[] = [];
  const convs = new Map<string, ConvWeights>();
  let channels: number | null = null;
  /** The conv a following BatchNormalization folds into (the last emitted layer, if a conv). */
  let foldTarget: string | null = null;
  let gapAt: number | null = null;

  const weight = (name: string, layer: KerasLayer): WeightEntry => {
    const w = weights.get(name);
    if (!w) throw new Error(`layer '${layer.name}' (${layer.className}) needs weight '${name}', which ${source} does not have`);
    return w;
  };
  const refuse = (layer: KerasLayer, why: string): never => {
    throw new Error(`layer '${layer.name}' (${layer.className}) in ${source}: ${why}`);
  };

  for (const [i, layer] of layers.entries()) {
    const c = layer.config;
    if (i > 0 && layer.inbound !== null) {
      const prev = layers[i - 1]!.name;
      if (layer.inbound.length !== 1 || layer.inbound[0] !== prev) {
        refuse(
          layer,
          `takes input from [${layer.inbound.join(', ')}], not only from the layer before ('${prev}'); only plain chains are supported`,
        );
      }
    }
    if (gapAt !== null) {
      // the classification head is dropped; an output activation (e.g. softmax) is harmless there
      if (layer.className === 'Activation') continue;
      refuse(layer, 'only an Activation may follow GlobalAveragePooling2D');
    }
    if (c.data_format !== undefined && c.data_format !== 'channels_last')
      refuse(layer, `data_format ${String(c.data_format)} is not supported`);
    const shapeCfg = c.batch_input_shape ?? c.batch_shape;
    if (Array.isArray(shapeCfg) && channels === null) {
      const last = shapeCfg[shapeCfg.length - 1];
      if (typeof last === 'number') channels = last;
    }

    switch (layer.className) {
      case 'InputLayer':
        if (i !== 0) refuse(layer, 'an input layer must come first');
        break;
      case 'Conv2D': {
        const kernel = weight(`${layer.name}/kernel`, layer);
        const [kh, kw, cin, cout] = kernel.shape;
        if (kernel.shape.length !== 4 || kh === undefined || kw === undefined || cin === undefined || cout === undefined) {
          return refuse(layer, `kernel has shape [${kernel.shape.join(', ')}], expected 4-D`);
        }
        if (channels !== null && cin !== channels) refuse(layer, `kernel expects ${cin} input channels, previous layer gives ${channels}`);
        if (!allOnes(c.dilation_rate)) refuse(layer, 'dilated convolutions are not supported');
        if (c.groups !== undefined && c.groups !== 1) refuse(layer, 'grouped convolutions are not supported');
        const padding = c.padding;
        if (padding !== 'same' && padding !== 'valid') refuse(layer, `padding '${String(padding)}' is not supported`);
        const activation = c.activation ?? 'linear';
        if (activation !== 'linear' && activation !== 'relu')
          refuse(layer, `activation '${String(activation)}' is not supported (linear or relu only)`);
        const strides = pair(c.strides ?? 1, layer, 'strides');
        const bias = c.use_bias === false ? new Float32Array(cout) : new Float32Array(weight(`${layer.name}/bias`, layer).data);
        if (bias.length !== cout) refuse(layer, `bias has ${bias.length} entries for ${cout} filters`);
        convs.set(layer.name, { kernel: { shape: [...kernel.shape], data: new Float32Array(kernel.data) }, bias });
        out.push({ type: 'conv', name: layer.name, filters: cout, kernel: [kh, kw], strides, padding: padding as 'same' | 'valid' });
        channels = cout;
        foldTarget = layer.name;
        if (activation === 'relu') {
          out.push({ type: 'relu', name: `${layer.name}_relu` });
          foldTarget = null;
        }
        break;
      }
      case 'BatchNormalization': {
        if (foldTarget === null) refuse(layer, 'does not directly follow a Conv2D, so it cannot be folded into one');
        const axis = Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : (c.axis ?? -1);
        if (axis !== -1 && axis !== 3) refuse(layer, `axis ${JSON.stringify(c.axis)} is not the channel axis`);
        foldBatchNorm(convs.get(foldTarget!)!, layer, c, (n) => weight(n, layer));
        break;
      }
      case 'ReLU': {
        if (c.max_value !== undefined && c.max_value !== null) refuse(layer, 'a capped ReLU (max_value) is not supported');
        if (typeof c.threshold === 'number' && c.threshold !== 0) refuse(layer, 'a ReLU threshold other than 0 is not supported');
        const slope = typeof c.negative_slope === 'number' ? c.negative_slope : 0;
        out.push(slope > 0 ? { type: 'leaky', name: layer.name, alpha: slope } : { type: 'relu', name: layer.name });
        foldTarget = null;
        break;
      }
      case 'LeakyReLU': {
        const alpha = typeof c.alpha === 'number' ? c.alpha : typeof c.negative_slope === 'number' ? c.negative_slope : 0.3;
        out.push({ type: 'leaky', name: layer.name, alpha });
        foldTarget = null;
        break;
      }
      case 'Activation':
        if (c.activation === 'relu') {
          out.push({ type: 'relu', name: layer.name });
          foldTarget = null;
        } else if (c.activation !== 'linear') {
          refuse(layer, `activation '${String(c.activation)}' is not supported (relu or linear only)`);
        }
        break;
      case 'MaxPooling2D': {
        const pool = pair(c.pool_size ?? 2, layer, 'pool_size');
        const strides = c.strides === null || c.strides === undefined ? pool : pair(c.strides, layer, 'strides');
        if (strides[0] !== pool[0] || strides[1] !== pool[1]) refuse(layer, 'overlapping pooling (strides ≠ pool_size) is not supported');
        // 'same' equals 'valid' whenever the size divides; the encoder refuses sizes that do not
        out.push({ type: 'maxpool', name: layer.name, pool });
        foldTarget = null;
        break;
      }
      case 'ZeroPadding2D': {
        out.push({ type: 'pad', name: layer.name, pad: zeroPadding(c.padding, layer) });
        foldTarget = null;
        break;
      }
      case 'GlobalAveragePooling2D':
        gapAt = out.length;
        break;
      default:
        refuse(layer, `unsupported layer class; only ${SUPPORTED_KERAS_LAYERS.join(', ')} can be imported`);
    }
  }

  const dropped: string[] = [];
  let keep = out.length;
  if (gapAt !== null) {
    let lastConv = -1;
    for (let j = gapAt - 1; j >= 0; j--) {
      if (out[j]!.type === 'conv') {
        lastConv = j;
        break;
      }
    }
    if (lastConv < 0) throw new Error(`${source}: no Conv2D before GlobalAveragePooling2D to drop as the classifier`);
    keep = lastConv;
    for (const l of out.slice(lastConv)) dropped.push(l.name);
  }
  const kept = out.slice(0, keep);
  if (!kept.some((l) => l.type === 'conv')) throw new Error(`${source}: nothing is left of the backbone after dropping the classifier`);

  const named: WeightMap = {};
  for (const l of kept) {
    if (l.type !== 'conv') continue;
    const w = convs.get(l.name)!;
    named[`encoder/${l.name}/kernel`] = w.kernel;
    named[`encoder/${l.name}/bias`] = { shape: [w.bias.length], data: w.bias };
  }
  const firstConv = kept.find((l) => l.type === 'conv');
  const inputChannels = channels !== null && firstConv ? (convs.get(firstConv.name)!.kernel.shape[2] ?? 3) : 3;
  return { spec: { family: 'keras', inputChannels, layers: kept, source }, weights: named, dropped };
}

/** W' = W·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β. */
function foldBatchNorm(conv: ConvWeights, layer: KerasLayer, c: Record<string, unknown>, weight: (name: string) => WeightEntry): void {
  const cout = conv.bias.length;
  const eps = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
  const ones = new Float32Array(cout).fill(1);
  const gamma = c.scale === false ? ones : weight(`${layer.name}/gamma`).data;
  const beta = c.center === false ? new Float32Array(cout) : weight(`${layer.name}/beta`).data;
  const mean = weight(`${layer.name}/moving_mean`).data;
  const variance = weight(`${layer.name}/moving_variance`).data;
  for (const [what, arr] of [
    ['gamma', gamma],
    ['beta', beta],
    ['moving_mean', mean],
    ['moving_variance', variance],
  ] as const) {
    if (arr.length !== cout)
      throw new Error(`layer '${layer.name}' (BatchNormalization): ${what} has ${arr.length} entries for ${cout} channels`);
  }
  const factor = new Float64Array(cout);
  for (let o = 0; o < cout; o++) {
    factor[o] = gamma[o]! / Math.sqrt(variance[o]! + eps);
    conv.bias[o] = (conv.bias[o]! - mean[o]!) * factor[o]! + beta[o]!;
  }
  const k = conv.kernel.data;
  for (let i = 0; i < k.length; i++) k[i] = k[i]! * factor[i % cout]!;
}

function listLayers(topology: Record<string, unknown>, source: string): KerasLayer[] {
  const modelConfig = record(topology.model_config ?? topology, `${source}: model config`);
  const className = modelConfig.class_name;
  const config = modelConfig.config;
  let rawLayers: unknown;
  if (className === 'Sequential') rawLayers = Array.isArray(config) ? config : record(config, `${source}: Sequential config`).layers;
  else if (className === 'Model' || className === 'Functional') rawLayers = record(config, `${source}: model config`).layers;
  else throw new Error(`${source}: model class '${String(className)}' is not supported (Sequential or a functional Model only)`);
  if (!Array.isArray(rawLayers)) throw new Error(`${source}: the model config lists no layers`);
  const functional = className !== 'Sequential';
  return rawLayers.map((raw, i) => {
    const l = record(raw, `${source}: layer ${i}`);
    const config = record(l.config ?? {}, `${source}: layer ${i} config`);
    const name = String(config.name ?? l.name ?? `layer_${i}`);
    return { className: String(l.class_name), name, config, inbound: functional ? inboundNames(l.inbound_nodes) : null };
  });
}

/** Input layer names of a functional layer, in Keras 2 ([[[name, 0, 0, {}]]]) or Keras 3 (args / keras_history) form. */
function inboundNames(nodes: unknown): string[] {
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  const names: string[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      if (typeof v[0] === 'string' && typeof v[1] === 'number') names.push(v[0]);
      else v.forEach(visit);
    } else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const history = (o.config as Record<string, unknown> | undefined)?.keras_history;
      if (Array.isArray(history) && typeof history[0] === 'string') names.push(history[0]);
      else if (o.args !== undefined) visit(o.args);
    }
  };
  visit(nodes);
  return names;
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function pair(v: unknown, layer: KerasLayer, what: string): [number, number] {
  const arr = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 2 || !arr.every((x) => Number.isInteger(x) && x > 0)) {
    throw new Error(`layer '${layer.name}' (${layer.className}): ${what} ${JSON.stringify(v)} is not a pair of positive integers`);
  }
  return [arr[0] as number, arr[1] as number];
}

function allOnes(v: unknown): boolean {
  if (v === undefined || v === null || v === 1) return true;
  return Array.isArray(v) && v.every((x) => x === 1);
}

function zeroPadding(v: unknown, layer: KerasLayer): [[number, number], [number, number]] {
  const ok = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;
  if (ok(v))
    return [
      [v, v],
      [v, v],
    ];
  if (Array.isArray(v) && v.length === 2) {
    const [a, b] = v as unknown[];
    if (ok(a) && ok(b))
      return [
        [a, a],
        [b, b],
      ];
    if (Array.isArray(a) && Array.isArray(b) && a.length === 2 && b.length === 2 && [...a, ...b].every(ok)) {
      return [
        [a[0], a[1]],
        [b[0], b[1]],
      ];
    }
  }
  throw new Error(`layer '${layer.name}' (ZeroPadding2D): padding ${JSON.stringify(v)} is not understood`);
}
