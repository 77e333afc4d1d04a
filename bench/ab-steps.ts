/**
 * Training step time of two source trees, interleaved (A, B, A, B, …) so that a change in the
 * machine's load hits both alike: for measuring an engine change on a shared, busy machine where
 * two separate `bench speed` runs minutes apart differ by more than the change. Each round trains
 * in a fresh child process of each tree (its own engine, worker threads and backend) on the
 * synthetic batch of bench/speed.ts (32 random 128-px images, 21 classes, 3 tags each, half
 * scribbled; batch 8, LRP; --msrc-tags: 1–7 tags per image as often as in MSRC-21), with the
 * trainer's augmentation unless --no-augment, and reports the
 * median ms/step after the warm-up steps; then per tree the mean ± s.e. over the rounds.
 * A tree is a checkout of this repo (e.g. `git archive REV | tar -x -C DIR`, node_modules linked).
 *
 *   npx tsx bench/ab-steps.ts --trees DIR_A,DIR_B [--backbone darknet-tiny|small] [--threads 2]
 *     [--steps 14] [--warmup 3] [--rounds 3] [--no-augment] [--msrc-tags]
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// a module without imports: safe beside the other tree's engine in the children
import { msrcTagCount } from '../src-main/studies/msrc-tags.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** One tree, in this process: the median ms/step of a short run. */
async function child(tree: string): Promise<void> {
  const { initBackend } = await import(path.join(tree, 'src-main/engine/backend.ts'));
  const { createSegmenter } = await import(path.join(tree, 'src-main/engine/models/index.ts'));
  const { DEFAULT_TRAIN, train } = await import(path.join(tree, 'src-main/engine/trainer.ts'));
  const { resolveBackbone } = await import(path.join(tree, 'src-main/backbones.ts'));
  const { rng } = await import(path.join(tree, 'src-shared/random.ts'));
  const size = 128, classes = 21;
  const steps = Number(arg('steps', '14'));
  const warmup = Number(arg('warmup', '3'));
  const backbone = resolveBackbone(arg('backbone', 'darknet-tiny'), tree) as { dir: string | null };
  await initBackend('wasm');
  // the synthetic data of bench/speed.ts
  const r = rng(3) as () => number;
  const samples = Array.from({ length: 32 }, (_, i) => {
    const rgb = Uint8Array.from({ length: size * size * 3 }, () => Math.floor(r() * 256));
    const first = Math.floor(r() * classes);
    const count = process.argv.includes('--msrc-tags') ? msrcTagCount(r()) : 3;
    const tags = Array.from({ length: count }, (_, k) => (first + k) % classes).sort((a, b) => a - b);
    const labels = i % 2 === 0 ? Uint8Array.from({ length: size * size }, (_, p) => (p % 7 === 0 ? tags[p % tags.length]! : 255)) : null;
    return { id: String(i), rgb, width: size, height: size, tags, labels, origWidth: size, origHeight: size };
  });
  const data = { classes: Array.from({ length: classes }, (_, c) => `c${c}`), samples };
  const model = await createSegmenter({ method: 'lrp', classes, inputSize: size, encoder: backbone.dir ? { kind: 'pretrained', path: backbone.dir } : { kind: 'small' } });
  const { epochs: _e, ...untimed } = DEFAULT_TRAIN;
  const times: number[] = [];
  let last = performance.now();
  await train(
    model,
    data,
    { ...untimed, size, batch: 8, warmupSteps: 0, threads: Number(arg('threads', '2')), ...(process.argv.includes('--no-augment') ? { augment: { maxScale: 1, flip: false, jitter: 0 } } : {}) },
    {
      onEvent: (e: { type: string; step?: number }) => {
        if (e.type !== 'step') return;
        const now = performance.now();
        if (e.step! > warmup) times.push(now - last);
        last = now;
      },
      shouldStop: () => times.length >= steps - warmup,
    },
  );
  model.dispose();
  const sorted = [...times].sort((a, b) => a - b);
  console.log(JSON.stringify({ median: sorted[sorted.length >> 1]! }));
}

async function main(): Promise<void> {
  const childTree = arg('child', '');
  if (childTree) return child(childTree);
  const trees = arg('trees', '').split(',').filter(Boolean).map((t) => path.resolve(t));
  if (trees.length !== 2) throw new Error('--trees DIR_A,DIR_B');
  const rounds = Number(arg('rounds', '3'));
  const self = fileURLToPath(import.meta.url);
  const pass = process.argv.slice(2).filter((a, i, all) => a !== '--trees' && all[i - 1] !== '--trees');
  console.log(`heatseg bench ab-steps: 2 trees interleaved, ${rounds} rounds; ${pass.join(' ') || 'defaults'}`);
  console.log(`machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, load at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const medians: number[][] = trees.map(() => []);
  for (let round = 1; round <= rounds; round++) {
    for (const [k, tree] of trees.entries()) {
      const out = execFileSync(process.execPath, [...process.execArgv, self, '--child', tree, ...pass], { cwd: tree, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      const m = (JSON.parse(out.trim().split('\n').at(-1)!) as { median: number }).median;
      medians[k]!.push(m);
      console.log(`round ${round} ${'AB'[k]} ${tree}: median ${m.toFixed(0)} ms/step (load ${os.loadavg()[0]!.toFixed(1)})`);
    }
  }
  const stats = medians.map((xs) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const se = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) / xs.length) : NaN;
    return { mean, se };
  });
  const ratios = medians[1]!.map((b, i) => b / medians[0]![i]!);
  stats.forEach((s, k) => console.log(`${'AB'[k]} ${trees[k]}: ${s.mean.toFixed(0)} ± ${s.se.toFixed(0)} ms/step`));
  console.log(`B / A per round: ${ratios.map((x) => x.toFixed(3)).join(' ')}; load at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(JSON.stringify({ trees, medians, ratios }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
