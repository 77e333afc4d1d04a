/**
 * Browser-mode transport: the same API handlers as Electron IPC, over HTTP on 127.0.0.1 only, plus
 * server-sent events, and the built renderer as static files.
 *
 * Like Jupyter, each launch has a secret token, printed in the URL it opens. Visiting `/?token=T`
 * stores it in a SameSite=Strict, HttpOnly cookie; API calls must carry the cookie or the
 * `X-Heatseg-Token` header. The Host header must name this loopback port (defeats DNS rebinding) and
 * a present Origin must be this server (defeats cross-site requests).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { AppEvent } from '../../src-shared/api.js';
import { ApiError, isMethod, maxBody } from '../../src-shared/api.js';
import { Session } from '../api/handlers.js';
import { RecentProjects } from '../api/recent.js';
import { resourcePath } from '../paths.js';
import type { ProjectStore } from '../store/project.js';
import { appVersion } from '../version.js';

export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

export interface ServerOptions {
  store: ProjectStore | null;
  port?: number;
  token?: string;
  /** Folder of the built renderer (default: out/renderer). */
  rendererDir?: string;
  recent?: RecentProjects;
}

export interface RunningServer {
  url: string;
  port: number;
  token: string;
  session: Session;
  close(): Promise<void>;
}

const STATUS: Record<ApiError['code'], number> = {
  invalid_input: 400,
  not_found: 404,
  conflict: 409,
  no_project: 409,
  io: 500,
  // Well-formed but not something this build can do (a project from a newer heatseg).
  unsupported: 422,
  internal: 500,
};

function sameToken(a: string | undefined, b: string): boolean {
  if (!a) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/** A request the server cannot even read (a malformed %-escape): answered 400, whatever the route. */
class BadRequest extends Error {}

function decode(text: string, where: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new BadRequest(`malformed %-escape in ${where}`);
  }
}

function cookie(req: http.IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decode(v.join('='), `the cookie ${name}`);
  }
  return undefined;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { ok: false, error: { code, message } });
}

/** A body over its operation's limit: answered 413 before (Content-Length) or while it streams in. */
class TooLarge extends Error {}

function tooLargeMessage(method: string, limit: number): string {
  return `${method}: request body larger than its limit of ${limit} bytes (${(limit / 1024 / 1024).toFixed(0)} MiB)`;
}

/**
 * Reads a body of at most `limit` bytes. Past the limit nothing more is kept (see refuseTooLarge),
 * so an oversized body is never buffered whole.
 */
function readBody(req: http.IncomingMessage, method: string, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        req.off('data', onData);
        reject(new TooLarge(tooLargeMessage(method, limit)));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (!over) resolve(Buffer.concat(chunks, size).toString('utf8'));
    });
    req.once('error', reject);
  });
}

/** How long a refused body may keep arriving (discarded) before the connection is cut. */
const LINGER_MS = 1000;

/**
 * Answers 413, then cuts the connection. Not with "Connection: close": Node would close the socket
 * the moment the answer is written while the client is still sending, and the reset that causes
 * can destroy the answer before the client reads it. Instead what still arrives is discarded as it
 * comes (never kept) for a short linger, and then the socket is destroyed.
 */
