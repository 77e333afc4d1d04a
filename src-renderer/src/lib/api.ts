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

const sessionLost = new Set<(message: string) => void>();

/**
 * Calls `listener` whenever the server refuses this page's key (401): it restarted with a new token,
 * so nothing sent now can succeed until the person signs in again (signIn). Browser mode only.
 */
export function onSessionLost(listener: (message: string) => void): () => void {
  sessionLost.add(listener);
  return () => sessionLost.delete(listener);
}

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
  if (!body.ok) {
    const message = body.error?.message ?? `HTTP ${res.status}`;
    if (res.status === 401) for (const listener of sessionLost) listener(message);
    throw new ApiCallError(body.error?.code ?? 'internal', message);
  }
  return body.result as Output<M>;
}

/**
 * The token in what a person pasted: the whole URL `heatseg serve` printed (its origin too), or the
 * token alone. Null when there is none.
 */
export function parseSignIn(text: string): { token: string; origin: string | null } | null {
  const t = text.trim();
  if (/^[0-9a-f]{16,128}$/i.test(t)) return { token: t, origin: null };
  try {
    const url = new URL(t);
    const token = url.searchParams.get('token');
    return token ? { token, origin: url.origin } : null;
  } catch {
    return null;
  }
}

/**
 * Signs this page in again after the server restarted (new token), from its new URL or token: the
 * server trades the token for its cookie, as when the URL is opened. Throws a message for a person.
 */
export async function signIn(text: string): Promise<void> {
  const parsed = parseSignIn(text);
  if (!parsed) throw new Error('Paste the whole address that `heatseg serve` printed (it ends in ?token=…), or the token itself.');
  const here = window.location.origin;
  if (parsed.origin !== null && parsed.origin !== here) {
    const port = window.location.port;
    throw new Error(
      `That address is another server (${parsed.origin}); this page belongs to ${here}, and its unsaved strokes can only be sent there. ` +
        `Stop that server and start it again with \`heatseg serve --port ${port}\`, then paste the address it prints.`,
    );
  }
  const res = await fetch(`/?token=${encodeURIComponent(parsed.token)}`, { credentials: 'same-origin', redirect: 'manual', cache: 'no-store' });
  if (res.status === 401) throw new Error('The server does not accept that token: paste the address it printed when it last started.');
  // The redirect that carries the cookie; check that calls are accepted again.
  await httpCall('app.info', {});
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
