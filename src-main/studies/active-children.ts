/**
 * `heatseg bench active --jobs N`: each seed runs in its own process (wasm trains on one thread, so
 * one seed per core), rerunning this command line for one seed with --seed-run-out; the parent
 * gathers their runs, shows their progress lines marked with the seed, and stops them on SIGINT/SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ActiveOptions, SeedRun } from './active.js';

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Runs each seed in a child process (`jobs` at a time) and gathers their runs and config. */
export async function runSeedsInChildren(o: ActiveOptions): Promise<{ perSeed: Record<string, SeedRun>; config: Record<string, unknown> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-active-'));
  const perSeed: Record<string, SeedRun> = {};
  let config: Record<string, unknown> = {};
  const children = new Set<ChildProcess>();
  const stop = () => children.forEach((c) => c.kill());
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const queue = [...o.seeds];
    const worker = async () => {
      for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
        const out = path.join(dir, `seed-${seed}.json`);
        const args = [...o.childArgv!, '--seeds', String(seed), '--jobs', '1', '--no-plot', '--seed-run-out', out];
        log(`[parent] seed ${seed}: ${path.basename(process.execPath)} ${args.join(' ')}`);
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        children.add(child);
        // the child's progress, each line marked with its seed
        let partial = '';
        child.stderr!.on('data', (b: Buffer) => {
          const lines = (partial + b.toString()).split('\n');
          partial = lines.pop()!;
          for (const l of lines) log(`[seed ${seed}] ${l}`);
        });
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        children.delete(child);
        if (code !== 0 || !fs.existsSync(out)) throw new Error(`the run of seed ${seed} failed (exit status ${code}); its log is above`);
        const r = JSON.parse(fs.readFileSync(out, 'utf8')) as { config: Record<string, unknown>; per_seed: Record<string, SeedRun> };
        Object.assign(perSeed, r.per_seed);
        config = r.config;
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.jobs ?? 1, o.seeds.length) }, worker));
  } catch (e) {
    stop();
    throw e;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { perSeed, config: { ...config, jobs: o.jobs, load_at_start: os.loadavg()[0] } };
}
