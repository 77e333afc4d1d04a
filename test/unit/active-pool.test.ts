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
});
