import { describe, expect, it } from 'vitest';
import { LabelRaster, buildStrokePatch, type StrokeChanges } from '../../src-renderer/src/lib/raster';
import { brush } from '../../src-renderer/src/lib/tools/brush';
import { eraser } from '../../src-renderer/src/lib/tools/eraser';
import { fill } from '../../src-renderer/src/lib/tools/fill';
import { pan } from '../../src-renderer/src/lib/tools/pan';
import { picker } from '../../src-renderer/src/lib/tools/picker';
import type { ToolContext, ToolSettings } from '../../src-renderer/src/lib/tools/tool';
import { View, type Sample } from '../../src-renderer/src/lib/view';

const CLASSES = [
  { id: 10, name: 'Crack', labelValue: 1 },
  { id: 20, name: 'Rust', labelValue: 2 },
];

interface Harness {
  ctx: ToolContext;
  raster: LabelRaster;
  settings: ToolSettings;
  view: View;
  commits: Array<{ label: string; changed: number; after: Uint8Array | null }>;
  messages: Array<{ text: string; tone: string }>;
  redraws: number;
  gone: string | null;
}

/** A tool context over a w×h raster, with the app's save path replaced by a log of commits. */
function harness(w = 32, h = 24, opts: { labels?: Uint8Array; image?: Uint8ClampedArray } = {}): Harness {
  const raster = new LabelRaster(w, h, new Uint8ClampedArray(w * h * 4), opts.labels);
  raster.setColors([
    { labelValue: 1, color: '#ff0000' },
    { labelValue: 2, color: '#00ff00' },
  ]);
  const settings: ToolSettings = { tool: 'brush', classId: 10, brushSize: 3, eraserSize: 5, tolerance: 0, preserveLabels: false };
  const view = new View(w, h);
  const hx: Harness = { raster, settings, view, commits: [], messages: [], redraws: 0, gone: null, ctx: null! };
  hx.ctx = {
    raster,
    settings,
    classes: CLASSES,
    view,
    unsaveable: () => hx.gone,
    commit(changes: StrokeChanges, label: string) {
      const p = buildStrokePatch(changes, w);
      hx.commits.push({ label, changed: changes.length, after: p?.after ?? null });
      return p !== null;
    },
    imagePixels: () => opts.image ?? new Uint8ClampedArray(w * h * 4),
    message: (text, tone = 'info') => void hx.messages.push({ text, tone }),
    redraw: () => void hx.redraws++,
  };
  return hx;
}

/** A sample at image (x, y) under the identity view. */
const at = (x: number, y: number): Sample => ({ x, y, stageX: x, stageY: y });

/** Image pixels labelled `value`, as "x,y" strings. */
function pixelsOf(raster: LabelRaster, value: number): Set<string> {
  const out = new Set<string>();
  raster.labels.forEach((v, i) => v === value && out.add(`${i % raster.width},${Math.floor(i / raster.width)}`));
  return out;
}

