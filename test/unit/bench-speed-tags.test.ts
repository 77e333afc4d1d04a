/** `bench speed --tags`: synthetic images with a fixed class count or MSRC-21's uneven counts (src-main/studies/speed.ts). */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { tagsOption } from '../../src-main/cli/engine-commands';
import { MSRC_TAG_COUNTS, msrcTagCount } from '../../src-main/studies/msrc-tags';
import { syntheticData } from '../../src-main/studies/speed';

describe('bench speed --tags', () => {
  it('parses a class count 1–21 or msrc, and refuses anything else', () => {
    expect(tagsOption('3')).toBe(3);
    expect(tagsOption('msrc')).toBe('msrc');
    for (const bad of ['0', '22', '2.5', 'MSRC', '']) expect(() => tagsOption(bad)).toThrow(InvalidArgumentError);
  });

  it('msrc draws 1–7 classes per image in MSRC-21\'s proportions; a number gives that many on every image', () => {
    const n = MSRC_TAG_COUNTS.reduce((a, b) => a + b, 0);
    // the inverse CDF: u at the middle of each count's share returns that count
    let acc = 0;
    MSRC_TAG_COUNTS.forEach((c, k) => {
      expect(msrcTagCount((acc + c / 2) / n)).toBe(k + 1);
      acc += c;
    });
    expect(msrcTagCount(0)).toBe(1);
    expect(msrcTagCount(0.999999)).toBe(7);
    const uneven = syntheticData({ classes: 21, tagsPerImage: 'msrc' }, 8).samples.map((s) => s.tags.length);
    expect(new Set(uneven).size).toBeGreaterThan(2);
    expect(Math.min(...uneven)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...uneven)).toBeLessThanOrEqual(7);
    const fixed = syntheticData({ classes: 21, tagsPerImage: 3 }, 8).samples;
    expect(fixed.every((s) => s.tags.length === 3 && new Set(s.tags).size === 3)).toBe(true);
  });
});
