/**
 * The Train panel's form: methods, backends, defaults, validation, and the train.start input it
 * makes. Pure TypeScript (no Svelte): unit-testable in Node.
 */
import type { Input, TrainStatus } from '../../../src-shared/api';

export type TrainMethod = 'lrp' | 'gradcam' | 'unet' | 'mtunet';
export type TrainBackend = '' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

export const METHODS: Array<{ value: TrainMethod; label: string; hint: string }> = [
  { value: 'lrp', label: 'LRP heatmaps', hint: 'Tag classifier whose relevance heatmaps are trained on the scribbles' },
  { value: 'gradcam', label: 'Grad-CAM', hint: 'Tag classifier with Grad-CAM heatmaps trained on the scribbles' },
  { value: 'unet', label: 'U-Net', hint: 'Plain segmenter: learns from the scribbles only' },
  { value: 'mtunet', label: 'Multi-task U-Net', hint: 'U-Net with a tag head: learns from scribbles and tags' },
];

export const BACKENDS: Array<{ value: TrainBackend; label: string }> = [
  { value: '', label: 'Best available' },
  { value: 'tensorflow', label: 'TensorFlow (native)' },
  { value: 'webgpu', label: 'WebGPU (this GPU)' },
  { value: 'wasm', label: 'WebAssembly' },
  { value: 'cpu', label: 'Plain JavaScript (slow)' },
];

export interface TrainForm {
  method: TrainMethod;
  /** 'darknet-tiny': the pretrained backbone shipped with the app (default); 'small': from scratch. */
  backbone: 'darknet-tiny' | 'small' | 'folder';
  /** A TF.js layers model folder (holding model.json), when backbone is 'folder'. */
  backbonePath: string;
  epochs: number;
  size: number;
  backend: TrainBackend;
  seed: number;
  /** Percent of the pixel-labelled images held out of training for evaluation (when ≥ 5 are labelled). */
  valPercent: number;
}

export const DEFAULT_FORM: TrainForm = { method: 'lrp', backbone: 'darknet-tiny', backbonePath: '', epochs: 20, size: 128, backend: '', seed: 1, valPercent: 20 };

export function idleStatus(): TrainStatus {
  return { state: 'idle', runId: null, backend: null, threads: null, epoch: 0, step: 0, totalSteps: null, etaSec: null, imagesPerSec: null, losses: [], uniformHeatLoss: null, message: null };
}

/** What is wrong with the form, field by field (empty: it can be sent). */
export function formProblems(f: TrainForm): Partial<Record<keyof TrainForm, string>> {
  const p: Partial<Record<keyof TrainForm, string>> = {};
  if (!Number.isInteger(f.epochs) || f.epochs < 1 || f.epochs > 10000) p.epochs = 'Epochs: a whole number from 1 to 10,000.';
  if (!Number.isInteger(f.size) || f.size < 32 || f.size > 1024 || f.size % 16 !== 0) p.size = 'Size: a multiple of 16 from 32 to 1024 px.';
  if (!Number.isInteger(f.seed) || f.seed < 0) p.seed = 'Seed: a whole number, 0 or more.';
  if (!Number.isInteger(f.valPercent) || f.valPercent < 0 || f.valPercent > 90) p.valPercent = 'Held out: a whole percentage from 0 to 90.';
  if (f.backbone === 'folder' && !f.backbonePath.trim()) p.backbonePath = 'Give the folder of a TF.js layers model (it holds model.json).';
  return p;
}

export function trainInput(f: TrainForm): Input<'train.start'> {
  return {
    method: f.method,
    backbone: f.backbone === 'folder' ? f.backbonePath.trim() : f.backbone,
    epochs: f.epochs,
    size: f.size,
    seed: f.seed,
    valFraction: f.valPercent / 100,
    ...(f.backend ? { backend: f.backend } : {}),
  };
}
