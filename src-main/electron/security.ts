/**
 * The Electron main process's security decisions, as pure functions (no electron import, so they
 * are unit-tested where Electron cannot run): which URLs are the app's own (IPC senders,
 * navigation), how an `app://` request maps to a file of the built renderer, which permissions
 * a page gets, and which links may leave for the system browser.
 *
 * The packaged renderer is served from the privileged standard scheme `app://heatseg/` (main.ts
 * registers it with protocol.registerSchemesAsPrivileged and serves it with protocol.handle), so
 * its origin is exact: no `file://` URL, whatever its path or fragment, is ever the app.
 */
import path from 'node:path';

export const APP_SCHEME = 'app';
export const APP_HOST = 'heatseg';
export const APP_ENTRY = `${APP_SCHEME}://${APP_HOST}/index.html`;

function parse(url: string | undefined | null): URL | null {
  if (!url) return null;
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/**
 * Is `url` a page of this app? Packaged: exactly the `app://heatseg` origin. Development
 * (`devUrl`, electron-vite's server): exactly that origin (scheme, host and port).
 */
export function isOwnUrl(url: string | undefined | null, devUrl: string | null = null): boolean {
  const u = parse(url);
  if (!u || u.username || u.password) return false;
  if (devUrl) {
    const d = parse(devUrl);
    return !!d && u.protocol === d.protocol && u.host === d.host && (d.protocol === 'http:' || d.protocol === 'https:');
  }
  // Node's URL gives non-special schemes the origin 'null': compare the parts
  return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && u.port === '';
}

/**
 * The file of the built renderer (`rootDir`) an `app://heatseg/…` request names, or null:
 * another scheme or host, an encoded or plain `..` escaping the folder, or a NUL byte.
 * `/` is index.html.
 */
export function resolveAppFile(requestUrl: string, rootDir: string): string | null {
  const u = parse(requestUrl);
  if (!u || !isOwnUrl(requestUrl)) return null;
  let rel: string;
  try {
    rel = decodeURIComponent(u.pathname);
  } catch {
    return null;
  }
  if (rel.includes('\0') || rel.includes('\\')) return null;
  if (rel === '/' || rel === '') rel = '/index.html';
  const root = path.resolve(rootDir);
  const file = path.resolve(root, `.${path.posix.normalize(rel)}`);
  return file.startsWith(root + path.sep) ? file : null;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

export function mimeType(file: string): string {
  return MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Permissions the renderer uses: none (it paints on canvases, talks to the main side over IPC and
 * opens folders through the main process's dialog). Add one here only with the feature needing it.
 */
export const ALLOWED_PERMISSIONS: ReadonlySet<string> = new Set<string>();

/** A permission request or check: granted only for an allowed permission asked by the app's own page. */
export function permissionAllowed(permission: string, requestingUrl: string | undefined | null, devUrl: string | null = null): boolean {
  return ALLOWED_PERMISSIONS.has(permission) && isOwnUrl(requestingUrl, devUrl);
}

/** Hosts the UI may send the user to in the system browser (https only). None linked today. */
export const EXTERNAL_HOSTS: ReadonlySet<string> = new Set<string>();

/** May `url` be handed to shell.openExternal? https, no credentials, default port, an allowed host. */
export function externalUrlAllowed(url: string, hosts: ReadonlySet<string> = EXTERNAL_HOSTS): boolean {
  const u = parse(url);
  return !!u && u.protocol === 'https:' && !u.username && !u.password && u.port === '' && hosts.has(u.hostname);
}
