/** Pairing two methods' per-seed mIoU across result files of different batches (bench/paired-seeds.ts). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { pairSeeds, perSeed, resetReference } from '../../bench/paired-seeds';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-paired-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
beforeEach(() => resetReference());

const settings = { train: 'd', test: 'dev-test', labeled: 20, labels: 'scribbles', backbone: 'darknet-tiny', size: 128, batch: 8, minutes: 5, budget_clock: 'cpu', split_seed: 1, tta: '0.75,1,1.25/flip' };
function result(name: string, seed: number, methods: Record<string, { miou: number; decode_rules?: Record<string, number> }>, extra: Record<string, unknown> = {}): string {
  const file = path.join(dir, name);
  // a log line first and `time`'s output after the JSON, as bench/quality-per-seed.sh writes them
  fs.writeFileSync(file, `heatseg bench quality\n${JSON.stringify({ methods, ...settings, seeds: [seed], refine: '8/0.01', ...extra })}\n\nreal 1m\n`);
  return file;
}

describe('paired-seeds', () => {
  it('reads each file\'s own mIoU or a named decode-rule variant, and pairs A − B over the common seeds', () => {
    const a1 = result('a1.txt', 1, { lrp: { miou: 0.6 } });
    const a2 = result('a2.txt', 2, { lrp: { miou: 0.5 } });
    const a3 = result('a3.txt', 3, { lrp: { miou: 0.55 } });
    const b1 = result('b1.txt', 1, { gradcam: { miou: 0.1, decode_rules: { 'refine:16/0.01': 0.4 } } });
    const b2 = result('b2.txt', 2, { gradcam: { miou: 0.45 } }, { refine: '16/0.01' });
    const a = perSeed(`lrp=${a1},${a2},${a3}`);
    const b = perSeed(`gradcam=${b1}#refine:16/0.01,${b2}`);
    expect([...b.bySeed.entries()]).toEqual([
      [1, 0.4],
      [2, 0.45],
    ]);
    const p = pairSeeds(a, b);
    expect(p.seeds).toEqual([1, 2]);
    expect(p.perSeed.map((x) => +x.toFixed(9))).toEqual([0.2, 0.05]);
    expect(p.mean).toBeCloseTo(0.125, 9);
    expect(p.se).toBeCloseTo(0.075, 9);
  });

  it('refuses a file of other settings, a seed seen twice, a missing method or rule, and a stopped run, naming the file', () => {
    const ok = result('ok.txt', 1, { lrp: { miou: 0.6 } });
    const other = result('other.txt', 2, { lrp: { miou: 0.6 } }, { minutes: 1 });
    expect(() => perSeed(`lrp=${ok},${other}`)).toThrow(/other\.txt: minutes 1 differs/);
    resetReference();
    expect(() => perSeed(`lrp=${ok},${ok}`)).toThrow(/ok\.txt: seed 1 of lrp seen twice/);
    expect(() => perSeed(`unet=${ok}`)).toThrow(/ok\.txt: no method unet/);
    expect(() => perSeed(`lrp=${ok}#refine:none`)).toThrow(/has no decode rule refine:none/);
    const stopped = path.join(dir, 'stopped.txt');
    fs.writeFileSync(stopped, 'heatseg bench quality\n== lrp (seed 1): training (5 min)\n');
    expect(() => perSeed(`lrp=${stopped}`)).toThrow(/stopped\.txt: no result JSON line/);
  });
});
