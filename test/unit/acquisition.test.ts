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
});
