/**
 * Issue 11 item 5: a killed `heatseg train` is one truth — no model folder that predict takes for
 * a finished model while the run row says failed, and `--resume N` continues from the last epoch
 * checkpoint. Kills a real CLI training process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '../..');

function cli(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; out: string; err: string }> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/heatseg.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.once('exit', (code) => resolve({ code, out, err })));
  return { child, done };
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a killed heatseg train', () => {
  it('leaves no loadable model folder, only a checkpoint that --resume N continues', async () => {
    const src = tmpDir('heatseg-tk-src-');
    await writeShapesDataset(src, { count: 8, seed: 2, width: 48, height: 48 });
    const dir = tmpDir('heatseg-tk-');
    expect((await cli(['init', dir]).done).code).toBe(0);
    expect((await cli(['import', dir, src]).done).code).toBe(0);

    const train = cli(['train', dir, '--epochs', '400', '--size', '32', '--batch', '2']);
    const ckpt = path.join(dir, 'models', 'run-1.checkpoint', 'heatseg-model.json');
    await waitFor(() => fs.existsSync(ckpt), 90_000, 'the first epoch checkpoint');
    train.child.kill('SIGKILL');
    const killed = await train.done;
    // a fresh model on the shipped pretrained backbone starts from a fitted tag head (tag-probe.ts)
    expect(killed.err).toMatch(/tag head fitted on the pretrained features of \d+ tagged images/);

    // The folder a finished run would have is not a model; the row says failed and how to go on.
    expect(fs.existsSync(path.join(dir, 'models', 'run-1', 'heatseg-model.json'))).toBe(false);
    const store = ProjectStore.open(dir);
    const row = store.run(1);
    expect(row.status).toBe('failed');
    expect(row.error).toMatch(/interrupted.*--resume 1/);
    store.close();
    const image = path.join(src, 'images', 'shape_0000.jpg');
    const viaProject = await cli(['predict', dir, image, '--out', path.join(tmpDir(), 'o1')]).done;
    expect(viaProject.code).toBe(1);
    expect(viaProject.err).toMatch(/has no completed training run/);
    const viaFolder = await cli(['predict', path.join(dir, 'models', 'run-1'), image, '--out', path.join(tmpDir(), 'o2')]).done;
    expect(viaFolder.code).toBe(1);
    expect(viaFolder.err).toMatch(/training did not finish; its last epoch checkpoint is .*run-1\.checkpoint.*--resume/);
    // The checkpoint itself is usable, but predict says what it is.
    const viaCkpt = await cli(['predict', path.dirname(ckpt), image, '--out', path.join(tmpDir(), 'o3')]).done;
    expect(viaCkpt.code, viaCkpt.err).toBe(0);
    expect(viaCkpt.err).toMatch(/warning: .* is the epoch-\d+ checkpoint of a training run that did not finish/);

    // Resume: continues from the checkpoint with the run's own settings.
    const resumed = await cli(['train', dir, '--resume', '1', '--epochs', '1', '--json']).done;
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toMatch(/resuming run 1 from its last checkpoint \(epoch \d+, step \d+\)/);
    // …and a resumed one keeps its trained head
    expect(resumed.err).not.toMatch(/tag head fitted/);
    const summary = JSON.parse(resumed.out.trim().split('\n').pop()!) as { run: number; status: string; steps: number; model: string };
    expect(summary).toMatchObject({ run: 2, status: 'completed' });
    expect(summary.steps).toBeGreaterThan(0);
    const after = ProjectStore.open(dir);
    expect(JSON.parse(after.run(2).config)).toMatchObject({ size: 32, batch: 2, resumedFrom: 1 });
    after.close();
    expect(fs.existsSync(path.join(dir, 'models', 'run-2', 'heatseg-model.json'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'models', 'run-2.checkpoint'))).toBe(false);
    const ok = await cli(['predict', dir, image, '--out', path.join(tmpDir(), 'o4')]).done;
    expect(ok.code, ok.err).toBe(0);
  }, 240_000);
});
