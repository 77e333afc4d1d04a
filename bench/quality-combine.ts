/**
 * Combines `heatseg bench quality` result files made by separate processes (one per seed and/or
 * method, e.g. by bench/quality-per-seed.sh) into one table: per method the mean ± s.e. over seeds
 * of mIoU (predicted tags) under a chosen decode rule, true-tag mIoU, tag mAP and steps; the paired
 * differences LRP − each method over the seeds both have; and every measured decode rule per method
 * with its paired difference to the runs' own rule (the numbers a decode rule is chosen by). Reads
 * the JSON line each run prints last; a run stopped before it contributes the methods its log shows
 * finished (their logged 3-decimal numbers). Files must share their benchmark settings (split, budget,
 * size, labels, …): one that differs is refused, naming the setting; a (method, seed) pair seen
 * twice is refused too.
 *
 *   npx tsx bench/quality-combine.ts RESULT... [--rule p0/min4/max4/w1] [--json]
 *
 * --rule: the decode rule whose mIoU is reported for the methods that decode predicted tags (lrp,
 * gradcam, mtunet); methods that do not (unet, tagfill) report their one mIoU. Default: the runs'
 * own rule (`decode` in their config).
 */
import fs from 'node:fs';
import { meanSe } from '../src-shared/metrics.js';

export interface SeedRow {
  seed: number;
  miou: number;
  miou_given_tags: number | null;
  tag_map: number | null;
  steps: number;
  cpu_s: number;
  decode_rules: Record<string, number>;
}

export interface QualityRun {
  file: string;
  config: Record<string, unknown>;
  methods: Record<string, { per_seed: SeedRow[] }>;
}

/** Settings every combined run must share. */
const SHARED = [
  'train',
  'test',
  'train_images',
  'test_images',
  'labeled',
  'labels',
  'backbone',
  'size',
  'batch',
  'minutes',
  'budget_clock',
  'epochs',
  'split_seed',
  'heat_norm',
  'tag_warmup_steps',
  'tag_balance',
  'background',
  'decode',
  'tag_probe',
  'warmup_steps',
  'tta',
  'refine',
];

/** Settings of one method's model and training: compared only among files that ran the same method. */
const METHOD_KEYS = ['lrp_depth', 'lrp_rule', 'lrp_pool', 'lrp_top_relevance', 'head_lr'];

/** Settings older result files do not state: the values in force before the key existed. */
const BEFORE_KEY: Record<string, unknown> = { tag_probe: false, warmup_steps: 100, head_lr: null, lrp_pool: 'winner', lrp_top_relevance: false, refine: 'none' };

/**
 * A run stopped before its JSON line: the methods it finished, from its progress log (the
 * `config:` line, each method's `decode rules:` line and its `METHOD: mIoU …` line).
 */
function parseProgressLog(text: string, file: string): QualityRun | null {
  const cfg = /^config: (\{.*\})$/m.exec(text);
  if (!cfg) return null;
  const methods: QualityRun['methods'] = {};
  let current: { method: string; seed: number } | null = null;
  let rules: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const head = /^== (\w+) \(seed (\d+)\): training/.exec(line);
    if (head) {
      current = { method: head[1]!, seed: Number(head[2]) };
      rules = {};
      continue;
    }
    const dr = /^ {2}decode rules: (.*)$/.exec(line);
    if (dr && current) {
      for (const part of dr[1]!.split(', ')) {
        const [k, v] = part.split(' ');
        rules[k!] = Number(v);
      }
      continue;
    }
    const done =
      /^ {2}(\w+): mIoU ([\d.]+)(?: \(true tags ([\d.]+)\))?(?:, tag mAP ([\d.]+))?.*?, (\d+) steps in \d+ s \(([\d.]+) CPU s\)/.exec(line);
    if (done && current && done[1] === current.method) {
      const m = (methods[current.method] ??= { per_seed: [] });
      m.per_seed.push({
        seed: current.seed,
        miou: Number(done[2]),
        miou_given_tags: done[3] ? Number(done[3]) : null,
        tag_map: done[4] ? Number(done[4]) : null,
        steps: Number(done[5]),
        cpu_s: Number(done[6]),
        decode_rules: Object.keys(rules).length
          ? rules
          : { [String((JSON.parse(cfg[1]!) as { decode?: string }).decode)]: Number(done[2]) },
      });
      current = null;
    }
  }
  return Object.keys(methods).length ? { file, config: { ...BEFORE_KEY, ...(JSON.parse(cfg[1]!) as Record<string, unknown>) }, methods } : null;
}

