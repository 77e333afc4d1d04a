/**
 * The paired per-seed difference of two methods' dev-test mIoU taken from `heatseg bench quality`
 * result files of different batches (quality-combine.ts pools files of one batch: same settings,
 * each (method, seed) once). Each argument is METHOD=FILE[#RULE],FILE[#RULE],…: the method's mIoU
 * per seed from those files' result JSON lines — the run's own rule's, or with #RULE the named
 * decode-rule variant's (e.g. #refine:16/0.01 for a batch whose default refinement was another).
 * Every file must hold one seed and the same split, test part, labels and budget. Prints each
 * method's mean ± s.e. and A − B paired over the seeds both have, per seed.
 *
 *   npx tsx bench/paired-seeds.ts 'lrp=F1,F2' 'gradcam=F3#refine:16/0.01,F4'
 */
import fs from 'node:fs';
import { meanSe } from '../src-shared/metrics.js';

interface MethodResult {
  miou: number;
  decode_rules?: Record<string, number>;
}

/** The settings that make two result files comparable (the rest, e.g. the refinement default, may differ). */
const SAME = ['train', 'test', 'labeled', 'labels', 'backbone', 'size', 'batch', 'minutes', 'budget_clock', 'split_seed', 'tta'] as const;
let reference: { file: string; values: Record<string, unknown> } | null = null;

/** Forgets the first file's settings (for tests; one process compares one set of files). */
export function resetReference(): void {
  reference = null;
}

export interface SeedScores {
  label: string;
  bySeed: Map<number, number>;
}

/** One argument METHOD=FILE[#RULE],… read into mIoU per seed (settings checked against the first file read). */
export function perSeed(spec: string): SeedScores {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new Error(`${spec}: expected METHOD=FILE[#RULE],…`);
  const label = spec.slice(0, eq);
  const bySeed = new Map<number, number>();
  for (const item of spec.slice(eq + 1).split(',').filter(Boolean)) {
    const hash = item.indexOf('#');
    const file = hash < 0 ? item : item.slice(0, hash);
    const rule = hash < 0 ? null : item.slice(hash + 1);
    const line = fs.readFileSync(file, 'utf8').split('\n').reverse().find((l) => l.startsWith('{"methods"'));
    if (!line) throw new Error(`${file}: no result JSON line (a run stopped before its end)`);
    const json = JSON.parse(line) as Record<string, unknown> & { methods: Record<string, MethodResult>; seeds: number[] };
    const values = Object.fromEntries(SAME.map((k) => [k, json[k]]));
    if (!reference) reference = { file, values };
    for (const k of SAME) {
      if (JSON.stringify(values[k]) !== JSON.stringify(reference.values[k])) throw new Error(`${file}: ${k} ${JSON.stringify(values[k])} differs from ${reference.file}'s ${JSON.stringify(reference.values[k])}`);
    }
    if (json.seeds.length !== 1) throw new Error(`${file}: holds ${json.seeds.length} seeds; expected one per file`);
    const seed = json.seeds[0]!;
    const m = json.methods[label];
    if (!m) throw new Error(`${file}: no method ${label}`);
    const v = rule === null ? m.miou : m.decode_rules?.[rule];
    if (v === undefined) throw new Error(`${file}: ${label} has no decode rule ${rule}`);
    if (bySeed.has(seed)) throw new Error(`${file}: seed ${seed} of ${label} seen twice`);
    bySeed.set(seed, v);
  }
  return { label, bySeed };
}

const sign = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;

export interface Paired {
  seeds: number[];
  perSeed: number[];
  mean: number;
  se: number;
}

/** A − B over the seeds both have, in seed order. */
export function pairSeeds(a: SeedScores, b: SeedScores): Paired {
  const seeds = [...a.bySeed.keys()].filter((s) => b.bySeed.has(s)).sort((p, q) => p - q);
  const perSeedDiff = seeds.map((s) => a.bySeed.get(s)! - b.bySeed.get(s)!);
  const { mean, se } = meanSe(perSeedDiff);
  return { seeds, perSeed: perSeedDiff, mean, se };
}

function main(args: string[]): void {
  if (args.length !== 2) throw new Error("usage: paired-seeds.ts 'A=FILE[#RULE],…' 'B=FILE[#RULE],…'");
  const [a, b] = args.map(perSeed) as [SeedScores, SeedScores];
  for (const x of [a, b]) {
    const { mean, se } = meanSe([...x.bySeed.values()]);
    console.log(`${x.label}: ${mean.toFixed(3)} ± ${se.toFixed(3)} over seeds ${[...x.bySeed.keys()].sort((p, q) => p - q).join(',')}`);
  }
  const p = pairSeeds(a, b);
  console.log(
    `${a.label} − ${b.label}, paired over ${p.seeds.length} seeds: ${sign(p.mean)} ± ${p.se.toFixed(3)} (${p.seeds.map((s, i) => `seed ${s}: ${sign(p.perSeed[i]!)}`).join(', ')}); ahead on ${p.perSeed.filter((x) => x > 0).length} of ${p.perSeed.length}`,
  );
  console.log(JSON.stringify({ a: a.label, b: b.label, seeds: p.seeds, diff: Number(p.mean.toFixed(4)), se: Number(p.se.toFixed(4)), per_seed: p.perSeed.map((x) => Number(x.toFixed(4))) }));
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main(process.argv.slice(2));
