/**
 * The mask-folder dataset format (see ../shared/README.md):
 *   classes.json {"classes": [...], "ignore_index": 255}, images/ID.ext, masks/ID.png (8-bit single
 *   channel or indexed: value k = classes[k], 255 = no label), labels.json {"ID": ["cow", ...]}.
 */
import fs from 'node:fs';
import path from 'node:path';
import { decode as decodePng, encode as encodePng } from 'fast-png';
import { z } from 'zod';
import { FileError, describeIssues, readJsonFile } from '../json-file.js';

export const IGNORE_INDEX = 255;

const classesFile = z.object({
  classes: z.array(z.string().min(1)).max(254),
  ignore_index: z.number().int().optional(),
});

function parseWith<T>(schema: z.ZodType<T>, file: string): T {
  const r = schema.safeParse(readJsonFile(file));
  if (!r.success) throw new FileError(file, describeIssues(r.error.issues));
  return r.data;
}

/** Error for the i-th entry of a labels file: its keys are image names (data), so it is named by position. */
function entryError(file: string, i: number, n: number, problem: string): FileError {
  return new FileError(file, `entry ${i + 1} of ${n}: ${problem} (expected {"IMAGE_ID": ["class", ...], ...})`);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export function readClassesJson(file: string): { classes: string[]; ignoreIndex: number } {
  const c = parseWith(classesFile, file);
  const ignoreIndex = c.ignore_index ?? IGNORE_INDEX;
  if (ignoreIndex !== IGNORE_INDEX) throw new FileError(file, `ignore_index ${ignoreIndex} is not supported (only 255)`);
  // Class names are matched without regard to case (a project cannot hold "cat" and "Cat"):
  // two such names would merge two classes' pixels, so the file is refused.
  const seen = new Map<string, number>();
  c.classes.forEach((name, k) => {
    const key = name.trim().toLowerCase();
    const j = seen.get(key);
    if (j !== undefined) {
      throw new FileError(
        file,
        `classes[${j}] "${c.classes[j]}" and classes[${k}] "${name}" differ only by case (or spaces); heatseg matches class names ` +
          `without regard to case, so they would become one class: rename one of them`,
      );
    }
    seen.set(key, k);
  });
  return { classes: c.classes, ignoreIndex };
}

export function readLabelsJson(file: string): Record<string, string[]> {
  const json = readJsonFile(file);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new FileError(file, `expected an object {"IMAGE_ID": ["class", ...], ...}, found ${typeName(json)}`);
  }
  const entries = Object.entries(json as Record<string, unknown>);
  const out: Record<string, string[]> = {};
  entries.forEach(([id, tags], i) => {
    if (!Array.isArray(tags)) throw entryError(file, i, entries.length, `expected a list of class names, found ${typeName(tags)}`);
    tags.forEach((t, k) => {
      if (typeof t !== 'string') throw entryError(file, i, entries.length, `item ${k + 1} is ${typeName(t)}, expected a class name`);
    });
    out[id] = tags as string[];
  });
  return out;
}

/** Why PNG bytes do not decode, in words (a truncated file makes the decoder read past the end). */
function pngProblem(bytes: Uint8Array, e: unknown): string {
  const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length === 0) return 'empty file (0 bytes)';
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) return 'not a PNG file';
  const msg = (e as Error).message ?? '';
  if (e instanceof RangeError || /outside the bounds|end of (file|data|stream)|unexpected end/i.test(msg)) {
    return `truncated PNG (${bytes.length} bytes: the file ends before its image data does)`;
  }
  return 'corrupt PNG (it cannot be decoded)';
}

/** Reads a mask PNG as one byte per pixel (grey values or palette indices); errors are FileErrors naming it. */
export function readMaskPng(file: string): { width: number; height: number; data: Uint8Array } {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new FileError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let png: ReturnType<typeof decodePng>;
  try {
    png = decodePng(bytes);
  } catch (e) {
    throw new FileError(file, pngProblem(bytes, e));
  }
  if (png.depth !== 8 || png.channels !== 1) {
    const kind = png.palette ? `indexed ${png.depth}-bit` : `${png.channels}-channel ${png.depth}-bit`;
    throw new FileError(file, `mask must be an 8-bit single-channel or indexed PNG, found ${kind}`);
  }
  if (png.data.length !== png.width * png.height) throw new FileError(file, pngProblem(bytes, new RangeError('short')));
  return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
}

/** Writes an indexed 8-bit PNG: value k shows in colour palette[k]; 255 (no label) is black. */
export function writeMaskPng(file: string, width: number, height: number, data: Uint8Array, colors: Array<[number, number, number]>): void {
  const palette = Array.from({ length: 256 }, (_, k) => (k < colors.length ? colors[k]! : [0, 0, 0]));
  fs.writeFileSync(file, encodePng({ width, height, data, channels: 1, depth: 8, palette }));
}

export function stemOf(fileName: string): string {
  return path.basename(fileName, path.extname(fileName));
}
