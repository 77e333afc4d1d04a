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
import { FileError } from '../json-file.js';
import { IMAGE_EXTENSIONS, ImageDecodeError, UNSUPPORTED_IMAGE_EXTENSIONS, probeImage } from '../images/decode.js';
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

/**
 * Image files under `dir`, sorted. A symbolic link to a file is followed (imported under the
 * link's name); a dangling link, a link to a folder (not followed: cycles) and a file of a known
 * but undecodable format (.bmp) are reported in `skipped` instead of passed over in silence.
 */
function listImages(dir: string, root: string, skipped: ImportReport['skipped']): string[] {
  const out: string[] = [];
  const rel = (p: string) => path.relative(root, p).split(path.sep).join('/');
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if (d === dir) throw e; // the source itself: the caller's error
      skipped.push({ file: `${rel(d)}/`, reason: `cannot read this folder (${(e as NodeJS.ErrnoException).code ?? 'error'}); its images were not imported` });
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      let isFile = e.isFile();
      if (e.isDirectory()) {
        walk(p);
        continue;
      }
      if (e.isSymbolicLink()) {
        let st: fs.Stats;
        try {
          st = fs.statSync(p);
        } catch {
          let target = '?';
          try {
            target = fs.readlinkSync(p);
          } catch {
            // unreadable link: keep '?'
          }
          skipped.push({ file: rel(p), reason: `broken symbolic link: its target ${target} does not exist` });
          continue;
        }
        if (st.isDirectory()) {
          skipped.push({ file: rel(p), reason: 'symbolic link to a folder: not followed (import that folder on its own)' });
          continue;
        }
        isFile = st.isFile();
      }
      if (!isFile) continue;
      const ext = path.extname(e.name).toLowerCase();
      if (IMAGE_EXTENSIONS.includes(ext)) out.push(p);
      else if (UNSUPPORTED_IMAGE_EXTENSIONS[ext]) skipped.push({ file: rel(p), reason: UNSUPPORTED_IMAGE_EXTENSIONS[ext]! });
    }
  };
  walk(dir);
  return out;
}

/**
 * Temporary image files an import writes before renaming them into images/: the sha256 name of
 * the final file, the writer's pid, and a fixed suffix, so leftovers of a killed import are
 * recognisable (older builds wrote `<sha>.<ext>.<pid>.tmp`, also matched).
 */
const IMPORT_TMP = /^[0-9a-f]{64}\.[a-z0-9]+\.(\d+)(\.heatseg-import)?\.tmp$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the temporary image files of imports whose process is gone; returns how many. */
export function cleanImportLeftovers(store: ProjectStore): number {
  const dir = store.imagePath('');
  let removed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = IMPORT_TMP.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      fs.rmSync(path.join(dir, name), { force: true });
      removed++;
    } catch {
      // still there: the next import tries again
    }
  }
  return removed;
}

function writeFileAtomic(file: string, bytes: Uint8Array): void {
  if (fs.existsSync(file)) return;
  const tmp = `${file}.${process.pid}.heatseg-import.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Why a mask's size differs from its image's, with the EXIF orientation when that explains it. */
function maskSizeProblem(maskRel: string, mask: { width: number; height: number }, img: { width: number; height: number; orientation: number }): string {
  const base = `mask ${maskRel} is ${mask.width}×${mask.height} but the image is ${img.width}×${img.height}`;
  if (img.orientation >= 5 && mask.width === img.height && mask.height === img.width) {
    return (
      `${base} as displayed: its EXIF orientation (${img.orientation}) turns it by 90°, and masks must match the image as displayed ` +
      `(rotate the mask, or strip the orientation tag from the image)`
    );
  }
  if (img.orientation !== 1) return `${base} (size after applying its EXIF orientation ${img.orientation}; masks must match the image as displayed)`;
  return base;
}

export async function importFolder(store: ProjectStore, source: string, opts: ImportOptions = {}): Promise<ImportReport> {
  const given = path.resolve(source);
  if (!fs.existsSync(given)) throw new ApiError('not_found', `${given}: no such folder or file`);
  const single = fs.statSync(given).isFile();
  if (single && !IMAGE_EXTENSIONS.includes(path.extname(given).toLowerCase())) {
    const unsupported = UNSUPPORTED_IMAGE_EXTENSIONS[path.extname(given).toLowerCase()];
    throw new ApiError('invalid_input', `${given}: ${unsupported ?? `not an image file heatseg imports (${IMAGE_EXTENSIONS.join(', ')}) nor a folder`}`);
  }
  if (!single && !fs.statSync(given).isDirectory()) throw new ApiError('invalid_input', `${given}: not a folder or an image file`);
  // A single image: its folder is the source; masks/labels only when given explicitly.
  const src = single ? path.dirname(given) : given;
  const isMaskFolder = !single && fs.existsSync(path.join(src, 'images')) && fs.statSync(path.join(src, 'images')).isDirectory();
  const imageRoot = isMaskFolder ? path.join(src, 'images') : src;

  const resolveOpt = (opt: boolean | string | undefined, auto: string, kind: 'folder' | 'file'): string | null => {
    if (opt === false) return null;
    if (typeof opt === 'string') {
      const p = path.resolve(opt);
      if (!fs.existsSync(p)) throw new ApiError('not_found', `${p}: no such ${kind}`);
      if (kind === 'folder' && !fs.statSync(p).isDirectory()) throw new ApiError('invalid_input', `${p}: masks must be a folder of PNG masks, not a file`);
      return p;
    }
    if (single) return null;
    const p = path.join(src, auto);
    return fs.existsSync(p) ? p : null;
  };
  const masksDir = resolveOpt(opts.masks, 'masks', 'folder');
  const labelsPath = resolveOpt(opts.labels, 'labels.json', 'file');
  const classesPath = path.join(src, 'classes.json');

  const report: ImportReport = { imported: 0, duplicates: 0, skipped: [], classesCreated: [], labelledImages: 0 };
  const cleaned = cleanImportLeftovers(store);
  if (cleaned) {
    report.notices = [`removed ${cleaned} unfinished image file(s) (images/*.heatseg-import.tmp) left by an import that was interrupted`];
  }
  const classFor = (name: string) => {
    const { cls, created } = store.ensureClass(name);
    if (created) report.classesCreated.push(cls.name);
    return cls;
  };

  // Mask value k -> label value of classes[k]; 255 -> unlabelled.
  let maskLut: Int16Array | null = null;
  let maskClassNames: string[] = [];
  if (!single && fs.existsSync(classesPath)) {
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

  const files = single ? [given] : listImages(imageRoot, src, report.skipped);
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
          const problem = e instanceof FileError ? e.problem : (e as Error).message;
          throw new Error(`mask ${path.relative(src, maskFile)}: ${problem}`, { cause: e });
        }
        if (mask.width !== probed.width || mask.height !== probed.height) throw new Error(maskSizeProblem(path.relative(src, maskFile), mask, probed));
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
      const id = store.addImageIfNew(
        { hash, fileName, originalName, width: probed.width, height: probed.height, thumbnail: probed.thumbnail },
        [...tagIds],
        raster,
      );
      if (id === null) {
        // imported meanwhile by another process (two imports of one source at once)
        report.duplicates++;
        continue;
      }
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