/** The run's JSON line, or for a run stopped early the methods its log shows finished (3 decimals). */
export function parseQualityResult(text: string, file: string): QualityRun {
  const line = text
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"methods"'));
  if (!line) {
    const partial = parseProgressLog(text, file);
    if (partial) return partial;
    throw new Error(`${file}: no result line (a JSON line starting {"methods") and no finished method in its log: did the run finish?`);
  }
  const j = JSON.parse(line) as Record<string, unknown> & { methods: QualityRun['methods'] };
  const { methods, ...config } = j;
  return { file, config: { ...BEFORE_KEY, ...config }, methods };
}

export interface MethodSummary {
  seeds: number[];
  miou: { mean: number; se: number };
  /** The per-seed mIoU the summary is over, in `seeds` order. */
  per_seed: number[];
  miou_given_tags: { mean: number; se: number } | null;
  tag_map: { mean: number; se: number } | null;
  steps: number;
  /** Per measured decode rule: mean ± s.e. and the paired difference to the runs' own rule. */
  rules: Record<string, { mean: number; se: number; diff: number; diff_se: number }>;
}

export interface Combined {
  rule: string;
  config: Record<string, unknown>;
  files: string[];
  methods: Record<string, MethodSummary>;
  /** LRP − method, paired by seed. */
  paired: Record<string, { diff: number; se: number; per_seed: number[]; seeds: number[] }>;
}

const DECODES = new Set(['lrp', 'gradcam', 'mtunet']);

export function combineQuality(runs: QualityRun[], rule?: string): Combined {
  if (runs.length === 0) throw new Error('no result files');
  const first = runs[0]!;
  for (const [i, r] of runs.entries()) {
    // a method's own settings (its decoder, its tag head's learning rate) must agree among the files
    // that ran that method; between methods they are what is being compared
    for (const other of runs.slice(0, i)) {
      if (!Object.keys(r.methods).some((m) => m in other.methods)) continue;
      for (const k of METHOD_KEYS) {
        if (JSON.stringify(r.config[k]) !== JSON.stringify(other.config[k]))
          throw new Error(`${r.file}: setting "${k}" is ${JSON.stringify(r.config[k])}, but ${other.file} (the same method) has ${JSON.stringify(other.config[k])}: these runs cannot be pooled`);
      }
    }
    if (i === 0) continue;
    for (const k of SHARED) {
      if (JSON.stringify(r.config[k]) !== JSON.stringify(first.config[k])) {
        throw new Error(
          `${r.file}: setting "${k}" is ${JSON.stringify(r.config[k])}, but ${first.file} has ${JSON.stringify(first.config[k])}: these runs cannot be pooled`,
        );
      }
    }
  }
  const own = String(first.config.decode ?? 'p0.5/min1/max4');
  const chosen = rule ?? own;
  const rows = new Map<string, Map<number, SeedRow>>();
  for (const r of runs) {
    for (const [m, v] of Object.entries(r.methods)) {
      const bySeed = rows.get(m) ?? new Map<number, SeedRow>();
      for (const s of v.per_seed) {
        if (bySeed.has(s.seed))
          throw new Error(`${r.file}: ${m} seed ${s.seed} is already in another file: a pool must not count a run twice`);
        bySeed.set(s.seed, s);
      }
      rows.set(m, bySeed);
    }
  }
  const value = (m: string, s: SeedRow): number => {
    if (!DECODES.has(m)) return s.miou;
    const v = s.decode_rules[chosen];
    if (v === undefined)
      throw new Error(`${m} seed ${s.seed}: decode rule ${chosen} was not measured (measured: ${Object.keys(s.decode_rules).join(', ')})`);
    return v;
  };
  const methods: Record<string, MethodSummary> = {};
  for (const [m, bySeed] of rows) {
    const seeds = [...bySeed.keys()].sort((a, b) => a - b);
    const list = seeds.map((k) => bySeed.get(k)!);
    const num = (xs: Array<number | null>) => xs.filter((x): x is number => x !== null && Number.isFinite(x));
    const given = num(list.map((s) => s.miou_given_tags));
    const maps = num(list.map((s) => s.tag_map));
    const rules: MethodSummary['rules'] = {};
    const keys = [...new Set(list.flatMap((s) => Object.keys(s.decode_rules)))];
    for (const key of keys) {
      const both = list.filter((s) => s.decode_rules[key] !== undefined && s.decode_rules[own] !== undefined);
      if (!both.length) continue;
      const ms = meanSe(both.map((s) => s.decode_rules[key]!));
      const d = meanSe(both.map((s) => s.decode_rules[key]! - s.decode_rules[own]!));
      rules[key] = { mean: ms.mean, se: ms.se, diff: d.mean, diff_se: d.se };
    }
    const per = list.map((s) => value(m, s));
    methods[m] = {
      seeds,
      miou: meanSe(per),
      per_seed: per,
      miou_given_tags: given.length ? meanSe(given) : null,
      tag_map: maps.length ? meanSe(maps) : null,
      steps: list.reduce((a, s) => a + s.steps, 0) / list.length,
      rules,
    };
  }
  const paired: Combined['paired'] = {};
  const lrp = rows.get('lrp');
  if (lrp) {
    for (const [m, bySeed] of rows) {
      if (m === 'lrp') continue;
      const seeds = [...bySeed.keys()].filter((k) => lrp.has(k)).sort((a, b) => a - b);
      if (!seeds.length) continue;
      const per = seeds.map((k) => value('lrp', lrp.get(k)!) - value(m, bySeed.get(k)!));
      const d = meanSe(per);
      paired[m] = { diff: d.mean, se: d.se, per_seed: per, seeds };
    }
  }
  const config = Object.fromEntries(SHARED.map((k) => [k, first.config[k]]));
  return { rule: chosen, config, files: runs.map((r) => r.file), methods, paired };
}

