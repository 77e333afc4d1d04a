/**
 * `heatseg bench speed`: ms per training step and images/s for each method and available backend
 * at two input sizes (batch 8, half pixel-labelled), with effective GFLOP/s and peak RSS.
 * FLOPs are estimated from the architecture: forward convs 2·Ho·Wo·kh·kw·Cin·Cout per image, a
 * training step 3× forward (forward + input and weight gradients); the LRP decoder adds per
 * decoded class one transposed pass of the encoder's convs (+ its two gradients, 3×); Grad-CAM's
 * decoder is negligible; U-Net decoders are counted like their convs.
 * Warm-up steps are excluded. Ends with one JSON line.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../src-main/engine/backend.js';
import type { Dataset, Sample } from '../src-main/engine/data.js';
import { createSegmenter, type EncoderSpec, type SegMethod } from '../src-main/engine/models/index.js';
import { DEFAULT_TRAIN, train } from '../src-main/engine/trainer.js';
import { rng } from '../src-shared/random.js';

export interface SpeedOptions {
  backends: BackendName[];
  methods: SegMethod[];
  sizes: number[];
  batch: number;
  steps: number;
  warmup: number;
  backbone: string;
  classes: number;
  /** Classes per image (decoded by LRP / Grad-CAM). */
  tagsPerImage: number;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

function encoderForwardFlops(spec: EncoderSpec, size: number): number {
  let h = size, w = size, c = spec.inputChannels, flops = 0;
  for (const l of spec.layers) {
    if (l.type === 'conv') {
      const ho = l.padding === 'same' ? Math.ceil(h / l.strides[0]) : Math.floor((h - l.kernel[0]) / l.strides[0]) + 1;
      const wo = l.padding === 'same' ? Math.ceil(w / l.strides[1]) : Math.floor((w - l.kernel[1]) / l.strides[1]) + 1;
      flops += 2 * ho * wo * l.kernel[0] * l.kernel[1] * c * l.filters;
      h = ho;
      w = wo;
      c = l.filters;
    } else if (l.type === 'maxpool') {
      h = Math.floor(h / l.pool[0]);
      w = Math.floor(w / l.pool[1]);
    } else if (l.type === 'pad') {
      h += l.pad[0][0] + l.pad[0][1];
      w += l.pad[1][0] + l.pad[1][1];
    }
  }
  return flops;
}

function syntheticData(o: SpeedOptions, size: number): Dataset {
  const r = rng(3);
  const samples: Sample[] = Array.from({ length: 32 }, (_, i) => {
    const rgb = Uint8Array.from({ length: size * size * 3 }, () => Math.floor(r() * 256));
    // tagsPerImage distinct classes starting at a random one
    const first = Math.floor(r() * o.classes);
    const tags = Array.from({ length: o.tagsPerImage }, (_, k) => (first + k) % o.classes).sort((a, b) => a - b);
    const labels = i % 2 === 0 ? Uint8Array.from({ length: size * size }, (_, p) => (p % 7 === 0 ? tags[p % tags.length]! : 255)) : null;
    return { id: String(i), rgb, width: size, height: size, tags, labels, origWidth: size, origHeight: size };
  });
  return { classes: Array.from({ length: o.classes }, (_, c) => `c${c}`), samples };
}

export async function benchSpeed(o: SpeedOptions): Promise<Record<string, unknown>> {
  log(`heatseg bench speed — ${new Date().toISOString()}`);
  log(`machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  log(`batch ${o.batch} (half pixel-labelled), ${o.tagsPerImage} tags per image of ${o.classes} classes, ${o.warmup} warm-up + ${o.steps} timed steps, backbone ${o.backbone}`);
  const rows: Array<Record<string, unknown>> = [];
  for (const want of o.backends) {
    let backend;
    try {
      backend = await initBackend(want);
    } catch (e) {
      log(`backend ${want}: unavailable (${(e as Error).message.split('\n')[0]})`);
      continue;
    }
    for (const size of o.sizes) {
      for (const method of o.methods) {
        const model = await createSegmenter({
          method,
          classes: o.classes,
          inputSize: size,
          encoder: o.backbone === 'small' ? { kind: 'small' } : { kind: 'pretrained', path: o.backbone },
        });
        const data = syntheticData(o, size);
        const times: number[] = [];
        let last = Date.now();
        const { epochs: _e, ...untimed } = DEFAULT_TRAIN;
        await train(model, data, { ...untimed, size, batch: o.batch, warmupSteps: 0, augment: { maxScale: 1, flip: false, jitter: 0 } }, {
          onEvent: (e) => {
            if (e.type !== 'step') return;
            const now = Date.now();
            if (e.step > o.warmup) times.push(now - last);
            last = now;
          },
          shouldStop: () => times.length >= o.steps,
        });
        const encF = encoderForwardFlops(model.config().encoder, size);
        const nLab = method === 'unet' ? o.batch : Math.floor(o.batch / 2);
        let flops = 3 * encF * o.batch;
        if (method === 'lrp') flops += 3 * encF * nLab * o.tagsPerImage;
        if (method === 'unet' || method === 'mtunet') flops += 3 * encF * nLab; // decoder convs ≈ encoder's
        const ms = times.reduce((a, b) => a + b, 0) / Math.max(1, times.length);
        const row = {
          backend: backend.name,
          backend_detail: backend.detail,
          method,
          size,
          ms_per_step: Math.round(ms),
          images_per_s: +((o.batch * 1000) / ms).toFixed(2),
          gflop_per_step: +(flops / 1e9).toFixed(2),
          gflops: +(flops / 1e6 / ms).toFixed(2),
          tensors: tf.memory().numTensors,
        };
        rows.push(row);
        log(`${backend.name.padEnd(10)} ${method.padEnd(7)} ${String(size).padStart(4)} px  ${String(row.ms_per_step).padStart(6)} ms/step  ${row.images_per_s.toFixed(1).padStart(6)} img/s  ${row.gflops.toFixed(1).padStart(6)} GFLOP/s`);
        model.dispose();
      }
    }
  }
  const peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  log(`peak RSS ${peakRssMiB} MiB`);
  return { rows, peak_rss_mib: peakRssMiB, batch: o.batch, steps: o.steps, backbone: o.backbone };
}
