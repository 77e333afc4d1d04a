/**
 * The training loop as the renderer sees it: the server's training state machine (pushed as
 * `{type:'train'}` events, coalesced to a few updates a second so a fast run cannot flood the UI),
 * the project's runs, and the Train panel's form. One instance for the window: training belongs to
 * the session, not to any one view, and the latest completed run is the model behind the overlays
 * and the suggestions. What it holds is the open project's: connect() starts it afresh for another.
 */
import type { RunInfo, TrainStatus } from '../../../src-shared/api';
import { api, errorMessage } from './api';
import { events } from './events.svelte';
import { DEFAULT_FORM, formProblems, idleStatus, trainInput, type TrainForm } from './train-form';

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

  private project: string | null = null;

  /** The folder of the project this state is about (null before connect). */
  get projectPath(): string | null {
    return this.project;
  }

  /**
   * Follows the server's training events for the project now open; returns the stop. Training state
   * belongs to a project: a project opened after another starts from nothing here (not the other's
   * run, curves or runs) until the server says what its own state is.
   */
  connect(project: string): () => void {
    this.unlisten?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    if (project !== this.project) {
      this.project = project;
      this.status = idleStatus();
      this.runs = [];
      this.planned = {};
      this.error = '';
    }
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
    const project = this.project;
    try {
      const [status, runs] = await Promise.all([api('train.status', {}), api('runs.list', {})]);
      if (project !== this.project) return; // an answer about the project that was open before
      this.status = status;
      this.runs = runs;
    } catch (e) {
      this.error = `Cannot read the training state: ${errorMessage(e)}`;
    }
  }

  async refreshRuns(): Promise<void> {
    const project = this.project;
    try {
      const runs = await api('runs.list', {});
      if (project === this.project) this.runs = runs;
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
      // The end of the run normally arrives as an event; ask as well, so a dropped event stream
      // (EventSource reconnects lose what was sent meanwhile) never leaves the panel "training".
      for (let i = 0; i < 120; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        const status = await api('train.status', {});
        if (status.state !== 'preparing' && status.state !== 'training') {
          this.receive(status);
          break;
        }
      }
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
