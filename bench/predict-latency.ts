/**
 * How long the image view waits for a prediction overlay on the demo (issue 11 item 14): a fresh
 * copy of the demo project is trained through the API as the Train button does (Session, engine
 * worker), then `predictions.get` is called as the renderer calls it:
 *   - first: right when the run is reported done (the model was never used before);
 *   - next: each of the following images (uncached: each is predicted, none read from the cache);
 *   - cold: the same prediction through a one-off worker per image (what every uncached
 *     prediction cost before the warm engine: thread start, wasm init, model load).
 *
 * --settle MS waits that long after "done" before the first request (to separate the model load
 * and the end of training from the prediction itself).
 *
 *   npx tsx bench/predict-latency.ts [--epochs 20] [--images 10] [--settle 0]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Session } from '../src-main/api/handlers.js';
import { ensureDemoProject } from '../src-main/demo/demo.js';
import { startJob } from '../src-main/engine/client.js';

function opt(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? Number(process.argv[i + 1]) : fallback;
}
const ms = (t0: number) => Math.round(performance.now() - t0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const epochs = opt('epochs', 20);
  const n = opt('images', 10);
  const settle = opt('settle', 0);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-bench-latency-'));
  const session = new Session({ transport: 'http', version: 'bench' });
  try {
    console.log('heatseg prediction latency (bench/predict-latency.ts): predictions.get on the demo after training');
    console.log(`machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}`);
    const store = await ensureDemoProject(path.join(root, 'demo'));
    session.openProject(store);
    const ids = store.allImageIds();
    const done = new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        const st = session.training.current();
        if (st.state === 'done') {
          clearInterval(poll);
          resolve();
        } else if (st.state === 'failed' || st.state === 'cancelled') {
          clearInterval(poll);
          reject(new Error(`training ${st.state}: ${st.message}`));
        }
      }, 5);
    });
    const t0 = performance.now();
    await session.dispatch('train.start', { method: 'lrp', epochs, size: 128, backend: 'wasm' });
    await done;
    console.log(`trained the demo (lrp, ${epochs} epochs, size 128, wasm) in ${(ms(t0) / 1000).toFixed(1)} s`);
    if (settle) await new Promise((r) => setTimeout(r, settle));
    let t = performance.now();
    const first = await session.dispatch('predictions.get', { imageId: ids[0]! });
    const firstMs = ms(t);
    const next: number[] = [];
    for (const id of ids.slice(1, 1 + n)) {
      t = performance.now();
      await session.dispatch('predictions.get', { imageId: id });
      next.push(ms(t));
    }
    const run = store.run(first.runId);
    const cold: number[] = [];
    for (const id of ids.slice(1 + n, 1 + n + Math.min(n, 5))) {
      const row = store.imageRow(id);
      t = performance.now();
      const r = await startJob({ kind: 'predict-raw', model: path.join(store.dir, run.checkpoint_dir!), images: [{ id, file: store.imagePath(row.file_name) }] }).result;
      cold.push(ms(t));
      if (!r.predictions.length) throw new Error(`cold prediction failed: ${r.failed[0]?.reason}`);
    }
    console.log(`warm engine: first prediction after training ${firstMs} ms${settle ? ` (asked ${settle} ms after done)` : ' (asked right when done)'} (image ${ids[0]}, ${first.width}×${first.height})`);
    console.log(`warm engine: next ${next.length} images median ${median(next)} ms, max ${Math.max(...next)} ms`);
    console.log(`one-off worker per prediction (the path before): ${cold.length} images median ${median(cold)} ms, max ${Math.max(...cold)} ms`);
    console.log(JSON.stringify({ epochs, settle_ms: settle, first_ms: firstMs, next_median_ms: median(next), next_max_ms: Math.max(...next), cold_median_ms: median(cold), cold_max_ms: Math.max(...cold), threads_started: session.engine.threadsStarted }));
  } finally {
    session.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
