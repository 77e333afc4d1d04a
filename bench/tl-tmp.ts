import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { ensureDemoProject } from '../src-main/demo/demo.js';
import { startJob } from '../src-main/engine/client.js';
import { resolveBackbone } from '../src-main/backbones.js';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tl-'));
const store = await ensureDemoProject(path.join(root, 'demo'));
const resolved = resolveBackbone('darknet-tiny');
const config = { size: 128, epochs: 20, encoderLr: 1e-4, ...(process.env.THREADS ? { threads: Number(process.env.THREADS) } : {}) };
const run = store.createRun('lrp', 'darknet-tiny', config);
const t0 = performance.now();
let last = '';
const job = startJob({ kind: 'train', project: store.dir, modelDir: run.checkpoint_dir!, method: 'lrp', backbone: resolved.dir!, backboneLabel: 'darknet-tiny', config } as any, (e: any) => {
  const t = ((performance.now() - t0) / 1000).toFixed(2);
  const k = e.type === 'progress' ? `progress ${e.task}` : e.type;
  if (e.type === 'step') { if (e.step % 6 === 0 || e.step < 3) console.log(t, 'step', e.step, e.epoch ?? '', e.phase ?? ''); }
  else if (k !== last || e.type !== 'progress' || e.done === e.total) console.log(t, k, e.type === 'progress' ? `${e.done}/${e.total}` : JSON.stringify(e).slice(0, 600));
  last = k;
});
const r = await job.result;
console.log(((performance.now() - t0) / 1000).toFixed(2), 'result', r.result.steps, r.result.seconds);
store.close(); fs.rmSync(root, { recursive: true, force: true });
