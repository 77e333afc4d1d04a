import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compressRaster, toBase64 } from '../../src-shared/labels';
import { RecentProjects } from '../../src-main/api/recent';
import { importFolder } from '../../src-main/dataset/import';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { type RunningServer, startServer } from '../../src-main/server/http';
import { DB_FILE, ProjectStore } from '../../src-main/store/project';
import { loadMigrations, migrate } from '../../src-main/store/migrations';
import { tmpDir } from '../helpers/tmp';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Raw HTTP (fetch would not let us forge Host). */
function request(port: number, opts: { path: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: opts.path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

let server: RunningServer;
let store: ProjectStore;

function call(method: string, input: unknown, headers: Record<string, string> = {}) {
  return request(server.port, {
    path: `/api/${method}`,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-heatseg-token': server.token, ...headers },
    body: JSON.stringify(input),
  });
}

beforeAll(async () => {
  const src = tmpDir();
  await writeShapesDataset(src, { count: 3, width: 40, height: 30 });
  store = ProjectStore.create(tmpDir());
  await importFolder(store, src);
  server = await startServer({ store, recent: new RecentProjects(null), rendererDir: tmpDir() });
});
afterAll(() => server.close());

describe('browser-mode server', () => {
  it('binds to 127.0.0.1 only', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{48}$/);
  });

  it('answers API calls that carry the token', async () => {
    const r = await call('project.summary', {});
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toMatchObject({ ok: true, result: { images: 3 } });
  });

  it('refuses requests without the token, or with a wrong one', async () => {
    const none = await request(server.port, { path: '/api/project.summary', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(none.status).toBe(401);
    const wrong = await call('project.summary', {}, { 'x-heatseg-token': 'f'.repeat(48) });
    expect(wrong.status).toBe(401);
    const events = await request(server.port, { path: '/api/events' });
    expect(events.status).toBe(401);
  });

  it('refuses a foreign Origin (CSRF) and a foreign Host (DNS rebinding) even with the token', async () => {
    const csrf = await call('project.summary', {}, { origin: 'https://evil.example' });
    expect(csrf.status).toBe(403);
    const rebinding = await call('project.summary', {}, { host: `evil.example:${server.port}` });
    expect(rebinding.status).toBe(403);
    const own = await call('project.summary', {}, { origin: `http://127.0.0.1:${server.port}` });
    expect(own.status).toBe(200);
  });

  it('the launch URL trades the token for a SameSite=Strict HttpOnly cookie that authorises API calls', async () => {
    const r = await request(server.port, { path: `/?token=${server.token}` });
    expect(r.status).toBe(302);
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const cookie = setCookie.split(';')[0]!;
    const api = await request(server.port, { path: '/api/classes.list', method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: '{}' });
    expect(api.status).toBe(200);
  });

  it('refuses form-encoded posts and validates inputs against the contract', async () => {
    const form = await call('project.summary', {}, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    const bad = await call('images.list', { limit: -4 });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString()).error.message).toMatch(/images.list: limit/);
    const extra = await call('tags.toggle', { imageId: 1, classId: 1, on: true, sql: 'drop' });
    expect(extra.status).toBe(400);
    const unknown = await call('nope.never', {});
    expect(unknown.status).toBe(404);
  });

  it('returns binary results as bytes (thumbnails, images)', async () => {
    const r = await call('images.thumbnail', { id: 1 });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.body.subarray(0, 4).toString()).toBe('RIFF');
    const img = await call('images.bytes', { id: 1 });
    expect(img.body.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it('writes a stroke patch durably and reads it back', async () => {
    const patch = new Uint8Array(4 * 2).fill(255);
    patch[0] = 3;
    patch[5] = 0;
    const r = await call('labels.patch', { imageId: 2, x: 1, y: 1, width: 4, height: 2, data: toBase64(compressRaster(patch)) });
    expect(r.status).toBe(200);
    const reopened = ProjectStore.open(store.dir);
    const lr = reopened.labels(2)!;
    expect(lr.raster[1 * 40 + 1]).toBe(3);
    expect(lr.raster[2 * 40 + 2]).toBe(0);
    reopened.close();
  });

  it('answers 400, not 500, to a malformed %-escape in the URL or in its cookie, on every route', async () => {
    const cookie = `heatseg_token_${server.port}=%E0%A4%A`;
    const replies = {
      staticPath: await request(server.port, { path: '/assets/%E0%A4%A.js' }),
      staticCookie: await request(server.port, { path: '/', headers: { cookie } }),
      apiCookie: await request(server.port, { path: '/api/project.summary', method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: '{}' }),
      eventsCookie: await request(server.port, { path: '/api/events', headers: { cookie } }),
    };
    for (const [what, r] of Object.entries(replies)) {
      expect(r.status, what).toBe(400);
      const body = JSON.parse(r.body.toString()) as { error: { code: string; message: string } };
      expect(body.error.code, what).toBe('invalid_input');
      expect(body.error.message, what).toMatch(/malformed %-escape in the (URL path|cookie heatseg_token_\d+)/);
    }
    // Other sites' cookies on this host are none of our business: they are not decoded.
    const foreign = await call('project.summary', {}, { cookie: 'other=%zz' });
    expect(foreign.status).toBe(200);
  });

  it('answers a typed 4xx naming the file when a project from a newer heatseg is opened over HTTP', async () => {
    const dir = tmpDir();
    const file = path.join(dir, DB_FILE);
    const db = new Database(file);
    const migrations = loadMigrations();
    migrate(db, file, migrations);
    db.pragma(`user_version = ${migrations.length + 2}`);
    db.close();
    const before = fs.readFileSync(file);
    const r = await call('project.open', { path: dir });
    expect(r.status).toBe(422);
    const body = JSON.parse(r.body.toString()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unsupported');
    expect(body.error.message).toContain(file);
    expect(body.error.message).toMatch(/newer heatseg/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    // The project that was open stays open.
    expect((await call('project.summary', {})).status).toBe(200);
  });

  /**
   * Sends an authenticated POST whose body is `total` bytes, 64 KiB at a time, respecting
   * backpressure, until the server answers; returns the answer and how much of the body was written.
   */
  function sendLarge(method: string, total: number, declareLength: boolean): Promise<{ status: number; body: string; written: number }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-heatseg-token': server.token };
      if (declareLength) headers['content-length'] = String(total);
      const req = http.request({ host: '127.0.0.1', port: server.port, path: `/api/${method}`, method: 'POST', headers });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let written = 0;
      let answered = false;
      const timer = setTimeout(() => reject(new Error(`no answer after writing ${written} of ${total} bytes`)), 20_000);
      req.on('response', (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString(), written });
        });
      });
      // The server closing the socket on us mid-body is the point; the answer has come by then.
      req.on('error', (e) => {
        if (!answered) {
          clearTimeout(timer);
          reject(e);
        }
      });
      const pump = () => {
        while (!answered && written < total) {
          written += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  }

  it('refuses a body over its operation’s limit from Content-Length alone, before reading it (413 naming the limit)', async () => {
    const r = await sendLarge('labels.patch', 200 * 1024 * 1024, true);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ ok: false, error: { code: 'too_large' } });
    expect(JSON.parse(r.body).error.message).toMatch(/labels\.patch: request body larger than its limit of 33554432 bytes \(32 MiB\)/);
    // Answered while the client was still sending: far less than the limit went out, let alone 200 MB.
    expect(r.written).toBeLessThan(16 * 1024 * 1024);
    // Small operations have a small limit.
    const small = await sendLarge('project.summary', 2 * 1024 * 1024, true);
    expect(small.status).toBe(413);
    expect(JSON.parse(small.body).error.message).toMatch(/project\.summary: .*limit of 1048576 bytes/);
  });

  it('stops reading a streamed (chunked) body once it passes the limit, and closes the connection', async () => {
    const r = await sendLarge('project.summary', 200 * 1024 * 1024, false);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).error.message).toMatch(/limit of 1048576 bytes/);
    // The limit plus what the sockets buffer, not the 200 MB.
    expect(r.written).toBeLessThan(32 * 1024 * 1024);
    // The server is fine afterwards.
    expect((await call('project.summary', {})).status).toBe(200);
  });
});
