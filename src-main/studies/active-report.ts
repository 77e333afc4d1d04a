/**
 * The report of `heatseg bench active` from its seeds' runs: mean curves (predicted tags, and true
 * tags given), the labels each strategy needs to reach random's final mIoU, the tables printed, the
 * SVG plots written, and the result the CLI prints as its JSON line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ActiveOptions, ActiveResult, SeedRun } from './active.js';
import { type Curve, labelsToReach, learningCurveSvg, meanCurve } from './learning-curves.js';

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Prints the tables, writes the plots (`o.plot`), and returns the result. `t0`: when the study started (ms). */
export function summarise(o: ActiveOptions, perSeed: Record<string, SeedRun>, config: Record<string, unknown>, t0: number): ActiveResult {
  const print = o.print ?? ((s: string) => process.stdout.write(s));

  const curves: Record<string, Curve> = {};
  for (const s of o.strategies) curves[s] = meanCurve(o.seeds.map((seed) => perSeed[String(seed)]!.curves[s]!));
  const curvesGiven: Record<string, Curve> = {};
  for (const s of o.strategies) {
    curvesGiven[s] = meanCurve(
      o.seeds.map((seed) => perSeed[String(seed)]!.rounds[s]!.map((r): [number, number] => [r.labelled, r.miou_given_tags ?? NaN])),
    );
  }
  const reachOf = (cs: Record<string, Curve>) => {
    const final = cs.random ? cs.random.at(-1)![1] : null;
    const count = cs.random ? cs.random.at(-1)![0] : null;
    const reach: ActiveResult['reach_random_final'] = {};
    for (const s of o.strategies) {
      const n = final === null ? null : labelsToReach(cs[s]!, final);
      reach[s] = {
        labelled: n,
        saving_pct: n === null || count === null ? null : (1 - n / count) * 100,
        // already at round 0: the true count is ≤ start, so the saving is a lower bound
        at_start: n !== null && final !== null && cs[s]![0]![1] >= final,
      };
    }
    return { final, count, reach };
  };
  const { final: randomFinal, count: randomCount, reach } = reachOf(curves);
  const given = reachOf(curvesGiven);

  // table
  const fmt = (x: number | null, d = 3) => (x === null || Number.isNaN(x) ? '–' : x.toFixed(d));
  const table = (title: string, cs: Record<string, Curve>) => {
    const names = Object.keys(cs);
    const w = names.map((n) => Math.max(6, n.length));
    let t = `\n${title}\nlabelled  ${names.map((n, i) => n.padStart(w[i]!)).join('  ')}\n`;
    cs[names[0]!]!.forEach(([n], r) => {
      t += `${String(n).padStart(8)}  ${names.map((s, i) => fmt(cs[s]![r]![1]).padStart(w[i]!)).join('  ')}\n`;
    });
    return t;
  };
  const seedsText = o.seeds.length > 1 ? `mean over seeds ${o.seeds.join(', ')}` : `seed ${o.seeds[0]}`;
  print(table(`test mIoU (predicted tags) by images with pixel labels — ${seedsText}`, curves));
  if (o.seeds.length > 1) for (const seed of o.seeds) print(table(`seed ${seed}`, perSeed[String(seed)]!.curves));
  const printReach = (what: string, r: ReturnType<typeof reachOf>) => {
    if (r.final === null) return print(`\n(no "random" strategy: labels to reach random's final ${what} not computed)\n`);
    print(`\nlabelled images to reach random's final ${what} ${r.final.toFixed(3)} (random: ${r.count}):\n`);
    const w = Math.max(8, ...o.strategies.map((s) => s.length));
    for (const s of o.strategies) {
      const x = r.reach[s]!;
      const n = x.labelled === null ? 'never' : `${x.at_start ? '≤ ' : ''}${x.labelled.toFixed(1)}`;
      const saving = x.saving_pct === null ? '–' : `${x.at_start ? '≥ ' : ''}${x.saving_pct.toFixed(1)} %`;
      print(`  ${s.padEnd(w)}  ${n.padStart(8)}  saving ${saving}\n`);
    }
    const rr = r.reach.random!;
    if (rr.labelled !== null && rr.labelled < r.count!) {
      print(`  (random's own curve is not monotonic: it first reaches its final value at ${rr.labelled.toFixed(1)} labelled images)\n`);
    }
  };
  printReach('mIoU', { final: randomFinal, count: randomCount, reach });
  print(table(`test mIoU with the true tags given — ${seedsText}`, curvesGiven));
  printReach('mIoU with the true tags given', given);
  let plot: string | null = null;
  if (o.plot) {
    fs.mkdirSync(path.dirname(path.resolve(o.plot)), { recursive: true });
    const perRound = o.minutesPerRound !== undefined ? `${o.minutesPerRound} min` : `${o.epochsPerRound ?? 2} ep`;
    const design = `${o.tagEpochs ? `tag stage ${o.tagEpochs} ep, ` : ''}${perRound}/round ${o.cold ? 'restarted' : 'continued'}`;
    const title = `Active learning: ${path.basename(path.resolve(o.pool))}, ${o.method}, ${o.backbone === 'small' ? 'small' : path.basename(o.backbone)} ${o.size} px, ${o.labels},\n${design}, ${seedsText}`;
    fs.writeFileSync(o.plot, learningCurveSvg(curves, { title, reference: randomFinal }));
    plot = path.resolve(o.plot);
    const givenPlot = plot.replace(/(\.svg)?$/i, '-given-tags.svg');
    fs.writeFileSync(givenPlot, learningCurveSvg(curvesGiven, { title, reference: given.final, yLabel: 'test mIoU (true tags given)' }));
    print(`plot: ${plot}, ${givenPlot}\n`);
  }
  log(
    `total ${((Date.now() - t0) / 60000).toFixed(1)} min, load now ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  return {
    curves,
    curves_given_tags: curvesGiven,
    reach_random_final_given_tags: given.reach,
    seeds: o.seeds,
    per_seed: perSeed,
    random_final_miou: randomFinal,
    reach_random_final: reach,
    plot,
    config,
  };
}
