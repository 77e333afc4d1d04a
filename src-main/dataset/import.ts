/**
 * Import of a folder of images, plain or in the mask-folder format. Every image is committed in its
 * own transaction after its file is in place, so a crash or kill leaves only whole images; files that
 * fail to decode are reported by name and skipped; re-importing an image (same sha256) is a no-op.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ImportReport } from '../../src-shared/api.js';
import { ApiError } from '../../src-shared/api.js';
import { UNLABELLED } from '../../src-shared/labels.js';
import { IMAGE_EXTENSIONS, ImageDecodeError, probeImage } from '../images/decode.js';
import type { ProjectStore } from '../store/project.js';
import { IGNORE_INDEX, readClassesJson, readLabelsJson, readMaskPng, stemOf } from './maskfolder.js';

export interface ImportOptions {
  /** true: auto-detect `masks/` in a mask folder; a string: that masks folder; false: ignore masks. */
  masks?: boolean | string;
  /** true: auto-detect `labels.json`; a string: that file; false: ignore image-level labels. */
  labels?: boolean | string;
  onProgress?: (done: number, total: number, file: string) => void;
  signal?: AbortSignal;
}

function listImages(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) out.push(p);
    }
  };
  walk(dir);
  return out;
}

function writeFileAtomic(file: string, bytes: Uint8Array): void {
  if (fs.existsSync(file)) return;
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export async function importFolder(store: ProjectStore, source: string, opts: ImportOptions = {}): Promise<ImportReport> {
  const src = path.resolve(source);
  if (!fs.existsSync(src)) throw new ApiError('not_found', `${src}: no such folder`);
  if (!fs.statSync(src).isDirectory()) throw new ApiError('invalid_input', `${src}: not a folder`);
  const isMaskFolder = fs.existsSync(path.join(src, 'images')) && fs.statSync(path.join(src, 'images')).isDirectory();
  const imageRoot = isMaskFolder ? path.join(src, 'images') : src;

  const resolveOpt = (opt: boolean | string | undefined, auto: string): string | null => {
    if (opt === false) return null;
    if (typeof opt === 'string') {
      const p = path.resolve(opt);
      if (!fs.existsSync(p)) throw new ApiError('not_found', `${p}: no such file or folder`);
      return p;
    }
    const p = path.join(src, auto);
    return fs.existsSync(p) ? p : null;
  };
  const masksDir = resolveOpt(opts.masks, 'masks');
  const labelsPath = resolveOpt(opts.labels, 'labels.json');
  const classesPath = path.join(src, 'classes.json');

  const report: ImportReport = { imported: 0, duplicates: 0, skipped: [], classesCreated: [], labelledImages: 0 };
  const classFor = (name: string) => {
    const existing = store.classByName(name);
    if (existing) return existing;
    report.classesCreated.push(name);
    return store.addClass(name);
  };

  // Mask value k -> label value of classes[k]; 255 -> unlabelled.
  let maskLut: Int16Array | null = null;
  let maskClassNames: string[] = [];
  if (fs.existsSync(classesPath)) {
    let parsed: { classes: string[] };
    try {
      parsed = readClassesJson(classesPath);
    } catch (e) {
      throw new ApiError('invalid_input', (e as Error).message);
    }
    maskClassNames = parsed.classes;
    maskLut = new Int16Array(256).fill(-1);
    maskLut[IGNORE_INDEX] = UNLABELLED;
    parsed.classes.forEach((name, k) => (maskLut![k] = classFor(name).labelValue));
  } else if (masksDir) {
    throw new ApiError('invalid_input', `${masksDir}: masks need ${classesPath} to say which class each mask value is`);
  }
  let labels: Record<string, string[]> = {};
  if (labelsPath) {
    try {
      labels = readLabelsJson(labelsPath);
    } catch (e) {
      throw new ApiError('invalid_input', (e as Error).message);
    }
  }

  const files = listImages(imageRoot);
  const byValue = () => new Map(store.classes().map((c) => [c.labelValue, c.id]));
  for (let i = 0; i < files.length; i++) {
    if (opts.signal?.aborted) throw new ApiError('conflict', `import cancelled after ${report.imported} images`);
    const file = files[i]!;
    const rel = path.relative(src, file);
    opts.onProgress?.(i, files.length, rel);
    try {
      const bytes = fs.readFileSync(file);
      const hash = crypto.createHash('sha256').update(bytes).digest('hex');
      const originalName = path.relative(imageRoot, file).split(path.sep).join('/');
      if (store.findImage(hash, originalName) !== undefined) {
        report.duplicates++;
        continue;
      }
      const probed = await probeImage(bytes);
      const stem = stemOf(file);
      let raster: Uint8Array | null = null;
      const maskFile = masksDir ? path.join(masksDir, `${stem}.png`) : null;
      if (maskFile && fs.existsSync(maskFile) && maskLut) {
        let mask: ReturnType<typeof readMaskPng>;
        try {
          mask = readMaskPng(maskFile);
        } catch (e) {
          throw new Error(`mask ${path.relative(src, maskFile)}: ${(e as Error).message}`, { cause: e });
        }
        if (mask.width !== probed.width || mask.height !== probed.height) {
          throw new Error(
            `mask ${path.relative(src, maskFile)} is ${mask.width}×${mask.height} but the image is ${probed.width}×${probed.height}`,
          );
        }
        raster = new Uint8Array(mask.data.length);
        for (let p = 0; p < raster.length; p++) {
          const v = maskLut[mask.data[p]!]!;
          if (v < 0) {
            throw new Error(
              `mask ${path.relative(src, maskFile)} has value ${mask.data[p]} at pixel ${p % mask.width},${Math.floor(p / mask.width)}, ` +
                `but classes.json lists ${maskClassNames.length} classes (values 0..${maskClassNames.length - 1}, 255 = no label)`,
            );
          }
          raster[p] = v;
        }
      }
      const tagIds = new Set<number>();
      for (const name of labels[stem] ?? []) tagIds.add(classFor(name).id);
      if (raster) {
        // A class with labelled pixels is certainly present in the image.
        const seen = new Set<number>();
        for (let p = 0; p < raster.length; p++) seen.add(raster[p]!);
        const ids = byValue();
        for (const v of seen) if (v !== UNLABELLED) tagIds.add(ids.get(v)!);
      }
      const ext = path.extname(file).toLowerCase().replace('.jpeg', '.jpg');
      const fileName = `${hash}${ext}`;
      writeFileAtomic(store.imagePath(fileName), bytes);
      store.addImage(
        { hash, fileName, originalName, width: probed.width, height: probed.height, thumbnail: probed.thumbnail },
        [...tagIds],
        raster,
      );
      report.imported++;
      if (raster) report.labelledImages++;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      const reason = e instanceof ImageDecodeError ? e.message : (e as Error).message;
      report.skipped.push({ file: rel, reason });
    }
  }
  opts.onProgress?.(files.length, files.length, '');
  return report;
}
