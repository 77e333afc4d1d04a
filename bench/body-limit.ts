/**
 * Server memory under an oversized request body (issue 11, item 12). Starts `heatseg serve` on a
 * fresh empty project as a child process, then sends it 200 MB authenticated JSON bodies the way an
 * abusive or broken client would: once with a Content-Length header (to labels.patch, the operation
 * with the largest limit) and once streamed without one (chunked, to project.summary). Reports each
 * answer, how much of the body went out before it, and the server's resident memory (VmRSS) before
 * and after, and its peak (VmHWM), read from /proc. Linux only.
 *
 *   npx tsx bench/body-limit.ts [--mb 200]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const mbArg = process.argv.indexOf('--mb');
const TOTAL = (mbArg > 0 ? Number(process.argv[mbArg + 1]) : 200) * 1024 * 1024;

function memory(pid: number): { rssMb: number; peakMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakMb: Math.round(kb('VmHWM') / 1024) };
}

function send(port: number, token: string, method: string, declareLength: boolean): Promise<{ status: number; written: number; message: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-heatseg-token': token };
    if (declareLength) headers['content-length'] = String(TOTAL);
    const req = http.request({ host: '127.0.0.1', port, path: `/api/${method}`, method: 'POST', headers });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let written = 0;
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString();
        const message = (() => {
          try {
            return (JSON.parse(text) as { error?: { message: string } }).error?.message ?? '';
          } catch {
            return '(unreadable body)';
          }
        })();
        resolve({ status: res.statusCode ?? 0, written, message });
      });
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    const pump = () => {
      while (!answered && written < TOTAL) {
        written += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered && written >= TOTAL) req.end();
    };
    pump();
  });
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-body-'));
  const project = path.join(root, 'project');
  const env = { ...process.env, HEATSEG_CONFIG_DIR: path.join(root, 'config') };
  const bin = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'bin', 'heatseg.mjs');
  const init = spawn(process.execPath, [bin, 'init', project], { env, stdio: 'inherit' });
  await new Promise((r) => init.on('exit', r));
  const child = spawn(process.execPath, [bin, 'serve', project, '--no-open'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<URL>((resolve, reject) => {
      let text = '';
      child.stdout.on('data', (d: Buffer) => {
        text += d.toString();
        const m = /open in your browser: (\S+)/.exec(text);
        if (m) resolve(new URL(m[1]!));
      });
      child.once('exit', (code) => reject(new Error(`heatseg serve exited with ${code}`)));
    });
    const port = Number(url.port);
    const token = url.searchParams.get('token')!;
    await new Promise((r) => setTimeout(r, 1000));
    const pid = child.pid!;
    console.log(`heatseg serve (pid ${pid}), node ${process.version}, ${os.cpus().length} cores; body ${TOTAL / 1024 / 1024} MB of spaces`);
    const before = memory(pid);
    console.log(`before:                                  rss ${before.rssMb} MB, peak ${before.peakMb} MB`);
    for (const [method, declared] of [
      ['labels.patch', true],
      ['project.summary', false],
    ] as const) {
      const r = await send(port, token, method, declared);
      await new Promise((res) => setTimeout(res, 500));
      const m = memory(pid);
      const how = declared ? 'with Content-Length' : 'chunked, no length ';
      console.log(
        `${method.padEnd(15)} ${how}: HTTP ${r.status} after ${(r.written / 1024 / 1024).toFixed(0)} MB sent; rss ${m.rssMb} MB, peak ${m.peakMb} MB — ${r.message}`,
      );
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(root, { recursive: true, force: true });
  }
}

void main();