describe('brush', () => {
  it('paints while the stroke is open and records it as one undo step only on release', () => {
    const hx = harness();
    const b = brush(hx.ctx);
    expect(b.press(at(4.2, 5.7))).toBe(true);
    // a 3 px dab (pixel centres within 1.5 px) centred on the pixel under the pointer: 3 × 3
    expect(pixelsOf(hx.raster, 1)).toEqual(new Set(['3,4', '4,4', '5,4', '3,5', '4,5', '5,5', '3,6', '4,6', '5,6']));
    b.move(at(10.5, 5.5));
    b.move(at(20.5, 5.5));
    expect(hx.commits).toEqual([]);
    b.release(at(25.5, 5.5));
    expect(hx.commits.map((c) => c.label)).toEqual(['Brush stroke']);
    // fast motion leaves no gaps: every pixel on row 5 from the press to the release is painted
    for (let x = 3; x <= 26; x++) expect(hx.raster.valueAt(x, 5)).toBe(1);
    expect(hx.raster.valueAt(27, 5)).toBe(0);
    expect(hx.commits[0]!.changed).toBe(hx.raster.labelled);
  });

  it('a second press during a stroke opens nothing; after release, move paints nothing', () => {
    const hx = harness();
    const b = brush(hx.ctx);
    b.press(at(2.5, 2.5));
    expect(b.press(at(20.5, 20.5))).toBe(false);
    b.release();
    const n = hx.raster.labelled;
    b.move(at(15.5, 15.5));
    expect(hx.raster.labelled).toBe(n);
    expect(hx.commits).toHaveLength(1);
  });

  it('keeps its size for the whole stroke and paints with the chosen class', () => {
    const hx = harness();
    hx.settings.classId = 20;
    hx.settings.brushSize = 1;
    const b = brush(hx.ctx);
    b.press(at(1.5, 1.5));
    hx.settings.brushSize = 9;
    b.move(at(6.5, 1.5));
    b.release();
    expect(pixelsOf(hx.raster, 2)).toEqual(new Set(['1,1', '2,1', '3,1', '4,1', '5,1', '6,1']));
    expect(b.outline()).toEqual({ size: 9, colour: '#ffffff' });
  });

  it('in "preserve labels" mode never repaints a labelled pixel', () => {
    const labels = new Uint8Array(32 * 24);
    labels[5 * 32 + 8] = 2;
    const hx = harness(32, 24, { labels });
    hx.settings.preserveLabels = true;
    const b = brush(hx.ctx);
    b.press(at(2.5, 5.5));
    b.release(at(12.5, 5.5));
    expect(hx.raster.valueAt(8, 5)).toBe(2);
    expect(hx.raster.valueAt(7, 5)).toBe(1);
  });

  it('without a class it says why and paints nothing', () => {
    const hx = harness();
    hx.settings.classId = null;
    expect(brush(hx.ctx).press(at(4.5, 4.5))).toBe(false);
    expect(hx.raster.labelled).toBe(0);
    expect(hx.messages).toEqual([{ text: 'Add a class (left sidebar) to paint with.', tone: 'error' }]);
  });

  it('on an image the server no longer has it says so and paints nothing', () => {
    const hx = harness();
    hx.gone = 'image 3 not found';
    expect(brush(hx.ctx).press(at(4.5, 4.5))).toBe(false);
    expect(hx.raster.labelled).toBe(0);
    expect(hx.messages[0]!.text).toContain('no longer exists');
    expect(hx.messages[0]!.tone).toBe('error');
  });
});

describe('eraser', () => {
  it('erases at its own size, labelled pixels included even in "preserve labels" mode', () => {
    const hx = harness(16, 16, { labels: new Uint8Array(16 * 16).fill(1) });
    hx.settings.preserveLabels = true;
    hx.settings.eraserSize = 1;
    hx.settings.classId = null; // the eraser needs no class
    const e = eraser(hx.ctx);
    expect(e.outline()).toEqual({ size: 1, colour: '#ffb3b3' });
    expect(e.press(at(2.5, 3.5))).toBe(true);
    e.release(at(5.5, 3.5));
    expect(pixelsOf(hx.raster, 0)).toEqual(new Set(['2,3', '3,3', '4,3', '5,3']));
    expect(hx.commits.map((c) => [c.label, c.changed])).toEqual([['Eraser stroke', 4]]);
    expect(hx.messages).toEqual([]);
  });

  it('a stroke over unlabelled pixels changes nothing and saves no patch', () => {
    const hx = harness();
    const e = eraser(hx.ctx);
    e.press(at(4.5, 4.5));
    e.release(at(9.5, 4.5));
    expect(hx.commits).toEqual([{ label: 'Eraser stroke', changed: 0, after: null }]);
  });
});

