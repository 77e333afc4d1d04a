import { describe, expect, it } from 'vitest';
import { PATCH_KEEP, applyPatch } from '../../src-shared/labels';
import { LOOP_KEYS, matchLoopKey } from '../../src-renderer/src/lib/loop-keys';
import { buildAcceptPatch, duration, heatLut, heatRgba, lossChart, maskRgba, tagFlag } from '../../src-renderer/src/lib/overlay';
import { DEFAULT_FORM, formProblems, trainInput } from '../../src-renderer/src/lib/train-form';
import { SHORTCUTS, matchShortcut, type KeyLike } from '../../src-renderer/src/lib/shortcuts';

const key = (k: string, mods: Partial<KeyLike> = {}): KeyLike => ({
  key: k,
  code: `Key${k.toUpperCase()}`,
  ctrlKey: false,
  metaKey: false,
  shiftKey: false,
  altKey: false,
  ...mods,
});

describe('loop keys', () => {
  it('match their plain letters only, and clash with no annotation shortcut', () => {
    for (const k of LOOP_KEYS) {
      const e = key(k.keys[0]!.toLowerCase());
      expect(matchLoopKey(e)).toBe(k.action);
      expect(matchLoopKey({ ...e, ctrlKey: true })).toBeNull();
      expect(matchLoopKey({ ...e, shiftKey: true })).toBeNull();
      expect(matchShortcut(e), `${k.keys[0]} is taken by an annotation shortcut`).toBeNull();
      expect(matchShortcut(e, true)).toBeNull();
    }
    expect(SHORTCUTS.some((s) => s.keys.length === 1 && ['M', 'H', 'N'].includes(s.keys[0]!))).toBe(false);
    expect(matchLoopKey(key('b'))).toBeNull();
  });
});

describe('overlays', () => {
  it('paints the predicted mask in class colours, unlabelled transparent, unknown values grey', () => {
    const rgba = maskRgba(new Uint8Array([0, 1, 7, 9]), [
      { labelValue: 1, color: '#ff0000' },
      { labelValue: 7, color: '#00ff80' },
    ]);
    expect([...rgba]).toEqual([0, 0, 0, 0, 255, 0, 0, 255, 0, 255, 128, 255, 154, 154, 154, 255]);
  });

  it('maps confidence through the heat colour ramp, opaque, dark to bright', () => {
    const lut = heatLut();
    expect([...lut.slice(0, 3)]).toEqual([0, 0, 4]);
    expect([...lut.slice(255 * 3)]).toEqual([252, 255, 164]);
    const bright = (v: number) => lut[v * 3]! + lut[v * 3 + 1]! + lut[v * 3 + 2]!;
    for (let v = 16; v < 256; v += 16) expect(bright(v)).toBeGreaterThan(bright(v - 16));
    const rgba = heatRgba(new Uint8Array([0, 255]));
    expect(rgba[3]).toBe(255);
    expect(rgba[7]).toBe(255);
  });
});

describe('accept prediction', () => {
  it('labels only unlabelled pixels, over the bounding box of what it labels, and undoes exactly', () => {
    const W = 5;
    const H = 4;
    // prettier-ignore
    const current = new Uint8Array([
      0, 0, 0, 0, 0,
      0, 2, 2, 0, 0,
      0, 0, 0, 0, 0,
      0, 0, 0, 0, 0,
    ]);
    // prettier-ignore
    const predicted = new Uint8Array([
      0, 0, 0, 0, 0,
      0, 1, 3, 3, 0,
      0, 1, 1, 3, 0,
      0, 0, 0, 0, 0,
    ]);
    const p = buildAcceptPatch(current, predicted, W, H)!;
    expect(p.rect).toEqual({ x: 1, y: 1, width: 3, height: 2 });
    expect(p.count).toBe(4);
    expect([...p.after]).toEqual([PATCH_KEEP, PATCH_KEEP, 3, 1, 1, 3]);
    expect([...p.before]).toEqual([PATCH_KEEP, PATCH_KEEP, 0, 0, 0, 0]);
    const labels = current.slice();
    expect(applyPatch(labels, W, H, p.rect, p.after)).toBe(4);
    // The scribbled pixels kept their class.
    expect(labels[6]).toBe(2);
    expect(labels[7]).toBe(2);
    expect(labels[8]).toBe(3);
    applyPatch(labels, W, H, p.rect, p.before);
    expect([...labels]).toEqual([...current]);
  });

  it('returns null when every predicted pixel is labelled already, and refuses mismatched sizes', () => {
    expect(buildAcceptPatch(new Uint8Array([1, 2]), new Uint8Array([3, 0]), 2, 1)).toBeNull();
    expect(() => buildAcceptPatch(new Uint8Array(3), new Uint8Array(4), 2, 2)).toThrow(/expected 2×2/);
  });
});

