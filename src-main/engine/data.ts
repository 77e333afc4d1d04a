/**
 * Training and evaluation data for the engine, without tfjs: images decoded to RGB at a working
 * resolution, tags as class indices, pixel labels as class indices (255 = unlabelled), and seeded
 * augmentation (random scale + crop, horizontal flip, colour jitter) producing fixed-size crops.
 *
 * Resolution: an image is stored with its shorter side = `base` px (aspect kept), but never more
 * than MAX_WORKING_AREA × base² pixels: a very long strip (1 × 60000) is scaled by its area
 * instead, or it would hold hundreds of MB at working resolution (workingSize); a training crop
 * is a random window of (S / scale) px, scale in [1, maxScale], resized to S×S (bilinear for the
 * image, nearest for labels).
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { rng } from '../../src-shared/random.js';
import { readClassesJson, readLabelsJson, readMaskPng, stemOf } from '../dataset/maskfolder.js';
import { IMAGE_EXTENSIONS } from '../images/decode.js';
import type { ProjectStore } from '../store/project.js';

export const IGNORE = 255;

export interface Sample {
  id: string;
  /** Oriented RGB at working resolution. */
  rgb: Uint8Array;
  width: number;
  height: number;
  /** Class indices 0..C-1 present in the image (image-level tags). */
  tags: number[];
  /** Class index per pixel at working resolution, IGNORE = unlabelled; null: tags only. */
  labels: Uint8Array | null;
  /** Original size (evaluation resizes predictions back to it). */
  origWidth: number;
  origHeight: number;
  /** Full-resolution truth for evaluation (class indices, IGNORE); only for evaluation sets. */
  truth?: Uint8Array;
}

export interface Dataset {
  classes: string[];
  /** From a project: its class ids, in the same order as `classes` (a model records them). */
  classIds?: number[];
  samples: Sample[];
  /** A mask folder's: where its image tags came from ('masks': no labels.json, so the classes each mask shows). */
  tagsFrom?: 'labels.json' | 'masks';
}

/**
 * Working-resolution area limit, in units of base²: a panorama up to 4 : 1 keeps its full short
 * side; a longer strip is scaled by area (the network's activations grow with the pixels fed).
 */
export const MAX_WORKING_AREA = 4;

/** Working size of a w × h image: shorter side = base, unless that exceeds MAX_WORKING_AREA · base² pixels. */
export function workingSize(w: number, h: number, base: number): { width: number; height: number } {
  let s = base / Math.min(w, h);
  const maxArea = MAX_WORKING_AREA * base * base;
  if (w * s * h * s > maxArea) s = Math.sqrt(maxArea / (w * h));
  let width = Math.max(1, Math.round(w * s)),
    height = Math.max(1, Math.round(h * s));
  // a side cannot go below 1 px (a 1 × 60000 strip): then the long side takes what the area leaves
  if (width * height > maxArea) {
    if (width <= height) height = Math.max(1, Math.floor(maxArea / width));
    else width = Math.max(1, Math.floor(maxArea / height));
  }
  return { width, height };
}

export async function decodeToWorking(bytes: Uint8Array, base: number): Promise<{ rgb: Uint8Array; width: number; height: number; origWidth: number; origHeight: number }> {
  // The oriented size from the header: decoding the whole image just to learn it costs a full-size buffer.
  const meta = await sharp(bytes).metadata();
  const ow = meta.autoOrient.width, oh = meta.autoOrient.height;
  const size = workingSize(ow, oh, base);
  const { data, info } = await sharp(bytes)
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, origWidth: ow, origHeight: oh };
}

/** Nearest-neighbour resize of a label raster (pixel centres). */
export function resizeLabels(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  const out = new Uint8Array(dw * dh);
  for (let y = 0; y < dh; y++) {
    const sy = Math.min(sh - 1, Math.floor(((y + 0.5) * sh) / dh));
    for (let x = 0; x < dw; x++) {
      const sx = Math.min(sw - 1, Math.floor(((x + 0.5) * sw) / dw));
      out[y * dw + x] = src[sy * sw + sx]!;
    }
  }
  return out;
}