const f3 = (x: number) => x.toFixed(3);
const pm = (v: { mean: number; se: number } | null) => (v ? `${f3(v.mean)} ± ${f3(v.se)}` : '–');
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${f3(Math.abs(x))}`;

export function formatCombined(c: Combined): string {
  const out: string[] = [];
  out.push(`pooled ${c.files.length} result file(s); decode rule of predicted tags for lrp / gradcam / mtunet: ${c.rule}`);
  out.push(`settings: ${JSON.stringify(c.config)}`);
  out.push('');
  out.push('method    seeds   mIoU            mIoU|true tags  tag mAP         steps');
  for (const [m, s] of Object.entries(c.methods)) {
    out.push(
      `${m.padEnd(9)} ${s.seeds.join(',').padEnd(7)} ${pm(s.miou).padEnd(15)} ${pm(s.miou_given_tags).padEnd(15)} ${pm(s.tag_map).padEnd(15)} ${s.steps.toFixed(0)}`,
    );
  }
  out.push('');
  out.push('paired over seeds, LRP − method (mean ± s.e.; per seed)');
  for (const [m, p] of Object.entries(c.paired)) {
    out.push(
      `  lrp − ${m.padEnd(8)} ${signed(p.diff)} ± ${f3(p.se)}  (${p.per_seed.map((x, i) => `seed ${p.seeds[i]}: ${signed(x)}`).join(', ')})`,
    );
  }
  out.push('');
  out.push(`decode rules (mIoU with predicted tags, mean ± s.e.; Δ paired against the runs' own rule ${String(c.config.decode)})`);
  for (const [m, s] of Object.entries(c.methods)) {
    if (!Object.keys(s.rules).length) continue;
    out.push(`  ${m}:`);
    for (const [k, r] of Object.entries(s.rules))
      out.push(`    ${k.padEnd(20)} ${f3(r.mean)} ± ${f3(r.se)}   Δ ${signed(r.diff)} ± ${f3(r.diff_se)}`);
  }
  return out.join('\n');
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const args = process.argv.slice(2);
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
    process.stdout.write('usage: npx tsx bench/quality-combine.ts RESULT... [--rule p0/min4/max4/w1] [--json]\n  (pools `heatseg bench quality` result files: see the comment at the top of this file)\n');
    process.exit(args.length === 0 ? 1 : 0);
  }
  const ruleAt = args.indexOf('--rule');
  const unknown = args.find((a, i) => a.startsWith('--') && a !== '--json' && a !== '--rule' && !(ruleAt >= 0 && i === ruleAt + 1));
  if (unknown) throw new Error(`unknown option ${unknown} (see --help)`);
  const rule = ruleAt >= 0 ? args[ruleAt + 1] : undefined;
  if (ruleAt >= 0 && !rule) throw new Error('--rule needs a rule key, e.g. p0/min4/max4/w1');
  const json = args.includes('--json');
  const files = args.filter((a, i) => a !== '--json' && a !== '--rule' && (ruleAt < 0 || i !== ruleAt + 1));
  const c = combineQuality(
    files.map((f) => parseQualityResult(fs.readFileSync(f, 'utf8'), f)),
    rule,
  );
  process.stdout.write(`${formatCombined(c)}\n`);
  if (json) process.stdout.write(`${JSON.stringify(c)}\n`);
}
