/** Issue 11 item 18: tag fixes ("Untag") only from a tag head that learnt more than an image-blind guess. */
import { describe, expect, it } from 'vitest';
import { TAG_TRUST_MARGIN, tagPriorLoss, tagTrust } from '../../src-shared/tag-trust';

const H = (p: number) => -(p * Math.log(p) + (1 - p) * Math.log(1 - p));

describe('tagPriorLoss', () => {
  it('is the mean binary entropy of the tag frequencies over tagged images', () => {
    // 4 tagged images, 3 classes: class 0 in all, class 1 in half, class 2 in one; untagged images do not count
    const tags = [[0, 1], [0, 1], [0], [0, 2], []];
    expect(tagPriorLoss(tags, 3)).toBeCloseTo((0 + H(0.5) + H(0.25)) / 3, 12);
    expect(tagPriorLoss([[], []], 3)).toBeNull();
    // balanced classes: the uniform guess
    expect(tagPriorLoss([[0], [1]], 2)).toBeCloseTo(Math.LN2, 12);
  });
});

describe('tagTrust', () => {
  it('hides fixes from a head at the level of the image-blind guess, and says why', () => {
    const prior = 0.5;
    const untrained = tagTrust({ final: { tagLoss: 0.49 }, tagPriorLoss: prior });
    expect(untrained.trusted).toBe(false);
    expect(untrained.reason).toMatch(/hidden: the model's tag loss \(0\.490\) is not clearly below that of guessing each tag from how often it occurs \(0\.500\)/);
    // just above the margin: still hidden; below: shown
    expect(tagTrust({ final: { tagLoss: prior * (1 - TAG_TRUST_MARGIN) + 1e-6 }, tagPriorLoss: prior }).trusted).toBe(false);
    expect(tagTrust({ final: { tagLoss: prior * (1 - TAG_TRUST_MARGIN) - 1e-6 }, tagPriorLoss: prior })).toMatchObject({ trusted: true, reason: '' });
  });
  it('compares runs recorded without a baseline with the coin-flip guess (ln 2); no tag loss: hidden', () => {
    expect(tagTrust({ final: { tagLoss: 0.69 } })).toMatchObject({ trusted: false, baseline: Math.LN2 });
    expect(tagTrust({ final: { tagLoss: 0.69 } }).reason).toMatch(/coin-flip/);
    expect(tagTrust({ final: { tagLoss: 0.1 } }).trusted).toBe(true);
    expect(tagTrust(null).trusted).toBe(false);
    expect(tagTrust({ final: { tagLoss: null } }).reason).toMatch(/recorded no tag loss/);
  });
});
