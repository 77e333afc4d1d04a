/** The shape of `window.heatseg`, which the Electron preload exposes to the renderer. */
import type { AppEvent } from './api.js';

export type IpcReply = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };

export interface HeatsegBridge {
  call(method: string, input: unknown): Promise<unknown>;
  onEvent(listener: (event: AppEvent) => void): () => void;
  pickFolder(purpose: 'open' | 'create' | 'import' | 'export'): Promise<string | null>;
}
