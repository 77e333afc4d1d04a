import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compressRaster, toBase64 } from '../../src-shared/labels';
import { RecentProjects } from '../../src-main/api/recent';
import { importFolder } from '../../src-main/dataset/import';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { type RunningServer, startServer } from '../../src-main/server/http';
import { ProjectStore } from '../../src-main/store/project';
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
});
