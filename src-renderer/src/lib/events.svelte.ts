/**
 * One subscription to the main side's event stream (IPC in Electron, server-sent events in browser
 * mode), shared by every view: the latest progress of each long task, and project changes.
 */
import type { AppEvent } from '../../../src-shared/api';
import { onEvent } from './api';

export interface TaskProgress {
  done: number;
  total: number;
  message?: string;
}

class AppEvents {
  /** Latest progress per task name ('import', 'export', …). */
  progress = $state<Record<string, TaskProgress>>({});
  private readonly listeners = new Set<(event: AppEvent) => void>();
  private stop: (() => void) | null = null;

  start(): () => void {
    if (!this.stop) {
      this.stop = onEvent((event) => {
        if (event.type === 'progress') {
          this.progress[event.task] = { done: event.done, total: event.total, message: event.message };
        }
        for (const listener of this.listeners) listener(event);
      });
    }
    return () => {
      this.stop?.();
      this.stop = null;
    };
  }

  /** Opens the stream again (after signing in again: the old one was refused and closed). */
  reconnect(): void {
    if (!this.stop) return;
    this.stop();
    this.stop = null;
    this.start();
  }

  clear(task: string): void {
    delete this.progress[task];
  }

  listen(listener: (event: AppEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export const events = new AppEvents();
