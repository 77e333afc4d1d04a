import { describe, expect, it } from 'vitest';
import { parseActiveLog, parseActiveResult } from '../../bench/active-pool';

const parallel = `[parent] seed 3: node …
[seed 3] == seed 3: round 0 (5 labelled, shared by all strategies): a b c d e
[seed 3]   round 0 (lrp depth 4): mIoU 0.076, heat loss 0.292 (uniform 0.580), 84 steps in 50 s
[seed 4] == seed 4: round 0 (5 labelled, shared by all strategies): f g h i j
[seed 3]   seed 3 random round 1: +5 (k l m n o) → 10 labelled, mIoU 0.188, heat loss 0.1 (uniform 0.9) (scoring 0 s)
[seed 4]   round 0 (lrp depth 4): mIoU 0.062, heat loss 0.309 (uniform 0.605), 84 steps in 53 s
[seed 4]   seed 4 coverage round 1: +5 (p q r s t) → 10 labelled, mIoU 0.181, heat loss 0.2 (uniform 1.2) (scoring 29 s)
[seed 3]   seed 3 random round 2: +5 (u v w x y) → 15 labelled, mIoU 0.284, heat loss 0.1 (uniform 0.9) (scoring 0 s)
`;
const single = `== seed 9: round 0 (5 labelled, shared by all strategies): a b c d e
  round 0 (lrp depth 4): mIoU 0.125, heat loss 0.6 (uniform 0.9), 84 steps in 43 s
  seed 9 coverage round 1: +5 (a b c d e) → 10 labelled, mIoU 0.103, heat loss 0.4 (uniform 1.3) (scoring 20 s)
`;

describe('pooling bench active logs', () => {
  it('reads each seed and strategy, with its round 0, from parallel and single-process logs', () => {
    const pool = parseActiveLog(parallel, 'a.log');
    parseActiveLog(single, 'b.log', pool);
    expect([...pool.get(3)!.get('random')!]).toEqual([
      [5, 0.076],
      [10, 0.188],
      [15, 0.284],
    ]);
    expect([...pool.get(4)!.get('coverage')!]).toEqual([
      [5, 0.062],
      [10, 0.181],
    ]);
    expect([...pool.get(9)!.get('coverage')!]).toEqual([
      [5, 0.125],
      [10, 0.103],
    ]);
  });

  it('refuses a run counted twice', () => {
    const pool = parseActiveLog(single, 'b.log');
    expect(() => parseActiveLog(single, 'copy.log', pool)).toThrow(/copy\.log: seed 9 coverage is already in the pool/);
  });

  it('reads the true-tags metric from result JSON, skipping rounds that did not record it', () => {
    const run = (given: Array<number | null>) => ({
      rounds: { random: given.map((g, i) => ({ labelled: 5 + 5 * i, miou: 0.1, miou_given_tags: g })) },
    });
    const stdout = `table…\n${JSON.stringify({ curves: {}, per_seed: { '3': run([0.4, 0.5]), '1': run([null, null]) } })}\n`;
    const pool = parseActiveResult(stdout, 'r.txt');
    expect([...pool.get(3)!.get('random')!]).toEqual([
      [5, 0.4],
      [10, 0.5],
    ]);
    expect(pool.has(1)).toBe(false);
    expect(() => parseActiveResult(stdout, 'again.txt', pool)).toThrow(/again\.txt: seed 3 random is already in the pool/);
    expect(() => parseActiveResult('no json here', 'x.txt')).toThrow(/x\.txt: no JSON result line/);
  });

  it('reads the predicted-tag metric too, and refuses to pool runs of different benchmark settings', () => {
    const result = (config: Record<string, unknown>, seed: string) =>
      JSON.stringify({
        config,
        per_seed: { [seed]: { rounds: { random: [{ labelled: 5, miou: 0.3, miou_given_tags: 0.5 }, { labelled: 10, miou: 0.32, miou_given_tags: 0.55 }] } } },
      });
    const base = { start: 5, step: 5, epochs_per_round: 2, tag_epochs: 10, warm_start: false, machine: 'A', load_at_start: 1.2, pool: 'a/msrc21' };
    const configs = {};
    const pool = parseActiveResult(result(base, '1'), 'a.txt', new Map(), 'predicted', configs);
    expect([...pool.get(1)!.get('random')!]).toEqual([
      [5, 0.3],
      [10, 0.32],
    ]);
    // where and how fast it ran may differ
    parseActiveResult(result({ ...base, machine: 'B', load_at_start: 7, pool: 'msrc21' }, '2'), 'b.txt', pool, 'predicted', configs);
    expect([...pool.keys()].sort()).toEqual([1, 2]);
    // what was measured may not
    expect(() => parseActiveResult(result({ ...base, tag_epochs: 0 }, '3'), 'c.txt', pool, 'predicted', configs)).toThrow(
      /c\.txt: its tag_epochs is 0, a\.txt's is 10/,
    );
    expect(() => parseActiveResult(result({ ...base, warm_start: true }, '4'), 'd.txt', pool, 'predicted', configs)).toThrow(/warm_start/);
    expect(pool.has(3)).toBe(false);
  });
});