function refuseTooLarge(req: http.IncomingMessage, res: http.ServerResponse, message: string): void {
  req.resume();
  sendError(res, 413, 'too_large', message);
  const linger = setTimeout(() => req.socket.destroy(), LINGER_MS);
  req.socket.once('close', () => clearTimeout(linger));
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const token = opts.token ?? crypto.randomBytes(24).toString('hex');
  const rendererDir = path.resolve(opts.rendererDir ?? resourcePath('out', 'renderer'));
  const listeners = new Set<http.ServerResponse>();
  const emit = (event: AppEvent) => {
    const line = `data: ${JSON.stringify(event)}\n\n`;
    for (const res of listeners) res.write(line);
  };
  const session = new Session({ transport: 'http', version: appVersion(), recent: opts.recent ?? RecentProjects.inConfigDir(), emit });
  if (opts.store) session.openProject(opts.store);

  let port = 0;
  const cookieName = () => `heatseg_token_${port}`;
  const allowedHosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const allowedOrigins = () => new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((e) => {
      if (!res.headersSent && e instanceof BadRequest) sendError(res, 400, 'invalid_input', e.message);
      else if (!res.headersSent) sendError(res, 500, 'internal', (e as Error).message);
      else res.end();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    if (!allowedHosts().has(req.headers.host ?? '')) {
      sendError(res, 403, 'forbidden', `Host "${req.headers.host ?? ''}" is not this server`);
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins().has(origin)) {
      sendError(res, 403, 'forbidden', `cross-origin request from ${origin} refused`);
      return;
    }
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    const authed = sameToken(req.headers['x-heatseg-token'] as string | undefined, token) || sameToken(cookie(req, cookieName()), token);

    if (url.pathname.startsWith('/api/')) {
      if (!authed) {
        sendError(res, 401, 'unauthorized', 'missing or wrong token: open the URL that `heatseg serve` printed');
        return;
      }
      if (url.pathname === '/api/events' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        res.write(': connected\n\n');
        listeners.add(res);
        req.on('close', () => listeners.delete(res));
        return;
      }
      const method = url.pathname.slice('/api/'.length);
      if (req.method !== 'POST') {
        sendError(res, 405, 'method_not_allowed', 'API calls are POST with a JSON body');
        return;
      }
      if (!isMethod(method)) {
        sendError(res, 404, 'not_found', `no API method "${method}"`);
        return;
      }
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
        // Simple (CORS-less) form posts cannot set this content type, which closes another CSRF path.
        sendError(res, 415, 'invalid_input', 'API calls need content-type: application/json');
        return;
      }
      const limit = maxBody(method);
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > limit) {
        // Refused from the headers alone: not one byte of the body is read.
        refuseTooLarge(req, res, tooLargeMessage(method, limit));
        return;
      }
      try {
        const body = await readBody(req, method, limit);
        let input: unknown;
        try {
          input = body ? JSON.parse(body) : {};
        } catch {
          throw new ApiError('invalid_input', `${method}: body is not valid JSON`);
        }
        const result = await session.dispatch(method, input);
        if (result instanceof Uint8Array) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store', 'content-length': result.length });
          res.end(result);
        } else sendJson(res, 200, { ok: true, result });
      } catch (e) {
        if (e instanceof TooLarge) refuseTooLarge(req, res, e.message);
        else if (e instanceof ApiError) sendError(res, STATUS[e.code], e.code, e.message);
        else sendError(res, 500, 'internal', (e as Error).message);
      }
      return;
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'method_not_allowed', `${req.method} not allowed`);
      return;
    }
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (!sameToken(given, token)) {
        sendError(res, 401, 'unauthorized', 'wrong token');
        return;
      }
      res.writeHead(302, {
        'set-cookie': `${cookieName()}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        location: '/',
      });
      res.end();
      return;
    }
    serveStatic(url.pathname, res);
  }

  function serveStatic(pathname: string, res: http.ServerResponse): void {
    const rel = pathname === '/' ? 'index.html' : decode(pathname, 'the URL path').replace(/^\/+/, '');
    const file = path.resolve(rendererDir, rel);
    if (!file.startsWith(rendererDir + path.sep)) {
      sendError(res, 404, 'not_found', 'not found');
      return;
    }
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
      if (!fs.existsSync(path.join(rendererDir, 'index.html'))) {
        sendError(res, 500, 'not_built', `the renderer is not built (${rendererDir} is missing): run \`npm run build\``);
      } else sendError(res, 404, 'not_found', `${pathname} not found`);
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
      'content-security-policy': CSP,
      'cache-control': rel === 'index.html' ? 'no-store' : 'max-age=3600',
    });
    fs.createReadStream(file).pipe(res);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    session,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of listeners) res.end();
        session.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
