/**
 * The simulated annotator of the studies (`heatseg bench quality`, `bench active`): which images it
 * labels first, and the pixel labels it gives an image — its ground-truth mask, or scribbles
 * simulated from that mask (src-shared/scribbles.ts) with a seed fixed per (run seed, image).
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { rng } from '../../src-shared/random.js';
import { simulateScribbles } from '../../src-shared/scribbles.js';
import { readMaskPng } from '../dataset/maskfolder.js';
import type { Sample } from '../engine/data.js';

/** Greedy class-balanced choice: repeatedly take the image showing the least-covered class. */
export function chooseLabelled(samples: Sample[], n: number, classes: number, seed: number): Sample[] {
  const r = rng(seed);
  const pool = samples.map((s) => ({ s, k: r() })).sort((a, b) => a.k - b.k).map((e) => e.s);
  const count = new Array<number>(classes).fill(0);
  const chosen: Sample[] = [];
  while (chosen.length < Math.min(n, pool.length)) {
    let best = -1, bestScore = Infinity;
    pool.forEach((s, i) => {
      if (chosen.includes(s) || s.tags.length === 0) return;
      const score = Math.min(...s.tags.map((c) => count[c]!));
      if (score < bestScore) {
        bestScore = score;
        best = i;
      }
    });
    if (best < 0) break;
    chosen.push(pool[best]!);
    for (const c of pool[best]!.tags) count[c]!++;
  }
  return chosen;
}

/** The scribble seed of image `id` in a run with `seed`: depends on the image, not on the order of picking. */
export function scribbleSeed(seed: number, id: string): number {
  return seed + Number.parseInt(crypto.createHash('md5').update(id).digest('hex').slice(0, 6), 16);
}

/**
 * The pixel labels the annotator gives image `id` of a mask folder, at the mask's resolution:
 * the whole mask (`masks`), or scribbles simulated from it (`scribbles`, seeded by `scribbleSeed`).
 */
export function annotatorLabels(folder: string, id: string, kind: 'scribbles' | 'masks', seed: number): { data: Uint8Array; width: number; height: number } {
  const m = readMaskPng(path.join(folder, 'masks', `${id}.png`));
  const data = kind === 'masks' ? m.data : simulateScribbles(m.data, m.width, m.height, { seed: scribbleSeed(seed, id) }).scribbles;
  return { data, width: m.width, height: m.height };
}
