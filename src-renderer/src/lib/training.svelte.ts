/**
 * The training loop as the renderer sees it: the server's training state machine (pushed as
 * `{type:'train'}` events, coalesced to a few updates a second so a fast run cannot flood the UI),
 * the project's runs, and the Train panel's form. One instance for the window: training belongs to
 * the session, not to any one view, and the latest completed run is the model behind the overlays
 * and the suggestions.
 */
import type { Input, RunInfo, TrainStatus } from '../../../src-shared/api';
import { api, errorMessage } from './api';
import { events } from './events.svelte';

export type TrainMethod = 'lrp' | 'gradcam' | 'unet' | 'mtunet';
export type TrainBackend = '' | 'tensorflow' | 'wasm' | 'cpu';

export const METHODS: Array<{ value: TrainMethod; label: string; hint: string }> = [
  { value: 'lrp', label: 'LRP heatmaps', hint: 'Tag classifier whose relevance heatmaps are trained on the scribbles' },
  { value: 'gradcam', label: 'Grad-CAM', hint: 'Tag classifier with Grad-CAM heatmaps trained on the scribbles' },
  { value: 'unet', label: 'U-Net', hint: 'Plain segmenter: learns from the scribbles only' },
  { value: 'mtunet', label: 'Multi-task U-Net', hint: 'U-Net with a tag head: learns from scribbles and tags' },
];

export const BACKENDS: Array<{ value: TrainBackend; label: string }> = [
  { value: '', label: 'Best available' },
  { value: 'tensorflow', label: 'TensorFlow (native)' },
  { value: 'wasm', label: 'WebAssembly' },
  { value: 'cpu', label: 'Plain JavaScript (slow)' },
];

export interface TrainForm {
  method: TrainMethod;
  backbone: 'small' | 'folder';
  /** A TF.js layers model folder (holding model.json), when backbone is 'folder'. */
  backbonePath: string;
  epochs: number;
  size: number;
  backend: TrainBackend;
  seed: number;
}

export const DEFAULT_FORM: TrainForm = { method: 'lrp', backbone: 'small', backbonePath: '', epochs: 20, size: 128, backend: '', seed: 1 };

export function idleStatus(): TrainStatus {
  return { state: 'idle', runId: null, backend: null, epoch: 0, step: 0, totalSteps: null, etaSec: null, imagesPerSec: null, losses: [], uniformHeatLoss: null, message: null };
}

/** What is wrong with the form, field by field (empty: it can be sent). */
export function formProblems(f: TrainForm): Partial<Record<keyof TrainForm, string>> {
  const p: Partial<Record<keyof TrainForm, string>> = {};
  if (!Number.isInteger(f.epochs) || f.epochs < 1 || f.epochs > 10000) p.epochs = 'Epochs: a whole number from 1 to 10,000.';
  if (!Number.isInteger(f.size) || f.size < 32 || f.size > 1024 || f.size % 16 !== 0) p.size = 'Size: a multiple of 16 from 32 to 1024 px.';
  if (!Number.isInteger(f.seed) || f.seed < 0) p.seed = 'Seed: a whole number, 0 or more.';
  if (f.backbone === 'folder' && !f.backbonePath.trim()) p.backbonePath = 'Give the folder of a TF.js layers model (it holds model.json).';
  return p;
}

export function trainInput(f: TrainForm): Input<'train.start'> {
  return {
    method: f.method,
    backbone: f.backbone === 'small' ? 'small' : f.backbonePath.trim(),
    epochs: f.epochs,
    size: f.size,
    seed: f.seed,
    ...(f.backend ? { backend: f.backend } : {}),
  };
}

const UPDATE_MS = 100;

export class TrainingState {
  status = $state.raw<TrainStatus>(idleStatus());
  runs = $state.raw<RunInfo[]>([]);
  form = $state<TrainForm>({ ...DEFAULT_FORM });
  /** Why the last start / cancel was refused. */
  error = $state('');
  requesting = $state(false);
  /** Epochs asked for, by run id, for the runs this window started ("epoch k of N"). */
  planned = $state.raw<Record<number, number>>({});
  /** The latest completed run: the model behind overlays and suggestions (null: none yet). */
  readonly modelRunId = $derived(this.runs.find((r) => r.status === 'completed')?.id ?? null);
  readonly active = $derived(this.status.state === 'preparing' || this.status.state === 'training');
  readonly totalEpochs = $derived(this.status.runId !== null ? (this.planned[this.status.runId] ?? null) : null);
  private pending: TrainStatus | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private unlisten: (() => void) | null = null;

  /** Follows the server's training events; returns the stop. */
  connect(): () => void {
    this.unlisten?.();
    const unlisten = events.listen((e) => {
      if (e.type === 'train') this.receive(e.status);
    });
    this.unlisten = unlisten;
    void this.load();
    return () => {
      unlisten();
      if (this.unlisten === unlisten) this.unlisten = null;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
    };
  }

  async load(): Promise<void> {
    try {
      const [status, runs] = await Promise.all([api('train.status', {}), api('runs.list', {})]);
      this.status = status;
      this.runs = runs;
    } catch (e) {
      this.error = `Cannot read the training state: ${errorMessage(e)}`;
    }
  }

  async refreshRuns(): Promise<void> {
    try {
      this.runs = await api('runs.list', {});
    } catch {
      // The project may be switching; the next state change asks again.
    }
  }

  async start(): Promise<boolean> {
    this.error = '';
    const problems = Object.values(formProblems(this.form));
    if (problems.length) {
      this.error = problems.join(' ');
      return false;
    }
    const epochs = this.form.epochs;
    this.requesting = true;
    try {
      const status = await api('train.start', trainInput(this.form));
      if (status.runId !== null) this.planned = { ...this.planned, [status.runId]: epochs };
      this.apply(status);
      return true;
    } catch (e) {
      this.error = errorMessage(e);
      return false;
    } finally {
      this.requesting = false;
    }
  }

  async cancel(): Promise<void> {
    this.error = '';
    try {
      this.apply(await api('train.cancel', {}));
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  /** A step event can come every few milliseconds: show the latest a few times a second. */
  private receive(status: TrainStatus): void {
    const settled = status.state !== 'preparing' && status.state !== 'training';
    this.pending = status;
    if (settled) {
      // The end of a run shows at once.
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush();
    }, UPDATE_MS);
  }

  private flush(): void {
    const s = this.pending;
    this.pending = null;
    if (s) this.apply(s);
  }

  private apply(s: TrainStatus): void {
    const prev = this.status;
    this.status = s;
    if (s.state !== prev.state || s.runId !== prev.runId) void this.refreshRuns();
  }
}

export const training = new TrainingState();
