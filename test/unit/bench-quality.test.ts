/**
 * `heatseg bench quality` over seeds (mean ± s.e., paired differences), dev parts, a background
 * class, tag metrics; and `heatseg train` recording its LRP options and backbone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeShapesDataset } from '../../src-main/demo/shapes';
import { meanSe } from '../../src-shared/metrics';
import { ProjectStore } from '../../src-main/store/project';
import { cliHarness } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const { run, stderr } = cliHarness();
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;

interface MethodOut {
  miou: number;
  miou_se: number;
  foreground_iou: number | null;
  tag_map: number | null;
  tag_per_class: Record<string, { ap: number | null; accuracy: number | null }> | null;
  decode_rules: Record<string, number | null>;
  per_seed: Array<{ seed: number; miou: number; foreground_iou: number | null }>;
}

let data: string;
beforeAll(async () => {
  data = tmpDir();
  await writeShapesDataset(data, { count: 30, width: 32, height: 32, seed: 5 });
});

describe('heatseg bench quality --seeds', () => {
  it('averages over seeds, pairs LRP with each method, reports foreground IoU and tag mAP on the dev-val part', { timeout: 600_000 }, async () => {
    const classes = (JSON.parse(fs.readFileSync(path.join(data, 'classes.json'), 'utf8')) as { classes: string[] }).classes;
    const r = await run('bench', 'quality', '--train', data, '--parts', '60,20,20', '--eval-on', 'val', '--labeled', '4', '--methods', 'lrp,gradcam,tagfill', '--epochs', '1', '--size', '32', '--batch', '4', '--seeds', '1,2', '--backbone', 'small', '--background', classes[0]!, '--lrp-rule', 'composite', '--backend', 'wasm');
    expect(r.code).toBe(0);
    const j = lastJson(r.out) as { methods: Record<string, MethodOut>; paired: Record<string, { miou_diff: number; se: number; per_seed: number[] }>; seeds: number[]; lrp_rule: string; backbone: string; background: string; train_images: number; test_images: number; test: string };
    expect(j.seeds).toEqual([1, 2]);
    expect(j.lrp_rule).toBe('composite');
    expect(j.backbone).toBe('small');
    expect(j.background).toBe(classes[0]);
    expect(j.train_images).toBe(18); // 60 % of 30
    expect(j.test_images).toBe(6); // dev-val: 20 %
    expect(j.test).toMatch(/dev-val part of a 60\/20\/20/);
    for (const m of ['lrp', 'gradcam', 'tagfill']) {
      const x = j.methods[m]!;
      expect(x.per_seed.map((s) => s.seed)).toEqual([1, 2]);
      const { mean, se } = meanSe(x.per_seed.map((s) => s.miou));
      expect(x.miou).toBeCloseTo(mean, 12);
      expect(x.miou_se).toBeCloseTo(se, 12);
      expect(x.foreground_iou).toBeGreaterThanOrEqual(0);
      expect(x.foreground_iou).toBeLessThanOrEqual(1);
      expect(x.tag_map).toBeGreaterThan(0);
      expect(Object.keys(x.tag_per_class!)).toEqual(classes);
    }
    expect(Object.keys(j.methods.lrp!.decode_rules)).toContain('p0.5/min1/max4');
    // tag-fill fills the classes of the first tag-capable model the run trained, and says so
    expect((j.methods.tagfill as MethodOut & { tag_source?: string }).tag_source).toBe('lrp');
    expect(stderr()).toMatch(/tagfill \(seed 1\): mIoU [\d.]+ \(true tags [\d.]+\), the classes of the lrp model's tag head/);
    for (const m of ['gradcam', 'tagfill']) {
      const d = j.paired[`lrp-${m}`]!;
      const diffs = j.methods.lrp!.per_seed.map((s, i) => s.miou - j.methods[m]!.per_seed[i]!.miou);
      expect(d.per_seed).toEqual(diffs);
      expect(d.miou_diff).toBeCloseTo(meanSe(diffs).mean, 12);
    }
  });

  it('uses the shipped darknet-tiny without --backbone, and refuses an unknown background class', { timeout: 600_000 }, async () => {
    const r = await run('bench', 'quality', '--train', data, '--labeled', '3', '--methods', 'lrp', '--epochs', '1', '--size', '32', '--batch', '4', '--seed', '3', '--backend', 'wasm');
    expect(r.code).toBe(0);
    const j = lastJson(r.out) as { backbone: string; backbone_dir: string; seeds: number[]; methods: Record<string, MethodOut> };
    expect(j.backbone).toBe('darknet-tiny');
    expect(j.backbone_dir).toMatch(/resources[/\\]backbones[/\\]darknet-tiny$/);
    expect(j.seeds).toEqual([3]);
    expect(j.methods.lrp!.miou_se).toBe(0);
    expect(j.methods.lrp!.foreground_iou).toBeNull();
    const bad = await run('bench', 'quality', '--train', data, '--methods', 'lrp', '--epochs', '1', '--size', '32', '--background', 'nope', '--backbone', 'small');
    expect(bad.code).not.toBe(0);
  });
});

describe('heatseg train records its decoder options and backbone', () => {
  it('--lrp-rule / --lrp-depth / --tag-warmup / --tag-balance reach the model and the run row', { timeout: 600_000 }, async () => {
    const p = path.join(tmpDir(), 'proj');
    expect((await run('init', p)).code).toBe(0);
    expect((await run('import', p, data)).code).toBe(0);
    const r = await run('train', p, '--backbone', 'small', '--epochs', '1', '--size', '32', '--batch', '4', '--lrp-rule', 'zplus', '--lrp-depth', '1', '--tag-warmup', '3', '--tag-balance', 'balanced', '--backend', 'wasm', '--json');
    expect(r.code).toBe(0);
    const j = lastJson(r.out) as { run: number; backbone: string; model: string };
    expect(j.backbone).toBe('small');
    const saved = JSON.parse(fs.readFileSync(path.join(j.model, 'heatseg-model.json'), 'utf8')) as { backbone: string; segmenter: { lrpRule: string; lrpDepth: number }; training: { config: { tagWarmupSteps: number; tagBalance: string } } };
    expect(saved.segmenter).toMatchObject({ lrpRule: 'zplus', lrpDepth: 1 });
    expect(saved.training.config).toMatchObject({ tagWarmupSteps: 3, tagBalance: 'balanced' });
    const store = ProjectStore.open(p);
    try {
      const row = store.run(j.run);
      expect(row.backbone).toBe('small');
      expect(JSON.parse(row.config)).toMatchObject({ lrpRule: 'zplus', lrpDepth: 1, tagWarmupSteps: 3 });
    } finally {
      store.close();
    }
  });
});
