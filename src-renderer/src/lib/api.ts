/**
 * The renderer's API client: Electron IPC through the preload bridge when it is there, otherwise
 * browser mode's HTTP transport (same-origin; the token travels in the HttpOnly cookie that the
 * launch URL set). Both carry the same contract; binary results arrive as Uint8Array.
 */
import type { AppEvent, ApiClient, Input, Method, Output } from '../../../src-shared/api';
import type { HeatsegBridge } from '../../../src-shared/bridge';

export class ApiCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

declare global {
  interface Window {
    heatseg?: HeatsegBridge;
  }
}

const bridge = typeof window !== 'undefined' ? window.heatseg : undefined;
export const transport: 'ipc' | 'http' = bridge ? 'ipc' : 'http';

async function httpCall<M extends Method>(method: M, input: Input<M>): Promise<Output<M>> {
  const res = await fetch(`/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input ?? {}),
    credentials: 'same-origin',
  });
  // Binary results are the only ones not sent as JSON. Deciding by content type rather than by the
  // contract keeps zod (the contract's schemas) out of the renderer bundle.
  if (res.ok && (res.headers.get('content-type') ?? '').startsWith('application/octet-stream')) {
    return new Uint8Array(await res.arrayBuffer()) as Output<M>;
  }
  let body: { ok: boolean; result?: unknown; error?: { code: string; message: string } };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new ApiCallError('transport', `${method}: HTTP ${res.status} with an unreadable body`);
  }
  if (!body.ok) throw new ApiCallError(body.error?.code ?? 'internal', body.error?.message ?? `HTTP ${res.status}`);
  return body.result as Output<M>;
}

async function ipcCall<M extends Method>(method: M, input: Input<M>): Promise<Output<M>> {
  try {
    return (await bridge!.call(method, input ?? {})) as Output<M>;
  } catch (e) {
    throw new ApiCallError((e as { code?: string }).code ?? 'internal', (e as Error).message);
  }
}

export const api: ApiClient = bridge ? ipcCall : httpCall;

export function onEvent(listener: (event: AppEvent) => void): () => void {
  if (bridge) return bridge.onEvent(listener);
  const source = new EventSource('/api/events');
  source.onmessage = (m) => listener(JSON.parse(m.data as string) as AppEvent);
  return () => source.close();
}

/** A native folder dialog in Electron; null in browser mode, where the user types a path. */
export async function pickFolder(purpose: 'open' | 'create' | 'import' | 'export'): Promise<string | null> {
  return bridge ? bridge.pickFolder(purpose) : null;
}

/** Object URL for a binary API result (thumbnails, image bytes). Caller revokes it. */
export async function blobUrl(method: 'images.thumbnail' | 'images.bytes', id: number): Promise<string> {
  const bytes = await api(method, { id });
  return URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
}

/** The message to show a person for a failed call (the server's own words where there are some). */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
