/**
 * How much two training processes on this machine's cores slow each other, with no data-parallel
 * code involved: `bench speed` on 1 thread alone, then two copies of it at once (independent
 * processes, nothing shared), interleaved over rounds. A data-parallel step of N threads cannot
 * beat N × (one thread alone) / (this slowdown); issue 13's "2 threads ≥ 1.7×" needs it near 1.
 *   npx tsx bench/pair-contention.ts [--method lrp] [--batch 4] [--steps 20] [--rounds 3] [--backbone darknet-tiny]
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const method = arg('method', 'lrp');
const batch = arg('batch', '4');
const steps = arg('steps', '20');
const rounds = Number(arg('rounds', '3'));
const backbone = arg('backbone', 'darknet-tiny');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = [path.join(root, 'bin/heatseg.mjs'), 'bench', 'speed', '--backends', 'wasm', '--threads', '1', '--methods', method, '--sizes', '128', '--steps', steps, '--warmup', '3', '--no-inference', '--backbone', backbone, '--batch', batch];

interface Row {
  ms_per_step: number;
  cpu_ms_per_step: number;
}
function one(): Promise<Row> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        const row = (JSON.parse(last) as { rows: Row[] }).rows[0]!;
        resolve(row);
      } catch {
        reject(new Error(`bench speed exited ${code} without its JSON line`));
      }
    });
  });
}
const loadNow = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`heatseg bench pair-contention: ${method}, batch ${batch}, 128 px, backbone ${backbone}, wasm 1 thread per process, ${steps} timed steps, ${rounds} rounds`);
console.log(`machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length} logical CPUs; load at start ${loadNow()}`);
const alone: number[] = [];
const paired: number[] = [];
for (let r = 1; r <= rounds; r++) {
  const a = await one();
  alone.push(a.ms_per_step);
  const [p, q] = await Promise.all([one(), one()]);
  paired.push(p!.ms_per_step, q!.ms_per_step);
  console.log(`round ${r}: alone ${a.ms_per_step} ms/step; two at once ${p!.ms_per_step} and ${q!.ms_per_step} ms/step (load ${loadNow()})`);
}
const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const se = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + (x - mean(v)) ** 2, 0) / (v.length - 1) / v.length);
const slow = mean(paired) / mean(alone);
console.log(`alone ${mean(alone).toFixed(0)} ± ${se(alone).toFixed(0)} ms/step; two at once ${mean(paired).toFixed(0)} ± ${se(paired).toFixed(0)} ms/step; slowdown ×${slow.toFixed(3)}`);
console.log(`=> two processes together do ${(2 / slow).toFixed(2)}× one process's work per unit time (the ceiling for 2 data-parallel threads before any overhead)`);
console.log(JSON.stringify({ method, batch: Number(batch), backbone, rounds, alone, paired, slowdown: slow }));
