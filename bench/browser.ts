/**
 * Shared by the browser-mode benchmarks (bench/ui.ts, bench/demo.ts): command-line flags, order
 * statistics, the renderer build and the Chromium launch they all use.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.HEATSEG_E2E_CHROMIUM ?? '/usr/bin/chromium';

export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

export const quantile = (xs: number[], q: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
export const median = (xs: number[]) => quantile(xs, 0.5);
export const r1 = (x: number) => Math.round(x * 10) / 10;

/** The renderer to serve: --renderer DIR (or HEATSEG_E2E_RENDERER_DIR), else a fresh build in a temp folder. */
export function buildRenderer(): { dir: string; cleanup: () => void } {
  const given = arg('renderer', process.env.HEATSEG_E2E_RENDERER_DIR ?? '');
  if (given) return { dir: path.resolve(given), cleanup: () => undefined };
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-bench-build-'));
  const cli = path.resolve('node_modules', 'electron-vite', 'bin', 'electron-vite.js');
  execFileSync(process.execPath, [cli, 'build', '--outDir', out, '--logLevel', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { dir: path.join(out, 'renderer'), cleanup: () => fs.rmSync(out, { recursive: true, force: true }) };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
}

/** One line on the machine: CPU, cores, memory, load (benchmarks print it before their numbers). */
export function machineLine(): string {
  const cpus = os.cpus();
  return `machine: ${cpus[0]?.model ?? 'unknown cpu'} × ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}, ${os.platform()} ${os.release()}`;
}
