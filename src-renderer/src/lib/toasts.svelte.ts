/**
 * Short messages for the whole window (bulk tagging, the training loop's N key, grid undo): one
 * list, shown by Toasts.svelte in a corner of the content area that holds no controls. A message
 * goes by itself after a few seconds; an error stays until dismissed (or replaced), never over a
 * control. A message with the same source replaces the previous one, so repeated key presses do
 * not pile up; at most a few are on screen.
 */
export const INFO_MS = 4000;
const MAX_SHOWN = 3;

export interface Toast {
  id: number;
  /** Where it comes from ('grid', 'loop'): a newer one from the same source replaces it. */
  source: string;
  text: string;
  tone: 'info' | 'error';
  /** One button on the message, e.g. Undo. */
  action?: { label: string; run: () => void };
}

export class Toasts {
  list = $state.raw<Toast[]>([]);
  private seq = 0;
  // Not state: the timers only dismiss.
  private readonly timers: Record<number, ReturnType<typeof setTimeout>> = {};

  show(source: string, text: string, opts: { tone?: 'info' | 'error'; action?: Toast['action'] } = {}): number {
    const toast: Toast = { id: ++this.seq, source, text, tone: opts.tone ?? 'info', ...(opts.action ? { action: opts.action } : {}) };
    for (const t of this.list) if (t.source === source) this.dismiss(t.id);
    while (this.list.length >= MAX_SHOWN) this.dismiss(this.list[0]!.id);
    this.list = [...this.list, toast];
    if (toast.tone === 'info') this.timers[toast.id] = setTimeout(() => this.dismiss(toast.id), INFO_MS);
    return toast.id;
  }

  dismiss(id: number): void {
    clearTimeout(this.timers[id]);
    delete this.timers[id];
    this.list = this.list.filter((t) => t.id !== id);
  }

  /** Forgets the messages of a source (e.g. the project was switched). */
  clear(source?: string): void {
    for (const t of this.list) if (source === undefined || t.source === source) this.dismiss(t.id);
  }
}

export const toasts = new Toasts();
