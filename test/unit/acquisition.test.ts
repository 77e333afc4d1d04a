import { describe, expect, it } from 'vitest';
import { type ImageOutputs, disagreement, pixelEntropy, rank, tagEntropy } from '../../src-shared/acquisition';

function img(id: number, tagProbs: number[], probs: number[], mask: number[], classes = [0, 1]): ImageOutputs {
  return { id, tagProbs, classes, probs, mask };
}

describe('acquisition scores', () => {
  const sure = img(1, [0.99, 0.01], [1, 0, 1, 0], [0, 0]);
  const unsure = img(2, [0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0, 1]);
  const split = img(3, [0.9, 0.1], [0.9, 0.1, 0.1, 0.9], [0, 1]);

  it('entropies rank a confident image below an uncertain one', () => {
    expect(tagEntropy(sure)).toBeLessThan(0.2);
    expect(tagEntropy(unsure)).toBeCloseTo(2);
    expect(pixelEntropy(sure)).toBe(0);
    expect(pixelEntropy(unsure)).toBeCloseTo(1);
  });

  it('disagreement: tags say one class, the heatmap mask shows two', () => {
    expect(disagreement(sure)).toBe(0);
    expect(disagreement(split)).toBeCloseTo(0.5);
  });

  it('rank orders by the strategy, random is seeded, diverse avoids near-duplicates', () => {
    expect(rank('pixel-entropy', [sure, unsure, split], 2).map((s) => s.id)).toEqual([2, 3]);
    expect(rank('random', [sure, unsure, split], 3, { seed: 4 })).toEqual(rank('random', [sure, unsure, split], 3, { seed: 4 }));
    const twin = { ...unsure, id: 4 };
    const other = img(5, [0.2, 0.6], [0.4, 0.6, 0.6, 0.4], [1, 0]);
    const picks = rank('diverse', [unsure, twin, other, sure], 2).map((s) => s.id);
    expect(picks).toContain(5);
    expect(picks.includes(2) && picks.includes(4)).toBe(false);
    expect(rank('tag-entropy', [sure, unsure], 1)[0]!.reason).toMatch(/uncertain tags/);
  });

  it('coverage picks the classes the labelled set lacks, one batch spreads over them, uncertainty breaks ties', () => {
    const tagged = (id: number, givenTags: number[], entropy: 'low' | 'high'): ImageOutputs => ({
      id,
      tagProbs: [0.5, 0.5, 0.5, 0.5],
      classes: [0, 1],
      probs: entropy === 'high' ? [0.5, 0.5] : [1, 0],
      mask: [0],
      givenTags,
    });
    // classes 0 and 1 already have pixel labels (twice and once), 2 and 3 have none
    const labelled = [tagged(10, [0, 1], 'low'), tagged(11, [0], 'low')];
    const common = tagged(1, [0], 'low');
    const rare2 = tagged(2, [2], 'low');
    const rare2unsure = tagged(3, [2], 'high');
    const rare3 = tagged(4, [3, 0], 'low');
    const picks = rank('coverage', [common, rare2, rare2unsure, rare3], 3, { labelled, classNames: ['sky', 'grass', 'cow', 'boat'] });
    // the uncertain cow image first; then the boat image (cow now has one pick), then the other cow
    expect(picks.map((p) => p.id)).toEqual([3, 4, 2]);
    expect(picks[0]!.reason).toMatch(/cow \(0 labelled\)/);
    // without given tags a candidate counts its predicted tags (p ≥ 0.5)
    const untagged: ImageOutputs = { id: 7, tagProbs: [0.1, 0.1, 0.1, 0.9], classes: [0], probs: [1], mask: [0] };
    expect(rank('coverage', [common, untagged], 1, { labelled })[0]!.id).toBe(7);
  });
});