/** Samples from a project: every active image with tags or labels. Class index = class position. */
export async function datasetFromProject(
  store: ProjectStore,
  base: number,
  onProgress?: (done: number, total: number) => void,
  /** Evaluation: only images with pixel labels, each with its labels at full resolution as `truth`. */
  opts: { truthFromLabels?: boolean } = {},
): Promise<Dataset> {
  const classes = store.classes();
  const lut = new Uint8Array(256).fill(IGNORE);
  classes.forEach((c, k) => (lut[c.labelValue] = k));
  const indexOf = new Map(classes.map((c, k) => [c.id, k]));
  const ids = store.allImageIds();
  const samples: Sample[] = [];
  for (let i = 0; i < ids.length; i++) {
    onProgress?.(i, ids.length);
    const row = store.imageRow(ids[i]!);
    if (row.status !== 'active') continue;
    const summary = store.imageSummary(row.id);
    const lr = store.labels(row.id);
    if (summary.tags.length === 0 && !lr?.raster.some((v) => v !== 0)) continue;
    if (opts.truthFromLabels && !(lr && summary.labelledPixels > 0)) continue;
    const img = await decodeToWorking(fs.readFileSync(store.imagePath(row.file_name)), base);
    let labels: Uint8Array | null = null;
    let truth: Uint8Array | undefined;
    if (lr && summary.labelledPixels > 0) {
      const idx = new Uint8Array(lr.raster.length);
      for (let p = 0; p < idx.length; p++) idx[p] = lut[lr.raster[p]!]!;
      labels = resizeLabels(idx, lr.width, lr.height, img.width, img.height);
      if (opts.truthFromLabels) truth = lr.width === img.origWidth && lr.height === img.origHeight ? idx : resizeLabels(idx, lr.width, lr.height, img.origWidth, img.origHeight);
    }
    samples.push({ id: String(row.id), ...img, tags: summary.tags.map((t) => indexOf.get(t)!).sort((a, b) => a - b), labels, ...(truth ? { truth } : {}) });
  }
  onProgress?.(ids.length, ids.length);
  return { classes: classes.map((c) => c.name), classIds: classes.map((c) => c.id), samples };
}

/**
 * A mask folder as samples. `withTruth` keeps full-resolution masks for evaluation. Tags come from
 * labels.json; without one, an image's tags are the classes its mask shows (what labels.json holds
 * for MSRC-21: the two agree on all 441 images), so a test folder of images and masks alone still
 * gets true-tag scores and tag mAP.
 */
export async function datasetFromMaskFolder(
  dir: string,
  base: number,
  opts: { withTruth?: boolean; withLabels?: boolean; ids?: string[]; onProgress?: (d: number, t: number) => void } = {},
): Promise<Dataset> {
  const { classes } = readClassesJson(path.join(dir, 'classes.json'));
  const labelsPath = path.join(dir, 'labels.json');
  const tags = fs.existsSync(labelsPath) ? readLabelsJson(labelsPath) : null;
  const index = new Map(classes.map((c, k) => [c, k]));
  let files = fs
    .readdirSync(path.join(dir, 'images'))
    .filter((f) => IMAGE_EXTENSIONS.includes(path.extname(f).toLowerCase()))
    .sort();
  if (opts.ids) {
    const want = new Set(opts.ids);
    files = files.filter((f) => want.has(stemOf(f)));
  }
  const samples: Sample[] = [];
  for (let i = 0; i < files.length; i++) {
    opts.onProgress?.(i, files.length);
    const f = files[i]!;
    const id = stemOf(f);
    const img = await decodeToWorking(fs.readFileSync(path.join(dir, 'images', f)), base);
    const maskFile = path.join(dir, 'masks', `${id}.png`);
    let truth: Uint8Array | undefined;
    if ((opts.withTruth || opts.withLabels || !tags) && fs.existsSync(maskFile)) {
      const m = readMaskPng(maskFile);
      if (m.width !== img.origWidth || m.height !== img.origHeight) throw new Error(`${maskFile}: mask ${m.width}×${m.height} but image ${img.origWidth}×${img.origHeight}`);
      truth = m.data;
    }
    const tagIdx = tags
      ? (tags[id] ?? []).map((n) => {
          const k = index.get(n);
          if (k === undefined) throw new Error(`${labelsPath}: image ${id} is tagged "${n}", which classes.json does not list`);
          return k;
        })
      : truth
        ? maskClasses(truth, classes.length, maskFile)
        : [];
    samples.push({
      id,
      ...img,
      tags: [...new Set(tagIdx)].sort((a, b) => a - b),
      labels: opts.withLabels && truth ? resizeLabels(truth, img.origWidth, img.origHeight, img.width, img.height) : null,
      ...(opts.withTruth && truth ? { truth } : {}),
    });
  }
  return { classes, samples, tagsFrom: tags ? 'labels.json' : 'masks' };
}

/** The classes a mask shows (values 0..classes-1; 255 = no label); any other value is an error naming the file. */
export function maskClasses(mask: Uint8Array, classes: number, file: string): number[] {
  const seen = new Uint8Array(256);
  for (let i = 0; i < mask.length; i++) seen[mask[i]!] = 1;
  const out: number[] = [];
  for (let v = 0; v < 256; v++) {
    if (!seen[v] || v === IGNORE) continue;
    if (v >= classes) throw new Error(`${file}: mask value ${v} is not a class (classes.json lists ${classes}; 255 = no label)`);
    out.push(v);
  }
  return out;
}

