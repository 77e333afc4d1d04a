/**
 * The mask-folder dataset format (see ../shared/README.md):
 *   classes.json {"classes": [...], "ignore_index": 255}, images/ID.ext, masks/ID.png (8-bit single
 *   channel or indexed: value k = classes[k], 255 = no label), labels.json {"ID": ["cow", ...]}.
 */
import fs from 'node:fs';
import path from 'node:path';
import { decode as decodePng, encode as encodePng } from 'fast-png';
import { z } from 'zod';

export const IGNORE_INDEX = 255;

const classesFile = z.object({
  classes: z.array(z.string().min(1)).max(254),
  ignore_index: z.number().int().optional(),
});
const labelsFile = z.record(z.string(), z.array(z.string()));

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

function parseWith<T>(schema: z.ZodType<T>, file: string): T {
  const r = schema.safeParse(readJson(file));
  if (!r.success) throw new Error(`${file}: ${r.error.issues.map((i) => `${i.path.join('.') || 'top level'}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function readClassesJson(file: string): { classes: string[]; ignoreIndex: number } {
  const c = parseWith(classesFile, file);
  const ignoreIndex = c.ignore_index ?? IGNORE_INDEX;
  if (ignoreIndex !== IGNORE_INDEX) throw new Error(`${file}: ignore_index ${ignoreIndex} is not supported (only 255)`);
  return { classes: c.classes, ignoreIndex };
}

export function readLabelsJson(file: string): Record<string, string[]> {
  return parseWith(labelsFile, file);
}

/** Reads a mask PNG as one byte per pixel (grey values or palette indices). */
export function readMaskPng(file: string): { width: number; height: number; data: Uint8Array } {
  const png = decodePng(fs.readFileSync(file));
  if (png.depth !== 8 || png.channels !== 1) {
    const kind = png.palette ? `indexed ${png.depth}-bit` : `${png.channels}-channel ${png.depth}-bit`;
    throw new Error(`mask must be an 8-bit single-channel or indexed PNG, found ${kind}`);
  }
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
