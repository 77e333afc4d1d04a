/**
 * Pools `heatseg bench active` runs made separately (different seeds, machines, or processes) from
 * their progress logs (stderr), so that more seeds can be averaged than one run holds. Reads every
 * line "seed S STRATEGY round R: … → N labelled, mIoU X" and each seed's round-0 line, then prints
 * per strategy and labelled count: the seeds measured, the mean mIoU and its standard error, the
 * mean difference to random over the seeds that have both (paired), and the labels each strategy
 * needs to reach random's final mean mIoU (over the seeds where every strategy has that point).
 * A (seed, strategy) pair seen in two logs is refused: a pool must not count a run twice.
 *
 *   npx tsx bench/active-pool.ts LOG... [--strategies random,coverage]
 *   npx tsx bench/active-pool.ts --given-tags RESULT... (the mIoU with the true tags given, from result files)
 *   npx tsx bench/active-pool.ts --results RESULT... [--given-tags] (either metric, from result files)
 *   … [--plot FILE.svg [--title 'first line\nsecond line']] (the pooled curves of the most labels)
 * Default logs: bench/results/experiments/active-2026-11-26-*.log and the device run's logs; with
 * --given-tags: bench/results/active*.txt and the device run's JSON files. Result files must share
 * their benchmark configuration (split, start, step, training per round, tag stage, …): a file that
 * differs is refused, naming the setting.
 */
import fs from 'node:fs';
import path from 'node:path';
import { labelsToReach, learningCurveSvg, type Curve } from '../src-main/studies/learning-curves.js';

type Points = Map<number, number>; // labelled → mIoU
/** seed → strategy → points */
type Pool = Map<number, Map<string, Points>>;

export function parseActiveLog(text: string, file: string, pool: Pool = new Map()): Pool {
  const round0 = new Map<number, [number, number]>(); // seed → [labelled, miou]
  let current: number | null = null; // the seed a single-process log is on
  const seen = new Set<string>();
  for (const raw of text.split('\n')) {
    const prefixed = /^\[seed (\d+)\]\s+(.*)$/.exec(raw);
    const line = prefixed ? prefixed[2]! : raw.trim();
    const seedOfLine = prefixed ? Number(prefixed[1]) : current;
    const start = /^== seed (\d+): round 0 \((\d+) labelled/.exec(line);
    if (start) {
      current = Number(start[1]);
      round0.set(current, [Number(start[2]), NaN]);
      continue;
    }
    const r0 = /^round 0 \(.*?\): mIoU ([\d.]+)/.exec(line);
    if (r0 && seedOfLine !== null && round0.has(seedOfLine)) {
      round0.get(seedOfLine)![1] = Number(r0[1]);
      continue;
    }
    const m = /^seed (\d+) ([a-z-]+) round (\d+): .*→ (\d+) labelled, mIoU ([\d.]+)/.exec(line);
    if (!m) continue;
    const seed = Number(m[1]);
    const strategy = m[2]!;
    const key = `${seed} ${strategy}`;
    if (!seen.has(key)) {
      seen.add(key);
      if (pool.get(seed)?.has(strategy)) throw new Error(`${file}: seed ${seed} ${strategy} is already in the pool (from another log)`);
      const r = round0.get(seed);
      if (!r || Number.isNaN(r[1])) throw new Error(`${file}: seed ${seed} has rounds but no round-0 line`);
      if (!pool.has(seed)) pool.set(seed, new Map());
      pool.get(seed)!.set(strategy, new Map([[r[0], r[1]]]));
    }
    pool.get(seed)!.get(strategy)!.set(Number(m[4]), Number(m[5]));
  }
  return pool;
}

/**
 * A metric from result files: a `heatseg bench active` stdout (its last line is the JSON result) or a
 * `--seed-run-out` file; `given` (default): the mIoU with the true tags given (only rounds that
 * recorded it count), `predicted`: the mIoU with the predicted tags. `configs` (shared across calls)
 * holds the first file's configuration: a file whose benchmark settings differ is refused.
 */
export function parseActiveResult(
  text: string,
  file: string,
  pool: Pool = new Map(),
  metric: 'given' | 'predicted' = 'given',
  configs?: { first?: { file: string; config: Record<string, unknown> } },
): Pool {
  const line = text.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${file}: no JSON result line`);
  const r = JSON.parse(line) as {
    config?: Record<string, unknown>;
    per_seed?: Record<string, { rounds: Record<string, Array<{ labelled: number; miou: number; miou_given_tags?: number | null }>> }>;
  };
  if (!r.per_seed) throw new Error(`${file}: not a bench active result (no per_seed)`);
  if (configs && r.config) {
    if (!configs.first) configs.first = { file, config: r.config };
    else {
      const a = configs.first.config;
      for (const key of new Set([...Object.keys(a), ...Object.keys(r.config)])) {
        if (IGNORED_CONFIG.has(key)) continue;
        const [x, y] = [JSON.stringify(a[key] ?? null), JSON.stringify(r.config[key] ?? null)];
        if (x !== y) throw new Error(`${file}: its ${key} is ${y}, ${configs.first.file}'s is ${x}: runs of different benchmarks cannot be pooled`);
      }
    }
  }
  for (const [seedText, run] of Object.entries(r.per_seed)) {
    const seed = Number(seedText);
    for (const [strategy, rounds] of Object.entries(run.rounds)) {
      const pts = rounds
        .map((x) => ({ labelled: x.labelled, v: metric === 'given' ? x.miou_given_tags : x.miou }))
        .filter((x): x is { labelled: number; v: number } => typeof x.v === 'number');
      if (!pts.length) continue;
      if (pool.get(seed)?.has(strategy)) throw new Error(`${file}: seed ${seed} ${strategy} is already in the pool (from another file)`);
      if (!pool.has(seed)) pool.set(seed, new Map());
      pool.get(seed)!.set(strategy, new Map(pts.map((x) => [x.labelled, x.v])));
    }
  }
  return pool;
}