describe('tag flags', () => {
  it('flags p ≥ 0.5 without the tag and the tag with p < 0.5', () => {
    expect(tagFlag(0.5, false)).toBe('untagged-but-predicted');
    expect(tagFlag(0.49, true)).toBe('tagged-but-unlikely');
    expect(tagFlag(0.9, true)).toBeNull();
    expect(tagFlag(0.1, false)).toBeNull();
    expect(tagFlag(undefined, true)).toBeNull();
  });
});

describe('loss chart', () => {
  it('scales both curves to one axis that holds the uniform-guess level, thinning long histories', () => {
    const losses = Array.from({ length: 2000 }, (_, i) => ({ step: i + 1, tag: 1 / (i + 1), heat: 0.5 }));
    const c = lossChart(losses, 2, 300, 100, 100);
    expect(c.yMax).toBeCloseTo(2.16);
    expect(c.xMax).toBe(2000);
    expect(c.uniformY).toBeCloseTo(100 - (2 / 2.16) * 100);
    const pts = c.tag.split(' ');
    expect(pts.length).toBeLessThanOrEqual(101);
    expect(pts[pts.length - 1]).toBe(`300.0,${(100 - (1 / 2000 / 2.16) * 100).toFixed(1)}`);
    expect(lossChart([], null, 300, 100).uniformY).toBeNull();
    expect(lossChart([{ step: 1, tag: NaN, heat: Infinity }], null, 10, 10).heat).toBe('10.0,10.0');
  });

  it('formats times left', () => {
    expect(duration(null)).toBe('–');
    expect(duration(12.4)).toBe('12 s');
    expect(duration(185)).toBe('3 min 05 s');
    expect(duration(3720)).toBe('1 h 02 min');
  });
});

describe('train form', () => {
  it('defaults to lrp, the shipped darknet-tiny backbone, 20 epochs at 128 px, and validates before sending', () => {
    expect(formProblems(DEFAULT_FORM)).toEqual({});
    expect(trainInput(DEFAULT_FORM)).toEqual({ method: 'lrp', backbone: 'darknet-tiny', epochs: 20, size: 128, seed: 1, valFraction: 0.2 });
    expect(trainInput({ ...DEFAULT_FORM, backbone: 'small' })).toMatchObject({ backbone: 'small' });
    expect(Object.keys(formProblems({ ...DEFAULT_FORM, size: 40, epochs: 0, backbone: 'folder', backbonePath: ' ', valPercent: 95 })).sort()).toEqual([
      'backbonePath',
      'epochs',
      'size',
      'valPercent',
    ]);
    expect(trainInput({ ...DEFAULT_FORM, valPercent: 0 })).toMatchObject({ valFraction: 0 });
    expect(trainInput({ ...DEFAULT_FORM, backbone: 'folder', backbonePath: ' /models/vgg ', backend: 'wasm' })).toMatchObject({
      backbone: '/models/vgg',
      backend: 'wasm',
    });
  });
});