describe('fill', () => {
  /** A 12×8 image: a dark left half (with one slightly lighter pixel) and a white right half. */
  function image(): Uint8ClampedArray {
    const rgba = new Uint8ClampedArray(12 * 8 * 4);
    for (let i = 0; i < 12 * 8; i++) {
      const v = i % 12 < 6 ? 10 : 250;
      rgba.set([v, v, v, 255], i * 4);
    }
    rgba.set([30, 30, 30, 255], (2 * 12 + 2) * 4);
    return rgba;
  }

  it('labels the connected region within the tolerance, as one undo step, and says how much', () => {
    const hx = harness(12, 8, { image: image() });
    hx.settings.tolerance = 25;
    const f = fill(hx.ctx);
    expect(f.press(at(1.5, 1.5))).toBe(false);
    expect(hx.raster.labelled).toBe(48);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 12; x++) expect(hx.raster.valueAt(x, y)).toBe(x < 6 ? 1 : 0);
    expect(hx.commits.map((c) => [c.label, c.changed])).toEqual([['Fill', 48]]);
    expect(hx.messages.at(-1)!.text).toBe('Filled 48 pixels (region of 48, tolerance 25).');
  });

  it('at tolerance 0 leaves out the lighter pixel; filling again says nothing changed', () => {
    const hx = harness(12, 8, { image: image() });
    const f = fill(hx.ctx);
    f.press(at(1.5, 1.5));
    expect(hx.raster.labelled).toBe(47);
    expect(hx.raster.valueAt(2, 2)).toBe(0);
    f.press(at(0.5, 0.5));
    expect(hx.raster.labelled).toBe(47);
    expect(hx.messages.at(-1)!.text).toBe('That region already has this class.');
  });

  it('respects "preserve labels", and outside the image does nothing', () => {
    const labels = new Uint8Array(12 * 8);
    labels[0] = 2;
    const hx = harness(12, 8, { labels, image: image() });
    hx.settings.tolerance = 25;
    hx.settings.preserveLabels = true;
    const f = fill(hx.ctx);
    f.press(at(3.5, 3.5));
    expect(hx.raster.valueAt(0, 0)).toBe(2);
    expect(hx.raster.labelled).toBe(48);
    hx.messages.length = 0;
    f.press(at(-1, 3));
    expect(hx.commits).toHaveLength(1);
    expect(hx.messages).toEqual([]);
  });
});

describe('picker', () => {
  it('takes the class under the pointer and hands back to the tool in hand before it', () => {
    const labels = new Uint8Array(8 * 8);
    labels[3 * 8 + 4] = 2;
    const hx = harness(8, 8, { labels });
    hx.settings.tool = 'picker';
    const p = picker(hx.ctx);
    p.returnTo = 'fill';
    expect(p.press(at(4.9, 3.1))).toBe(false);
    expect(hx.settings.classId).toBe(20);
    expect(hx.settings.tool).toBe('fill');
    expect(hx.messages).toEqual([{ text: 'Painting with Rust.', tone: 'info' }]);
    expect(hx.commits).toEqual([]);
  });

  it('over an unlabelled pixel or a value of no class picks nothing and says so', () => {
    const labels = new Uint8Array(8 * 8);
    labels[0] = 7;
    const hx = harness(8, 8, { labels });
    hx.settings.tool = 'picker';
    const p = picker(hx.ctx);
    p.press(at(5.5, 5.5));
    p.press(at(0.5, 0.5));
    expect(hx.messages.map((m) => m.text)).toEqual(['No label under the pointer: nothing picked.', 'Label value 7 belongs to no class.']);
    expect(hx.settings).toMatchObject({ classId: 10, tool: 'picker' });
  });
});

describe('pan', () => {
  it('moves the view with the pointer from where the press caught it, at the same scale, and paints nothing', () => {
    const hx = harness();
    hx.view.set(2, 10, 20);
    const p = pan(hx.ctx);
    expect(p.cursor).toBe('grab');
    expect(p.press({ x: 0, y: 0, stageX: 100, stageY: 100 })).toBe(true);
    expect(p.cursor).toBe('grabbing');
    p.move({ x: 0, y: 0, stageX: 130, stageY: 90 });
    expect([hx.view.scale, hx.view.x, hx.view.y]).toEqual([2, 40, 10]);
    p.move({ x: 0, y: 0, stageX: 160, stageY: 100 });
    expect([hx.view.x, hx.view.y]).toEqual([70, 20]);
    p.release();
    p.move({ x: 0, y: 0, stageX: 0, stageY: 0 });
    expect([hx.view.x, hx.view.y, p.cursor]).toEqual([70, 20, 'grab']);
    expect(hx.view.fitted).toBe(false);
    expect(hx.raster.labelled).toBe(0);
  });
});