/** Settings that may differ between pooled runs: where and how they ran, which strategies, file paths. */
const IGNORED_CONFIG = new Set(['strategies', 'load_at_start', 'jobs', 'machine', 'pool', 'backbone', 'lrp_depth']);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stderr = (xs: number[]) => (xs.length < 2 ? NaN : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1) / xs.length));

function main(): void {
  const args = process.argv.slice(2);
  const si = args.indexOf('--strategies');
  const only = si >= 0 ? args.splice(si, 2)[1]!.split(',') : null;
  const gi = args.indexOf('--given-tags');
  const givenTags = gi >= 0 && args.splice(gi, 1).length > 0;
  const pi = args.indexOf('--plot');
  const plotFile = pi >= 0 ? args.splice(pi, 2)[1] : undefined;
  if (pi >= 0 && !plotFile) throw new Error('--plot needs a file name');
  const ti = args.indexOf('--title');
  const title = ti >= 0 ? args.splice(ti, 2)[1] : undefined;
  const ri = args.indexOf('--results');
  const resultsFlag = ri >= 0 && args.splice(ri, 1).length > 0;
  const results = givenTags || resultsFlag;
  if (results && !args.length && !givenTags) throw new Error('--results needs the result files to pool');
  let files = args;
  if (!files.length && givenTags) {
    const dev = 'bench/results/experiments/active-2026-11-26-device';
    files = [
      ...fs.readdirSync('bench/results').filter((f) => /^active.*\.txt$/.test(f) && f !== 'active-pooled.txt').map((f) => path.join('bench/results', f)),
      ...fs.readdirSync(dev).filter((f) => f.endsWith('.json')).map((f) => path.join(dev, f)),
    ].sort();
  } else if (!files.length) {
    const ex = 'bench/results/experiments';
    files = [
      ...fs.readdirSync(ex).filter((f) => /^active-2026-11-26-.*\.log$/.test(f)).map((f) => path.join(ex, f)),
      ...fs.readdirSync(path.join(ex, 'active-2026-11-26-device')).filter((f) => f.startsWith('log-')).map((f) => path.join(ex, 'active-2026-11-26-device', f)),
    ].sort();
  }
  const pool: Pool = new Map();
  const configs = {};
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    if (results) parseActiveResult(text, f, pool, givenTags ? 'given' : 'predicted', configs);
    else parseActiveLog(text, f, pool);
  }
  const strategies = [...new Set([...pool.values()].flatMap((m) => [...m.keys()]))].filter((s) => !only || only.includes(s)).sort((a, b) =>
    a === 'random' ? -1 : b === 'random' ? 1 : a.localeCompare(b),
  );
  const counts = [...new Set([...pool.values()].flatMap((m) => [...m.values()].flatMap((p) => [...p.keys()])))].sort((a, b) => a - b);
  console.log(`pooled bench active ${results ? 'results' : 'logs'} (${files.length}): ${files.join(' ')}`);
  console.log(`seeds: ${[...pool.keys()].sort((a, b) => a - b).join(' ')}`);
  console.log(`\nmean test mIoU (${givenTags ? 'true tags given' : 'predicted tags'}) ± standard error [seeds]; Δ: paired mean difference to random`);
  for (const s of strategies) {
    console.log(`\n${s}`);
    for (const n of counts) {
      const vals: number[] = [];
      const diffs: number[] = [];
      for (const [, m] of pool) {
        const v = m.get(s)?.get(n);
        if (v === undefined) continue;
        vals.push(v);
        const r = m.get('random')?.get(n);
        if (r !== undefined && s !== 'random') diffs.push(v - r);
      }
      if (!vals.length) continue;
      const d = diffs.length ? `  Δ ${mean(diffs) >= 0 ? '+' : ''}${mean(diffs).toFixed(3)} ± ${stderr(diffs).toFixed(3)} [${diffs.length}]` : '';
      console.log(`  ${String(n).padStart(3)}  ${mean(vals).toFixed(3)} ± ${stderr(vals).toFixed(3)} [${vals.length}]${d}`);
    }
  }
  // Labels to reach random's final mean, over the seeds where every strategy reaches the last count:
  // for the longest curves first, then for shorter ones whenever they cover more seeds.
  let printed = 1;
  const summary: unknown[] = [];
  for (const last of [...counts].reverse()) {
    const seeds = [...pool].filter(([, m]) => strategies.every((s) => m.get(s)?.has(last))).map(([k]) => k).sort((a, b) => a - b);
    if (seeds.length <= printed) continue;
    printed = seeds.length;
    const curves: Record<string, Curve> = {};
    for (const s of strategies) {
      curves[s] = counts.filter((n) => n <= last).map((n) => [n, mean(seeds.map((k) => pool.get(k)!.get(s)!.get(n)!))] as [number, number]);
    }
    const target = curves.random?.at(-1)?.[1];
    if (target === undefined) break; // no random: nothing to compare with
    console.log(`\nover the ${seeds.length} seeds with every strategy measured up to ${last} labelled images (${seeds.join(' ')}):`);
    console.log(`labelled images to reach random's final mean mIoU ${target.toFixed(3)} (random: ${last}):`);
    const out: Record<string, number | null> = {};
    for (const s of strategies) {
      const n = labelsToReach(curves[s]!, target);
      out[s] = n;
      console.log(`  ${s.padEnd(14)} ${n === null ? 'never' : n.toFixed(1)}${n === null ? '' : `  saving ${((1 - n / last) * 100).toFixed(1)} %`}`);
    }
    const own = out.random;
    if (own !== null && own !== undefined && own < last) {
      console.log(`  (random's mean curve is not monotonic: it first reaches its final value at ${own.toFixed(1)} labelled images;`);
      for (const s of strategies.filter((x) => x !== 'random')) {
        const n = out[s];
        if (n !== null && n !== undefined) console.log(`   ${s} needs ${((1 - n / own) * 100).toFixed(1)} % fewer than that)`);
      }
    }
    summary.push({ seeds, up_to: last, curves, reach_random_final: out });
    if (plotFile && summary.length === 1) {
      // the first (longest) pooled curves
      const metricName = givenTags ? 'true tags given' : 'predicted tags';
      const head = title ? `${title.replace(/\\n/g, '\n')}\n` : '';
      fs.writeFileSync(
        plotFile,
        learningCurveSvg(curves, { title: `${head}mean over seeds ${seeds.join(', ')}`, reference: target, yLabel: `test mIoU (${metricName})` }),
      );
      console.log(`plot: ${plotFile}`);
    }
  }
  console.log(JSON.stringify(summary));
}

if (import.meta.url === `file://${process.argv[1]}`) main();