export interface AugmentOptions {
  size: number;
  maxScale: number;
  flip: boolean;
  /** Max relative change of brightness, contrast and saturation. */
  jitter: number;
}

export interface Crop {
  /** Float32 NHWC slice for one image, values in [0, 1]. */
  x: Float32Array;
  /** Class index per pixel (IGNORE = unlabelled), or null. */
  labels: Uint8Array | null;
}

/** One augmented S×S crop; `rand` makes it reproducible. With augmentation off: centre crop. */
export function augmentedCrop(s: Sample, opts: AugmentOptions, rand: (() => number) | null): Crop {
  const S = opts.size;
  const scale = rand ? 1 + rand() * (opts.maxScale - 1) : 1;
  const winW = Math.min(s.width, s.height) / scale;
  const winH = winW;
  const x0 = rand ? rand() * (s.width - winW) : (s.width - winW) / 2;
  const y0 = rand ? rand() * (s.height - winH) : (s.height - winH) / 2;
  const flip = !!rand && opts.flip && rand() < 0.5;
  const bright = rand ? 1 + (rand() * 2 - 1) * opts.jitter : 1;
  const contrast = rand ? 1 + (rand() * 2 - 1) * opts.jitter : 1;
  const sat = rand ? 1 + (rand() * 2 - 1) * opts.jitter : 1;
  const x = new Float32Array(S * S * 3);
  const labels = s.labels ? new Uint8Array(S * S) : null;
  const W = s.width, H = s.height, src = s.rgb, lab = s.labels;
  // per output column (the same for every row): source columns, weight and label column
  // (hoisted out of the pixel loop; the arithmetic is the per-pixel formula's, value for value)
  const colA = new Int32Array(S), colB = new Int32Array(S), colW = new Float64Array(S), colL = new Int32Array(S);
  for (let i = 0; i < S; i++) {
    const ii = flip ? S - 1 - i : i;
    const fx = x0 + ((ii + 0.5) * winW) / S - 0.5;
    const xA = Math.max(0, Math.min(W - 1, Math.floor(fx)));
    colA[i] = xA * 3;
    colB[i] = Math.min(W - 1, xA + 1) * 3;
    colW[i] = Math.max(0, Math.min(1, fx - xA));
    colL[i] = Math.max(0, Math.min(W - 1, Math.floor(x0 + ((ii + 0.5) * winW) / S)));
  }
  for (let j = 0; j < S; j++) {
    const fy = y0 + ((j + 0.5) * winH) / S - 0.5;
    const yA = Math.max(0, Math.min(H - 1, Math.floor(fy)));
    const yB = Math.min(H - 1, yA + 1);
    const wy = Math.max(0, Math.min(1, fy - yA));
    const rowA = yA * W * 3, rowB = yB * W * 3;
    const rowL = Math.max(0, Math.min(H - 1, Math.floor(y0 + ((j + 0.5) * winH) / S))) * W;
    for (let i = 0; i < S; i++) {
      const wx = colW[i]!;
      const aA = rowA + colA[i]!, aB = rowA + colB[i]!, bA = rowB + colA[i]!, bB = rowB + colB[i]!;
      const r = (src[aA]! * (1 - wx) + src[aB]! * wx) * (1 - wy) + (src[bA]! * (1 - wx) + src[bB]! * wx) * wy;
      const g = (src[aA + 1]! * (1 - wx) + src[aB + 1]! * wx) * (1 - wy) + (src[bA + 1]! * (1 - wx) + src[bB + 1]! * wx) * wy;
      const b = (src[aA + 2]! * (1 - wx) + src[aB + 2]! * wx) * (1 - wy) + (src[bA + 2]! * (1 - wx) + src[bB + 2]! * wx) * wy;
      // Colour jitter around the pixel's grey value (saturation) and mid-grey (contrast).
      const grey = 0.299 * r + 0.587 * g + 0.114 * b;
      const o = (j * S + i) * 3;
      x[o] = Math.max(0, Math.min(255, ((grey + (r - grey) * sat - 128) * contrast + 128) * bright)) / 255;
      x[o + 1] = Math.max(0, Math.min(255, ((grey + (g - grey) * sat - 128) * contrast + 128) * bright)) / 255;
      x[o + 2] = Math.max(0, Math.min(255, ((grey + (b - grey) * sat - 128) * contrast + 128) * bright)) / 255;
      if (labels) labels[j * S + i] = lab![rowL + colL[i]!]!;
    }
  }
  return { x, labels };
}

/** Reproducible split of ids into two parts (fraction `f` to the first). */
export function splitIds(ids: string[], f: number, seed: number): [string[], string[]] {
  const r = rng(seed);
  const shuffled = [...ids].sort().map((id) => ({ id, k: r() })).sort((a, b) => a.k - b.k).map((e) => e.id);
  const n = Math.round(ids.length * f);
  return [shuffled.slice(0, n), shuffled.slice(n)];
}
