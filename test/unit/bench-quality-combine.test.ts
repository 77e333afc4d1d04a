/** Pooling bench-quality result files made by separate processes (bench/quality-combine.ts). */
import { describe, expect, it } from 'vitest';
import { combineQuality, formatCombined, parseQualityResult, type QualityRun } from '../../bench/quality-combine';

const config = { train: 'd', test: 'dev-test', size: 128, minutes: 5, decode: 'p0.5/min1/max4', lrp_rule: 'lrp0' };
const row = (seed: number, miou: number, rules: Record<string, number> = {}) => ({
  seed,
  miou,
  miou_given_tags: miou + 0.3,
  tag_map: 0.5,
  steps: 100,
  cpu_s: 300,
  decode_rules: rules,
});
const run = (file: string, methods: QualityRun['methods'], cfg: Record<string, unknown> = config): QualityRun => ({
  file,
  config: cfg,
  methods,
});
const soft = 'p0/min4/max4/w1';

describe('combineQuality', () => {
  const runs = [
    run('a', {
      lrp: { per_seed: [row(1, 0.2, { 'p0.5/min1/max4': 0.2, [soft]: 0.3 }), row(2, 0.1, { 'p0.5/min1/max4': 0.1, [soft]: 0.25 })] },
    }),
    run('b', {
      unet: { per_seed: [row(1, 0.15, { 'p0.5/min1/max4': 0.15 }), row(2, 0.05, { 'p0.5/min1/max4': 0.05 })] },
      mtunet: { per_seed: [row(1, 0.1, { 'p0.5/min1/max4': 0.1, [soft]: 0.2 })] },
    }),
  ];
  it('pools methods and seeds across files, pairs LRP with each method over the seeds both have', () => {
    const c = combineQuality(runs);
    expect(c.methods.lrp!.miou.mean).toBeCloseTo(0.15, 9);
    expect(c.methods.lrp!.miou.se).toBeCloseTo(0.05, 9);
    expect(c.paired.unet!.per_seed.map((x) => +x.toFixed(9))).toEqual([0.05, 0.05]);
    expect(c.paired.mtunet!.seeds).toEqual([1]);
    expect(c.methods.lrp!.rules[soft]!.diff).toBeCloseTo(0.125, 9);
    expect(formatCombined(c)).toContain('lrp − unet');
  });
  it('reports a chosen rule for the methods that decode predicted tags, and the one mIoU for the others', () => {
    const c = combineQuality(runs, soft);
    expect(c.methods.lrp!.miou.mean).toBeCloseTo(0.275, 9);
    expect(c.methods.mtunet!.miou.mean).toBeCloseTo(0.2, 9);
    expect(c.methods.unet!.miou.mean).toBeCloseTo(0.1, 9);
    expect(c.paired.unet!.diff).toBeCloseTo(0.175, 9);
    expect(() => combineQuality(runs, 'p9/min1/max1')).toThrow(/not measured/);
  });
  it('refuses runs with other settings, and a (method, seed) counted twice', () => {
    expect(() => combineQuality([runs[0]!, run('c', { gradcam: { per_seed: [row(1, 0.1)] } }, { ...config, minutes: 3 })])).toThrow(
      /"minutes"/,
    );
    expect(() => combineQuality([runs[0]!, run('d', { lrp: { per_seed: [row(2, 0.1)] } })])).toThrow(/seed 2 is already/);
  });
  it('takes the finished methods of a run stopped before its JSON line from its log', () => {
    const log = [
      `config: ${JSON.stringify(config)}`,
      '== lrp (seed 2): training (3 min)',
      '  decode rules: p0.5/min1/max4 0.209, p0/min4/max4/w1 0.201',
      '  lrp: mIoU 0.209 (true tags 0.553), tag mAP 0.589, 149 steps in 3532 s (181 CPU s)',
      '== gradcam (seed 2): training (3 min)',
      '  step 4: tag 0.5 heat 1.0 scale 1.0 0.3 img/s',
    ].join('\n');
    const r = parseQualityResult(log, 'stopped');
    expect(Object.keys(r.methods)).toEqual(['lrp']);
    expect(r.methods.lrp!.per_seed).toEqual([
      {
        seed: 2,
        miou: 0.209,
        miou_given_tags: 0.553,
        tag_map: 0.589,
        steps: 149,
        cpu_s: 181,
        decode_rules: { 'p0.5/min1/max4': 0.209, 'p0/min4/max4/w1': 0.201 },
      },
    ]);
  });
  it('reads the last JSON line of a result file, and says when there is none', () => {
    const text = `$ npx heatseg bench quality …\nlog\n${JSON.stringify({ methods: { lrp: { per_seed: [row(1, 0.2)] } }, ...config })}\n\nreal 1m\n`;
    expect(parseQualityResult(text, 'f').config.size).toBe(128);
    expect(() => parseQualityResult('log only', 'g')).toThrow(/no result line/);
  });

  it('reads a file from before tag_probe / warmup_steps were stated as their values then (off, 100): pooled with such runs, refused beside probed ones', () => {
    const old = parseQualityResult(`${JSON.stringify({ methods: { unet: { per_seed: [row(1, 0.1, { 'p0.5/min1/max4': 0.1 })] } }, ...config })}\n`, 'old');
    expect(old.config).toMatchObject({ tag_probe: false, warmup_steps: 100 });
    const same = parseQualityResult(`${JSON.stringify({ methods: { lrp: { per_seed: [row(1, 0.2, { 'p0.5/min1/max4': 0.2 })] } }, ...config, tag_probe: false, warmup_steps: 100 })}\n`, 'same');
    expect(combineQuality([old, same]).paired.unet!.diff).toBeCloseTo(0.1);
    const probed = parseQualityResult(`${JSON.stringify({ methods: { lrp: { per_seed: [row(1, 0.2)] } }, ...config, tag_probe: true, warmup_steps: 20 })}\n`, 'new');
    expect(() => combineQuality([old, probed])).toThrow(/"tag_probe"/);
  });

  it('a method\'s own settings must agree among the files of that method only: an older LRP file reads as the winner pool', () => {
    const old = parseQualityResult(`${JSON.stringify({ methods: { lrp: { per_seed: [row(1, 0.2, { 'p0.5/min1/max4': 0.2 })] } }, ...config })}\n`, 'old');
    expect(old.config).toMatchObject({ lrp_pool: 'winner', lrp_top_relevance: false });
    const winner = parseQualityResult(`${JSON.stringify({ methods: { lrp: { per_seed: [row(2, 0.3, { 'p0.5/min1/max4': 0.3 })] } }, ...config, lrp_pool: 'winner' })}\n`, 'winner');
    expect(combineQuality([old, winner]).methods.lrp!.miou.mean).toBeCloseTo(0.25);
    const prop = parseQualityResult(`${JSON.stringify({ methods: { lrp: { per_seed: [row(2, 0.3)] } }, ...config, lrp_pool: 'proportional' })}\n`, 'prop');
    expect(() => combineQuality([old, prop])).toThrow(/"lrp_pool" is "proportional", but old \(the same method\)/);
    // another method's file may differ in LRP's settings and its own head LR: that is what is compared
    const cam = parseQualityResult(`${JSON.stringify({ methods: { gradcam: { per_seed: [row(1, 0.1, { 'p0.5/min1/max4': 0.1 })] } }, ...config, head_lr: 'lr; Grad-CAM lr / 10' })}\n`, 'cam');
    const twoDepths = parseQualityResult(`${JSON.stringify({ methods: { lrp: { per_seed: [row(1, 0.2, { 'p0.5/min1/max4': 0.2 })] } }, ...config, lrp_top_relevance: true, head_lr: 0.0001 })}\n`, 'two');
    expect(combineQuality([twoDepths, cam]).paired.gradcam!.diff).toBeCloseTo(0.1);
    // shared settings still refuse
    expect(() => combineQuality([twoDepths, { ...cam, config: { ...cam.config, minutes: 3 } }])).toThrow(/"minutes"/);
  });
});
