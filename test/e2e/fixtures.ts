/**
 * Test fixtures: a real browser-mode server, started in this worker against a temporary project,
 * with the config and demo folders pointed at temporary folders too (nothing touches the home
 * folder). `heatseg.start()` returns the URL to open and a token-carrying API caller for setup.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test as base, expect, type Page } from '@playwright/test';
import { RecentProjects } from '../../src-main/api/recent';
import { type ShapesOptions, writeShapesDataset } from '../../src-main/demo/shapes';
import { type RunningServer, startServer } from '../../src-main/server/http';
import { ProjectStore } from '../../src-main/store/project';

export interface Reply {
  status: number;
  body: string;
  json: () => { ok: boolean; result?: unknown; error?: { code: string; message: string } };
}

export interface Heatseg {
  url: string;
  port: number;
  token: string;
  /** Folder of the open project (undefined when started without one). */
  projectDir: string | undefined;
  /** POST /api/<method> with the token header; throws on a non-ok reply. */
  call<T = unknown>(method: string, input?: unknown): Promise<T>;
  /** Raw HTTP, for checking the server's refusals (fetch cannot forge Host). */
  raw(opts: { path: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<Reply>;
  /** Stops this server (as a kill of `heatseg serve` would, short of the process). */
  close(): Promise<void>;
}

export interface HeatsegFixture {
  /** A fresh temporary folder, removed after the test. */
  tmp: (name: string) => string;
  /** Generates a synthetic mask-folder dataset and returns its folder. */
  shapes: (opts: ShapesOptions) => Promise<string>;
  /**
   * Starts a server: `project: 'new'` creates an empty project, `null` starts with none open, a
   * folder opens that project; `port` asks for that port (a restart on the same address).
   */
  start: (opts?: { project?: 'new' | null | string; port?: number }) => Promise<Heatseg>;
}

export function rawRequest(
  port: number,
  opts: { path: string; method?: string; headers?: Record<string, string>; body?: string },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: opts.path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) as ReturnType<Reply['json']> });
      });
    });
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

export const test = base.extend<{ heatseg: HeatsegFixture }>({
  // Playwright reads the fixtures a fixture needs from its first parameter's pattern; this one needs none.
  // eslint-disable-next-line no-empty-pattern
  heatseg: async ({}, use) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-e2e-'));
    const servers: RunningServer[] = [];
    const saved = { config: process.env.HEATSEG_CONFIG_DIR, demo: process.env.HEATSEG_DEMO_DIR };
    process.env.HEATSEG_CONFIG_DIR = path.join(root, 'config');
    process.env.HEATSEG_DEMO_DIR = path.join(root, 'demo-project');
    let n = 0;
    const tmp = (name: string) => {
      const dir = path.join(root, `${n++}-${name}`);
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    };
    const rendererDir = process.env.HEATSEG_E2E_RENDERER_DIR;
    if (!rendererDir) throw new Error('HEATSEG_E2E_RENDERER_DIR is not set: run through `npx playwright test` (global setup builds it)');

    await use({
      tmp,
      shapes: async (opts) => {
        const dir = tmp('shapes');
        await writeShapesDataset(dir, opts);
        return dir;
      },
      start: async ({ project = 'new', port } = {}) => {
        const projectDir = project === 'new' ? path.join(tmp('projects'), 'e2e-project') : (project ?? undefined);
        const store = project === 'new' ? ProjectStore.create(projectDir!) : projectDir ? ProjectStore.open(projectDir) : null;
        const server = await startServer({
          store,
          ...(port !== undefined ? { port } : {}),
          rendererDir,
          recent: new RecentProjects(path.join(root, 'config', 'recent.json')),
        });
        servers.push(server);
        const raw: Heatseg['raw'] = (opts) => rawRequest(server.port, opts);
        return {
          url: server.url,
          port: server.port,
          token: server.token,
          projectDir,
          raw,
          close: async () => {
            const i = servers.indexOf(server);
            if (i >= 0) servers.splice(i, 1);
            await server.close();
          },
          call: async <T>(method: string, input: unknown = {}) => {
            const reply = await raw({
              path: `/api/${method}`,
              method: 'POST',
              headers: { 'content-type': 'application/json', 'x-heatseg-token': server.token },
              body: JSON.stringify(input),
            });
            const body = reply.json();
            if (!body.ok) throw new Error(`${method}: HTTP ${reply.status} ${body.error?.code}: ${body.error?.message}`);
            return body.result as T;
          },
        };
      },
    });

    for (const server of servers) await server.close();
    process.env.HEATSEG_CONFIG_DIR = saved.config;
    process.env.HEATSEG_DEMO_DIR = saved.demo;
    if (saved.config === undefined) delete process.env.HEATSEG_CONFIG_DIR;
    if (saved.demo === undefined) delete process.env.HEATSEG_DEMO_DIR;
    fs.rmSync(root, { recursive: true, force: true });
  },
});

export { expect };

/** Every thumbnail image on screen has decoded (naturalWidth > 0). */
export async function expectThumbnailsLoaded(page: Page, count: number): Promise<void> {
  const thumbs = page.getByTestId('thumbnail');
  await expect(thumbs).toHaveCount(count);
  await expect
    .poll(() =>
      thumbs.evaluateAll(
        (imgs) => imgs.filter((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0).length,
      ),
    )
    .toBe(count);
}
