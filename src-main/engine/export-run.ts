/**
 * Export of a project's trained segmenter (CLI `heatseg export` and the app's export dialog):
 * the self-contained heatseg model folder, or ONNX (docs/ONNX.md). Everything is written to a fresh
 * temporary folder beside OUT (`.OUT.heatseg-tmp-XXXXXX`, made by mkdtemp, so it cannot be the
 * user's) and renamed at the end; on any error that folder — and nothing else — is removed, so an
 * export never looks valid unless it is whole.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tempDirBeside } from '../safe-fs.js';
import type { ProjectStore } from '../store/project.js';

export interface ExportRunResult {
  runId: number;
  method: string;
  backbone: string;
  format: 'heatseg' | 'onnx';
  out: string;
  /** Human-readable detail ("as ONNX (opset 17, …) " or ""). */
  what: string;
}

export async function exportRun(store: ProjectStore, outDir: string, opts: { format: 'heatseg' | 'onnx'; runId?: number }): Promise<ExportRunResult> {
  const run = opts.runId ? store.run(opts.runId) : store.latestCompletedRun();
  if (!run) throw new Error(`${store.dir} has no completed training run: train first (\`heatseg train ${store.dir}\` or the Train button)`);
  if (run.status !== 'completed') throw new Error(`run ${run.id} is ${run.status}${run.error ? ` (${run.error})` : ''}; export a completed run`);
  const src = path.join(store.dir, run.checkpoint_dir ?? '');
  if (!run.checkpoint_dir || !fs.existsSync(path.join(src, 'heatseg-model.json'))) throw new Error(`run ${run.id}: its model folder ${src} is missing`);
  if (fs.existsSync(outDir) && fs.readdirSync(outDir).length) throw new Error(`${outDir} exists and is not empty; choose a new folder`);
  const out = path.resolve(outDir);
  let tmp: string | null = null;
  let what = '';
  try {
    tmp = tempDirBeside(out);
    if (opts.format === 'onnx') {
      // Loaded only here: the graph builder is plain JavaScript, but its module graph reaches tfjs.
      const { exportOnnx } = await import('./onnx-export.js');
      const info = exportOnnx(src, path.join(tmp, 'model.onnx'));
      what = `as ONNX (opset ${info.opset}, ${info.nodes} nodes, ${info.dynamicSize.height && info.dynamicSize.width ? 'dynamic' : 'fixed'} H×W, stride ${info.stride.join('×')}) `;
    } else {
      fs.cpSync(src, tmp, { recursive: true });
    }
    if (fs.existsSync(out)) fs.rmdirSync(out);
    fs.renameSync(tmp, out);
  } catch (e) {
    try {
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    } catch {
      // nothing can exist where the folder could not be made
    }
    const err = e as NodeJS.ErrnoException;
    throw err.code ? new Error(`cannot write the export to ${out}: ${err.message}`, { cause: e }) : err;
  }
  return { runId: run.id, method: run.method, backbone: run.backbone, format: opts.format, out, what };
}
