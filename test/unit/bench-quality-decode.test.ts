/** `heatseg bench quality --decode t,min,max[,w] --decode-variants …`, pooled by bench/quality-combine.ts. */
import { beforeAll, describe, expect, it } from 'vitest';
import { combineQuality, parseQualityResult } from '../../bench/quality-combine';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { cliHarness } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const { run } = cliHarness();

let data: string;
beforeAll(async () => {
  data = tmpDir();
  await writeShapesDataset(data, { count: 20, width: 32, height: 32, seed: 3 });
});

describe('bench quality decode rules', () => {
  it('measures a soft rule and the listed variants on each trained model; the pool reports any of them', { timeout: 600_000 }, async () => {
    const args = [
      'bench',
      'quality',
      '--train',
      data,
      '--labeled',
      '3',
      '--methods',
      'lrp,tagfill',
      '--epochs',
      '1',
      '--size',
      '32',
      '--batch',
      '4',
      '--backbone',
      'small',
      '--backend',
      'wasm',
      '--split-seed',
      '1',
    ];
    const r = await run(...args, '--seed', '1', '--decode', '0,2,2,1', '--decode-variants', '0.5,1,4;0,3,3,2');
    expect(r.code).toBe(0);
    const one = parseQualityResult(r.out, 'one');
    expect(one.config.decode).toBe('p0/min2/max2/w1');
    expect(Object.keys(one.methods.lrp!.per_seed[0]!.decode_rules).sort()).toEqual([
      'p0.5/min1/max4',
      'p0/min2/max2/w1',
      'p0/min3/max3/w2',
    ]);
    const two = await run(...args, '--seed', '2', '--decode', '0,2,2,1', '--decode-variants', '0.5,1,4;0,3,3,2');
    expect(two.code).toBe(0);
    const c = combineQuality([one, parseQualityResult(two.out, 'two')], 'p0/min3/max3/w2');
    expect(c.methods.lrp!.seeds).toEqual([1, 2]);
    expect(c.methods.lrp!.per_seed[1]).toBe(parseQualityResult(two.out, 'two').methods.lrp!.per_seed[0]!.decode_rules['p0/min3/max3/w2']);
    expect(c.paired.tagfill!.seeds).toEqual([1, 2]);
    const bad = await run(...args, '--seed', '1', '--decode', '0.5,1');
    expect(bad.code).not.toBe(0);
  });
});
